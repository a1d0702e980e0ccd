//! A runner's latest inventory, and a per-vendor index that rejects a busy runner without
//! looking at its GPUs.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use autogit_core::{JobId, RunnerId};

use autogit_gpu::model::Vendor;

use super::{DetectedGpu, gpu_key};

/// One GPU of a runner's latest inventory.
#[derive(Debug)]
pub(super) struct Entry {
    /// What holds are keyed by: the UUID (one physical GPU wherever reported), else
    /// `<runner>/pci:<address>` (an address is unique only within its host).
    pub unit: String,
    pub gpu: DetectedGpu,
}

pub(super) fn unit(runner: RunnerId, key: &str) -> String {
    if key.starts_with("pci:") { format!("{runner}/{key}") } else { key.to_owned() }
}

fn slot(v: Vendor) -> usize {
    match v {
        Vendor::Nvidia => 0,
        Vendor::Amd => 1,
        Vendor::Intel => 2,
    }
}

#[derive(Debug, Default)]
pub(super) struct Runner {
    /// By [`gpu_key`].
    pub gpus: BTreeMap<String, Entry>,
    /// Jobs holding GPUs of this runner.
    pub jobs: BTreeSet<JobId>,
    /// Ready GPUs per vendor.
    ready: [u32; 3],
    /// Of those, how many this runner's own jobs hold. `ready - own_held` bounds the free ones
    /// from above (a GPU that another runner also reports may be held through that one).
    own_held: [u32; 3],
}

impl Runner {
    /// `jobs` are the runner's jobs so far; `holders` maps units to the jobs holding them.
    pub fn new(
        id: RunnerId,
        gpus: Vec<DetectedGpu>,
        jobs: BTreeSet<JobId>,
        holders: &HashMap<String, JobId>,
    ) -> Runner {
        let gpus = gpus
            .into_iter()
            .map(|gpu| {
                let key = gpu_key(&gpu);
                (key.clone(), Entry { unit: unit(id, &key), gpu })
            })
            .collect();
        let mut r = Runner { gpus, jobs, ..Runner::default() };
        (r.ready, r.own_held) = r.count(holders);
        r
    }

    /// (ready, held by own jobs) per vendor, from scratch.
    pub fn count(&self, holders: &HashMap<String, JobId>) -> ([u32; 3], [u32; 3]) {
        let (mut ready, mut own) = ([0; 3], [0; 3]);
        for e in self.gpus.values().filter(|e| e.gpu.health.is_ready()) {
            ready[slot(e.gpu.vendor)] += 1;
            if holders.get(&e.unit).is_some_and(|j| self.jobs.contains(j)) {
                own[slot(e.gpu.vendor)] += 1;
            }
        }
        (ready, own)
    }

    /// Whether the index is what [`Runner::count`] says (the simulator checks it).
    #[cfg(test)]
    pub fn index_is_exact(&self, holders: &HashMap<String, JobId>) -> bool {
        self.count(holders) == (self.ready, self.own_held)
    }

    /// False when fewer than `n` GPUs of `vendor` can be free: no need to look closer.
    pub fn may_fit(&self, vendor: Option<Vendor>, n: usize) -> bool {
        let free = |s: usize| self.ready[s] - self.own_held[s];
        let free = vendor.map_or_else(|| (0..3).map(free).sum(), |v| free(slot(v)));
        free as usize >= n
    }

    /// One of this runner's jobs took (`true`) or gave back the GPU `key`.
    pub fn note_hold(&mut self, key: &str, taken: bool) {
        if let Some(e) = self.gpus.get(key).filter(|e| e.gpu.health.is_ready()) {
            let s = slot(e.gpu.vendor);
            self.own_held[s] = if taken { self.own_held[s] + 1 } else { self.own_held[s] - 1 };
        }
    }
}
