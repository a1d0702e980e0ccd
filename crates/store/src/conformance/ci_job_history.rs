//! Conformance checks: job retries, job lists (per project and per runner) and traces.

use super::ci_common::*;
use super::*;

pub(super) async fn ci_job_retry_and_lists(cx: &Cx<'_>) {
    let s = cx.store;
    let p = ci_project(cx, "jr").await;
    let r = runner(cx, RunnerScope::Project(p.id), &[]).await;
    let build = NewJob { tags: vec!["gpu".to_string()], ..new_job("build", 0, JobStatus::Pending) };
    let (pl, jobs) = pipeline_with(cx, &p, "main", &[build, new_job("test", 1, JobStatus::Created)], 130).await;
    let (a, b) = (jobs[0].clone(), jobs[1].clone());
    expect_invalid(s.retry_job(a.id, cx.at(131)).await, "jobs: a pending job cannot be retried");
    expect_not_found(s.retry_job(JobId::new(MISSING), cx.at(131)).await, "jobs: retry of a missing job");
    ok(s.assign_job(a.id, r.id, &digest(cx, "jr"), cx.at(200), cx.at(132)).await, "assign_job").expect("claimed");
    let fail =
        JobChange { failure_reason: Some(FailureReason::ScriptFailure), exit_code: Some(1), ..JobChange::default() };
    let failed = ok(s.transition_job(a.id, &[JobStatus::Running], JobStatus::Failed, &fail, cx.at(133)).await, "t")
        .expect("failed");

    let retry = ok(s.retry_job(a.id, cx.at(140)).await, "retry_job");
    assert_eq!(
        retry,
        Job {
            id: retry.id,
            attempt: 2,
            retried_from: Some(a.id),
            queued_at: Some(cx.at(140)),
            created_at: cx.at(140),
            ..a.clone()
        },
        "jobs: a retry is a new pending attempt with the same spec, unassigned, with no trace"
    );
    assert!(retry.id > a.id, "jobs: a retry is a new row");
    assert_eq!(job(cx, a.id).await, Job { retried: true, ..failed }, "jobs: the old attempt is marked retried");
    expect_invalid(s.retry_job(a.id, cx.at(141)).await, "jobs: an attempt is retried once");
    let visible = ok(s.jobs_of_pipeline(pl.id, false).await, "jobs_of_pipeline");
    assert_eq!(job_ids(&visible), vec![retry.id, b.id], "jobs: retried attempts are hidden");
    let all = ok(s.jobs_of_pipeline(pl.id, true).await, "jobs_of_pipeline");
    assert_eq!(job_ids(&all), vec![a.id, retry.id, b.id], "jobs: ... unless asked for");

    let list = |statuses: &'static [JobStatus], page: Page| s.list_project_jobs(p.id, statuses, page);
    let every = ok(list(&[], Page::ALL).await, "list_project_jobs");
    assert_eq!((job_ids(&every.items), every.total), (vec![retry.id, b.id, a.id], 3), "jobs: newest first");
    let failed = ok(list(&[JobStatus::Failed], Page::ALL).await, "list_project_jobs");
    assert_eq!(job_ids(&failed.items), vec![a.id], "jobs: by status (retried included)");
    let some = ok(list(&[JobStatus::Created, JobStatus::Pending], Page::ALL).await, "list_project_jobs");
    assert_eq!(job_ids(&some.items), vec![retry.id, b.id], "jobs: by several statuses");
    let page = ok(list(&[], Page { offset: 1, limit: 1 }).await, "list_project_jobs paged");
    assert_eq!((job_ids(&page.items), page.total), (vec![b.id], 3), "jobs: a page, with the total");
}

