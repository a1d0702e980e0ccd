//! Conformance checks: browser sessions, the audit log and SSH keys.

use super::*;
use crate::audit::{AuditChange, AuditFilter, AuditTarget, NewAuditEvent};
use crate::sessions::NewSession;
use autogit_core::audit::{AuditAction, AuditEntity};

pub(super) async fn sessions_lifecycle(cx: &Cx<'_>) {
    let s = cx.store;
    let u = cx.user("ses").await;
    let other = cx.user("seso").await;
    let digest = |what: &str| format!("{:0>64}", cx.name(what));
    let new = |user: &User, d: String, expires: i64| NewSession {
        user_id: user.id,
        digest: d,
        ip_address: "192.0.2.7".to_string(),
        user_agent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0".to_string(),
        expires_at: cx.at(expires),
    };
    let first = new(&u, digest("a"), 100);
    let s1 = ok(s.create_session(&first, 3, cx.at(1)).await, "create_session");
    assert_eq!(
        s1,
        Session {
            id: s1.id,
            user_id: u.id,
            ip_address: first.ip_address.clone(),
            user_agent: first.user_agent.clone(),
            created_at: cx.at(1),
            last_active_at: cx.at(1),
            expires_at: cx.at(100),
        },
        "sessions: create_session returns the session, active at creation"
    );
    assert_eq!(
        ok(s.session_by_digest(&first.digest).await, "session_by_digest"),
        Some(s1.clone()),
        "sessions: by digest"
    );
    assert_eq!(ok(s.session_by_digest(&digest("none")).await, "session_by_digest"), None, "sessions: unknown digest");
    expect_conflict(
        s.create_session(&new(&other, first.digest.clone(), 100), 3, cx.at(1)).await,
        "digest",
        "sessions: duplicate digest",
    );
    let orphan = NewSession { user_id: UserId::new(MISSING), ..new(&u, digest("o"), 100) };
    expect_invalid(s.create_session(&orphan, 3, cx.at(1)).await, "sessions: user that does not exist");

    // The bound per user: the least recently active go first, the new one always stays.
    let d2 = digest("b");
    ok(s.create_session(&new(&u, d2.clone(), 100), 3, cx.at(2)).await, "create_session");
    let s3 = ok(s.create_session(&new(&u, digest("c"), 100), 3, cx.at(3)).await, "create_session");
    ok(s.touch_session(s1.id, cx.at(4), cx.at(200)).await, "touch_session");
    let s4 = ok(s.create_session(&new(&u, digest("d"), 100), 3, cx.at(5)).await, "create_session");
    let ids = |v: Vec<Session>| v.into_iter().map(|x| x.id).collect::<Vec<_>>();
    assert_eq!(
        ids(ok(s.list_sessions(u.id).await, "list_sessions")),
        vec![s4.id, s1.id, s3.id],
        "sessions: beyond the bound the least recently active (not the oldest) is deleted; most recent first"
    );
    assert_eq!(ok(s.session_by_digest(&d2).await, "by digest"), None, "sessions: the trimmed one is gone");
    let touched = ok(s.session_by_digest(&first.digest).await, "session_by_digest").expect("kept");
    assert_eq!(
        (touched.last_active_at, touched.expires_at),
        (cx.at(4), cx.at(200)),
        "sessions: touch moves activity and expiry"
    );
    expect_not_found(s.touch_session(MISSING, cx.at(4), cx.at(5)).await, "sessions: touch of a missing session");

    // One user cannot delete another's session.
    let theirs = ok(s.create_session(&new(&other, digest("t"), 100), 3, cx.at(6)).await, "create_session");
    expect_not_found(s.delete_session(u.id, theirs.id).await, "sessions: deleting another user's session");
    ok(s.delete_session(u.id, s3.id).await, "delete_session");
    expect_not_found(s.delete_session(u.id, s3.id).await, "sessions: deleting twice");
    assert_eq!(ids(ok(s.list_sessions(u.id).await, "list")), vec![s4.id, s1.id], "sessions: deleted one is gone");

    // Everywhere but here, then everywhere.
    ok(s.create_session(&new(&u, digest("e"), 100), 10, cx.at(7)).await, "create_session");
    assert_eq!(ok(s.delete_user_sessions(u.id, Some(s4.id)).await, "delete_user_sessions"), 2, "sessions: all but one");
    assert_eq!(ids(ok(s.list_sessions(u.id).await, "list")), vec![s4.id], "sessions: the kept one stays");
    assert_eq!(ok(s.delete_user_sessions(u.id, None).await, "delete_user_sessions"), 1, "sessions: all");
    assert_eq!(ok(s.list_sessions(other.id).await, "list").len(), 1, "sessions: another user's are untouched");

    // Expiry sweep: at or before `now`.
    ok(s.create_session(&new(&u, digest("x"), 50), 10, cx.at(8)).await, "create_session");
    let young = ok(s.create_session(&new(&u, digest("y"), 51), 10, cx.at(8)).await, "create_session");
    assert!(ok(s.delete_expired_sessions(cx.at(50)).await, "delete_expired_sessions") >= 1, "sessions: expired swept");
    assert_eq!(ids(ok(s.list_sessions(u.id).await, "list")), vec![young.id], "sessions: only the unexpired one stays");
}

