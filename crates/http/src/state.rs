//! Shared state of the HTTP layer.

use crate::{ConnectionSettings, Metrics, MetricsAccess};
use autogit_app::App;
use std::sync::Arc;
use tokio_util::task::TaskTracker;

/// Settings the HTTP layer needs from the configuration.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Base URL used in `web_url` and `http_url_to_repo` and in `Link` headers, without a trailing `/`.
    pub external_url: String,
    /// Largest accepted push body after gzip decoding; 0 = unlimited.
    pub max_push_bytes: u64,
    /// Largest accepted fetch negotiation body.
    pub max_fetch_request_bytes: u64,
    /// Caps, timeouts and the shutdown deadline of the server's connections.
    pub connections: ConnectionSettings,
    /// Who may read `/metrics`.
    pub metrics_access: MetricsAccess,
    /// The prefix of SSH clone URLs (`git@host:` on port 22, else `ssh://git@host:port/`);
    /// `None` when SSH is not served.
    pub ssh_clone_base: Option<String>,
    /// Sign-in by a forward-auth proxy on browser routes (`[auth.proxy]`); `None` when off.
    pub proxy_auth: Option<crate::ProxyAuth>,
    /// This listener refuses the runner API (`[tls] require_runner_certificates`): runners use
    /// the runner port, whose handshake requires their client certificate.
    pub refuse_runner_api: bool,
}

#[derive(Clone)]
pub struct AppState {
    pub app: App,
    pub config: Arc<HttpConfig>,
    pub metrics: Arc<Metrics>,
    /// Background work started by requests (recording pushes after receive-pack exits), awaited
    /// on graceful shutdown.
    pub tasks: TaskTracker,
}

impl AppState {
    pub fn new(app: App, config: HttpConfig) -> Self {
        AppState { app, config: Arc::new(config), metrics: Arc::new(Metrics::new()), tasks: TaskTracker::new() }
    }
}
