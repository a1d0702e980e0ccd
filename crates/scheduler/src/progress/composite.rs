//! GitLab's composite status (`Gitlab::Ci::Status::Composite`): one status for a set of jobs.
//!
//! It serves twice: over a job's prerequisites it says whether the job may be processed and
//! how (see `advance`), and over all jobs it is the pipeline's status.

use super::{JobNode, JobStatus, PipelineStatus};

/// Categories: every job status, plus GitLab's two derived ones.
const SUCCESS_WITH_WARNINGS: u16 = 1 << 11; // allowed failure: failed or canceled with allow_failure
const IGNORED: u16 = 1 << 12; // optional manual job: manual with allow_failure

fn bit(s: JobStatus) -> u16 {
    1 << (s as u16)
}

/// The set of categories present among some jobs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Composite {
    set: u16,
}

/// The category bit a job with `status` adds to a composite.
pub(crate) fn category(job: &JobNode, status: JobStatus) -> u16 {
    // `allow_failure` turns a failure (or cancel) into a warning, and an unplayed manual job
    // into one nobody waits for (PASSED_WITH_WARNINGS_STATUSES, IGNORED_STATUSES).
    let allowed = job.failure_allowed_as(status);
    match status {
        JobStatus::Failed | JobStatus::Canceled if allowed => SUCCESS_WITH_WARNINGS,
        JobStatus::Manual if allowed => IGNORED,
        s => bit(s),
    }
}

/// Number of category bits.
pub(crate) const CATEGORIES: usize = 13;

impl Composite {
    pub(crate) fn add(&mut self, job: &JobNode, status: JobStatus) {
        self.set |= category(job, status);
    }

    pub(crate) fn from_bits(set: u16) -> Composite {
        Composite { set }
    }

    pub(crate) fn has_warnings(self) -> bool {
        self.any(SUCCESS_WITH_WARNINGS)
    }

    pub(crate) fn merge(&mut self, other: Composite) {
        self.set |= other.set;
    }

    fn any(self, mask: u16) -> bool {
        self.set & mask != 0
    }

    /// Non-empty and nothing outside `mask`.
    fn only(self, mask: u16) -> bool {
        self.set != 0 && self.set & !mask == 0
    }

    /// The composite status; `None` for no jobs (callers read that as `success`: a first stage
    /// or `needs: []` has nothing to wait for). `dag` is set for a job with `needs`.
    pub(crate) fn status(self, dag: bool) -> Option<JobStatus> {
        use JobStatus::*;
        if self.set == 0 {
            return None;
        }
        let (sww, ign) = (SUCCESS_WITH_WARNINGS, IGNORED);
        let settled = bit(Success) | bit(Failed) | bit(Canceled) | bit(Skipped) | sww | ign;
        // GitLab: "the DAG job is skipped if one of the needs does not run at all" — at once,
        // even while other needs still run. We wait until no need is alive, so that a
        // `when: always` job never starts beside a running need; the outcome is the same.
        if dag && self.any(bit(Skipped) | ign) && self.only(settled) {
            return Some(Skipped);
        }
        // The remaining order is GitLab's, rule for rule; it is order dependent.
        Some(if self.only(bit(Skipped) | ign) {
            Skipped
        } else if self.only(bit(Success) | bit(Skipped) | sww | ign) {
            Success
        } else if self.only(bit(Created) | sww | ign) {
            Created
        } else if self.only(bit(Preparing) | sww | ign) {
            Preparing
        } else if self.only(bit(Canceled) | bit(Success) | bit(Skipped) | sww | ign) {
            Canceled
        } else if self.only(bit(Pending) | bit(Created) | bit(Skipped) | sww | ign) {
            Pending
        } else if self.any(bit(Running) | bit(Pending)) {
            Running
        } else if self.any(bit(WaitingForResource)) {
            WaitingForResource
        } else if self.any(bit(Manual)) {
            Manual
        } else if self.any(bit(Scheduled)) {
            Scheduled
        } else if self.any(bit(Preparing)) {
            Preparing
        } else if self.any(bit(Created)) {
            Running
        } else {
            Failed
        })
    }
}

/// The pipeline's status from its jobs, with GitLab's precedence (first rule that holds):
///
/// 1. only skipped / optional-manual → `skipped`;
/// 2. only success / skipped / allowed failures / optional-manual → `success`
///    (with warnings when an allowed failure is present, see [`has_warnings`]);
/// 3. only created (+ allowed failures, optional manual) → `created`; 4. likewise `preparing`;
/// 5. only canceled / success / skipped (+ …) → `canceled`;
/// 6. only pending / created / skipped (+ …) → `pending`;
/// 7. any running or pending → `running`; 8. any waiting_for_resource; 9. any blocking manual →
///    `manual`; 10. any scheduled → `scheduled`; 11. any preparing; 12. any created → `running`;
/// 13. otherwise (a failure that is not allowed, nothing alive) → `failed`.
///
/// So a failed job that is not allowed to fail makes the pipeline `failed` only once nothing
/// else runs or waits, and a pipeline that stopped at a blocking manual job is `manual`.
/// No jobs at all → `created` (GitLab creates no such pipeline).
#[must_use]
pub fn pipeline_status(jobs: &[JobNode]) -> PipelineStatus {
    let mut c = Composite::default();
    for j in jobs {
        c.add(j, j.status);
    }
    c.status(false).map_or(PipelineStatus::Created, PipelineStatus::from)
}

/// Whether some job failed (or was canceled) while allowed to: GitLab's "passed with warnings".
#[must_use]
pub fn has_warnings(jobs: &[JobNode]) -> bool {
    let mut c = Composite::default();
    for j in jobs {
        c.add(j, j.status);
    }
    c.any(SUCCESS_WITH_WARNINGS)
}
