//! What the queue asks of each autoscaled pool: which pending jobs a pool's instances could
//! run (its tags, its architecture as a tag, its GPU profile against the jobs' `gpu:`
//! requests), and — through the pure `autoscale::split_demand` — which one pool each job counts
//! toward, so that two pools able to run the same job do not both scale up for it.

use super::gpu_tags::derived_tags;
use crate::System;
use autogit_core::RunnerId;
use autogit_gpu::pci::PciAddress;
use autogit_gpu::{Arch, DetectedGpu, Vendor};
use autogit_scheduler::autoscale::{Demand, PendingJob, PoolOffer, split_demand};
use autogit_scheduler::gpu::GpuPool;
use autogit_scheduler::queue::{RunnerInfo, may_take};
use std::collections::BTreeSet;

/// The runner a pool would start, as matching sees it before it exists: no registered runner
/// has id 0 (ids start at 1), so it is never mistaken for one.
const WOULD_BE_RUNNER: RunnerId = RunnerId::new(0);

/// A pool as matching sees it: what the runner of one of its instances would be.
#[derive(Debug, Clone, Default)]
pub struct PoolSpec {
    pub tags: Vec<String>,
    pub run_untagged: bool,
    /// GitLab's name (`amd64`, `arm64`…): becomes a tag, as a runner's reported architecture does.
    pub architecture: String,
    /// The GPUs of each instance; `None`: jobs with a `gpu:` request never count toward it.
    pub gpu: Option<GpuProfile>,
    /// Features its runners advertise (jobs may require some).
    pub features: BTreeSet<String>,
}

/// A pool's per-instance GPUs, as configured (`[ci.pools.gpu]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuProfile {
    pub count: u32,
    pub vendor: Vendor,
    pub model: Option<String>,
    pub memory_bytes: Option<u64>,
    pub compute_capability: Option<(u8, u8)>,
}

impl GpuProfile {
    /// The GPUs an instance would report: enough for requests to be matched by the same code
    /// that matches real inventories.
    fn gpus(&self) -> Vec<DetectedGpu> {
        (0..self.count)
            .map(|i| {
                let bus = u8::try_from(i % 255 + 1).unwrap_or(1);
                let mut g = DetectedGpu::bare(self.vendor, PciAddress { domain: 0, bus, device: 0, function: 0 });
                g.product_name.clone_from(&self.model);
                g.memory_total_bytes = self.memory_bytes;
                g.arch = self.compute_capability.map(|(major, minor)| Arch::Cuda { major, minor });
                if self.vendor == Vendor::Amd {
                    // A ROCm-capable instance (the `rocm` tag); amdgpu without /dev/kfd is rare.
                    g.nodes.shared.push("/dev/kfd".into());
                }
                g
            })
            .collect()
    }
}

/// A [`PoolSpec`] made ready for matching (done once per pool, not per job).
#[derive(Debug)]
pub struct PoolMatcher {
    pub spec: PoolSpec,
    runner: RunnerInfo,
    /// The profile's GPUs as runner 0 of a pool of its own; `None` without a profile.
    gpus: Option<GpuPool>,
}

impl PoolMatcher {
    pub fn new(spec: &PoolSpec) -> PoolMatcher {
        let profile = spec.gpu.as_ref().map(GpuProfile::gpus).unwrap_or_default();
        let mut tags: BTreeSet<String> = spec.tags.iter().cloned().collect();
        tags.extend(derived_tags(&profile, std::slice::from_ref(&spec.architecture)));
        let gpus = spec.gpu.as_ref().map(|_| {
            let mut pool = GpuPool::new();
            pool.set_inventory(WOULD_BE_RUNNER, profile);
            pool
        });
        PoolMatcher {
            spec: spec.clone(),
            runner: RunnerInfo {
                tags,
                run_untagged: spec.run_untagged || spec.tags.is_empty(),
                active: true,
                features: spec.features.clone(),
                ..RunnerInfo::new(WOULD_BE_RUNNER)
            },
            gpus,
        }
    }

    /// The tags its runners would match with (configured and derived).
    pub fn tags(&self) -> &BTreeSet<String> {
        &self.runner.tags
    }
}

