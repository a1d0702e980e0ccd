//! Applying the scheduler's progression decisions to stored jobs: which `created` jobs become
//! `pending` (and are queued), `manual`, `scheduled` or `skipped`, and what the pipeline's status
//! is. Called after every change of a job's status, with the jobs that changed; serialised per
//! pipeline. The pipeline's jobs are read once into its [`Tracked`] view, then only the changed
//! ones: a job's claim or finish costs O(1) in the pipeline's size (`tracked` says why it is
//! safe). A claim or finish hands in the record its compare-and-set returned, which is taken as
//! it is when no later change can have overtaken it ([`record_stands`]); other changes are read
//! back by id.

use super::spec::{JobSpec, name_index, node};
use super::tracked::{Tracked, lean};
use crate::{App, Result, System};
use autogit_core::ci::{JobStatus, PipelineStatus};
use autogit_core::{JobId, PipelineId};
use autogit_scheduler::Millis;
use autogit_scheduler::progress::{Tracker, Transition};
use autogit_scheduler::queue::QueuedJob;
use autogit_store::{Job, JobChange, Pipeline};
use chrono::{DateTime, Utc};
use std::collections::BTreeSet;
use std::sync::Arc;

pub(crate) fn millis(t: DateTime<Utc>) -> Millis {
    Millis(t.timestamp_millis())
}

/// The queue's view of a pending job.
pub(crate) fn queued(job: &Job) -> QueuedJob {
    QueuedJob {
        id: job.id,
        project_id: job.project_id,
        tags: job.tags.iter().cloned().collect::<BTreeSet<_>>(),
        required_features: BTreeSet::new(),
        protected_ref: job.protected,
        enqueued_at: millis(job.queued_at.unwrap_or(job.created_at)),
    }
}

/// A job whose status changed: the record the store answered the change with, or its id only
/// (then it is read back).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Changed<'a> {
    Record(&'a Job),
    Id(JobId),
}

/// Whether `record` (id, status), returned by the compare-and-set that gave the job that status,
/// is at least as new as what the view `held` for the job's name, so that the view may take it
/// without reading the job back. A row's status only moves forward from `running` (to a final
/// status, never back: a retry is a new row), and `success`, `failed` and `canceled` are never
/// left. So a final record always stands, and a `running` one unless the view already holds that
/// row finished. Any other status (`pending` and the other unstarted ones can be left and come
/// back) is read back, as is everything when in doubt.
pub(crate) fn record_stands(record: (JobId, JobStatus), held: (JobId, JobStatus)) -> bool {
    match record.1 {
        s if s.is_retryable() => true,
        JobStatus::Running => !(held.0 == record.0 && held.1.is_finished()),
        _ => false,
    }
}

/// Where progression starts.
#[derive(Clone, Copy)]
enum Start<'a> {
    /// From these jobs' changes, on the pipeline's view (read whole when it has none).
    Changed(&'a [Changed<'a>]),
    /// From every job, read again.
    All,
    /// A pipeline just stored with these jobs (the store's answer): its first view is made of
    /// them, not read back. A change made meanwhile makes a compare-and-set fail, which reads
    /// the pipeline again, as for any stale view.
    Created(PipelineStatus, &'a [Job]),
}

/// Loads of a stale view allowed in one call before giving up (each follows a lost
/// compare-and-set, i.e. a concurrent change the view had not seen yet).
const MAX_RELOADS: usize = 3;

impl App {
    /// The latest try of each job of the pipeline, with its parsed spec.
    pub(crate) async fn latest_jobs(&self, pipeline_id: PipelineId) -> Result<Vec<(Job, Arc<JobSpec>)>> {
        let jobs = self.store.jobs_of_pipeline(pipeline_id, false).await?;
        jobs.into_iter()
            .map(|j| {
                let spec = self.spec_of(&j)?;
                Ok((j, spec))
            })
            .collect()
    }

