//! Who is asking: credentials in, [`Principal`] out. Tokens are looked up by the SHA-256 of their
//! secret, so a database leak does not leak usable tokens; passwords are argon2 hashes.
//!
//! Account passwords are accepted where GitLab accepts them: git over HTTP (HTTP Basic,
//! [`System::authenticate_git`]). The API ([`System::authenticate`]) takes tokens only: a personal
//! access token (`PRIVATE-TOKEN`, `Authorization: Bearer`, or as the HTTP Basic password), or a
//! CI job token. Password checks and their limits are in `sign_in`.

mod gate;
pub mod memory_counter;
mod password;
mod sign_in;
mod work_area;

pub(crate) use sign_in::PasswordChecks;
pub use sign_in::PasswordSettings;

use crate::{App, AppError, Result, System};
use autogit_core::ProjectId;
use autogit_core::scope::{self, ScopeUse};
use autogit_core::{Actor, Scope};
use autogit_store::{User, UserState};
use chrono::{DateTime, TimeDelta, Utc};
use sha2::{Digest, Sha256};
use std::net::IpAddr;

/// How often a token's `last_used_at` is written at most; writing on every request would turn
/// every git fetch into a database write.
const TOKEN_TOUCH_INTERVAL: TimeDelta = TimeDelta::minutes(10);

/// The HTTP Basic username that marks the password as a CI job token.
pub const JOB_TOKEN_USER: &str = "gitlab-ci-token";

/// Credentials as presented by a request.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    None,
    /// A personal access token (`PRIVATE-TOKEN` or `Authorization: Bearer`).
    Token(String),
    /// HTTP Basic: the password may be a personal access token (any username, as GitLab allows),
    /// a CI job token (username `gitlab-ci-token`) or, for git over HTTP only, the user's password.
    Basic {
        username: String,
        password: String,
    },
}

/// The authenticated actor of one request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub actor: Actor,
    pub user: Option<User>,
    /// Scopes of the token used; `None` when authenticated by password (full access) or anonymous.
    pub scopes: Option<Vec<Scope>>,
    /// Authenticated by a CI job token: the only project it may touch (GitLab's default job
    /// token scope: the job's own project), with the pipeline user's role there.
    pub job_project: Option<ProjectId>,
    /// Authenticated by a project's deploy key (SSH): the only project it may touch; its
    /// scopes say whether it may push.
    pub deploy_project: Option<ProjectId>,
    /// Authenticated by a browser session: its id (sign-out ends it).
    pub session_id: Option<i64>,
    /// The client address of the request, for the audit log; `None` for local tools.
    pub address: Option<IpAddr>,
}

impl Principal {
    pub fn anonymous() -> Self {
        Principal {
            actor: Actor::Anonymous,
            user: None,
            scopes: None,
            job_project: None,
            deploy_project: None,
            session_id: None,
            address: None,
        }
    }

    /// A principal for trusted local tools (the admin CLI): acts as the given user, all scopes.
    pub fn trusted(user: User) -> Self {
        Principal {
            actor: Actor::User { id: user.id, admin: user.is_admin, external: user.external },
            user: Some(user),
            scopes: None,
            job_project: None,
            deploy_project: None,
            session_id: None,
            address: None,
        }
    }

    /// The same principal, seen coming from `address`.
    #[must_use]
    pub fn from_address(mut self, address: IpAddr) -> Self {
        self.address = Some(address);
        self
    }

    /// The author of what a runner registration token does (no user, no address).
    pub(crate) fn registration_token() -> Self {
        Principal::anonymous()
    }

    pub fn user(&self) -> Result<&User> {
        self.user.as_ref().ok_or(AppError::Unauthorized)
    }

    pub fn require_admin(&self) -> Result<&User> {
        let u = self.user()?;
        if u.is_admin { Ok(u) } else { Err(AppError::Forbidden(None)) }
    }

    /// Fails with `InsufficientScope` if a token was used that does not grant `usage`.
    pub fn require_scope(&self, usage: ScopeUse) -> Result<()> {
        match &self.scopes {
            Some(scopes) if !scope::allows(scopes, usage) => Err(AppError::InsufficientScope),
            _ => Ok(()),
        }
    }
}

