//! Password sign-in with its abuse limits: bounded argon2 work, the same work for every username,
//! and per-account and per-address failure limits with a growing lock.
//!
//! # Who is trusted
//! - The client address is the TCP peer of the connection (the HTTP layer passes it in); no
//!   header such as `X-Forwarded-For` is believed. Behind a reverse proxy every client shares the
//!   proxy's address, so the address limit then acts on all of them together (trusted proxies
//!   come with their own configuration later). IPv6 clients are counted per /64, the block one
//!   subscriber usually holds, so rotating addresses within it gains nothing.
//! - The username is whatever the client sent. Failures are counted per lower-cased username
//!   whether or not the account exists, and a missing user, a user without a password and a
//!   blocked user cost a full argon2 check against a dummy hash with the same parameters, so
//!   neither timing, answers nor locks tell which usernames exist.
//! - While an account or an address is locked, attempts are refused (429 + `Retry-After`)
//!   before any password is checked: the right password does not work during the lock, and the
//!   lock costs no CPU. Refused attempts do not count as failures (they prove nothing). A
//!   successful sign-in forgets the account's failures, never the address's (one valid account
//!   must not buy an address more guesses).
//! - Passwords never reach a log line; refusals and new locks are logged (username shortened
//!   and escaped, address), at most one line per second per kind with a count of those left out.

use super::gate::{Busy, PasswordGate};
use super::password;
use super::work_area::{self, WorkAreas};
use crate::{App, AppError, Principal, Result, System};
use argon2::Block;
use autogit_core::lockout::{Failures, LockoutPolicy, Verdict};
use autogit_core::log_throttle::LogThrottle;
use autogit_store::{FailureCounter, UserState};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OwnedSemaphorePermit;

/// How password checks are bounded (the server fills it from `[auth]`).
#[derive(Debug, Clone, PartialEq)]
pub struct PasswordSettings {
    /// argon2 computations at once (each holds 19 MiB while it runs).
    pub concurrent_checks: usize,
    /// Requests that may wait for a computation slot; more are refused at once.
    pub queue: usize,
    /// How long a request may wait for a slot before it is refused.
    pub queue_wait: Duration,
    /// Failures per username (existing or not).
    pub account: LockoutPolicy,
    /// Failures per client address (IPv6: per /64).
    pub address: LockoutPolicy,
}

const MINUTE_MS: i64 = 60_000;

impl Default for PasswordSettings {
    /// The values of `autogit_config::AuthConfig::default()`, for applications built without a
    /// configuration (tests, tools).
    fn default() -> Self {
        PasswordSettings {
            concurrent_checks: 2,
            queue: 32,
            queue_wait: Duration::from_secs(2),
            account: LockoutPolicy {
                max_failures: 10,
                window_ms: 10 * MINUTE_MS,
                lock_ms: 10 * MINUTE_MS,
                max_lock_ms: 60 * MINUTE_MS,
            },
            address: LockoutPolicy {
                max_failures: 50,
                window_ms: 10 * MINUTE_MS,
                lock_ms: 10 * MINUTE_MS,
                max_lock_ms: 60 * MINUTE_MS,
            },
        }
    }
}

/// The password machinery of one [`App`]: the gate, the counters and the dummy hash.
pub(crate) struct PasswordChecks {
    settings: PasswordSettings,
    gate: PasswordGate,
    counter: Arc<dyn FailureCounter>,
    /// Checked for users that do not exist or have no password.
    dummy: String,
    refused_log: LogThrottle,
    locked_log: LogThrottle,
    busy_log: LogThrottle,
    /// argon2's memory, kept between checks while they keep coming.
    areas: Arc<WorkAreas>,
}

impl PasswordChecks {
    /// Runs `work` in a work area on a blocking thread holding `permit` (as
    /// [`PasswordGate::run`]). The spare areas are freed once no check has ended for
    /// [`work_area::IDLE`], planned by the check itself so that a caller gone meanwhile changes
    /// nothing.
    async fn run<T: Send + 'static>(
        &self,
        permit: OwnedSemaphorePermit,
        work: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> std::result::Result<(T, OwnedSemaphorePermit), tokio::task::JoinError> {
        let areas = self.areas.clone();
        let runtime = tokio::runtime::Handle::current();
        PasswordGate::run(permit, move || {
            let mut area = areas.take();
            let out = work(&mut area);
            let mark = areas.put(area);
            runtime.spawn(async move {
                tokio::time::sleep(work_area::IDLE).await;
                areas.release_unless_used_since(mark);
            });
            out
        })
        .await
    }

