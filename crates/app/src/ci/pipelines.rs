//! Pipelines and jobs for users (API v4 `/projects/:id/pipelines…`, `/projects/:id/jobs…`):
//! read with Reporter access (or anonymously on public projects), act with Developer access.
//! Cancel, play and retry take the scheduler's decisions and apply them to the stored jobs.

use super::create::{NotCreated, PipelineRequest};
use super::spec::nodes;
use super::traces::JobTrace;
use crate::groups::to_result;
use crate::{App, AppError, Principal, Result};
use autogit_core::access::{Action, decide};
use autogit_core::ci::{JobStatus, PipelineStatus};
use autogit_core::{JobId, PipelineId};
use autogit_scheduler::progress::{self, ProgressError};
use autogit_store::{Job, JobChange, Listed, Page, Pipeline, PipelineFilter, Project};

fn progress_error(e: ProgressError) -> AppError {
    match e {
        ProgressError::UnknownJob(_) => AppError::NotFound("Job"),
        ProgressError::InvalidState { status, action, .. } => {
            AppError::Forbidden(Some(format!("a {status} job cannot be {action}")))
        }
    }
}

impl App {
    /// The project if `who` may read its CI (`write`: may run and cancel it).
    async fn ci_project(&self, who: &Principal, project_ref: &str, write: bool) -> Result<Project> {
        let (project, level) = self.get_project(who, project_ref, Action::View).await?;
        to_result(decide(who.actor, project.visibility, level, Action::ReadRepository), "Project")?;
        if write {
            to_result(decide(who.actor, project.visibility, level, Action::WriteRepository), "Project")?;
        }
        Ok(project)
    }

    /// Acting on the jobs of a protected ref (cancel, play, retry) needs the right to update that
    /// ref, as GitLab's `protected_ref` rule asks: otherwise a developer could rerun, under the
    /// protected variables, jobs they may not start by pushing. A ref counts as protected while it
    /// is a protected branch now, or when the pipeline ran protected.
    async fn ensure_may_act_on_ref(
        &self,
        who: &Principal,
        project: &Project,
        pipeline: &Pipeline,
        ran_protected: bool,
    ) -> Result<()> {
        let policy = self.system().branch_policy(project).await?;
        let protected_now = !pipeline.tag && policy.is_protected(&pipeline.ref_name);
        if !protected_now && !ran_protected {
            return Ok(());
        }
        if policy.may_update(self.pusher(who, project).await?, &pipeline.ref_name) {
            return Ok(());
        }
        Err(AppError::Forbidden(Some(format!(
            "the jobs of the protected ref {} may only be run or canceled by those who may push to it",
            pipeline.ref_name
        ))))
    }

    /// Whether `who` may cancel, play and retry the jobs of pipeline `id` (a page shows its buttons
    /// only then): the right to write the repository, and to update the ref when it is protected
    /// or the pipeline ran protected. The actions check it again when used.
    pub async fn may_act_on_pipeline(&self, who: &Principal, project_ref: &str, id: PipelineId) -> Result<bool> {
        let Ok(project) = self.ci_project(who, project_ref, true).await else { return Ok(false) };
        let p = self.pipeline_in(&project, id).await?;
        let ran_protected = self.latest_jobs(p.id).await?.iter().any(|(j, _)| j.protected);
        Ok(self.ensure_may_act_on_ref(who, &project, &p, ran_protected).await.is_ok())
    }

    /// The pipeline of `job`, once `who` may act on the jobs of its ref.
    async fn may_act_on_job(&self, who: &Principal, project: &Project, job: &Job) -> Result<()> {
        let pipeline = self.pipeline_in(project, job.pipeline_id).await?;
        self.ensure_may_act_on_ref(who, project, &pipeline, job.protected).await
    }

