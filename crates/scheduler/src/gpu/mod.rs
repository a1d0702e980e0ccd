//! Exclusive GPU allocation (research: gpu.md §5.2): which job holds which GPUs of which runner,
//! and the fence that proves it. Pure like the rest of the crate: the coordinator feeds in the
//! inventories runners report and the persisted allocations, and persists what it gets back.
//!
//! Guarantees, checked after every step of the simulator in `sim_tests`:
//! - **Unit and identity.** A GPU is named by [`gpu_key`]: its UUID, else `pci:<address>`; never
//!   an index or card number. A UUID names one physical GPU wherever it is reported, so two
//!   runners registered on one host never both hand it out; a PCI address is only unique within
//!   its runner.
//! - **Exclusive, all or nothing.** A GPU is in at most one allocation; an allocation has exactly
//!   `count` GPUs of one runner, each `Ready`, free and satisfying the request when allocated.
//! - **Fencing.** Every allocation carries a fence, strictly increasing across the pool; only the
//!   matching fence releases it, so a runner that returns after its lease was reclaimed can
//!   neither free nor keep GPUs that were handed out since.
//! - **Drift drains.** A GPU its runner stops reporting, or reports with other attributes, stays
//!   with its current job until released but is never handed out in its old form again: only
//!   the latest inventory is allocatable.
//!
//! Placement among a runner's GPUs ([`GpuPool::allocate`]): only sets on one NUMA node when the
//! request requires it, else one-node sets first (unless `numa=ignore`); then the least memory in
//! total, so big GPUs stay free for big jobs; ties by key. Choosing the runner is the caller's:
//! the coordinator walks runners in its own order and asks [`GpuPool::can_allocate`].
//!
//! Complexity: `can_allocate`/`allocate` look at one runner's GPUs only (O(g log g) for g GPUs),
//! and a per-runner index of free, ready GPUs by vendor rejects a runner that has fewer than
//! `count` in O(log R) without looking at its GPUs: on a full fleet the coordinator's walk over
//! all runners costs tens of microseconds per decision, not one hash lookup per GPU.

mod explain;
mod fit;
mod pool;
mod runner;

#[cfg(test)]
mod sim_model;
#[cfg(test)]
mod sim_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_lifecycle;

use autogit_core::{JobId, RunnerId};
pub use autogit_gpu::model::DetectedGpu;
pub use autogit_gpu::request::GpuRequest;
pub use pool::GpuPool;

/// Stable text key of a GPU: its UUID if known, else `pci:<address>` (never the minor or card
/// number).
#[must_use]
pub fn gpu_key(g: &DetectedGpu) -> String {
    g.key.to_string()
}

/// GPUs one job holds exclusively on one runner, and the fence that proves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    pub job: JobId,
    pub runner: RunnerId,
    /// [`gpu_key`]s, in PCI bus order (NVML's device order).
    pub gpus: Vec<String>,
    pub fence: u64,
}

/// Why GPUs were not allocated, released or restored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GpuError {
    #[error("runner {0} has no GPU inventory")]
    UnknownRunner(RunnerId),
    /// Satisfiable on this runner when its GPUs are free, but not now; says what is missing.
    #[error("{0}")]
    NoFit(String),
    /// This runner can never satisfy it; names the runner and the attribute (unknown values fail
    /// closed).
    #[error("{0}")]
    Never(String),
    #[error("job {0} already holds GPUs")]
    AlreadyAllocated(JobId),
    #[error("job {job} holds no GPUs with fence {fence}")]
    StaleFence { job: JobId, fence: u64 },
}
