//! `[webhooks]`: how project hooks are delivered. Where they may connect is an instance setting
//! changed through the API (`/application/settings`), not here.

use crate::ConfigError;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Seconds a receiver has to answer a delivery (GitLab's default: 10).
    pub timeout_seconds: u64,
    /// The unit of a failing hook's rest: from its fourth failure in a row it rests this many
    /// seconds × 2^(failures − 3), at most a day's worth of units (GitLab: 60, one minute); its
    /// first three failures are retried after a sixtieth of it (at least a second).
    pub backoff_seconds: u64,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        WebhooksConfig { timeout_seconds: 10, backoff_seconds: 60 }
    }
}

impl WebhooksConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.timeout_seconds == 0 || self.timeout_seconds > 600 {
            return Err(ConfigError::Invalid(format!(
                "webhooks.timeout_seconds = {}: expected 1 to 600",
                self.timeout_seconds
            )));
        }
        if self.backoff_seconds == 0 || self.backoff_seconds > 3600 {
            return Err(ConfigError::Invalid(format!(
                "webhooks.backoff_seconds = {}: expected 1 to 3600",
                self.backoff_seconds
            )));
        }
        Ok(())
    }
}
