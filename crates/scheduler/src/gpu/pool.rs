//! The pool: runners' inventories, who holds what, and the fence counter.

use std::collections::{BTreeMap, HashMap, HashSet};

use autogit_core::{JobId, RunnerId};

use super::fit::{Cand, choose};
use super::runner::{Entry, Runner};
use super::{Allocation, DetectedGpu, GpuError, GpuRequest, explain};

#[derive(Debug)]
pub(super) struct Held {
    pub alloc: Allocation,
    pub units: Vec<String>,
    /// The GPUs as they were when allocated, to tell drift.
    pub snapshot: Vec<DetectedGpu>,
}

/// Exclusive GPU allocations over all runners' inventories.
#[derive(Debug, Default)]
pub struct GpuPool {
    pub(super) runners: BTreeMap<RunnerId, Runner>,
    /// Unit → the job holding it.
    pub(super) holders: HashMap<String, JobId>,
    pub(super) jobs: HashMap<JobId, Held>,
    /// The last fence handed out (or restored, or raised to).
    pub(super) last_fence: u64,
}

impl GpuPool {
    #[must_use]
    pub fn new() -> GpuPool {
        GpuPool::default()
    }

    /// Sets or replaces a runner's inventory. GPUs that disappeared or changed identity or
    /// attributes keep their current allocation until released (drain) but are never handed out
    /// again in their old form: only this inventory is allocatable. Returns the jobs now running
    /// on GPUs the runner no longer reports as they were when allocated (for the caller to log /
    /// drain), sorted; the same drift is reported again by every later call until released.
    pub fn set_inventory(&mut self, runner: RunnerId, gpus: Vec<DetectedGpu>) -> Vec<JobId> {
        let jobs = self.runners.remove(&runner).map(|r| r.jobs).unwrap_or_default();
        self.runners.insert(runner, Runner::new(runner, gpus, jobs, &self.holders));
        let r = &self.runners[&runner];
        r.jobs
            .iter()
            .copied()
            .filter(|job| {
                let held = &self.jobs[job];
                held.alloc.gpus.iter().zip(&held.snapshot).any(|(k, was)| r.gpus.get(k).is_none_or(|e| e.gpu != *was))
            })
            .collect()
    }

    /// The runner is gone (unregistered, or its whole lease lost): forgets its inventory and
    /// drops its jobs' allocations (a late release is then a [`GpuError::StaleFence`]); returns
    /// those jobs, sorted.
    pub fn remove_runner(&mut self, runner: RunnerId) -> Vec<JobId> {
        let Some(r) = self.runners.remove(&runner) else { return Vec::new() };
        for job in &r.jobs {
            self.drop_job(*job);
        }
        r.jobs.into_iter().collect()
    }

    /// All or nothing: `req.count` ready, free GPUs of `runner` that each satisfy `req`, placed
    /// by best fit (see the module doc), under a new fence.
    pub fn allocate(&mut self, runner: RunnerId, job: JobId, req: &GpuRequest) -> Result<Allocation, GpuError> {
        let r = self.runners.get(&runner).ok_or(GpuError::UnknownRunner(runner))?;
        if self.jobs.contains_key(&job) {
            return Err(GpuError::AlreadyAllocated(job));
        }
        if let Err(e) = req.validate() {
            return Err(GpuError::Never(format!("invalid GPU request {}: {e}", explain::describe(req))));
        }
        let picked: Option<Vec<String>> = self
            .free_cands(r, req)
            .and_then(|c| choose(c, req).ok())
            .map(|keys| keys.into_iter().map(str::to_owned).collect());
        let Some(mut keys) = picked else {
            if let Some(why) = explain::never(runner, r, req) {
                return Err(GpuError::Never(why));
            }
            return Err(GpuError::NoFit(explain::busy(self, runner, r, req)));
        };
        keys.sort_by(|a, b| (r.gpus[a].gpu.pci.address, a).cmp(&(r.gpus[b].gpu.pci.address, b)));
        self.last_fence += 1;
        let alloc = Allocation { job, runner, gpus: keys, fence: self.last_fence };
        self.install(alloc.clone());
        Ok(alloc)
    }

    /// Whether [`GpuPool::allocate`] would succeed now for a job holding no GPUs (no mutation).
    #[must_use]
    pub fn can_allocate(&self, runner: RunnerId, req: &GpuRequest) -> bool {
        let Some(r) = self.runners.get(&runner) else { return false };
        req.validate().is_ok() && self.free_cands(r, req).is_some_and(|c| choose(c, req).is_ok())
    }

    /// Frees the job's GPUs when `fence` is its allocation's; [`GpuError::StaleFence`] otherwise
    /// (nothing is freed). Returns the freed keys.
    pub fn release(&mut self, job: JobId, fence: u64) -> Result<Vec<String>, GpuError> {
        match self.jobs.get(&job) {
            Some(h) if h.alloc.fence == fence => Ok(self.drop_job(job).alloc.gpus),
            _ => Err(GpuError::StaleFence { job, fence }),
        }
    }

