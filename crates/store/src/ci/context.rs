//! The reads that decide what a job is given, together: what CI/CD settings apply to a project
//! for a user (pipeline creation) and, with the pipeline, project and user, to a job being handed
//! out. One call each, so that an adapter can answer them on one connection instead of paying
//! the pool's hand-over for each of the seven reads (ADR 0012). Every part equals what the
//! per-aggregate method named on it returns at that moment: nothing here is cached.

use async_trait::async_trait;
use autogit_core::AccessLevel;

use super::{CiVariable, Pipeline};
use crate::{Namespace, PipelineId, Project, ProjectId, ProtectedBranch, Result, User, UserId};

/// The CI/CD settings of a project as seen by one user.
#[derive(Debug, Clone, PartialEq)]
pub struct CiSettings {
    /// The project's namespace and its ancestors, root first ([`crate::NamespaceStore::namespace_ancestry`]).
    pub namespaces: Vec<Namespace>,
    /// The project's protected-branch rules, by id ([`crate::ProtectedBranchStore::list_protected_branches`]).
    pub protected_branches: Vec<ProtectedBranch>,
    /// The user's roles that apply to the project, highest first, each once
    /// ([`crate::MemberStore::applicable_levels`]); empty without a user.
    pub user_levels: Vec<AccessLevel>,
    /// The CI/CD variables of each namespace of `namespaces` in that order (each one's by id),
    /// then the project's by id ([`super::CiVariableStore::list_variables`] per owner).
    pub variables: Vec<CiVariable>,
}

/// What handing out a job of a pipeline reads besides the job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobContext {
    pub pipeline: Pipeline,
    pub project: Project,
    /// The pipeline's user; `None` when it has none or it no longer exists.
    pub user: Option<User>,
    /// For `project` and `user`.
    pub settings: CiSettings,
}

#[async_trait]
pub trait CiContextStore: Send + Sync {
    /// The settings of project `project_id` for `user_id`; `None` when the project is missing.
    async fn ci_settings(&self, project_id: ProjectId, user_id: Option<UserId>) -> Result<Option<CiSettings>>;
    /// The context of a job of pipeline `pipeline_id`; `None` when the pipeline or its project
    /// is missing.
    async fn job_context(&self, pipeline_id: PipelineId) -> Result<Option<JobContext>>;
}
