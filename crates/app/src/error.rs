//! The application error. Messages are written for the API user: they say what is wrong and where.

use autogit_core::NameError;
use autogit_store::StoreError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum AppError {
    /// No or bad credentials where they are required.
    #[error("401 Unauthorized")]
    Unauthorized,
    /// An API request presented an account password in HTTP Basic: the API takes tokens.
    #[error(
        "401 Unauthorized - the API takes a personal access token (PRIVATE-TOKEN, Authorization: Bearer, or as \
         the HTTP Basic password); account passwords are accepted by git over HTTP only"
    )]
    PasswordNotAccepted,
    /// Password sign-in refused without checking the password: too many recent failures for the
    /// account or the client address. Carries the seconds until the lock ends.
    #[error("429 Too Many Requests - too many failed sign-in attempts for this account or address; retry in {0} s")]
    SignInLocked(u64),
    /// Every password check slot is busy and the queue is full; retry after the seconds given.
    #[error("429 Too Many Requests - too many password checks at once; retry in {0} s or use a personal access token")]
    PasswordChecksBusy(u64),
    /// Credentials are valid but the token lacks the scope for this kind of request.
    #[error("insufficient_scope")]
    InsufficientScope,
    /// Valid actor, not allowed.
    #[error("403 Forbidden{}", .0.as_deref().map(|m| format!(" - {m}")).unwrap_or_default())]
    Forbidden(Option<String>),
    /// The resource does not exist, or the actor may not know it exists. The string names it
    /// (`Project`, `Group`, `User`, `Branch`, `File`…), as GitLab's `404 Project Not Found` does.
    #[error("404 {0} Not Found")]
    NotFound(&'static str),
    /// A field is invalid: (field, message).
    #[error("{0} {1}")]
    Invalid(&'static str, String),
    /// The request is refused for a reason GitLab states as a sentence (`Branch already exists`,
    /// a protected-branch rule's text): a `400` whose message is the sentence.
    #[error("{0}")]
    Refused(String),
    /// A required parameter is missing.
    #[error("{0} is missing")]
    Missing(&'static str),
    /// Uniqueness clash: (field, message).
    #[error("{0} {1}")]
    Conflict(String, String),
    /// A body (an artifact upload) is over the limit, in bytes.
    #[error("413 Request Entity Too Large: the limit is {0} bytes")]
    TooLarge(u64),
    /// A byte range outside the object asked for; carries the object's size.
    #[error("416 Range Not Satisfiable: the object has {0} bytes")]
    RangeNotSatisfiable(u64),
    /// A service AutoGit depends on (an identity provider) did not answer as it should; the
    /// message names it and says what went wrong, without secrets.
    #[error("502 Bad Gateway - {0}")]
    Unavailable(String),
    /// Something on our side failed; the message goes to logs, the client gets a generic 500.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    /// Seconds a client should wait before trying again (`Retry-After`), for refusals that end.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            AppError::SignInLocked(s) | AppError::PasswordChecksBusy(s) => Some(*s),
            _ => None,
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => AppError::NotFound(match what {
                "project" => "Project",
                "group" | "namespace" => "Group",
                "user" => "User",
                "member" => "Member",
                "token" => "Token",
                _ => "Resource",
            }),
            StoreError::Conflict(field) => AppError::Conflict(field, "has already been taken".into()),
            StoreError::Invalid(m) => AppError::Invalid("base", m),
            StoreError::Unavailable(m) => AppError::Internal(m),
        }
    }
}

impl From<autogit_git::Error> for AppError {
    fn from(e: autogit_git::Error) -> Self {
        use autogit_git::Error as G;
        match e {
            G::InvalidRef(_) => AppError::Invalid("ref", e.to_string()),
            G::InvalidPath(_) => AppError::Invalid("path", e.to_string()),
            G::TooLarge { .. } => AppError::Invalid("file", e.to_string()),
            G::Pkt(_) => AppError::Invalid("body", e.to_string()),
            G::RefMoved { name } => {
                AppError::Conflict("ref".into(), format!("{name} was changed by another write meanwhile; try again"))
            }
            _ => AppError::Internal(e.to_string()),
        }
    }
}

/// Attaches the field name to a name validation error.
pub(crate) fn invalid_name(field: &'static str) -> impl FnOnce(NameError) -> AppError {
    move |e| AppError::Invalid(field, e.to_string())
}