    pub async fn list_pipelines(
        &self,
        who: &Principal,
        project_ref: &str,
        filter: &PipelineFilter,
        page: Page,
    ) -> Result<Listed<Pipeline>> {
        let project = self.ci_project(who, project_ref, false).await?;
        Ok(self.store.list_pipelines(project.id, filter, page).await?)
    }

    pub async fn get_pipeline(
        &self,
        who: &Principal,
        project_ref: &str,
        id: PipelineId,
    ) -> Result<(Project, Pipeline)> {
        let project = self.ci_project(who, project_ref, false).await?;
        let p = self.pipeline_in(&project, id).await?;
        Ok((project, p))
    }

    async fn pipeline_in(&self, project: &Project, id: PipelineId) -> Result<Pipeline> {
        match self.store.pipeline_by_id(id).await? {
            Some(p) if p.project_id == project.id => Ok(p),
            _ => Err(AppError::NotFound("Pipeline")),
        }
    }

    async fn job_in(&self, project: &Project, id: JobId) -> Result<Job> {
        match self.store.job_by_id(id).await? {
            Some(j) if j.project_id == project.id => Ok(j),
            _ => Err(AppError::NotFound("Job")),
        }
    }

    /// `POST /projects/:id/pipeline`: a pipeline for a branch or tag, with variables.
    pub async fn run_pipeline(
        &self,
        who: &Principal,
        project_ref: &str,
        ref_name: &str,
        variables: Vec<(String, String)>,
    ) -> Result<Pipeline> {
        let project = self.ci_project(who, project_ref, true).await?;
        let mut objects = self.repos.reader(project.id).await?;
        let (sha, tag) = if let Some(sha) = objects.branch_commit(ref_name).await? {
            (sha, false)
        } else if let Some(sha) = objects.tag_commit(ref_name).await? {
            (sha, true)
        } else {
            return Err(AppError::Invalid("ref", format!("reference '{ref_name}' not found")));
        };
        drop(objects);
        // As GitLab: a pipeline of a protected branch needs the right to update that branch.
        if !tag {
            let policy = self.system().branch_policy(&project).await?;
            if policy.is_protected(ref_name) && !policy.may_update(self.pusher(who, &project).await?, ref_name) {
                return Err(AppError::Invalid("base", "Insufficient permissions for protected ref".into()));
            }
        }
        let req = PipelineRequest {
            ref_name: ref_name.to_string(),
            tag,
            sha,
            before_sha: "0".repeat(40),
            source: "api".into(),
            user: who.user.clone(),
            variables,
        };
        match self.system().create_pipeline_for(&project, &req).await? {
            Ok(p) => Ok(p),
            Err(NotCreated::NoConfig { path }) => {
                Err(AppError::Invalid("base", format!("Missing CI config file {path} at {ref_name}")))
            }
            Err(NotCreated::Filtered) => Err(AppError::Invalid(
                "base",
                "Pipeline will not run for the selected trigger. The rules configuration prevented any jobs from being added to the pipeline.".into(),
            )),
        }
    }

    /// Jobs of a pipeline, by stage then id; retried tries too when asked.
    pub async fn pipeline_jobs(
        &self,
        who: &Principal,
        project_ref: &str,
        pipeline_id: PipelineId,
        include_retried: bool,
    ) -> Result<(Project, Pipeline, Vec<Job>)> {
        let (project, p) = self.get_pipeline(who, project_ref, pipeline_id).await?;
        let jobs = self.store.jobs_of_pipeline(p.id, include_retried).await?;
        Ok((project, p, jobs))
    }

    pub async fn project_jobs(
        &self,
        who: &Principal,
        project_ref: &str,
        statuses: &[JobStatus],
        page: Page,
    ) -> Result<(Project, Listed<Job>)> {
        let project = self.ci_project(who, project_ref, false).await?;
        let jobs = self.store.list_project_jobs(project.id, statuses, page).await?;
        Ok((project, jobs))
    }

