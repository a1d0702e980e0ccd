//! Dispatch throughput: 10,000 queued jobs with mixed tags, 100 runners with mixed tags.
//! `cargo bench -p autogit-scheduler`.

use std::collections::BTreeSet;

use autogit_core::{JobId, ProjectId, RunnerId};
use autogit_scheduler::Millis;
use autogit_scheduler::queue::{HeldRequest, Queue, QueuedJob, RunnerAccessLevel, RunnerInfo, Waiters};
use divan::counter::ItemsCount;
use divan::{Bencher, black_box};

const JOBS: u64 = 10_000;
const RUNNERS: u64 = 100;
const JOB_TAGS: [&str; 6] = ["docker", "gpu", "arm", "docker,gpu", "docker,linux", ""];
const RUNNER_TAGS: [&str; 5] = ["docker", "gpu,docker", "arm", "docker,gpu,arm,linux", "docker,linux"];

fn set(items: &str) -> BTreeSet<String> {
    items.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// The bench numbers things with `u64` counters; ids are `i64` underneath.
fn n(k: u64) -> i64 {
    i64::try_from(k).expect("bench counters stay small")
}

fn job(id: u64) -> QueuedJob {
    QueuedJob {
        id: JobId::new(n(id)),
        project_id: ProjectId::new(n(id % 200)),
        tags: set(JOB_TAGS[(id % 6) as usize]),
        required_features: BTreeSet::new(),
        protected_ref: id.is_multiple_of(10),
        enqueued_at: Millis(id as i64),
    }
}

fn runners(locked: bool) -> Vec<RunnerInfo> {
    (0..RUNNERS)
        .map(|i| RunnerInfo {
            id: RunnerId::new(n(i)),
            tags: set(RUNNER_TAGS[(i % 5) as usize]),
            run_untagged: i % 3 == 0,
            active: true,
            paused: false,
            locked_to_projects: (locked && i % 2 == 0)
                .then(|| (0..5).map(|k| ProjectId::new(n((i * 7 + k) % 200))).collect()),
            access_level: if i % 25 == 0 { RunnerAccessLevel::RefProtected } else { RunnerAccessLevel::NotProtected },
            features: BTreeSet::new(),
        })
        .collect()
}

fn full_queue() -> Queue {
    let mut q = Queue::new(1);
    for id in 0..JOBS {
        let _ = q.push(job(id));
    }
    q
}

fn main() {
    divan::main();
}

/// One request: a runner picks the oldest job it may take; the job is queued again so the
/// queue stays at 10,000 (pick + push per iteration).
#[divan::bench(args = [false, true])]
fn pick_steady_state(bencher: Bencher, locked: bool) {
    let rs = runners(locked);
    let mut q = full_queue();
    let mut i = 0usize;
    let mut next_id = JOBS;
    bencher.counter(ItemsCount::new(1usize)).bench_local(|| {
        i = (i + 1) % rs.len();
        if let Some(mut j) = q.pick(&rs[i]) {
            j.id = JobId::new(n(next_id));
            j.enqueued_at = Millis(next_id as i64);
            next_id += 1;
            let _ = q.push(j);
        }
    });
}

/// Drain 10,000 jobs with 100 instance-wide runners taking turns (queue build not timed).
#[divan::bench(sample_count = 20)]
fn drain_10k(bencher: Bencher) {
    let rs = runners(false);
    bencher.counter(ItemsCount::new(JOBS)).with_inputs(full_queue).bench_local_values(|mut q| {
        let mut taken = 0u64;
        while !q.is_empty() {
            for r in &rs {
                taken += u64::from(q.pick(r).is_some());
            }
        }
        black_box(taken)
    });
}

/// A new job meets 100 waiting runners: who gets woken.
#[divan::bench]
fn waiter_hand_off(bencher: Bencher) {
    let rs = runners(false);
    bencher
        .counter(ItemsCount::new(1usize))
        .with_inputs(|| {
            let mut w = Waiters::new();
            for (k, r) in rs.iter().enumerate() {
                w.register(HeldRequest(k as u64), r.clone(), Millis(k as i64));
            }
            w
        })
        .bench_local_refs(|w| black_box(w.on_enqueue(&job(1))));
}
