//! Conformance checks: runners.

use super::ci_common::*;
use super::*;

pub(super) async fn ci_runners_crud(cx: &Cx<'_>) {
    let s = cx.store;
    let d = digest(cx, "r");
    let new =
        NewRunner { maximum_timeout: Some(7200), ..new_runner(d.clone(), RunnerScope::Instance, &["b", "a", "b"]) };
    let r = ok(s.create_runner(&new, cx.at(40)).await, "create_runner");
    assert_eq!(
        r,
        Runner {
            id: r.id,
            description: "a runner".to_string(),
            token_digest: d.clone(),
            scope: RunnerScope::Instance,
            tags: vec!["a".to_string(), "b".to_string()],
            run_untagged: true,
            locked: false,
            paused: false,
            access_level: RunnerAccessLevel::NotProtected,
            maximum_timeout: Some(7200),
            created_at: cx.at(40),
            contacted_at: None,
            version: None,
            platform: None,
            architecture: None,
            executor: None,
        },
        "runners: create returns the runner, tags sorted and deduplicated, never contacted"
    );
    assert_eq!(ok(s.runner_by_id(r.id).await, "runner_by_id"), Some(r.clone()), "runners: by id");
    assert_eq!(ok(s.runner_by_token_digest(&d).await, "by digest"), Some(r.clone()), "runners: by digest");
    assert_eq!(ok(s.runner_by_token_digest(&digest(cx, "x")).await, "by digest"), None, "runners: unknown digest");
    assert_eq!(ok(s.runner_by_id(RunnerId::new(MISSING)).await, "runner_by_id"), None, "runners: unknown id");
    expect_conflict(s.create_runner(&new, cx.at(40)).await, "token", "runners: duplicate digest");
    let orphan = new_runner(digest(cx, "r"), RunnerScope::Group(NamespaceId::new(MISSING)), &[]);
    expect_invalid(s.create_runner(&orphan, cx.at(40)).await, "runners: group that does not exist");
    let orphan = new_runner(digest(cx, "r"), RunnerScope::Project(ProjectId::new(MISSING)), &[]);
    expect_invalid(s.create_runner(&orphan, cx.at(40)).await, "runners: project that does not exist");
    let bad = new_runner(digest(cx, "r"), RunnerScope::Instance, &["a,b"]);
    expect_invalid(s.create_runner(&bad, cx.at(40)).await, "runners: a tag with a comma");

    let update = RunnerUpdate {
        description: Some("renamed".to_string()),
        tags: Some(vec!["z".to_string(), "gpu".to_string()]),
        run_untagged: Some(false),
        locked: Some(true),
        paused: Some(true),
        access_level: Some(RunnerAccessLevel::RefProtected),
        maximum_timeout: Some(None),
    };
    let updated = ok(s.update_runner(r.id, &update).await, "update_runner");
    let want = Runner {
        description: "renamed".to_string(),
        tags: vec!["gpu".to_string(), "z".to_string()],
        run_untagged: false,
        locked: true,
        paused: true,
        access_level: RunnerAccessLevel::RefProtected,
        maximum_timeout: None,
        ..r.clone()
    };
    assert_eq!(updated, want, "runners: update applies every set field; Some(None) removes the timeout");
    let same = ok(s.update_runner(r.id, &RunnerUpdate::default()).await, "empty update");
    assert_eq!(same, want, "runners: an empty update changes nothing");
    let timeout = RunnerUpdate { maximum_timeout: Some(Some(60)), ..RunnerUpdate::default() };
    assert_eq!(ok(s.update_runner(r.id, &timeout).await, "update").maximum_timeout, Some(60), "runners: timeout");
    expect_not_found(s.update_runner(RunnerId::new(MISSING), &update).await, "runners: update of a missing runner");

    let seen = RunnerSeen {
        version: Some("18.1.0".to_string()),
        platform: Some("linux".to_string()),
        architecture: Some("amd64".to_string()),
        executor: Some("shell".to_string()),
    };
    ok(s.touch_runner(r.id, cx.at(41), &seen).await, "touch_runner");
    let partial = RunnerSeen { version: Some("18.2.0".to_string()), ..RunnerSeen::default() };
    ok(s.touch_runner(r.id, cx.at(42), &partial).await, "touch_runner");
    let touched = ok(s.runner_by_id(r.id).await, "runner_by_id").expect("runner exists");
    assert_eq!(
        (touched.contacted_at, touched.version.as_deref(), touched.platform.as_deref(), touched.executor.as_deref()),
        (Some(cx.at(42)), Some("18.2.0"), Some("linux"), Some("shell")),
        "runners: touch sets contacted_at and the reported fields, keeping the unreported ones"
    );
    expect_not_found(
        s.touch_runner(RunnerId::new(MISSING), cx.at(42), &seen).await,
        "runners: touch of a missing runner",
    );

    let d2 = digest(cx, "r");
    ok(s.rotate_runner_token(r.id, &d2).await, "rotate_runner_token");
    assert_eq!(ok(s.runner_by_token_digest(&d).await, "by digest"), None, "runners: the old token stops working");
    let rotated = ok(s.runner_by_token_digest(&d2).await, "by digest").expect("runner found by the new digest");
    assert_eq!(rotated.id, r.id, "runners: the new token finds the runner");
    let other = runner(cx, RunnerScope::Instance, &[]).await;
    expect_conflict(s.rotate_runner_token(other.id, &d2).await, "token", "runners: rotating to a taken digest");
    expect_not_found(
        s.rotate_runner_token(RunnerId::new(MISSING), &digest(cx, "r")).await,
        "runners: rotate a missing runner",
    );
}

