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
use autogit_core::ci::PipelineStatus;
use autogit_scheduler::progress::Tracker;
use autogit_store::Job;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Pipelines kept in memory at most; beyond it those nobody holds are dropped (they are loaded
/// again when a job of theirs changes).
const MAX_TRACKED: usize = 512;

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

/// A pipeline's lock and, while it is active, its view.
pub(crate) type Slot = Arc<tokio::sync::Mutex<Option<Tracked>>>;

#[derive(Debug, Default)]
pub(crate) struct Slots {
    slots: Mutex<HashMap<i64, Slot>>,
}

impl Slots {
    /// The slot of `pipeline_id`; held while its jobs are progressed, so that two changes of one
    /// pipeline never decide on the same view.
    pub fn get(&self, pipeline_id: i64) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(s) = slots.get(&pipeline_id) {
            return s.clone();
        }
        if slots.len() >= MAX_TRACKED {
            // Only this map holds them: nobody is progressing those pipelines right now.
            slots.retain(|_, s| Arc::strong_count(s) > 1);
        }
        let s = Slot::default();
        slots.insert(pipeline_id, s.clone());
        s
    }
}
