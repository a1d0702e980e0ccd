//! Conformance checks: external identities and sign-in attempts.

use super::*;
use crate::{ExternalIdentity, NewSignInAttempt, SignInAttempt};

pub(super) async fn external_identities(cx: &Cx<'_>) {
    let s = cx.store;
    let u = cx.user("ext").await;
    let other = cx.user("exto").await;
    let issuer = format!("https://{}.example.test", cx.name("idp"));
    let link = |user: &User, provider: &str, subject: &str| ExternalIdentity {
        user_id: user.id,
        provider: provider.to_string(),
        issuer: issuer.clone(),
        subject: subject.to_string(),
        created_at: cx.at(3),
    };
    assert_eq!(ok(s.user_by_identity(&issuer, "sub-1").await, "unlinked"), None);
    ok(s.link_identity(&link(&u, "openid_connect", "sub-1")).await, "link");
    assert_eq!(ok(s.user_by_identity(&issuer, "sub-1").await, "linked").map(|x| x.id), Some(u.id));
    // The subject is exact: no case folding, no other issuer.
    assert_eq!(ok(s.user_by_identity(&issuer, "SUB-1").await, "case"), None);
    assert_eq!(ok(s.user_by_identity("https://other.example.test", "sub-1").await, "issuer"), None);
    expect_conflict(s.link_identity(&link(&other, "openid_connect", "sub-1")).await, "identity", "same subject");
    expect_conflict(s.link_identity(&link(&u, "openid_connect", "sub-2")).await, "provider", "second per provider");
    ok(s.link_identity(&link(&u, "keycloak", "sub-2")).await, "another provider");
    let mut ghost = link(&u, "ghost", "sub-3");
    ghost.user_id = UserId::new(i64::MAX - 7);
    expect_invalid(s.link_identity(&ghost).await, "missing user");
    let listed = ok(s.identities_of(u.id).await, "identities_of");
    assert_eq!(listed, vec![link(&u, "keycloak", "sub-2"), link(&u, "openid_connect", "sub-1")]);
    assert!(ok(s.identities_of(other.id).await, "none").is_empty());

    // External users.
    assert!(!u.external, "a new user is not external");
    ok(s.set_user_external(u.id, true).await, "set external");
    assert!(ok(s.user_by_id(u.id).await, "by id").expect("user").external);
    assert!(ok(s.user_by_identity(&issuer, "sub-1").await, "by identity").expect("user").external);
    ok(s.set_user_external(u.id, false).await, "unset external");
    assert!(!ok(s.user_by_username(&u.username).await, "by name").expect("user").external);
    expect_not_found(s.set_user_external(UserId::new(i64::MAX - 7), true).await, "missing user");
}

pub(super) async fn sign_in_attempts(cx: &Cx<'_>) {
    let s = cx.store;
    let digest = |what: &str| format!("{:0>64}", cx.name(what));
    let new = |d: &str, expires: i64| NewSignInAttempt {
        digest: d.to_string(),
        provider: "openid_connect".to_string(),
        state: "state-1".to_string(),
        nonce: "nonce-1".to_string(),
        pkce_verifier: "v".repeat(64),
        expires_at: cx.at(expires),
    };
    let (a, b, c) = (digest("att"), digest("att"), digest("att"));
    ok(s.create_sign_in_attempt(&new(&a, 10), cx.at(1)).await, "create a");
    ok(s.create_sign_in_attempt(&new(&b, 20), cx.at(2)).await, "create b");
    expect_conflict(s.create_sign_in_attempt(&new(&b, 20), cx.at(2)).await, "digest", "same digest");
    let taken = ok(s.take_sign_in_attempt(&a).await, "take a");
    assert_eq!(
        taken,
        Some(SignInAttempt {
            provider: "openid_connect".to_string(),
            state: "state-1".to_string(),
            nonce: "nonce-1".to_string(),
            pkce_verifier: "v".repeat(64),
            created_at: cx.at(1),
            expires_at: cx.at(10),
        })
    );
    assert_eq!(ok(s.take_sign_in_attempt(&a).await, "taken once"), None);
    // Creating an attempt at b's expiry deletes b.
    ok(s.create_sign_in_attempt(&new(&c, 40), cx.at(20)).await, "create c");
    assert_eq!(ok(s.take_sign_in_attempt(&b).await, "expired b"), None);
    // An expired attempt that nothing swept yet is still returned: expiry is the caller's call.
    let taken = ok(s.take_sign_in_attempt(&c).await, "take c").expect("c is there");
    assert_eq!(taken.expires_at, cx.at(40));
}
