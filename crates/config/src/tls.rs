//! `[tls]`: HTTPS served by `autogit serve` itself. Off by default: behind Traefik (the deployed
//! layout) the proxy terminates TLS.

use crate::ConfigError;
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain, leaf first. With `key_file`, the main listener serves HTTPS.
    pub cert_file: PathBuf,
    /// PEM private key of the certificate.
    pub key_file: PathBuf,
    /// Seconds between checks of the two files; a changed pair is loaded without a restart.
    pub reload_seconds: u64,
    /// A plain-HTTP address that answers every request with a redirect to the HTTPS external URL
    /// (e.g. "0.0.0.0:80"). Empty: none.
    pub redirect_listen: String,
    /// PEM CA certificate(s) (`autogit ca init` writes `<data_dir>/ca/ca.crt`) whose client
    /// certificates the runner port requires.
    pub client_ca_file: PathBuf,
    /// An HTTPS address for runners (e.g. "0.0.0.0:8443") whose handshake requires a client
    /// certificate signed by `client_ca_file`. Empty: none.
    pub runner_listen: String,
    /// The runner API (register, verify, job requests and updates) is refused on the main
    /// listener: runners must come through `runner_listen` with a certificate.
    pub require_runner_certificates: bool,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            cert_file: PathBuf::new(),
            key_file: PathBuf::new(),
            reload_seconds: 60,
            redirect_listen: String::new(),
            client_ca_file: PathBuf::new(),
            runner_listen: String::new(),
            require_runner_certificates: false,
        }
    }
}

impl TlsConfig {
    /// Whether HTTPS is on.
    pub fn enabled(&self) -> bool {
        !self.cert_file.as_os_str().is_empty()
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        if self.cert_file.as_os_str().is_empty() != self.key_file.as_os_str().is_empty() {
            return invalid("tls.cert_file and tls.key_file go together: set both or neither".into());
        }
        if self.reload_seconds == 0 || self.reload_seconds > 86_400 {
            return invalid(format!("tls.reload_seconds = {}: expected 1 to 86400", self.reload_seconds));
        }
        if !self.redirect_listen.is_empty() && !self.enabled() {
            return invalid("tls.redirect_listen needs tls.cert_file and tls.key_file".into());
        }
        if !self.runner_listen.is_empty() && (!self.enabled() || self.client_ca_file.as_os_str().is_empty()) {
            return invalid("tls.runner_listen needs tls.cert_file, tls.key_file and tls.client_ca_file".into());
        }
        if self.require_runner_certificates && self.runner_listen.is_empty() {
            return invalid(
                "tls.require_runner_certificates needs tls.runner_listen, where runners then connect".into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_go_together_and_the_redirect_needs_them() {
        assert!(TlsConfig::default().validate().is_ok());
        let half = TlsConfig { cert_file: "c.pem".into(), ..Default::default() };
        assert!(half.validate().is_err());
        let redirect = TlsConfig { redirect_listen: "0.0.0.0:80".into(), ..Default::default() };
        assert!(redirect.validate().is_err());
        let both = TlsConfig { cert_file: "c.pem".into(), key_file: "k.pem".into(), ..redirect };
        assert!(both.validate().is_ok() && both.enabled());
    }
}
