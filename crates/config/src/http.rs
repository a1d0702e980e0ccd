//! `[http]`: how the HTTP server treats connections — time limits, connection caps and the
//! graceful-shutdown deadline. The defaults are sized for a homelab instance that may sit behind
//! NAT or a reverse proxy, where many real clients share one source address.

use crate::ConfigError;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct HttpServerConfig {
    /// Seconds a client has to send a complete request head (request line and headers), counted
    /// from its first byte. 30 s (hyper's and roughly nginx's default) is ample for a slow link to
    /// send a few KiB of headers, and short enough that half-sent requests do not pile up.
    pub header_read_timeout_seconds: u64,
    /// Seconds a connection may stay open with no request in flight and no new request begun
    /// (keep-alive between requests) before the server closes it. 60 s outlives the pauses of
    /// git and runner clients between requests, which reuse their connections. A request in
    /// flight (a held `jobs/request`, a long clone or push) is cut by it only while its client
    /// stalls: the server has waited this long for body bytes that do not come, or for the client
    /// to read the answer (nginx's `client_body_timeout` and `send_timeout`).
    pub idle_timeout_seconds: u64,
    /// Connections served at once; more are answered `503` and closed. Lowered at start to half
    /// of the process's open-file limit (the other half stays for the database, repositories and
    /// git's pipes), so accepting never fails for lack of file descriptors. 512 fits the common
    /// 1024 limit unchanged and is far above what a homelab's users and runners open.
    pub max_connections: u64,
    /// Connections served at once from one client address (an IPv6 client's /64 counts as one
    /// address); 0 = no per-address cap. 128 leaves room for many users behind one NAT address
    /// or reverse proxy (every proxied connection has the proxy's address), while one client
    /// alone cannot take every connection. Set 0 behind a proxy if `max_connections` is the cap
    /// you want.
    pub max_connections_per_address: u64,
    /// Seconds that requests in flight (clones, pushes) get to finish after SIGTERM/SIGINT;
    /// connections still open then are closed. 30 s stays under systemd's default stop timeout
    /// (90 s) and matches Kubernetes' default grace period.
    pub shutdown_timeout_seconds: u64,
}

impl Default for HttpServerConfig {
    fn default() -> Self {
        HttpServerConfig {
            header_read_timeout_seconds: 30,
            idle_timeout_seconds: 60,
            max_connections: 512,
            max_connections_per_address: 128,
            shutdown_timeout_seconds: 30,
        }
    }
}

impl HttpServerConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        for (key, value) in [
            ("header_read_timeout_seconds", self.header_read_timeout_seconds),
            ("idle_timeout_seconds", self.idle_timeout_seconds),
            ("max_connections", self.max_connections),
        ] {
            if value == 0 {
                return Err(ConfigError::Invalid(format!("http.{key} must be at least 1")));
            }
        }
        // Beyond a day a timeout no longer protects anything; a typo (ms for s) is likelier.
        for (key, value) in [
            ("header_read_timeout_seconds", self.header_read_timeout_seconds),
            ("idle_timeout_seconds", self.idle_timeout_seconds),
            ("shutdown_timeout_seconds", self.shutdown_timeout_seconds),
        ] {
            if value > 86_400 {
                return Err(ConfigError::Invalid(format!("http.{key} = {value}: at most 86400 (a day)")));
            }
        }
        if self.max_connections > 1_000_000 {
            return Err(ConfigError::Invalid("http.max_connections must be at most 1000000".into()));
        }
        if self.max_connections_per_address > self.max_connections {
            return Err(ConfigError::Invalid(format!(
                "http.max_connections_per_address = {} is above http.max_connections = {}",
                self.max_connections_per_address, self.max_connections
            )));
        }
        Ok(())
    }
}
