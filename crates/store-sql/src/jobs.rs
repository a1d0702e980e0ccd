//! [`JobStore`]: job reads and the job state machine. Every state change is one `UPDATE … WHERE
//! id = $1 AND <expected status>` statement, so it is compare-and-set on both backends: on
//! PostgreSQL a concurrent writer waits for the row and re-checks the condition on the new
//! version; on SQLite writers are serialized. A `RETURNING` that yields no row means "not in the
//! expected state", told apart from "missing" by a second look only on that path. Claims and
//! token reports of several jobs (`job_batches`) are one `UPDATE … FROM` a list, compare-and-set
//! per row in the same way.

use async_trait::async_trait;
use autogit_core::ci::JobStatus;
use autogit_store::{
    Claimed, ContextGeneration, Job, JobChange, JobClaim, JobStore, Listed, Page, Result, StoreError, TokenReport,
};
use autogit_store::{JobId, PipelineId, ProjectId, RunnerId};
use chrono::{DateTime, Utc};

use crate::ci_codec::{status_in, status_set};
use crate::db::{BeginWrite, SqlStore, with_db};
use crate::error::{conflict_as, db_err};
use crate::filter::page_and_total;
use crate::job_rows::{JobRow, check_job_status, job_columns, jobs};

const BY_ID: &str = concat!("SELECT ", job_columns!(), " FROM jobs WHERE id = $1");
const EXISTS: &str = "SELECT COUNT(*) FROM jobs WHERE id = $1";
const OF_PIPELINE: &str = concat!(
    "SELECT ",
    job_columns!(),
    " FROM jobs WHERE pipeline_id = $1 AND ($2 OR NOT retried) ORDER BY stage_index, id"
);
const OF_PROJECT: &str = concat!(
    "SELECT ",
    job_columns!(),
    " FROM jobs WHERE project_id = $1 AND ($2 IS NULL OR ",
    status_in!("$2"),
    ") ORDER BY id DESC LIMIT $3 OFFSET $4"
);
const COUNT_OF_PROJECT: &str =
    concat!("SELECT COUNT(*) FROM jobs WHERE project_id = $1 AND ($2 IS NULL OR ", status_in!("$2"), ")");
const OF_RUNNER: &str = concat!(
    "SELECT ",
    job_columns!(),
    " FROM jobs WHERE runner_id = $1 AND ($2 IS NULL OR ",
    status_in!("$2"),
    ") ORDER BY id DESC LIMIT $3 OFFSET $4"
);
const COUNT_OF_RUNNER: &str =
    concat!("SELECT COUNT(*) FROM jobs WHERE runner_id = $1 AND ($2 IS NULL OR ", status_in!("$2"), ")");
const PENDING: &str =
    concat!("SELECT ", job_columns!(), " FROM jobs WHERE status = 'pending' ORDER BY queued_at, id LIMIT $1");
const RUNNING: &str = concat!("SELECT ", job_columns!(), " FROM jobs WHERE status = 'running' ORDER BY id");
const BY_TOKEN: &str = concat!("SELECT ", job_columns!(), " FROM jobs WHERE token_digest = $1 AND status = 'running'");
const DUE: &str = concat!(
    "SELECT ",
    job_columns!(),
    " FROM jobs WHERE status = 'scheduled' AND scheduled_at <= $1 ORDER BY scheduled_at, id"
);
const EXPIRED: &str = concat!(
    "SELECT ",
    job_columns!(),
    " FROM jobs WHERE status = 'running' AND lease_expires_at < $1 ORDER BY lease_expires_at, id"
);

/// `$2` target status, `$3` unassign, `$4` runner, `$5` drop the token, `$6` token, `$7` drop the
/// lease, `$8` lease, `$9` failure reason, `$10` exit code, `$11` now, `$12` target is final,
/// `$13` the expected statuses (`,a,b,`), `$14` when a scheduled job is due. SET expressions read the row as it was before.
const TRANSITION: &str = concat!(
    "UPDATE jobs SET status = $2, ",
    "runner_id = CASE WHEN $3 THEN NULL ELSE COALESCE($4, runner_id) END, ",
    "token_digest = CASE WHEN $5 THEN NULL ELSE COALESCE($6, token_digest) END, ",
    "lease_expires_at = CASE WHEN $7 THEN NULL ELSE COALESCE($8, lease_expires_at) END, ",
    "failure_reason = COALESCE($9, failure_reason), exit_code = COALESCE($10, exit_code), ",
    "queued_at = CASE WHEN $2 = 'pending' AND status <> 'pending' THEN $11 ELSE queued_at END, ",
    "started_at = CASE WHEN $2 = 'running' AND status <> 'running' THEN $11 ELSE started_at END, ",
    "finished_at = CASE WHEN $12 THEN $11 ELSE NULL END, ",
    "scheduled_at = COALESCE($14, scheduled_at) ",
    "WHERE id = $1 AND ",
    status_in!("$13"),
    " RETURNING ",
    job_columns!()
);
const EXTEND: &str = "UPDATE jobs SET lease_expires_at = $3 WHERE id = $1 AND runner_id = $2 AND status = 'running'";
const MARK_RETRIED: &str = "UPDATE jobs SET retried = $2 WHERE id = $1 AND NOT retried \
     AND status IN ('success', 'failed', 'canceled')";
