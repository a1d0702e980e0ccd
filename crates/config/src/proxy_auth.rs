//! `[auth.proxy]`: sign-in by a forward-auth proxy (Authelia behind Traefik), and
//! `[[auth.group_mappings]]`: how single sign-on groups become AutoGit memberships.
//!
//! The identity headers are believed only from `trusted_proxies`, compared with the TCP peer's
//! address (never a forwarding header), and only on browser routes. A catch-all network there
//! would let any client name itself, so it is refused unless explicitly accepted.

use crate::ConfigError;
use crate::metrics::parse_networks;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ProxyAuthConfig {
    /// Believe the identity headers of a trusted proxy on browser routes.
    pub enabled: bool,
    /// Networks (CIDR or single addresses) of the proxies allowed to send identity headers.
    pub trusted_proxies: Vec<String>,
    /// Accept `0.0.0.0/0` or `::/0` in `trusted_proxies`: anyone who reaches AutoGit directly could
    /// then sign in as anyone. Only for a server no client can reach but through the proxy.
    pub allow_any_proxy_i_understand_the_risk: bool,
    pub user_header: String,
    /// Comma-separated group names.
    pub groups_header: String,
    pub email_header: String,
    pub name_header: String,
    /// Create an account for a user the proxy names and AutoGit does not know.
    pub auto_create_users: bool,
}

impl Default for ProxyAuthConfig {
    fn default() -> Self {
        ProxyAuthConfig {
            enabled: false,
            trusted_proxies: vec!["127.0.0.1/32".into(), "::1/128".into()],
            allow_any_proxy_i_understand_the_risk: false,
            user_header: "Remote-User".into(),
            groups_header: "Remote-Groups".into(),
            email_header: "Remote-Email".into(),
            name_header: "Remote-Name".into(),
            auto_create_users: false,
        }
    }
}

/// One single sign-on group and what it gives: a role in an AutoGit group.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GroupMapping {
    /// The group name as the identity provider sends it.
    pub claim: String,
    /// The AutoGit group's full path.
    pub group: String,
    /// GitLab's access level: 10, 20, 30, 40 or 50.
    pub access_level: u64,
}

impl ProxyAuthConfig {
    /// The trusted networks as (address, prefix length); valid after [`crate::Config::load`].
    pub fn trusted_networks(&self) -> Result<Vec<(std::net::IpAddr, u8)>, ConfigError> {
        parse_networks("auth.proxy.trusted_proxies", &self.trusted_proxies)
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let networks = self.trusted_networks()?;
        if !self.enabled {
            return Ok(());
        }
        if networks.is_empty() {
            return Err(ConfigError::Invalid(
                "auth.proxy.enabled needs at least one address in auth.proxy.trusted_proxies".into(),
            ));
        }
        if let Some(i) = networks.iter().position(|(_, prefix)| *prefix == 0)
            && !self.allow_any_proxy_i_understand_the_risk
        {
            return Err(ConfigError::Invalid(format!(
                "auth.proxy.trusted_proxies[{i}] = {:?} trusts every address: any client reaching AutoGit directly \
                 could sign in as anyone. List the proxy's addresses, or set \
                 auth.proxy.allow_any_proxy_i_understand_the_risk = true",
                self.trusted_proxies[i]
            )));
        }
        for (key, value) in [
            ("user_header", &self.user_header),
            ("groups_header", &self.groups_header),
            ("email_header", &self.email_header),
            ("name_header", &self.name_header),
        ] {
            let token = !value.is_empty() && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !token {
                return Err(ConfigError::Invalid(format!("auth.proxy.{key} = {value:?} is not a header name")));
            }
        }
        Ok(())
    }
}

/// `key`: where the mappings are in the file (`auth.group_mappings`), for the errors.
pub(crate) fn validate_mappings(key: &str, mappings: &[GroupMapping]) -> Result<(), ConfigError> {
    for (i, m) in mappings.iter().enumerate() {
        if m.claim.trim().is_empty() || m.group.trim().is_empty() {
            return Err(ConfigError::Invalid(format!("{key}[{i}]: claim and group are required")));
        }
        if ![10, 20, 30, 40, 50].contains(&m.access_level) {
            return Err(ConfigError::Invalid(format!(
                "{key}[{i}].access_level = {}: one of 10, 20, 30, 40, 50",
                m.access_level
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on(trusted: &[&str]) -> ProxyAuthConfig {
        ProxyAuthConfig {
            enabled: true,
            trusted_proxies: trusted.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn a_catch_all_proxy_network_is_refused_unless_accepted() {
        assert!(on(&["10.0.0.2"]).validate().is_ok());
        for any in ["0.0.0.0/0", "::/0"] {
            let err = on(&["10.0.0.2", any]).validate().expect_err("refused").to_string();
            assert!(
                err.contains("trusts every address") && err.contains("allow_any_proxy_i_understand_the_risk"),
                "{err}"
            );
            let accepted = ProxyAuthConfig { allow_any_proxy_i_understand_the_risk: true, ..on(&[any]) };
            assert!(accepted.validate().is_ok());
        }
        assert!(on(&[]).validate().is_err(), "enabled with no proxy");
        assert!(on(&["not-an-address"]).validate().is_err());
        let disabled = ProxyAuthConfig { enabled: false, ..on(&["0.0.0.0/0"]) };
        assert!(disabled.validate().is_ok(), "off: the list is not used");
    }

    #[test]
    fn header_names_and_mappings_are_checked() {
        let bad = ProxyAuthConfig { user_header: "Remote User".into(), ..on(&["127.0.0.1"]) };
        assert!(bad.validate().is_err());
        let m = |level| GroupMapping { claim: "dev".into(), group: "platform".into(), access_level: level };
        assert!(validate_mappings("m", &[m(30)]).is_ok());
        assert!(validate_mappings("m", &[m(35)]).is_err());
    }
}
