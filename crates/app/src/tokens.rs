//! Personal access tokens: `glpat-` + 32 random characters; only the SHA-256 digest is stored.

use crate::audit::Entry;
use crate::auth::token_digest;
use crate::{App, AppError, Principal, Result, System};
use autogit_core::UserId;
use autogit_core::audit::AuditAction;
use autogit_core::scope;
use autogit_store::{Listed, NewToken, Page, Token};
use chrono::NaiveDate;

/// GitLab's prefix, so secret scanners that know GitLab tokens recognise ours.
pub const TOKEN_PREFIX: &str = "glpat-";
const TOKEN_RANDOM_LEN: usize = 32;

#[derive(Debug, Clone, Default)]
pub struct CreateToken {
    pub name: String,
    pub scopes: Vec<String>,
    pub expires_at: Option<NaiveDate>,
}

/// A freshly created token: the only moment its secret exists outside the client.
pub struct IssuedToken {
    pub token: Token,
    pub secret: String,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken").field("token", &self.token).field("secret", &"[redacted]").finish()
    }
}

impl App {
    /// Creates a token for `user_id` (administrators only, as `POST /users/:id/personal_access_tokens`).
    pub async fn create_token(&self, who: &Principal, user_id: UserId, req: CreateToken) -> Result<IssuedToken> {
        who.require_admin()?;
        let issued = self.system().insert_token(user_id, req).await?;
        self.audit_token(who, AuditAction::PersonalAccessTokenCreated, &issued.token).await?;
        Ok(issued)
    }

    /// Creates a token for the acting person themselves (GitLab's access tokens page). Only a
    /// person signed in interactively (a browser session or a password) may: a token or a CI
    /// job cannot mint tokens that outlive it.
    pub async fn create_own_token(&self, who: &Principal, req: CreateToken) -> Result<IssuedToken> {
        let me = who.user()?;
        if who.scopes.is_some() || who.job_project.is_some() || who.deploy_project.is_some() {
            return Err(AppError::Forbidden(Some("tokens are created from a signed-in session".into())));
        }
        let issued = self.system().insert_token(me.id, req).await?;
        self.audit_token(who, AuditAction::PersonalAccessTokenCreated, &issued.token).await?;
        Ok(issued)
    }

    async fn audit_token(&self, who: &Principal, action: AuditAction, t: &Token) -> Result<()> {
        let owner = self.store.user_by_id(t.user_id).await?.ok_or(AppError::NotFound("User"))?;
        self.audit(who, Entry::user(action, &owner).target("PersonalAccessToken", t.id, t.name.clone())).await;
        Ok(())
    }

    /// Tokens visible to the principal: their own, or (administrators) anyone's.
    pub async fn list_tokens(&self, who: &Principal, user_id: Option<UserId>, page: Page) -> Result<Listed<Token>> {
        let me = who.user()?;
        let target = match (me.is_admin, user_id) {
            (true, u) => u,
            (false, None) => Some(me.id),
            (false, Some(u)) if u == me.id => Some(u),
            (false, Some(_)) => return Err(AppError::Forbidden(None)),
        };
        Ok(self.store.list_tokens(target, page).await?)
    }

    pub async fn get_token(&self, who: &Principal, id: i64) -> Result<Token> {
        let me = who.user()?;
        let token = self.store.token_by_id(id).await?.ok_or(AppError::NotFound("Token"))?;
        if token.user_id != me.id && !me.is_admin {
            return Err(AppError::NotFound("Token"));
        }
        Ok(token)
    }

    pub async fn revoke_token(&self, who: &Principal, id: i64) -> Result<()> {
        let token = self.get_token(who, id).await?;
        self.store.revoke_token(token.id).await?;
        self.audit_token(who, AuditAction::PersonalAccessTokenRevoked, &token).await
    }
}

fn generate_secret() -> String {
    format!("{TOKEN_PREFIX}{}", crate::auth::random_secret(TOKEN_RANDOM_LEN))
}

impl System<'_> {
    /// Creates a token without an actor check (admin CLI).
    pub async fn insert_token(&self, user_id: UserId, req: CreateToken) -> Result<IssuedToken> {
        if req.name.trim().is_empty() {
            return Err(AppError::Missing("name"));
        }
        if req.name.len() > 255 {
            return Err(AppError::Invalid("name", "is too long (maximum is 255 characters)".into()));
        }
        if req.scopes.is_empty() {
            return Err(AppError::Missing("scopes"));
        }
        let scopes = scope::parse_list(req.scopes.iter().map(String::as_str))
            .map_err(|bad| AppError::Invalid("scopes", format!("'{bad}' is not a valid scope")))?;
        let today = self.clock.now().date_naive();
        if req.expires_at.is_some_and(|d| d <= today) {
            return Err(AppError::Invalid("expires_at", "must be in the future".into()));
        }
        self.store.user_by_id(user_id).await?.ok_or(AppError::NotFound("User"))?;
        let secret = generate_secret();
        let new =
            NewToken { user_id, name: req.name, digest: token_digest(&secret), scopes, expires_at: req.expires_at };
        let token = self.store.create_token(&new, self.clock.now()).await?;
        Ok(IssuedToken { token, secret })
    }
}
