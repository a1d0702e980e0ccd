//! Lease ownership, expiry and fencing.

use super::*;

const CFG: LeaseConfig = LeaseConfig { lease_timeout_ms: 100, timeout_grace_ms: 10 };

fn at(ms: i64) -> Millis {
    Millis(ms)
}

#[test]
fn owner_touches_others_are_refused() {
    let mut l = Leases::new(CFG);
    assert_eq!(l.grant(JobId::new(1), RunnerId::new(10), at(0), None), Ok(()));
    assert_eq!(l.touch(JobId::new(1), RunnerId::new(10), at(50)), Ok(()));
    assert_eq!(
        l.touch(JobId::new(1), RunnerId::new(11), at(60)),
        Err(LeaseError::NotOwner { job: JobId::new(1), owner: RunnerId::new(10) })
    );
    assert_eq!(
        l.grant(JobId::new(1), RunnerId::new(11), at(60), None),
        Err(LeaseError::NotOwner { job: JobId::new(1), owner: RunnerId::new(10) }),
        "no second owner"
    );
    assert_eq!(l.grant(JobId::new(1), RunnerId::new(10), at(70), None), Ok(()), "state=running resent");
    assert_eq!(l.touch(JobId::new(2), RunnerId::new(10), at(70)), Err(LeaseError::NotLeased(JobId::new(2))));
    assert_eq!(l.get(JobId::new(1)).map(|x| x.last_update), Some(at(70)));
    assert_eq!(l.len(), 1);
}

#[test]
fn quiet_runner_lapses_and_is_fenced() {
    let mut l = Leases::new(CFG);
    l.grant(JobId::new(1), RunnerId::new(10), at(0), None).expect("grant");
    l.grant(JobId::new(2), RunnerId::new(10), at(0), None).expect("grant");
    l.touch(JobId::new(2), RunnerId::new(10), at(90)).expect("touch");
    assert_eq!(l.next_lapse(), Some(at(100)));
    assert_eq!(l.expire(at(100)), [], "exactly at the timeout still counts");
    let gone = l.expire(at(101));
    assert_eq!(
        gone,
        [Expired { job: JobId::new(1), runner: RunnerId::new(10), reason: FailureReason::StuckOrTimeoutFailure }]
    );
    assert_eq!(
        l.touch(JobId::new(1), RunnerId::new(10), at(102)),
        Err(LeaseError::Expired { job: JobId::new(1), reason: FailureReason::StuckOrTimeoutFailure }),
        "the late runner is fenced"
    );
    assert_eq!(
        l.grant(JobId::new(1), RunnerId::new(10), at(103), None),
        Err(LeaseError::Expired { job: JobId::new(1), reason: FailureReason::StuckOrTimeoutFailure })
    );
    assert_eq!(
        l.touch(JobId::new(1), RunnerId::new(11), at(103)),
        Err(LeaseError::NotOwner { job: JobId::new(1), owner: RunnerId::new(10) })
    );
    assert_eq!(l.touch(JobId::new(2), RunnerId::new(10), at(150)), Ok(()), "job 2 was touched in time");
    assert!(l.forget(JobId::new(1)));
    assert_eq!(l.touch(JobId::new(1), RunnerId::new(10), at(160)), Err(LeaseError::NotLeased(JobId::new(1))));
}

#[test]
fn job_timeout_lapses_even_with_updates() {
    let mut l = Leases::new(CFG);
    l.grant(JobId::new(1), RunnerId::new(10), at(0), Some(150)).expect("grant"); // deadline 0 + 150 + 10 grace
    for t in (50..=150).step_by(50) {
        l.touch(JobId::new(1), RunnerId::new(10), at(t)).expect("touch");
    }
    assert_eq!(l.expire(at(160)), []);
    assert_eq!(
        l.expire(at(161)),
        [Expired { job: JobId::new(1), runner: RunnerId::new(10), reason: FailureReason::JobExecutionTimeout }]
    );
    assert!(l.is_empty());
}

#[test]
fn a_touch_after_the_lapse_fences_at_once_and_is_reported_once() {
    let mut l = Leases::new(CFG);
    l.grant(JobId::new(1), RunnerId::new(10), at(0), None).expect("grant");
    let err = l.touch(JobId::new(1), RunnerId::new(10), at(500));
    assert_eq!(err, Err(LeaseError::Expired { job: JobId::new(1), reason: FailureReason::StuckOrTimeoutFailure }));
    assert_eq!(
        l.expire(at(500)),
        [Expired { job: JobId::new(1), runner: RunnerId::new(10), reason: FailureReason::StuckOrTimeoutFailure }]
    );
    assert_eq!(l.expire(at(600)), []);
}

#[test]
fn release_ends_a_lease_without_expiry() {
    let mut l = Leases::new(CFG);
    l.grant(JobId::new(1), RunnerId::new(10), at(0), Some(1_000)).expect("grant");
    assert_eq!(l.release(JobId::new(1)).map(|x| x.runner.get()), Some(10));
    assert_eq!(l.release(JobId::new(1)), None);
    assert_eq!(l.next_lapse(), None);
    assert_eq!(l.expire(at(10_000)), []);
    assert_eq!(l.touch(JobId::new(1), RunnerId::new(10), at(10)), Err(LeaseError::NotLeased(JobId::new(1))));
}

#[test]
fn defaults_are_the_documented_constants() {
    let d = LeaseConfig::default();
    assert_eq!(d.lease_timeout_ms, DEFAULT_LEASE_TIMEOUT_MS);
    assert_eq!(d.timeout_grace_ms, DEFAULT_TIMEOUT_GRACE_MS);
    let mut l = Leases::new(d);
    l.grant(JobId::new(1), RunnerId::new(1), at(0), None).expect("grant");
    assert_eq!(l.next_lapse(), Some(at(DEFAULT_LEASE_TIMEOUT_MS)));
}