pub(super) async fn audit_events(cx: &Cx<'_>) {
    let s = cx.store;
    let u = cx.user("aud").await;
    let entity_id = i64::from(cx.counter.fetch_add(1, Ordering::Relaxed)) + 9_000_000;
    let event = |action: AuditAction| NewAuditEvent {
        action,
        author_id: Some(u.id),
        author_name: u.username.clone(),
        entity_type: AuditEntity::Project,
        entity_id,
        entity_path: "g/p".to_string(),
        target: None,
        change: None,
        ip_address: Some("2001:db8::1".to_string()),
    };
    let full = NewAuditEvent {
        target: Some(AuditTarget { kind: "User".to_string(), id: 7, details: "alice".to_string() }),
        change: Some(AuditChange {
            attribute: "visibility".to_string(),
            from: "private".to_string(),
            to: "public".to_string(),
        }),
        ..event(AuditAction::ProjectVisibilityChanged)
    };
    let e1 = ok(s.record_audit_event(&full, cx.at(10)).await, "record_audit_event");
    assert_eq!((e1.event.clone(), e1.created_at), (full.clone(), cx.at(10)), "audit: every field round-trips");
    assert_eq!(ok(s.audit_event_by_id(e1.id).await, "audit_event_by_id"), Some(e1.clone()), "audit: by id");
    assert_eq!(ok(s.audit_event_by_id(MISSING).await, "audit_event_by_id"), None, "audit: unknown id");
    let anonymous = NewAuditEvent { author_id: None, ip_address: None, ..event(AuditAction::UserSignInFailed) };
    let e2 = ok(s.record_audit_event(&anonymous, cx.at(20)).await, "record_audit_event");
    assert_eq!(e2.event, anonymous, "audit: no author and no address round-trip");
    let e3 = ok(s.record_audit_event(&event(AuditAction::MemberAdded), cx.at(30)).await, "record_audit_event");

    let mine =
        AuditFilter { entity_type: Some(AuditEntity::Project), entity_id: Some(entity_id), ..Default::default() };
    let ids = |l: Listed<AuditEvent>| (l.items.into_iter().map(|e| e.id).collect::<Vec<_>>(), l.total);
    assert_eq!(
        ids(ok(s.list_audit_events(&mine, Page::ALL).await, "list")),
        (vec![e3.id, e2.id, e1.id], 3),
        "audit: newest first"
    );
    let paged = ok(s.list_audit_events(&mine, Page { offset: 1, limit: 1 }).await, "list paged");
    assert_eq!(ids(paged), (vec![e2.id], 3), "audit: paging keeps the total");
    let window = AuditFilter { created_after: Some(cx.at(20)), created_before: Some(cx.at(20)), ..mine.clone() };
    assert_eq!(
        ids(ok(s.list_audit_events(&window, Page::ALL).await, "list")),
        (vec![e2.id], 1),
        "audit: time bounds are inclusive"
    );
    let group = AuditFilter { entity_type: Some(AuditEntity::Group), ..mine };
    assert_eq!(ok(s.list_audit_events(&group, Page::ALL).await, "list").total, 0, "audit: entity type filters");
}

