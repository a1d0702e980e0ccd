//! The browser-session port: signed-in browsers, found by the digest of their cookie's secret.
//!
//! It is part of [`Store`](crate::Store) (the SQL adapter keeps sessions in a table of the same
//! database), but the application holds it as its own `Arc<dyn SessionStore>`, so that a
//! deployment with several servers can keep sessions elsewhere (Redis) without the records.
//!
//! # Contract (the conformance suite's `sessions` checks pin it)
//! - Only the SHA-256 digest of a session's secret is stored; the secret never reaches the port.
//!   A digest is unique (`Conflict("digest")`).
//! - `create_session` is atomic: the new session exists and, when the user then has more than
//!   `max_per_user` sessions, the least recently active others are gone, in one step. A
//!   session for a user that does not exist is `Invalid`.
//! - Expiry is the caller's decision: the port stores `expires_at` and answers expired sessions
//!   like any other until `delete_expired_sessions` removes them.
//! - `touch_session` and `delete_session` change one record: `NotFound` when it is missing (for
//!   `delete_session`: missing *for that user*, so one user cannot end another's session).
//! - A user's deletion deletes their sessions.
//! - A sign-in attempt (an identity provider's round trip in progress) is found by the digest
//!   of its cookie's secret and taken once: `take_sign_in_attempt` returns and deletes it in one
//!   step, so two callbacks with the same cookie cannot both have it. `create_sign_in_attempt`
//!   deletes the attempts expired at `now` (abandoned round trips do not pile up). A digest is
//!   unique (`Conflict("digest")`).

use crate::{Result, UserId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// The longest `user_agent` an adapter must keep; callers cut longer ones.
pub const MAX_USER_AGENT_LEN: usize = 255;

/// A signed-in browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: i64,
    pub user_id: UserId,
    /// The client address at sign-in, as the server saw it.
    pub ip_address: String,
    /// The browser's `User-Agent` at sign-in (at most [`MAX_USER_AGENT_LEN`] bytes).
    pub user_agent: String,
    pub created_at: DateTime<Utc>,
    pub last_active_at: DateTime<Utc>,
    /// The session is invalid from this instant on.
    pub expires_at: DateTime<Utc>,
}

/// A browser's sign-in at an identity provider, between the redirect there and the callback.
/// Its values are single-use secrets of that one round trip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInAttempt {
    /// The configured provider's name.
    pub provider: String,
    /// OAuth's `state`, sent back by the provider with the code.
    pub state: String,
    /// OpenID Connect's `nonce`, which the ID token must carry.
    pub nonce: String,
    /// The PKCE code verifier.
    pub pkce_verifier: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSignInAttempt {
    /// Hex SHA-256 of the attempt cookie's secret.
    pub digest: String,
    pub provider: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    pub user_id: UserId,
    /// Hex SHA-256 of the cookie's secret.
    pub digest: String,
    pub ip_address: String,
    pub user_agent: String,
    pub expires_at: DateTime<Utc>,
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Creates the session (created and last active at `now`) and deletes the user's least
    /// recently active other sessions beyond `max_per_user`, in one transaction.
    async fn create_session(&self, new: &NewSession, max_per_user: u32, now: DateTime<Utc>) -> Result<Session>;
    async fn session_by_digest(&self, digest: &str) -> Result<Option<Session>>;
    /// Records activity at `now` and moves the expiry. NotFound if missing.
    async fn touch_session(&self, id: i64, now: DateTime<Utc>, expires_at: DateTime<Utc>) -> Result<()>;
    /// A user's sessions, most recently active first.
    async fn list_sessions(&self, user_id: UserId) -> Result<Vec<Session>>;
    /// Deletes one session of `user_id`. NotFound if that user has no session `id`.
    async fn delete_session(&self, user_id: UserId, id: i64) -> Result<()>;
    /// Deletes every session of the user except `keep`; returns how many went.
    async fn delete_user_sessions(&self, user_id: UserId, keep: Option<i64>) -> Result<u64>;
    /// Deletes the sessions whose expiry is at or before `now`; returns how many went.
    async fn delete_expired_sessions(&self, now: DateTime<Utc>) -> Result<u64>;
    /// Stores a sign-in attempt (created at `now`) and deletes the attempts expired at `now`.
    async fn create_sign_in_attempt(&self, new: &NewSignInAttempt, now: DateTime<Utc>) -> Result<()>;
    /// Returns and deletes the attempt with this digest, expired or not.
    async fn take_sign_in_attempt(&self, digest: &str) -> Result<Option<SignInAttempt>>;
}
