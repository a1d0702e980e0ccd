//! The one error type of this crate. Callers (the app and HTTP layers) mostly map it to a 500,
//! except [`Error::TooLarge`], [`Error::InvalidRef`], [`Error::InvalidPath`] and [`Error::Pkt`],
//! which are the client's fault and deserve a 4xx.

use crate::pktline::PktError;
use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A git command exited unsuccessfully. `status` is `None` when it was killed by a signal.
    #[error("`{cmd}` failed (exit status {status:?}): {stderr}")]
    GitFailed { cmd: String, status: Option<i32>, stderr: String },
    /// An object or command output exceeded the in-memory limit.
    #[error("too large: {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge { size: u64, limit: u64 },
    #[error("invalid ref or revision: {0:?}")]
    InvalidRef(String),
    #[error("invalid repository path: {0:?}")]
    InvalidPath(String),
    #[error("repository already exists at {0}")]
    AlreadyExists(PathBuf),
    /// git produced output this crate could not understand (a bug or an unexpected git version).
    #[error("unexpected output from git: {0}")]
    Parse(String),
    #[error(transparent)]
    Pkt(#[from] PktError),
    /// A ref update found the ref at another value than the one it was made against (another
    /// write got there first); nothing was changed.
    #[error("ref {name} changed while it was being updated")]
    RefMoved { name: String },
}

impl Error {
    /// True when the error is caused by the request (bad ref, bad path, malformed protocol data,
    /// oversized object) rather than by the server.
    pub fn is_client_error(&self) -> bool {
        matches!(self, Error::TooLarge { .. } | Error::InvalidRef(_) | Error::InvalidPath(_) | Error::Pkt(_))
    }
}
