//! `[auth]`: the limits on password sign-ins (the sign-in page, git over HTTP with an account
//! password) and how long browser sessions last.

use crate::ConfigError;
use crate::oidc::OidcProviderConfig;
use crate::proxy_auth::{GroupMapping, ProxyAuthConfig, validate_mappings};
use serde::{Deserialize, Deserializer};

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// argon2 password checks run at once, at least 1. Each holds 19 MiB while it runs (kept for
    /// the next check until checks stop for 2 s), so this bounds their memory; more than the CPU
    /// cores gains nothing.
    pub password_checks: u64,
    /// Sign-ins that may wait for a check slot; beyond, they are refused at once (429 +
    /// `Retry-After`).
    pub password_queue: u64,
    /// Milliseconds a sign-in may wait for a check slot before it is refused.
    pub password_queue_wait_ms: u64,
    /// Accounts and addresses whose failures are remembered at most (memory bound).
    pub max_tracked_keys: u64,
    /// Failures per username, whether the account exists or not.
    #[serde(deserialize_with = "account")]
    pub account: LockoutConfig,
    /// Failures per client address (the TCP peer; IPv6 per /64).
    #[serde(deserialize_with = "address")]
    pub address: LockoutConfig,
    /// Minutes without a request after which a browser session is over (GitLab's "session
    /// duration", one week by default).
    pub session_expire_minutes: u64,
    /// Minutes after sign-in after which a browser session is over, however active.
    pub session_lifetime_minutes: u64,
    /// Browser sessions per user; a new one ends the least recently active beyond this.
    pub max_sessions_per_user: u64,
    /// Sign-in by a forward-auth proxy (Authelia).
    pub proxy: ProxyAuthConfig,
    /// Single sign-on groups → AutoGit group memberships, applied at every sign-in.
    pub group_mappings: Vec<GroupMapping>,
    /// Single sign-on groups whose members are administrators (re-evaluated at every sign-in;
    /// empty: sign-in never changes who is an administrator).
    pub admin_groups: Vec<String>,
    /// OpenID Connect providers (`[[auth.oidc]]`), each a button on the sign-in page.
    pub oidc: Vec<OidcProviderConfig>,
}

/// When failed password sign-ins lock a key (an account or an address).
#[derive(Debug, Clone, PartialEq)]
pub struct LockoutConfig {
    /// Failures that lock the key; 0 disables the limit.
    pub max_failures: u64,
    /// A failure counts while the previous one is less than this many seconds old.
    pub window_seconds: u64,
    /// Seconds of the first lock; each further failure doubles it.
    pub lock_seconds: u64,
    /// The longest lock in seconds.
    pub max_lock_seconds: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            password_checks: 2,
            // 20 people signing in at once (a team after a restart) all get in: 2 run, 18 wait.
            password_queue: 32,
            password_queue_wait_ms: 2_000,
            max_tracked_keys: 100_000,
            session_expire_minutes: 7 * 24 * 60,
            session_lifetime_minutes: 30 * 24 * 60,
            // GitLab's bound on active sessions per user.
            max_sessions_per_user: 100,
            proxy: ProxyAuthConfig::default(),
            group_mappings: Vec::new(),
            admin_groups: Vec::new(),
            oidc: Vec::new(),
            // Devise lockable as GitLab configures it: 10 attempts, then 10 minutes.
            account: LockoutConfig {
                max_failures: 10,
                window_seconds: 600,
                lock_seconds: 600,
                max_lock_seconds: 3_600,
            },
            // Generous enough for many people behind one NAT address.
            address: LockoutConfig {
                max_failures: 50,
                window_seconds: 600,
                lock_seconds: 600,
                max_lock_seconds: 3_600,
            },
        }
    }
}

/// A `[auth.account]` or `[auth.address]` table: the keys it sets, over that table's own
/// defaults (the two differ, so one `Default` for both would be wrong).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LockoutKeys {
    max_failures: Option<u64>,
    window_seconds: Option<u64>,
    lock_seconds: Option<u64>,
    max_lock_seconds: Option<u64>,
}

impl LockoutKeys {
    fn over(self, d: LockoutConfig) -> LockoutConfig {
        LockoutConfig {
            max_failures: self.max_failures.unwrap_or(d.max_failures),
            window_seconds: self.window_seconds.unwrap_or(d.window_seconds),
            lock_seconds: self.lock_seconds.unwrap_or(d.lock_seconds),
            max_lock_seconds: self.max_lock_seconds.unwrap_or(d.max_lock_seconds),
        }
    }
}

fn account<'de, D: Deserializer<'de>>(d: D) -> Result<LockoutConfig, D::Error> {
    Ok(LockoutKeys::deserialize(d)?.over(AuthConfig::default().account))
}

fn address<'de, D: Deserializer<'de>>(d: D) -> Result<LockoutConfig, D::Error> {
    Ok(LockoutKeys::deserialize(d)?.over(AuthConfig::default().address))
}

impl AuthConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        if self.password_checks == 0 || self.password_checks > 64 {
            return invalid(format!("auth.password_checks = {}: expected 1 to 64", self.password_checks));
        }
        if self.password_queue > 10_000 {
            return invalid(format!("auth.password_queue = {}: expected at most 10000", self.password_queue));
        }
        if self.password_queue_wait_ms > 60_000 {
            return invalid(format!(
                "auth.password_queue_wait_ms = {}: expected at most 60000",
                self.password_queue_wait_ms
            ));
        }
        const YEAR_MINUTES: u64 = 365 * 24 * 60;
        for (name, minutes) in [
            ("session_expire_minutes", self.session_expire_minutes),
            ("session_lifetime_minutes", self.session_lifetime_minutes),
        ] {
            if minutes == 0 || minutes > YEAR_MINUTES {
                return invalid(format!("auth.{name} = {minutes}: expected 1 to {YEAR_MINUTES} (a year)"));
            }
        }
        if self.max_sessions_per_user == 0 || self.max_sessions_per_user > 10_000 {
            return invalid(format!(
                "auth.max_sessions_per_user = {}: expected 1 to 10000",
                self.max_sessions_per_user
            ));
        }
        self.proxy.validate()?;
        validate_mappings("auth.group_mappings", &self.group_mappings)?;
        crate::oidc::validate_providers(&self.oidc)?;
        if self.max_tracked_keys == 0 {
            return invalid("auth.max_tracked_keys must be at least 1".into());
        }
        for (name, l) in [("account", &self.account), ("address", &self.address)] {
            if l.max_failures == 0 {
                continue;
            }
            if l.max_failures > 1_000_000 {
                return invalid(format!("auth.{name}.max_failures = {}: expected at most 1000000", l.max_failures));
            }
            // A year bounds every duration: the lock arithmetic stays far from overflow.
            const YEAR: u64 = 365 * 24 * 3600;
            if l.window_seconds == 0 || l.lock_seconds == 0 {
                return invalid(format!("auth.{name}: window_seconds and lock_seconds must be at least 1"));
            }
            if l.max_lock_seconds < l.lock_seconds {
                return invalid(format!(
                    "auth.{name}.max_lock_seconds = {} is shorter than lock_seconds = {}",
                    l.max_lock_seconds, l.lock_seconds
                ));
            }
            if l.window_seconds > YEAR || l.max_lock_seconds > YEAR {
                return invalid(format!("auth.{name}: durations are at most a year ({YEAR} seconds)"));
            }
        }
        Ok(())
    }
}
