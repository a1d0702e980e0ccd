//! `[ssh]`: git over SSH, served by `autogit serve` itself (off until `listen` is set).

use crate::ConfigError;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SshConfig {
    /// Address and port the SSH server binds to (`0.0.0.0:2222`, `:0` for any free port).
    /// Empty: no SSH server.
    pub listen: String,
    /// Host name in SSH clone URLs (`ssh_url_to_repo`). Empty: the external URL's host.
    pub external_host: String,
    /// Port in SSH clone URLs. 0: the port the server listens on (22 gives `git@host:path`).
    pub external_port: u64,
    /// Connections served at once; more are closed at once.
    pub max_connections: u64,
    /// Connections from one client address (IPv6: per /64) at once; more are closed at once.
    /// 0: no per-address limit.
    pub max_connections_per_address: u64,
    /// Seconds a connection may take to authenticate, and may stay idle afterwards.
    pub timeout_seconds: u64,
}

impl Default for SshConfig {
    fn default() -> Self {
        SshConfig {
            listen: String::new(),
            external_host: String::new(),
            external_port: 0,
            max_connections: 256,
            max_connections_per_address: 32,
            timeout_seconds: 60,
        }
    }
}

impl SshConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        if self.external_port > 65_535 {
            return invalid(format!("ssh.external_port = {}: expected 0 to 65535", self.external_port));
        }
        if self.max_connections == 0 || self.max_connections > 100_000 {
            return invalid(format!("ssh.max_connections = {}: expected 1 to 100000", self.max_connections));
        }
        if self.timeout_seconds == 0 || self.timeout_seconds > 86_400 {
            return invalid(format!("ssh.timeout_seconds = {}: expected 1 to 86400", self.timeout_seconds));
        }
        if self.external_host.chars().any(|c| c.is_whitespace() || c == '/' || c == '@') {
            return invalid(format!("ssh.external_host = {:?}: a host name or address only", self.external_host));
        }
        Ok(())
    }
}
