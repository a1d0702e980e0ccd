//! GPUs in the coordinator: what runners report (inventory, architectures → derived tags), the
//! exclusive allocation of whole GPUs to the jobs that ask (the pure `scheduler::gpu::GpuPool`,
//! kept in the dispatch lock and persisted so that a restart cannot hand a GPU out twice), the
//! hand-off variables, and releasing GPUs whenever a job stops running. See ADR 0006.

use super::gpu_tags::{derived_tags, reported_architectures, reported_inventory};
use super::process::queued;
use super::spec::JobSpec;
use crate::{App, Result, System};
use autogit_core::ci::JobStatus;
use autogit_core::{JobId, RunnerId};
use autogit_protocol::{JobVariable, RunnerInfo};
use autogit_scheduler::gpu::{Allocation, GpuRequest};
use autogit_store::{GpuAllocation, Job, Runner};
use std::collections::HashMap;

/// What the coordinator last heard from a runner about its hardware.
#[derive(Debug, Clone, Default)]
pub(crate) struct Hardware {
    /// The inventory JSON as sent (compared to notice changes cheaply).
    pub raw: String,
    pub tags: Vec<String>,
    pub has_gpus: bool,
}

/// The GPU requirement of a job (`gpu:`, `GPU_REQUEST` or GPU tags, resolved by the compiler).
pub(crate) fn gpu_request_of(spec: &JobSpec) -> Option<GpuRequest> {
    GpuRequest::parse(spec.job.gpu.as_deref()?).ok()
}

impl App {
    /// Queues a pending job (with its GPU requirement) or hands it to a waiting runner.
    pub(crate) fn enqueue_job(&self, job: &Job) {
        let gpu = self.spec_of(job).ok().and_then(|s| gpu_request_of(&s));
        self.ci.enqueue(queued(job), gpu);
    }

    /// Persists an allocation made at hand-out.
    pub(crate) async fn record_allocation(&self, job: &Job, a: &Allocation) -> Result<()> {
        let rec = GpuAllocation {
            job_id: job.id,
            runner_id: a.runner,
            fence: a.fence,
            gpus: a.gpus.clone(),
            created_at: self.clock.now(),
        };
        Ok(self.store.record_gpu_allocation(&rec).await?)
    }

    /// Frees the job's GPUs, if it holds any (in memory and in the store). Called whenever a job
    /// stops running: success, failure, cancel, timeout, lease loss.
    pub(crate) async fn release_gpus(&self, job_id: JobId) {
        let released = {
            let mut d = self.ci.lock_dispatch();
            match d.gpus.allocation_of(job_id).map(|a| a.fence) {
                Some(fence) => d.gpus.release(job_id, fence).ok().map(|_| fence),
                None => None,
            }
        };
        if let Some(fence) = released
            && let Err(e) = self.store.remove_gpu_allocation(job_id, fence).await
        {
            tracing::warn!(job = job_id.get(), error = %e, "could not remove the stored GPU allocation");
        }
    }

    /// The hand-off variables: which GPUs the job may use (`CUDA_VISIBLE_DEVICES`…,
    /// `AUTOGIT_GPUS`, and `AUTOGIT_GPU_KEYS` for the docker executor). On a runner with GPUs,
    /// a job without an allocation gets the "no GPU" settings, so that it cannot see any.
    pub(crate) fn gpu_variables(&self, runner: &Runner, alloc: Option<&Allocation>) -> Vec<JobVariable> {
        let has_gpus = self.ci.hardware(runner.id).is_some_and(|h| h.has_gpus);
        if alloc.is_none() && !has_gpus {
            return Vec::new();
        }
        let (gpus, keys) = match alloc {
            Some(a) => (self.ci.lock_dispatch().gpus.gpus_of(a.runner, &a.gpus), a.gpus.join(",")),
            None => (Vec::new(), String::new()),
        };
        let mut vars: Vec<JobVariable> = autogit_gpu::handoff::shell_env(&gpus)
            .into_iter()
            .map(|(k, v)| JobVariable { raw: true, ..JobVariable::public(&k, v) })
            .collect();
        vars.push(JobVariable { raw: true, ..JobVariable::public("AUTOGIT_GPU_KEYS", keys) });
        vars
    }

    /// After a restart: stored inventories and allocations back into the pool, before any job
    /// is handed out.
    pub(crate) async fn restore_gpus(&self) -> Result<()> {
        let inventories = self.store.runner_inventories().await?;
        let allocations = self.store.gpu_allocations().await?;
        let max_fence = self.store.max_gpu_fence().await?;
        let mut hw: HashMap<RunnerId, Hardware> = HashMap::new();
        {
            let mut d = self.ci.lock_dispatch();
            d.gpus.raise_fence_floor(max_fence);
            for r in &inventories {
                let Ok(inv) = serde_json::from_str::<autogit_gpu::HostInventory>(&r.inventory) else { continue };
                let tags = derived_tags(&inv.gpus, &r.architectures);
                hw.insert(r.runner_id, Hardware { raw: String::new(), tags, has_gpus: !inv.gpus.is_empty() });
                d.gpus.set_inventory(r.runner_id, inv.gpus);
            }
            for a in allocations {
                let alloc = Allocation { job: a.job_id, runner: a.runner_id, gpus: a.gpus, fence: a.fence };
                if let Err(e) = d.gpus.restore(alloc) {
                    tracing::warn!(job = a.job_id.get(), error = %e, "a stored GPU allocation could not be restored");
                }
            }
        }
        for (id, h) in hw {
            self.ci.set_hardware(id, h);
        }
        Ok(())
    }
}

