//! Pipeline creation: read the CI file at the pushed commit, compile it with the pipeline's
//! variables, and store the pipeline with all its jobs in one transaction; then let progression
//! queue the first jobs.
//!
//! As GitLab: a push to a ref without a CI file creates nothing; a CI file with errors creates a
//! `failed` pipeline without jobs whose `yaml_errors` say what is wrong and where; a pipeline
//! that `workflow:rules` (or `rules` on every job) filters out is not created.

use super::spec::{JobSpec, stored_when};
use super::{predefined, vars};
use crate::{App, AppError, Result, System};
use autogit_core::PipelineId;
use autogit_core::ci::{JobStatus, PipelineStatus};
use autogit_git::read;
use autogit_pipeline::{CompileInput, PipelineContext, RefKind, Severity, compile, render_diagnostics};
use autogit_store::{Job, JobContext, NewJob, NewPipeline, Pipeline, Project, User};
use std::collections::BTreeMap;

/// The CI file path when the project sets none.
pub const DEFAULT_CI_CONFIG_PATH: &str = ".gitlab-ci.yml";

/// What to create a pipeline for.
#[derive(Debug, Clone)]
pub struct PipelineRequest {
    pub ref_name: String,
    pub tag: bool,
    pub sha: String,
    /// All zeros for a new ref.
    pub before_sha: String,
    /// `push`, `api`, `web`…
    pub source: String,
    pub user: Option<User>,
    /// Pipeline variables (API `variables`), highest precedence.
    pub variables: Vec<(String, String)>,
}

/// Why no pipeline was created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotCreated {
    /// The commit has no CI file.
    NoConfig { path: String },
    /// `workflow:rules` or job rules excluded everything.
    Filtered,
}

/// The project's CI file path.
pub fn config_path(project: &Project) -> String {
    project.ci_config_path.clone().filter(|p| !p.is_empty()).unwrap_or_else(|| DEFAULT_CI_CONFIG_PATH.into())
}

