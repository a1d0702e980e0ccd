//! Retries: whether a failed job is retried automatically (`retry:`), and what retrying a job
//! by hand (or automatically) does to the pipeline.

use std::collections::BTreeSet;

use super::{FailureReason, JobNode, JobStatus, ProgressError};

/// One entry of `retry:when`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryWhen {
    /// `always`: any failure reason.
    Always,
    Reason(FailureReason),
}

/// A job's `retry:` keyword. `retry: 2` is `RetryPolicy { max: 2, ..Default::default() }`;
/// no keyword is the default (`max: 0`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetryPolicy {
    /// `retry:max` (GitLab allows 0..=2).
    pub max: u8,
    /// `retry:when`; `None` when absent, which means `[always]` unless `exit_codes` is given.
    pub when: Option<Vec<RetryWhen>>,
    /// `retry:exit_codes`; `None` when absent.
    pub exit_codes: Option<Vec<i32>>,
}

/// Whether a job that just failed is retried automatically (`Gitlab::Ci::Build::AutoRetry`).
///
/// `attempts_so_far` counts the earlier retries of this job (0 at its first failure). The
/// policy applies when the reason is listed in `when` (or `when` has `always`) **or** the exit
/// code is listed in `exit_codes` — GitLab ORs the two. Then it retries while
/// `attempts_so_far < max`. Some reasons are never retried whatever the policy
/// (`RETRY_OVERRIDES`: quota exceeded, no matching runner, missing dependency, forward
/// deployment, environment creation). A `scheduler_failure` is retried twice when no policy
/// applies (`DEFAULT_RETRIES`); we read `max: 0` as "no `retry:` keyword" for that rule.
#[must_use]
pub fn retry_decision(
    policy: &RetryPolicy,
    attempts_so_far: u32,
    reason: FailureReason,
    exit_code: Option<i32>,
) -> bool {
    use FailureReason as F;
    let never = matches!(
        reason,
        F::CiQuotaExceeded
            | F::NoMatchingRunner
            | F::MissingDependencyFailure
            | F::ForwardDeploymentFailure
            | F::EnvironmentCreationFailure
    );
    if never {
        return false;
    }
    let default_when = [RetryWhen::Always];
    let when: &[RetryWhen] = match (&policy.when, &policy.exit_codes) {
        (Some(w), _) => w,
        (None, None) => &default_when,
        (None, Some(_)) => &[],
    };
    let on_reason = when.iter().any(|w| *w == RetryWhen::Always || *w == RetryWhen::Reason(reason));
    let on_exit_code = matches!((&policy.exit_codes, exit_code), (Some(codes), Some(c)) if codes.contains(&c));
    let max = if (on_reason || on_exit_code) && policy.max > 0 {
        u32::from(policy.max)
    } else if reason == F::SchedulerFailure && policy.max == 0 {
        2
    } else {
        0
    };
    attempts_so_far < max
}

/// What retrying job `job` does (`Ci::RetryJobService` + `Ci::ResetSkippedJobsService`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPlan {
    /// The job being retried; the caller marks its record `retried` (kept for history).
    pub job: usize,
    /// The new try, which takes the old one's place at index `job`: `created`, no exit code,
    /// and `enqueue_immediately` for a manual or delayed job (retrying one counts as playing it).
    pub clone: JobNode,
    /// Skipped jobs to put back to `created` so they are decided again: those of later stages
    /// and those that need the job, directly or through other needs.
    pub reset: Vec<usize>,
}

impl RetryPlan {
    /// Applies the plan to the pipeline's jobs; call [`super::advance`] next.
    pub fn apply(&self, jobs: &mut [JobNode]) {
        if let Some(slot) = jobs.get_mut(self.job) {
            *slot = self.clone.clone();
        }
        for &i in &self.reset {
            if let Some(j) = jobs.get_mut(i) {
                j.status = JobStatus::Created;
            }
        }
    }
}

/// Retrying one job, by hand or after [`retry_decision`]. Only a finished job that ran or was
/// meant to (`success`, `failed`, `canceled`: GitLab's `retryable?`) can be retried.
pub fn retry_job(jobs: &[JobNode], job: usize) -> Result<RetryPlan, ProgressError> {
    let old = jobs.get(job).ok_or(ProgressError::UnknownJob(job))?;
    if !old.status.is_retryable() {
        return Err(ProgressError::InvalidState { job, status: old.status, action: "retried" });
    }
    let mut clone = old.clone();
    clone.status = JobStatus::Created;
    clone.exit_code = None;
    clone.scheduled_at = None;
    clone.enqueue_immediately = matches!(old.when, super::When::Manual | super::When::Delayed { .. });
    // Jobs that need `job`, transitively (GitLab's ProcessableObjectHierarchy descendants).
    let mut dependents = BTreeSet::from([job]);
    loop {
        let before = dependents.len();
        for (i, j) in jobs.iter().enumerate() {
            if j.needs.as_ref().is_some_and(|n| n.iter().any(|n| dependents.contains(&n.job))) {
                dependents.insert(i);
            }
        }
        if dependents.len() == before {
            break;
        }
    }
    let reset = (0..jobs.len())
        .filter(|&i| i != job && jobs[i].status == JobStatus::Skipped)
        .filter(|&i| jobs[i].stage_index > old.stage_index || dependents.contains(&i))
        .collect();
    Ok(RetryPlan { job, clone, reset })
}
