//! Conformance checks: the job state machine (compare-and-set transitions, the claim, job
//! tokens, leases).

use super::ci_common::*;
use super::*;

pub(super) async fn ci_job_transitions(cx: &Cx<'_>) {
    let s = cx.store;
    let p = ci_project(cx, "jt").await;
    let r = runner(cx, RunnerScope::Project(p.id), &[]).await;
    let (_, jobs) = pipeline_with(cx, &p, "main", &[new_job("a", 0, JobStatus::Created)], 100).await;
    let a = jobs[0].clone();
    let none = JobChange::default();
    let t = |id: i64, from: &'static [JobStatus], to: JobStatus, change: JobChange, at: i64| async move {
        s.transition_job(JobId::new(id), from, to, &change, cx.at(at)).await
    };

    let r0 = ok(
        t(a.id.get(), &[JobStatus::Pending, JobStatus::Running], JobStatus::Running, none.clone(), 101).await,
        "transition",
    );
    assert_eq!(r0, None, "jobs: a transition from a status the job is not in is None");
    assert_eq!(job(cx, a.id).await, a, "jobs: ... and changes nothing");
    expect_not_found(
        t(MISSING, &[JobStatus::Created], JobStatus::Pending, none.clone(), 101).await,
        "jobs: transition of a missing job",
    );
    for unstored in [JobStatus::WaitingForResource, JobStatus::Preparing] {
        expect_invalid(
            t(a.id.get(), &[JobStatus::Created], unstored, none.clone(), 101).await,
            "jobs: a status not stored",
        );
    }

    let q = ok(
        t(a.id.get(), &[JobStatus::Created, JobStatus::Manual], JobStatus::Pending, none.clone(), 102).await,
        "transition",
    )
    .expect("pending");
    assert_eq!(q, Job { status: JobStatus::Pending, queued_at: Some(cx.at(102)), ..a.clone() }, "jobs: → pending");
    let (d1, d2) = (digest(cx, "jt"), digest(cx, "jt"));
    let start = JobChange {
        runner_id: Some(r.id),
        token_digest: Some(d1.clone()),
        lease_expires_at: Some(cx.at(200)),
        ..JobChange::default()
    };
    let run =
        ok(t(a.id.get(), &[JobStatus::Pending], JobStatus::Running, start, 103).await, "transition").expect("running");
    assert_eq!(
        run,
        Job {
            status: JobStatus::Running,
            runner_id: Some(r.id),
            token_digest: Some(d1.clone()),
            lease_expires_at: Some(cx.at(200)),
            started_at: Some(cx.at(103)),
            ..q.clone()
        },
        "jobs: → running sets started_at and writes the change"
    );
    assert_eq!(ok(s.job_by_token_digest(&d1).await, "by token"), Some(run.clone()), "jobs: token of a running job");
    let clear = JobChange { clear_token: true, ..JobChange::default() };
    let cleared = ok(t(a.id.get(), &[JobStatus::Running], JobStatus::Running, clear, 104).await, "transition")
        .expect("still running");
    assert_eq!(cleared, Job { token_digest: None, ..run.clone() }, "jobs: clear_token drops only the token");
    assert_eq!(ok(s.job_by_token_digest(&d1).await, "by token"), None, "jobs: a cleared token finds nothing");
    let again = JobChange { token_digest: Some(d2.clone()), ..JobChange::default() };
    let rerun = ok(t(a.id.get(), &[JobStatus::Running], JobStatus::Running, again, 105).await, "transition")
        .expect("still running");
    assert_eq!(rerun, Job { token_digest: Some(d2.clone()), ..run.clone() }, "jobs: running → running keeps times");

    let fail =
        JobChange { failure_reason: Some(FailureReason::ScriptFailure), exit_code: Some(2), ..JobChange::default() };
    let failed =
        ok(t(a.id.get(), &[JobStatus::Running], JobStatus::Failed, fail, 110).await, "transition").expect("failed");
    assert_eq!(
        failed,
        Job {
            status: JobStatus::Failed,
            token_digest: None,
            lease_expires_at: None,
            failure_reason: Some(FailureReason::ScriptFailure),
            exit_code: Some(2),
            finished_at: Some(cx.at(110)),
            ..rerun
        },
        "jobs: a final status sets finished_at, drops the token and lease, keeps the runner"
    );
    assert_eq!(ok(s.job_by_token_digest(&d2).await, "by token"), None, "jobs: no token once finished");
    let late = ok(t(a.id.get(), &[JobStatus::Running], JobStatus::Success, none.clone(), 111).await, "late transition");
    assert_eq!(late, None, "jobs: a late runner cannot overwrite a final status");
    assert_eq!(job(cx, a.id).await, failed, "jobs: ... which stays as it was");
}

