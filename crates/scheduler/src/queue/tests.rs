//! Matching rules, FIFO pick, the version, and long-poll waiters.

use super::*;

fn set(items: &str) -> BTreeSet<String> {
    items.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

fn job(id: i64, project_id: i64, tags: &str, protected_ref: bool, at: i64) -> QueuedJob {
    QueuedJob {
        id: JobId::new(id),
        project_id: ProjectId::new(project_id),
        tags: set(tags),
        required_features: set(""),
        protected_ref,
        enqueued_at: Millis(at),
    }
}

fn runner(id: i64, tags: &str, run_untagged: bool) -> RunnerInfo {
    RunnerInfo { tags: set(tags), run_untagged, active: true, ..RunnerInfo::new(RunnerId::new(id)) }
}

fn held(n: u64) -> HeldRequest {
    HeldRequest(n)
}

#[test]
fn matching_rules() {
    let base = runner(1, "docker,gpu", false);
    let untagged = RunnerInfo { run_untagged: true, ..base.clone() };
    let paused = RunnerInfo { paused: true, run_untagged: true, ..base.clone() };
    let inactive = RunnerInfo { active: false, run_untagged: true, ..base.clone() };
    let locked = RunnerInfo { locked_to_projects: Some(vec![ProjectId::new(7), ProjectId::new(8)]), ..base.clone() };
    let protected = RunnerInfo { access_level: RunnerAccessLevel::RefProtected, ..base.clone() };
    let featured = RunnerInfo { features: set("return_exit_code"), ..base.clone() };
    let mut needs_feature = job(1, 7, "docker", false, 0);
    needs_feature.required_features = set("return_exit_code");
    #[rustfmt::skip]
    let cases: &[(&str, &RunnerInfo, QueuedJob, bool)] = &[
        ("job tags are a subset of runner tags", &base, job(1, 7, "docker", false, 0), true),
        ("all job tags present", &base, job(1, 7, "gpu,docker", false, 0), true),
        ("a job tag the runner lacks", &base, job(1, 7, "docker,arm", false, 0), false),
        ("untagged job, run_untagged off", &base, job(1, 7, "", false, 0), false),
        ("untagged job, run_untagged on", &untagged, job(1, 7, "", false, 0), true),
        ("tagged job, run_untagged on", &untagged, job(1, 7, "gpu", false, 0), true),
        ("paused runner", &paused, job(1, 7, "", false, 0), false),
        ("inactive runner", &inactive, job(1, 7, "docker", false, 0), false),
        ("locked runner, its project", &locked, job(1, 8, "docker", false, 0), true),
        ("locked runner, another project", &locked, job(1, 9, "docker", false, 0), false),
        ("ref_protected runner, protected ref", &protected, job(1, 7, "docker", true, 0), true),
        ("ref_protected runner, unprotected ref", &protected, job(1, 7, "docker", false, 0), false),
        ("not_protected runner, protected ref", &base, job(1, 7, "docker", true, 0), true),
        ("required feature missing", &base, needs_feature.clone(), false),
        ("required feature present", &featured, needs_feature, true),
    ];
    for (what, r, j, expected) in cases {
        assert_eq!(may_take(r, j), *expected, "{what}");
        let mut q = Queue::new(1);
        q.push(j.clone()).expect("push");
        assert_eq!(q.pick(r).map(|j| j.id.get()), expected.then_some(j.id.get()), "pick: {what}");
    }
}

#[test]
fn pick_is_fifo_across_buckets_and_skips_what_the_runner_cannot_take() {
    let mut q = Queue::new(1);
    for j in [
        job(1, 1, "arm", false, 10),
        job(2, 1, "docker", false, 30),
        job(3, 2, "", false, 20),
        job(4, 1, "docker", false, 20),
    ] {
        q.push(j).expect("push");
    }
    let r = runner(1, "docker", true);
    let order: Vec<i64> = std::iter::from_fn(|| q.pick(&r).map(|j| j.id.get())).collect();
    assert_eq!(order, [3, 4, 2], "by enqueued_at; job 1 (arm) is not for this runner");
    assert_eq!(q.len(), 1);
    let same_time: Vec<QueuedJob> = (0..3).map(|i| job(10 - i, 1, "arm", false, 5)).collect();
    for j in same_time {
        q.push(j).expect("push");
    }
    let arm = runner(2, "arm", false);
    let order: Vec<i64> = std::iter::from_fn(|| q.pick(&arm).map(|j| j.id.get())).collect();
    assert_eq!(order, [8, 9, 10, 1], "ties broken by job id");
}

#[test]
fn locked_runner_gets_the_oldest_job_of_its_projects() {
    let mut q = Queue::new(1);
    for j in [job(1, 5, "", false, 1), job(2, 6, "", false, 2), job(3, 7, "", false, 3), job(4, 6, "x", false, 0)] {
        q.push(j).expect("push");
    }
    let r = RunnerInfo { locked_to_projects: Some(vec![ProjectId::new(7), ProjectId::new(6)]), ..runner(1, "", true) };
    assert_eq!(q.pick(&r).map(|j| j.id.get()), Some(2));
    assert_eq!(q.pick(&r).map(|j| j.id.get()), Some(3));
    assert_eq!(q.pick(&r), None, "job 4 is tagged, job 1 another project");
}

#[test]
fn push_remove_and_version() {
    let mut q = Queue::new(0xab);
    let v0 = q.last_update();
    assert!(q.is_latest(&v0));
    q.push(job(1, 1, "", false, 0)).expect("push");
    assert_eq!(q.push(job(1, 1, "", false, 0)), Err(QueueError::Duplicate(JobId::new(1))));
    let v1 = q.last_update();
    assert_ne!(v0, v1);
    assert!(!q.is_latest(&v0));
    assert_eq!(q.remove(JobId::new(1)).map(|j| j.id.get()), Some(1));
    assert_eq!(q.remove(JobId::new(1)), None);
    assert_ne!(q.last_update(), v1);
    let before = q.last_update();
    q.bump();
    assert_ne!(q.last_update(), before);
    assert_ne!(Queue::new(1).last_update(), Queue::new(2).last_update(), "epochs differ after a restart");
    assert!(q.is_empty());
}

/// Exercises the indexed pick at the size the benchmark measures (not timed here).
#[test]
fn ten_thousand_picks() {
    let mut q = Queue::new(1);
    let tags = ["docker", "gpu", "arm", "docker,gpu", ""];
    for id in 1..=10_000i64 {
        q.push(job(id, id % 50, tags[(id % 5) as usize], id % 7 == 0, id)).expect("push");
    }
    let runners: Vec<RunnerInfo> = (1..=100i64)
        .map(|i| runner(i, ["docker", "gpu", "arm", "docker,gpu,arm", "docker,gpu"][(i % 5) as usize], i % 2 == 0))
        .collect();
    let mut taken = 0;
    while !q.is_empty() {
        let before = q.len();
        for r in &runners {
            if let Some(j) = q.pick(r) {
                assert!(may_take(r, &j));
                taken += 1;
            }
        }
        assert!(q.len() < before, "every kind of job has a runner");
    }
    assert_eq!(taken, 10_000);
}

#[test]
fn waiters_hand_a_new_job_to_the_longest_waiting_runner_that_may_take_it() {
    let mut w = Waiters::new();
    w.register(held(1), runner(1, "gpu", false), Millis(10));
    w.register(held(2), runner(2, "docker", true), Millis(20));
    w.register(held(3), runner(3, "docker", false), Millis(5));
    assert_eq!(w.len(), 3);
    assert_eq!(w.on_enqueue(&job(1, 1, "arm", false, 0)), None, "nobody may take it");
    assert_eq!(w.on_enqueue(&job(2, 1, "docker", false, 0)), Some(held(3)), "waiting since 5");
    assert_eq!(w.on_enqueue(&job(3, 1, "docker", false, 0)), Some(held(2)), "3 was handed a job already");
    assert_eq!(w.on_enqueue(&job(4, 1, "docker", false, 0)), None);
    assert_eq!(w.on_enqueue(&job(5, 1, "gpu", false, 0)), Some(held(1)));
    assert!(w.is_empty());
}

#[test]
fn waiters_re_register_unregister_and_expire() {
    let mut w = Waiters::new();
    w.register(held(1), runner(1, "", true), Millis(0));
    w.register(held(2), runner(2, "", true), Millis(10));
    w.register(held(1), runner(1, "", true), Millis(20)); // a new request replaces the old one
    assert_eq!(w.len(), 2);
    assert_eq!(w.next_expiry(LONG_POLL_HOLD_MS), Some(Millis(10 + LONG_POLL_HOLD_MS)));
    assert_eq!(w.expire(Millis(10 + LONG_POLL_HOLD_MS - 1), LONG_POLL_HOLD_MS), Vec::<HeldRequest>::new());
    assert_eq!(w.expire(Millis(20 + LONG_POLL_HOLD_MS), LONG_POLL_HOLD_MS), [held(2), held(1)]);
    w.register(held(3), runner(3, "", true), Millis(0));
    assert!(w.unregister(held(3)));
    assert!(!w.unregister(held(3)));
    assert_eq!(w.on_enqueue(&job(1, 1, "", false, 0)), None);
}

#[test]
fn pick_where_skips_refused_jobs_and_keeps_them_queued() {
    let mut q = Queue::new(1);
    q.push(job(1, 7, "gpu", false, 10)).expect("push");
    q.push(job(2, 7, "", false, 20)).expect("push");
    q.push(job(3, 8, "gpu", false, 30)).expect("push");
    let r = runner(1, "gpu", true);
    // Job 1 refused (its GPUs are busy): the oldest acceptable one is 2, across buckets.
    assert_eq!(q.pick_where(&r, |j| j.id != JobId::new(1)).map(|j| j.id.get()), Some(2));
    assert!(q.contains(JobId::new(1)), "a refused job stays queued");
    assert_eq!(q.pick_where(&r, |j| j.id != JobId::new(1)).map(|j| j.id.get()), Some(3));
    assert_eq!(q.pick_where(&r, |_| false), None);
    // Accepting everything is exactly `pick`.
    assert_eq!(q.pick_where(&r, |_| true).map(|j| j.id.get()), Some(1));
    let locked =
        RunnerInfo { locked_to_projects: Some(vec![ProjectId::new(8), ProjectId::new(7)]), ..runner(2, "gpu", true) };
    q.push(job(4, 7, "gpu", false, 40)).expect("push");
    q.push(job(5, 8, "gpu", false, 50)).expect("push");
    assert_eq!(q.pick_where(&locked, |j| j.id != JobId::new(4)).map(|j| j.id.get()), Some(5));
}

#[test]
fn waiters_on_enqueue_where_respects_the_filter() {
    let mut w = Waiters::new();
    w.register(held(1), runner(1, "gpu", true), Millis(1));
    w.register(held(2), runner(2, "gpu", true), Millis(2));
    let j = job(9, 1, "gpu", false, 3);
    assert_eq!(w.on_enqueue_where(&j, |r| r.id == RunnerId::new(2)), Some(held(2)));
    assert_eq!(w.on_enqueue_where(&j, |r| r.id == RunnerId::new(2)), None, "2 was handed a job and left");
    assert_eq!(w.on_enqueue(&j), Some(held(1)));
}

#[test]
fn pending_lists_every_queued_job_and_may_take_matches_like_pick() {
    let mut q = Queue::new(1);
    q.push(job(1, 7, "gpu", false, 10)).expect("push");
    q.push(job(2, 7, "", false, 20)).expect("push");
    q.push(job(3, 8, "arm64", false, 5)).expect("push");
    let mut ids: Vec<i64> = q.pending().map(|j| j.id.get()).collect();
    ids.sort_unstable();
    assert_eq!(ids, vec![1, 2, 3]);
    let takes = |r: &RunnerInfo| {
        let mut v: Vec<i64> = q.pending().filter(|j| may_take(r, j)).map(|j| j.id.get()).collect();
        v.sort_unstable();
        v
    };
    assert_eq!(takes(&runner(1, "", true)), vec![2]);
    assert_eq!(takes(&runner(1, "gpu", true)), vec![1, 2]);
    assert_eq!(takes(&runner(1, "arm64", false)), vec![3]);
    assert_eq!(takes(&RunnerInfo { paused: true, ..runner(1, "gpu", true) }), Vec::<i64>::new());
    q.remove(JobId::new(1));
    assert_eq!(q.pending().count(), 2);
}
