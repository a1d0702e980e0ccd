//! Random pipelines driven to the end: `advance`, then a fake fleet of runners that starts and
//! finishes pending jobs, plays manual ones and waits for delayed ones, until nothing changes.
//! Invariants are checked after every round.

use autogit_scheduler::Millis;
use autogit_scheduler::progress::*;
use proptest::prelude::*;

/// A tiny deterministic generator for the driver's choices (the seed comes from proptest).
struct Rng(u64);
impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

fn when_strategy() -> impl Strategy<Value = When> {
    prop_oneof![
        4 => Just(When::OnSuccess),
        1 => Just(When::OnFailure),
        1 => Just(When::Always),
        1 => Just(When::Manual),
        1 => (0i64..50).prop_map(|start_in_ms| When::Delayed { start_in_ms }),
        1 => Just(When::Never),
    ]
}

/// Jobs sorted by stage; needs point only to lower indices, so stage order and needs never
/// form a cycle (GitLab rejects cycles at pipeline creation).
fn pipeline_strategy() -> impl Strategy<Value = Vec<JobNode>> {
    let job = (0usize..4, when_strategy(), any::<bool>(), prop::option::weighted(0.4, any::<u16>()), any::<bool>());
    prop::collection::vec(job, 1..14).prop_map(|mut specs| {
        specs.sort_by_key(|s| s.0);
        specs
            .into_iter()
            .enumerate()
            .map(|(i, (stage, when, allow_failure, needs, codes))| {
                let mut j = JobNode::new(i, format!("j{i}"), stage);
                j.when = when;
                j.allow_failure = allow_failure;
                j.allow_failure_exit_codes = if codes { vec![2] } else { vec![] };
                j.needs =
                    needs.map(|bits| (0..i).filter(|k| bits & (1 << k) != 0).map(|job| NeedRef { job }).collect());
                j
            })
            .collect()
    })
}

fn prerequisites(jobs: &[JobNode], i: usize) -> Vec<usize> {
    match &jobs[i].needs {
        Some(needs) => needs.iter().map(|n| n.job).collect(),
        None => (0..jobs.len()).filter(|&k| jobs[k].stage_index < jobs[i].stage_index).collect(),
    }
}

fn settled(j: &JobNode) -> bool {
    j.status.is_finished() || (j.status == JobStatus::Manual && j.allow_failure)
}

/// The pipeline status of a pipeline whose jobs all finished, written independently.
fn oracle(jobs: &[JobNode]) -> PipelineStatus {
    let bad = |s: JobStatus| jobs.iter().any(|j| j.status == s && !j.failure_allowed());
    if bad(JobStatus::Failed) {
        PipelineStatus::Failed
    } else if bad(JobStatus::Canceled) {
        PipelineStatus::Canceled
    } else if jobs.iter().any(|j| j.status != JobStatus::Skipped) {
        PipelineStatus::Success
    } else {
        PipelineStatus::Skipped
    }
}

