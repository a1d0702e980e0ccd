//! Table-driven tests of `advance`, written in a small notation:
//! a job is `"name stage when status [needs:a,b] [exit:N] [af_codes:N,M]"`, where `when` is
//! `on_success`, `on_failure`, `always`, `manual`, `delayed:MS` or `never`, a trailing `?` on
//! it means `allow_failure: true`, and `needs:` alone is `needs: []`.

use super::advance::decide;
use super::*;

pub(super) fn pipeline(specs: &[&str]) -> Vec<JobNode> {
    let names: Vec<&str> = specs.iter().map(|s| s.split_whitespace().next().unwrap_or("")).collect();
    let index = |n: &str| names.iter().position(|x| *x == n).unwrap_or_else(|| panic!("no job {n}"));
    specs
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let t: Vec<&str> = spec.split_whitespace().collect();
            let mut j = JobNode::new(i, t[0], t[1].parse().expect("stage"));
            let when = t[2].trim_end_matches('?');
            j.allow_failure = t[2].ends_with('?');
            j.when = match when {
                "on_success" => When::OnSuccess,
                "on_failure" => When::OnFailure,
                "always" => When::Always,
                "manual" => When::Manual,
                "never" => When::Never,
                d => When::Delayed { start_in_ms: d.trim_start_matches("delayed:").parse().expect("when") },
            };
            j.status = t[3].parse().expect("status");
            for extra in &t[4..] {
                let (k, v) = extra.split_once(':').expect("key:value");
                let list = || v.split(',').filter(|s| !s.is_empty());
                match k {
                    "needs" => j.needs = Some(list().map(|n| NeedRef { job: index(n) }).collect()),
                    "exit" => j.exit_code = Some(v.parse().expect("exit")),
                    "af_codes" => j.allow_failure_exit_codes = list().map(|c| c.parse().expect("code")).collect(),
                    "at" => j.scheduled_at = Some(Millis(v.parse().expect("at"))),
                    "now" => j.enqueue_immediately = true,
                    _ => panic!("unknown key {k}"),
                }
            }
            j
        })
        .collect()
}

/// The transitions as `"name status"` (with `@ms` for a scheduled time), in decision order.
pub(super) fn show(jobs: &[JobNode], ts: &[Transition]) -> Vec<String> {
    ts.iter()
        .map(|t| match t.scheduled_at {
            Some(at) => format!("{} {}@{}", jobs[t.job].name, t.to, at.0),
            None => format!("{} {}", jobs[t.job].name, t.to),
        })
        .collect()
}

const NOW: Millis = Millis(1_000);

#[test]
fn advance_follows_gitlab_rules() {
    #[rustfmt::skip]
    let cases: &[(&str, &[&str], &[&str])] = &[
        ("first stage starts", &["a 0 on_success created", "b 0 on_success created", "c 1 on_success created"],
            &["a pending", "b pending"]),
        ("later stage waits for a running one", &["a 0 on_success running", "b 0 on_success success", "c 1 on_success created"], &[]),
        ("all earlier stages succeeded", &["a 0 on_success success", "b 1 on_success success", "c 2 on_success created"], &["c pending"]),
        ("failure: on_success, manual and delayed are skipped; on_failure and always run",
            &["a 0 on_success failed", "s 1 on_success created", "f 1 on_failure created", "w 1 always created",
              "m 1 manual created", "d 1 delayed:60000 created"],
            &["s skipped", "f pending", "w pending", "m skipped", "d skipped"]),
        ("success: on_failure skipped, manual waits, delayed scheduled",
            &["a 0 on_success success", "f 1 on_failure created", "w 1 always created", "m 1 manual created", "d 1 delayed:60000 created"],
            &["f skipped", "w pending", "m manual", "d scheduled@61000"]),
        ("an allowed failure counts as success", &["a 0 on_success? failed", "s 1 on_success created", "f 1 on_failure created"],
            &["s pending", "f skipped"]),
        ("a failure with an allowed exit code is allowed", &["a 0 on_success failed exit:3 af_codes:3,4", "s 1 on_success created"], &["s pending"]),
        ("a failure with another exit code is not", &["a 0 on_success failed exit:1 af_codes:3,4", "s 1 on_success created"], &["s skipped"]),
        ("skips cascade within one call; a skipped stage counts as success for stage jobs",
            &["a 0 on_success failed", "b 1 on_success created", "c 2 on_success created", "d 3 on_failure created"],
            &["b skipped", "c skipped", "d pending"]),
        ("an all-skipped earlier stage lets on_success run", &["a 0 on_success skipped", "b 1 on_success created"], &["b pending"]),
        ("a blocking manual job holds later stages", &["m 0 manual manual", "b 1 on_success created"], &[]),
        ("an optional manual job does not", &["m 0 manual? manual", "b 1 on_success created"], &["b pending"]),
        ("a scheduled job holds later stages", &["d 0 delayed:5 scheduled at:99999", "b 1 on_success created"], &[]),
        ("needs: [] starts at once", &["a 0 on_success running", "b 1 on_success created needs:"], &["b pending"]),
        ("needs ignore stage order", &["a 0 on_success success", "x 0 on_success running", "b 1 on_success created needs:a"], &["b pending"]),
        ("needs wait for the needed job", &["a 0 on_success running", "b 1 on_success created needs:a"], &[]),
        ("a need in the same stage, listed later", &["b 0 on_success created needs:a", "a 0 on_success success"], &["b pending"]),
        ("a DAG job with a skipped need is skipped", &["a 0 on_success skipped", "b 1 on_success created needs:a"], &["b skipped"]),
        ("a DAG always job with a skipped need runs", &["a 0 on_success skipped", "b 1 always created needs:a"], &["b pending"]),
        ("a DAG job needing an unplayed optional manual job is skipped",
            &["m 0 manual? manual", "a 0 on_success success", "b 1 on_success created needs:m,a"], &["b skipped"]),
        ("(deviation) a DAG job waits while another need is alive", &["a 0 on_success skipped", "r 0 on_success running", "b 1 always created needs:a,r"], &[]),
        ("DAG on_failure", &["a 0 on_success failed", "b 1 on_failure created needs:a", "c 1 on_success created needs:a"],
            &["b pending", "c skipped"]),
        ("a need outside the pipeline is ignored", &["a 0 on_success created needs:"], &["a pending"]),
        ("a canceled prerequisite skips even always", &["a 0 on_success canceled", "w 1 always created", "s 1 on_success created"],
            &["w skipped", "s skipped"]),
        ("an allowed cancel counts as success", &["a 0 on_success? canceled", "s 1 on_success created"], &["s pending"]),
        ("never is skipped", &["a 0 never created", "b 1 on_success created"], &["a skipped", "b pending"]),
        ("retried manual job goes straight to pending", &["a 0 on_success success", "m 1 manual created now:1"], &["m pending"]),
        ("a due scheduled job becomes pending", &["d 0 delayed:5 scheduled at:1000", "e 0 delayed:5 scheduled at:1001"], &["d pending"]),
        ("pending and waiting prerequisites block", &["a 0 on_success pending", "p 0 on_success waiting_for_resource", "b 1 always created"], &[]),
    ];
    for (what, specs, expected) in cases {
        let jobs = pipeline(specs);
        let got = show(&jobs, &advance(&jobs, NOW));
        assert_eq!(got, *expected, "{what}");
    }
}

