//! Conformance: the push outbox. Every step is exactly-once: a second pass over a record writes
//! nothing, a failed step writes nothing, and records go with their project.
//!
//! Pinned choices: push events carry the record's `created_at` (when the push arrived), not the
//! time they were written; `prune_push_records` is global, so its count is only checked as a
//! lower bound (another run sharing the database may prune its own records too).

use super::ci_common::{ci_project, new_job, new_pipeline};
use super::*;

fn update(ref_name: &str, old: char, new: char) -> PushUpdate {
    PushUpdate { ref_name: ref_name.to_string(), old: old.to_string().repeat(40), new: new.to_string().repeat(40) }
}

fn three_updates(project_id: ProjectId, pusher_id: Option<UserId>) -> NewPushRecord {
    NewPushRecord {
        project_id,
        pusher_id,
        updates: vec![
            update("refs/heads/main", '0', 'a'),
            update("refs/heads/feature", 'b', 'c'),
            update("refs/heads/old", 'd', '0'),
        ],
    }
}

pub(super) async fn push_records_lifecycle(cx: &Cx<'_>) {
    let s = cx.store;
    let u = cx.user("pr").await;
    let p = ci_project(cx, "pr").await;
    let rec = ok(s.create_push_record(&three_updates(p.id, Some(u.id)), cx.at(10)).await, "create_push_record");
    assert_eq!(rec.state, PushRecordState::Received, "push records: a new record is received");
    assert_eq!((rec.project_id, rec.pusher_id, rec.created_at, rec.finished_at), (p.id, Some(u.id), cx.at(10), None));
    let positions: Vec<i32> = rec.updates.iter().map(|u| u.position).collect();
    assert_eq!(positions, [0, 1, 2], "push records: updates are numbered in the order given");
    assert!(
        rec.updates.iter().all(|u| !u.applied && u.pipeline == PushPipelineState::Pending && u.pipeline_id.is_none()),
        "push records: new updates are pending and not applied"
    );
    assert_eq!(rec.updates[1].old, "b".repeat(40));
    assert_eq!(ok(s.push_record(rec.id).await, "push_record"), Some(rec.clone()), "push records: read back whole");
    assert_eq!(ok(s.push_record(MISSING).await, "push_record"), None);
    let unfinished = ok(s.unfinished_push_records(rec.id - 1, 10).await, "unfinished_push_records");
    assert_eq!(unfinished.first(), Some(&rec), "push records: a received record is unfinished");

    let empty = NewPushRecord { project_id: p.id, pusher_id: None, updates: vec![] };
    expect_invalid(s.create_push_record(&empty, cx.at(10)).await, "push records: no updates");
    let orphan = NewPushRecord { project_id: ProjectId::new(MISSING), ..three_updates(p.id, None) };
    expect_invalid(s.create_push_record(&orphan, cx.at(10)).await, "push records: missing project");
    let ghost = three_updates(p.id, Some(UserId::new(MISSING)));
    expect_invalid(s.create_push_record(&ghost, cx.at(10)).await, "push records: missing pusher");

    // Pipelines cannot be claimed before the record is recorded.
    let new = new_pipeline(p.id, "main", &"a".repeat(40));
    let early = ok(s.create_push_pipeline(rec.id, 0, &new, &[], cx.at(15)).await, "create_push_pipeline early");
    assert!(early.is_none(), "push records: no pipeline for a record still received");

    let events = ok(s.record_push_events(rec.id, &[0, 1], cx.at(20)).await, "record_push_events")
        .expect("push records: the first pass records events");
    assert_eq!(events.len(), 2, "push records: one event per applied update");
    assert_eq!(
        (events[0].ref_name.as_str(), events[0].after.as_str(), events[0].pusher_id, events[0].created_at),
        ("refs/heads/main", "a".repeat(40).as_str(), Some(u.id), cx.at(10)),
        "push records: events carry the update, the pusher and the push time"
    );
    let again = ok(s.record_push_events(rec.id, &[0, 1], cx.at(21)).await, "record_push_events again");
    assert_eq!(again, None, "push records: a second pass records nothing");
    let listed = ok(s.list_push_events(p.id, Page::ALL).await, "list_push_events");
    assert_eq!(listed.total, 2, "push records: events exactly once");
    let touched = ok(s.project_by_id(p.id).await, "project_by_id").expect("project exists");
    assert_eq!(touched.last_activity_at, cx.at(20), "push records: recording touches the project");
    expect_not_found(s.record_push_events(MISSING, &[], cx.at(20)).await, "push records: missing record");

    let rec = ok(s.push_record(rec.id).await, "push_record").expect("record exists");
    assert_eq!(rec.state, PushRecordState::Recorded);
    let flags: Vec<(bool, PushPipelineState)> = rec.updates.iter().map(|u| (u.applied, u.pipeline)).collect();
    assert_eq!(
        flags,
        [(true, PushPipelineState::Pending), (true, PushPipelineState::Pending), (false, PushPipelineState::None)],
        "push records: applied updates wait for pipelines, the others get none"
    );
    assert!(!ok(s.finish_push_record(rec.id, cx.at(25)).await, "finish"), "push records: not done while pending");

    let jobs = [new_job("build", 0, JobStatus::Created), new_job("test", 1, JobStatus::Created)];
    let (pipeline, created_jobs) = ok(s.create_push_pipeline(rec.id, 0, &new, &jobs, cx.at(22)).await, "create")
        .expect("push records: the first claim creates the pipeline");
    assert_eq!(created_jobs.len(), 2, "push records: the pipeline comes with its jobs");
    let twice = ok(s.create_push_pipeline(rec.id, 0, &new, &jobs, cx.at(23)).await, "create again");
    assert!(twice.is_none(), "push records: a second claim creates nothing");
    let not_applied = ok(s.create_push_pipeline(rec.id, 2, &new, &jobs, cx.at(23)).await, "create unapplied");
    assert!(not_applied.is_none(), "push records: no pipeline for an update git did not apply");
    expect_not_found(s.create_push_pipeline(rec.id, 9, &new, &jobs, cx.at(23)).await, "push records: no such update");
    let pipelines = ok(s.list_pipelines(p.id, &PipelineFilter::default(), Page::ALL).await, "list_pipelines");
    assert_eq!(pipelines.total, 1, "push records: pipelines exactly once");
    let rec = ok(s.push_record(rec.id).await, "push_record").expect("record exists");
    assert_eq!(
        (rec.updates[0].pipeline, rec.updates[0].pipeline_id),
        (PushPipelineState::Created, Some(pipeline.id)),
        "push records: the update names its pipeline"
    );

    assert!(ok(s.skip_push_pipeline(rec.id, 1).await, "skip"), "push records: a pending pipeline can be skipped");
    assert!(!ok(s.skip_push_pipeline(rec.id, 1).await, "skip again"), "push records: skipping is once");
    assert!(!ok(s.skip_push_pipeline(rec.id, 0).await, "skip created"), "push records: a created one stays");
    assert!(ok(s.finish_push_record(rec.id, cx.at(30)).await, "finish"), "push records: finishes when decided");
    assert!(!ok(s.finish_push_record(rec.id, cx.at(31)).await, "finish again"), "push records: finishing is once");
    let done = ok(s.push_record(rec.id).await, "push_record").expect("record exists");
    assert_eq!((done.state, done.finished_at), (PushRecordState::Done, Some(cx.at(30))));
    let unfinished = ok(s.unfinished_push_records(rec.id - 1, 10).await, "unfinished_push_records");
    assert!(unfinished.iter().all(|r| r.id != rec.id), "push records: a done record is finished");
}

