//! Applying the scheduler's progression decisions to stored jobs: which `created` jobs become
//! `pending` (and are queued), `manual`, `scheduled` or `skipped`, and what the pipeline's status
//! is. Called after every change of a job's status; serialised per pipeline.

use super::spec::{JobSpec, nodes};
use crate::{App, Result};
use autogit_core::ci::JobStatus;
use autogit_scheduler::Millis;
use autogit_scheduler::progress;
use autogit_scheduler::queue::QueuedJob;
use autogit_store::{Job, JobChange};
use chrono::{DateTime, Utc};
use std::collections::BTreeSet;
use std::sync::Arc;

pub(crate) fn millis(t: DateTime<Utc>) -> Millis {
    Millis(t.timestamp_millis())
}

/// The queue's view of a pending job.
pub(crate) fn queued(job: &Job) -> QueuedJob {
    QueuedJob {
        id: job.id as u64,
        project_id: job.project_id as u64,
        tags: job.tags.iter().cloned().collect::<BTreeSet<_>>(),
        required_features: BTreeSet::new(),
        protected_ref: job.protected,
        enqueued_at: millis(job.queued_at.unwrap_or(job.created_at)),
    }
}

impl App {
    /// The latest try of each job of the pipeline, with its parsed spec.
    pub(crate) async fn latest_jobs(&self, pipeline_id: i64) -> Result<Vec<(Job, Arc<JobSpec>)>> {
        let jobs = self.store.jobs_of_pipeline(pipeline_id, false).await?;
        jobs.into_iter()
            .map(|j| {
                let spec = self.spec_of(&j)?;
                Ok((j, spec))
            })
            .collect()
    }

    /// The job's parsed spec, from the cache when it was read before.
    pub(crate) fn spec_of(&self, job: &Job) -> Result<Arc<JobSpec>> {
        if let Some(s) = self.ci.cached_spec(job.id) {
            return Ok(s);
        }
        let spec = Arc::new(JobSpec::parse(job)?);
        self.ci.cache_spec(job.id, spec.clone());
        Ok(spec)
    }

    /// Moves the pipeline forward as far as its jobs allow and stores its status.
    pub async fn process_pipeline(&self, pipeline_id: i64) -> Result<()> {
        let lock = self.ci.pipeline_lock(pipeline_id);
        let _held = lock.lock().await;
        // Each round may unblock more jobs (a skipped job frees the next stage): repeat until
        // nothing changes. Bounded by the number of jobs, since every round moves at least one.
        let mut jobs = self.latest_jobs(pipeline_id).await?;
        for _ in 0..=jobs.len() {
            let now = self.clock.now();
            let transitions = progress::advance(&nodes(&jobs), millis(now));
            if transitions.is_empty() {
                break;
            }
            for t in transitions {
                let (job, _) = &jobs[t.job];
                let mut change = JobChange::default();
                if t.to == JobStatus::Scheduled {
                    change.scheduled_at = t.scheduled_at.and_then(|m| DateTime::from_timestamp_millis(m.0));
                }
                let moved = self.store.transition_job(job.id, &[job.status], t.to, &change, now).await?;
                if let Some(moved) = moved {
                    if moved.status == JobStatus::Pending {
                        self.enqueue_job(&moved);
                    }
                    jobs[t.job].0 = moved;
                }
            }
        }
        self.store_pipeline_status(pipeline_id, &jobs).await
    }

    async fn store_pipeline_status(&self, pipeline_id: i64, jobs: &[(Job, Arc<JobSpec>)]) -> Result<()> {
        let Some(p) = self.store.pipeline_by_id(pipeline_id).await? else { return Ok(()) };
        if jobs.is_empty() {
            return Ok(()); // a pipeline with YAML errors keeps the status it was created with
        }
        let status = progress::pipeline_status(&nodes(jobs));
        if status != p.status {
            self.store.set_pipeline_status(pipeline_id, status, self.clock.now()).await?;
        }
        Ok(())
    }
}
