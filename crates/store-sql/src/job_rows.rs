//! The job row shared by `jobs` (reads and state changes) and `pipelines` (which inserts a
//! pipeline's jobs in its own transaction): columns, row struct, and the insert.

use autogit_core::ci::JobStatus;
use autogit_store::{Job, NewJob, Result, StoreError};
use autogit_store::{JobId, PipelineId, ProjectId, RunnerId};
use chrono::{DateTime, Utc};

use crate::ci_codec::{decode_tags, decode_word, encode_tags};

/// Job columns in `JobRow` order. `when` is a keyword in SQL, hence `run_when`.
macro_rules! job_columns {
    () => {
        "id, pipeline_id, project_id, name, stage, stage_index, status, run_when, allow_failure, spec, tags, \
         protected, runner_id, token_digest, attempt, retried_from, retried, failure_reason, exit_code, \
         timeout_secs, scheduled_at, queued_at, started_at, finished_at, created_at, lease_expires_at, trace_size, \
         trace_archived"
    };
}
pub(crate) use job_columns;

#[derive(sqlx::FromRow)]
pub(crate) struct JobRow {
    id: i64,
    pipeline_id: i64,
    project_id: i64,
    name: String,
    stage: String,
    stage_index: i32,
    status: String,
    run_when: String,
    allow_failure: bool,
    spec: String,
    tags: String,
    protected: bool,
    runner_id: Option<i64>,
    token_digest: Option<String>,
    attempt: i32,
    retried_from: Option<i64>,
    retried: bool,
    failure_reason: Option<String>,
    exit_code: Option<i32>,
    timeout_secs: i64,
    scheduled_at: Option<DateTime<Utc>>,
    queued_at: Option<DateTime<Utc>>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    lease_expires_at: Option<DateTime<Utc>>,
    trace_size: i64,
    trace_archived: bool,
}

impl TryFrom<JobRow> for Job {
    type Error = StoreError;

    fn try_from(r: JobRow) -> Result<Job> {
        Ok(Job {
            id: JobId::new(r.id),
            pipeline_id: PipelineId::new(r.pipeline_id),
            project_id: ProjectId::new(r.project_id),
            name: r.name,
            stage: r.stage,
            stage_index: r.stage_index,
            status: decode_word("jobs.status", &r.status)?,
            when: decode_word("jobs.run_when", &r.run_when)?,
            allow_failure: r.allow_failure,
            spec: r.spec,
            tags: decode_tags(&r.tags),
            protected: r.protected,
            runner_id: r.runner_id.map(RunnerId::new),
            token_digest: r.token_digest,
            attempt: r.attempt,
            retried_from: r.retried_from.map(JobId::new),
            retried: r.retried,
            failure_reason: r.failure_reason.as_deref().map(|f| decode_word("jobs.failure_reason", f)).transpose()?,
            exit_code: r.exit_code,
            timeout_secs: r.timeout_secs,
            scheduled_at: r.scheduled_at,
            queued_at: r.queued_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
            created_at: r.created_at,
            lease_expires_at: r.lease_expires_at,
            trace_size: r.trace_size,
            trace_archived: r.trace_archived,
        })
    }
}

/// Rows read as jobs; the first that does not decode fails them all.
pub(crate) fn jobs(rows: Vec<JobRow>) -> Result<Vec<Job>> {
    rows.into_iter().map(Job::try_from).collect()
}

/// The job table holds every status but `waiting_for_resource` and `preparing` (its CHECK
/// constraint): AutoGit has no resource groups and no preparing phase, so no job takes them.
pub(crate) fn check_job_status(status: JobStatus) -> Result<()> {
    match status {
        JobStatus::WaitingForResource | JobStatus::Preparing => {
            Err(StoreError::Invalid(format!("a job cannot be stored with status '{status}'")))
        }
        _ => Ok(()),
    }
}

/// `$1` pipeline, `$2` project, then the fields of [`NewJob`] as [`bind_new_job!`] binds them.
pub(crate) const INSERT_JOB: &str = concat!(
    "INSERT INTO jobs (pipeline_id, project_id, name, stage, stage_index, status, run_when, allow_failure, spec, ",
    "tags, protected, attempt, timeout_secs, scheduled_at, queued_at, created_at) ",
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1, $12, $13, $14, $15) RETURNING ",
    job_columns!()
);

/// A [`NewJob`] checked and encoded for [`INSERT_JOB`]. Checking the status and tags here makes a
/// bad job fail with a message naming the problem, before anything is written.
pub(crate) struct PreparedJob<'a> {
    pub job: &'a NewJob,
    pub tags: String,
    pub queued_at: Option<DateTime<Utc>>,
}

pub(crate) fn prepare_job(job: &NewJob, now: DateTime<Utc>) -> Result<PreparedJob<'_>> {
    check_job_status(job.status)?;
    let tags = encode_tags(&job.tags)?;
    Ok(PreparedJob { job, tags, queued_at: (job.status == JobStatus::Pending).then_some(now) })
}

/// Binds `$3`.. of [`INSERT_JOB`] from a [`PreparedJob`] and the creation time.
macro_rules! bind_new_job {
    ($q:expr, $prep:expr, $now:expr) => {
        $q.bind(&$prep.job.name)
            .bind(&$prep.job.stage)
            .bind($prep.job.stage_index)
            .bind($prep.job.status.as_str())
            .bind($prep.job.when.as_str())
            .bind($prep.job.allow_failure)
            .bind(&$prep.job.spec)
            .bind(&$prep.tags)
            .bind($prep.job.protected)
            .bind($prep.job.timeout_secs)
            .bind($prep.job.scheduled_at)
            .bind($prep.queued_at)
            .bind($now)
    };
}
pub(crate) use bind_new_job;
