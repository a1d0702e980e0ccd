//! Conformance checks: archiving traces (the pieces go, the flag and the size stay) and the
//! query that finds the traces still to archive.

use super::ci_common::*;
use super::*;

/// Moves a job to `to` from whatever it is now.
async fn set_status(cx: &Cx<'_>, id: JobId, to: JobStatus, at: i64) -> Job {
    let from = job(cx, id).await.status;
    let moved = cx.store.transition_job(id, &[from], to, &JobChange::default(), cx.at(at)).await;
    ok(moved, "transition_job").unwrap_or_else(|| panic!("job {id} moves from {from} to {to}"))
}

/// Ids of the unarchived traces above `after`, of the jobs in `mine` only (the database may be
/// shared with other runs).
async fn unarchived(cx: &Cx<'_>, after: Option<JobId>, limit: i64, mine: &[JobId]) -> Vec<JobId> {
    let found = ok(cx.store.unarchived_traces(after, limit).await, "unarchived_traces");
    job_ids(&found).into_iter().filter(|id| mine.contains(id)).collect()
}

pub(super) async fn ci_trace_archives(cx: &Cx<'_>) {
    let s = cx.store;
    let p = ci_project(cx, "ta").await;
    let specs: Vec<NewJob> = ["done", "failed", "canceled", "skipped", "running", "pending", "empty", "late"]
        .iter()
        .map(|n| new_job(n, 0, if *n == "skipped" { JobStatus::Created } else { JobStatus::Pending }))
        .collect();
    let (_, jobs) = pipeline_with(cx, &p, "main", &specs, 170).await;
    let ids = job_ids(&jobs);
    let [done, failed, canceled, skipped, running, pending, empty, late] = ids[..] else {
        panic!("eight jobs were created: {ids:?}")
    };
    assert!(jobs.iter().all(|j| !j.trace_archived), "trace archives: a new job's trace is not archived");
    let r = runner(cx, RunnerScope::Project(p.id), &[]).await;
    for id in [done, failed, canceled, running, empty, late] {
        ok(s.assign_job(id, r.id, &digest(cx, "ta"), cx.at(300), cx.at(171)).await, "assign_job").expect("claimed");
    }
    // The store leaves "which jobs may log" to the caller: every job here gets a log.
    for id in [done, failed, canceled, skipped, running, pending, late] {
        ok(s.append_trace(id, 0, b"line one\n").await, "append_trace");
        ok(s.append_trace(id, 9, b"line two\n").await, "append_trace");
    }
    for (id, to) in [
        (done, JobStatus::Success),
        (failed, JobStatus::Failed),
        (canceled, JobStatus::Canceled),
        (skipped, JobStatus::Skipped),
        (empty, JobStatus::Success),
        (late, JobStatus::Success),
    ] {
        set_status(cx, id, to, 172).await;
    }

    let before = Some(JobId::new(ids[0].get() - 1));
    assert_eq!(
        unarchived(cx, before, 1000, &ids).await,
        vec![done, failed, canceled, skipped, late],
        "trace archives: finished jobs with a log are left to archive (not running, pending or empty ones), by id"
    );
    assert_eq!(unarchived(cx, before, 1, &ids).await, vec![done], "trace archives: at most `limit`");
    assert_eq!(unarchived(cx, Some(done), 2, &ids).await, vec![failed, canceled], "trace archives: above `after_id`");
    assert_eq!(
        unarchived(cx, Some(late), 1000, &ids).await,
        Vec::<JobId>::new(),
        "trace archives: nothing above the last"
    );

    // An append between the copy and the archiving: the size no longer holds, nothing changes.
    assert!(!ok(s.archive_trace(late, 9).await, "archive_trace"), "trace archives: a stale size is refused");
    let kept = job(cx, late).await;
    assert_eq!((kept.trace_archived, kept.trace_size), (false, 18), "trace archives: ... and nothing changed");
    assert_eq!(ok(s.read_trace(late, 0, 100).await, "read_trace"), b"line one\nline two\n", "... the log is kept");

    let unarchived_done = job(cx, done).await;
    assert!(ok(s.archive_trace(done, 18).await, "archive_trace"), "trace archives: archived at its size");
    let archived = job(cx, done).await;
    assert_eq!(
        archived,
        Job { trace_archived: true, ..unarchived_done },
        "trace archives: the flag is set, the rest of the job stays"
    );
    assert_eq!(archived.trace_size, 18, "trace archives: the size stays the log's length");
    assert_eq!(ok(s.trace_size(done).await, "trace_size"), Some(18), "trace archives: trace_size too");
    assert_eq!(ok(s.read_trace(done, 0, 100).await, "read_trace"), b"", "trace archives: the pieces are gone");
    assert!(ok(s.archive_trace(done, 18).await, "archive_trace"), "trace archives: archiving again is harmless");
    assert!(job(cx, done).await.trace_archived, "trace archives: ... and keeps it archived");
    assert!(!ok(s.archive_trace(done, 5).await, "archive_trace"), "trace archives: another size is refused");
    for offset in [18, 0, 5] {
        assert_eq!(
            ok(s.append_trace(done, offset, b"more").await, "append_trace"),
            TraceAppend::Archived { size: 18 },
            "trace archives: an archived trace takes no bytes (offset {offset})"
        );
    }
    assert_eq!(job(cx, done).await.trace_size, 18, "trace archives: ... and keeps its size");
    assert_eq!(
        unarchived(cx, before, 1000, &ids).await,
        vec![failed, canceled, skipped, late],
        "trace archives: an archived trace is not left to archive"
    );
    assert_eq!(
        ok(s.read_trace(failed, 0, 100).await, "read_trace"),
        b"line one\nline two\n",
        "trace archives: other jobs' logs stay"
    );
    expect_not_found(s.archive_trace(JobId::new(MISSING), 1).await, "trace archives: a missing job");
}