#[test]
fn dangling_need_index_is_ignored() {
    let mut jobs = pipeline(&["a 0 on_success created"]);
    jobs[0].needs = Some(vec![NeedRef { job: 7 }]);
    assert_eq!(show(&jobs, &advance(&jobs, NOW)), ["a pending"]);
}

/// GitLab's own table (`spec/services/ci/process_build_service_spec.rb`): `when` × the status of
/// the prerequisites → the status after processing, and after a retry (`enqueue_immediately`).
#[test]
fn process_build_service_table() {
    use JobStatus::*;
    #[rustfmt::skip]
    let table: &[(When, bool, JobStatus, JobStatus, JobStatus)] = &[
        // when, dag, prerequisites, after, after a retry
        (When::OnSuccess, false, Success, Pending, Pending),
        (When::OnSuccess, false, Skipped, Pending, Pending),
        (When::OnSuccess, false, Failed, Skipped, Skipped),
        (When::OnFailure, false, Success, Skipped, Skipped),
        (When::OnFailure, false, Skipped, Skipped, Skipped),
        (When::OnFailure, false, Failed, Pending, Pending),
        (When::Always, false, Success, Pending, Pending),
        (When::Always, false, Skipped, Pending, Pending),
        (When::Always, false, Failed, Pending, Pending),
        (When::Manual, false, Success, Manual, Pending),
        (When::Manual, false, Skipped, Manual, Pending),
        (When::Manual, false, Failed, Skipped, Skipped),
        (When::Delayed { start_in_ms: 10 }, false, Success, Scheduled, Pending),
        (When::Delayed { start_in_ms: 10 }, false, Skipped, Scheduled, Pending),
        (When::Delayed { start_in_ms: 10 }, false, Failed, Skipped, Skipped),
        (When::OnSuccess, true, Success, Pending, Pending),
        (When::OnSuccess, true, Skipped, Skipped, Skipped),
        (When::Manual, true, Success, Manual, Pending),
        (When::Manual, true, Skipped, Skipped, Skipped),
        (When::Delayed { start_in_ms: 10 }, true, Success, Scheduled, Pending),
        (When::Delayed { start_in_ms: 10 }, true, Skipped, Skipped, Skipped),
    ];
    for &(when, dag, prerequisites, after, after_retry) in table {
        let mut j = JobNode::new(0, "j", 1);
        j.when = when;
        j.needs = dag.then(Vec::new);
        for (immediately, expected) in [(false, after), (true, after_retry)] {
            j.enqueue_immediately = immediately;
            let got = decide(0, &j, prerequisites, NOW).map(|t| t.to);
            assert_eq!(got, Some(expected), "{when:?} dag={dag} after {prerequisites} (retry: {immediately})");
        }
    }
    // Prerequisites that have not finished decide nothing.
    for s in [Created, Pending, Running, Manual, Scheduled, Preparing, WaitingForResource] {
        assert_eq!(decide(0, &JobNode::new(0, "j", 1), s, NOW), None, "{s}");
    }
}

#[test]
fn next_wakeup_is_the_earliest_scheduled_time() {
    let jobs =
        pipeline(&["d 0 delayed:5 scheduled at:3000", "e 0 delayed:5 scheduled at:2000", "f 0 on_success success"]);
    assert_eq!(next_wakeup(&jobs), Some(Millis(2000)));
    assert_eq!(next_wakeup(&pipeline(&["a 0 on_success created"])), None);
}

#[test]
fn advance_is_idempotent_once_applied() {
    let mut jobs =
        pipeline(&["a 0 on_success failed", "b 1 on_success created", "c 2 on_failure created", "d 3 manual created"]);
    for t in advance(&jobs, NOW) {
        jobs[t.job].status = t.to;
    }
    assert_eq!(show(&jobs, &advance(&jobs, NOW)), Vec::<String>::new());
}
