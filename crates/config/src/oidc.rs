//! `[[auth.oidc]]`: OpenID Connect providers people sign in with (authorization code flow with
//! PKCE and nonce), with GitLab's knobs. Each provider is a button on the sign-in page; its
//! callback is `<external_url>/users/auth/<name>/callback`.
//!
//! The client secret is read from a file or an environment variable named here, never from this
//! file itself (a `client_secret` key is refused), so the configuration can be shared and logged.

use crate::proxy_auth::{GroupMapping, validate_mappings};
use crate::{ConfigError, Secret};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct OidcProviderConfig {
    /// The provider's name in URLs and in users' identities (GitLab's default is `openid_connect`):
    /// lowercase letters, digits, `_` and `-`.
    pub name: String,
    /// The sign-in button's text (default: the name).
    pub label: String,
    /// The issuer URL, exactly as in the provider's tokens (`iss`); discovery reads
    /// `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    /// A file holding the client secret (trailing whitespace ignored).
    pub client_secret_file: String,
    /// An environment variable holding the client secret.
    pub client_secret_env: String,
    /// How the secret reaches the token endpoint: `basic` (HTTP Basic, the default) or `post`
    /// (form fields).
    pub client_auth_method: ClientAuthMethod,
    pub scopes: Vec<String>,
    /// The claim that becomes the username of a created account.
    pub username_claim: String,
    /// The claim that lists the user's groups (read from the ID token, else from userinfo).
    pub groups_claim: String,
    /// When not empty, only members of one of these groups may sign in.
    pub required_groups: Vec<String>,
    /// Members of these groups are administrators, others are not (re-evaluated at every
    /// sign-in; empty: sign-in never changes who is an administrator).
    pub admin_groups: Vec<String>,
    /// Members of these groups are external users: they see only public projects and those they
    /// are members of, and create no projects or groups (re-evaluated at every sign-in).
    pub external_groups: Vec<String>,
    /// Create an account at the first sign-in of an identity no account is linked to (GitLab's
    /// `omniauth_allow_single_sign_on`). Off: only linked or email-linked accounts sign in.
    pub auto_create_users: bool,
    /// Link an existing account with the same email address, when the provider says the address
    /// is verified (`email_verified`); GitLab's `omniauth_auto_link_user`.
    pub auto_link_by_email: bool,
    /// PEM certificates to trust for the issuer instead of the system's (an internal CA).
    pub ca_file: String,
    /// The provider's groups → AutoGit group memberships, applied at every sign-in.
    pub group_mappings: Vec<GroupMapping>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMethod {
    #[default]
    Basic,
    Post,
}

impl Default for OidcProviderConfig {
    fn default() -> Self {
        OidcProviderConfig {
            name: "openid_connect".into(),
            label: String::new(),
            issuer: String::new(),
            client_id: String::new(),
            client_secret_file: String::new(),
            client_secret_env: String::new(),
            client_auth_method: ClientAuthMethod::Basic,
            scopes: vec!["openid".into(), "profile".into(), "email".into()],
            username_claim: "preferred_username".into(),
            groups_claim: "groups".into(),
            required_groups: Vec::new(),
            admin_groups: Vec::new(),
            external_groups: Vec::new(),
            auto_create_users: false,
            auto_link_by_email: false,
            ca_file: String::new(),
            group_mappings: Vec::new(),
        }
    }
}

impl OidcProviderConfig {
    /// The button's text.
    pub fn label(&self) -> &str {
        if self.label.trim().is_empty() { &self.name } else { &self.label }
    }

    /// The client secret from what `read` finds for its source (the caller reads the file or
    /// the environment: this crate does no I/O): `Ok(None)` from `read` is a missing variable.
    pub fn client_secret(
        &self,
        read: impl FnOnce(SecretSource<'_>) -> Result<Option<String>, String>,
    ) -> Result<Secret, ConfigError> {
        let (key, source) = if self.client_secret_file.is_empty() {
            ("client_secret_env", SecretSource::Env(&self.client_secret_env))
        } else {
            ("client_secret_file", SecretSource::File(&self.client_secret_file))
        };
        let (SecretSource::Env(named) | SecretSource::File(named)) = source;
        let at = format!("auth.oidc[{}].{key} = {named:?}", self.name);
        let value = match read(source) {
            Ok(Some(v)) => v,
            Ok(None) => return Err(ConfigError::Invalid(format!("{at}: the variable is not set"))),
            Err(e) => return Err(ConfigError::Invalid(format!("{at}: {e}"))),
        };
        let value = value.trim_end();
        if value.is_empty() {
            return Err(ConfigError::Invalid(format!("{at}: the client secret is empty")));
        }
        Ok(Secret::new(value))
    }
}

/// Where a provider's client secret is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretSource<'a> {
    File(&'a str),
    Env(&'a str),
}

pub(crate) fn validate_providers(providers: &[OidcProviderConfig]) -> Result<(), ConfigError> {
    let mut seen = std::collections::BTreeSet::new();
    for (i, p) in providers.iter().enumerate() {
        let invalid = |m: String| Err(ConfigError::Invalid(format!("auth.oidc[{i}] ({}): {m}", p.name)));
        let name_ok = !p.name.is_empty()
            && p.name.len() <= 64
            && p.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !name_ok {
            return invalid("name: 1 to 64 lowercase letters, digits, '_' or '-'".into());
        }
        if !seen.insert(p.name.as_str()) {
            return invalid("name: two providers have this name".into());
        }
        let https = p.issuer.starts_with("https://");
        let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"].iter().any(|l| {
            p.issuer
                .strip_prefix(l)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(':') || rest.starts_with('/'))
        });
        if !https && !loopback {
            return invalid(format!(
                "issuer = {:?}: an https:// URL (plain http only on this machine's loopback)",
                p.issuer
            ));
        }
        if p.client_id.trim().is_empty() {
            return invalid("client_id is required".into());
        }
        match (p.client_secret_file.is_empty(), p.client_secret_env.is_empty()) {
            (true, true) => return invalid("set client_secret_file or client_secret_env".into()),
            (false, false) => return invalid("set one of client_secret_file and client_secret_env, not both".into()),
            _ => {}
        }
        if !p.scopes.iter().any(|s| s == "openid") {
            return invalid("scopes must include \"openid\"".into());
        }
        if p.username_claim.is_empty() || p.groups_claim.is_empty() {
            return invalid("username_claim and groups_claim may not be empty".into());
        }
        validate_mappings(&format!("auth.oidc[{i}].group_mappings"), &p.group_mappings)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider() -> OidcProviderConfig {
        OidcProviderConfig {
            issuer: "https://idp.example.test".into(),
            client_id: "autogit".into(),
            client_secret_env: "SECRET".into(),
            ..Default::default()
        }
    }

    fn refused(p: OidcProviderConfig, needle: &str) {
        let err = validate_providers(&[p]).expect_err("refused").to_string();
        assert!(err.contains(needle), "{err}");
    }

    #[test]
    fn providers_are_checked_with_the_key_in_the_error() {
        assert!(validate_providers(&[provider()]).is_ok());
        refused(OidcProviderConfig { issuer: "http://idp.example.test".into(), ..provider() }, "issuer");
        refused(OidcProviderConfig { issuer: "http://127.0.0.1.evil.test".into(), ..provider() }, "issuer");
        assert!(
            validate_providers(&[OidcProviderConfig { issuer: "http://127.0.0.1:9400".into(), ..provider() }]).is_ok()
        );
        refused(OidcProviderConfig { name: "Open ID".into(), ..provider() }, "name");
        refused(OidcProviderConfig { client_secret_env: String::new(), ..provider() }, "client_secret_file");
        refused(OidcProviderConfig { client_secret_file: "/x".into(), ..provider() }, "not both");
        refused(OidcProviderConfig { scopes: vec!["email".into()], ..provider() }, "openid");
        assert!(validate_providers(&[provider(), provider()]).expect_err("dup").to_string().contains("two providers"));
    }

    #[test]
    fn the_secret_comes_from_a_file_or_the_environment_never_the_toml() {
        let p = provider();
        let env = |s: SecretSource<'_>| Ok((s == SecretSource::Env("SECRET")).then(|| "s3cret\n".to_string()));
        assert_eq!(p.client_secret(env).expect("env").expose(), "s3cret");
        assert!(p.client_secret(|_| Ok(None)).expect_err("unset").to_string().contains("not set"));
        assert!(p.client_secret(|_| Ok(Some(" \n".into()))).expect_err("empty").to_string().contains("empty"));
        let p = OidcProviderConfig {
            client_secret_env: String::new(),
            client_secret_file: "/run/secrets/oidc".into(),
            ..provider()
        };
        let file =
            |s: SecretSource<'_>| Ok((s == SecretSource::File("/run/secrets/oidc")).then(|| "from-file\n".into()));
        assert_eq!(p.client_secret(file).expect("file").expose(), "from-file");
        let err = p.client_secret(|_| Err("No such file".into())).expect_err("unreadable").to_string();
        assert!(err.contains("client_secret_file") && err.contains("No such file"), "{err}");
        let inline = "[[auth.oidc]]\nissuer = \"https://idp.example.test\"\nclient_id = \"a\"\nclient_secret = \"x\"\n";
        let err = toml::from_str::<crate::Config>(inline).expect_err("refused").to_string();
        assert!(err.contains("client_secret"), "{err}");
    }
}
