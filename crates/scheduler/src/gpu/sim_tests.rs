//! The simulator: seeded random traffic against a plain model — jobs arriving with random
//! requests and placed FIFO over six runners, completions, crashes (stale-fence releases, then
//! reclaim), runner loss, inventory drift (GPUs added, removed, altered), coordinator restarts
//! with restore — and every invariant checked after every event. Placement is also compared with
//! a brute-force search over every subset: success iff some set fits, best fit's score, and
//! NoFit versus Never.

use std::collections::{BTreeMap, HashSet, VecDeque};

use autogit_gpu::model::GpuHealth;

use super::sim_model::{Rng, brute, random_gpu, random_inventory, random_request, score, unit};
use super::*;

const RUNNERS: [RunnerId; 6] =
    [RunnerId::new(1), RunnerId::new(2), RunnerId::new(3), RunnerId::new(4), RunnerId::new(5), RunnerId::new(6)];
/// Runner 6 is a second registration on runner 5's host and may report the same GPUs.
const TWIN: (RunnerId, RunnerId) = (RunnerId::new(5), RunnerId::new(6));

struct Live {
    alloc: Allocation,
    req: GpuRequest,
    /// The GPUs as allocated (or restored), for drift.
    snapshot: Vec<DetectedGpu>,
}

#[derive(Default)]
struct Sim {
    rng: Rng,
    serial: u64,
    pool: GpuPool,
    inv: BTreeMap<RunnerId, Vec<DetectedGpu>>,
    live: BTreeMap<JobId, Live>,
    /// Fences that no longer hold anything: (job, fence).
    dead: Vec<(JobId, u64)>,
    queue: VecDeque<(JobId, GpuRequest)>,
    next_job: i64,
    max_fence: u64,
    /// Placed, NoFit, Never, stale refusals, drift reports, restores.
    counts: [u64; 6],
}

impl Sim {
    fn held(&self) -> HashSet<String> {
        self.live.values().flat_map(|l| l.alloc.gpus.iter().map(|k| unit(l.alloc.runner, k))).collect()
    }

    fn step(&mut self) {
        match self.rng.below(100) {
            0..25 if self.queue.len() < 48 => {
                self.next_job += 1;
                let req = random_request(&mut self.rng);
                self.queue.push_back((JobId::new(self.next_job), req));
            }
            0..50 => self.schedule(),
            50..65 => {
                if let Some(job) = self.random_live() {
                    let l = &self.live[&job];
                    assert_eq!(self.pool.release(job, l.alloc.fence), Ok(l.alloc.gpus.clone()));
                    self.bury(job, false);
                }
            }
            65..75 => self.crash(),
            75..79 => {
                let r = *self.rng.pick(&RUNNERS);
                let mut expected: Vec<JobId> =
                    self.live.values().filter(|l| l.alloc.runner == r).map(|l| l.alloc.job).collect();
                expected.sort_unstable();
                assert_eq!(self.pool.remove_runner(r), expected);
                self.inv.remove(&r);
                for job in expected {
                    self.bury(job, true);
                }
            }
            79..97 => self.change_inventory(),
            _ => self.restart(),
        }
        self.check();
    }

    fn random_live(&mut self) -> Option<JobId> {
        let jobs: Vec<JobId> = self.live.keys().copied().collect();
        (!jobs.is_empty()).then(|| *self.rng.pick(&jobs))
    }

    /// The job's allocation is gone; its fence is dead. A lost job may be queued again, same id.
    fn bury(&mut self, job: JobId, may_requeue: bool) {
        let l = self.live.remove(&job).expect("buried job was live");
        self.dead.push((job, l.alloc.fence));
        if may_requeue && self.rng.chance(50) {
            self.queue.push_back((job, l.req));
        }
    }

