//! The one error type of the storage ports. Adapters map their library errors into it.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    /// The addressed record does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A uniqueness rule was violated; the string names what clashed (e.g. "username").
    #[error("{0} has already been taken")]
    Conflict(String),
    /// The write would break a rule the store enforces (e.g. a dangling reference).
    #[error("invalid: {0}")]
    Invalid(String),
    /// The backend could not be reached or failed; the message is for logs, not for users.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}