pub(super) async fn push_records_failures_and_pruning(cx: &Cx<'_>) {
    let s = cx.store;
    let p = ci_project(cx, "prf").await;
    // A bad position fails the whole step: the record stays received, no event is written.
    let rec = ok(s.create_push_record(&three_updates(p.id, None), cx.at(10)).await, "create_push_record");
    expect_invalid(s.record_push_events(rec.id, &[0, 7], cx.at(20)).await, "push records: unknown position");
    let still = ok(s.push_record(rec.id).await, "push_record").expect("record exists");
    assert_eq!(still.state, PushRecordState::Received, "push records: a failed step changes nothing");
    assert_eq!(ok(s.list_push_events(p.id, Page::ALL).await, "events").total, 0, "push records: no partial events");

    // A push that applied nothing leaves nothing.
    assert!(ok(s.discard_push_record(rec.id).await, "discard"), "push records: a received record can be discarded");
    assert_eq!(ok(s.push_record(rec.id).await, "push_record"), None, "push records: discarded means gone");
    assert!(!ok(s.discard_push_record(rec.id).await, "discard again"), "push records: discarding is once");

    // Nothing applied at all: recorded with no events, and done at once.
    let none = ok(s.create_push_record(&three_updates(p.id, None), cx.at(11)).await, "create_push_record");
    let events = ok(s.record_push_events(none.id, &[], cx.at(21)).await, "record nothing").expect("recorded");
    assert!(events.is_empty());
    assert!(!ok(s.discard_push_record(none.id).await, "discard"), "push records: a recorded record stays");
    assert!(ok(s.finish_push_record(none.id, cx.at(30)).await, "finish"), "push records: nothing pending");

    let later = ok(s.create_push_record(&three_updates(p.id, None), cx.at(12)).await, "create_push_record");
    ok(s.record_push_events(later.id, &[], cx.at(22)).await, "record nothing");
    assert!(ok(s.finish_push_record(later.id, cx.at(40)).await, "finish"));
    let open = ok(s.create_push_record(&three_updates(p.id, None), cx.at(1)).await, "create_push_record");

    let pruned = ok(s.prune_push_records(cx.at(35)).await, "prune_push_records");
    assert!(pruned >= 1, "push records: pruning deletes done records finished before the cut");
    assert_eq!(ok(s.push_record(none.id).await, "push_record"), None, "push records: old done record pruned");
    assert!(ok(s.push_record(later.id).await, "push_record").is_some(), "push records: newer done record kept");
    assert!(ok(s.push_record(open.id).await, "push_record").is_some(), "push records: unfinished never pruned");

    ok(s.delete_project(p.id).await, "delete_project");
    assert_eq!(ok(s.push_record(open.id).await, "push_record"), None, "push records: go with their project");
    assert_eq!(ok(s.push_record(later.id).await, "push_record"), None, "push records: go with their project");
}
