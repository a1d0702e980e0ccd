//! External commit statuses (`POST /projects/:id/statuses/:sha`): how a reported state changes
//! the status a tool keeps for one commit, ref and name, as GitLab decides it
//! (`Ci::CreateCommitStatusService` over `CommitStatus`'s state machine).
//!
//! A status that is still pending or running is changed in place; once it finished, a new report
//! starts a new status (and the old one is kept as history, "retried"). Reports that the state
//! machine cannot apply to the live status are refused with GitLab's words, so a tool that
//! reports `running` twice learns it instead of silently resetting the start time.

use crate::ci::JobStatus;

/// The states a tool may report.
pub const REPORTABLE: [JobStatus; 6] = [
    JobStatus::Pending,
    JobStatus::Running,
    JobStatus::Success,
    JobStatus::Failed,
    JobStatus::Canceled,
    JobStatus::Skipped,
];

/// What a report does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// A new status in this state (there is no live one).
    Start(JobStatus),
    /// The live status moves to this state.
    Move(JobStatus),
}

/// Why a report is refused: GitLab's transition error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Cannot transition status via :{event} from :{from} (Reason(s): Status cannot transition via \"{event}\")")]
pub struct TransitionError {
    pub event: &'static str,
    pub from: JobStatus,
}

/// Whether a status in this state is live (changed in place by the next report).
pub fn is_live(status: JobStatus) -> bool {
    matches!(status, JobStatus::Pending | JobStatus::Running)
}

/// The effect of reporting `to` when the newest status of the same commit, ref and name is
/// `live` (`None`: none, or it finished). `to` must be one of [`REPORTABLE`].
pub fn report(live: Option<JobStatus>, to: JobStatus) -> Result<Report, TransitionError> {
    let Some(from) = live.filter(|s| is_live(*s)) else { return Ok(Report::Start(to)) };
    let refuse = |event| Err(TransitionError { event, from });
    match (from, to) {
        (_, JobStatus::Pending) => refuse("enqueue"),
        (JobStatus::Running, JobStatus::Running) => refuse("run"),
        (JobStatus::Running, JobStatus::Skipped) => refuse("skip"),
        _ => Ok(Report::Move(to)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use JobStatus::*;

    #[test]
    fn reports_move_a_live_status_and_start_after_a_finished_one() {
        for to in REPORTABLE {
            assert_eq!(report(None, to), Ok(Report::Start(to)), "nothing live: {to}");
            for done in [Success, Failed, Canceled, Skipped] {
                assert_eq!(report(Some(done), to), Ok(Report::Start(to)), "after {done}: {to}");
            }
        }
        let cases = [
            (Pending, Pending, Err("enqueue")),
            (Pending, Running, Ok(())),
            (Pending, Success, Ok(())),
            (Pending, Failed, Ok(())),
            (Pending, Canceled, Ok(())),
            (Pending, Skipped, Ok(())),
            (Running, Pending, Err("enqueue")),
            (Running, Running, Err("run")),
            (Running, Success, Ok(())),
            (Running, Failed, Ok(())),
            (Running, Canceled, Ok(())),
            (Running, Skipped, Err("skip")),
        ];
        for (from, to, want) in cases {
            let got = report(Some(from), to);
            match want {
                Ok(()) => assert_eq!(got, Ok(Report::Move(to)), "{from} → {to}"),
                Err(event) => assert_eq!(got, Err(TransitionError { event, from }), "{from} → {to}"),
            }
        }
    }

    #[test]
    fn the_refusal_reads_as_gitlabs() {
        let e = report(Some(Running), Running).expect_err("refused");
        assert_eq!(
            e.to_string(),
            "Cannot transition status via :run from :running (Reason(s): Status cannot transition via \"run\")"
        );
    }
}