const INSERT_RETRY: &str = concat!(
    "INSERT INTO jobs (pipeline_id, project_id, name, stage, stage_index, status, run_when, allow_failure, spec, ",
    "tags, protected, attempt, retried_from, timeout_secs, queued_at, created_at) ",
    "SELECT pipeline_id, project_id, name, stage, stage_index, 'pending', run_when, allow_failure, spec, ",
    "tags, protected, attempt + 1, id, timeout_secs, $2, $2 FROM jobs WHERE id = $1 RETURNING ",
    job_columns!()
);

/// The stored context generation, which starts at 0 and only grows.
pub(crate) fn generation(value: i64) -> Result<ContextGeneration> {
    u64::try_from(value)
        .map(ContextGeneration)
        .map_err(|_| StoreError::Invalid(format!("stored job-context generation {value} is negative")))
}

impl SqlStore {
    /// `Ok(None)` if the job exists (the caller's condition did not hold), NotFound otherwise.
    async fn none_if_exists(&self, id: i64) -> Result<Option<Job>> {
        let n: i64 = with_db!(self, |p| sqlx::query_scalar(EXISTS).bind(id).fetch_one(p).await.map_err(db_err)?);
        if n == 0 { Err(StoreError::NotFound("job")) } else { Ok(None) }
    }

    async fn job_list(&self, sql: &'static str, bind: Option<DateTime<Utc>>, limit: Option<i64>) -> Result<Vec<Job>> {
        let rows: Vec<JobRow> = with_db!(self, |p| {
            let mut q = sqlx::query_as(sql);
            if let Some(at) = bind {
                q = q.bind(at);
            }
            if let Some(limit) = limit {
                q = q.bind(limit);
            }
            q.fetch_all(p).await.map_err(db_err)?
        });
        jobs(rows)
    }

    /// One page of the jobs of one owner (`$1`: a project or a runner), filtered by status.
    async fn jobs_of(
        &self,
        sql: &'static str,
        count_sql: &'static str,
        owner: i64,
        statuses: &[JobStatus],
        page: Page,
    ) -> Result<Listed<Job>> {
        let set = if statuses.is_empty() { None } else { Some(status_set(statuses)) };
        let (rows, total): (Vec<JobRow>, i64) =
            with_db!(self, |p| page_and_total!(p, sql, count_sql, page, |q| q.bind(owner).bind(&set)));
        Ok(Listed { items: jobs(rows)?, total })
    }
}

#[async_trait]
impl JobStore for SqlStore {
    async fn job_by_id(&self, id: JobId) -> Result<Option<Job>> {
        let row: Option<JobRow> =
            with_db!(self, |p| sqlx::query_as(BY_ID).bind(id.get()).fetch_optional(p).await.map_err(db_err)?);
        row.map(Job::try_from).transpose()
    }

    async fn jobs_of_pipeline(&self, pipeline_id: PipelineId, include_retried: bool) -> Result<Vec<Job>> {
        let rows: Vec<JobRow> = with_db!(self, |p| sqlx::query_as(OF_PIPELINE)
            .bind(pipeline_id.get())
            .bind(include_retried)
            .fetch_all(p)
            .await
            .map_err(db_err)?);
        jobs(rows)
    }

    async fn list_project_jobs(
        &self,
        project_id: ProjectId,
        statuses: &[JobStatus],
        page: Page,
    ) -> Result<Listed<Job>> {
        self.jobs_of(OF_PROJECT, COUNT_OF_PROJECT, project_id.get(), statuses, page).await
    }

    async fn list_runner_jobs(&self, runner_id: RunnerId, statuses: &[JobStatus], page: Page) -> Result<Listed<Job>> {
        self.jobs_of(OF_RUNNER, COUNT_OF_RUNNER, runner_id.get(), statuses, page).await
    }

