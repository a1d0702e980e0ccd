//! Delayed jobs: `transition_job` writes `scheduled_at` when asked, and `due_scheduled_jobs`
//! lists the `scheduled` jobs whose time has come — the housekeeping pass's work list.

use super::ci_common::*;
use super::*;

pub(super) async fn ci_scheduled_jobs(cx: &Cx<'_>) {
    let project = ci_project(cx, "sched").await;
    let (_, jobs) = pipeline_with(cx, &project, "main", &[new_job("later", 0, JobStatus::Created)], 0).await;
    let id = jobs[0].id;
    let due_at = cx.at(100);
    let change = JobChange { scheduled_at: Some(due_at), ..JobChange::default() };
    let j = ok(
        cx.store.transition_job(id, &[JobStatus::Created], JobStatus::Scheduled, &change, cx.at(1)).await,
        "schedule",
    )
    .expect("created → scheduled");
    assert_eq!(j.scheduled_at, Some(due_at), "scheduled_at is written");
    let ours = |list: Vec<Job>| list.into_iter().filter(|j| j.id == id).count();
    // The store may be shared with other runs: only our job is looked at.
    let early = ok(cx.store.due_scheduled_jobs(cx.at(99)).await, "due before");
    assert_eq!(ours(early), 0, "not due before scheduled_at");
    let due = ok(cx.store.due_scheduled_jobs(due_at).await, "due at");
    assert_eq!(ours(due), 1, "due at scheduled_at (inclusive)");
    // A transition that does not name a time keeps the stored one.
    let j = ok(
        cx.store.transition_job(id, &[JobStatus::Scheduled], JobStatus::Pending, &JobChange::default(), due_at).await,
        "enqueue",
    )
    .expect("scheduled → pending");
    assert_eq!(j.scheduled_at, Some(due_at), "kept when the change does not set it");
    let later = ok(cx.store.due_scheduled_jobs(cx.at(200)).await, "due later");
    assert_eq!(ours(later), 0, "a pending job is no longer listed");
}
