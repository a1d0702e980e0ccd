//! Storage ports of AutoGit: one small async trait per aggregate, the records they exchange, and
//! [`StoreError`].
//!
//! # Contract (every adapter must hold it; the `conformance` suite checks it)
//! - Every method is atomic: it either fully happens or leaves nothing behind. Methods that write
//!   several rows (a user with its personal namespace, a group with its first owner, a project with
//!   its creator's membership) do so in one transaction.
//! - Paths (usernames, namespace and project paths) are unique case-insensitively; a clash is
//!   [`StoreError::Conflict`] naming the field, never a partial write.
//! - `NotFound` is returned only by methods that address one record by id and must change it;
//!   lookups return `Ok(None)` instead.
//! - Lists are ordered by id ascending unless the method says otherwise, and return the total
//!   count before paging so that the API can fill `X-Total`.
//! - Timestamps are passed in by the caller (`now`); adapters never read the clock, so tests are
//!   deterministic. They are stored with at least millisecond precision in UTC.
//! - Adapters are `Send + Sync` and safe to call concurrently.
//! - No adapter type (sqlx, …) appears in this crate: errors are mapped at the adapter.
//! - Domain words (statuses, `when`, failure reasons) are typed; a stored spelling that does not
//!   parse is [`StoreError::Unavailable`] naming the column and the value, never a default.

mod audit;
pub mod blob;
mod ci;
mod commit_statuses;
mod error;
pub mod failures;
mod hooks;
mod identities;
mod protected;
mod push_records;
mod records;
pub mod sessions;
mod ssh_keys;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use audit::*;
pub use blob::{BlobError, BlobKey, BlobStore};
pub use ci::*;
pub use commit_statuses::*;
pub use error::StoreError;
pub use failures::FailureCounter;
pub use hooks::*;
pub use identities::{ExternalIdentity, ExternalIdentityStore};
pub use protected::*;
pub use push_records::*;
pub use records::*;
pub use sessions::{NewSession, NewSignInAttempt, Session, SessionStore, SignInAttempt};
pub use ssh_keys::*;

use async_trait::async_trait;
use autogit_core::AccessLevel;
pub use autogit_core::id::{JobId, NamespaceId, PipelineId, ProjectId, RunnerId, UserId};
use chrono::{DateTime, Utc};

pub type Result<T> = std::result::Result<T, StoreError>;

/// Users and their personal namespaces.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates the user and its personal namespace (path = username) in one transaction.
    /// Conflict if the username or email is taken, or a top-level namespace has that path.
    async fn create_user(&self, new: &NewUser, now: DateTime<Utc>) -> Result<User>;
    async fn user_by_id(&self, id: UserId) -> Result<Option<User>>;
    /// Case-insensitive.
    async fn user_by_username(&self, username: &str) -> Result<Option<User>>;
    /// Case-insensitive on the email address.
    async fn user_by_email(&self, email: &str) -> Result<Option<User>>;
    async fn list_users(&self, filter: &UserFilter, page: Page) -> Result<Listed<User>>;
    async fn set_password_hash(&self, id: UserId, hash: &str) -> Result<()>;
    /// Makes the user an administrator or not. NotFound if missing.
    async fn set_user_admin(&self, id: UserId, admin: bool) -> Result<()>;
    /// Makes the user an external user or not. NotFound if missing.
    async fn set_user_external(&self, id: UserId, external: bool) -> Result<()>;
    async fn count_users(&self) -> Result<i64>;
}

/// Namespaces: groups (nestable) and users' personal namespaces.
#[async_trait]
pub trait NamespaceStore: Send + Sync {
    /// Creates a group and makes `owner` its Owner, in one transaction. `full_path` is derived
    /// from the parent. Conflict if a namespace or project with that full path exists.
    async fn create_group(&self, new: &NewGroup, owner: Option<UserId>, now: DateTime<Utc>) -> Result<Namespace>;
    async fn namespace_by_id(&self, id: NamespaceId) -> Result<Option<Namespace>>;
    /// Case-insensitive on the full path.
    async fn namespace_by_full_path(&self, full_path: &str) -> Result<Option<Namespace>>;
    /// The personal namespace of a user.
    async fn user_namespace(&self, user_id: UserId) -> Result<Option<Namespace>>;
    /// The namespace and all its ancestors, root first.
    async fn namespace_ancestry(&self, id: NamespaceId) -> Result<Vec<Namespace>>;
    /// Groups (never personal namespaces) matching the filter.
    async fn list_groups(&self, filter: &GroupFilter, page: Page) -> Result<Listed<Namespace>>;
}

