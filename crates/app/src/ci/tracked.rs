//! The coordinator's in-memory view of each active pipeline: its latest jobs with their parsed
//! specs and the scheduler's [`Tracker`] over them, behind one lock per pipeline.
//!
//! It is a cache of the store (the truth), loaded once when a pipeline is first processed and
//! then kept up to date job by job: after every change of a job's status the changed jobs are
//! read back by id (O(1) each, and always the store's newest record, so a late caller cannot put
//! an older status back) and progression looks only at what they can affect. A compare-and-set
//! that fails shows the view was stale: it is dropped and loaded again. One coordinator process
//! per database (ARCHITECTURE.md, invariant 8) is what lets a process keep this view at all.

use super::spec::JobSpec;
use autogit_core::PipelineId;
use autogit_core::ci::PipelineStatus;
use autogit_scheduler::progress::Tracker;
use autogit_store::Job;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Pipelines with a slot at most; beyond it the slots nobody holds are dropped with their views
/// (loaded again when a job of theirs changes).
const MAX_TRACKED: usize = 512;
/// Jobs held in views at most, over all pipelines: a pipeline whose view would pass it is not
/// kept (its next change reads it again), so memory stays bounded whatever the load.
const MAX_TRACKED_JOBS: usize = 50_000;

/// One pipeline's view.
pub(crate) struct Tracked {
    /// Index `i` is the tracker's job `i`.
    pub jobs: Vec<(Job, Arc<JobSpec>)>,
    pub by_name: HashMap<String, usize>,
    pub tracker: Tracker,
    /// The pipeline status last read from or written to the store (`None`: the pipeline is gone).
    pub stored_status: Option<PipelineStatus>,
}

impl std::fmt::Debug for Tracked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracked").field("jobs", &self.jobs.len()).field("status", &self.stored_status).finish()
    }
}

/// A job as a view keeps it: its parsed spec is beside it, so the stored text is dropped.
pub(crate) fn lean(mut job: Job) -> Job {
    job.spec = String::new();
    job
}

/// A pipeline's lock and, while it is active, its view.
pub(crate) type Slot = Arc<tokio::sync::Mutex<Option<Tracked>>>;

#[derive(Debug, Default)]
pub(crate) struct Slots {
    slots: Mutex<HashMap<PipelineId, Slot>>,
    /// Jobs in the views kept now.
    jobs: AtomicUsize,
}

impl Slots {
    /// The slot of `pipeline_id`; held while its jobs are progressed, so that two changes of one
    /// pipeline never decide on the same view.
    pub fn get(&self, pipeline_id: PipelineId) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(s) = slots.get(&pipeline_id) {
            return s.clone();
        }
        if slots.len() >= MAX_TRACKED {
            // Only this map holds them: nobody is progressing those pipelines right now.
            slots.retain(|_, s| {
                if Arc::strong_count(s) > 1 {
                    return true;
                }
                if let Ok(mut view) = s.try_lock()
                    && let Some(v) = view.take()
                {
                    self.jobs.fetch_sub(v.jobs.len(), Ordering::Relaxed);
                }
                false
            });
        }
        let s = Slot::default();
        slots.insert(pipeline_id, s.clone());
        s
    }

    /// Takes the view out of its slot (to be put back with [`Slots::keep`]).
    pub fn take(&self, held: &mut Option<Tracked>) -> Option<Tracked> {
        let view = held.take();
        if let Some(v) = &view {
            self.jobs.fetch_sub(v.jobs.len(), Ordering::Relaxed);
        }
        view
    }

    /// Puts a view back unless the views would then hold too many jobs.
    pub fn keep(&self, held: &mut Option<Tracked>, view: Tracked) {
        let n = view.jobs.len();
        let kept = self.jobs.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |total| {
            (total + n <= MAX_TRACKED_JOBS).then_some(total + n)
        });
        if kept.is_ok() {
            *held = Some(view);
        }
    }
}