fn apply(jobs: &mut [JobNode], ts: &[Transition]) {
    for t in ts {
        jobs[t.job].status = t.to;
        if t.to == JobStatus::Scheduled {
            jobs[t.job].scheduled_at = t.scheduled_at;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn random_pipelines_run_to_a_consistent_end(mut jobs in pipeline_strategy(), seed in 1u64..) {
        let mut rng = Rng(seed);
        let n = jobs.len();
        let mut now = Millis(0);
        let mut rounds = 0;
        let canceling = rng.next(8) == 0;
        loop {
            rounds += 1;
            prop_assert!(rounds <= 3 * n + 1, "did not settle within 3×jobs rounds (+1 to see the end)");
            let ts = advance(&jobs, now);
            let before = jobs.clone();
            apply(&mut jobs, &ts);
            for t in &ts {
                let was = before[t.job].status;
                prop_assert!(was == JobStatus::Created || (was == JobStatus::Scheduled && t.to == JobStatus::Pending));
                if was == JobStatus::Scheduled {
                    prop_assert!(before[t.job].scheduled_at.is_none_or(|at| at <= now), "not due yet");
                }
                if matches!(t.to, JobStatus::Pending | JobStatus::Manual | JobStatus::Scheduled) {
                    for p in prerequisites(&jobs, t.job) {
                        prop_assert!(settled(&jobs[p]), "job {} started before prerequisite {} ({})", t.job, p, jobs[p].status);
                    }
                }
            }
            // Idempotent at its fixed point: nothing `created` is decided twice.
            for t in advance(&jobs, now) {
                prop_assert_eq!(jobs[t.job].status, JobStatus::Scheduled, "advance was not at a fixed point");
            }
            if jobs.iter().any(|j| j.status == JobStatus::Running) {
                prop_assert_eq!(pipeline_status(&jobs), PipelineStatus::Running);
            }
            if canceling && rounds == 3 {
                let cs = cancel(&jobs);
                apply(&mut jobs, &cs);
                prop_assert!(advance(&jobs, now).is_empty());
                break;
            }
            // The runners: running jobs finish, some pending jobs start.
            let mut acted = !ts.is_empty();
            for j in jobs.iter_mut().filter(|j| j.status == JobStatus::Running) {
                let fail = rng.next(3) == 0;
                j.status = if fail { JobStatus::Failed } else { JobStatus::Success };
                j.exit_code = fail.then(|| rng.next(3) as i32 + 1);
                acted = true;
            }
            // Nothing to start: let time pass to the next delayed job, or play a manual one.
            if !jobs.iter().any(|j| j.status == JobStatus::Pending) {
                if let Some(at) = next_wakeup(&jobs) {
                    now = now.max(at);
                    acted = true;
                } else if let Some(m) = (0..n).find(|&i| jobs[i].status == JobStatus::Manual) {
                    let t = play(&jobs, m).map_err(|e| TestCaseError::fail(e.to_string()))?;
                    apply(&mut jobs, &[t]);
                    acted = true;
                }
            }
            let pending: Vec<usize> = (0..n).filter(|&i| jobs[i].status == JobStatus::Pending).collect();
            if !pending.is_empty() {
                let first = rng.next(pending.len() as u64) as usize;
                for (k, &i) in pending.iter().enumerate() {
                    if k == first || rng.next(2) == 0 {
                        jobs[i].status = JobStatus::Running;
                    }
                }
                acted = true;
            }
            if !acted {
                break;
            }
        }
        for j in &jobs {
            prop_assert!(j.status.is_finished(), "{} ended {}", j.name, j.status);
        }
        prop_assert_eq!(pipeline_status(&jobs), oracle(&jobs));
        let warned = jobs.iter().any(|j| j.failure_allowed() && matches!(j.status, JobStatus::Failed | JobStatus::Canceled));
        prop_assert_eq!(has_warnings(&jobs), warned);
    }
}

/// The statuses `advance` would leave after applying its decisions (and `scheduled_at`s).
fn settle_fully(jobs: &[JobNode], now: Millis) -> Vec<(JobStatus, Option<Millis>)> {
    let mut jobs = jobs.to_vec();
    let ts = advance(&jobs, now);
    apply(&mut jobs, &ts);
    jobs.iter().map(|j| (j.status, j.scheduled_at)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    /// The incremental `Tracker`, told only which job changed, decides exactly what `advance`
    /// decides over the whole pipeline, at every step of a random run; its pipeline status and
    /// warnings equal the full computation's.
    #[test]
    fn the_tracker_decides_what_advance_decides(jobs in pipeline_strategy(), seed in 1u64..) {
        let mut rng = Rng(seed);
        let n = jobs.len();
        let mut now = Millis(0);
        let want = settle_fully(&jobs, now);
        let mut tracker = Tracker::new(jobs);
        tracker.advance_all(now);
        let got: Vec<_> = tracker.jobs().iter().map(|j| (j.status, j.scheduled_at)).collect();
        prop_assert_eq!(&got, &want);
        for _ in 0..(4 * n + 4) {
            // One outside change: a runner starts or finishes a job, a manual job is played, or
            // time passes to the next delayed job.
            let live: Vec<usize> = (0..n).filter(|&i| matches!(tracker.jobs()[i].status, JobStatus::Pending | JobStatus::Running | JobStatus::Manual)).collect();
            let mut changed = Vec::new();
            if live.is_empty() {
                match next_wakeup(tracker.jobs()) {
                    Some(at) => now = now.max(at),
                    None => break,
                }
            } else {
                let i = live[rng.next(live.len() as u64) as usize];
                let mut node = tracker.jobs()[i].clone();
                node.status = match node.status {
                    JobStatus::Pending => JobStatus::Running,
                    JobStatus::Manual => JobStatus::Pending,
                    _ => match rng.next(4) { 0 => JobStatus::Failed, 1 => JobStatus::Canceled, _ => JobStatus::Success },
                };
                node.exit_code = (node.status == JobStatus::Failed).then(|| rng.next(3) as i32 + 1);
                tracker.replace(i, node);
                changed.push(i);
            }
            let want = settle_fully(tracker.jobs(), now);
            tracker.advance(&changed, now);
            let got: Vec<_> = tracker.jobs().iter().map(|j| (j.status, j.scheduled_at)).collect();
            prop_assert_eq!(&got, &want);
            prop_assert_eq!(tracker.pipeline_status(), pipeline_status(tracker.jobs()));
            prop_assert_eq!(tracker.has_warnings(), has_warnings(tracker.jobs()));
        }
    }
}