impl GpuProfile {
    /// What a runner's reported GPUs lack against this profile, if anything: fewer ready GPUs of
    /// the vendor (and model) than `count`, or less (or unknown) memory than promised.
    #[must_use]
    pub fn shortfall(&self, reported: &[DetectedGpu]) -> Option<String> {
        let vendor = format!("{:?}", self.vendor).to_lowercase();
        let of_model: Vec<&DetectedGpu> = reported
            .iter()
            .filter(|g| g.vendor == self.vendor && g.health.is_ready())
            .filter(|g| self.model.as_ref().is_none_or(|m| g.product_name.as_deref() == Some(m.as_str())))
            .collect();
        let what = match &self.model {
            Some(m) => format!("{vendor} {m}"),
            None => vendor,
        };
        if (of_model.len() as u64) < u64::from(self.count) {
            return Some(format!(
                "reports {} ready {what} GPU(s), the profile promises {}",
                of_model.len(),
                self.count
            ));
        }
        if let Some(want) = self.memory_bytes {
            // 1% slack: drivers report slightly different totals for the same board.
            let enough = of_model.iter().filter(|g| g.memory_total_bytes.is_some_and(|m| m >= want / 100 * 99)).count();
            if (enough as u64) < u64::from(self.count) {
                return Some(format!(
                    "reports the memory of {enough} of its {what} GPU(s) as at least the profile's {} MiB \
                     (unknown memory counts as less): jobs that ask for memory will not be placed there",
                    want >> 20
                ));
            }
        }
        None
    }
}

impl System<'_> {
    /// What the GPUs a runner last reported lack against a pool's profile (see
    /// [`GpuProfile::shortfall`]); `None` when it fits, has no profile or has reported nothing.
    pub async fn profile_shortfall(&self, runner_id: RunnerId, spec: &PoolSpec) -> crate::Result<Option<String>> {
        let Some(profile) = &spec.gpu else { return Ok(None) };
        let Some(inv) = self.store.runner_inventory(runner_id).await? else { return Ok(None) };
        let gpus =
            serde_json::from_str::<autogit_gpu::HostInventory>(&inv.inventory).map(|h| h.gpus).unwrap_or_default();
        Ok(profile.shortfall(&gpus))
    }

    /// One [`Demand`] per pool (same order as `pools` and `offers`): the pending jobs each
    /// counts, every job toward at most one pool (see `autoscale::split_demand`).
    pub fn pools_demand(&self, pools: &[PoolMatcher], offers: &[PoolOffer]) -> Vec<Demand> {
        let jobs: Vec<PendingJob> = {
            let d = self.ci.lock_dispatch();
            d.queue
                .pending()
                .map(|job| PendingJob {
                    enqueued_at: job.enqueued_at,
                    pools: pools
                        .iter()
                        .enumerate()
                        .filter(|(_, p)| may_take(&p.runner, job))
                        .filter(|(_, p)| match (d.gpu_requests.get(&job.id), &p.gpus) {
                            (None, _) => true,
                            (Some(_), None) => false,
                            (Some(req), Some(gpus)) => gpus.can_allocate(WOULD_BE_RUNNER, req),
                        })
                        .map(|(i, _)| i)
                        .collect(),
                })
                .collect()
        };
        split_demand(&jobs, offers, super::process::millis(self.clock.now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h100(memory: Option<u64>) -> DetectedGpu {
        let mut g = DetectedGpu::bare(Vendor::Nvidia, PciAddress { domain: 0, bus: 1, device: 0, function: 0 });
        g.product_name = Some("NVIDIA H100 80GB HBM3".into());
        g.memory_total_bytes = memory;
        g
    }

    #[test]
    fn a_profile_is_checked_against_what_the_runner_reports() {
        let profile = GpuProfile {
            count: 1,
            vendor: Vendor::Nvidia,
            model: Some("NVIDIA H100 80GB HBM3".into()),
            memory_bytes: Some(81_559 << 20),
            compute_capability: None,
        };
        assert_eq!(profile.shortfall(&[h100(Some(81_559 << 20))]), None);
        assert_eq!(profile.shortfall(&[h100(Some(81_000 << 20))]), None, "within 1%");
        let unknown = profile.shortfall(&[h100(None)]).expect("unknown memory");
        assert!(unknown.contains("81559 MiB") && unknown.contains("unknown memory"), "{unknown}");
        let none = profile.shortfall(&[]).expect("no GPU");
        assert!(none.contains("reports 0 ready nvidia NVIDIA H100 80GB HBM3 GPU(s), the profile promises 1"), "{none}");
        let two = GpuProfile { count: 2, memory_bytes: None, ..profile };
        assert!(two.shortfall(&[h100(None)]).is_some());
        assert_eq!(two.shortfall(&[h100(None), h100(None)]), None);
    }
}