    pub(crate) fn new(settings: PasswordSettings, counter: Arc<dyn FailureCounter>) -> Self {
        let dummy = password::dummy(rand::random(), rand::random()).unwrap_or_else(|e| {
            // Cannot happen with fixed-size inputs; a hash that never matches is still safe.
            tracing::error!(error = %e, "could not build the dummy password hash");
            String::new()
        });
        PasswordChecks {
            gate: PasswordGate::new(settings.concurrent_checks, settings.queue, settings.queue_wait),
            areas: Arc::new(WorkAreas::new(settings.concurrent_checks)),
            settings,
            counter,
            dummy,
            refused_log: LogThrottle::default(),
            locked_log: LogThrottle::default(),
            busy_log: LogThrottle::default(),
        }
    }
}

/// The counter keys of one attempt.
struct Keys {
    account: String,
    address: String,
}

impl Keys {
    fn new(username: &str, peer: IpAddr) -> Self {
        let mut name = username.to_ascii_lowercase();
        // No username is longer; the key stays within the port's key length.
        if name.len() > autogit_core::name::MAX_PATH_LEN {
            let mut end = autogit_core::name::MAX_PATH_LEN;
            while !name.is_char_boundary(end) {
                end -= 1;
            }
            name.truncate(end);
        }
        Keys { account: format!("account:{name}"), address: address_key(peer) }
    }
}

/// The failure counter key of a client address (IPv6: its /64).
fn address_key(peer: IpAddr) -> String {
    match autogit_core::conn_caps::address_block(peer) {
        IpAddr::V4(a) => format!("address:{a}"),
        IpAddr::V6(a) => format!("address:{a}/64"),
    }
}

impl System<'_> {
    /// Seconds until the lock of `peer`'s address ends, when failed authentications (passwords,
    /// SSH keys) have locked it; `None` when it is open.
    pub async fn address_locked(&self, peer: IpAddr) -> Result<Option<u64>> {
        let checks = &self.passwords;
        let now = self.now_ms();
        match checks.settings.address.decide(checks.counter.get(&address_key(peer), now).await?, now) {
            Verdict::Open => Ok(None),
            locked => Ok(Some(locked.retry_after_secs(now))),
        }
    }

    /// Counts one failed authentication from `peer` (an SSH connection that ended without a
    /// known key) against the address limit shared with password sign-ins.
    pub async fn count_address_failure(&self, peer: IpAddr) -> Result<()> {
        let checks = &self.passwords;
        let policy = &checks.settings.address;
        if policy.max_failures == 0 {
            return Ok(());
        }
        let (now, key) = (self.now_ms(), address_key(peer));
        let failures = checks.counter.add_failure(&key, now, policy.window_ms).await?;
        if let Verdict::Locked { until_ms } = policy.decide(Some(failures), now) {
            checks.counter.keep_until(&key, policy.keep_until(failures)).await?;
            self.log_lock("address", "(ssh)", peer, failures, until_ms - now);
        }
        Ok(())
    }
}

/// A username as it may appear in a log line: escaped and at most 64 characters.
fn shown(username: &str) -> String {
    let short: String = username.chars().take(64).collect();
    format!("{short:?}")
}

impl App {
    fn now_ms(&self) -> i64 {
        self.clock.now().timestamp_millis()
    }

    /// Hashes a new password through the same bounded gate as sign-ins.
    pub(crate) async fn hash_new_password(&self, password: &str) -> Result<String> {
        let permit = self.passwords.gate.enter().await.map_err(|Busy| AppError::PasswordChecksBusy(1))?;
        let pw = password.as_bytes().to_vec();
        let salt: [u8; 16] = rand::random();
        let (hashed, _permit) = self
            .passwords
            .run(permit, move |area| password::hash(&pw, salt, area))
            .await
            .map_err(|e| AppError::Internal(format!("password hashing stopped: {e}")))?;
        hashed.map_err(|e| AppError::Internal(format!("password hashing failed: {e}")))
    }

    /// Signs in with a username and password, within the limits of the module doc.
    pub(crate) async fn by_password(&self, login: &str, password: &str, peer: IpAddr) -> Result<Principal> {
        // An email address signs in as its account, counted under the account's username, so
        // the two spellings share one limit. Usernames hold no `@`.
        let by_email =
            if login.contains('@') && login.is_ascii() { self.store.user_by_email(login).await? } else { None };
        let username = by_email.as_ref().map_or(login, |u| u.username.as_str());
        let result = self.check_password(username, password, peer).await;
        if matches!(result, Err(AppError::Unauthorized)) {
            self.audit_failed_sign_in(login, peer).await;
        }
        result
    }

