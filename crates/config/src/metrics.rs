//! `[metrics]`: who may read `/metrics`. As in GitLab, the endpoint answers only clients from
//! allowed addresses (loopback by default) or presenting the metrics token; everyone else gets
//! a 404, so its existence is not advertised.

use crate::{ConfigError, Secret};
use serde::Deserialize;
use std::net::IpAddr;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Client addresses allowed to read `/metrics`, as CIDR networks (`10.0.0.0/8`) or single
    /// addresses (`192.168.1.5`). The socket's peer address is checked, never a forwarded
    /// header. Default: loopback only, so a Prometheus on the same host works out of the box.
    pub allowed_addresses: Vec<String>,
    /// A token that also allows reading `/metrics` from any address, sent as
    /// `Authorization: Bearer <token>` or `?token=<token>`. Empty: no token is accepted.
    /// At least 16 characters.
    pub token: Secret,
}

/// A list setting of networks, each parsed by [`parse_network`]; an error names the setting, the
/// entry and why.
pub(crate) fn parse_networks(setting: &str, list: &[String]) -> Result<Vec<(IpAddr, u8)>, ConfigError> {
    list.iter()
        .enumerate()
        .map(|(i, text)| {
            parse_network(text).map_err(|why| ConfigError::Invalid(format!("{setting}[{i}] = {text:?}: {why}")))
        })
        .collect()
}

/// Shortest metrics token accepted: it is compared without throttling, so it must not be guessable.
const MIN_TOKEN_CHARS: usize = 16;

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig { allowed_addresses: vec!["127.0.0.0/8".into(), "::1/128".into()], token: Secret::default() }
    }
}

impl MetricsConfig {
    /// The allowed networks as (address, prefix length); valid after [`crate::Config::load`].
    pub fn allowed_networks(&self) -> Result<Vec<(IpAddr, u8)>, ConfigError> {
        parse_networks("metrics.allowed_addresses", &self.allowed_addresses)
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        self.allowed_networks()?;
        let token = self.token.expose();
        if !token.is_empty() && token.chars().count() < MIN_TOKEN_CHARS {
            return Err(ConfigError::Invalid(format!(
                "metrics.token must be at least {MIN_TOKEN_CHARS} characters (or empty to accept no token)"
            )));
        }
        if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ConfigError::Invalid("metrics.token must not contain spaces or control characters".into()));
        }
        Ok(())
    }
}

/// `ADDRESS/PREFIX` or a single `ADDRESS` (a /32 or /128). Host bits under the prefix are
/// allowed (`10.1.2.3/8` means `10.0.0.0/8`), as in GitLab's allow lists.
pub fn parse_network(text: &str) -> Result<(IpAddr, u8), String> {
    let text = text.trim();
    let (addr, prefix) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let addr: IpAddr = addr.parse().map_err(|_| "not an IPv4 or IPv6 address".to_string())?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => max,
        Some(p) => match p.parse::<u8>() {
            Ok(n) if n <= max => n,
            _ => return Err(format!("the prefix length after '/' must be a number from 0 to {max}")),
        },
    };
    Ok((addr, prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_parse_with_and_without_a_prefix() {
        let v4: IpAddr = "10.1.2.3".parse().expect("ip");
        let v6: IpAddr = "::1".parse().expect("ip");
        assert_eq!(parse_network("10.1.2.3/8"), Ok((v4, 8)));
        assert_eq!(parse_network(" 10.1.2.3 "), Ok((v4, 32)));
        assert_eq!(parse_network("::1"), Ok((v6, 128)));
        assert_eq!(parse_network("::1/0"), Ok((v6, 0)));
        for bad in ["", "10.0.0.0/33", "::/129", "10.0.0/8", "10.0.0.0/", "10.0.0.0/-1", "localhost", "10.0.0.0/8/8"] {
            assert!(parse_network(bad).is_err(), "{bad:?} accepted");
        }
    }
}
