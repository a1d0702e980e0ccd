//! Records related to one a use-case already returned, read for an inbound layer to render it
//! (GitLab's answers embed them): a namespace's ancestry, a user's namespace, a project's
//! repository state, jobs' pipelines, a runner's jobs with their projects and pipelines.

use crate::groups::to_result;
use crate::{App, AppError, Principal, Result};
use autogit_core::access::{Action, decide};
use autogit_core::ci::JobStatus;
use autogit_core::{NamespaceId, PipelineId, ProjectId, RunnerId};
use autogit_store::{Job, Listed, Namespace, Page, Pipeline, Project, User};
use std::collections::HashMap;
use std::collections::hash_map::Entry;

/// A job a runner took, with what GitLab's runner jobs list shows beside it.
#[derive(Debug, Clone)]
pub struct RunnerJob {
    pub job: Job,
    pub project: Project,
    pub pipeline: Pipeline,
}

impl App {
    /// The chain from the top-level group down to `namespace_id`. Ancestors' names and paths are
    /// part of the full path of any namespace or project a caller may see, so no further check
    /// applies (the caller holds a record a use-case let it see).
    pub async fn namespace_ancestry(&self, _who: &Principal, namespace_id: NamespaceId) -> Result<Vec<Namespace>> {
        Ok(self.store.namespace_ancestry(namespace_id).await?)
    }

    /// A user's personal namespace; users are public profiles (as `get_user`).
    pub async fn user_namespace(&self, _who: &Principal, user: &User) -> Result<Namespace> {
        self.store.user_namespace(user.id).await?.ok_or(AppError::NotFound("Namespace"))
    }

    /// Whether the repository of a project the caller holds has no branch yet (`empty_repo`).
    pub fn repository_is_empty(&self, _who: &Principal, project: &Project) -> bool {
        !self.repos.has_branches(project.id)
    }

    /// The pipelines of `jobs` (each of `project`) by id, each read once, if the caller may view
    /// the project.
    pub async fn job_pipelines(
        &self,
        who: &Principal,
        project: &Project,
        jobs: &[Job],
    ) -> Result<HashMap<PipelineId, Pipeline>> {
        let level = self.project_level(who, project).await?;
        to_result(decide(who.actor, project.visibility, level, Action::View), "Project")?;
        let mut pipelines = HashMap::new();
        for job in jobs {
            if job.project_id != project.id {
                return Err(AppError::NotFound("Pipeline"));
            }
            if let Entry::Vacant(e) = pipelines.entry(job.pipeline_id) {
                e.insert(self.store.pipeline_by_id(job.pipeline_id).await?.ok_or(AppError::NotFound("Pipeline"))?);
            }
        }
        Ok(pipelines)
    }

    /// `GET /runners/:id/jobs` with each job's project and pipeline (the runner's owners and
    /// administrators, as `runner_jobs`).
    pub async fn runner_jobs_with_context(
        &self,
        who: &Principal,
        id: RunnerId,
        statuses: &[JobStatus],
        page: Page,
    ) -> Result<Listed<RunnerJob>> {
        let jobs = self.runner_jobs(who, id, statuses, page).await?;
        let mut projects: HashMap<ProjectId, Project> = HashMap::new();
        let mut pipelines: HashMap<PipelineId, Pipeline> = HashMap::new();
        let mut items = Vec::with_capacity(jobs.items.len());
        for job in jobs.items {
            let project = match projects.entry(job.project_id) {
                Entry::Occupied(e) => e.get().clone(),
                Entry::Vacant(e) => {
                    let p = self.store.project_by_id(job.project_id).await?.ok_or(AppError::NotFound("Project"))?;
                    e.insert(p).clone()
                }
            };
            let pipeline = match pipelines.entry(job.pipeline_id) {
                Entry::Occupied(e) => e.get().clone(),
                Entry::Vacant(e) => {
                    let p = self.store.pipeline_by_id(job.pipeline_id).await?.ok_or(AppError::NotFound("Pipeline"))?;
                    e.insert(p).clone()
                }
            };
            items.push(RunnerJob { job, project, pipeline });
        }
        Ok(Listed { items, total: jobs.total })
    }
}
