//! Running-job leases: which runner owns a running job, until when, and fencing.
//!
//! A runner that took a job holds a lease on it. Every update it sends (`PUT /jobs/:id`, trace
//! `PATCH`) is a [`Leases::touch`]; a lease lapses when the runner goes quiet for
//! `lease_timeout_ms` (GitLab drops such jobs as `stuck_or_timeout_failure`:
//! `Ci::StuckBuilds::DropRunningService`) or when the job outlives its timeout plus a grace
//! (server-side `job_execution_timeout`; the runner normally enforces the timeout itself and
//! reports it, the grace leaves room for that report). A lapsed lease is *fenced*: the runner
//! that comes back late is told [`LeaseError::Expired`] and must stop (the I/O layer answers
//! it as GitLab does for a job that is no longer running), so a job is never worked on by a
//! runner the coordinator has given up on.

#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap};

use autogit_core::{JobId, RunnerId};

use crate::Millis;
use crate::progress::FailureReason;

/// How long a running job may go without any update from its runner. GitLab waits 30 minutes
/// (`BUILD_RUNNING_OUTDATED_TIMEOUT`; 1 hour before 17.x). A healthy runner sends its trace
/// every 3 s and touches the job at least every 30 s when there is no output (research §6.1),
/// so half an hour never lapses for a live runner, even when the server slows its updates.
pub const DEFAULT_LEASE_TIMEOUT_MS: i64 = 30 * 60 * 1000;

/// Extra time after the job's own timeout before the server gives up on it: the runner's
/// `after_script` may run up to 5 minutes past the script (`AfterScriptTimeout`) and then
/// uploads artifacts and the final state.
pub const DEFAULT_TIMEOUT_GRACE_MS: i64 = 10 * 60 * 1000;

/// The lease timings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseConfig {
    pub lease_timeout_ms: i64,
    pub timeout_grace_ms: i64,
}

impl Default for LeaseConfig {
    fn default() -> LeaseConfig {
        LeaseConfig { lease_timeout_ms: DEFAULT_LEASE_TIMEOUT_MS, timeout_grace_ms: DEFAULT_TIMEOUT_GRACE_MS }
    }
}

/// One runner's hold on one running job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    pub runner: RunnerId,
    pub granted_at: Millis,
    pub last_update: Millis,
    /// `granted_at + job timeout + grace`; `None` for a job without a timeout.
    pub deadline: Option<Millis>,
}

/// A lease that lapsed: fail the job with `reason` (then [`crate::progress::retry_decision`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expired {
    pub job: JobId,
    pub runner: RunnerId,
    /// `StuckOrTimeoutFailure` (no update within the lease timeout) or `JobExecutionTimeout`.
    pub reason: FailureReason,
}

/// Why a runner may not act on a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LeaseError {
    #[error("job {0} is not leased")]
    NotLeased(JobId),
    #[error("job {job} is leased to runner {owner}")]
    NotOwner { job: JobId, owner: RunnerId },
    #[error("the lease on job {job} expired ({reason})")]
    Expired { job: JobId, reason: FailureReason },
}

/// All leases. Nothing here reads a clock: every call takes `now`.
#[derive(Debug, Default)]
pub struct Leases {
    config: LeaseConfig,
    active: HashMap<JobId, Lease>,
    /// (lapses after, job): the next leases to lapse first.
    due: BTreeSet<(Millis, JobId)>,
    /// Jobs whose lease lapsed: their last owner and the reason, until [`Leases::forget`].
    fenced: HashMap<JobId, (RunnerId, FailureReason)>,
    /// Lapses found by `touch`, reported by the next `expire`.
    unreported: Vec<Expired>,
}

impl Leases {
    #[must_use]
    pub fn new(config: LeaseConfig) -> Leases {
        Leases { config, ..Leases::default() }
    }