    pub async fn get_job(&self, who: &Principal, project_ref: &str, id: JobId) -> Result<(Project, Job)> {
        let project = self.ci_project(who, project_ref, false).await?;
        let job = self.job_in(&project, id).await?;
        Ok((project, job))
    }

    /// The whole log of a job, streamed (see `traces`).
    pub async fn job_trace(&self, who: &Principal, project_ref: &str, id: JobId) -> Result<JobTrace> {
        let (_, job) = self.get_job(who, project_ref, id).await?;
        self.trace_of(&job).await
    }

    /// Cancels every unfinished job of the pipeline; running ones lose their token, so their
    /// runner is told on its next call and stops.
    pub async fn cancel_pipeline(&self, who: &Principal, project_ref: &str, id: PipelineId) -> Result<Pipeline> {
        let project = self.ci_project(who, project_ref, true).await?;
        let p = self.pipeline_in(&project, id).await?;
        let ran_protected = self.latest_jobs(p.id).await?.iter().any(|(j, _)| j.protected);
        self.ensure_may_act_on_ref(who, &project, &p, ran_protected).await?;
        self.cancel_pipeline_jobs(&p).await?;
        Ok(self.store.pipeline_by_id(p.id).await?.unwrap_or(p))
    }

    pub(crate) async fn cancel_pipeline_jobs(&self, p: &Pipeline) -> Result<()> {
        let jobs = self.latest_jobs(p.id).await?;
        for t in progress::cancel(&nodes(&jobs)) {
            self.cancel_one(&jobs[t.job].0).await?;
        }
        self.system().process_pipeline(p.id).await
    }

    async fn cancel_one(&self, job: &Job) -> Result<Option<Job>> {
        let now = self.clock.now();
        let moved =
            self.store.transition_job(job.id, &[job.status], JobStatus::Canceled, &JobChange::default(), now).await?;
        if job.status == JobStatus::Pending {
            self.ci.dequeue(job.id);
        }
        if job.status == JobStatus::Running && moved.is_some() {
            self.release_gpus(job.id).await;
            self.archive_trace_soon(job.id);
        }
        Ok(moved)
    }

    pub async fn cancel_job(&self, who: &Principal, project_ref: &str, id: JobId) -> Result<Job> {
        let project = self.ci_project(who, project_ref, true).await?;
        let job = self.job_in(&project, id).await?;
        self.may_act_on_job(who, &project, &job).await?;
        let status = job.status;
        if status.is_finished() {
            return Err(AppError::Forbidden(Some(format!("a {status} job cannot be canceled"))));
        }
        let moved = self.cancel_one(&job).await?;
        self.system().process_pipeline(job.pipeline_id).await?;
        Ok(moved.unwrap_or(job))
    }

    /// Plays a manual job, or runs a delayed one now.
    pub async fn play_job(&self, who: &Principal, project_ref: &str, id: JobId) -> Result<Job> {
        let project = self.ci_project(who, project_ref, true).await?;
        let job = self.job_in(&project, id).await?;
        self.may_act_on_job(who, &project, &job).await?;
        let jobs = self.latest_jobs(job.pipeline_id).await?;
        let idx = jobs.iter().position(|(j, _)| j.id == job.id).ok_or(AppError::NotFound("Job"))?;
        let t = progress::play(&nodes(&jobs), idx).map_err(progress_error)?;
        let now = self.clock.now();
        let moved = self
            .store
            .transition_job(job.id, &[job.status], t.to, &JobChange::default(), now)
            .await?
            .ok_or_else(|| AppError::Conflict("status".into(), "changed meanwhile; try again".into()))?;
        if moved.status == JobStatus::Pending {
            self.enqueue_job(&moved);
        }
        self.system().process_pipeline(job.pipeline_id).await?;
        Ok(self.store.job_by_id(moved.id).await?.unwrap_or(moved))
    }

