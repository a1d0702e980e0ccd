//! Conformance checks: every CI word (job and pipeline status, `when`, failure reason) is stored
//! and read back as itself, and found by the filters that name it.

use super::ci_common::*;
use super::*;

pub(super) async fn ci_words_round_trip(cx: &Cx<'_>) {
    let s = cx.store;
    let p = ci_project(cx, "words").await;
    let jobs: Vec<NewJob> = When::ALL
        .iter()
        .enumerate()
        .map(|(i, when)| NewJob { when: *when, ..new_job(&format!("w{i}"), 0, JobStatus::Created) })
        .collect();
    let (pl, created) = pipeline_with(cx, &p, "main", &jobs, 900).await;
    let stored: Vec<When> =
        ok(s.jobs_of_pipeline(pl.id, false).await, "jobs_of_pipeline").iter().map(|j| j.when).collect();
    assert_eq!(stored, When::ALL, "words: every `when` reads back as written");

    for status in PipelineStatus::ALL {
        let set = ok(s.set_pipeline_status(pl.id, *status, cx.at(901)).await, "set_pipeline_status");
        let read = ok(s.pipeline_by_id(pl.id).await, "pipeline_by_id").map(|p| p.status);
        assert_eq!((set.status, read), (*status, Some(*status)), "words: pipeline status {status}");
        let filter = PipelineFilter { status: Some(*status), ..PipelineFilter::default() };
        let listed = ok(s.list_pipelines(p.id, &filter, Page::ALL).await, "list_pipelines");
        assert_eq!(listed.total, 1, "words: the pipeline is listed under {status}");
    }

    let job = created[0].id;
    let stored = JobStatus::ALL.iter().filter(|s| !matches!(s, JobStatus::WaitingForResource | JobStatus::Preparing));
    for status in stored {
        let moved = ok(s.transition_job(job, JobStatus::ALL, *status, &JobChange::default(), cx.at(902)).await, "t");
        let read = ok(s.job_by_id(job).await, "job_by_id").map(|j| j.status);
        assert_eq!((moved.map(|j| j.status), read), (Some(*status), Some(*status)), "words: job status {status}");
        let listed = ok(s.list_project_jobs(p.id, &[*status], Page::ALL).await, "list_project_jobs");
        let under = |j: &Job| j.status == *status;
        let found = listed.items.iter().any(|j| j.id == job) && listed.items.iter().all(under);
        assert!(found, "words: the job is listed under {status}, with only such jobs");
    }

    for reason in FailureReason::ALL {
        let change = JobChange { failure_reason: Some(*reason), ..JobChange::default() };
        let failed = ok(s.transition_job(job, JobStatus::ALL, JobStatus::Failed, &change, cx.at(903)).await, "t");
        let read = ok(s.job_by_id(job).await, "job_by_id").and_then(|j| j.failure_reason);
        assert_eq!((failed.and_then(|j| j.failure_reason), read), (Some(*reason), Some(*reason)), "words: {reason}");
    }
}
