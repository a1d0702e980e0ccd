//! Conformance checks: browser sessions and the audit log.

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
