//! `retry:` decisions (`Gitlab::Ci::Build::AutoRetry`) and retrying a job in a pipeline.

use super::tests_advance::{pipeline, show};
use super::*;

fn policy(max: u8, when: Option<&[&str]>, exit_codes: Option<&[i32]>) -> RetryPolicy {
    let when = when.map(|w| {
        w.iter()
            .map(|s| match *s {
                "always" => RetryWhen::Always,
                r => RetryWhen::Reason(r.parse().expect("reason")),
            })
            .collect()
    });
    RetryPolicy { max, when, exit_codes: exit_codes.map(<[i32]>::to_vec) }
}

/// (what, policy, attempts so far, reason, exit code, retried?)
type Case = (&'static str, RetryPolicy, u32, FailureReason, Option<i32>, bool);

#[test]
fn retry_decisions() {
    use FailureReason as F;
    #[rustfmt::skip]
    let cases: &[Case] = &[
        ("no retry keyword", RetryPolicy::default(), 0, F::ScriptFailure, Some(1), false),
        ("retry: 2, first failure", policy(2, None, None), 0, F::ScriptFailure, Some(1), true),
        ("retry: 2, second failure", policy(2, None, None), 1, F::RunnerSystemFailure, None, true),
        ("retry: 2, third failure", policy(2, None, None), 2, F::ScriptFailure, Some(1), false),
        ("when lists the reason", policy(1, Some(&["runner_system_failure"]), None), 0, F::RunnerSystemFailure, None, true),
        ("when lacks the reason", policy(1, Some(&["runner_system_failure"]), None), 0, F::ScriptFailure, Some(1), false),
        ("when: always", policy(1, Some(&["script_failure", "always"]), None), 0, F::ApiFailure, None, true),
        ("exit_codes alone: listed code", policy(2, None, Some(&[137])), 0, F::ScriptFailure, Some(137), true),
        ("exit_codes alone: other code (when defaults to [])", policy(2, None, Some(&[137])), 0, F::ScriptFailure, Some(1), false),
        ("exit_codes alone: no code", policy(2, None, Some(&[137])), 0, F::RunnerSystemFailure, None, false),
        ("reason OR exit code: reason", policy(1, Some(&["stuck_or_timeout_failure"]), Some(&[137])), 0, F::StuckOrTimeoutFailure, None, true),
        ("reason OR exit code: code", policy(1, Some(&["stuck_or_timeout_failure"]), Some(&[137])), 0, F::ScriptFailure, Some(137), true),
        ("reason OR exit code: neither", policy(1, Some(&["stuck_or_timeout_failure"]), Some(&[137])), 0, F::ScriptFailure, Some(1), false),
        ("never retried: missing dependency", policy(2, Some(&["always"]), None), 0, F::MissingDependencyFailure, None, false),
        ("never retried: quota", policy(2, None, None), 0, F::CiQuotaExceeded, None, false),
        ("never retried: no matching runner", policy(2, None, None), 0, F::NoMatchingRunner, None, false),
        ("scheduler failure: twice by default", RetryPolicy::default(), 1, F::SchedulerFailure, None, true),
        ("scheduler failure: not three times", RetryPolicy::default(), 2, F::SchedulerFailure, None, false),
        ("job timeout listed", policy(1, Some(&["job_execution_timeout"]), None), 0, F::JobExecutionTimeout, None, true),
    ];
    for (what, p, attempts, reason, code, expected) in cases {
        assert_eq!(retry_decision(p, *attempts, *reason, *code), *expected, "{what}");
    }
}

#[test]
fn retrying_a_failed_job_resets_what_it_skipped() {
    let mut jobs = pipeline(&[
        "a 0 on_success failed exit:1",
        "b 0 on_success success",
        "c 1 on_success skipped",
        "f 1 on_failure success",
        "d 0 on_success skipped needs:a",
        "e 0 on_success skipped needs:d",
        "x 0 on_success skipped needs:b",
    ]);
    let plan = retry_job(&jobs, 0).expect("retryable");
    assert_eq!(plan.reset, [2, 4, 5], "later-stage skipped jobs and needs descendants, not x");
    assert_eq!(plan.clone.status, JobStatus::Created);
    assert_eq!(plan.clone.exit_code, None);
    assert!(!plan.clone.enqueue_immediately);
    plan.apply(&mut jobs);
    assert_eq!(pipeline_status(&jobs), PipelineStatus::Running);
    assert_eq!(show(&jobs, &advance(&jobs, Millis(0))), ["a pending"]);
    // c (stage 1) also waits for d and e, which are in stage 0 and back in play.
    for (done, next) in [(0, "d pending"), (4, "e pending"), (5, "c pending")] {
        jobs[done].status = JobStatus::Success;
        assert_eq!(show(&jobs, &advance(&jobs, Millis(0))), [next]);
    }
}

#[test]
fn retrying_a_manual_job_plays_it() {
    let mut jobs = pipeline(&["a 0 on_success success", "m 1 manual success"]);
    let plan = retry_job(&jobs, 1).expect("retryable");
    assert!(plan.clone.enqueue_immediately);
    plan.apply(&mut jobs);
    assert_eq!(show(&jobs, &advance(&jobs, Millis(0))), ["m pending"]);
}

#[test]
fn only_finished_jobs_that_ran_can_be_retried() {
    let jobs = pipeline(&["a 0 on_success running", "b 0 on_success skipped", "c 0 on_success canceled"]);
    assert!(matches!(retry_job(&jobs, 0), Err(ProgressError::InvalidState { job: 0, .. })));
    assert!(matches!(retry_job(&jobs, 1), Err(ProgressError::InvalidState { job: 1, .. })));
    assert!(retry_job(&jobs, 2).is_ok());
    assert_eq!(retry_job(&jobs, 3), Err(ProgressError::UnknownJob(3)));
}
