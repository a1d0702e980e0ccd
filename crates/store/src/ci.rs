//! Storage ports of CI: runners, pipelines with their jobs, job traces and artifacts, and CI/CD
//! variables.
//!
//! The crate-level contract holds here too. In addition:
//! - Job state changes are compare-and-set on the current status: a writer names the statuses it
//!   expects, and a job in any other status is left alone and answered with `Ok(None)` — so two
//!   coordinators, or a runner reporting late, never overwrite a newer state.
//! - Tokens (runner and job) are stored only as hex SHA-256 digests; a digest clash is
//!   `Conflict("token")`.
//! - Deleting a project removes its pipelines, jobs, traces, artifact records, variables and
//!   project runners.

mod artifacts;
mod context;
mod hardware;
mod job_records;
mod records;

pub use artifacts::*;
pub use context::*;
pub use hardware::*;
pub use job_records::*;
pub use records::*;

use async_trait::async_trait;
use autogit_core::ci::{JobStatus, PipelineStatus};
use autogit_core::{JobId, PipelineId, ProjectId, RunnerId};
use chrono::{DateTime, Utc};

use crate::{Listed, Page, Result};

/// Runners: the machines that take jobs, found by the digest of their token.
#[async_trait]
pub trait RunnerStore: Send + Sync {
    /// Conflict("token") if the digest exists; Invalid for a missing group or project, or a bad tag.
    async fn create_runner(&self, new: &NewRunner, now: DateTime<Utc>) -> Result<Runner>;
    async fn runner_by_id(&self, id: RunnerId) -> Result<Option<Runner>>;
    async fn runner_by_token_digest(&self, digest: &str) -> Result<Option<Runner>>;
    /// Runners matching every set field of the filter, by id.
    async fn list_runners(&self, filter: &RunnerFilter, page: Page) -> Result<Listed<Runner>>;
    /// Applies the fields that are `Some` and returns the result. NotFound if missing.
    async fn update_runner(&self, id: RunnerId, update: &RunnerUpdate) -> Result<Runner>;
    /// Records a contact: sets `contacted_at` and the reported fields that are `Some`. One
    /// statement, cheap enough for every request. NotFound if missing.
    async fn touch_runner(&self, id: RunnerId, now: DateTime<Utc>, seen: &RunnerSeen) -> Result<()>;
    /// Deletes the runner. Its jobs stay, with `runner_id` set to `None`. NotFound if missing.
    async fn delete_runner(&self, id: RunnerId) -> Result<()>;
    /// Replaces the token digest; the old token stops working at once. NotFound if missing,
    /// Conflict("token") if the new digest belongs to another runner.
    async fn rotate_runner_token(&self, id: RunnerId, new_digest: &str) -> Result<()>;
}

/// Pipelines. A pipeline is created together with all its jobs and never exists without them.
#[async_trait]
pub trait PipelineStore: Send + Sync {
    /// Creates the pipeline and its jobs in one transaction: either all exist or none. The `iid`
    /// is the project's next (assigned atomically; concurrent creators get distinct ones). Jobs
    /// get attempt 1, `created_at = now` and, if pending, `queued_at = now`; they are returned in
    /// the order given. Invalid for a missing project or user, or a job status jobs are not stored
    /// with (`waiting_for_resource`, `preparing`: AutoGit has no resource groups and no
    /// preparing phase).
    async fn create_pipeline(
        &self,
        new: &NewPipeline,
        jobs: &[NewJob],
        now: DateTime<Utc>,
    ) -> Result<(Pipeline, Vec<Job>)>;
    async fn pipeline_by_id(&self, id: PipelineId) -> Result<Option<Pipeline>>;
    async fn pipeline_by_iid(&self, project_id: ProjectId, iid: i64) -> Result<Option<Pipeline>>;
    /// Pipelines that have variables, with an id above `after` (all when `None`), by id, at most
    /// `limit`: how the re-encryption passes walk every stored pipeline variable in batches.
    async fn pipelines_with_variables_after(&self, after: Option<PipelineId>, limit: i64) -> Result<Vec<Pipeline>>;
    /// Sets pipeline `id`'s variables to `new` only while they are still `expected`
    /// (compare-and-set, as [`CiVariableStore::swap_variable_value`]). `false` when they differ
    /// or the pipeline is gone.
    async fn swap_pipeline_variables(
        &self,
        id: PipelineId,
        expected: &[(String, String)],
        new: &[(String, String)],
    ) -> Result<bool>;
    /// Pipelines of one project matching every set field, newest (highest id) first.
    async fn list_pipelines(
        &self,
        project_id: ProjectId,
        filter: &PipelineFilter,
        page: Page,
    ) -> Result<Listed<Pipeline>>;
    /// Sets the status and `updated_at`. Becoming `running` sets `started_at` the first time;
    /// a finished status ([`PipelineStatus::is_finished`]) sets `finished_at`, any other clears it
    /// (a retried pipeline runs again). Not compare-and-set: the coordinator derives it from the
    /// jobs. NotFound if missing.
    async fn set_pipeline_status(&self, id: PipelineId, status: PipelineStatus, now: DateTime<Utc>)
    -> Result<Pipeline>;
    /// The newest pipeline for a branch or tag name.
    async fn latest_pipeline_for_ref(&self, project_id: ProjectId, ref_name: &str) -> Result<Option<Pipeline>>;
}

