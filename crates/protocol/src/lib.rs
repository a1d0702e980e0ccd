//! The runner ⇄ coordinator wire contract: the GitLab runner job API as `gitlab-runner` speaks it
//! (research: shared/research/gitlab-runner.md §1). Both sides use these types — the coordinator
//! (inbound HTTP) and `autogit runner` — so that AutoGit's own runner and the official
//! `gitlab-runner` see the same server.
//!
//! Architecture invariant: serde only; no I/O. Unknown JSON fields are tolerated everywhere
//! (runners add features often), and optional fields default, so that older and newer runners both
//! parse. Field names are GitLab's, exactly.

mod job;
mod runner;
pub mod shell;
mod trace;
mod update;

pub use job::*;
pub use runner::*;
pub use trace::*;
pub use update::*;

/// Header carrying the runner token on runner-level calls.
pub const RUNNER_TOKEN_HEADER: &str = "RUNNER-TOKEN";
/// Header carrying the job token on job-level calls.
pub const JOB_TOKEN_HEADER: &str = "JOB-TOKEN";
/// Opaque queue version returned on `204` from `jobs/request`, sent back as `last_update`.
pub const LAST_UPDATE_HEADER: &str = "X-GitLab-Last-Update";
/// The job's status on every job-level response (`running`, `canceling`, `canceled`, …).
pub const JOB_STATUS_HEADER: &str = "Job-Status";
/// Seconds the runner should wait between trace updates.
pub const TRACE_UPDATE_INTERVAL_HEADER: &str = "X-GitLab-Trace-Update-Interval";
/// Prefix of runner authentication tokens.
pub const RUNNER_TOKEN_PREFIX: &str = "glrt-";
/// Prefix of job tokens.
pub const JOB_TOKEN_PREFIX: &str = "glcbt-";
