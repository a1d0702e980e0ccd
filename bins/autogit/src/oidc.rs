//! The OpenID Connect providers of `[[auth.oidc]]`: each one's client (crates/oidc) and the
//! settings by which its identities become accounts and roles (app `sso`).

use anyhow::{Context, Result};
use autogit_app::{OidcProvider, SsoSettings};
use autogit_config::{ClientAuthMethod, Config, SecretSource};
use autogit_oidc::{OidcClient, ProviderSettings};
use std::sync::Arc;

/// The configured providers, their callbacks under `external_url`. A missing secret or CA file
/// stops the server; an unreachable provider does not (it is asked again at each sign-in), but
/// is logged at start.
pub fn providers(config: &Config, external_url: &str) -> Result<Vec<OidcProvider>> {
    let mut out = Vec::new();
    for p in &config.auth.oidc {
        let secret = p.client_secret(|source| match source {
            SecretSource::File(path) => std::fs::read_to_string(path).map(Some).map_err(|e| e.to_string()),
            SecretSource::Env(name) => Ok(std::env::var(name).ok()),
        })?;
        let ca_pem = match p.ca_file.as_str() {
            "" => None,
            f => Some(std::fs::read(f).with_context(|| format!("auth.oidc[{}].ca_file = {f:?}", p.name))?),
        };
        let client = OidcClient::new(ProviderSettings {
            issuer: p.issuer.clone(),
            client_id: p.client_id.clone(),
            client_secret: secret.expose().to_string(),
            secret_in_body: p.client_auth_method == ClientAuthMethod::Post,
            scopes: p.scopes.clone(),
            redirect_uri: format!("{external_url}/users/auth/{}/callback", p.name),
            username_claim: p.username_claim.clone(),
            groups_claim: p.groups_claim.clone(),
            ca_pem,
        })
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("auth.oidc[{}]", p.name))?;
        let client = Arc::new(client);
        let (check, name, issuer) = (client.clone(), p.name.clone(), p.issuer.clone());
        tokio::spawn(async move {
            match check.discover().await {
                Ok(()) => tracing::info!(provider = %name, %issuer, "OpenID Connect provider ready"),
                Err(e) => {
                    tracing::warn!(provider = %name, %issuer, error = %e, "OpenID Connect provider not reachable yet")
                }
            }
        });
        let settings = SsoSettings {
            auto_create_users: p.auto_create_users,
            admin_groups: p.admin_groups.clone(),
            group_mappings: crate::setup::group_mappings(&p.group_mappings),
            required_groups: p.required_groups.clone(),
            auto_link_by_email: p.auto_link_by_email,
            external_groups: p.external_groups.clone(),
        };
        out.push(OidcProvider { name: p.name.clone(), label: p.label().to_string(), settings, client });
    }
    Ok(out)
}