impl App {
    /// As [`System::create_pipeline_for`]; with `claim` (a push record and the position of one of
    /// its updates) the pipeline is stored only if that update's pipeline is still to be made,
    /// in the same transaction that marks it made: `Ok(Ok(None))` when an earlier pass made it.
    pub(crate) async fn create_pipeline_claiming(
        &self,
        project: &Project,
        req: &PipelineRequest,
        claim: Option<(i64, i32)>,
    ) -> Result<std::result::Result<Option<Pipeline>, NotCreated>> {
        let path = config_path(project);
        // One pooled reader for every read of the commit: no process per read.
        let mut objects = self.repos.reader(project.id).await?;
        let Some(snap) = objects.snapshot(&req.sha, &path).await? else {
            return Err(AppError::Invalid("ref", format!("commit {} does not exist", req.sha)));
        };
        let now = self.clock.now();
        let mut new = NewPipeline {
            project_id: project.id,
            ref_name: req.ref_name.clone(),
            tag: req.tag,
            sha: req.sha.clone(),
            before_sha: req.before_sha.clone(),
            source: req.source.clone(),
            status: PipelineStatus::Created,
            user_id: req.user.as_ref().map(|u| u.id),
            yaml_errors: None,
            variables: self.seal_pipeline_variables(project.id, &req.variables)?,
        };
        let text = match (snap.yaml.get(&path), snap.skipped.get(&path)) {
            (Some(t), _) => t.clone(),
            (None, Some(size)) => {
                new.status = PipelineStatus::Failed;
                new.yaml_errors = Some(format!(
                    "{path}: the CI configuration is too large: {size} bytes; at most {} bytes are read",
                    read::MAX_BLOB_SIZE
                ));
                let stored = self.store_pipeline(&new, &[], now, claim).await?;
                return Ok(Ok(stored.map(|(p, _)| p)));
            }
            (None, None) => return Ok(Err(NotCreated::NoConfig { path })),
        };
        let mut context = PipelineContext {
            ref_name: req.ref_name.clone(),
            ref_kind: if req.tag { RefKind::Tag } else { RefKind::Branch },
            default_branch: project.default_branch.clone().unwrap_or_else(|| "main".into()),
            source: req.source.clone(),
            variables: BTreeMap::new(),
            changed_paths: objects.changed_paths(&req.before_sha, &req.sha).await.unwrap_or(None),
            repo_files: snap.paths.clone(),
        };
        // Rules see predefined, CI/CD settings and pipeline variables (ids are not known yet:
        // `CI_PIPELINE_ID`/`CI_PIPELINE_IID` read as 0 in rules, as in GitLab's dry runs).
        drop(objects);
        let user_id = req.user.as_ref().map(|u| u.id);
        // Read once more with the generation, so that the jobs' hand-outs can start from it.
        let known = self.store.project_context(project.id, user_id).await?.ok_or(AppError::NotFound("Project"))?;
        let settings = &known.settings;
        let facts = self.pipeline_facts_for(&known.project, settings, req, &path, PipelineId::new(0), 0, now).await?;
        // A protected branch whose pipeline user may update it (see `ref_protected_for`): what
        // protected variables and `ref_protected` runners require.
        let protected = facts.protected;
        for (k, v) in predefined::pipeline_variables(&facts.borrow()) {
            context.variables.insert(k, v);
        }
        for v in self.settings_variables(settings, protected)? {
            context.variables.insert(v.key, v.value);
        }
        context.variables.extend(req.variables.iter().cloned());
        let compiled = compile(&CompileInput { path: path.clone(), text, files: snap.yaml, context });
        let Some(plan) = compiled.plan else {
            if compiled.diagnostics.iter().any(|d| d.severity == Severity::Error) {
                new.status = PipelineStatus::Failed;
                new.yaml_errors = Some(render_diagnostics(&compiled.diagnostics));
                let stored = self.store_pipeline(&new, &[], now, claim).await?;
                return Ok(Ok(stored.map(|(p, _)| p)));
            }
            return Ok(Err(NotCreated::Filtered));
        };
        let jobs: Vec<NewJob> = plan
            .jobs
            .iter()
            .map(|job| {
                let spec = JobSpec::from_plan(&plan, job);
                let timeout = job
                    .timeout_seconds
                    .and_then(|s| i64::try_from(s).ok())
                    .unwrap_or(self.ci.settings.default_timeout_secs);
                NewJob {
                    name: job.name.clone(),
                    stage: job.stage.clone(),
                    stage_index: i32::try_from(job.stage_index).unwrap_or(i32::MAX),
                    status: JobStatus::Created,
                    when: stored_when(job.when),
                    allow_failure: job.allow_failure.allowed,
                    spec: spec.to_json(),
                    tags: vars::normal_tags(&job.tags),
                    protected,
                    timeout_secs: timeout,
                    scheduled_at: None,
                }
            })
            .collect();
        let Some((pipeline, jobs)) = self.store_pipeline(&new, &jobs, now, claim).await? else { return Ok(Ok(None)) };
        self.auto_cancel_redundant(&pipeline).await;
        // The context its jobs are handed out with is what was just read (ADR 0012): kept before
        // the jobs are queued, so that the first claim finds it. A change committed since makes
        // the claim's generation newer, which reads it again.
        if let Err(e) = self.keep_context(JobContext::of(pipeline.clone(), known)).await {
            tracing::warn!(pipeline = pipeline.id.get(), error = %e, "job context not kept; the first hand-out reads it");
        }
        self.process_created(&pipeline, &jobs).await?;
        Ok(Ok(Some(self.store.pipeline_by_id(pipeline.id).await?.unwrap_or(pipeline))))
    }

    async fn store_pipeline(
        &self,
        new: &NewPipeline,
        jobs: &[NewJob],
        now: chrono::DateTime<chrono::Utc>,
        claim: Option<(i64, i32)>,
    ) -> Result<Option<(Pipeline, Vec<Job>)>> {
        Ok(match claim {
            None => Some(self.store.create_pipeline(new, jobs, now).await?),
            Some((record, position)) => self.store.create_push_pipeline(record, position, new, jobs, now).await?,
        })
    }
}

impl System<'_> {
    /// Compiles the CI file at `req.sha` and stores the pipeline. Pipeline and jobs appear
    /// together or not at all.
    pub async fn create_pipeline_for(
        &self,
        project: &Project,
        req: &PipelineRequest,
    ) -> Result<std::result::Result<Pipeline, NotCreated>> {
        match self.create_pipeline_claiming(project, req, None).await? {
            Ok(Some(p)) => Ok(Ok(p)),
            Ok(None) => Err(AppError::Internal("a pipeline without a claim was not stored".into())),
            Err(why) => Ok(Err(why)),
        }
    }
}
