//! The job contexts of pipelines being handed out, kept between hand-outs (ADR 0012, "The job
//! context between hand-outs").
//!
//! Every job of a pipeline is handed out with the same context (the pipeline, its project and
//! user, namespaces, protected branches, roles and CI/CD variables) and the facts derived from
//! it. Reading it costs eight statements; a claim costs one. So the context is kept by pipeline
//! with the [`ContextGeneration`] it was read at, and used for a claim only when the claim's
//! generation (read in the claim's own statement) is not newer: any committed change to what the
//! context holds makes the store's generation grow, so a change of rules, roles or variables
//! still applies to the next job claimed after it, as when the context was read every time.

use super::vars::Facts;
use autogit_core::PipelineId;
use autogit_store::{ContextGeneration, JobContext};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// A context and the facts of its pipeline, as read at `ctx.generation`.
pub(crate) struct KeptContext {
    pub ctx: JobContext,
    pub facts: Facts,
}

/// Kept contexts by pipeline. Bounded: emptied when full (a context is read again on a miss).
#[derive(Default)]
pub(crate) struct ContextCache {
    map: Mutex<HashMap<PipelineId, Arc<KeptContext>>>,
    /// Held while a context is read: the runners that claim the first jobs of a pipeline
    /// together then wait for one read instead of each making their own. Reads are rare (once
    /// per pipeline and change), so one lock for all pipelines is enough.
    pub loading: tokio::sync::Mutex<()>,
}

/// Pipelines whose context is kept at most: each context is a few KiB (mostly its variables).
const MAX_KEPT: usize = 256;

/// Counts only: a context holds CI/CD variables, which never reach logs.
impl std::fmt::Debug for ContextCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kept = self.map.lock().unwrap_or_else(PoisonError::into_inner).len();
        f.debug_struct("ContextCache").field("kept", &kept).finish()
    }
}

impl ContextCache {
    /// The context of `pipeline` if one is kept that is at least as new as `seen`.
    pub fn get(&self, pipeline: PipelineId, seen: ContextGeneration) -> Option<Arc<KeptContext>> {
        let map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(&pipeline).filter(|k| k.ctx.generation >= seen).cloned()
    }

    /// Keeps `kept` for its pipeline unless a newer one is kept already.
    pub fn put(&self, kept: Arc<KeptContext>) {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        let pipeline = kept.ctx.pipeline.id;
        if map.get(&pipeline).is_some_and(|k| k.ctx.generation > kept.ctx.generation) {
            return;
        }
        if map.len() >= MAX_KEPT && !map.contains_key(&pipeline) {
            map.clear();
        }
        map.insert(pipeline, kept);
    }

    /// Forgets the context of a pipeline that has nothing left to hand out.
    pub fn forget(&self, pipeline: PipelineId) {
        self.map.lock().unwrap_or_else(PoisonError::into_inner).remove(&pipeline);
    }
}