pub(super) async fn ssh_keys(cx: &Cx<'_>) {
    let s = cx.store;
    let u = cx.user("key").await;
    let other = cx.user("keyo").await;
    let g = cx.group("keyg", None, Visibility::Private).await;
    let p = cx.project(&g, "keyp", Visibility::Private, None).await;
    let fp = |what: &str| format!("SHA256:{}", cx.name(what));
    let new = NewSshKey {
        user_id: u.id,
        project_id: None,
        title: "laptop".to_string(),
        key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTheStoreOnly laptop".to_string(),
        fingerprint: fp("a"),
        usage_type: "auth_and_signing".to_string(),
        can_push: false,
        expires_at: NaiveDate::from_ymd_opt(2031, 2, 3),
    };
    let k1 = ok(s.create_ssh_key(&new, cx.at(1)).await, "create_ssh_key");
    assert_eq!(
        k1,
        SshKey {
            id: k1.id,
            user_id: u.id,
            project_id: None,
            title: new.title.clone(),
            key: new.key.clone(),
            fingerprint: new.fingerprint.clone(),
            usage_type: new.usage_type.clone(),
            can_push: false,
            expires_at: new.expires_at,
            created_at: cx.at(1),
            last_used_at: None,
        },
        "ssh keys: create returns what was given"
    );
    assert_eq!(ok(s.ssh_key_by_id(k1.id).await, "by id"), Some(k1.clone()), "ssh keys: by id");
    assert_eq!(
        ok(s.ssh_key_by_fingerprint(&new.fingerprint).await, "by fp"),
        Some(k1.clone()),
        "ssh keys: by fingerprint"
    );
    assert_eq!(ok(s.ssh_key_by_fingerprint(&fp("none")).await, "by fp"), None, "ssh keys: unknown fingerprint");
    let dup = NewSshKey { user_id: other.id, ..new.clone() };
    expect_conflict(
        s.create_ssh_key(&dup, cx.at(2)).await,
        "fingerprint",
        "ssh keys: a fingerprint is unique across users",
    );
    let deploy =
        NewSshKey { project_id: Some(p.id), can_push: true, fingerprint: fp("d"), expires_at: None, ..new.clone() };
    let d = ok(s.create_ssh_key(&deploy, cx.at(3)).await, "create deploy key");
    assert_eq!((d.project_id, d.can_push), (Some(p.id), true), "ssh keys: a deploy key keeps its project and can_push");
    let dup_deploy = NewSshKey { fingerprint: new.fingerprint.clone(), ..deploy.clone() };
    expect_conflict(
        s.create_ssh_key(&dup_deploy, cx.at(3)).await,
        "fingerprint",
        "ssh keys: a deploy key cannot reuse a user's key",
    );
    let orphan = NewSshKey { project_id: Some(ProjectId::new(MISSING)), fingerprint: fp("o"), ..new.clone() };
    expect_invalid(s.create_ssh_key(&orphan, cx.at(3)).await, "ssh keys: a project that does not exist");
    let k2 = ok(s.create_ssh_key(&NewSshKey { fingerprint: fp("b"), ..new.clone() }, cx.at(4)).await, "create");
    let ids = |v: Vec<SshKey>| v.into_iter().map(|k| k.id).collect::<Vec<_>>();
    assert_eq!(
        ids(ok(s.list_user_ssh_keys(u.id).await, "list")),
        vec![k1.id, k2.id],
        "ssh keys: a user's own, by id, no deploy keys"
    );
    assert_eq!(ids(ok(s.list_deploy_keys(p.id).await, "list")), vec![d.id], "ssh keys: a project's deploy keys");
    ok(s.touch_ssh_key(k1.id, cx.at(9)).await, "touch");
    assert_eq!(
        ok(s.ssh_key_by_id(k1.id).await, "by id").and_then(|k| k.last_used_at),
        Some(cx.at(9)),
        "ssh keys: touch"
    );
    expect_not_found(s.touch_ssh_key(MISSING, cx.at(9)).await, "ssh keys: touch of a missing key");
    ok(s.delete_ssh_key(k1.id).await, "delete");
    expect_not_found(s.delete_ssh_key(k1.id).await, "ssh keys: deleting twice");
    assert_eq!(ok(s.ssh_key_by_fingerprint(&new.fingerprint).await, "by fp"), None, "ssh keys: a deleted key is gone");
    ok(s.delete_project(p.id).await, "delete project");
    assert_eq!(
        ok(s.ssh_key_by_id(d.id).await, "by id"),
        None,
        "ssh keys: a project's deletion deletes its deploy keys"
    );
}

pub(super) async fn sso_memberships_and_admins(cx: &Cx<'_>) {
    let s = cx.store;
    let u = cx.user("sso").await;
    let (g1, g2) =
        (cx.group("ssoa", None, Visibility::Private).await, cx.group("ssob", None, Visibility::Private).await);
    assert_eq!(ok(s.sso_memberships(u.id).await, "sso_memberships"), vec![], "sso: none at first");
    ok(s.mark_sso_membership(u.id, g2.id, true).await, "mark");
    ok(s.mark_sso_membership(u.id, g1.id, true).await, "mark");
    ok(s.mark_sso_membership(u.id, g1.id, true).await, "mark twice");
    let mut want = vec![g1.id, g2.id];
    want.sort();
    assert_eq!(ok(s.sso_memberships(u.id).await, "list"), want, "sso: marks are a set, by group id");
    ok(s.mark_sso_membership(u.id, g1.id, false).await, "unmark");
    ok(s.mark_sso_membership(u.id, g1.id, false).await, "unmark twice");
    assert_eq!(ok(s.sso_memberships(u.id).await, "list"), vec![g2.id], "sso: unmarked");
    ok(s.set_user_admin(u.id, true).await, "set_user_admin");
    assert!(ok(s.user_by_id(u.id).await, "user").expect("user").is_admin, "users: set_user_admin(true)");
    ok(s.set_user_admin(u.id, false).await, "set_user_admin");
    assert!(!ok(s.user_by_id(u.id).await, "user").expect("user").is_admin, "users: set_user_admin(false)");
    expect_not_found(s.set_user_admin(UserId::new(MISSING), true).await, "users: set_user_admin of a missing user");
}