/// Projects (the repository on disk is the git port's business; here is only the record).
#[async_trait]
pub trait ProjectStore: Send + Sync {
    /// Creates the project and, if given, a membership for its creator and the protection of its
    /// default branch (`NewProject::default_branch_protection`), in one transaction.
    /// Conflict if the namespace already has a project or subgroup with that path.
    async fn create_project(
        &self,
        new: &NewProject,
        creator: Option<(UserId, AccessLevel)>,
        now: DateTime<Utc>,
    ) -> Result<Project>;
    async fn project_by_id(&self, id: ProjectId) -> Result<Option<Project>>;
    /// Case-insensitive on `namespace/path`.
    async fn project_by_full_path(&self, full_path: &str) -> Result<Option<Project>>;
    async fn list_projects(&self, filter: &ProjectFilter, page: Page) -> Result<Listed<Project>>;
    /// Applies the fields that are `Some`. Conflict on a path clash; NotFound if missing.
    async fn update_project(&self, id: ProjectId, update: &ProjectUpdate, now: DateTime<Utc>) -> Result<Project>;
    /// Records activity (a push) on the project.
    async fn touch_project(&self, id: ProjectId, now: DateTime<Utc>) -> Result<()>;
    /// Deletes the record with its memberships, events and protected branches. NotFound if missing.
    async fn delete_project(&self, id: ProjectId) -> Result<()>;
}

/// Memberships on groups and projects.
#[async_trait]
pub trait MemberStore: Send + Sync {
    /// Adds a membership. Conflict if the user is already a direct member of that source.
    async fn add_member(
        &self,
        source: MemberSource,
        user_id: UserId,
        level: AccessLevel,
        now: DateTime<Utc>,
    ) -> Result<Member>;
    /// Changes a direct membership's level. NotFound if there is none.
    async fn update_member(&self, source: MemberSource, user_id: UserId, level: AccessLevel) -> Result<Member>;
    /// Removes a direct membership. NotFound if there is none.
    async fn remove_member(&self, source: MemberSource, user_id: UserId) -> Result<()>;
    /// Direct members of one source, with their users.
    async fn list_members(&self, source: MemberSource, page: Page) -> Result<Listed<(Member, User)>>;
    /// Every role the user holds that applies to `source`: direct on it, and on every ancestor
    /// namespace (for a project: its namespace chain). Owning the personal namespace counts as Owner.
    async fn applicable_levels(&self, source: MemberSource, user_id: UserId) -> Result<Vec<AccessLevel>>;
    /// The groups whose membership of the user single sign-on made (see `mark_sso_membership`).
    async fn sso_memberships(&self, user_id: UserId) -> Result<Vec<NamespaceId>>;
    /// Records (`managed`) or forgets that single sign-on made the user's membership of a group.
    /// Idempotent either way.
    async fn mark_sso_membership(&self, user_id: UserId, namespace_id: NamespaceId, managed: bool) -> Result<()>;
}

/// Personal access tokens. Only digests are stored; the secret is never seen here.
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Conflict if the digest already exists.
    async fn create_token(&self, new: &NewToken, now: DateTime<Utc>) -> Result<Token>;
    async fn token_by_digest(&self, digest: &str) -> Result<Option<Token>>;
    async fn token_by_id(&self, id: i64) -> Result<Option<Token>>;
    /// Tokens of one user, or of everyone when `user_id` is None.
    async fn list_tokens(&self, user_id: Option<UserId>, page: Page) -> Result<Listed<Token>>;
    /// Marks the token revoked. NotFound if missing.
    async fn revoke_token(&self, id: i64) -> Result<()>;
    async fn touch_token(&self, id: i64, now: DateTime<Utc>) -> Result<()>;
}

/// Recorded events: pushes, consumed later by CI.
#[async_trait]
pub trait EventStore: Send + Sync {
    async fn record_push(&self, push: &NewPushEvent, now: DateTime<Utc>) -> Result<PushEvent>;
    /// Push events of one project, newest first.
    async fn list_push_events(&self, project_id: ProjectId, page: Page) -> Result<Listed<PushEvent>>;
}

/// Whole-store operations.
#[async_trait]
pub trait Health: Send + Sync {
    /// A cheap round trip proving the store answers.
    async fn ping(&self) -> Result<()>;
}

/// Everything the application needs from storage.
pub trait Store:
    UserStore
    + NamespaceStore
    + ProjectStore
    + MemberStore
    + TokenStore
    + EventStore
    + PushRecordStore
    + RunnerStore
    + PipelineStore
    + JobStore
    + TraceStore
    + ArtifactStore
    + HardwareStore
    + CiVariableStore
    + CiContextStore
    + ProtectedBranchStore
    + ProtectedTagStore
    + CommitStatusStore
    + HookStore
    + SettingsStore
    + SessionStore
    + AuditStore
    + SshKeyStore
    + ExternalIdentityStore
    + Health
{
}

impl<
    T: UserStore
        + NamespaceStore
        + ProjectStore
        + MemberStore
        + TokenStore
        + EventStore
        + PushRecordStore
        + RunnerStore
        + PipelineStore
        + JobStore
        + TraceStore
        + ArtifactStore
        + HardwareStore
        + CiVariableStore
        + CiContextStore
        + ProtectedBranchStore
        + ProtectedTagStore
        + CommitStatusStore
        + HookStore
        + SettingsStore
        + SessionStore
        + AuditStore
        + SshKeyStore
        + ExternalIdentityStore
        + Health,
> Store for T
{
}
