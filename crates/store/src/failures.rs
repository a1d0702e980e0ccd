//! The failure-counter port: how many failed sign-ins a key (an account, a client address) has
//! had lately, for the lockout decision of `autogit_core::lockout`.
//!
//! It is not part of [`Store`](crate::Store): counters are short-lived, written on every failed
//! password and never need a transaction with the records, so a deployment can keep them in
//! memory (one server) or in Redis (several), chosen by the binary.
//!
//! # Contract (the `conformance::failure_counter` suite checks it)
//! - Keys are opaque text of at most [`MAX_KEY_LEN`] bytes, compared exactly (callers normalise
//!   case). Times are Unix milliseconds passed in by the caller; adapters never read a clock.
//! - Every entry has an expiry. At a time `now` at or after it, the entry is absent: `get`
//!   answers `None` and `add_failure` starts again from 0. An adapter may drop expired entries
//!   whenever it likes.
//! - `add_failure(key, now, window)` is atomic: count + 1 (from 0 when absent), `last_at_ms =
//!   now`, expiry at least `now + window` (an existing later expiry is kept). It returns the
//!   entry after the change, so two concurrent calls see different counts.
//! - `keep_until(key, until)` moves an existing entry's expiry to `until` when that is later;
//!   it never shortens it and does nothing for an absent key.
//! - `reset(key)` forgets the key; resetting an absent key is not an error.
//! - An adapter may forget entries before their expiry to bound its memory (the in-memory one
//!   holds a fixed number of keys), but never invents or increases counts.
//! - `Unavailable` when the backend cannot be reached; callers refuse the sign-in then.

use crate::Result;
use async_trait::async_trait;
use autogit_core::lockout::Failures;

/// The longest key an adapter must accept.
pub const MAX_KEY_LEN: usize = 320;

#[async_trait]
pub trait FailureCounter: Send + Sync {
    /// Counts one failure of `key` at `now_ms`; the entry lives at least `window_ms` more.
    async fn add_failure(&self, key: &str, now_ms: i64, window_ms: i64) -> Result<Failures>;
    /// The key's failures, `None` when absent or expired at `now_ms`.
    async fn get(&self, key: &str, now_ms: i64) -> Result<Option<Failures>>;
    /// Keeps an existing entry until at least `until_ms` (a lock can outlast the window).
    async fn keep_until(&self, key: &str, until_ms: i64) -> Result<()>;
    /// Forgets the key (a successful sign-in).
    async fn reset(&self, key: &str) -> Result<()>;
}