    async fn check_password(&self, username: &str, password: &str, peer: IpAddr) -> Result<Principal> {
        let checks = &self.passwords;
        let keys = Keys::new(username, peer);
        self.refuse_if_locked(&keys, username, peer).await?;
        let permit = match checks.gate.enter().await {
            Ok(p) => p,
            Err(Busy) => {
                if let Some(skipped) = checks.busy_log.admit(self.now_ms()) {
                    tracing::warn!(user = %shown(username), %peer, skipped, "password check refused: all busy");
                }
                return Err(AppError::PasswordChecksBusy(1));
            }
        };
        // A lock may have started while this request waited for its turn.
        self.refuse_if_locked(&keys, username, peer).await?;
        // Usernames are ASCII. A name that is not never reaches the store: PostgreSQL's lower()
        // folds some other characters onto ASCII letters (the Kelvin sign onto `k`), which would
        // sign in as a user under a failure counter key of its own, past the account's limit.
        let user = if username.is_ascii() { self.store.user_by_username(username).await? } else { None };
        let stored = user.as_ref().and_then(|u| u.password_hash.clone()).unwrap_or_else(|| checks.dummy.clone());
        let pw = password.as_bytes().to_vec();
        // The permit is held until the outcome is counted: a check that starts after this one
        // sees the lock this one may cause.
        let (checked, _permit) = checks
            .run(permit, move |area| password::verify(&stored, &pw, area))
            .await
            .map_err(|e| AppError::Internal(format!("password check stopped: {e}")))?;
        let matched = checked.unwrap_or_else(|e| {
            tracing::error!(user = %shown(username), error = %e, "stored password hash cannot be checked");
            false
        });
        match user {
            Some(u) if matched && u.password_hash.is_some() && u.state == UserState::Active => {
                checks.counter.reset(&keys.account).await?;
                Ok(Principal::trusted(u))
            }
            _ => {
                self.count_failure(&keys, username, peer).await?;
                Err(AppError::Unauthorized)
            }
        }
    }

    async fn refuse_if_locked(&self, keys: &Keys, username: &str, peer: IpAddr) -> Result<()> {
        let checks = &self.passwords;
        let now = self.now_ms();
        let (account, address) = (&checks.settings.account, &checks.settings.address);
        let verdict = account
            .decide(checks.counter.get(&keys.account, now).await?, now)
            .and(address.decide(checks.counter.get(&keys.address, now).await?, now));
        match verdict {
            Verdict::Open => Ok(()),
            locked => {
                if let Some(skipped) = checks.refused_log.admit(now) {
                    tracing::info!(user = %shown(username), %peer, skipped, "password sign-in refused: locked");
                }
                Err(AppError::SignInLocked(locked.retry_after_secs(now)))
            }
        }
    }

    async fn count_failure(&self, keys: &Keys, username: &str, peer: IpAddr) -> Result<()> {
        let checks = &self.passwords;
        let now = self.now_ms();
        let both = [
            ("account", &keys.account, &checks.settings.account),
            ("address", &keys.address, &checks.settings.address),
        ];
        for (kind, key, policy) in both {
            if policy.max_failures == 0 {
                continue;
            }
            let failures = checks.counter.add_failure(key, now, policy.window_ms).await?;
            if let Verdict::Locked { until_ms } = policy.decide(Some(failures), now) {
                checks.counter.keep_until(key, policy.keep_until(failures)).await?;
                self.log_lock(kind, username, peer, failures, until_ms - now);
            }
        }
        Ok(())
    }

    fn log_lock(&self, kind: &str, username: &str, peer: IpAddr, failures: Failures, lock_ms: i64) {
        if let Some(skipped) = self.passwords.locked_log.admit(failures.last_at_ms) {
            tracing::warn!(
                locked = kind,
                user = %shown(username),
                %peer,
                failures = failures.count,
                lock_seconds = lock_ms / 1000,
                skipped,
                "password sign-in locked after repeated failures"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_fold_case_and_ipv6_blocks() {
        let k = Keys::new("Alice", "2001:db8:1:2:aaaa:bbbb:cccc:dddd".parse().expect("ip"));
        assert_eq!(k.account, "account:alice");
        assert_eq!(k.address, "address:2001:db8:1:2::/64");
        assert_eq!(Keys::new("a", "::ffff:10.1.2.3".parse().expect("ip")).address, "address:10.1.2.3");
        let long = Keys::new(&"é".repeat(400), "127.0.0.1".parse().expect("ip"));
        assert!(long.account.len() <= autogit_store::failures::MAX_KEY_LEN);
    }

    #[test]
    fn usernames_in_logs_are_escaped_and_short() {
        assert_eq!(shown("a\nb"), "\"a\\nb\"");
        assert_eq!(shown(&"x".repeat(500)).len(), 66);
    }
}
