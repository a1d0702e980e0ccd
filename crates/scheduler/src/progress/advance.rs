//! Moving jobs forward: `created` → `pending` / `manual` / `scheduled` / `skipped`, delayed jobs
//! that are due, and the single-job actions cancel, play and unschedule.

use std::collections::BTreeMap;

use super::composite::Composite;
use super::{JobNode, JobStatus, ProgressError, Transition, When};
use crate::Millis;

/// Which `created` jobs move on, and which `scheduled` jobs are due, at `now`.
///
/// `jobs[i]` is job `i` (its `id` must be `i`). A job's prerequisites are every job of an
/// earlier stage, or exactly its `needs` when it has any (`needs: []` = none). Their composite
/// status (see `pipeline_status` for the rules) decides, as `Ci::ProcessBuildService` does:
///
/// | `when` | runs when the prerequisites are | otherwise |
/// |---|---|---|
/// | `on_success`, `manual`, `delayed` | `success`, or `skipped` for a stage job (a DAG job needs `success`) | `skipped` |
/// | `on_failure` | `failed` | `skipped` |
/// | `always` | `success`, `failed` or `skipped` | `skipped` |
/// | `never` | — | `skipped` |
///
/// "Runs" means `pending`, or `manual` for `when: manual`, or `scheduled` at `now + start_in`
/// for `delayed` — except a job with `enqueue_immediately` (a retried manual/delayed job), which
/// goes to `pending`. Nothing is decided while the prerequisites are still alive, or blocked on
/// a non-optional manual job (`manual` prerequisites) or a scheduled job. So:
/// - an allowed failure counts as success, and an unplayed optional manual job
///   (`allow_failure: true`) does not block later stages;
/// - a canceled prerequisite (not allowed to fail) skips every `when`, `always` included;
/// - a DAG job with a skipped need, or an unplayed optional manual need, is skipped (GitLab);
///   unlike GitLab, which skips it at once, we decide only when none of its needs is alive;
/// - a need on an index outside `jobs` is ignored, like an `optional: true` need on a job that
///   is not in the pipeline; needs that form a cycle leave their jobs `created` forever.
///
/// Skips cascade within one call (a job decided here counts for the jobs after it), so every
/// `created` job that can be decided now is. A job gets at most one transition per call; a
/// job scheduled with `start_in` 0 becomes `pending` on the next call. Apply the result and call
/// again after any job status change and at [`next_wakeup`].
#[must_use]
pub fn advance(jobs: &[JobNode], now: Millis) -> Vec<Transition> {
    debug_assert!(jobs.iter().enumerate().all(|(i, j)| j.id == i), "JobNode::id must be its index");
    let mut status: Vec<JobStatus> = jobs.iter().map(|j| j.status).collect();
    let mut out = Vec::new();
    // Delayed jobs whose time has come (GitLab's `Ci::BuildScheduleWorker` at `scheduled_at`).
    for (i, j) in jobs.iter().enumerate() {
        if j.status == JobStatus::Scheduled && j.scheduled_at.is_none_or(|at| at <= now) {
            status[i] = JobStatus::Pending;
            out.push(Transition::to(i, JobStatus::Pending));
        }
    }
    let mut stages: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, j) in jobs.iter().enumerate() {
        stages.entry(j.stage_index).or_default().push(i);
    }
    // Stage by stage, as AtomicProcessingService does; repeat while something changed so that
    // needs on jobs of the same or a later stage resolve too. Every productive pass moves a job
    // out of `created` for good, so this ends after at most `jobs.len() + 1` passes.
    loop {
        let mut changed = false;
        let mut prior = Composite::default();
        for members in stages.values() {
            let prior_status = prior.status(false).unwrap_or(JobStatus::Success);
            for &i in members {
                if status[i] != JobStatus::Created {
                    continue;
                }
                let prerequisites = match &jobs[i].needs {
                    None => prior_status,
                    Some(needs) => {
                        let mut c = Composite::default();
                        for need in needs.iter().filter(|n| n.job < jobs.len()) {
                            c.add(&jobs[need.job], status[need.job]);
                        }
                        c.status(true).unwrap_or(JobStatus::Success)
                    }
                };
                if let Some(t) = decide(i, &jobs[i], prerequisites, now) {
                    status[i] = t.to;
                    out.push(t);
                    changed = true;
                }
            }
            let mut here = Composite::default();
            for &i in members {
                here.add(&jobs[i], status[i]);
            }
            prior.merge(here);
        }
        if !changed {
            return out;
        }
    }
}

