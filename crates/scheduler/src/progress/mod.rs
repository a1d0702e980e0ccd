//! Pipeline progression with GitLab's semantics (`Ci::PipelineProcessing::AtomicProcessingService`,
//! `Ci::ProcessBuildService`, `Gitlab::Ci::Status::Composite`).
//!
//! The caller passes every job of a pipeline — the *latest* try of each (GitLab excludes retried
//! jobs from processing) — as [`JobNode`]s indexed `0..n`, and applies the returned
//! [`Transition`]s. Nothing here mutates the caller's jobs.
//!
//! Decisions where GitLab is ambiguous or where we deliberately differ are documented on the
//! function that makes them: [`advance`] (skipped needs, dangling needs, `never`), [`cancel`]
//! (manual jobs are canceled too), [`pipeline_status`] (precedence), [`retry_job`].

mod advance;
mod composite;
mod retry;
mod tracker;

#[cfg(test)]
mod tests_advance;
#[cfg(test)]
mod tests_retry;
#[cfg(test)]
mod tests_status;

pub use advance::{advance, cancel, next_wakeup, play, unschedule};
pub use autogit_core::ci::{FailureReason, JobStatus, PipelineStatus};
pub use composite::{has_warnings, pipeline_status};
pub use retry::{RetryPlan, RetryPolicy, RetryWhen, retry_decision, retry_job};
pub use tracker::Tracker;

use crate::Millis;

/// `when:` of a job, after `rules` were evaluated (the compiler's job, not ours). Richer than the
/// stored [`autogit_core::ci::When`]: a delayed job carries its delay, and `never` is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Run when every prerequisite succeeded (allowed failures and skipped stage jobs count).
    OnSuccess,
    /// Run only when some prerequisite failed.
    OnFailure,
    /// Run once the prerequisites finished, whatever their outcome (except canceled).
    Always,
    /// Wait for a person to play it.
    Manual,
    /// Like `on_success`, then wait `start_in_ms` before becoming pending.
    Delayed { start_in_ms: i64 },
    /// Never runs; GitLab does not even create such jobs. Treated as a job that is skipped.
    Never,
}

/// One entry of `needs:`: the index of the needed job in the same slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeedRef {
    pub job: usize,
}

/// One job of a pipeline as progression sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobNode {
    /// Its index in the slice passed to [`advance`]; needs refer to it.
    pub id: usize,
    pub name: String,
    /// Position of its stage in `stages:` (only the order matters).
    pub stage_index: usize,
    pub when: When,
    pub allow_failure: bool,
    /// `allow_failure: {exit_codes: [...]}`: a failure with one of these codes is allowed.
    pub allow_failure_exit_codes: Vec<i32>,
    /// `None`: wait for every job of earlier stages. `Some(vec![])`: start at once (`needs: []`).
    pub needs: Option<Vec<NeedRef>>,
    pub status: JobStatus,
    /// Exit code the runner reported with a failure, if any.
    pub exit_code: Option<i32>,
    /// When a `scheduled` job becomes due (set from [`Transition::scheduled_at`]).
    pub scheduled_at: Option<Millis>,
    /// Set on a retried manual or delayed job: the retry counts as playing it, so it goes
    /// straight to `pending` (GitLab's `enqueue_immediately`).
    pub enqueue_immediately: bool,
}

impl JobNode {
    /// A `created`, `on_success` job without needs: the common case, to adjust field by field.
    #[must_use]
    pub fn new(id: usize, name: impl Into<String>, stage_index: usize) -> JobNode {
        JobNode {
            id,
            name: name.into(),
            stage_index,
            when: When::OnSuccess,
            allow_failure: false,
            allow_failure_exit_codes: Vec::new(),
            needs: None,
            status: JobStatus::Created,
            exit_code: None,
            scheduled_at: None,
            enqueue_immediately: false,
        }
    }

    /// Whether a failure of this job is allowed: `allow_failure: true`, or a failure whose exit
    /// code is listed in `allow_failure: exit_codes` (GitLab flips `allow_failure` on drop).
    #[must_use]
    pub fn failure_allowed(&self) -> bool {
        self.failure_allowed_as(self.status)
    }

    pub(crate) fn failure_allowed_as(&self, status: JobStatus) -> bool {
        self.allow_failure
            || (status == JobStatus::Failed
                && self.exit_code.is_some_and(|c| self.allow_failure_exit_codes.contains(&c)))
    }
}

/// A decision: job `job` moves to `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub job: usize,
    pub to: JobStatus,
    /// For `to == Scheduled`: when it becomes due (`now + start_in`). `None` otherwise.
    pub scheduled_at: Option<Millis>,
}

impl Transition {
    pub(crate) fn to(job: usize, to: JobStatus) -> Transition {
        Transition { job, to, scheduled_at: None }
    }
}

/// A request about one job that its state does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProgressError {
    #[error("job {0} is not part of this pipeline")]
    UnknownJob(usize),
    #[error("job {job} is {status} and cannot be {action}")]
    InvalidState { job: usize, status: JobStatus, action: &'static str },
}
