//! Webhooks: project hooks (`/projects/:id/hooks`), the events that fill their durable outbox,
//! and its delivery. `hooks` holds the use-cases, `outbox` what a push enqueues (`payload`: the
//! bodies), `deliver` the loop that sends, retries and records, the test and the re-send;
//! `transport` is the port the binary plugs the HTTP client into.

mod deliver;
mod hooks;
mod outbox;
mod payload;
mod secrets;
mod settings;
mod transport;

pub use deliver::event_header;
pub use hooks::{HookSettings, ShownHook, redact_url};
pub use settings::OutboundChange;
pub use transport::*;

use crate::App;
use std::sync::Arc;
use std::time::Duration;

/// What a process needs to deliver hooks (see [`App::with_webhooks`]).
pub struct WebhookRuntime {
    pub(crate) transport: Arc<dyn HookTransport>,
    /// `X-Gitlab-Instance` and the payloads' `web_url`s.
    pub(crate) instance_url: String,
    /// `ssh://git@host:port/` when SSH is served.
    pub(crate) ssh_clone_base: Option<String>,
    pub(crate) timeout: Duration,
    /// The unit of a failing hook's rest (`autogit_core::webhook::HookHealth::after`).
    pub(crate) backoff_unit_secs: i64,
    pub(crate) wake: tokio::sync::Notify,
}

/// How this instance delivers hooks.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// `X-Gitlab-Instance` and the payloads' `web_url`s.
    pub instance_url: String,
    /// `ssh://git@host:port/` when SSH is served.
    pub ssh_clone_base: Option<String>,
    /// How long a receiver has to answer (GitLab: 10 s).
    pub timeout: Duration,
    /// The unit of a failing hook's rest (GitLab: a minute).
    pub backoff_unit: Duration,
}

impl App {
    /// The same application delivering hooks through `transport` as `settings` say. Without it
    /// pushes enqueue no deliveries.
    #[must_use]
    pub fn with_webhooks(mut self, transport: Arc<dyn HookTransport>, settings: WebhookSettings) -> Self {
        self.webhooks = Some(Arc::new(deliver::runtime(transport, settings)));
        self
    }
}