    /// Retries a finished job: a new try is queued, and skipped jobs after it are decided again.
    pub async fn retry_job_by(&self, who: &Principal, project_ref: &str, id: JobId) -> Result<Job> {
        let project = self.ci_project(who, project_ref, true).await?;
        let job = self.job_in(&project, id).await?;
        self.may_act_on_job(who, &project, &job).await?;
        let new = self.retry_one(&job).await?;
        self.system().process_pipeline(job.pipeline_id).await?;
        Ok(self.store.job_by_id(new.id).await?.unwrap_or(new))
    }

    async fn retry_one(&self, job: &Job) -> Result<Job> {
        let jobs = self.latest_jobs(job.pipeline_id).await?;
        let idx = jobs
            .iter()
            .position(|(j, _)| j.id == job.id)
            .ok_or_else(|| AppError::Forbidden(Some("this job was already retried; retry its latest try".into())))?;
        let plan = progress::retry_job(&nodes(&jobs), idx).map_err(progress_error)?;
        let new = self.store.retry_job(job.id, self.clock.now()).await?;
        self.enqueue_job(&new);
        let now = self.clock.now();
        for i in plan.reset {
            let (j, _) = &jobs[i];
            self.store
                .transition_job(j.id, &[JobStatus::Skipped], JobStatus::Created, &JobChange::default(), now)
                .await?;
        }
        Ok(new)
    }

    /// Retries every failed or canceled job of the pipeline.
    pub async fn retry_pipeline(&self, who: &Principal, project_ref: &str, id: PipelineId) -> Result<Pipeline> {
        let project = self.ci_project(who, project_ref, true).await?;
        let p = self.pipeline_in(&project, id).await?;
        let jobs = self.latest_jobs(p.id).await?;
        self.ensure_may_act_on_ref(who, &project, &p, jobs.iter().any(|(j, _)| j.protected)).await?;
        for (job, _) in jobs {
            if matches!(job.status, JobStatus::Failed | JobStatus::Canceled) {
                // Another retry may have reset it meanwhile; that is fine.
                if let Err(e) = self.retry_one(&job).await {
                    tracing::debug!(job = job.id.get(), error = %e, "not retried");
                }
            }
        }
        self.system().process_pipeline(p.id).await?;
        Ok(self.store.pipeline_by_id(p.id).await?.unwrap_or(p))
    }

    /// Auto-cancel: older pipelines of the same ref whose started jobs are all `interruptible`
    /// are canceled when a new one is created (GitLab's default "auto-cancel redundant
    /// pipelines"). A pipeline with a running non-interruptible job is left alone.
    pub(crate) async fn auto_cancel_redundant(&self, new: &Pipeline) {
        let filter = PipelineFilter { ref_name: Some(new.ref_name.clone()), ..Default::default() };
        let Ok(older) = self.store.list_pipelines(new.project_id, &filter, Page { offset: 0, limit: 20 }).await else {
            return;
        };
        for p in older.items.iter().filter(|p| {
            p.id < new.id
                && matches!(p.status, PipelineStatus::Created | PipelineStatus::Pending | PipelineStatus::Running)
        }) {
            let Ok(jobs) = self.latest_jobs(p.id).await else { continue };
            let started: Vec<_> = jobs
                .iter()
                .filter(|(j, _)| {
                    j.status == JobStatus::Running || (j.status != JobStatus::Created && j.started_at.is_some())
                })
                .collect();
            if started.is_empty() && !jobs.iter().any(|(_, s)| s.job.interruptible == Some(true)) {
                continue; // nothing says this pipeline may be interrupted
            }
            if started.iter().all(|(_, s)| s.job.interruptible == Some(true)) {
                tracing::info!(pipeline = p.id.get(), newer = new.id.get(), "auto-canceling a redundant pipeline");
                if let Err(e) = self.cancel_pipeline_jobs(p).await {
                    tracing::warn!(pipeline = p.id.get(), error = %e, "auto-cancel failed");
                }
            }
        }
    }
}
