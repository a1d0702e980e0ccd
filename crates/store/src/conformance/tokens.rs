//! Conformance checks: tokens and events.

use super::*;

pub(super) async fn tokens(cx: &Cx<'_>) {
    let s = cx.store;
    let u = cx.user("tk").await;
    let other = cx.user("tko").await;
    let digest = |what: &str| format!("{:0>64}", cx.name(what));
    let expiry = NaiveDate::from_ymd_opt(2030, 1, 31).expect("valid date");
    let new1 = NewToken {
        user_id: u.id,
        name: "ci".to_string(),
        digest: digest("d"),
        scopes: vec![Scope::Api, Scope::ReadRepository],
        expires_at: Some(expiry),
    };
    let t1 = ok(s.create_token(&new1, cx.at(21)).await, "create_token");
    assert_eq!(
        t1,
        Token {
            id: t1.id,
            user_id: u.id,
            name: "ci".to_string(),
            scopes: vec![Scope::Api, Scope::ReadRepository],
            expires_at: Some(expiry),
            revoked: false,
            created_at: cx.at(21),
            last_used_at: None,
        },
        "tokens: create_token returns the token, not revoked, never used"
    );
    assert_eq!(ok(s.token_by_digest(&new1.digest).await, "token_by_digest"), Some(t1.clone()), "tokens: by digest");
    assert_eq!(ok(s.token_by_digest(&digest("none")).await, "token_by_digest"), None, "tokens: unknown digest");
    assert_eq!(ok(s.token_by_id(t1.id).await, "token_by_id"), Some(t1.clone()), "tokens: by id");
    assert_eq!(ok(s.token_by_id(MISSING).await, "token_by_id"), None, "tokens: unknown id");
    let dup = NewToken { user_id: other.id, name: "again".to_string(), ..new1.clone() };
    expect_conflict(s.create_token(&dup, cx.at(21)).await, "digest", "tokens: duplicate digest");
    let orphan = NewToken { user_id: UserId::new(MISSING), digest: digest("o"), ..new1.clone() };
    expect_invalid(s.create_token(&orphan, cx.at(21)).await, "tokens: user that does not exist");

    let new2 = NewToken {
        name: "read".to_string(),
        digest: digest("d"),
        scopes: vec![Scope::ReadApi],
        expires_at: None,
        ..new1
    };
    let t2 = ok(s.create_token(&new2, cx.at(22)).await, "create_token");
    assert_eq!((t2.expires_at, &t2.scopes), (None, &vec![Scope::ReadApi]), "tokens: no expiry round-trips");
    let mine = ok(s.list_tokens(Some(u.id), Page::ALL).await, "list_tokens");
    assert_eq!(mine, Listed { items: vec![t1.clone(), t2.clone()], total: 2 }, "tokens: one user's, by id");
    let page = ok(s.list_tokens(Some(u.id), Page { offset: 1, limit: 1 }).await, "list_tokens paged");
    assert_eq!(page, Listed { items: vec![t2.clone()], total: 2 }, "tokens: paging keeps the total");
    let everyone = ok(s.list_tokens(None, Page::ALL).await, "list_tokens(None)");
    assert!(everyone.items.contains(&t1) && everyone.items.contains(&t2), "tokens: None lists everyone's");
    assert!(everyone.total >= 2 && everyone.total == everyone.items.len() as i64, "tokens: total of everyone's");
    assert_eq!(ok(s.list_tokens(Some(other.id), Page::ALL).await, "list_tokens").total, 0, "tokens: per user");

    ok(s.revoke_token(t1.id).await, "revoke_token");
    let revoked = ok(s.token_by_id(t1.id).await, "token_by_id").expect("token exists");
    assert_eq!(revoked, Token { revoked: true, ..t1.clone() }, "tokens: revoke sets revoked only");
    ok(s.revoke_token(t1.id).await, "tokens: revoking twice is fine");
    expect_not_found(s.revoke_token(MISSING).await, "tokens: revoke of a missing token");
    ok(s.touch_token(t2.id, cx.at(23)).await, "touch_token");
    let used = ok(s.token_by_digest(&new2.digest).await, "token_by_digest").expect("token exists");
    assert_eq!(used.last_used_at, Some(cx.at(23)), "tokens: touch sets last_used_at");
    expect_not_found(s.touch_token(MISSING, cx.at(23)).await, "tokens: touch of a missing token");
}

pub(super) async fn push_events(cx: &Cx<'_>) {
    let s = cx.store;
    let u = cx.user("pe").await;
    let g = cx.group("pe", None, Visibility::Public).await;
    let p = cx.project(&g, "pe", Visibility::Public, None).await;
    let quiet = cx.project(&g, "quiet", Visibility::Public, None).await;
    let push = |n: u32, pusher: Option<i64>| NewPushEvent {
        project_id: p.id,
        ref_name: format!("refs/heads/b{n}"),
        before: "0".repeat(40),
        after: format!("{n:x}").repeat(40),
        pusher_id: pusher.map(UserId::new),
    };
    let e1 = ok(s.record_push(&push(1, Some(u.id.get())), cx.at(30)).await, "record_push");
    assert_eq!(
        e1,
        PushEvent {
            id: e1.id,
            project_id: p.id,
            ref_name: "refs/heads/b1".to_string(),
            before: "0".repeat(40),
            after: "1".repeat(40),
            pusher_id: Some(u.id),
            created_at: cx.at(30),
        },
        "events: record_push returns the event"
    );
    let e2 = ok(s.record_push(&push(2, None), cx.at(40)).await, "record_push");
    let e3 = ok(s.record_push(&push(3, Some(u.id.get())), cx.at(50)).await, "record_push");
    // Recorded last but happened earlier: newest first means by time, not by id.
    let e4 = ok(s.record_push(&push(4, None), cx.at(35)).await, "record_push");
    let all = ok(s.list_push_events(p.id, Page::ALL).await, "list_push_events");
    assert_eq!(all, Listed { items: vec![e3, e2.clone(), e4, e1], total: 4 }, "events: newest first");
    let page = ok(s.list_push_events(p.id, Page { offset: 1, limit: 1 }).await, "list_push_events paged");
    assert_eq!(page, Listed { items: vec![e2], total: 4 }, "events: paging keeps the total");
    let none = ok(s.list_push_events(quiet.id, Page::ALL).await, "list_push_events");
    assert_eq!(none.total, 0, "events: per project");
    let orphan = NewPushEvent { project_id: ProjectId::new(MISSING), ..push(5, None) };
    expect_invalid(s.record_push(&orphan, cx.at(60)).await, "events: project that does not exist");
}
