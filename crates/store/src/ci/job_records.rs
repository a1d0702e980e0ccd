//! Records of jobs, their traces, and CI/CD variables.

use autogit_core::ci::{FailureReason, JobStatus, When};
use autogit_core::{JobId, NamespaceId, PipelineId, ProjectId, RunnerId};
use chrono::{DateTime, Utc};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: JobId,
    pub pipeline_id: PipelineId,
    pub project_id: ProjectId,
    pub name: String,
    pub stage: String,
    /// Position of the stage in the pipeline, from 0.
    pub stage_index: i32,
    pub status: JobStatus,
    pub when: When,
    pub allow_failure: bool,
    /// The compiled job as JSON text; opaque to the store.
    pub spec: String,
    /// Sorted, without duplicates.
    pub tags: Vec<String>,
    /// The pipeline's ref is protected: only `ref_protected`-capable runners may take it.
    pub protected: bool,
    /// The runner that took it; kept after the job ends, `None` once that runner is deleted.
    pub runner_id: Option<RunnerId>,
    /// Hex SHA-256 of the job token; set only while the job is running.
    pub token_digest: Option<String>,
    /// 1 for the first run; a retry is a new job with `attempt + 1`.
    pub attempt: i32,
    /// The job this one retries.
    pub retried_from: Option<JobId>,
    /// A newer attempt exists; GitLab hides such jobs.
    pub retried: bool,
    pub failure_reason: Option<FailureReason>,
    pub exit_code: Option<i32>,
    pub timeout_secs: i64,
    /// When a delayed job becomes due.
    pub scheduled_at: Option<DateTime<Utc>>,
    /// Last time it became pending.
    pub queued_at: Option<DateTime<Utc>>,
    /// Last time it started running.
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// While running: the runner must report before this instant or the job is considered lost.
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// Bytes of trace stored.
    pub trace_size: i64,
    /// The trace was moved out of the store (see [`crate::TraceStore::archive_trace`]).
    pub trace_archived: bool,
}

/// A job just claimed ([`crate::JobStore::assign_job`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    /// The job as the claim left it.
    pub job: Job,
    /// Of the job contexts, as of the claim.
    pub context_generation: super::ContextGeneration,
}

/// One claim of [`crate::JobStore::assign_jobs`]: job `job_id` for runner `runner_id`, with the
/// digest of the job token it gets and the end of its first lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobClaim {
    pub job_id: JobId,
    pub runner_id: RunnerId,
    pub token_digest: String,
    pub lease_expires_at: DateTime<Utc>,
}

/// A runner's final report of a job ([`crate::JobStore::finish_jobs_with_tokens`]), with the
/// digest of the job token it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenReport {
    pub job_id: JobId,
    pub token_digest: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    pub name: String,
    pub stage: String,
    pub stage_index: i32,
    /// The initial status, usually `created`, `pending`, `manual` or `scheduled`.
    pub status: JobStatus,
    pub when: When,
    pub allow_failure: bool,
    pub spec: String,
    /// Stored sorted and deduplicated; non-empty, no comma (`Invalid` otherwise).
    pub tags: Vec<String>,
    pub protected: bool,
    pub timeout_secs: i64,
    pub scheduled_at: Option<DateTime<Utc>>,
}

/// What a status change writes besides the status. `None` keeps the stored value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobChange {
    pub runner_id: Option<RunnerId>,
    pub token_digest: Option<String>,
    pub failure_reason: Option<FailureReason>,
    pub exit_code: Option<i32>,
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// Remove the job token even though the job keeps running.
    pub clear_token: bool,
    /// When a `scheduled` (delayed) job becomes due.
    pub scheduled_at: Option<DateTime<Utc>>,
}

/// The outcome of [`crate::TraceStore::append_trace`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceAppend {
    /// The bytes were stored; `size` is the new total.
    Appended { size: i64 },
    /// The offset was not the current size; nothing was stored. `size` is the current size.
    Mismatch { size: i64 },
    /// The trace is archived and takes no more bytes; nothing was stored. `size` is its size.
    Archived { size: i64 },
}

/// Who a variable belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VariableOwner {
    Project(ProjectId),
    /// A group (namespace id).
    Group(NamespaceId),
}

/// A CI/CD variable. Out of the store, `value` is the sealed text (ADR 0009); the application
/// hands out variables with the value opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiVariable {
    pub id: i64,
    pub owner: VariableOwner,
    pub key: String,
    pub value: String,
    /// `env_var` or `file`.
    pub variable_type: String,
    pub protected: bool,
    pub masked: bool,
    /// Not expanded (`$VAR` is kept literally).
    pub raw: bool,
    /// `*` for every environment.
    pub environment_scope: String,
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewVariable {
    pub owner: VariableOwner,
    pub key: String,
    pub value: String,
    /// `env_var` or `file` (`Invalid` otherwise).
    pub variable_type: String,
    pub protected: bool,
    pub masked: bool,
    pub raw: bool,
    pub environment_scope: String,
    pub description: Option<String>,
}

/// The fields that are `Some` are changed. `description: Some(None)` removes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VariableUpdate {
    pub value: Option<String>,
    pub variable_type: Option<String>,
    pub protected: Option<bool>,
    pub masked: Option<bool>,
    pub raw: Option<bool>,
    pub environment_scope: Option<String>,
    pub description: Option<Option<String>>,
}