    /// The instant after which the lease lapses, and why it would.
    fn lapse(&self, lease: &Lease) -> (Millis, FailureReason) {
        let quiet = lease.last_update.plus(self.config.lease_timeout_ms);
        match lease.deadline {
            Some(d) if d <= quiet => (d, FailureReason::JobExecutionTimeout),
            _ => (quiet, FailureReason::StuckOrTimeoutFailure),
        }
    }

    /// `runner` took `job` at `now`; `job_timeout_ms` is the effective job timeout (GitLab's
    /// `runner_info.timeout`). Granting again to the same runner is a touch (runners resend
    /// `state=running`). A job leased to another runner, or fenced, is refused.
    pub fn grant(
        &mut self,
        job: JobId,
        runner: RunnerId,
        now: Millis,
        job_timeout_ms: Option<i64>,
    ) -> Result<(), LeaseError> {
        if self.active.contains_key(&job) || self.fenced.contains_key(&job) {
            return self.touch(job, runner, now);
        }
        let deadline = job_timeout_ms.map(|t| now.plus(t).plus(self.config.timeout_grace_ms));
        let lease = Lease { runner, granted_at: now, last_update: now, deadline };
        self.due.insert((self.lapse(&lease).0, job));
        self.active.insert(job, lease);
        Ok(())
    }

    /// `runner` reported on `job` at `now`. Refused when another runner owns it, when the lease
    /// lapsed (fencing: from then on every report from it is refused), or when there is none.
    pub fn touch(&mut self, job: JobId, runner: RunnerId, now: Millis) -> Result<(), LeaseError> {
        if let Some(&(owner, reason)) = self.fenced.get(&job) {
            return Err(if owner == runner {
                LeaseError::Expired { job, reason }
            } else {
                LeaseError::NotOwner { job, owner }
            });
        }
        let lease = *self.active.get(&job).ok_or(LeaseError::NotLeased(job))?;
        if lease.runner != runner {
            return Err(LeaseError::NotOwner { job, owner: lease.runner });
        }
        let (lapses, reason) = self.lapse(&lease);
        self.due.remove(&(lapses, job));
        if now > lapses {
            // Lapsed but not yet collected: fence now, report with the next `expire`.
            self.active.remove(&job);
            self.fenced.insert(job, (runner, reason));
            self.unreported.push(Expired { job, runner, reason });
            return Err(LeaseError::Expired { job, reason });
        }
        let touched = Lease { last_update: now.max(lease.last_update), ..lease };
        self.due.insert((self.lapse(&touched).0, job));
        self.active.insert(job, touched);
        Ok(())
    }

    /// Every lease that lapsed by `now` (strictly past its instant), fenced and removed.
    pub fn expire(&mut self, now: Millis) -> Vec<Expired> {
        let mut out = std::mem::take(&mut self.unreported);
        while let Some(&(lapses, job)) = self.due.first() {
            if lapses >= now {
                break;
            }
            self.due.remove(&(lapses, job));
            if let Some(lease) = self.active.remove(&job) {
                let reason = self.lapse(&lease).1;
                self.fenced.insert(job, (lease.runner, reason));
                out.push(Expired { job, runner: lease.runner, reason });
            }
        }
        out
    }

    /// The job finished (or was canceled): its lease ends normally.
    pub fn release(&mut self, job: JobId) -> Option<Lease> {
        let lease = self.active.remove(&job)?;
        self.due.remove(&(self.lapse(&lease).0, job));
        Some(lease)
    }

    /// Drops the fence of a job whose record is final, so that memory does not grow; later
    /// reports about it are then `NotLeased`.
    pub fn forget(&mut self, job: JobId) -> bool {
        self.fenced.remove(&job).is_some()
    }

    #[must_use]
    pub fn get(&self, job: JobId) -> Option<&Lease> {
        self.active.get(&job)
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.active.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.active.is_empty()
    }

    /// When the next lease lapses: the time to call [`Leases::expire`] again.
    #[must_use]
    pub fn next_lapse(&self) -> Option<Millis> {
        self.due.first().map(|(at, _)| *at)
    }
}