pub(super) async fn ci_runner_lists(cx: &Cx<'_>) {
    let s = cx.store;
    let p = ci_project(cx, "rl").await;
    let g = cx.group("rlg", None, Visibility::Public).await;
    let (t1, t2) = (cx.name("tag"), cx.name("tag"));
    let r1 = runner(cx, RunnerScope::Project(p.id), &[&t1]).await;
    let new2 = NewRunner { paused: true, ..new_runner(digest(cx, "r"), RunnerScope::Project(p.id), &[&t1, &t2]) };
    let r2 = ok(s.create_runner(&new2, cx.at(0)).await, "create_runner");
    let r3 = runner(cx, RunnerScope::Project(p.id), &[]).await;
    let gr = runner(cx, RunnerScope::Group(g.id), &[&t2]).await;
    let ir = runner(cx, RunnerScope::Instance, &[&t1]).await;
    let filter = |scope: Option<RunnerScope>, paused: Option<bool>, tag: Option<&String>| RunnerFilter {
        scope,
        paused,
        tag: tag.cloned(),
    };
    let proj = Some(RunnerScope::Project(p.id));
    let cases = [
        (filter(proj, None, None), vec![r1.id, r2.id, r3.id], "one project's runners"),
        (filter(proj, Some(true), None), vec![r2.id], "paused"),
        (filter(proj, Some(false), None), vec![r1.id, r3.id], "not paused"),
        (filter(proj, None, Some(&t1)), vec![r1.id, r2.id], "by tag"),
        (filter(proj, None, Some(&t2)), vec![r2.id], "by another tag"),
        (filter(proj, None, Some(&t1[..t1.len() - 1].to_string())), vec![], "a tag matches whole tags only"),
        (filter(proj, None, Some(&t1.to_uppercase())), vec![], "tags are case-sensitive"),
        (filter(proj, None, Some(&format!("{t1},{t2}"))), vec![], "a filter with a comma matches nothing"),
        (filter(Some(RunnerScope::Group(g.id)), None, None), vec![gr.id], "one group's runners"),
        (filter(Some(RunnerScope::Instance), None, Some(&t1)), vec![ir.id], "instance runners with a tag"),
        (filter(None, None, Some(&t2)), vec![r2.id, gr.id], "any scope with a tag"),
    ];
    for (f, want, what) in cases {
        let got = ok(s.list_runners(&f, Page::ALL).await, "list_runners");
        let ids: Vec<RunnerId> = got.items.iter().map(|r| r.id).collect();
        assert_eq!((ids, got.total), (want.clone(), want.len() as i64), "list_runners: {what} ({f:?})");
    }
    let page = ok(s.list_runners(&filter(proj, None, None), Page { offset: 1, limit: 1 }).await, "list paged");
    assert_eq!(page, Listed { items: vec![r2], total: 3 }, "list_runners: a page by id, with the total");
}
