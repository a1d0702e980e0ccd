//! The runner job API's use-cases (research §1.6–1.10): hand out jobs (long polling), accept
//! state reports, append traces. Runners authenticate with their token; job calls with the job
//! token, which exists only while the job runs, so a late or forged report finds nothing.

use super::context_cache::KeptContext;
use super::process::{Changed, millis};
use super::reported_failure::reported_reason;
use super::spec::JobSpec;
use crate::auth::token_digest;
use crate::{App, AppError, Result, System};
use autogit_core::ci::{FailureReason, JobStatus};
use autogit_core::{JobId, NamespaceId, ProjectId};
use autogit_protocol::{JobRequest, JobResponse, ReportedState, UpdateJobRequest};
use autogit_scheduler::gpu::Allocation;
use autogit_scheduler::queue::{RunnerAccessLevel as QAccess, RunnerInfo as QRunner};
use autogit_store::{
    AccessFilter, ContextGeneration, GroupFilter, Job, JobChange, JobClaim, JobContext, Page, ProjectFilter, Runner,
    RunnerAccessLevel, RunnerScope, RunnerSeen, TokenReport, TraceAppend,
};
use std::collections::BTreeSet;
use std::sync::Arc;

/// The job token prefix (GitLab's CI build token).
pub const JOB_TOKEN_PREFIX: &str = "glcbt-";

/// The answer to `POST /jobs/request`.
#[derive(Debug)]
pub enum JobOffer {
    /// The job, its tags and the pool of the runner that took it (for queue metrics by pool and
    /// tag set; the payload carries neither).
    Job(Box<JobResponse>, Vec<String>, Option<String>),
    /// `204` with this `X-GitLab-Last-Update`.
    NoJob { last_update: String },
}

/// The job's state after a report or trace append, for the `Job-Status` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobAck {
    pub status: JobStatus,
}

/// The outcome of a trace append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceAck {
    /// `202` with `Range: 0-<size>`.
    Accepted { size: i64, status: JobStatus },
    /// `416` with `Range: 0-<size>`: resend from `size`.
    Mismatch { size: i64, status: JobStatus },
}

fn seen(info: &autogit_protocol::RunnerInfo) -> RunnerSeen {
    let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
    RunnerSeen {
        version: some(&info.version),
        platform: some(&info.platform),
        architecture: some(&info.architecture),
        executor: some(&info.executor),
    }
}

impl App {
    /// What matching knows about a runner. Group runners take the projects of their group and
    /// its subgroups.
    async fn matching_info(&self, r: &Runner, info: &autogit_protocol::RunnerInfo) -> Result<QRunner> {
        let locked_to_projects = match r.scope {
            RunnerScope::Instance => None,
            RunnerScope::Project(p) => Some(vec![p]),
            RunnerScope::Group(g) => Some(self.group_project_ids(g).await?),
        };
        Ok(QRunner {
            id: r.id,
            tags: r.tags.iter().cloned().collect(),
            run_untagged: r.run_untagged,
            paused: r.paused,
            active: true,
            locked_to_projects,
            access_level: match r.access_level {
                RunnerAccessLevel::NotProtected => QAccess::NotProtected,
                RunnerAccessLevel::RefProtected => QAccess::RefProtected,
            },
            features: info.features.iter().filter(|(_, on)| **on).map(|(k, _)| k.clone()).collect::<BTreeSet<_>>(),
        })
    }

    async fn group_project_ids(&self, group: NamespaceId) -> Result<Vec<ProjectId>> {
        let all = AccessFilter { all: true, ..Default::default() };
        let mut groups = vec![group];
        let mut out = Vec::new();
        while let Some(g) = groups.pop() {
            let f = ProjectFilter { access: all.clone(), namespace_id: Some(g), search: None };
            out.extend(self.store.list_projects(&f, Page::ALL).await?.items.iter().map(|p| p.id));
            let f = GroupFilter { access: all.clone(), parent: Some(Some(g)), search: None };
            groups.extend(self.store.list_groups(&f, Page::ALL).await?.items.iter().map(|n| n.id));
        }
        Ok(out)
    }

