//! Conformance checks: project hooks, their outbox of deliveries, the outbound settings.

use super::*;

fn hook(project_id: ProjectId, url: &str) -> NewProjectHook {
    NewProjectHook {
        project_id,
        url: url.into(),
        token: Some("sealed-token".into()),
        name: "ci".into(),
        description: String::new(),
        events: HookEvents { push: true, tag_push: false },
        push_events_branch_filter: None,
        enable_ssl_verification: true,
    }
}

fn delivery(hook_id: i64, key: &str, origin: Option<(i64, i32)>) -> NewHookDelivery {
    NewHookDelivery {
        hook_id,
        event: "push".into(),
        payload: format!("{{\"k\":\"{key}\"}}"),
        idempotency_key: key.into(),
        origin,
    }
}

fn attempt(cx: &Cx<'_>, state: DeliveryState, failures: i32, until: Option<i64>) -> DeliveryAttempt {
    DeliveryAttempt {
        state,
        response_status: Some(500),
        response: Some("{}".into()),
        duration_ms: 12,
        at: cx.at(50),
        health: StoredHookHealth {
            recent_failures: failures,
            disabled_until: until.map(|s| cx.at(s)),
            permanently_disabled: false,
        },
    }
}

pub(super) async fn hooks_and_deliveries(cx: &Cx<'_>) {
    let s = cx.store;
    let g = cx.group("wh", None, Visibility::Public).await;
    let p = cx.project(&g, "wh", Visibility::Public, None).await;
    let a = ok(s.create_hook(&hook(p.id, "sealed-a"), cx.at(1)).await, "create_hook");
    let b = ok(s.create_hook(&hook(p.id, "sealed-b"), cx.at(2)).await, "create_hook");
    assert_eq!((a.url.as_str(), a.token.as_deref(), a.events.push), ("sealed-a", Some("sealed-token"), true));
    assert_eq!(a.health, StoredHookHealth::default(), "hooks: healthy when made");
    expect_invalid(s.create_hook(&hook(ProjectId::new(MISSING), "x"), cx.at(1)).await, "hooks: missing project");
    assert_eq!(ok(s.list_hooks(p.id, Page::ALL).await, "list_hooks").items, vec![a.clone(), b.clone()]);
    assert_eq!(ok(s.hook(p.id, a.id).await, "hook"), Some(a.clone()));

    // The outbox: idempotent per origin, oldest first per hook, one per hook at a time.
    let first =
        [delivery(a.id, "a1", Some((7, 0))), delivery(a.id, "a2", Some((7, 1))), delivery(b.id, "b1", Some((7, 0)))];
    ok(s.enqueue_deliveries(&first, cx.at(3)).await, "enqueue");
    ok(s.enqueue_deliveries(&first, cx.at(4)).await, "enqueue again");
    ok(s.enqueue_deliveries(&[delivery(a.id, "a3", None)], cx.at(5)).await, "enqueue without origin");
    assert_eq!(ok(s.list_deliveries(a.id, Page::ALL).await, "list").total, 3, "deliveries: the same origin once");
    let due = ok(s.due_deliveries(cx.at(10), 10).await, "due");
    let due: Vec<(String, i64)> =
        due.into_iter().filter(|(_, h)| h.project_id == p.id).map(|(d, h)| (d.idempotency_key, h.id)).collect();
    assert_eq!(due, vec![("a1".into(), a.id), ("b1".into(), b.id)], "deliveries: each hook's oldest");

    // A failed attempt keeps the delivery first in line and rests the hook until it is due.
    let a1 = ok(s.list_deliveries(a.id, Page::ALL).await, "list").items.pop().expect("a1");
    assert_eq!((a1.idempotency_key.as_str(), a1.state, a1.attempts), ("a1", DeliveryState::Pending, 0));
    let failed = attempt(cx, DeliveryState::Pending, 4, Some(100));
    assert!(ok(s.record_attempt(a1.id, &failed).await, "record_attempt"));
    let rested = ok(s.hook(p.id, a.id).await, "hook").expect("hook");
    assert_eq!((rested.health.recent_failures, rested.health.disabled_until), (4, Some(cx.at(100))));
    let keys = |due: Vec<(HookDelivery, ProjectHook)>| -> Vec<String> {
        due.into_iter().filter(|(_, h)| h.project_id == p.id).map(|(d, _)| d.idempotency_key).collect()
    };
    assert_eq!(keys(ok(s.due_deliveries(cx.at(60), 10).await, "due")), vec!["b1".to_string()], "a rests");
    assert_eq!(keys(ok(s.due_deliveries(cx.at(100), 10).await, "due")), vec!["a1".to_string(), "b1".to_string()]);
    let again = ok(s.delivery(a.id, a1.id).await, "delivery").expect("a1");
    assert_eq!((again.attempts, again.response_status, again.last_attempt_at), (1, Some(500), Some(cx.at(50))));
    let done = DeliveryAttempt { response_status: Some(200), ..attempt(cx, DeliveryState::Delivered, 0, None) };
    assert!(ok(s.record_attempt(a1.id, &done).await, "record_attempt"));
    assert!(!ok(s.record_attempt(a1.id, &done).await, "record_attempt"), "deliveries: only a pending one changes");
    assert_eq!(keys(ok(s.due_deliveries(cx.at(100), 10).await, "due")), vec!["a2".to_string(), "b1".to_string()]);

    // A logged delivery (a test) leaves the hook's health alone; an edit resets it.
    let logged =
        ok(s.log_delivery(&delivery(b.id, "t", None), &attempt(cx, DeliveryState::Failed, 9, Some(999))).await, "log");
    assert_eq!((logged.state, logged.attempts), (DeliveryState::Failed, 1));
    assert_eq!(ok(s.hook(p.id, b.id).await, "hook").expect("b").health, StoredHookHealth::default());
    let newest = ok(s.list_deliveries(b.id, Page::ALL).await, "list").items;
    assert_eq!(newest.first().map(|d| d.id), Some(logged.id), "deliveries: newest first");
    ok(s.record_attempt(newest[1].id, &attempt(cx, DeliveryState::Pending, 40, None)).await, "record");
    let changed = ok(s.update_hook(b.id, &hook(p.id, "sealed-b2")).await, "update_hook");
    assert_eq!((changed.url.as_str(), changed.health), ("sealed-b2", StoredHookHealth::default()));
    expect_not_found(s.update_hook(MISSING, &hook(p.id, "x")).await, "hooks: update a missing hook");

    // The secrets passes: every hook by id, and a compare-and-set of the sealed values.
    let after = ok(s.hooks_after(a.id - 1, 10).await, "hooks_after");
    assert_eq!(after.iter().map(|h| h.id).take(2).collect::<Vec<_>>(), vec![a.id, b.id], "hooks: by id");
    assert!(ok(s.swap_hook_secrets(a.id, ("sealed-a", Some("sealed-token")), ("resealed-a", None)).await, "swap"));
    assert!(!ok(s.swap_hook_secrets(a.id, ("sealed-a", Some("sealed-token")), ("x", None)).await, "swap"), "stale");
    let swapped = ok(s.hook(p.id, a.id).await, "hook").expect("a");
    assert_eq!((swapped.url.as_str(), swapped.token.as_deref()), ("resealed-a", None));
    assert!(ok(s.swap_hook_secrets(a.id, ("resealed-a", None), ("again", Some("t"))).await, "swap from no token"));
    ok(s.delete_hook(p.id, a.id).await, "delete_hook");
    expect_not_found(s.delete_hook(p.id, a.id).await, "hooks: delete twice");
    assert_eq!(ok(s.list_deliveries(a.id, Page::ALL).await, "list").total, 0, "deliveries: cascade");
    ok(s.delete_project(p.id).await, "delete_project");
    assert_eq!(ok(s.list_hooks(p.id, Page::ALL).await, "list").total, 0, "hooks: cascade");

    // Settings: GitLab's defaults until saved, then what was saved.
    let saved = OutboundSettings {
        allow_local_requests_from_web_hooks_and_services: true,
        allow_local_requests_from_system_hooks: false,
        outbound_local_requests_allowlist: vec!["10.0.0.0/8".into(), "hooks.lan".into()],
    };
    ok(s.set_outbound_settings(&saved).await, "set_outbound_settings");
    assert_eq!(ok(s.outbound_settings().await, "outbound_settings"), saved);
    ok(s.set_outbound_settings(&OutboundSettings::default()).await, "reset");
}