/// `Ci::ProcessBuildService#execute` for job `i` whose prerequisites have `prerequisites` status.
pub(super) fn decide(i: usize, job: &JobNode, prerequisites: JobStatus, now: Millis) -> Option<Transition> {
    use JobStatus::{Failed, Skipped, Success};
    if !prerequisites.is_finished() {
        return None;
    }
    let dag = job.needs.is_some();
    let valid = match job.when {
        When::OnSuccess | When::Manual | When::Delayed { .. } => {
            prerequisites == Success || (!dag && prerequisites == Skipped)
        }
        When::OnFailure => prerequisites == Failed,
        When::Always => matches!(prerequisites, Success | Failed | Skipped),
        When::Never => false,
    };
    let to = if !valid {
        Skipped
    } else if job.enqueue_immediately {
        JobStatus::Pending
    } else {
        match job.when {
            When::Manual => JobStatus::Manual,
            When::Delayed { start_in_ms } => {
                return Some(Transition {
                    job: i,
                    to: JobStatus::Scheduled,
                    scheduled_at: Some(now.plus(start_in_ms.max(0))),
                });
            }
            _ => JobStatus::Pending,
        }
    };
    Some(Transition::to(i, to))
}

/// When the earliest `scheduled` job becomes due: the time to call [`advance`] again.
#[must_use]
pub fn next_wakeup(jobs: &[JobNode]) -> Option<Millis> {
    jobs.iter().filter(|j| j.status == JobStatus::Scheduled).filter_map(|j| j.scheduled_at).min()
}

/// Canceling the pipeline: every job that has not finished becomes `canceled`.
///
/// GitLab leaves `manual` jobs alone (they are not in `CANCELABLE_STATUSES`), so a canceled
/// pipeline with an unplayed blocking manual job would still read `manual`. We cancel them too,
/// so that a canceled pipeline is `canceled` (or `failed` when a job had already failed).
/// Running jobs are canceled here; telling their runners (`Job-Status: canceled`) is the I/O
/// layer's part.
#[must_use]
pub fn cancel(jobs: &[JobNode]) -> Vec<Transition> {
    jobs.iter()
        .enumerate()
        .filter(|(_, j)| !j.status.is_finished())
        .map(|(i, _)| Transition::to(i, JobStatus::Canceled))
        .collect()
}

fn find(jobs: &[JobNode], job: usize) -> Result<&JobNode, ProgressError> {
    jobs.get(job).ok_or(ProgressError::UnknownJob(job))
}

/// Playing a job: a `manual` job, or a `scheduled` one ("run now"), becomes `pending`.
pub fn play(jobs: &[JobNode], job: usize) -> Result<Transition, ProgressError> {
    let j = find(jobs, job)?;
    match j.status {
        JobStatus::Manual | JobStatus::Scheduled => Ok(Transition::to(job, JobStatus::Pending)),
        status => Err(ProgressError::InvalidState { job, status, action: "played" }),
    }
}

/// Unscheduling a delayed job: `scheduled` becomes `manual` (GitLab's `unschedule`), to be
/// played by hand later.
pub fn unschedule(jobs: &[JobNode], job: usize) -> Result<Transition, ProgressError> {
    let j = find(jobs, job)?;
    match j.status {
        JobStatus::Scheduled => Ok(Transition::to(job, JobStatus::Manual)),
        status => Err(ProgressError::InvalidState { job, status, action: "unscheduled" }),
    }
}