    /// Claims a pending job for the runner and builds its payload; `None` if it is gone. The
    /// GPUs allocated with the hand-off are recorded with the claim, or freed if it fails.
    async fn claim(
        &self,
        job_id: JobId,
        runner: &Runner,
        alloc: Option<&Allocation>,
    ) -> Result<Option<(JobResponse, Vec<String>)>> {
        let token = format!("{JOB_TOKEN_PREFIX}{}", crate::auth::random_secret(40));
        let now = self.clock.now();
        let lease = now + self.ci.settings.lease_timeout;
        let claim =
            JobClaim { job_id, runner_id: runner.id, token_digest: token_digest(&token), lease_expires_at: lease };
        let claimed = self.claim_job(claim, now).await;
        let (job, generation) = match claimed {
            Ok(Some(c)) => (c.job, c.context_generation),
            other => {
                if alloc.is_some() {
                    self.release_gpus(job_id).await;
                }
                return other.map(|_| None);
            }
        };
        if let Some(a) = alloc
            && let Err(e) = self.record_allocation(&job, a).await
        {
            tracing::error!(job = job.id.get(), error = %e, "could not store the GPU allocation");
        }
        let built = self.build_payload(&job, generation, runner, &token, alloc).await;
        match built {
            Ok(payload) => {
                // A job starting unblocks nothing; only the pipeline's status can change (to
                // running): O(1) through the pipeline's view.
                if let Err(e) = self.process_jobs(job.pipeline_id, &[Changed::Record(&job)]).await {
                    tracing::warn!(job = job.id.get(), error = %e, "pipeline status after a claim failed");
                }
                Ok(Some((payload, job.tags.clone())))
            }
            Err(e) => {
                // The job cannot be described (its project vanished, its spec is unreadable):
                // fail it rather than leave it running on a runner that never got it.
                tracing::error!(job = job.id.get(), error = %e, "could not build the job payload");
                let change =
                    JobChange { failure_reason: Some(FailureReason::DataIntegrityFailure), ..Default::default() };
                let now = self.clock.now();
                let failed =
                    self.store.transition_job(job.id, &[JobStatus::Running], JobStatus::Failed, &change, now).await?;
                let changed = failed.as_ref().map_or(Changed::Id(job.id), Changed::Record);
                self.after_finish(&job, &[changed]).await?;
                Ok(None)
            }
        }
    }

    async fn build_payload(
        &self,
        job: &Job,
        generation: ContextGeneration,
        runner: &Runner,
        token: &str,
        alloc: Option<&Allocation>,
    ) -> Result<JobResponse> {
        let spec = self.spec_of(job)?;
        let kept = self.job_context(job, generation).await?;
        let mut facts = kept.facts.clone();
        // Protected only if it still is and was when the job was created: a branch unprotected
        // since loses its secrets, a job made unprotected never gains them.
        facts.protected &= job.protected;
        let mut payload = self.job_payload(job, &spec, &kept.ctx, &facts, runner, token).await?;
        // Last, so that no CI/CD variable can widen what the job may see.
        let gpu_vars = self.gpu_variables(runner, alloc);
        payload.variables.retain(|v| !gpu_vars.iter().any(|g| g.key == v.key));
        payload.variables.extend(gpu_vars);
        Ok(payload)
    }

    /// Everything else the payload reads from the store (ADR 0012): kept from an earlier
    /// hand-out of the pipeline while the store's context generation has not grown since it was
    /// read, else read in one call. So a change of rules, roles or variables committed before the
    /// claim applies to the job, as if the context were read for every hand-out.
    async fn job_context(&self, job: &Job, seen: ContextGeneration) -> Result<Arc<KeptContext>> {
        if let Some(kept) = self.ci.contexts.get(job.pipeline_id, seen) {
            return Ok(kept);
        }
        let _loading = self.ci.contexts.loading.lock().await;
        // Read meanwhile by a claim that waited less.
        if let Some(kept) = self.ci.contexts.get(job.pipeline_id, seen) {
            return Ok(kept);
        }
        let ctx = self.store.job_context(job.pipeline_id).await?.ok_or(AppError::NotFound("Pipeline"))?;
        self.keep_context(ctx).await
    }

    /// Keeps `ctx` with the facts derived from it for the hand-outs of its pipeline.
    pub(crate) async fn keep_context(&self, ctx: JobContext) -> Result<Arc<KeptContext>> {
        let facts = self.facts_of(&ctx).await?;
        // A commit that could not be read gives empty facts: not kept, so the next job tries again.
        let complete = facts.commit.timestamp.is_some();
        let kept = Arc::new(KeptContext { ctx, facts });
        if complete {
            self.ci.contexts.put(kept.clone());
        }
        Ok(kept)
    }