    /// Re-installs a persisted allocation after a restart (set the inventory first). Refused
    /// when the runner, the job or a GPU is unknown or already held; all or nothing. A GPU that
    /// is no longer ready is still restored (the job runs on it). Later fences are above the
    /// restored one.
    pub fn restore(&mut self, a: Allocation) -> Result<(), GpuError> {
        let r = self.runners.get(&a.runner).ok_or(GpuError::UnknownRunner(a.runner))?;
        if self.jobs.contains_key(&a.job) {
            return Err(GpuError::AlreadyAllocated(a.job));
        }
        if a.gpus.is_empty() {
            return Err(GpuError::Never(format!("the allocation of job {} names no GPUs", a.job)));
        }
        let mut seen = HashSet::new();
        for k in &a.gpus {
            let e = r.gpus.get(k).ok_or_else(|| {
                GpuError::Never(format!("GPU {k} of job {} is not in runner {}'s inventory", a.job, a.runner))
            })?;
            if let Some(other) = self.holders.get(&e.unit) {
                return Err(GpuError::NoFit(format!("GPU {k} of runner {} is already held by job {other}", a.runner)));
            }
            if !seen.insert(k) {
                return Err(GpuError::Never(format!("the allocation of job {} names GPU {k} twice", a.job)));
            }
        }
        self.last_fence = self.last_fence.max(a.fence);
        self.install(a);
        Ok(())
    }

    /// Makes every later fence greater than `fence`: after a restart, pass the highest fence
    /// ever issued (persisted), so a fence of a released allocation is never reused.
    pub fn raise_fence_floor(&mut self, fence: u64) {
        self.last_fence = self.last_fence.max(fence);
    }

    #[must_use]
    pub fn allocation_of(&self, job: JobId) -> Option<&Allocation> {
        self.jobs.get(&job).map(|h| &h.alloc)
    }

    /// The GPUs of a runner's latest inventory by key, in the order of `keys`; keys it no longer
    /// reports are left out.
    #[must_use]
    pub fn gpus_of(&self, runner: RunnerId, keys: &[String]) -> Vec<DetectedGpu> {
        let Some(r) = self.runners.get(&runner) else { return Vec::new() };
        keys.iter().filter_map(|k| r.gpus.get(k)).map(|e| e.gpu.clone()).collect()
    }

    /// `None` if some registered runner could satisfy `req` when idle; otherwise why not, e.g.
    /// "no runner has 2× NVIDIA ≥ 40GB; closest: runner 3, where …".
    #[must_use]
    pub fn explain_unsatisfiable(&self, req: &GpuRequest) -> Option<String> {
        explain::unsatisfiable(self, req)
    }

    /// For metrics: (ready GPUs in the runners' latest inventories, GPUs held by jobs). A GPU
    /// reported by two runners (same UUID) counts once per runner.
    #[must_use]
    pub fn usage(&self) -> (usize, usize) {
        let ready = self.runners.values().flat_map(|r| r.gpus.values()).filter(|e| e.gpu.health.is_ready()).count();
        (ready, self.holders.len())
    }

    /// The runner's ready, free GPUs that satisfy `req` on their own; `None` when there are fewer
    /// than `count` of them. Cheap checks first, so a busy runner costs no matching.
    pub(super) fn free_cands<'a>(&self, r: &'a Runner, req: &GpuRequest) -> Option<Vec<Cand<'a>>> {
        let n = req.count as usize;
        if !r.may_fit(req.vendor, n) {
            return None;
        }
        let usable = |e: &&Entry| {
            e.gpu.health.is_ready()
                && req.vendor.is_none_or(|v| v == e.gpu.vendor)
                && !self.holders.contains_key(&e.unit)
        };
        if r.gpus.values().filter(usable).count() < n {
            return None;
        }
        let cands: Vec<Cand<'a>> = r
            .gpus
            .iter()
            .filter(|(_, e)| usable(e) && req.matches(&e.gpu).is_ok())
            .map(|(k, e)| Cand { key: k, gpu: &e.gpu })
            .collect();
        (cands.len() >= n).then_some(cands)
    }

    fn install(&mut self, alloc: Allocation) {
        let r = self.runners.get_mut(&alloc.runner).expect("install: runner checked by the caller");
        let entries: Vec<&Entry> = alloc.gpus.iter().map(|k| &r.gpus[k]).collect();
        let units: Vec<String> = entries.iter().map(|e| e.unit.clone()).collect();
        let snapshot = entries.iter().map(|e| e.gpu.clone()).collect();
        r.jobs.insert(alloc.job);
        for k in &alloc.gpus {
            r.note_hold(k, true);
        }
        for u in &units {
            self.holders.insert(u.clone(), alloc.job);
        }
        self.jobs.insert(alloc.job, Held { alloc, units, snapshot });
    }

    /// Forgets a job's allocation and frees its units. The job must hold one.
    fn drop_job(&mut self, job: JobId) -> Held {
        let held = self.jobs.remove(&job).expect("drop_job: the caller checked the job holds GPUs");
        for u in &held.units {
            self.holders.remove(u);
        }
        if let Some(r) = self.runners.get_mut(&held.alloc.runner) {
            r.jobs.remove(&job);
            for k in &held.alloc.gpus {
                r.note_hold(k, false);
            }
        }
        held
    }
}