pub(super) async fn ci_job_claims_and_leases(cx: &Cx<'_>) {
    let s = cx.store;
    let p = ci_project(cx, "jc").await;
    let r = runner(cx, RunnerScope::Project(p.id), &[]).await;
    let other = runner(cx, RunnerScope::Instance, &[]).await;
    let jobs =
        [new_job("a", 0, JobStatus::Pending), new_job("b", 0, JobStatus::Pending), new_job("c", 0, JobStatus::Created)];
    let (_, jobs) = pipeline_with(cx, &p, "main", &jobs, 120).await;
    let (a, b, c) = (&jobs[0], &jobs[1], &jobs[2]);
    let d = digest(cx, "jc");

    let won = ok(s.assign_job(a.id, r.id, &d, cx.at(300), cx.at(121)).await, "assign_job").expect("claimed").job;
    assert_eq!(
        won,
        Job {
            status: JobStatus::Running,
            runner_id: Some(r.id),
            token_digest: Some(d.clone()),
            lease_expires_at: Some(cx.at(300)),
            started_at: Some(cx.at(121)),
            ..a.clone()
        },
        "jobs: assign claims a pending job for the runner"
    );
    let lost = ok(s.assign_job(a.id, other.id, &digest(cx, "jc"), cx.at(300), cx.at(122)).await, "assign");
    assert_eq!(lost, None, "jobs: a job is claimed once");
    assert_eq!(job(cx, a.id).await, won, "jobs: the loser changes nothing");
    let not_pending = ok(s.assign_job(c.id, r.id, &digest(cx, "jc"), cx.at(300), cx.at(122)).await, "assign");
    assert_eq!(not_pending, None, "jobs: only pending jobs are claimed");
    expect_not_found(
        s.assign_job(JobId::new(MISSING), r.id, &digest(cx, "jc"), cx.at(300), cx.at(122)).await,
        "jobs: missing",
    );
    expect_conflict(s.assign_job(b.id, r.id, &d, cx.at(300), cx.at(122)).await, "token", "jobs: a token in use");
    assert_eq!(job(cx, b.id).await, b.clone(), "jobs: a failed claim leaves the job pending");
    assert_eq!(ok(s.job_by_token_digest(&d).await, "by token"), Some(won.clone()), "jobs: found by token");

    assert!(ok(s.extend_lease(a.id, r.id, cx.at(400)).await, "extend_lease"), "jobs: the runner extends its lease");
    assert_eq!(job(cx, a.id).await.lease_expires_at, Some(cx.at(400)), "jobs: the lease moved");
    assert!(!ok(s.extend_lease(a.id, other.id, cx.at(500)).await, "extend"), "jobs: not another runner's lease");
    assert!(!ok(s.extend_lease(b.id, r.id, cx.at(500)).await, "extend"), "jobs: not a job that is not running");
    assert_eq!(job(cx, a.id).await.lease_expires_at, Some(cx.at(400)), "jobs: refused extensions change nothing");
    let ids = |jobs: Vec<Job>| job_ids(&jobs);
    assert!(!ids(ok(s.expired_leases(cx.at(399)).await, "expired")).contains(&a.id), "jobs: lease not yet expired");
    assert!(ids(ok(s.expired_leases(cx.at(401)).await, "expired")).contains(&a.id), "jobs: an expired lease");
    let running = ids(ok(s.running_jobs().await, "running_jobs"));
    assert!(running.contains(&a.id) && !running.contains(&b.id), "jobs: running_jobs lists running jobs only");

    // A lost job goes back to the queue, unassigned, and can be claimed again.
    let requeue = ok(
        s.transition_job(a.id, &[JobStatus::Running], JobStatus::Pending, &JobChange::default(), cx.at(402)).await,
        "t",
    );
    let requeued = requeue.expect("requeued");
    assert_eq!(
        (requeued.runner_id, &requeued.token_digest, requeued.lease_expires_at, requeued.queued_at),
        (None, &None, None, Some(cx.at(402))),
        "jobs: back to pending drops runner, token and lease and queues it again"
    );
    let pending = ids(ok(s.pending_jobs(i64::MAX).await, "pending_jobs"));
    let pos =
        |id: i64| pending.iter().position(|&x| x == JobId::new(id)).unwrap_or_else(|| panic!("job {id} is pending"));
    assert!(pos(b.id.get()) < pos(a.id.get()), "jobs: pending_jobs is oldest queued first");
    assert!(!pending.contains(&c.id), "jobs: pending_jobs lists pending jobs only");
    let d2 = digest(cx, "jc");
    let again =
        ok(s.assign_job(a.id, other.id, &d2, cx.at(500), cx.at(403)).await, "assign").expect("claimed again").job;
    assert_eq!((again.runner_id, again.started_at), (Some(other.id), Some(cx.at(403))), "jobs: claimed again");

    // Deleting a runner keeps the history of its jobs.
    let done = ok(
        s.transition_job(a.id, &[JobStatus::Running], JobStatus::Success, &JobChange::default(), cx.at(404)).await,
        "t",
    );
    let done = done.expect("finished");
    ok(s.delete_runner(other.id).await, "delete_runner");
    assert_eq!(ok(s.runner_by_id(other.id).await, "runner_by_id"), None, "runners: deleted");
    assert_eq!(job(cx, a.id).await, Job { runner_id: None, ..done }, "runners: delete keeps jobs, without runner");
    expect_not_found(s.delete_runner(other.id).await, "runners: deleting twice");
}