/// Jobs and their state machine. Every state change is compare-and-set on the current status.
#[async_trait]
pub trait JobStore: Send + Sync {
    async fn job_by_id(&self, id: JobId) -> Result<Option<Job>>;
    /// Jobs of a pipeline by `stage_index`, then id; retried attempts only if asked for.
    async fn jobs_of_pipeline(&self, pipeline_id: PipelineId, include_retried: bool) -> Result<Vec<Job>>;
    /// Jobs of a project (retried ones included) whose status is in `statuses` (all when empty),
    /// newest first.
    async fn list_project_jobs(&self, project_id: ProjectId, statuses: &[JobStatus], page: Page)
    -> Result<Listed<Job>>;
    /// Jobs assigned to a runner (the attempts it took and still holds or finished; a job moved
    /// back to an unstarted status is no longer its) whose status is in `statuses` (all when
    /// empty), newest first.
    async fn list_runner_jobs(&self, runner_id: RunnerId, statuses: &[JobStatus], page: Page) -> Result<Listed<Job>>;
    /// Up to `limit` pending jobs, oldest `queued_at` first (then by id): the queue to rebuild
    /// after a restart.
    async fn pending_jobs(&self, limit: i64) -> Result<Vec<Job>>;
    /// Every running job, by id.
    async fn running_jobs(&self) -> Result<Vec<Job>>;
    /// Moves the job to `to` if its status is in `from`, writing `change` in the same statement.
    /// `Ok(None)` (nothing changed) when the status is not in `from`; NotFound if missing;
    /// Invalid for a `to` jobs are not stored with (as in [`PipelineStore::create_pipeline`]).
    /// Side effects by target:
    /// - `pending`: `queued_at = now`; `created`, `pending`, `manual`, `scheduled` also clear
    ///   `runner_id` (the job can be claimed again);
    /// - `change.scheduled_at`, when set, is written whatever the target (`scheduled` needs it);
    /// - `running`: `started_at = now`;
    /// - a finished status ([`JobStatus::is_finished`]): `finished_at = now`;
    /// - anything but `running` (or `clear_token`) clears the token digest and the lease.
    async fn transition_job(
        &self,
        id: JobId,
        from: &[JobStatus],
        to: JobStatus,
        change: &JobChange,
        now: DateTime<Utc>,
    ) -> Result<Option<Job>>;
    /// Finishes several running jobs, each only while it holds the token of its report: as
    /// [`Self::transition_job`] from `running` to the final status `to` with no other change,
    /// for all of them at once (one statement for up to 100). One answer per report, in order:
    /// the job as left, or `None` when it does not hold that token (a stale or forged token,
    /// another job's, or a job that stopped running meanwhile) or is missing; nothing is read to
    /// tell these apart. Reports of the same job apply in order. Invalid if `to` is not final.
    async fn finish_jobs_with_tokens(
        &self,
        reports: &[TokenReport],
        to: JobStatus,
        now: DateTime<Utc>,
    ) -> Result<Vec<Option<Job>>>;
    /// The claim: pending and unassigned → running on `runner_id`, with the token digest, the
    /// lease and `started_at = now`. Of concurrent claimers exactly one gets `Some`; the others,
    /// and any claim of a job not pending or already assigned, get `Ok(None)`. NotFound if
    /// missing; Conflict("token") if the digest is in use. The answer carries the
    /// [`ContextGeneration`] as of the claim, read in the same statement.
    async fn assign_job(
        &self,
        id: JobId,
        runner_id: RunnerId,
        token_digest: &str,
        lease_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<Claimed>>;
    /// Several claims at once (one statement for up to 100), each as [`Self::assign_job`], all
    /// with `started_at = now`. One answer per claim, in order; claims of the same job apply in
    /// order, so at most one of them wins. A missing job is `None` here, not NotFound.
    /// Conflict("token") if a digest is in use; a call is all or nothing, so then none is made.
    async fn assign_jobs(&self, claims: &[JobClaim], now: DateTime<Utc>) -> Result<Vec<Option<Claimed>>>;
    /// The running job holding this token; `None` once it stopped running.
    async fn job_by_token_digest(&self, digest: &str) -> Result<Option<Job>>;
    /// Moves the lease of a job running on `runner_id`; false (nothing changed) otherwise.
    async fn extend_lease(&self, id: JobId, runner_id: RunnerId, until: DateTime<Utc>) -> Result<bool>;
    /// Running jobs whose lease ended before `now`, oldest lease first.
    async fn expired_leases(&self, now: DateTime<Utc>) -> Result<Vec<Job>>;
    /// `scheduled` jobs whose `scheduled_at` is at or before `now`, earliest first.
    async fn due_scheduled_jobs(&self, now: DateTime<Utc>) -> Result<Vec<Job>>;
    /// Retries a finished job (`success`, `failed` or `canceled`) in one transaction: the old row
    /// is marked `retried`, and a new attempt (`attempt + 1`, `retried_from` = old id, same spec)
    /// is inserted `pending` with `queued_at = now`, and returned. NotFound if missing; Invalid if
    /// the job has not finished or was already retried (so of concurrent retries one wins).
    async fn retry_job(&self, id: JobId, now: DateTime<Utc>) -> Result<Job>;
}

/// Job logs, appended in pieces at known offsets (the runner's `PATCH /jobs/:id/trace`) while
/// the job runs. Once it has finished, the application copies the log into one blob and then
/// archives it here ([`TraceStore::archive_trace`]): the pieces are deleted and
/// [`Job::trace_archived`] is set, and from then on the blob holds the bytes (`trace_size` stays
/// their length).
#[async_trait]
pub trait TraceStore: Send + Sync {
    /// Appends `bytes` if `offset` equals the stored size, atomically, keeping `Job::trace_size`
    /// in step; otherwise stores nothing and reports the current size (`Mismatch`, or `Archived`
    /// for an archived trace, which takes no more bytes). Appending nothing at the right offset
    /// is `Appended` with the size unchanged. Limits on the total size, and on which job states
    /// may log, are the caller's business. NotFound if the job is missing.
    async fn append_trace(&self, job_id: JobId, offset: i64, bytes: &[u8]) -> Result<TraceAppend>;
    /// Up to `limit` bytes from `offset`; empty past the end, for a missing job, and for an
    /// archived trace (its bytes are no longer here).
    async fn read_trace(&self, job_id: JobId, offset: i64, limit: i64) -> Result<Vec<u8>>;
    /// The stored size; `None` for a missing job.
    async fn trace_size(&self, job_id: JobId) -> Result<Option<i64>>;
    /// Archives the trace of `job_id` if its size is still `size`: in one transaction its pieces
    /// are deleted and `trace_archived` is set. `true` when the trace is archived (by this call
    /// or an earlier one with the same size: calling again is harmless); `false` when the size
    /// is no longer `size` (an append came in meanwhile) and nothing changed. The caller stores
    /// the bytes elsewhere first; the job's status is the caller's business. NotFound if the job
    /// is missing.
    async fn archive_trace(&self, job_id: JobId, size: i64) -> Result<bool>;
    /// Finished jobs ([`JobStatus::is_finished`]) with a trace (`trace_size > 0`) that is not
    /// archived, with an id above `after` (all when `None`), by id, at most `limit`: what is left to archive,
    /// after a crash too, walked in batches.
    async fn unarchived_traces(&self, after: Option<JobId>, limit: i64) -> Result<Vec<Job>>;
}

/// CI/CD variables of projects and groups, unique per (owner, key, environment scope). Values
/// are opaque text to the store: the application seals them before they get here (ADR 0009).
/// Where a scope is optional, `None` means "the only variable with this key":
/// Conflict("environment_scope") when several scopes have one (as GitLab's 409).
#[async_trait]
pub trait CiVariableStore: Send + Sync {
    /// Conflict("key") on a duplicate (owner, key, scope); Invalid for a missing owner or type.
    async fn create_variable(&self, new: &NewVariable) -> Result<CiVariable>;
    /// Variables of one owner, by id.
    async fn list_variables(&self, owner: VariableOwner, page: Page) -> Result<Listed<CiVariable>>;
    async fn variable(&self, owner: VariableOwner, key: &str, scope: Option<&str>) -> Result<Option<CiVariable>>;
    /// Applies the fields that are `Some`. NotFound if missing; Conflict("key") if the new scope
    /// is taken.
    async fn update_variable(
        &self,
        owner: VariableOwner,
        key: &str,
        scope: Option<&str>,
        update: &VariableUpdate,
    ) -> Result<CiVariable>;
    /// NotFound if missing.
    async fn delete_variable(&self, owner: VariableOwner, key: &str, scope: Option<&str>) -> Result<()>;
    /// Variables of every owner with an id above `after_id`, by id, at most `limit`: how the
    /// re-encryption passes walk every stored value in batches.
    async fn variables_after(&self, after_id: i64, limit: i64) -> Result<Vec<CiVariable>>;
    /// Sets variable `id`'s value to `new` only while it is still `expected` (compare-and-set),
    /// so that a re-encryption pass never overwrites a change made meanwhile. `false` when the
    /// value differs or the variable is gone.
    async fn swap_variable_value(&self, id: i64, expected: &str, new: &str) -> Result<bool>;
}