    async fn pending_jobs(&self, limit: i64) -> Result<Vec<Job>> {
        self.job_list(PENDING, None, Some(limit.max(0))).await
    }

    async fn running_jobs(&self) -> Result<Vec<Job>> {
        self.job_list(RUNNING, None, None).await
    }

    async fn transition_job(
        &self,
        id: JobId,
        from: &[JobStatus],
        to: JobStatus,
        change: &JobChange,
        now: DateTime<Utc>,
    ) -> Result<Option<Job>> {
        check_job_status(to)?;
        let expected = status_set(from);
        let running = to == JobStatus::Running;
        let row: Option<JobRow> = with_db!(self, |p| sqlx::query_as(TRANSITION)
            .bind(id.get())
            .bind(to.as_str())
            .bind(to.is_unstarted())
            .bind(change.runner_id.map(RunnerId::get))
            .bind(!running || change.clear_token)
            .bind(&change.token_digest)
            .bind(!running)
            .bind(change.lease_expires_at)
            .bind(change.failure_reason.map(|f| f.as_str()))
            .bind(change.exit_code)
            .bind(now)
            .bind(to.is_finished())
            .bind(&expected)
            .bind(change.scheduled_at)
            .fetch_optional(p)
            .await
            .map_err(db_err)
            .map_err(conflict_as("token"))?);
        match row {
            Some(row) => Ok(Some(row.try_into()?)),
            None => self.none_if_exists(id.get()).await,
        }
    }

    async fn finish_jobs_with_tokens(
        &self,
        reports: &[TokenReport],
        to: JobStatus,
        now: DateTime<Utc>,
    ) -> Result<Vec<Option<Job>>> {
        check_job_status(to)?;
        if !to.is_finished() {
            return Err(StoreError::Invalid(format!("a token report finishes a job; '{to}' is not final")));
        }
        self.report_batch(reports, to.as_str(), now).await
    }

    async fn assign_job(
        &self,
        id: JobId,
        runner_id: RunnerId,
        token_digest: &str,
        lease_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<Claimed>> {
        let claim = JobClaim { job_id: id, runner_id, token_digest: token_digest.to_string(), lease_expires_at };
        match self.claim_batch(std::slice::from_ref(&claim), now).await?.pop().flatten() {
            Some(claimed) => Ok(Some(claimed)),
            None => self.none_if_exists(id.get()).await.map(|_| None),
        }
    }

    async fn assign_jobs(&self, claims: &[JobClaim], now: DateTime<Utc>) -> Result<Vec<Option<Claimed>>> {
        self.claim_batch(claims, now).await
    }

    async fn job_by_token_digest(&self, digest: &str) -> Result<Option<Job>> {
        let row: Option<JobRow> =
            with_db!(self, |p| sqlx::query_as(BY_TOKEN).bind(digest).fetch_optional(p).await.map_err(db_err)?);
        row.map(Job::try_from).transpose()
    }

    async fn extend_lease(&self, id: JobId, runner_id: RunnerId, until: DateTime<Utc>) -> Result<bool> {
        let done = with_db!(self, |p| sqlx::query(EXTEND)
            .bind(id.get())
            .bind(runner_id.get())
            .bind(until)
            .execute(p)
            .await
            .map_err(db_err)?
            .rows_affected());
        Ok(done == 1)
    }

    async fn expired_leases(&self, now: DateTime<Utc>) -> Result<Vec<Job>> {
        self.job_list(EXPIRED, Some(now), None).await
    }

    async fn due_scheduled_jobs(&self, now: DateTime<Utc>) -> Result<Vec<Job>> {
        self.job_list(DUE, Some(now), None).await
    }

    async fn retry_job(&self, id: JobId, now: DateTime<Utc>) -> Result<Job> {
        let row: Option<JobRow> = with_db!(self, |p| {
            let mut tx = p.begin_write().await?;
            let marked = sqlx::query(MARK_RETRIED)
                .bind(id.get())
                .bind(true)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?
                .rows_affected();
            if marked == 0 {
                None
            } else {
                let row =
                    sqlx::query_as(INSERT_RETRY).bind(id.get()).bind(now).fetch_one(&mut *tx).await.map_err(db_err)?;
                tx.commit().await.map_err(db_err)?;
                Some(row)
            }
        });
        match row {
            Some(row) => row.try_into(),
            None => {
                self.none_if_exists(id.get()).await?;
                Err(StoreError::Invalid("only a finished job that was not retried yet can be retried".into()))
            }
        }
    }
}