/// Claims and runners' final reports of several jobs in one call: each as if made alone, in order.
pub(super) async fn ci_job_batches(cx: &Cx<'_>) {
    let s = cx.store;
    let p = ci_project(cx, "jt").await;
    let (r, other) = (runner(cx, RunnerScope::Project(p.id), &[]).await, runner(cx, RunnerScope::Instance, &[]).await);
    let specs: Vec<NewJob> = ["a", "b", "c", "d"].iter().map(|n| new_job(n, 0, JobStatus::Pending)).collect();
    let (_, jobs) = pipeline_with(cx, &p, "main", &specs, 190).await;
    let created = ok(s.job_by_id(jobs[2].id).await, "job_by_id").expect("job c");
    ok(
        s.transition_job(created.id, &[JobStatus::Pending], JobStatus::Created, &JobChange::default(), cx.at(190))
            .await,
        "transition",
    );
    let claim = |job: &Job, r: &Runner| JobClaim {
        job_id: job.id,
        runner_id: r.id,
        token_digest: digest(cx, "jt"),
        lease_expires_at: cx.at(300),
    };
    let missing = Job { id: JobId::new(MISSING), ..jobs[0].clone() };
    let claims =
        [claim(&jobs[0], &r), claim(&jobs[1], &r), claim(&jobs[0], &other), claim(&jobs[2], &r), claim(&missing, &r)];
    let got = ok(s.assign_jobs(&claims, cx.at(191)).await, "assign_jobs");
    let winners: Vec<Option<RunnerId>> = got.iter().map(|c| c.as_ref().and_then(|c| c.job.runner_id)).collect();
    assert_eq!(
        winners,
        vec![Some(r.id), Some(r.id), None, None, None],
        "batches: the first claim of a job wins, a job not pending and a missing one are not claimed"
    );
    let a = got[0].clone().expect("a claimed").job;
    assert_eq!(job(cx, a.id).await, a, "batches: a claim's answer is the stored job");
    assert_eq!(
        (a.status, a.token_digest.as_deref(), a.started_at, a.lease_expires_at),
        (JobStatus::Running, Some(claims[0].token_digest.as_str()), Some(cx.at(191)), Some(cx.at(300))),
        "batches: claimed as assign_job claims"
    );
    let b = got[1].clone().expect("b claimed").job;
    let generation = ok(s.job_context(a.pipeline_id).await, "job_context").expect("context").generation;
    assert!(
        got[0].as_ref().is_some_and(|c| c.context_generation <= generation),
        "batches: claims carry the generation"
    );
    assert_eq!(ok(s.assign_jobs(&[], cx.at(192)).await, "assign_jobs"), vec![], "batches: nothing to claim");

    let report = |job: &Job, digest: &str| TokenReport { job_id: job.id, token_digest: digest.to_string() };
    let (da, db) = (claims[0].token_digest.clone(), claims[1].token_digest.clone());
    let none = ok(
        s.finish_jobs_with_tokens(
            &[report(&a, &digest(cx, "jt")), report(&a, &db), report(&missing, &da)],
            JobStatus::Success,
            cx.at(193),
        )
        .await,
        "finish_jobs_with_tokens",
    );
    assert_eq!(
        none,
        vec![None, None, None],
        "batches: an unknown token, another job's and a missing job change nothing"
    );
    assert_eq!(job(cx, a.id).await, a, "batches: the job is as it was");
    expect_invalid(
        s.finish_jobs_with_tokens(&[report(&a, &da)], JobStatus::Running, cx.at(193)).await,
        "batches: a report only finishes",
    );
    let done = ok(
        s.finish_jobs_with_tokens(
            &[report(&a, &db), report(&a, &da), report(&b, &db), report(&a, &da)],
            JobStatus::Failed,
            cx.at(194),
        )
        .await,
        "finish_jobs_with_tokens",
    );
    let finished = Job {
        status: JobStatus::Failed,
        token_digest: None,
        lease_expires_at: None,
        finished_at: Some(cx.at(194)),
        ..a.clone()
    };
    assert_eq!(done[0], None, "batches: another job's token first");
    assert_eq!(done[1].as_ref(), Some(&finished), "batches: then its own finishes it as transition_job would");
    assert_eq!(done[2].as_ref().map(|j| j.status), Some(JobStatus::Failed), "batches: another job in the same call");
    assert_eq!(done[3], None, "batches: a token is spent once its job stops running");
    assert_eq!(job(cx, a.id).await, finished, "batches: the answer is the stored job");

    // More claims than one statement takes: still all or nothing. The last one's digest is in
    // use, so the call fails, and the claims of the first statement are not made either.
    let many: Vec<NewJob> = (0..101).map(|i| new_job(&format!("m{i}"), 0, JobStatus::Pending)).collect();
    let (_, many) = pipeline_with(cx, &p, "main", &many, 195).await;
    let mut claims: Vec<JobClaim> = many.iter().map(|j| claim(j, &r)).collect();
    claims[100].token_digest = claims[0].token_digest.clone();
    expect_conflict(s.assign_jobs(&claims, cx.at(196)).await, "token", "batches: a digest in use");
    for j in [&many[0], &many[99], &many[100]] {
        assert_eq!(job(cx, j.id).await.status, JobStatus::Pending, "batches: a failed call claims nothing");
    }
}
