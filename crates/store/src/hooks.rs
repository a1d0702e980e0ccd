//! Storage ports of webhooks: project hooks, their durable outbox of deliveries, and the
//! instance's outbound-request settings (GitLab's application settings for local requests).
//!
//! Contract, in addition to the crate's:
//! - A hook's URL and token are opaque sealed text to the store (the app seals them).
//! - Deliveries of one hook are handed out oldest first, one at a time:
//!   [`HookStore::due_deliveries`] gives each executable hook's oldest pending delivery only, so a
//!   hook receives its events in order even across failures and restarts.
//! - [`HookStore::enqueue_deliveries`] is idempotent per origin: a delivery with the same push
//!   record, update position and hook as an earlier one is not added again.
//! - [`HookStore::record_attempt`] changes the delivery and its hook's health in one transaction,
//!   and only while the delivery is pending.
//! - Deleting a hook removes its deliveries; deleting a project removes its hooks.

use async_trait::async_trait;
use autogit_core::ProjectId;
use autogit_core::webhook::HookHealth;
use chrono::{DateTime, Utc};

use crate::{Listed, Page, Result};

/// Which events a hook receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HookEvents {
    pub push: bool,
    pub tag_push: bool,
}

/// A hook's failure counters (GitLab's auto-disabling; decided by `autogit_core::webhook`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoredHookHealth {
    pub recent_failures: i32,
    pub disabled_until: Option<DateTime<Utc>>,
    pub permanently_disabled: bool,
}

impl StoredHookHealth {
    /// As the pure decision reads it (times in Unix seconds).
    pub fn health(&self) -> HookHealth {
        HookHealth {
            recent_failures: u32::try_from(self.recent_failures).unwrap_or(0),
            disabled_until: self.disabled_until.map(|t| t.timestamp()),
            permanently_disabled: self.permanently_disabled,
        }
    }

    /// As the store keeps the pure decision's result.
    pub fn of(h: HookHealth) -> StoredHookHealth {
        StoredHookHealth {
            recent_failures: i32::try_from(h.recent_failures).unwrap_or(i32::MAX),
            disabled_until: h.disabled_until.and_then(|s| DateTime::from_timestamp(s, 0)),
            permanently_disabled: h.permanently_disabled,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProjectHook {
    pub project_id: ProjectId,
    /// Sealed.
    pub url: String,
    /// Sealed; `None` for no token.
    pub token: Option<String>,
    pub name: String,
    pub description: String,
    pub events: HookEvents,
    /// A branch name or wildcard; push events of other branches are not sent.
    pub push_events_branch_filter: Option<String>,
    pub enable_ssl_verification: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectHook {
    pub id: i64,
    pub project_id: ProjectId,
    pub url: String,
    pub token: Option<String>,
    pub name: String,
    pub description: String,
    pub events: HookEvents,
    pub push_events_branch_filter: Option<String>,
    pub enable_ssl_verification: bool,
    pub health: StoredHookHealth,
    pub created_at: DateTime<Utc>,
}

/// A change to a hook: every field replaces the stored one; `health` too (an edit re-enables a
/// disabled hook, as in GitLab).
pub type HookChange = NewProjectHook;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    Pending,
    Delivered,
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<DeliveryState> {
        [DeliveryState::Pending, DeliveryState::Delivered, DeliveryState::Failed].into_iter().find(|d| d.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewHookDelivery {
    pub hook_id: i64,
    /// `push`, `tag_push`.
    pub event: String,
    /// The JSON body.
    pub payload: String,
    /// Sent as `Idempotency-Key` on every attempt.
    pub idempotency_key: String,
    /// The push record and update position it comes from, for idempotent enqueueing.
    pub origin: Option<(i64, i32)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookDelivery {
    pub id: i64,
    pub hook_id: i64,
    pub event: String,
    pub payload: String,
    pub idempotency_key: String,
    pub state: DeliveryState,
    pub attempts: i32,
    /// The last attempt's answer; `None` when no answer came.
    pub response_status: Option<i32>,
    /// The last attempt's error or the answer's headers and body excerpt, as JSON text.
    pub response: Option<String>,
    pub duration_ms: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub last_attempt_at: Option<DateTime<Utc>>,
}

/// One attempt's outcome, and the hook's health after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryAttempt {
    pub state: DeliveryState,
    pub response_status: Option<i32>,
    pub response: Option<String>,
    pub duration_ms: i64,
    pub at: DateTime<Utc>,
    pub health: StoredHookHealth,
}

#[async_trait]
pub trait HookStore: Send + Sync {
    /// Invalid for a missing project.
    async fn create_hook(&self, new: &NewProjectHook, now: DateTime<Utc>) -> Result<ProjectHook>;
    /// The project's hooks, by id.
    async fn list_hooks(&self, project_id: ProjectId, page: Page) -> Result<Listed<ProjectHook>>;
    async fn hook(&self, project_id: ProjectId, id: i64) -> Result<Option<ProjectHook>>;
    /// Replaces the hook's settings and resets its health. NotFound if missing.
    async fn update_hook(&self, id: i64, change: &HookChange) -> Result<ProjectHook>;
    /// NotFound if missing.
    async fn delete_hook(&self, project_id: ProjectId, id: i64) -> Result<()>;
    /// Adds pending deliveries, skipping those whose origin and hook are already there.
    async fn enqueue_deliveries(&self, deliveries: &[NewHookDelivery], now: DateTime<Utc>) -> Result<()>;
    /// A delivery that already happened (a test): stored with its outcome, the hook untouched.
    async fn log_delivery(&self, delivery: &NewHookDelivery, attempt: &DeliveryAttempt) -> Result<HookDelivery>;
    /// The oldest pending delivery of each hook that is executable at `now`, by delivery id.
    async fn due_deliveries(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<(HookDelivery, ProjectHook)>>;
    /// Records an attempt on a pending delivery and the hook's new health; `false` when the
    /// delivery was no longer pending.
    async fn record_attempt(&self, delivery_id: i64, attempt: &DeliveryAttempt) -> Result<bool>;
    /// A hook's deliveries, newest first.
    async fn list_deliveries(&self, hook_id: i64, page: Page) -> Result<Listed<HookDelivery>>;
    async fn delivery(&self, hook_id: i64, id: i64) -> Result<Option<HookDelivery>>;
    /// Hooks of every project with an id above `after`, by id (for the secrets passes).
    async fn hooks_after(&self, after: i64, limit: i64) -> Result<Vec<ProjectHook>>;
    /// Replaces a hook's sealed URL and token if they are still `old`; `false` when they changed
    /// meanwhile or the hook is gone.
    async fn swap_hook_secrets(&self, id: i64, old: (&str, Option<&str>), new: (&str, Option<&str>)) -> Result<bool>;
}

/// The instance's outbound-request settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundSettings {
    pub allow_local_requests_from_web_hooks_and_services: bool,
    pub allow_local_requests_from_system_hooks: bool,
    /// Addresses, CIDR blocks or host names, as entered.
    pub outbound_local_requests_allowlist: Vec<String>,
}

impl Default for OutboundSettings {
    /// GitLab's defaults.
    fn default() -> Self {
        OutboundSettings {
            allow_local_requests_from_web_hooks_and_services: false,
            allow_local_requests_from_system_hooks: true,
            outbound_local_requests_allowlist: Vec::new(),
        }
    }
}

#[async_trait]
pub trait SettingsStore: Send + Sync {
    /// The stored settings, or the defaults when none were ever saved.
    async fn outbound_settings(&self) -> Result<OutboundSettings>;
    async fn set_outbound_settings(&self, settings: &OutboundSettings) -> Result<()>;
}
