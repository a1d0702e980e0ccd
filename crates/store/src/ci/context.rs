//! The reads that decide what a job is given, together: a project and the CI/CD settings that
//! apply to it for a user (pipeline creation) and, with the pipeline, to a job being handed
//! out. One call each, so that an adapter can answer them on one connection instead of paying
//! the pool's hand-over for each of the reads (ADR 0012). Every part equals what the
//! per-aggregate method named on it returns at that moment: nothing here is cached.
//!
//! A caller may keep a job context between hand-outs of the same pipeline, as long as it reads
//! the context again whenever the [`ContextGeneration`] that a claim returns is newer than the
//! one the context was read with (ADR 0012, "The job context between hand-outs").

use async_trait::async_trait;
use autogit_core::AccessLevel;

use super::{CiVariable, Pipeline};
use crate::{Namespace, PipelineId, Project, ProjectId, ProtectedBranch, ProtectedTag, Result, User, UserId};

/// The CI/CD settings of a project as seen by one user.
#[derive(Debug, Clone, PartialEq)]
pub struct CiSettings {
    /// The project's namespace and its ancestors, root first ([`crate::NamespaceStore::namespace_ancestry`]).
    pub namespaces: Vec<Namespace>,
    /// The project's protected-branch rules, by id ([`crate::ProtectedBranchStore::list_protected_branches`]).
    pub protected_branches: Vec<ProtectedBranch>,
    /// The project's protected-tag rules, by id ([`crate::ProtectedTagStore::list_protected_tags`]).
    pub protected_tags: Vec<ProtectedTag>,
    /// The user's roles that apply to the project, highest first, each once
    /// ([`crate::MemberStore::applicable_levels`]); empty without a user.
    pub user_levels: Vec<AccessLevel>,
    /// The CI/CD variables of each namespace of `namespaces` in that order (each one's by id),
    /// then the project's by id ([`super::CiVariableStore::list_variables`] per owner).
    pub variables: Vec<CiVariable>,
}

/// A number that grows with every committed change to what a [`JobContext`] holds: users,
/// namespaces, projects, members, protected branches and tags with their levels, CI/CD variables, and a
/// pipeline's variables (re-sealed by a key rotation). The other parts of a pipeline in the
/// context (ref, commit, source, creation time) never change once it is stored, and its user
/// changes only when that user is deleted.
///
/// Contract: a context read with generation `g` (read before its other parts) holds every change
/// committed before `g` was read; a later read of the generation that returns `g` again (or less)
/// means that nothing the context holds has changed since. Changes to jobs, pipelines' statuses,
/// runners and the other tables leave it as it is, so that a coordinator's copy lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContextGeneration(pub u64);

/// A project with the settings that apply to it for one user, as pipeline creation reads them.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectContext {
    /// Read first, on the same connection as the rest.
    pub generation: ContextGeneration,
    pub project: Project,
    /// The user asked for; `None` when none was asked for or it does not exist.
    pub user: Option<User>,
    /// For `project` and `user`.
    pub settings: CiSettings,
}

/// What handing out a job of a pipeline reads besides the job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobContext {
    /// Read first, on the same connection as the rest.
    pub generation: ContextGeneration,
    pub pipeline: Pipeline,
    pub project: Project,
    /// The pipeline's user; `None` when it has none or it no longer exists.
    pub user: Option<User>,
    /// For `project` and `user`.
    pub settings: CiSettings,
}

impl JobContext {
    /// The context of a job of `pipeline`, from its project's context for the pipeline's user
    /// (read after the pipeline was stored).
    pub fn of(pipeline: Pipeline, project: ProjectContext) -> JobContext {
        let ProjectContext { generation, project, user, settings } = project;
        JobContext { generation, pipeline, project, user, settings }
    }
}

#[async_trait]
pub trait CiContextStore: Send + Sync {
    /// Project `project_id` with its settings for `user_id`, the generation read first; `None`
    /// when the project is missing.
    async fn project_context(&self, project_id: ProjectId, user_id: Option<UserId>) -> Result<Option<ProjectContext>>;
    /// The context of a job of pipeline `pipeline_id`: the pipeline, then its project's context
    /// for the pipeline's user; `None` when the pipeline or its project is missing.
    async fn job_context(&self, pipeline_id: PipelineId) -> Result<Option<JobContext>>;
}
