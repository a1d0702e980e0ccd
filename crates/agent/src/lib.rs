//! The runner agent: what `autogit runner` runs on a build machine.
//!
//! Architecture invariant: this crate speaks only the runner API types of `autogit-protocol`; it
//! never depends on the store, the application or the HTTP server (checked by `xtask`), so a
//! runner binary carries no server code and the official `gitlab-runner` and AutoGit's runner are
//! interchangeable against the coordinator.
//!
//! - [`trace`]: the job log as it is produced — masking of secrets (even across chunk
//!   boundaries), the output limit, and the checksum the coordinator verifies.
//! - [`script`]: turns a job's steps and variables into the shell script that runs them.
//! - [`shell`]: the shell executor — fetch the sources at the job's commit, run the steps in a
//!   process group with the job's timeout, honour cancellation.
//! - [`client`]: the runner job API client, with gitlab-runner's meaning of each status code.
//! - [`archive`]: choosing files by glob and zipping/unzipping them safely, for [`artifacts`]
//!   (dependencies downloaded before the script, uploads after it) and [`cache`] (local caches).
//! - [`sandbox`]: the shell executor's job sandbox (namespaces, another identity, cgroup limits,
//!   a network that reaches only the outside world and the server).
//! - [`worker`]: the poll → run → ship trace → report loop, `concurrent` jobs at a time;
//!   [`job`] is one job on one slot, [`shutdown`] how the loop stops (drain or abort, after
//!   gitlab-runner's SIGQUIT and SIGTERM/SIGINT).
//! - [`pending`] and [`report`]: final states kept on disk until the coordinator confirms them,
//!   delivered again while the runner runs and after a restart.

pub mod archive;
pub mod artifacts;
pub mod cache;
pub mod client;
pub mod config;
pub mod docker;
pub mod inventory;
pub mod job;
pub mod pending;
pub mod report;
pub mod sandbox;
pub mod script;
pub mod shell;
pub mod shutdown;
pub mod sources;
pub mod step;
pub mod trace;
pub mod worker;