    /// The latest jobs of the pipeline that `keep` accepts, from its view when it has one (no
    /// store read), else from the store.
    pub(crate) async fn latest_jobs_where(
        &self,
        pipeline_id: PipelineId,
        keep: impl Fn(&Job) -> bool,
    ) -> Result<Vec<Job>> {
        let slot = self.ci.pipeline_slot(pipeline_id);
        if let Some(view) = slot.lock().await.as_ref() {
            return Ok(view.jobs.iter().map(|(j, _)| j).filter(|j| keep(j)).cloned().collect());
        }
        Ok(self.store.jobs_of_pipeline(pipeline_id, false).await?.into_iter().filter(|j| keep(j)).collect())
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

    /// As [`System::process_pipeline`] after the jobs `changed` (in any order) changed status:
    /// only they are read (or taken as given), and only what they can unblock is examined.
    pub(crate) async fn process_jobs(&self, pipeline_id: PipelineId, changed: &[Changed<'_>]) -> Result<()> {
        self.progress(pipeline_id, Start::Changed(changed)).await
    }

    /// Progression of a pipeline just stored, from the records the store returned.
    pub(crate) async fn process_created(&self, pipeline: &Pipeline, jobs: &[Job]) -> Result<()> {
        self.progress(pipeline.id, Start::Created(pipeline.status, jobs)).await
    }

    async fn progress(&self, pipeline_id: PipelineId, start: Start<'_>) -> Result<()> {
        let slot = self.ci.pipeline_slot(pipeline_id);
        let mut held = slot.lock().await;
        let mut view = self.ci.pipelines().take(&mut held);
        let mut changed_idx = None;
        if let (Some(v), Start::Changed(changed)) = (view.as_mut(), start) {
            changed_idx = self.refresh(v, changed).await?;
        }
        let mut view = match (view, changed_idx.is_some(), start) {
            (Some(v), true, _) => v,
            (None, _, Start::Created(status, jobs)) => {
                let mut jobs = jobs.to_vec();
                // In the store's order for a pipeline's jobs (`jobs_of_pipeline`).
                jobs.sort_by_key(|j| (j.stage_index, j.id));
                self.view_of(jobs, Some(status))?
            }
            _ => self.load_view(pipeline_id).await?,
        };
        let mut first = changed_idx;
        let mut reloads = 0;
        // Every productive round moves a job out of `created` or `scheduled` for good.
        for _ in 0..=2 * view.jobs.len() + MAX_RELOADS {
            let now = self.clock.now();
            let transitions = match first.take() {
                Some(idx) => view.tracker.advance(&idx, millis(now)),
                None => view.tracker.advance_all(millis(now)),
            };
            if transitions.is_empty() {
                break;
            }
            if !self.store_transitions(&mut view, &transitions, now).await? {
                // A job moved under us: the view was stale. Read the pipeline again and decide anew.
                reloads += 1;
                if reloads > MAX_RELOADS {
                    break;
                }
                view = self.load_view(pipeline_id).await?;
                continue;
            }
            // Decided jobs may unblock more (a skip frees the next stage; a `start_in: 0` job
            // is due on the next round).
            first = Some(transitions.iter().map(|t| t.job).collect());
        }
        self.store_pipeline_status(pipeline_id, &mut view).await?;
        let finished = view.stored_status.is_some_and(|s| s.is_finished());
        // A finished pipeline's view and job context are dropped; a retry reads them again.
        if finished {
            self.ci.contexts.forget(pipeline_id);
        } else {
            self.ci.pipelines().keep(&mut held, view);
        }
        Ok(())
    }

    /// Reads the whole pipeline into a new view.
    async fn load_view(&self, pipeline_id: PipelineId) -> Result<Tracked> {
        let jobs = self.store.jobs_of_pipeline(pipeline_id, false).await?;
        let stored_status = self.store.pipeline_by_id(pipeline_id).await?.map(|p| p.status);
        self.view_of(jobs, stored_status)
    }

    /// A view of the latest jobs of a pipeline (in the store's order) and its stored status.
    fn view_of(&self, jobs: Vec<Job>, stored_status: Option<PipelineStatus>) -> Result<Tracked> {
        let jobs = jobs
            .into_iter()
            .map(|j| {
                let spec = self.spec_of(&j)?;
                Ok((lean(j), spec))
            })
            .collect::<Result<Vec<_>>>()?;
        let by_name = name_index(&jobs);
        let tracker = Tracker::new(jobs.iter().enumerate().map(|(i, (j, s))| node(i, j, s, &by_name)).collect());
        Ok(Tracked { jobs, by_name, tracker, stored_status })
    }

    /// Puts the changed jobs into the view (as given when their record stands, else read back);
    /// their indexes, or `None` when the view cannot place one (a job it does not know: read the
    /// pipeline again).
    async fn refresh(&self, view: &mut Tracked, changed: &[Changed<'_>]) -> Result<Option<Vec<usize>>> {
        let mut idx = Vec::with_capacity(changed.len());
        for c in changed {
            let given = match c {
                Changed::Record(r) => view
                    .by_name
                    .get(&r.name)
                    .filter(|&&i| record_stands((r.id, r.status), (view.jobs[i].0.id, view.jobs[i].0.status)))
                    .map(|_| (*r).clone()),
                Changed::Id(_) => None,
            };
            let job = match given {
                Some(job) => job,
                None => {
                    let id = match c {
                        Changed::Record(r) => r.id,
                        Changed::Id(id) => *id,
                    };
                    let Some(job) = self.store.job_by_id(id).await? else { return Ok(None) };
                    job
                }
            };
            let Some(&i) = view.by_name.get(&job.name) else { return Ok(None) };
            let current = &view.jobs[i].0;
            // An older try of a retried job changes nothing: progression sees the latest only.
            if job.id != current.id && job.attempt <= current.attempt {
                continue;
            }
            let spec = self.spec_of(&job)?;
            view.tracker.replace(i, node(i, &job, &spec, &view.by_name));
            view.jobs[i] = (lean(job), spec);
            idx.push(i);
        }
        Ok(Some(idx))
    }

    /// Stores the decisions (compare-and-set on the status the view saw); false when one found
    /// its job in another status than the view's.
    async fn store_transitions(&self, view: &mut Tracked, ts: &[Transition], now: DateTime<Utc>) -> Result<bool> {
        for t in ts {
            let job = &view.jobs[t.job].0;
            let mut change = JobChange::default();
            if t.to == JobStatus::Scheduled {
                change.scheduled_at = t.scheduled_at.and_then(|m| DateTime::from_timestamp_millis(m.0));
            }
            // The tracker already applied `t`: the status the store must still hold is the view's.
            let Some(moved) = self.store.transition_job(job.id, &[job.status], t.to, &change, now).await? else {
                return Ok(false);
            };
            if moved.status == JobStatus::Pending {
                self.enqueue_job(&moved);
            }
            view.jobs[t.job].0 = lean(moved);
        }
        Ok(true)
    }

    async fn store_pipeline_status(&self, pipeline_id: PipelineId, view: &mut Tracked) -> Result<()> {
        if view.jobs.is_empty() {
            return Ok(()); // a pipeline with YAML errors keeps the status it was created with
        }
        let status = view.tracker.pipeline_status();
        if view.stored_status != Some(status) {
            self.store.set_pipeline_status(pipeline_id, status, self.clock.now()).await?;
            view.stored_status = Some(status);
        }
        Ok(())
    }
}

impl System<'_> {
    /// Moves the pipeline forward as far as its jobs allow and stores its status, reading all of
    /// its jobs again (after changes made outside the job-by-job path: creation, cancel, play,
    /// retry).
    pub async fn process_pipeline(&self, pipeline_id: PipelineId) -> Result<()> {
        self.progress(pipeline_id, Start::All).await
    }
}

#[cfg(test)]
mod tests {
    use super::record_stands;
    use autogit_core::JobId;
    use autogit_core::ci::JobStatus::*;

    #[test]
    fn only_records_no_later_change_can_overtake_stand() {
        // Final statuses are never left: they stand whatever the view holds.
        for s in [Success, Failed, Canceled] {
            assert!(record_stands((JobId::new(7), s), (JobId::new(7), Running)), "{s:?}");
            assert!(record_stands((JobId::new(7), s), (JobId::new(7), Pending)), "{s:?}");
        }
        // A claim's record stands over what came before it, and over an older try.
        assert!(record_stands((JobId::new(7), Running), (JobId::new(7), Pending)));
        assert!(record_stands((JobId::new(8), Running), (JobId::new(7), Failed)));
        // The finish got there first: the view is newer, the job is read back.
        for s in [Success, Failed, Canceled] {
            assert!(!record_stands((JobId::new(7), Running), (JobId::new(7), s)), "{s:?}");
        }
        // Statuses a job can leave and come back to are always read back.
        for s in [Created, Pending, Manual, Scheduled, Skipped] {
            assert!(!record_stands((JobId::new(7), s), (JobId::new(7), Created)), "{s:?}");
        }
    }
}
