//! The external-identity port: which account an identity provider's subject signs in as.
//!
//! # Contract (the conformance suite's `external_identities` checks pin it)
//! - An identity is the pair (issuer, subject), as the provider's ID tokens carry it; the email
//!   address plays no part in the key. It links to at most one account (`Conflict("identity")`),
//!   and an account holds at most one identity per provider name (`Conflict("provider")`).
//! - `link_identity` for a user that does not exist is `Invalid`.
//! - `identities_of` lists a user's identities ordered by provider name.

use crate::{Result, User, UserId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// A link between an account and an identity provider's subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalIdentity {
    pub user_id: UserId,
    /// The provider's configured name (GitLab's `provider`, e.g. `openid_connect`).
    pub provider: String,
    /// The provider's issuer URL, exactly as in its tokens' `iss`.
    pub issuer: String,
    /// The token's `sub` (GitLab's `extern_uid`).
    pub subject: String,
    pub created_at: DateTime<Utc>,
}

#[async_trait]
pub trait ExternalIdentityStore: Send + Sync {
    /// The account `(issuer, subject)` is linked to.
    async fn user_by_identity(&self, issuer: &str, subject: &str) -> Result<Option<User>>;
    /// Links the identity to the user (see the contract's conflicts).
    async fn link_identity(&self, identity: &ExternalIdentity) -> Result<()>;
    async fn identities_of(&self, user_id: UserId) -> Result<Vec<ExternalIdentity>>;
}
