//! The SSH key port: users' public keys and projects' deploy keys, found by fingerprint when a
//! client authenticates.
//!
//! # Contract (the conformance suite's `ssh_keys` checks pin it)
//! - A key's SHA-256 fingerprint is unique across all keys, users' and deploy keys alike
//!   (`Conflict("fingerprint")`): one key names one identity.
//! - A deploy key belongs to one project and remembers the user who added it; deleting the
//!   project or that user deletes it. Deleting a user deletes their keys.
//! - `delete_ssh_key` changes one record: `NotFound` when missing.
//! - Lists are ordered by id.

use crate::{ProjectId, Result, UserId};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

/// A stored public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshKey {
    pub id: i64,
    /// The owner (a user's key), or the user who added it (a deploy key).
    pub user_id: UserId,
    /// `Some` for a deploy key: the one project it opens.
    pub project_id: Option<ProjectId>,
    pub title: String,
    /// The key in OpenSSH's one-line form (`type base64 [comment]`).
    pub key: String,
    /// `SHA256:` and the unpadded base64 of the key's SHA-256, as OpenSSH prints it.
    pub fingerprint: String,
    /// GitLab's `usage_type`: `auth`, `signing` or `auth_and_signing`.
    pub usage_type: String,
    /// A deploy key that may push.
    pub can_push: bool,
    /// The key is invalid from this day on (UTC), as GitLab's.
    pub expires_at: Option<NaiveDate>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSshKey {
    pub user_id: UserId,
    pub project_id: Option<ProjectId>,
    pub title: String,
    pub key: String,
    pub fingerprint: String,
    pub usage_type: String,
    pub can_push: bool,
    pub expires_at: Option<NaiveDate>,
}

#[async_trait]
pub trait SshKeyStore: Send + Sync {
    /// Conflict("fingerprint") when any key has that fingerprint; Invalid for a missing user or
    /// project.
    async fn create_ssh_key(&self, new: &NewSshKey, now: DateTime<Utc>) -> Result<SshKey>;
    async fn ssh_key_by_id(&self, id: i64) -> Result<Option<SshKey>>;
    async fn ssh_key_by_fingerprint(&self, fingerprint: &str) -> Result<Option<SshKey>>;
    /// A user's own keys (never deploy keys they added).
    async fn list_user_ssh_keys(&self, user_id: UserId) -> Result<Vec<SshKey>>;
    /// A project's deploy keys.
    async fn list_deploy_keys(&self, project_id: ProjectId) -> Result<Vec<SshKey>>;
    /// NotFound if missing.
    async fn delete_ssh_key(&self, id: i64) -> Result<()>;
    async fn touch_ssh_key(&self, id: i64, now: DateTime<Utc>) -> Result<()>;
}
