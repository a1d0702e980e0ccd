//! Job traces once their job has finished: archived as one blob each (GitLab's "trace
//! archiving"), read from wherever they are.
//!
//! While a job runs, the runner's appends go to the store piece by piece (`runner_api`) and
//! readers read them there. Once it has finished, the whole log is copied into the blob
//! `traces/<project id>/<job id>.log` (an all-or-nothing put), and only after that put completed
//! is the trace archived in the store: its pieces deleted and its flag set, one transaction,
//! compare-and-set on the size. A crash between the two leaves a finished job that still has
//! its pieces; the sweep (`archive_traces_after`, run by housekeeping) finds it and writes the
//! same key again. So no byte is ever only in a blob that is not yet complete, and no archived
//! trace lacks its blob.
//!
//! Archiving starts in the background as soon as a job finishes, so the runner's `PUT /jobs/:id`
//! answer does not wait for it; the sweep covers whatever that attempt did not finish. Deleting
//! a project removes its traces' blobs after its records, and a blob whose project no longer
//! exists is removed by the orphan sweep (jobs are deleted only with their project).

use crate::{App, AppError, Result, System};
use autogit_store::blob::{BlobKey, ByteStream, bytes_body};
use autogit_store::{Job, JobId, ProjectId, Store, StoreError};
use futures_util::StreamExt;
use futures_util::stream;
use std::sync::Arc;

use super::blobs::internal;

/// The blob prefix of every trace.
const TRACES: &str = "traces";
/// Bytes read from the store at a time, copying or serving a trace.
const PAGE: i64 = 256 << 10;
/// Jobs the sweep archives in one step.
const SWEEP_BATCH: i64 = 100;

/// The blob of a job's archived trace.
fn trace_key(project_id: ProjectId, job_id: JobId) -> Result<BlobKey> {
    BlobKey::new(format!("{TRACES}/{project_id}/{job_id}.log")).map_err(internal)
}

/// The blobs of every trace of a project.
fn project_prefix(project_id: ProjectId) -> Result<BlobKey> {
    BlobKey::new(format!("{TRACES}/{project_id}")).map_err(internal)
}

/// A job's log on its way out: its length and a stream of exactly that many bytes.
pub struct JobTrace {
    pub size: u64,
    pub body: ByteStream<'static>,
}

impl std::fmt::Debug for JobTrace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobTrace").field("size", &self.size).finish_non_exhaustive()
    }
}

fn io_error(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// Bytes `from..to` of a trace as the store holds them, page by page. A page shorter than asked
/// for ends the stream with an error: the pieces are gone (archived meanwhile), and a copy that
/// went on would be a truncated log.
fn store_pages(store: Arc<dyn Store>, job_id: JobId, from: i64, to: i64) -> ByteStream<'static> {
    Box::pin(stream::unfold(from, move |at| {
        let store = store.clone();
        async move {
            if at >= to {
                return None;
            }
            let want = PAGE.min(to - at);
            let page = match store.read_trace(job_id, at, want).await {
                Ok(bytes) if bytes.len() as i64 == want => Ok(bytes.into()),
                Ok(bytes) => Err(io_error(format!(
                    "the trace of job {job_id} ended at {} of {to} bytes",
                    at + bytes.len() as i64
                ))),
                Err(e) => Err(io_error(e)),
            };
            // After an error the stream ends.
            let next = if page.is_ok() { at + want } else { to };
            Some((page, next))
        }
    }))
}

impl App {
    /// Archives the trace of job `job_id` in the background; failures are left to the sweep.
    /// Shutdown waits for it (`finish_background`).
    pub(crate) fn archive_trace_soon(&self, job_id: JobId) {
        let app = self.clone();
        self.ci.background.spawn(async move {
            if let Err(e) = app.archive_trace(job_id).await {
                tracing::warn!(job = job_id.get(), error = %e, "trace not archived yet; the sweep tries again");
            }
        });
    }

