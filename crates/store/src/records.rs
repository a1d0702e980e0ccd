//! Records exchanged with the store. They are plain data; rules live in `autogit-core` and the app.

use autogit_core::{AccessLevel, Scope, Visibility};
use autogit_core::{NamespaceId, ProjectId, UserId};
use chrono::{DateTime, NaiveDate, Utc};

/// Offset paging. `limit` is at most 100 at the API; adapters accept any positive value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub offset: i64,
    pub limit: i64,
}

impl Page {
    pub const ALL: Page = Page { offset: 0, limit: i64::MAX };
}

/// One page of results plus the total before paging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed<T> {
    pub items: Vec<T>,
    pub total: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserState {
    Active,
    Blocked,
}

impl UserState {
    pub fn as_str(self) -> &'static str {
        match self {
            UserState::Active => "active",
            UserState::Blocked => "blocked",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub name: String,
    pub email: String,
    /// An argon2 PHC string; `None` for users who can only use tokens.
    pub password_hash: Option<String>,
    pub is_admin: bool,
    /// An external user (GitLab's): sees no internal project it is not a member of, and creates
    /// no top-level group or personal project.
    pub external: bool,
    pub state: UserState,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    pub username: String,
    pub name: String,
    pub email: String,
    pub password_hash: Option<String>,
    pub is_admin: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserFilter {
    /// Exact username, case-insensitive.
    pub username: Option<String>,
    /// Substring of username, name or email, case-insensitive.
    pub search: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamespaceKind {
    User,
    Group,
}

impl NamespaceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NamespaceKind::User => "user",
            NamespaceKind::Group => "group",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    pub id: NamespaceId,
    pub kind: NamespaceKind,
    pub name: String,
    pub path: String,
    /// `parent/child/...`, with the case given at creation.
    pub full_path: String,
    pub parent_id: Option<NamespaceId>,
    pub visibility: Visibility,
    pub description: String,
    /// For personal namespaces: the user who owns it.
    pub owner_id: Option<UserId>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewGroup {
    pub name: String,
    pub path: String,
    pub parent_id: Option<NamespaceId>,
    pub visibility: Visibility,
    pub description: String,
}

/// Which groups to list. The visibility part mirrors [`ProjectFilter`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupFilter {
    pub access: AccessFilter,
    /// Only direct children of this group; `Some(None)` means only top-level groups.
    pub parent: Option<Option<NamespaceId>>,
    /// Substring of path or name, case-insensitive.
    pub search: Option<String>,
}

/// Which records an actor may see, expressed as data so that adapters can filter in one query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessFilter {
    /// Everything (administrators).
    pub all: bool,
    /// Records of at least this visibility are included (Public for anonymous, Internal for users).
    pub min_visibility: Option<Visibility>,
    /// Records where this user holds a role (directly or through an ancestor group, or by owning
    /// the personal namespace) are included.
    pub member_id: Option<UserId>,
    /// If set, *only* records where `member_id` holds a role are included.
    pub membership_only: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub id: ProjectId,
    pub namespace_id: NamespaceId,
    pub name: String,
    pub path: String,
    /// The namespace's full path and the project path, joined by `/`.
    pub full_path: String,
    pub description: String,
    pub visibility: Visibility,
    pub default_branch: Option<String>,
    /// Where the CI configuration lives in the repository, as given; `None` for the default
    /// `.gitlab-ci.yml`.
    pub ci_config_path: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_activity_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProject {
    pub namespace_id: NamespaceId,
    pub name: String,
    pub path: String,
    pub description: String,
    pub visibility: Visibility,
    pub default_branch: Option<String>,
    /// Protects `default_branch` (when both are set) with these levels, as GitLab protects the
    /// default branch of a new project.
    pub default_branch_protection: Option<crate::BranchProtection>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectUpdate {
    pub name: Option<String>,
    pub path: Option<String>,
    pub description: Option<String>,
    pub visibility: Option<Visibility>,
    pub default_branch: Option<String>,
    /// `Some(None)` goes back to the default `.gitlab-ci.yml`.
    pub ci_config_path: Option<Option<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectFilter {
    pub access: AccessFilter,
    /// Only projects directly in this namespace.
    pub namespace_id: Option<NamespaceId>,
    /// Substring of path or name, case-insensitive.
    pub search: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemberSource {
    Namespace(NamespaceId),
    Project(ProjectId),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub source: MemberSource,
    pub user_id: UserId,
    pub access_level: AccessLevel,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub id: i64,
    pub user_id: UserId,
    pub name: String,
    pub scopes: Vec<Scope>,
    /// The token is invalid from this date on (UTC), as in GitLab.
    pub expires_at: Option<NaiveDate>,
    pub revoked: bool,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    pub user_id: UserId,
    pub name: String,
    /// Hex SHA-256 of the secret.
    pub digest: String,
    pub scopes: Vec<Scope>,
    pub expires_at: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushEvent {
    pub id: i64,
    pub project_id: ProjectId,
    /// Full ref name, e.g. `refs/heads/main`.
    pub ref_name: String,
    /// Hex object ids; all zeros for a created or deleted ref.
    pub before: String,
    pub after: String,
    pub pusher_id: Option<UserId>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPushEvent {
    pub project_id: ProjectId,
    pub ref_name: String,
    pub before: String,
    pub after: String,
    pub pusher_id: Option<UserId>,
}
