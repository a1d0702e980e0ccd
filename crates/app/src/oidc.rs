//! OpenID Connect sign-in: the authorization code flow with PKCE and a nonce, against the
//! providers the server configures (`[[auth.oidc]]`). This module owns the round trip's state and
//! the decisions (who may sign in, which account, which roles); the protocol itself (discovery,
//! the token request, ID token verification) is behind the [`IdentityProvider`] port.
//!
//! # Who is trusted
//! - The provider, for what its verified ID token says: issuer, subject, email (and whether it
//!   verified it), username and groups. The account is found by (issuer, subject), never by name;
//!   an email address links an existing account only when the provider verified it and the
//!   provider's settings allow it (`auto_link_by_email`).
//! - Not the browser: the callback's `state` must equal the one stored for the browser's attempt
//!   cookie, which is taken once and lives ten minutes; the ID token must carry the attempt's
//!   nonce; the code is redeemed with the attempt's PKCE verifier. Failed callbacks count
//!   against the address's failure limit shared with passwords and SSH keys.
//!
//! # Port contract ([`IdentityProvider`])
//! - `authorization_url` builds the provider's authorization URL for the request's state, nonce
//!   and the S256 challenge of its verifier, with the configured scopes and redirect URI.
//! - `redeem` exchanges the code (sending the verifier), then verifies the ID token: signature
//!   against the provider's keys, issuer, audience (the client id), expiry and nonce. Only then
//!   does it answer claims. `Refused` is the provider's or the token's fault (a bad code, a wrong
//!   nonce); `Unavailable` is the provider not answering as it should (network, discovery).

use crate::audit::Entry;
use crate::auth::{random_secret, token_digest};
use crate::sessions::IssuedSession;
use crate::sso::SsoSettings;
use crate::{AppError, Principal, Result, System, same_token};
use async_trait::async_trait;
use autogit_core::audit::AuditAction;
use autogit_core::name;
use autogit_store::{ExternalIdentity, NewSignInAttempt, User};
use chrono::TimeDelta;
use std::net::IpAddr;
use std::sync::Arc;

/// How long a browser may take at the provider.
const ATTEMPT_TTL: TimeDelta = TimeDelta::minutes(10);
/// Lengths of the attempt's random values (alphanumerics; the verifier within RFC 7636's 43–128).
const SECRET_LEN: usize = 40;
const VERIFIER_LEN: usize = 64;
/// Numbered usernames tried when the one a provider gives is taken (`alice`, `alice1`, …).
const USERNAME_TRIES: u32 = 20;

/// The single-use values of one round trip to a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcRequest {
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

/// What a provider's verified ID token (and its userinfo) say about the user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OidcClaims {
    pub issuer: String,
    pub subject: String,
    /// The configured username claim.
    pub username: Option<String>,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    /// The configured groups claim.
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderError {
    /// The provider or its token refused the sign-in (the reason, for the user and the log).
    Refused(String),
    /// The provider could not be reached or answered nonsense.
    Unavailable(String),
}

#[async_trait]
pub trait IdentityProvider: Send + Sync {
    /// The origin (`scheme://host[:port]`) browsers are sent to: the discovered authorization
    /// endpoint's, or the issuer's before discovery. The sign-in page lets its forms lead there
    /// (CSP `form-action`, which browsers apply to the start's redirect too).
    fn authorization_origin(&self) -> String;
    async fn authorization_url(&self, request: &OidcRequest) -> std::result::Result<String, ProviderError>;
    async fn redeem(&self, code: &str, request: &OidcRequest) -> std::result::Result<OidcClaims, ProviderError>;
}

/// A configured provider: its name (in URLs and identities), its button's label, how its
/// identities become accounts and roles, and its client.
#[derive(Clone)]
pub struct OidcProvider {
    pub name: String,
    pub label: String,
    pub settings: SsoSettings,
    pub client: Arc<dyn IdentityProvider>,
}

/// A provider's button on the sign-in page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcButton {
    pub name: String,
    pub label: String,
    /// Where its sign-in leads the browser ([`IdentityProvider::authorization_origin`]).
    pub origin: String,
}

/// A sign-in sent to a provider: where the browser goes, and the attempt cookie's secret.
#[derive(Debug)]
pub struct OidcStarted {
    pub url: String,
    pub attempt_secret: String,
}

/// What the provider sent back to the callback, with the `state` it carried.
#[derive(Debug, Clone, Copy)]
pub struct OidcCallback<'a> {
    pub state: &'a str,
    pub outcome: OidcOutcome<'a>,
}

#[derive(Debug, Clone, Copy)]
pub enum OidcOutcome<'a> {
    Code(&'a str),
    /// The provider's `error` and `error_description` (the user declined, for example).
    Error {
        error: &'a str,
        description: &'a str,
    },
}