    /// Copies the trace of a finished job into its blob, then archives it in the store. `true`
    /// when this call archived it; `false` when there was nothing to do (not finished, no log,
    /// archived already, gone) or the log grew meanwhile (the sweep copies it again).
    pub(crate) async fn archive_trace(&self, job_id: JobId) -> Result<bool> {
        let Some(job) = self.store.job_by_id(job_id).await? else { return Ok(false) };
        if !job.status.is_finished() || job.trace_archived || job.trace_size == 0 {
            return Ok(false);
        }
        let key = trace_key(job.project_id, job.id)?;
        let size = job.trace_size;
        let body = store_pages(self.store.clone(), job.id, 0, size);
        let stored = self.blobs.put(&key, body, u64::try_from(size).ok()).await.map_err(internal)?;
        if stored.size != size as u64 {
            return Err(AppError::Internal(format!("trace blob '{key}' has {} of {size} bytes", stored.size)));
        }
        match self.store.archive_trace(job.id, size).await {
            Ok(archived) => Ok(archived),
            // Deleted with its project meanwhile: the blob is nobody's.
            Err(StoreError::NotFound(_)) => {
                self.remove_trace_blob(&key).await;
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn remove_trace_blob(&self, key: &BlobKey) {
        if let Err(e) = self.blobs.remove(key).await {
            tracing::warn!(%key, error = %e, "trace blob not removed");
        }
    }

    /// Removes the trace blobs of a deleted project (after its records: nobody can reach them).
    pub(crate) async fn remove_project_traces(&self, project_id: ProjectId) {
        let removed = match project_prefix(project_id) {
            Ok(prefix) => self.blobs.remove_prefix(&prefix).await.map_err(internal),
            Err(e) => Err(e),
        };
        if let Err(e) = removed {
            tracing::warn!(project_id = project_id.get(), error = %e, "trace blobs of a removed project not removed; the orphan sweep retries");
        }
    }

    /// The whole log of `job`: from its blob when archived, else from the store; a read that
    /// finds the pieces archived under it goes on from the blob.
    pub(crate) async fn trace_of(&self, job: &Job) -> Result<JobTrace> {
        let size = u64::try_from(job.trace_size).unwrap_or(0);
        if job.trace_archived {
            let opened = self.blobs.open(&trace_key(job.project_id, job.id)?, None).await.map_err(internal)?;
            return Ok(JobTrace { size: opened.size, body: opened.body });
        }
        let (app, job_id, to) = (self.clone(), job.id, job.trace_size);
        let steps = stream::unfold(Some(0), move |at: Option<i64>| {
            let app = app.clone();
            async move {
                let at = at.filter(|at| *at < to)?;
                let want = PAGE.min(to - at);
                let part: ByteStream<'static> = match app.store.read_trace(job_id, at, want).await {
                    Ok(bytes) if bytes.len() as i64 == want => return Some((bytes_body(bytes), Some(at + want))),
                    Ok(bytes) => {
                        let got = at + bytes.len() as i64;
                        Box::pin(bytes_body(bytes).chain(app.trace_rest(job_id, got, to).await))
                    }
                    Err(e) => Box::pin(stream::once(async move { Err(io_error(e)) })),
                };
                Some((part, None))
            }
        });
        Ok(JobTrace { size, body: Box::pin(steps.flatten()) })
    }

    /// Bytes `from..to` of a trace whose pieces ran out in the store: from the blob, if it was
    /// archived meanwhile; an error otherwise.
    async fn trace_rest(&self, job_id: JobId, from: i64, to: i64) -> ByteStream<'static> {
        let failed = |e: std::io::Error| -> ByteStream<'static> { Box::pin(stream::once(async move { Err(e) })) };
        let job = match self.store.job_by_id(job_id).await {
            Ok(Some(job)) if job.trace_archived => job,
            Ok(_) => return failed(io_error(format!("the trace of job {job_id} ended at {from} of {to} bytes"))),
            Err(e) => return failed(io_error(e)),
        };
        let range = u64::try_from(from).unwrap_or(0)..u64::try_from(to).unwrap_or(0);
        match trace_key(job.project_id, job.id) {
            Ok(key) => match self.blobs.open(&key, Some(range)).await {
                Ok(opened) => opened.body,
                Err(e) => failed(io_error(e)),
            },
            Err(e) => failed(io_error(e)),
        }
    }
}

impl App {
    /// Up to `max` bytes of a job's log from byte `from`, with the job as it is now (for a page
    /// that follows a running job's log). Empty when `from` is at or past the end.
    pub async fn job_trace_part(
        &self,
        who: &crate::Principal,
        project_ref: &str,
        id: JobId,
        from: u64,
        max: usize,
    ) -> Result<(Job, Vec<u8>)> {
        let (_, job) = self.get_job(who, project_ref, id).await?;
        let size = u64::try_from(job.trace_size).unwrap_or(0);
        if from >= size || max == 0 {
            return Ok((job, Vec::new()));
        }
        let to = size.min(from.saturating_add(max as u64));
        let bytes = if job.trace_archived {
            self.read_blob_range(&job, from, to).await?
        } else {
            let want = i64::try_from(to - from).unwrap_or(i64::MAX);
            let got = self.store.read_trace(job.id, i64::try_from(from).unwrap_or(i64::MAX), want).await?;
            if got.len() as u64 == to - from {
                got
            } else {
                // Archived between the two reads: the rest is in the blob.
                let fresh = self.store.job_by_id(job.id).await?.ok_or(AppError::NotFound("Job"))?;
                self.read_blob_range(&fresh, from, to).await?
            }
        };
        Ok((job, bytes))
    }

