//! The words of CI state: job and pipeline statuses, a job's stored `when`, and why a job
//! failed. Each is spelled as GitLab spells it — in the API's JSON, in the runner protocol and in
//! the database — and [`as_str`](JobStatus::as_str) / [`FromStr`] are the only conversions.
//!
//! Parsing is strict: an unknown spelling is a [`ParseError`] that names the value and the
//! allowed ones, never a default, so a bad stored or submitted value is noticed where it enters.

use std::fmt;
use std::str::FromStr;

/// A spelling that is not one of a CI word's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} '{value}' (expected one of: {})", .allowed.join(", "))]
pub struct ParseError {
    /// What was parsed, e.g. `job status`.
    pub what: &'static str,
    pub value: String,
    /// Every accepted spelling.
    pub allowed: &'static [&'static str],
}

/// An enum whose values are GitLab's snake_case spellings: `ALL`, `NAMES`, `as_str`, `Display`,
/// `FromStr` and serde, all from the one table, so the spellings cannot drift apart.
macro_rules! gitlab_words {
    ($(#[$m:meta])* $name:ident ($what:literal) { $($(#[$vm:meta])* $var:ident = $s:literal,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vm])* $var,)* }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &[$name] = &[$($name::$var,)*];
            /// Every spelling, in the order of [`Self::ALL`].
            pub const NAMES: &[&str] = &[$($s,)*];

            /// GitLab's spelling (the API, protocol and database value).
            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self { $($name::$var => $s,)* }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = ParseError;

            fn from_str(s: &str) -> Result<$name, ParseError> {
                match s {
                    $($s => Ok($name::$var),)*
                    _ => Err(ParseError { what: $what, value: s.to_string(), allowed: $name::NAMES }),
                }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<$name, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use gitlab_words;

/// `JobStatus` and `PipelineStatus` from one list: GitLab spells a pipeline's status as one of
/// its jobs', so the two enums and the conversion between them cannot drift apart.
macro_rules! statuses {
    ($($var:ident = $s:literal,)*) => {
        gitlab_words! {
            /// A job's status: GitLab's set (`Ci::HasStatus`), without the bridge-only
            /// `waiting_for_callback` and the graceful-cancel `canceling`.
            JobStatus ("job status") { $($var = $s,)* }
        }

        gitlab_words! {
            /// A pipeline's status: GitLab's composite over its latest jobs.
            PipelineStatus ("pipeline status") { $($var = $s,)* }
        }

        impl From<JobStatus> for PipelineStatus {
            /// A pipeline's status named after one of its jobs' (GitLab's composite status).
            fn from(s: JobStatus) -> PipelineStatus {
                match s { $(JobStatus::$var => PipelineStatus::$var,)* }
            }
        }
    };
}

statuses! {
    Created = "created",
    WaitingForResource = "waiting_for_resource",
    Preparing = "preparing",
    Pending = "pending",
    Running = "running",
    Success = "success",
    Failed = "failed",
    Canceled = "canceled",
    Skipped = "skipped",
    Manual = "manual",
    Scheduled = "scheduled",
}

gitlab_words! {
    /// A job's `when:` as stored with the job (after `rules`); `never` jobs are not created.
    When ("when") {
        OnSuccess = "on_success",
        OnFailure = "on_failure",
        Always = "always",
        Manual = "manual",
        Delayed = "delayed",
    }
}

gitlab_words! {
    /// Why a job failed: GitLab's `failure_reason` values for a build (`Enums::Ci::CommitStatus`),
    /// plus the names only runners report (image pull, runner configuration…), so whatever a
    /// runner said is kept as it said it.
    FailureReason ("failure reason") {
        UnknownFailure = "unknown_failure",
        ScriptFailure = "script_failure",
        ApiFailure = "api_failure",
        StuckOrTimeoutFailure = "stuck_or_timeout_failure",
        RunnerSystemFailure = "runner_system_failure",
        MissingDependencyFailure = "missing_dependency_failure",
        RunnerUnsupported = "runner_unsupported",
        StaleSchedule = "stale_schedule",
        JobExecutionTimeout = "job_execution_timeout",
        ArchivedFailure = "archived_failure",
        UnmetPrerequisites = "unmet_prerequisites",
        SchedulerFailure = "scheduler_failure",
        DataIntegrityFailure = "data_integrity_failure",
        ForwardDeploymentFailure = "forward_deployment_failure",
        UserBlocked = "user_blocked",
        ProjectDeleted = "project_deleted",
        CiQuotaExceeded = "ci_quota_exceeded",
        PipelineLoopDetected = "pipeline_loop_detected",
        NoMatchingRunner = "no_matching_runner",
        TraceSizeExceeded = "trace_size_exceeded",
        BuildsDisabled = "builds_disabled",
        EnvironmentCreationFailure = "environment_creation_failure",
        DeploymentRejected = "deployment_rejected",
        FailedOutdatedDeploymentJob = "failed_outdated_deployment_job",
        JobExecutionServerTimeout = "job_execution_server_timeout",
        ImagePullFailure = "image_pull_failure",
        RunnerConfigurationError = "runner_configuration_error",
        RunnerExternalDependencyFailure = "runner_external_dependency_failure",
        RunnerInterrupted = "runner_interrupted",
    }
}

impl JobStatus {
    /// GitLab's `COMPLETED_STATUSES`: the job will not change again unless retried. Reaching one
    /// sets the job's `finished_at`.
    #[must_use]
    pub fn is_finished(self) -> bool {
        matches!(self, JobStatus::Success | JobStatus::Failed | JobStatus::Canceled | JobStatus::Skipped)
    }

    /// Before the job runs (`created`, `pending`, `manual`, `scheduled`): a job moved back to one
    /// is no longer any runner's and can be claimed again.
    #[must_use]
    pub fn is_unstarted(self) -> bool {
        matches!(self, JobStatus::Created | JobStatus::Pending | JobStatus::Manual | JobStatus::Scheduled)
    }

    /// GitLab's `retryable?`: a finished job that ran or was meant to.
    #[must_use]
    pub fn is_retryable(self) -> bool {
        matches!(self, JobStatus::Success | JobStatus::Failed | JobStatus::Canceled)
    }
}

impl PipelineStatus {
    /// Nothing runs any more; reaching one sets the pipeline's `finished_at`.
    #[must_use]
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            PipelineStatus::Success | PipelineStatus::Failed | PipelineStatus::Canceled | PipelineStatus::Skipped
        )
    }
}

#[cfg(test)]
#[path = "ci_tests.rs"]
mod tests;
