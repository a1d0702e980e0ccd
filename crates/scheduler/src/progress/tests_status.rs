//! Pipeline status precedence (`Gitlab::Ci::Status::Composite`), and cancel.

use super::tests_advance::{pipeline, show};
use super::*;

#[test]
fn pipeline_status_precedence() {
    use PipelineStatus as P;
    #[rustfmt::skip]
    let cases: &[(&str, &[&str], PipelineStatus, bool)] = &[
        ("no jobs", &[], P::Created, false),
        ("all success", &["a 0 on_success success", "b 1 on_success success"], P::Success, false),
        ("allowed failure: success with warnings", &["a 0 on_success success", "b 0 on_success? failed"], P::Success, true),
        ("allowed exit code: success with warnings", &["a 0 on_success failed exit:2 af_codes:2"], P::Success, true),
        ("allowed cancel: success with warnings", &["a 0 on_success success", "b 0 on_success? canceled"], P::Success, true),
        ("a failure", &["a 0 on_success success", "b 0 on_success failed", "c 1 on_success skipped"], P::Failed, false),
        ("a failure while others run", &["a 0 on_success failed", "b 0 on_success running"], P::Running, false),
        ("a failure while a later job is still created", &["a 0 on_success failed", "b 1 always created"], P::Running, false),
        ("only created", &["a 0 on_success created", "b 1 on_success created"], P::Created, false),
        ("pending and created", &["a 0 on_success pending", "b 1 on_success created"], P::Pending, false),
        ("success and created", &["a 0 on_success success", "b 1 on_success created"], P::Running, false),
        ("success and pending", &["a 0 on_success success", "b 1 on_success pending"], P::Running, false),
        ("blocked on a manual job", &["a 0 on_success success", "m 1 manual manual", "c 2 on_success created"], P::Manual, false),
        ("an optional manual job left unplayed", &["a 0 on_success success", "m 1 manual? manual"], P::Success, false),
        ("only an optional manual job", &["m 0 manual? manual"], P::Skipped, false),
        ("all skipped", &["a 0 on_success skipped", "b 1 on_failure skipped"], P::Skipped, false),
        ("success and skipped", &["a 0 on_success success", "b 1 on_failure skipped"], P::Success, false),
        ("canceled and success", &["a 0 on_success success", "b 0 on_success canceled"], P::Canceled, false),
        ("canceled and failed", &["a 0 on_success failed", "b 0 on_success canceled"], P::Failed, false),
        ("waiting for a delayed job", &["a 0 on_success success", "d 1 delayed:5 scheduled"], P::Scheduled, false),
        ("manual beats scheduled", &["m 0 manual manual", "d 0 delayed:5 scheduled"], P::Manual, false),
        ("running beats manual", &["m 0 manual manual", "r 0 on_success running"], P::Running, false),
        ("only preparing", &["a 0 on_success preparing"], P::Preparing, false),
        ("waiting for a resource", &["a 0 on_success success", "b 0 on_success waiting_for_resource"], P::WaitingForResource, false),
    ];
    for (what, specs, status, warnings) in cases {
        let jobs = pipeline(specs);
        assert_eq!(pipeline_status(&jobs), *status, "{what}");
        assert_eq!(has_warnings(&jobs), *warnings, "{what}: warnings");
    }
}

#[test]
fn cancel_stops_everything_unfinished() {
    let jobs = pipeline(&[
        "a 0 on_success success",
        "b 0 on_success running",
        "c 0 on_success failed",
        "d 1 on_success pending",
        "e 1 manual manual",
        "f 1 delayed:5 scheduled",
        "g 2 on_success created",
        "h 2 on_success skipped",
    ]);
    let ts = cancel(&jobs);
    assert_eq!(show(&jobs, &ts), ["b canceled", "d canceled", "e canceled", "f canceled", "g canceled"]);
    let mut after = jobs.clone();
    for t in ts {
        after[t.job].status = t.to;
    }
    assert_eq!(pipeline_status(&after), PipelineStatus::Failed, "c had failed before the cancel");
    after[2].status = JobStatus::Success;
    assert_eq!(pipeline_status(&after), PipelineStatus::Canceled);
    assert!(advance(&after, Millis(0)).is_empty());
}

#[test]
fn play_and_unschedule() {
    let jobs = pipeline(&["m 0 manual manual", "d 0 delayed:5 scheduled at:50", "c 0 on_success created"]);
    assert_eq!(play(&jobs, 0), Ok(Transition::to(0, JobStatus::Pending)));
    assert_eq!(play(&jobs, 1), Ok(Transition::to(1, JobStatus::Pending)), "run a delayed job now");
    assert_eq!(
        play(&jobs, 2),
        Err(ProgressError::InvalidState { job: 2, status: JobStatus::Created, action: "played" })
    );
    assert_eq!(play(&jobs, 9), Err(ProgressError::UnknownJob(9)));
    assert_eq!(unschedule(&jobs, 1), Ok(Transition::to(1, JobStatus::Manual)));
    assert!(unschedule(&jobs, 0).is_err());
}
