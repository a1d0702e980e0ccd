//! Git for AutoGit: bare repositories on disk at hashed paths ([`storage`]), the smart-HTTP pack
//! services ([`service`], [`push`]) with their pkt-line framing ([`pktline`]), and read-only
//! browsing for the REST API ([`read`]).
//!
//! Everything shells out to the `git` CLI (2.36 or newer): gitoxide can't serve packs, and git
//! itself is the reference implementation of the protocol. Children get a scrubbed environment,
//! are killed when their handle is dropped, and never receive user input as an option; all
//! output read into memory is bounded. Only [`pktline`] is pure; the rest does process and file
//! I/O on tokio.

mod catfile;
mod cmd;
mod error;
pub mod hooks;
pub mod objects;
pub mod orphans;
pub mod pktline;
pub mod push;
pub mod read;
mod reflog;
pub mod service;
pub mod storage;
pub mod write;

pub use cmd::processes_started;
pub use error::{Error, Result};
pub use pktline::{PktError, RefUpdate};
pub use push::{PushIdentity, PushOutcome, applied_by, read_receive_request};
pub use service::{
    ExitInfo, RpcChild, RpcProcess, Service, advertise, pump, spawn_receive_pack, spawn_rpc, spawn_rpc_with,
};
pub use storage::RepoStorage;
