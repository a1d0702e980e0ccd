//! Conformance checks: external commit statuses.

use super::*;

fn report(status: JobStatus) -> CommitStatusReport {
    CommitStatusReport {
        status,
        description: None,
        target_url: None,
        coverage: None,
        author_id: None,
        started_at: None,
        finished_at: None,
    }
}

pub(super) async fn commit_statuses(cx: &Cx<'_>) {
    let s = cx.store;
    let author = cx.user("csa").await;
    let g = cx.group("cs", None, Visibility::Public).await;
    let p = cx.project(&g, "cs", Visibility::Public, None).await;
    let sha = "a".repeat(40);
    let key = |ref_name: &str, name: &str| CommitStatusKey {
        project_id: p.id,
        sha: sha.clone(),
        ref_name: ref_name.into(),
        name: name.into(),
    };
    assert_eq!(ok(s.latest_commit_status(&key("main", "ci")).await, "latest"), None, "statuses: none yet");

    let first = CommitStatusReport {
        description: Some("queued".into()),
        target_url: Some("https://ci.example.com/1".into()),
        author_id: Some(author.id),
        ..report(JobStatus::Pending)
    };
    let a = ok(s.start_commit_status(&key("main", "ci"), &first, cx.at(1)).await, "start");
    assert_eq!(
        (&a.key, a.status, a.description.as_deref(), a.author_id, a.retried, a.created_at),
        (&key("main", "ci"), JobStatus::Pending, Some("queued"), Some(author.id), false, cx.at(1)),
        "statuses: start returns what was given"
    );
    let running = CommitStatusReport { started_at: Some(cx.at(2)), coverage: Some(87.5), ..report(JobStatus::Running) };
    let moved = ok(s.move_commit_status(a.id, JobStatus::Pending, &running).await, "move").expect("moved");
    assert_eq!((moved.status, moved.started_at, moved.coverage), (JobStatus::Running, Some(cx.at(2)), Some(87.5)));
    assert_eq!(moved.description.as_deref(), Some("queued"), "statuses: an absent description is kept");
    assert_eq!(moved.target_url, a.target_url, "statuses: an absent URL is kept");
    assert_eq!(
        ok(s.move_commit_status(a.id, JobStatus::Pending, &report(JobStatus::Success)).await, "move"),
        None,
        "statuses: a move from a state the status left is refused"
    );
    let done = CommitStatusReport {
        started_at: Some(cx.at(9)),
        finished_at: Some(cx.at(3)),
        description: Some("passed".into()),
        ..report(JobStatus::Success)
    };
    let finished = ok(s.move_commit_status(a.id, JobStatus::Running, &done).await, "move").expect("moved");
    assert_eq!(finished.started_at, Some(cx.at(2)), "statuses: the first start is kept");
    assert_eq!((finished.finished_at, finished.description.as_deref()), (Some(cx.at(3)), Some("passed")));
    assert_eq!(ok(s.latest_commit_status(&key("main", "ci")).await, "latest"), Some(finished.clone()));

    // A new status of the same line retires the earlier one; other lines are untouched.
    let b = ok(s.start_commit_status(&key("main", "ci"), &report(JobStatus::Failed), cx.at(4)).await, "start");
    let other_ref = ok(s.start_commit_status(&key("dev", "ci"), &report(JobStatus::Running), cx.at(5)).await, "start");
    let other_name =
        ok(s.start_commit_status(&key("main", "lint"), &report(JobStatus::Success), cx.at(6)).await, "start");
    assert_eq!(ok(s.latest_commit_status(&key("main", "ci")).await, "latest").map(|l| l.id), Some(b.id));
    assert_eq!(
        ok(s.move_commit_status(a.id, JobStatus::Success, &report(JobStatus::Failed)).await, "move"),
        None,
        "statuses: a retried status is never moved"
    );
    let all = CommitStatusFilter { all: true, ..CommitStatusFilter::default() };
    let listed = ok(s.list_commit_statuses(p.id, &sha, &all, Page::ALL).await, "list all");
    let ids: Vec<(i64, bool)> = listed.items.iter().map(|c| (c.id, c.retried)).collect();
    assert_eq!(ids, vec![(a.id, true), (b.id, false), (other_ref.id, false), (other_name.id, false)], "by id");
    let latest = ok(s.list_commit_statuses(p.id, &sha, &CommitStatusFilter::default(), Page::ALL).await, "list");
    assert_eq!(latest.total, 3, "statuses: without `all`, the retried are left out");
    let by_ref = CommitStatusFilter { ref_name: Some("main".into()), ..CommitStatusFilter::default() };
    assert_eq!(ok(s.list_commit_statuses(p.id, &sha, &by_ref, Page::ALL).await, "list").total, 2);
    let by_name = CommitStatusFilter { name: Some("lint".into()), ..CommitStatusFilter::default() };
    let named = ok(s.list_commit_statuses(p.id, &sha, &by_name, Page::ALL).await, "list");
    assert_eq!(named.items, vec![other_name], "statuses: by name");
    let paged = ok(s.list_commit_statuses(p.id, &sha, &all, Page { offset: 1, limit: 2 }).await, "paged");
    assert_eq!((paged.items.len(), paged.total), (2, 4), "statuses: paging keeps the total");
    assert_eq!(
        ok(s.list_commit_statuses(p.id, &"b".repeat(40), &all, Page::ALL).await, "list").total,
        0,
        "statuses: per commit"
    );
    let missing = CommitStatusKey { project_id: ProjectId::new(MISSING), ..key("main", "ci") };
    expect_invalid(s.start_commit_status(&missing, &report(JobStatus::Pending), cx.at(7)).await, "missing project");
    ok(s.delete_project(p.id).await, "delete_project");
    assert_eq!(ok(s.list_commit_statuses(p.id, &sha, &all, Page::ALL).await, "list").total, 0, "statuses: cascade");
}
