//! Runner hardware and GPU allocations: what each runner last reported about its GPUs and CPU
//! architectures, and which GPUs the coordinator handed to running jobs. The coordinator keeps
//! both in memory; the store keeps them so that a restart neither forgets a runner's GPUs nor
//! hands a held GPU out twice, and so that allocation fences keep increasing across restarts.

use async_trait::async_trait;
use autogit_core::{JobId, RunnerId};
use chrono::{DateTime, Utc};

use crate::Result;

/// What a runner last reported about its hardware.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerInventory {
    pub runner_id: RunnerId,
    /// The GPU inventory as JSON text, stored as given; opaque to the store.
    pub inventory: String,
    /// The CPU architectures the runner runs (GitLab's names), in the order given (native first).
    pub architectures: Vec<String>,
    pub updated_at: DateTime<Utc>,
}

/// GPUs held by a running job: the coordinator's exclusive allocation, kept so that a restart
/// cannot hand them out twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuAllocation {
    pub job_id: JobId,
    /// The runner whose GPUs these are.
    pub runner_id: RunnerId,
    /// The allocation's fence: a release names it, so that a stale release cannot free a newer
    /// allocation of the same job.
    pub fence: u64,
    /// GPU keys, in the order given; never empty.
    pub gpus: Vec<String>,
    pub created_at: DateTime<Utc>,
}

/// Runner inventories (at most one per runner) and GPU allocations (at most one per job).
/// Deleting a runner removes its inventory and the allocations of its GPUs; deleting a job (and
/// so its project) removes its allocation. Neither ever lowers [`HardwareStore::max_gpu_fence`].
#[async_trait]
pub trait HardwareStore: Send + Sync {
    /// Stores the runner's inventory, replacing the one it had, with `updated_at = now`.
    /// NotFound for a missing runner.
    async fn set_runner_inventory(
        &self,
        runner_id: RunnerId,
        inventory: &str,
        architectures: &[String],
        now: DateTime<Utc>,
    ) -> Result<RunnerInventory>;
    async fn runner_inventory(&self, runner_id: RunnerId) -> Result<Option<RunnerInventory>>;
    /// Every stored inventory, by runner id.
    async fn runner_inventories(&self) -> Result<Vec<RunnerInventory>>;
    /// Records an allocation, stored as given, and raises the max fence to its fence in the same
    /// transaction. Conflict("job") if the job already has one; NotFound for a missing job or
    /// runner; Invalid for an empty `gpus` list.
    async fn record_gpu_allocation(&self, a: &GpuAllocation) -> Result<()>;
    /// Removes the job's allocation if its fence matches; returns whether one was removed
    /// (false: none, or another fence, which is kept).
    async fn remove_gpu_allocation(&self, job_id: JobId, fence: u64) -> Result<bool>;
    /// Every allocation, by job id.
    async fn gpu_allocations(&self) -> Result<Vec<GpuAllocation>>;
    /// The highest fence ever recorded (0 if none): removing allocations, or the jobs and runners
    /// they belong to, never lowers it, so fences keep increasing across restarts.
    async fn max_gpu_fence(&self) -> Result<u64>;
}