    /// FIFO: each of the first queued jobs goes to the first runner that can take it.
    fn schedule(&mut self) {
        let mut kept = VecDeque::new();
        for (i, (job, req)) in std::mem::take(&mut self.queue).into_iter().enumerate() {
            if i >= 12 || self.live.contains_key(&job) {
                kept.push_back((job, req));
                continue;
            }
            let (mut placed, mut fits_idle) = (false, false);
            for r in RUNNERS {
                let best = self.inv.contains_key(&r).then(|| brute(r, &self.inv[&r], &req, &self.held())).flatten();
                assert_eq!(self.pool.can_allocate(r, &req), best.is_some(), "can_allocate r{r} {req:?}");
                match self.pool.allocate(r, job, &req) {
                    Ok(a) => {
                        self.check_new(&a, &req, best.expect("brute force agrees"));
                        placed = true;
                        break;
                    }
                    Err(GpuError::UnknownRunner(x)) => assert!(x == r && !self.inv.contains_key(&r)),
                    Err(e) => {
                        assert!(best.is_none(), "allocate refused a fit on r{r}: {e}");
                        let idle = brute(r, &self.inv[&r], &req, &HashSet::new()).is_some();
                        match e {
                            GpuError::NoFit(_) => assert!(idle, "NoFit but never fits: {e}"),
                            GpuError::Never(m) => assert!(!idle && m.contains(&format!("runner {r}")), "{m}"),
                            other => panic!("unexpected {other:?}"),
                        }
                        fits_idle |= idle;
                        self.counts[if idle { 1 } else { 2 }] += 1;
                    }
                }
            }
            if !placed {
                let why = self.pool.explain_unsatisfiable(&req);
                assert_eq!(why.is_none(), fits_idle, "explain_unsatisfiable: {why:?}");
                if fits_idle || self.rng.chance(30) {
                    kept.push_back((job, req));
                }
            }
        }
        self.queue = kept;
    }

    fn check_new(&mut self, a: &Allocation, req: &GpuRequest, best: (bool, u128)) {
        let inv = &self.inv[&a.runner];
        let gpus = self.pool.gpus_of(a.runner, &a.gpus);
        assert_eq!((a.gpus.len(), gpus.len()), (req.count as usize, req.count as usize), "all or nothing: {a:?}");
        let held = self.held();
        for (k, g) in a.gpus.iter().zip(&gpus) {
            assert!(inv.contains(g), "{k} is in the runner's latest inventory, as reported");
            assert!(g.health.is_ready() && req.matches(g).is_ok(), "{k} qualifies");
            assert!(!held.contains(&unit(a.runner, k)), "{k} was free");
        }
        assert!(gpus.windows(2).all(|w| w[0].pci.address <= w[1].pci.address), "bus order");
        assert_eq!(score(&gpus, req), Some(best), "best fit");
        assert!(a.fence > self.max_fence, "fences strictly increase");
        self.max_fence = a.fence;
        self.counts[0] += 1;
        self.live.insert(a.job, Live { alloc: a.clone(), req: req.clone(), snapshot: gpus });
    }

    fn crash(&mut self) {
        if let Some(job) = self.random_live() {
            let fence = self.live[&job].alloc.fence;
            let wrong = if self.rng.chance(50) { fence + 1 + self.rng.below(3) } else { fence - 1 };
            assert_eq!(self.pool.release(job, wrong), Err(GpuError::StaleFence { job, fence: wrong }));
            self.counts[3] += 1;
            if self.rng.chance(50) {
                assert!(self.pool.release(job, fence).is_ok(), "the coordinator reclaims");
                self.bury(job, true);
            }
        }
        if !self.dead.is_empty() {
            let (job, fence) = *self.rng.pick(&self.dead);
            assert_eq!(self.pool.release(job, fence), Err(GpuError::StaleFence { job, fence }), "late runner");
            self.counts[3] += 1;
        }
    }