    /// Fails a running job and retries it when its `retry:` says so. Returns the job's status;
    /// `None` when the job no longer exists.
    pub(crate) async fn fail_job(
        &self,
        job: &Job,
        reason: FailureReason,
        exit_code: Option<i32>,
    ) -> Result<Option<JobStatus>> {
        let change = JobChange { failure_reason: Some(reason), exit_code, ..Default::default() };
        let now = self.clock.now();
        let Some(failed) =
            self.store.transition_job(job.id, &[JobStatus::Running], JobStatus::Failed, &change, now).await?
        else {
            return Ok(self.system().job_status(job.id).await);
        };
        let spec = JobSpec::parse(&failed)?;
        let attempts = u32::try_from(failed.attempt - 1).unwrap_or(0);
        let mut next = None;
        if autogit_scheduler::progress::retry_decision(&spec.retry_policy(), attempts, reason, exit_code) {
            let retry = self.store.retry_job(failed.id, self.clock.now()).await?;
            tracing::info!(
                job = failed.id.get(),
                retry = retry.id.get(),
                attempt = retry.attempt,
                "job retried automatically"
            );
            self.enqueue_job(&retry);
            next = Some(retry);
        }
        // The new try is pending (a runner may take it meanwhile): read back, not taken as given.
        let mut changed = vec![Changed::Record(&failed)];
        changed.extend(next.as_ref().map(|n| Changed::Id(n.id)));
        self.after_finish(&failed, &changed).await?;
        Ok(Some(failed.status))
    }

    /// A job stopped running (any final state): free its GPUs, archive its trace (in the
    /// background), move its pipeline on. `changed`: the job and the new try of it, if one was
    /// made.
    pub(crate) async fn after_finish(&self, job: &Job, changed: &[Changed<'_>]) -> Result<()> {
        self.release_gpus(job.id).await;
        // The record that finished the job tells whether it has a log to archive; without one,
        // it is looked up. An append that lands after the finish (its token checked before) is
        // archived by the housekeeping sweep.
        let logged = changed.iter().find_map(|c| match c {
            Changed::Record(r) if r.id == job.id => Some(r.trace_size > 0),
            _ => None,
        });
        if logged != Some(false) {
            self.archive_trace_soon(job.id);
        }
        self.process_jobs(job.pipeline_id, changed).await
    }
}

impl System<'_> {
    /// `POST /jobs/request`: a job this runner may take, waiting up to the long-poll hold for
    /// one to be queued. `Forbidden` for an unknown runner token.
    pub async fn request_job(&self, req: &JobRequest) -> Result<JobOffer> {
        let runner = self.verify_runner(&req.token, &seen(&req.info)).await?;
        if runner.paused {
            // As GitLab: a paused runner is answered at once, not held (unpausing it answers any
            // held request anyway, see `Runtime::bump`).
            return Ok(JobOffer::NoJob { last_update: self.ci.last_update() });
        }
        let derived = self.note_hardware(&runner, &req.info).await?;
        let mut info = self.matching_info(&runner, &req.info).await?;
        info.tags.extend(derived);
        let deadline = tokio::time::Instant::now() + self.ci.settings.long_poll;
        loop {
            let (job, alloc) = match self.ci.pick_or_wait(&info, millis(self.clock.now())) {
                Ok(handed) => handed,
                Err((waiter, mut rx)) => match tokio::time::timeout_at(deadline, &mut rx).await {
                    Ok(Ok(handed)) => handed,
                    _ => {
                        self.ci.stop_waiting(waiter);
                        // A job handed over between the timeout and the unregistration.
                        match rx.try_recv() {
                            Ok(handed) => handed,
                            Err(_) => return Ok(JobOffer::NoJob { last_update: self.ci.last_update() }),
                        }
                    }
                },
            };
            match self.claim(job.id, &runner, alloc.as_ref()).await {
                Ok(Some((offer, tags))) => {
                    return Ok(JobOffer::Job(Box::new(offer), tags, self.pool_of_runner(runner.id)));
                }
                // Canceled or claimed meanwhile: look for another.
                Ok(None) => {}
                Err(e) => {
                    // Put it back for someone else; then report the error.
                    if let Ok(Some(j)) = self.store.job_by_id(job.id).await
                        && j.status == JobStatus::Pending
                        && j.runner_id.is_none()
                    {
                        self.enqueue_job(&j);
                    }
                    return Err(e);
                }
            }
        }
    }

    /// The running job a job token belongs to, if it is job `id`. `Forbidden` otherwise, as
    /// GitLab answers a stale or forged token.
    pub async fn job_for_token(&self, id: JobId, token: &str) -> Result<Job> {
        match self.store.job_by_token_digest(&token_digest(token)).await? {
            Some(job) if job.id == id => Ok(job),
            _ => Err(AppError::Forbidden(Some("job token is not valid for this job".into()))),
        }
    }

