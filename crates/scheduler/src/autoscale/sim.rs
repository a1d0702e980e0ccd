//! A day of CI traffic against one pool, to compare scaling policies: a seeded, bursty arrival
//! trace and an event-driven model of the pool (instances boot, jobs start the moment a slot is
//! ready and run to the end, the scaler decides every tick). Test-only.
//!
//! The model: a job starts as soon as a ready instance has a free slot (FIFO; the most recently
//! busy instance first, so the others age towards their idle time — as both policies get it,
//! the comparison does not depend on it). Instances are billed from the `Increase` that asked
//! for them (boot included) until they are removed, or until the last job ends.

use std::collections::VecDeque;

use super::tests::{MIN, WED};
use super::{Action, Demand, InstanceState, InstanceView, PoolPolicy, decide};
use crate::Millis;

pub(super) const SEC: i64 = 1_000;
pub(super) const DAY: i64 = 1_440 * MIN;

/// xorshift64*: deterministic and dependency-free.
pub(super) struct Rng(pub u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0.max(1);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    pub fn range(&mut self, lo: i64, hi_inclusive: i64) -> i64 {
        lo + self.below((hi_inclusive - lo + 1) as u64) as i64
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Job {
    /// Milliseconds since the Unix epoch.
    pub arrival: i64,
    pub duration: i64,
}

/// Mean arrivals per minute (in thousandths) at a minute of the day: a quiet night, a morning
/// burst, a lunch dip, a busy afternoon, a quiet evening.
fn per_minute_milli(minute: i64) -> u64 {
    match minute / 60 {
        0..7 => 30,     // 00–07: ~2 jobs an hour
        7 => 300,       // 07–08: people arrive
        8 | 9 => 1_500, // 08–10: morning burst, 90 jobs an hour
        10 | 11 => 600, // 10–12
        12 => 150,      // 12–13: lunch dip
        13..18 => 500,  // 13–18: afternoon background (plus the bursts below)
        18 | 19 => 200, // 18–20
        _ => 30,        // 20–24: quiet
    }
}

/// The day's arrivals on Wednesday 2026-03-04 (UTC), sorted: the background rate above, one
/// morning spike and four afternoon bursts of 30–60 jobs within 2 minutes (merge-train and
/// nightly-like fan-outs); durations 1–10 minutes.
pub(super) fn day_trace(seed: u64) -> Vec<Job> {
    let mut rng = Rng(seed);
    let mut arrivals = Vec::new();
    for minute in 0..1_440 {
        let milli = per_minute_milli(minute);
        let n = milli / 1_000 + u64::from(rng.below(1_000) < milli % 1_000);
        for _ in 0..n {
            arrivals.push(WED + minute * MIN + rng.range(0, MIN - 1));
        }
    }
    let mut burst = |rng: &mut Rng, from_minute: i64, to_minute: i64| {
        let at = WED + rng.range(from_minute, to_minute) * MIN;
        for _ in 0..rng.range(30, 60) {
            arrivals.push(at + rng.range(0, 2 * MIN - 1));
        }
    };
    burst(&mut rng, 9 * 60, 9 * 60 + 30);
    for hour in [13, 14, 15, 16] {
        burst(&mut rng, hour * 60 + 15, hour * 60 + 45);
    }
    arrivals.sort_unstable();
    arrivals.into_iter().map(|arrival| Job { arrival, duration: rng.range(60, 600) * SEC }).collect()
}

/// A policy under test: `sees_queue = false` is GitLab's taskscaler in preemptive mode (the
/// runner asks for jobs only when a slot is free, so the scaler sees busy slots and its idle
/// target, never the queue).
pub(super) struct Contender {
    pub label: String,
    pub policy: PoolPolicy,
    pub sees_queue: bool,
}

pub(super) struct Report {
    pub label: String,
    pub jobs: usize,
    pub instance_ms: i64,
    pub busy_ms: i64,
    /// Per job, arrival to start, in trace order of starting.
    pub waits: Vec<i64>,
    pub max_live: usize,
    pub started: u32,
}

impl Report {
    pub fn mean_wait_s(&self) -> f64 {
        self.waits.iter().sum::<i64>() as f64 / self.waits.len().max(1) as f64 / 1_000.0
    }

    /// The `pct`-th percentile wait (nearest rank), in seconds.
    pub fn wait_percentile_s(&self, pct: usize) -> f64 {
        let mut w = self.waits.clone();
        w.sort_unstable();
        let rank = (w.len() * pct).div_ceil(100).max(1) - 1;
        w.get(rank).map_or(0.0, |ms| *ms as f64 / 1_000.0)
    }

    /// Share of jobs that waited at most `ms`, in percent.
    pub fn started_within_pct(&self, ms: i64) -> f64 {
        100.0 * self.waits.iter().filter(|w| **w <= ms).count() as f64 / self.waits.len().max(1) as f64
    }
}

struct Vm {
    id: String,
    created_at: i64,
    ready_at: i64,
    /// End times of the jobs running on it.
    ends: Vec<i64>,
    jobs_run: u32,
    idle_since: i64,
}

impl Vm {
    fn view(&self, now: i64) -> InstanceView {
        let ready = now >= self.ready_at;
        InstanceView {
            id: self.id.clone(),
            state: if ready { InstanceState::Running } else { InstanceState::Creating },
            created_at: Millis(self.created_at),
            busy_slots: self.ends.len() as u32,
            jobs_run: self.jobs_run,
            idle_since: (ready && self.ends.is_empty()).then_some(Millis(self.idle_since)),
            just_assigned: false,
        }
    }

    fn takes(&self, now: i64, policy: &PoolPolicy) -> bool {
        now >= self.ready_at
            && self.ends.len() < policy.capacity_per_instance.max(1) as usize
            && (policy.max_use_count == 0 || self.jobs_run < policy.max_use_count)
    }
}

/// Plays `trace` against `who`, deciding every `tick_ms`, instances ready `boot_ms` after they
/// are asked for. Panics if the scaler breaks a rule the model can see (removes a busy instance,
/// goes above `max_instances`) or a job never runs.
pub(super) fn run(trace: &[Job], who: &Contender, boot_ms: i64, tick_ms: i64) -> Report {
    let p = &who.policy;
    let mut vms: Vec<Vm> = Vec::new();
    let mut queue: VecDeque<Job> = VecDeque::new();
    let mut r = Report {
        label: who.label.clone(),
        jobs: trace.len(),
        instance_ms: 0,
        busy_ms: 0,
        waits: Vec::new(),
        max_live: 0,
        started: 0,
    };
    let (mut next_job, mut next_tick, mut serial) = (0, WED, 0u32);
    let mut last = WED - 1;
    loop {
        // The next instant anything happens: a tick, an arrival, a boot, a job's end.
        let boots = vms.iter().map(|v| v.ready_at).filter(|&at| at > last);
        let ends = vms.iter().flat_map(|v| v.ends.iter().copied());
        let arrival = trace.get(next_job).map(|j| j.arrival);
        let now = boots.chain(ends).chain(arrival).fold(next_tick, i64::min);
        last = now;
        for v in &mut vms {
            let had = v.ends.len();
            v.ends.retain(|&end| end > now);
            if had > 0 && v.ends.is_empty() {
                v.idle_since = now;
            }
        }
        while trace.get(next_job).is_some_and(|j| j.arrival <= now) {
            queue.push_back(trace[next_job]);
            next_job += 1;
        }
        while let Some(job) = queue.front().copied() {
            let Some(vm) = vms.iter_mut().filter(|v| v.takes(now, p)).max_by_key(|v| (v.ends.len(), v.idle_since))
            else {
                break;
            };
            queue.pop_front();
            vm.ends.push(now + job.duration);
            vm.jobs_run += 1;
            r.waits.push(now - job.arrival);
            r.busy_ms += job.duration;
        }
        if now == next_tick {
            let views: Vec<InstanceView> = vms.iter().map(|v| v.view(now)).collect();
            let demand = match (who.sees_queue, queue.front()) {
                (true, Some(oldest)) => {
                    Demand { pending_jobs: queue.len() as u32, oldest_wait_ms: now - oldest.arrival }
                }
                _ => Demand::default(),
            };
            for action in decide(p, &demand, &views, Millis(now)) {
                match action {
                    Action::Increase(n) => {
                        for _ in 0..n {
                            serial += 1;
                            let ready_at = now + boot_ms;
                            let id = format!("vm{serial}");
                            vms.push(Vm {
                                id,
                                created_at: now,
                                ready_at,
                                ends: vec![],
                                jobs_run: 0,
                                idle_since: ready_at,
                            });
                        }
                        r.started += n;
                    }
                    Action::Suspend(_) | Action::Resume(_) => unreachable!("the simulated provider cannot suspend"),
                    Action::Remove(id) | Action::Replace(id) => {
                        let i = vms.iter().position(|v| v.id == id).expect("removes a known instance");
                        assert!(vms[i].ends.is_empty(), "{}: removed busy {id}", who.label);
                        r.instance_ms += now - vms.swap_remove(i).created_at;
                    }
                }
            }
            assert!(vms.len() <= p.max_instances as usize, "{}: above max_instances", who.label);
            r.max_live = r.max_live.max(vms.len());
            next_tick += tick_ms;
        }
        let drained = next_job == trace.len() && queue.is_empty() && vms.iter().all(|v| v.ends.is_empty());
        if now >= WED + DAY && drained {
            r.instance_ms += vms.iter().map(|v| now - v.created_at).sum::<i64>();
            break;
        }
        assert!(now < WED + 2 * DAY, "{}: jobs still waiting a day later", who.label);
    }
    r
}