/// One runner of the GPU fleet as administrators see it.
pub struct FleetRunner {
    pub runner: Runner,
    pub inventory: Option<autogit_store::RunnerInventory>,
    /// (job id, GPU keys) of the jobs holding GPUs there now.
    pub allocations: Vec<(JobId, Vec<String>)>,
}

impl App {
    /// Every runner with what it last reported and the GPUs booked on it (administrators).
    pub async fn gpu_fleet(&self, who: &crate::Principal) -> Result<Vec<FleetRunner>> {
        who.require_admin()?;
        let runners = self.store.list_runners(&Default::default(), autogit_store::Page::ALL).await?.items;
        let inventories: HashMap<RunnerId, autogit_store::RunnerInventory> =
            self.store.runner_inventories().await?.into_iter().map(|i| (i.runner_id, i)).collect();
        let mut allocations: HashMap<RunnerId, Vec<(JobId, Vec<String>)>> = HashMap::new();
        for a in self.store.gpu_allocations().await? {
            allocations.entry(a.runner_id).or_default().push((a.job_id, a.gpus));
        }
        Ok(runners
            .into_iter()
            .map(|r| FleetRunner {
                inventory: inventories.get(&r.id).cloned(),
                allocations: allocations.remove(&r.id).unwrap_or_default(),
                runner: r,
            })
            .collect())
    }
}

impl System<'_> {
    /// Takes in the hardware a runner reported with a job request; returns the tags derived
    /// from it. A changed inventory replaces the old one: GPUs that went away keep their
    /// running jobs (drained) but get no new ones.
    pub async fn note_hardware(&self, runner: &Runner, info: &RunnerInfo) -> Result<Vec<String>> {
        let Some(inv_value) = info.config.get("autogit_inventory") else {
            return Ok(reported_architectures(info));
        };
        let raw = inv_value.to_string();
        if let Some(h) = self.ci.hardware(runner.id).filter(|h| h.raw == raw) {
            return Ok(h.tags);
        }
        let Some(inv) = reported_inventory(info) else { return Ok(Vec::new()) };
        let archs = reported_architectures(info);
        let tags = derived_tags(&inv.gpus, &archs);
        let drained = self.ci.lock_dispatch().gpus.set_inventory(runner.id, inv.gpus.clone());
        if !drained.is_empty() {
            tracing::warn!(runner = runner.id.get(), jobs = ?drained, "GPUs went away under running jobs; draining them");
        }
        self.store.set_runner_inventory(runner.id, &raw, &archs, self.clock.now()).await?;
        self.ci.set_hardware(runner.id, Hardware { raw, tags: tags.clone(), has_gpus: !inv.gpus.is_empty() });
        // New tags or GPUs may let waiting runners take queued jobs.
        self.ci.bump();
        tracing::info!(runner = runner.id.get(), gpus = inv.gpus.len(), ?tags, "runner hardware recorded");
        Ok(tags)
    }

    /// Why a pending GPU job is not running: `Some("no runner has 2× NVIDIA ≥ 40 GB")` when no
    /// registered runner could ever run it.
    pub fn gpu_pending_reason(&self, job: &Job) -> Option<String> {
        if job.status != JobStatus::Pending {
            return None;
        }
        let req = gpu_request_of(&*self.spec_of(job).ok()?)?;
        self.ci.lock_dispatch().gpus.explain_unsatisfiable(&req)
    }

    /// The runner that took a job, as its page names it: `(description, executor, version)`.
    /// Shown to whoever may see the job, as GitLab's job page does.
    pub async fn job_runner(&self, job: &Job) -> Result<Option<(String, Option<String>, Option<String>)>> {
        let Some(id) = job.runner_id else { return Ok(None) };
        Ok(self.store.runner_by_id(id).await?.map(|r| (r.description, r.executor, r.version)))
    }

    /// The GPUs a running job holds now, as `(key, product name, memory in bytes)`; empty when
    /// it holds none.
    pub fn gpus_held(&self, job: &Job) -> Vec<(String, Option<String>, Option<u64>)> {
        let d = self.ci.lock_dispatch();
        let Some(a) = d.gpus.allocation_of(job.id) else { return Vec::new() };
        let found = d.gpus.gpus_of(a.runner, &a.gpus);
        a.gpus
            .iter()
            .map(|k| {
                let g = found.iter().find(|g| g.key.to_string() == *k);
                (k.clone(), g.and_then(|g| g.product_name.clone()), g.and_then(|g| g.memory_total_bytes))
            })
            .collect()
    }

    /// The GPU requirement of a job in its compact form, for the API.
    pub fn gpu_request_text(&self, job: &Job) -> Option<String> {
        self.spec_of(job).ok()?.job.gpu.clone()
    }

    /// What a runner last reported about its hardware, for its API representation.
    pub async fn runner_hardware(&self, runner_id: RunnerId) -> Result<Option<autogit_store::RunnerInventory>> {
        Ok(self.store.runner_inventory(runner_id).await?)
    }
}