impl crate::App {
    /// The configured providers' buttons, in configuration order.
    pub fn oidc_providers(&self) -> Vec<OidcButton> {
        self.oidc
            .iter()
            .map(|p| OidcButton {
                name: p.name.clone(),
                label: p.label.clone(),
                origin: p.client.authorization_origin(),
            })
            .collect()
    }

    fn oidc_provider(&self, name: &str) -> Result<&OidcProvider> {
        self.oidc.iter().find(|p| p.name == name).ok_or(AppError::NotFound("Identity provider"))
    }
}

impl System<'_> {
    /// Starts a sign-in at provider `name`: stores the attempt and answers the URL to send the
    /// browser to.
    pub async fn oidc_start(&self, name: &str) -> Result<OidcStarted> {
        let provider = self.oidc_provider(name)?;
        let request = OidcRequest {
            state: random_secret(SECRET_LEN),
            nonce: random_secret(SECRET_LEN),
            pkce_verifier: random_secret(VERIFIER_LEN),
        };
        let url = provider.client.authorization_url(&request).await.map_err(provider_error)?;
        let attempt_secret = random_secret(SECRET_LEN);
        let now = self.clock.now();
        let new = NewSignInAttempt {
            digest: token_digest(&attempt_secret),
            provider: provider.name.clone(),
            state: request.state,
            nonce: request.nonce,
            pkce_verifier: request.pkce_verifier,
            expires_at: now + ATTEMPT_TTL,
        };
        self.sessions.store.create_sign_in_attempt(&new, now).await?;
        Ok(OidcStarted { url, attempt_secret })
    }

    /// Finishes a sign-in at provider `name` from its callback: checks the attempt, redeems the
    /// code, applies the provider's settings and starts a session.
    pub async fn oidc_finish(
        &self,
        name: &str,
        attempt_secret: Option<&str>,
        callback: OidcCallback<'_>,
        peer: IpAddr,
        user_agent: &str,
    ) -> Result<(Principal, IssuedSession)> {
        let provider = self.oidc_provider(name)?;
        if let Some(secs) = self.address_locked(peer).await? {
            return Err(AppError::SignInLocked(secs));
        }
        let attempt = match attempt_secret {
            Some(s) => self.sessions.store.take_sign_in_attempt(&token_digest(s)).await?,
            None => None,
        };
        let now = self.clock.now();
        let valid = attempt
            .filter(|a| a.provider == provider.name && a.expires_at > now && same_token(&a.state, callback.state));
        // Only an answer to this browser's own sign-in is read, an error included: its text is
        // then the provider's, not that of whoever made the link.
        let Some(attempt) = valid else {
            return Err(self.oidc_refused(provider, "no sign-in in progress matches this answer (state)", peer).await);
        };
        let code = match callback.outcome {
            OidcOutcome::Code(code) => code,
            OidcOutcome::Error { error, description } => {
                let shown: String =
                    format!("{error}: {description}").chars().filter(|c| !c.is_control()).take(200).collect();
                return Err(AppError::Forbidden(Some(format!("{} refused the sign-in ({shown})", provider.label))));
            }
        };
        let request = OidcRequest { state: attempt.state, nonce: attempt.nonce, pkce_verifier: attempt.pkce_verifier };
        let claims = match provider.client.redeem(code, &request).await {
            Ok(c) => c,
            Err(ProviderError::Refused(why)) => return Err(self.oidc_refused(provider, &why, peer).await),
            Err(e) => return Err(provider_error(e)),
        };
        let shown = claims.username.clone().unwrap_or_else(|| claims.subject.clone());
        if !provider.settings.admits(&claims.groups) {
            tracing::info!(provider = %provider.name, user = %shown, groups = ?claims.groups, "sign-in refused: no required group");
            self.audit_failed_sso(&shown, &provider.name, "not in a required group", peer).await;
            return Err(AppError::Forbidden(Some(format!(
                "your {} groups do not include one that may sign in to AutoGit",
                provider.label
            ))));
        }
        let user = match self.oidc_account(provider, &claims).await {
            Ok(u) => u,
            Err(e) => {
                self.audit_failed_sso(&shown, &provider.name, "no account", peer).await;
                return Err(e);
            }
        };
        if user.state != autogit_store::UserState::Active {
            self.audit_failed_sso(&user.username, &provider.name, "account blocked", peer).await;
            return Err(AppError::Forbidden(Some("your AutoGit account is blocked".into())));
        }
        tracing::info!(provider = %provider.name, user = %user.username, groups = ?claims.groups, "OpenID Connect sign-in");
        let how = format!("OpenID Connect ({})", provider.name);
        self.sso_session(user, &claims.groups, &provider.settings, peer, user_agent, &how).await
    }

    /// A refused callback: counted against the address, logged and audited; the error to show.
    async fn oidc_refused(&self, provider: &OidcProvider, why: &str, peer: IpAddr) -> AppError {
        tracing::warn!(provider = %provider.name, %peer, reason = %why, "OpenID Connect callback refused");
        if let Err(e) = self.count_address_failure(peer).await {
            tracing::warn!(error = %e, "could not count a failed sign-in");
        }
        self.audit_failed_sso("(unknown)", &provider.name, why, peer).await;
        AppError::Invalid("sign_in", format!("signing in with {} failed: {why}. Start again.", provider.label))
    }

    /// The account of the identity: the linked one; else, per the provider's settings, the one
    /// with the same verified email (then linked), or a new one (then linked).
    async fn oidc_account(&self, provider: &OidcProvider, c: &OidcClaims) -> Result<User> {
        if let Some(u) = self.store.user_by_identity(&c.issuer, &c.subject).await? {
            return Ok(u);
        }
        let settings = &provider.settings;
        let email = c.email.as_deref().filter(|e| !e.is_empty());
        if settings.auto_link_by_email
            && c.email_verified
            && let Some(email) = email
            && let Some(u) = self.store.user_by_email(email).await?
        {
            self.link(provider, c, &u).await?;
            return Ok(u);
        }
        if !settings.auto_create_users {
            return Err(AppError::Forbidden(Some(format!(
                "no AutoGit account is linked to your {} identity, and accounts are not created at sign-in \
                 (auth.oidc auto_create_users); ask an administrator",
                provider.label
            ))));
        }
        let base = username_from(c);
        let mut user = None;
        for n in 0..USERNAME_TRIES {
            let candidate = if n == 0 { base.clone() } else { format!("{base}{n}") };
            match self.create_sso_user(&candidate, email, c.name.as_deref()).await {
                Ok(u) => {
                    user = Some(u);
                    break;
                }
                Err(AppError::Conflict(field, _)) if field == "username" || field == "path" || field == "namespace" => {
                }
                Err(e) => return Err(e),
            }
        }
        let user = user.ok_or_else(|| {
            AppError::Conflict("username".into(), format!("{base} and {base}1..{base}{} are taken", USERNAME_TRIES - 1))
        })?;
        self.link(provider, c, &user).await?;
        Ok(user)
    }

    async fn link(&self, provider: &OidcProvider, c: &OidcClaims, user: &User) -> Result<()> {
        let identity = ExternalIdentity {
            user_id: user.id,
            provider: provider.name.clone(),
            issuer: c.issuer.clone(),
            subject: c.subject.clone(),
            created_at: self.clock.now(),
        };
        match self.store.link_identity(&identity).await {
            Ok(()) => {}
            Err(autogit_store::StoreError::Conflict(f)) if f == "provider" => {
                return Err(AppError::Forbidden(Some(format!(
                    "the account {} is linked to another {} identity",
                    user.username, provider.label
                ))));
            }
            Err(e) => return Err(e.into()),
        }
        let entry = Entry::user(AuditAction::IdentityLinked, user).target("Identity", 0, provider.name.clone());
        self.audit(&Principal::trusted(user.clone()), entry).await;
        Ok(())
    }
}