pub(super) async fn ci_traces(cx: &Cx<'_>) {
    let s = cx.store;
    let p = ci_project(cx, "tr").await;
    let (_, jobs) =
        pipeline_with(cx, &p, "main", &[new_job("a", 0, JobStatus::Pending), new_job("b", 0, JobStatus::Pending)], 150)
            .await;
    let (a, b) = (jobs[0].id, jobs[1].id);
    assert_eq!(ok(s.trace_size(a).await, "trace_size"), Some(0), "traces: a new job has none");
    let append = |offset: i64, bytes: &'static [u8]| s.append_trace(a, offset, bytes);
    assert_eq!(ok(append(0, b"hello ").await, "append"), TraceAppend::Appended { size: 6 }, "traces: first append");
    assert_eq!(ok(append(0, b"hello ").await, "append"), TraceAppend::Mismatch { size: 6 }, "traces: resent");
    assert_eq!(ok(append(9, b"x").await, "append"), TraceAppend::Mismatch { size: 6 }, "traces: a gap");
    assert_eq!(ok(append(6, b"world\n").await, "append"), TraceAppend::Appended { size: 12 }, "traces: next");
    assert_eq!(ok(append(12, b"").await, "append"), TraceAppend::Appended { size: 12 }, "traces: empty append");
    let binary: &'static [u8] = &[0, 0xff, 0xfe, b'\n'];
    assert_eq!(ok(append(12, binary).await, "append"), TraceAppend::Appended { size: 16 }, "traces: raw bytes");
    assert_eq!(ok(s.append_trace(b, 0, b"other").await, "append"), TraceAppend::Appended { size: 5 }, "per job");

    let read = |offset: i64, limit: i64| s.read_trace(a, offset, limit);
    let mut whole = b"hello world\n".to_vec();
    whole.extend_from_slice(binary);
    assert_eq!(ok(read(0, 1000).await, "read_trace"), whole, "traces: the whole trace");
    assert_eq!(ok(read(3, 5).await, "read_trace"), b"lo wo", "traces: a range across two appends");
    assert_eq!(ok(read(11, 2).await, "read_trace"), b"\n\0", "traces: a range across another boundary");
    assert_eq!(ok(read(6, 6).await, "read_trace"), b"world\n", "traces: exactly one append");
    assert_eq!(ok(read(16, 10).await, "read_trace"), b"", "traces: at the end");
    assert_eq!(ok(read(100, 10).await, "read_trace"), b"", "traces: past the end");
    assert_eq!(ok(read(0, 0).await, "read_trace"), b"", "traces: zero bytes");
    assert_eq!(ok(s.read_trace(b, 0, 100).await, "read_trace"), b"other", "traces: another job's");
    assert_eq!(ok(s.trace_size(a).await, "trace_size"), Some(16), "traces: the size");
    assert_eq!(job(cx, a).await.trace_size, 16, "traces: the job's trace_size is kept in step");
    expect_not_found(s.append_trace(JobId::new(MISSING), 0, b"x").await, "traces: append to a missing job");
    assert_eq!(
        ok(s.read_trace(JobId::new(MISSING), 0, 10).await, "read_trace"),
        b"",
        "traces: a missing job reads empty"
    );
    assert_eq!(ok(s.trace_size(JobId::new(MISSING)).await, "trace_size"), None, "traces: a missing job has no size");
}

pub(super) async fn ci_runner_job_lists(cx: &Cx<'_>) {
    let s = cx.store;
    let p = ci_project(cx, "rj").await;
    let (r1, r2) =
        (runner(cx, RunnerScope::Project(p.id), &[]).await, runner(cx, RunnerScope::Project(p.id), &[]).await);
    let specs: Vec<NewJob> = ["a", "b", "c", "d", "e"].iter().map(|n| new_job(n, 0, JobStatus::Pending)).collect();
    let (_, jobs) = pipeline_with(cx, &p, "main", &specs, 160).await;
    let ids = job_ids(&jobs);
    let (a, b, c, d) = (ids[0], ids[1], ids[2], ids[3]);
    for (id, r) in [(a, &r1), (b, &r1), (c, &r2), (d, &r1)] {
        let token = digest(cx, &format!("rj{id}"));
        ok(s.assign_job(id, r.id, &token, cx.at(300), cx.at(161)).await, "assign_job").expect("claimed");
    }
    ok(s.transition_job(a, &[JobStatus::Running], JobStatus::Success, &JobChange::default(), cx.at(162)).await, "t")
        .expect("done");
    let fail = JobChange { failure_reason: Some(FailureReason::ScriptFailure), ..JobChange::default() };
    ok(s.transition_job(b, &[JobStatus::Running], JobStatus::Failed, &fail, cx.at(163)).await, "t").expect("failed");
    let retry = ok(s.retry_job(b, cx.at(164)).await, "retry_job");
    // Given back to the queue: no longer the runner's.
    ok(s.transition_job(d, &[JobStatus::Running], JobStatus::Pending, &JobChange::default(), cx.at(165)).await, "t")
        .expect("requeued");

    let list =
        |r: i64, statuses: &'static [JobStatus], page: Page| s.list_runner_jobs(RunnerId::new(r), statuses, page);
    let all = ok(list(r1.id.get(), &[], Page::ALL).await, "list_runner_jobs");
    assert_eq!(
        (job_ids(&all.items), all.total),
        (vec![b, a], 2),
        "runner jobs: the jobs it took, newest first; not a retry nor a requeued job"
    );
    assert!(!job_ids(&all.items).contains(&retry.id), "runner jobs: a retry is nobody's until claimed");
    let failed = ok(list(r1.id.get(), &[JobStatus::Failed], Page::ALL).await, "list_runner_jobs");
    assert_eq!(job_ids(&failed.items), vec![b], "runner jobs: by status");
    let some = ok(list(r1.id.get(), &[JobStatus::Running, JobStatus::Success], Page::ALL).await, "list_runner_jobs");
    assert_eq!(job_ids(&some.items), vec![a], "runner jobs: by several statuses");
    let other = ok(list(r2.id.get(), &[], Page::ALL).await, "list_runner_jobs");
    assert_eq!((job_ids(&other.items), other.total), (vec![c], 1), "runner jobs: per runner");
    let page = ok(list(r1.id.get(), &[], Page { offset: 1, limit: 1 }).await, "list_runner_jobs paged");
    assert_eq!((job_ids(&page.items), page.total), (vec![a], 2), "runner jobs: a page, with the total");
    let none = ok(list(MISSING, &[], Page::ALL).await, "list_runner_jobs");
    assert_eq!((none.items.len(), none.total), (0, 0), "runner jobs: a missing runner has none");
}