    async fn read_blob_range(&self, job: &Job, from: u64, to: u64) -> Result<Vec<u8>> {
        let opened = self.blobs.open(&trace_key(job.project_id, job.id)?, Some(from..to)).await.map_err(internal)?;
        let mut out = Vec::new();
        let mut body = opened.body;
        while let Some(chunk) = body.next().await {
            out.extend_from_slice(
                &chunk.map_err(|e| AppError::Internal(format!("reading the log of job {}: {e}", job.id)))?,
            );
        }
        Ok(out)
    }
}

impl System<'_> {
    /// Ids of jobs whose log grew, as they grow (see `Runtime::trace_grew`).
    pub fn trace_updates(&self) -> tokio::sync::broadcast::Receiver<JobId> {
        self.ci.trace_grew.subscribe()
    }

    /// Whether the server is stopping: long-lived answers (live logs) end, so that they do
    /// not hold the shutdown.
    pub fn stopping(&self) -> bool {
        self.ci.is_closing()
    }
}

/// Where a trace sweep goes on: after job `after`, or from the first job when `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepFrom {
    pub after: Option<JobId>,
}

impl System<'_> {
    /// One step of the sweep: archives the traces of finished jobs after `from` that are not
    /// archived yet (after a crash, a failed put, a log that grew), at most a batch. Returns
    /// where to go on, `None` when none are left. A job that fails is logged and skipped.
    pub async fn archive_traces_after(&self, from: SweepFrom) -> Result<Option<SweepFrom>> {
        let jobs = self.store.unarchived_traces(from.after, SWEEP_BATCH).await?;
        for job in &jobs {
            match self.archive_trace(job.id).await {
                Ok(true) => tracing::info!(job = job.id.get(), "trace archived by the sweep"),
                Ok(false) => {}
                Err(e) => tracing::warn!(job = job.id.get(), error = %e, "trace not archived"),
            }
        }
        let full = i64::try_from(jobs.len()).is_ok_and(|n| n == SWEEP_BATCH);
        Ok(full.then(|| SweepFrom { after: jobs.last().map(|j| j.id) }))
    }

    /// Removes the trace blobs of projects that no longer exist (a crash between a project's
    /// deletion and its blobs', or an archive finishing after it). Returns how many it removed.
    pub async fn remove_orphan_traces(&self) -> Result<u64> {
        let keys = self.blobs.list(&BlobKey::new(TRACES).map_err(internal)?).await.map_err(internal)?;
        let mut projects: Vec<ProjectId> = keys.iter().filter_map(|k| k.segments().nth(1)?.parse().ok()).collect();
        projects.sort_unstable();
        projects.dedup();
        let mut removed = 0;
        for project_id in projects {
            if self.store.project_by_id(project_id).await?.is_none() {
                removed += self.blobs.remove_prefix(&project_prefix(project_id)?).await.map_err(internal)?;
            }
        }
        if removed > 0 {
            tracing::info!(removed, "removed trace blobs of deleted projects");
        }
        Ok(removed)
    }
}

#[cfg(test)]
#[path = "traces_tests.rs"]
mod tests;