    /// The status a runner should be told about a job whose token no longer works.
    pub async fn job_status(&self, id: JobId) -> Option<JobStatus> {
        self.store.job_by_id(id).await.ok().flatten().map(|j| j.status)
    }

    /// `PUT /jobs/:id`.
    pub async fn update_job(&self, id: JobId, req: &UpdateJobRequest) -> Result<JobAck> {
        if req.state == ReportedState::Success && req.gpu_usage.is_none() {
            // The common report in one statement (shared with the reports that arrive meanwhile):
            // the token is checked by the transition itself.
            let report = TokenReport { job_id: id, token_digest: token_digest(&req.token) };
            if let Some(done) = self.report_success(report, self.clock.now()).await? {
                self.after_finish(&done, &[Changed::Record(&done)]).await?;
                return Ok(JobAck { status: done.status });
            }
            // Not running with this token: the path below tells a bad token from a job that
            // moved, as before.
        }
        let job = self.job_for_token(id, &req.token).await?;
        let last = matches!(req.state, ReportedState::Success | ReportedState::Failed);
        if let (true, Some(usage)) = (last, &req.gpu_usage)
            && let Err(e) = self.store_gpu_usage(&job, usage).await
        {
            // Telemetry is a report, not part of the job's outcome.
            tracing::warn!(job = job.id.get(), error = %e, "GPU telemetry not kept");
        }
        // A job that holds a token was claimed, so it has a runner: the lease is that runner's.
        let runner_id = job.runner_id.ok_or(AppError::NotFound("Job"))?;
        let now = self.clock.now();
        match req.state {
            ReportedState::Pending | ReportedState::Running => {
                self.store.extend_lease(job.id, runner_id, now + self.ci.settings.lease_timeout).await?;
                Ok(JobAck { status: job.status })
            }
            ReportedState::Success => {
                let done = self
                    .store
                    .transition_job(job.id, &[JobStatus::Running], JobStatus::Success, &JobChange::default(), now)
                    .await?;
                // Without a record the job had left `running` meanwhile: read it back.
                let changed = done.as_ref().map_or(Changed::Id(job.id), Changed::Record);
                self.after_finish(&job, &[changed]).await?;
                Ok(JobAck { status: done.map_or(job.status, |j| j.status) })
            }
            ReportedState::Failed => {
                let reason = req.failure_reason.map_or(FailureReason::UnknownFailure, reported_reason);
                // A job deleted meanwhile has no status to report.
                let status = self.fail_job(&job, reason, req.exit_code).await?.ok_or(AppError::NotFound("Job"))?;
                Ok(JobAck { status })
            }
        }
    }

    /// `PATCH /jobs/:id/trace`: appends at `start` when that is the stored size.
    pub async fn append_job_trace(&self, id: JobId, token: &str, start: i64, bytes: &[u8]) -> Result<TraceAck> {
        let job = self.job_for_token(id, token).await?;
        // A job that holds a token was claimed, so it has a runner: the lease is that runner's.
        let runner_id = job.runner_id.ok_or(AppError::NotFound("Job"))?;
        self.store.extend_lease(job.id, runner_id, self.clock.now() + self.ci.settings.lease_timeout).await?;
        let end = start.saturating_add(i64::try_from(bytes.len()).unwrap_or(i64::MAX));
        if end > self.ci.settings.max_trace_bytes {
            // Only a patch that would really be appended counts against the limit (as GitLab,
            // which checks the size after the append): one at the wrong offset is a 416.
            let size = self.store.trace_size(job.id).await?.unwrap_or_default();
            if start != size {
                return Ok(TraceAck::Mismatch { size, status: job.status });
            }
            self.fail_job(&job, FailureReason::TraceSizeExceeded, None).await?;
            return Err(AppError::Forbidden(Some("the job log is larger than the limit".into())));
        }
        Ok(match self.store.append_trace(job.id, start, bytes).await? {
            TraceAppend::Appended { size } => {
                // Nobody listening is not an error.
                let _ = self.ci.trace_grew.send(job.id);
                TraceAck::Accepted { size, status: job.status }
            }
            TraceAppend::Mismatch { size } => TraceAck::Mismatch { size, status: job.status },
            // The job finished after its token was checked: refused as any append to it.
            TraceAppend::Archived { .. } => {
                return Err(AppError::Forbidden(Some("the job has finished; its log is closed".into())));
            }
        })
    }
}