/// The stored form of a token secret.
pub fn token_digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// `len` random ASCII letters and digits from the thread's CSPRNG: the random part of every
/// secret AutoGit hands out (tokens, session cookies, OpenID Connect round-trip values).
pub(crate) fn random_secret(len: usize) -> String {
    use rand::Rng;
    rand::rng().sample_iter(rand::distr::Alphanumeric).take(len).map(char::from).collect()
}

impl App {
    async fn by_any_token(&self, creds: Credentials) -> Result<Principal> {
        match creds {
            Credentials::None => Ok(Principal::anonymous()),
            Credentials::Token(secret) => self.by_token(&secret).await?.ok_or(AppError::Unauthorized),
            Credentials::Basic { password, .. } => self.by_job_token(&password).await,
        }
    }

    async fn by_token(&self, secret: &str) -> Result<Option<Principal>> {
        let now = self.clock.now();
        let Some(token) = self.store.token_by_digest(&token_digest(secret)).await? else {
            return Ok(None);
        };
        if token.revoked || token.expires_at.is_some_and(|d| d <= now.date_naive()) {
            return Err(AppError::Unauthorized);
        }
        let user = self.store.user_by_id(token.user_id).await?.ok_or(AppError::Unauthorized)?;
        if user.state != UserState::Active {
            return Err(AppError::Unauthorized);
        }
        if stale(token.last_used_at, now) {
            // Best effort: a failed touch must not fail the request.
            if let Err(e) = self.store.touch_token(token.id, now).await {
                tracing::warn!(error = %e, token_id = token.id, "could not record token use");
            }
        }
        Ok(Some(Principal {
            actor: Actor::User { id: user.id, admin: user.is_admin, external: user.external },
            user: Some(user),
            scopes: Some(token.scopes),
            job_project: None,
            deploy_project: None,
            session_id: None,
            address: None,
        }))
    }

    /// `gitlab-ci-token:<job token>`: valid while the job runs; reads the job's project's
    /// repository as the pipeline's user, nothing else.
    async fn by_job_token(&self, secret: &str) -> Result<Principal> {
        let job = self.store.job_by_token_digest(&token_digest(secret)).await?.ok_or(AppError::Unauthorized)?;
        let pipeline = self.store.pipeline_by_id(job.pipeline_id).await?.ok_or(AppError::Unauthorized)?;
        let user_id = pipeline.user_id.ok_or(AppError::Unauthorized)?;
        let user = self.store.user_by_id(user_id).await?.ok_or(AppError::Unauthorized)?;
        if user.state != UserState::Active {
            return Err(AppError::Unauthorized);
        }
        Ok(Principal {
            actor: Actor::User { id: user.id, admin: user.is_admin, external: user.external },
            user: Some(user),
            scopes: Some(vec![Scope::ReadRepository]),
            job_project: Some(job.project_id),
            deploy_project: None,
            session_id: None,
            address: None,
        })
    }
}

fn stale(last: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    last.is_none_or(|t| now - t >= TOKEN_TOUCH_INTERVAL)
}

impl System<'_> {
    /// Resolves the credentials of an API request: tokens only. Absent credentials give the
    /// anonymous principal; present but wrong, expired or revoked ones are `Unauthorized` (never
    /// silently anonymous), and an HTTP Basic password that is no token is `PasswordNotAccepted`
    /// (without checking whether it is the account's password).
    pub async fn authenticate(&self, creds: Credentials) -> Result<Principal> {
        match creds {
            Credentials::Basic { username, password } if username != JOB_TOKEN_USER => {
                self.by_token(&password).await?.ok_or(AppError::PasswordNotAccepted)
            }
            other => self.by_any_token(other).await,
        }
    }

    /// Resolves the credentials of a git-over-HTTP request from the client at `peer`: tokens as
    /// for the API, and an account password in HTTP Basic, checked within the limits of
    /// `sign_in` (`SignInLocked`, `PasswordChecksBusy`).
    pub async fn authenticate_git(&self, creds: Credentials, peer: IpAddr) -> Result<Principal> {
        match creds {
            Credentials::Basic { username, password } if username != JOB_TOKEN_USER => {
                if let Some(p) = self.by_token(&password).await? {
                    return Ok(p);
                }
                self.by_password(&username, &password, peer).await
            }
            other => self.by_any_token(other).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_stable_hex() {
        assert_eq!(token_digest("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