fn provider_error(e: ProviderError) -> AppError {
    match e {
        ProviderError::Refused(m) | ProviderError::Unavailable(m) => {
            tracing::warn!(error = %m, "identity provider");
            AppError::Unavailable(format!("the identity provider is not answering as expected: {m}"))
        }
    }
}

/// A valid username from the claims: the username claim, else the email's local part, else
/// `user`; characters a path may not hold become `-`.
fn username_from(c: &OidcClaims) -> String {
    let raw = c
        .username
        .clone()
        .filter(|u| !u.trim().is_empty())
        .or_else(|| c.email.as_deref().and_then(|e| e.split('@').next()).map(str::to_string))
        .unwrap_or_default();
    let cleaned: String = raw
        .chars()
        .take(200)
        .map(|ch| if ch.is_ascii_alphanumeric() || matches!(ch, '_' | '.' | '-') { ch } else { '-' })
        .collect();
    let cleaned = cleaned.trim_matches(|ch: char| !ch.is_ascii_alphanumeric()).to_string();
    if name::validate_top_level_path("username", &cleaned).is_ok() { cleaned } else { "user".to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(username: Option<&str>, email: Option<&str>) -> OidcClaims {
        OidcClaims { username: username.map(str::to_string), email: email.map(str::to_string), ..Default::default() }
    }

    #[test]
    fn usernames_are_made_valid() {
        assert_eq!(username_from(&claims(Some("alice"), None)), "alice");
        assert_eq!(username_from(&claims(Some("Alice Smith"), None)), "Alice-Smith");
        assert_eq!(username_from(&claims(None, Some("bob.jones@example.test"))), "bob.jones");
        assert_eq!(username_from(&claims(Some("../../etc"), None)), "etc");
        assert_eq!(username_from(&claims(Some("ключ"), None)), "user");
        assert_eq!(username_from(&claims(None, None)), "user");
    }
}
