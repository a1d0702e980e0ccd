//! Domain words of AutoGit, shared by every other crate.
//!
//! Architecture invariant: this crate does no I/O. It does not read the clock, the disk, the network
//! or a random source; time is passed in by callers. Everything here is plain data and decisions.

pub mod access;
pub mod audit;
pub mod ci;
pub mod commit_status;
pub mod conn_caps;
pub mod id;
pub mod lockout;
pub mod log_throttle;
pub mod name;
pub mod protection;
pub mod repo_path;
pub mod role;
pub mod runner_status;
pub mod scope;
pub mod ssh_command;
pub mod visibility;
pub mod webhook;

pub use access::{Action, Actor, Decision};
pub use id::{IdError, JobId, NamespaceId, PipelineId, ProjectId, RunnerId, UserId};
pub use name::NameError;
pub use role::AccessLevel;
pub use scope::Scope;
pub use visibility::Visibility;
