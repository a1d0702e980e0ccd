//! Storage ports of protected branches and tags. Branches: per project, a rule per branch name or wildcard with the
//! levels allowed to push and to merge (each level a record of its own, as GitLab lists them with
//! ids) and whether force pushes are allowed.
//!
//! Contract, in addition to the crate's: names are unique per project and compared exactly
//! (branch names are case-sensitive in git); a rule's access levels are created, listed and
//! removed with it; deleting a project removes its rules.

use async_trait::async_trait;
use autogit_core::ProjectId;
use autogit_core::protection::{BranchRule, RefAccessLevel, TagRule};

use crate::{Listed, Page, Result};

/// One access level of a rule, with its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefAccess {
    pub id: i64,
    pub access_level: RefAccessLevel,
}

/// What a rule grants; also what a new project's default branch is protected with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BranchProtection {
    pub push_access_levels: Vec<RefAccessLevel>,
    pub merge_access_levels: Vec<RefAccessLevel>,
    pub allow_force_push: bool,
}

impl BranchProtection {
    /// GitLab's default: maintainers push and merge, no force push.
    pub fn maintainers() -> BranchProtection {
        BranchProtection {
            push_access_levels: vec![RefAccessLevel::Maintainer],
            merge_access_levels: vec![RefAccessLevel::Maintainer],
            allow_force_push: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProtectedBranch {
    pub project_id: ProjectId,
    /// A branch name or a wildcard such as `release/*`.
    pub name: String,
    pub protection: BranchProtection,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectedBranch {
    pub id: i64,
    pub project_id: ProjectId,
    pub name: String,
    /// By id.
    pub push_access_levels: Vec<RefAccess>,
    /// By id.
    pub merge_access_levels: Vec<RefAccess>,
    pub allow_force_push: bool,
}

impl ProtectedBranch {
    /// The rule as the pure policy sees it.
    pub fn rule(&self) -> BranchRule {
        BranchRule {
            name: self.name.clone(),
            push: self.push_access_levels.iter().map(|a| a.access_level).collect(),
            merge: self.merge_access_levels.iter().map(|a| a.access_level).collect(),
            allow_force_push: self.allow_force_push,
        }
    }
}

/// Protected branches of projects.
#[async_trait]
pub trait ProtectedBranchStore: Send + Sync {
    /// Creates the rule with its access levels in one transaction. Conflict("name") if the
    /// project already has a rule of that exact name; Invalid for a missing project.
    async fn protect_branch(&self, new: &NewProtectedBranch) -> Result<ProtectedBranch>;
    /// The project's rules, by id.
    async fn list_protected_branches(&self, project_id: ProjectId, page: Page) -> Result<Listed<ProtectedBranch>>;
    /// The rule with exactly this name (not the rules whose wildcard matches it).
    async fn protected_branch(&self, project_id: ProjectId, name: &str) -> Result<Option<ProtectedBranch>>;
    /// Removes the rule and its access levels. NotFound if missing.
    async fn unprotect_branch(&self, project_id: ProjectId, name: &str) -> Result<()>;
}

/// One protected-tag rule of a project: who may create matching tags (each level a record of its
/// own, as GitLab lists them with ids). A protected tag is never moved; deletion is decided by
/// role (`autogit_core::protection::TagPolicy`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectedTag {
    pub id: i64,
    pub project_id: ProjectId,
    /// A tag name or a wildcard such as `v*`.
    pub name: String,
    /// By id.
    pub create_access_levels: Vec<RefAccess>,
}

impl ProtectedTag {
    /// The rule as the pure policy sees it.
    pub fn rule(&self) -> TagRule {
        TagRule { name: self.name.clone(), create: self.create_access_levels.iter().map(|a| a.access_level).collect() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProtectedTag {
    pub project_id: ProjectId,
    pub name: String,
    pub create_access_levels: Vec<RefAccessLevel>,
}

/// Protected tags of projects. Contract as [`ProtectedBranchStore`]'s: names unique per project
/// and compared exactly; a rule's levels are created, listed and removed with it; deleting a
/// project removes its rules.
#[async_trait]
pub trait ProtectedTagStore: Send + Sync {
    /// Creates the rule with its levels in one transaction. Conflict("name") if the project
    /// already has a rule of that exact name; Invalid for a missing project.
    async fn protect_tag(&self, new: &NewProtectedTag) -> Result<ProtectedTag>;
    /// The project's rules, by id.
    async fn list_protected_tags(&self, project_id: ProjectId, page: Page) -> Result<Listed<ProtectedTag>>;
    /// The rule with exactly this name.
    async fn protected_tag(&self, project_id: ProjectId, name: &str) -> Result<Option<ProtectedTag>>;
    /// Removes the rule and its levels. NotFound if missing.
    async fn unprotect_tag(&self, project_id: ProjectId, name: &str) -> Result<()>;
}