    fn change_inventory(&mut self) {
        let r = *self.rng.pick(&RUNNERS);
        let mut gpus = self.inv.get(&r).cloned().unwrap_or_default();
        match self.rng.below(8) {
            _ if r == TWIN.1 && self.rng.chance(40) => gpus = self.inv.get(&TWIN.0).cloned().unwrap_or_default(),
            0 | 1 if !gpus.is_empty() => {
                gpus.remove(self.rng.below(gpus.len() as u64) as usize);
            }
            0..=2 if gpus.len() < 8 => {
                let bus = (1..=40u8).find(|b| gpus.iter().all(|g| g.pci.address.bus != *b)).expect("a free bus");
                gpus.push(random_gpu(&mut self.rng, &mut self.serial, bus));
            }
            3 | 4 if !gpus.is_empty() => {
                let i = self.rng.below(gpus.len() as u64) as usize;
                let g = &mut gpus[i];
                match self.rng.below(4) {
                    0 => g.health = if g.health.is_ready() { GpuHealth::Excluded } else { GpuHealth::Ready },
                    1 => g.memory_total_bytes = g.memory_total_bytes.map_or(Some(80_000_000_000), |_| None),
                    2 => g.numa_node = g.numa_node.map_or(Some(0), |n| Some(1 - n.min(1))),
                    _ => g.product_name = Some("renamed".into()),
                }
            }
            5 => gpus = random_inventory(&mut self.rng, &mut self.serial),
            _ => {}
        }
        let drifted: Vec<JobId> = self
            .live
            .values()
            .filter(|l| l.alloc.runner == r)
            .filter(|l| {
                l.alloc.gpus.iter().zip(&l.snapshot).any(|(k, was)| gpus.iter().find(|g| gpu_key(g) == *k) != Some(was))
            })
            .map(|l| l.alloc.job)
            .collect();
        assert_eq!(self.pool.set_inventory(r, gpus.clone()), drifted);
        self.counts[4] += drifted.len() as u64;
        self.inv.insert(r, gpus);
    }

    /// A new pool from what the coordinator persisted: inventories, allocations, the fence mark.
    fn restart(&mut self) {
        self.pool = GpuPool::new();
        for (r, gpus) in &self.inv {
            assert!(self.pool.set_inventory(*r, gpus.clone()).is_empty());
        }
        self.pool.raise_fence_floor(self.max_fence);
        for job in self.live.keys().copied().collect::<Vec<_>>() {
            let a = self.live[&job].alloc.clone();
            let now: Vec<DetectedGpu> =
                a.gpus.iter().filter_map(|k| self.inv[&a.runner].iter().find(|g| gpu_key(g) == *k).cloned()).collect();
            if now.len() == a.gpus.len() {
                assert_eq!(self.pool.restore(a.clone()), Ok(()));
                assert_eq!(self.pool.restore(a), Err(GpuError::AlreadyAllocated(job)));
                self.live.get_mut(&job).expect("live").snapshot = now;
                self.counts[5] += 1;
            } else {
                assert!(matches!(self.pool.restore(a), Err(GpuError::Never(_))), "a vanished GPU is not restored");
                self.bury(job, true);
            }
        }
    }

    fn check(&self) {
        let p = &self.pool;
        assert_eq!(p.jobs.len(), self.live.len());
        let mut units = HashSet::new();
        for (job, l) in &self.live {
            assert_eq!(p.allocation_of(*job), Some(&l.alloc));
            assert_eq!(l.alloc.gpus.len(), l.req.count as usize, "all or nothing");
            for k in &l.alloc.gpus {
                let u = unit(l.alloc.runner, k);
                assert_eq!(p.holders.get(&u), Some(job), "holder of {u}");
                assert!(units.insert(u), "a GPU in two allocations");
            }
            assert!(p.runners[&l.alloc.runner].jobs.contains(job));
        }
        assert!(p.runners.values().all(|r| r.index_is_exact(&p.holders)), "free-GPU index");
        assert_eq!(p.holders.len(), units.len());
        assert_eq!(p.runners.keys().collect::<Vec<_>>(), self.inv.keys().collect::<Vec<_>>());
        assert_eq!(p.runners.values().map(|r| r.jobs.len()).sum::<usize>(), self.live.len());
        let ready = self.inv.values().flatten().filter(|g| g.health.is_ready()).count();
        assert_eq!(p.usage(), (ready, units.len()));
    }
}

#[test]
fn random_traffic_keeps_every_invariant() {
    let mut totals = [0u64; 6];
    for seed in [0x9E37_79B9_7F4A_7C15, 0xD1B5_4A32_D192_ED03, 42] {
        let mut sim = Sim { rng: Rng(seed), ..Sim::default() };
        for r in RUNNERS {
            let gpus = random_inventory(&mut sim.rng, &mut sim.serial);
            assert!(sim.pool.set_inventory(r, gpus.clone()).is_empty());
            sim.inv.insert(r, gpus);
        }
        for _ in 0..4_000 {
            sim.step();
        }
        for (t, c) in totals.iter_mut().zip(sim.counts) {
            *t += c;
        }
    }
    // Every kind of outcome happened, often: placements, NoFit, Never, stale fences, drift, restores.
    assert!(totals.iter().all(|c| *c >= 50), "{totals:?}");
}
