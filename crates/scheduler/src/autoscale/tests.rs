//! One test per rule of the module documentation.

use super::window::weekday_minute;
use super::*;

pub(super) const MIN: i64 = 60_000;
/// Wednesday 2026-03-04 00:00 UTC.
pub(super) const WED: i64 = 1_772_582_400_000;

pub(super) fn policy() -> PoolPolicy {
    PoolPolicy {
        name: "linux".into(),
        min_idle: 0,
        max_instances: 10,
        capacity_per_instance: 1,
        max_use_count: 0,
        idle_time_ms: 5 * MIN,
        scale_factor: 0.0,
        scale_factor_limit: 0,
        windows: vec![],
        ready_deadline_ms: 10 * MIN,
        can_suspend: false,
    }
}

fn at(ms: i64) -> Millis {
    Millis(WED + ms)
}

fn inst(id: &str, state: InstanceState) -> InstanceView {
    InstanceView {
        id: id.into(),
        state,
        created_at: at(0),
        busy_slots: 0,
        jobs_run: 0,
        idle_since: None,
        just_assigned: false,
    }
}

/// Running, idle since `since`.
fn idle(id: &str, since: i64) -> InstanceView {
    InstanceView { idle_since: Some(at(since)), ..inst(id, InstanceState::Running) }
}

fn busy(id: &str, slots: u32) -> InstanceView {
    InstanceView { busy_slots: slots, jobs_run: slots, ..inst(id, InstanceState::Running) }
}

fn pending(n: u32) -> Demand {
    Demand { pending_jobs: n, oldest_wait_ms: 0 }
}

fn remove(id: &str) -> Action {
    Action::Remove(id.into())
}

#[test]
fn increase_covers_busy_pending_and_idle_target() {
    let p = PoolPolicy { min_idle: 2, ..policy() };
    // desired = 1 busy + 3 pending + 2 idle = 6; have 1 running + 1 creating.
    let fleet = [busy("a", 1), inst("b", InstanceState::Creating)];
    assert_eq!(decide(&p, &pending(3), &fleet, at(MIN)), vec![Action::Increase(4)]);
    assert_eq!(decide(&p, &pending(0), &[], at(0)), vec![Action::Increase(2)]);
}

#[test]
fn increase_rounds_up_to_whole_instances() {
    let p = PoolPolicy { capacity_per_instance: 4, min_idle: 1, ..policy() };
    // desired = 3 busy + 6 pending + 1 = 10 slots → 3 instances; have 1.
    assert_eq!(decide(&p, &pending(6), &[busy("a", 3)], at(0)), vec![Action::Increase(2)]);
    // 0 slots per instance is read as 1.
    let p = PoolPolicy { capacity_per_instance: 0, ..policy() };
    assert_eq!(decide(&p, &pending(2), &[], at(0)), vec![Action::Increase(2)]);
}

#[test]
fn increase_is_clamped_to_max_instances_and_deleting_ones_do_not_count() {
    let p = PoolPolicy { max_instances: 3, ..policy() };
    let fleet = [busy("a", 1), inst("b", InstanceState::Creating), inst("c", InstanceState::Deleting)];
    assert_eq!(decide(&p, &pending(50), &fleet, at(0)), vec![Action::Increase(1)]);
    let full = [busy("a", 1), busy("b", 1), inst("c", InstanceState::Creating)];
    assert_eq!(decide(&p, &pending(50), &full, at(0)), vec![]);
    // A lowered cap starts nothing and removes nothing that the idle rules keep.
    let over = [busy("a", 1), busy("b", 1), busy("c", 1), busy("d", 1)];
    assert_eq!(decide(&p, &pending(5), &over, at(0)), vec![]);
    let p = PoolPolicy { max_instances: 0, ..policy() };
    assert_eq!(decide(&p, &pending(5), &[], at(0)), vec![]);
}

#[test]
fn free_capacity_absorbs_pending_jobs_before_anything_starts() {
    let p = PoolPolicy { min_idle: 1, ..policy() };
    let fleet = [idle("a", 0), idle("b", 0), inst("c", InstanceState::Creating)];
    assert_eq!(decide(&p, &pending(2), &fleet, at(MIN)), vec![]);
    assert_eq!(decide(&p, &pending(3), &fleet, at(MIN)), vec![Action::Increase(1)]);
}

#[test]
fn busy_and_just_assigned_instances_are_never_removed() {
    let p = policy();
    let mut fresh = idle("b", 0);
    fresh.just_assigned = true;
    let fleet = [busy("a", 1), fresh, idle("c", 0)];
    assert_eq!(decide(&p, &pending(0), &fleet, at(60 * MIN)), vec![remove("c")]);
}

#[test]
fn idle_instances_go_only_past_the_idle_time() {
    let p = policy();
    let fleet = [idle("a", 0)];
    assert_eq!(decide(&p, &pending(0), &fleet, at(5 * MIN)), vec![]);
    assert_eq!(decide(&p, &pending(0), &fleet, at(5 * MIN + 1)), vec![remove("a")]);
    // Idle with no `idle_since` (the caller does not know since when): kept.
    let unknown = [inst("b", InstanceState::Running)];
    assert_eq!(decide(&p, &pending(0), &unknown, at(600 * MIN)), vec![]);
}

#[test]
fn idle_instances_needed_for_the_target_or_pending_jobs_stay() {
    let p = PoolPolicy { min_idle: 2, ..policy() };
    let fleet = [idle("new", 4 * MIN), idle("old", 0), idle("older", -MIN), busy("x", 1)];
    // Three idle, two needed: the longest idle goes.
    assert_eq!(decide(&p, &pending(0), &fleet, at(60 * MIN)), vec![remove("older")]);
    // One pending job will take one of them: all three stay.
    assert_eq!(decide(&p, &pending(1), &fleet, at(60 * MIN)), vec![]);
    // A booting instance does not stand in for a ready one.
    let booting = [idle("a", 0), idle("b", 0), inst("c", InstanceState::Creating)];
    assert_eq!(decide(&p, &pending(0), &booting, at(9 * MIN)), vec![]);
}

#[test]
fn used_up_instances_retire_once_idle() {
    let p = PoolPolicy { max_use_count: 3, ..policy() };
    let working = InstanceView { jobs_run: 3, ..busy("a", 1) };
    assert_eq!(decide(&p, &pending(0), &[working], at(0)), vec![]);
    let done = InstanceView { jobs_run: 3, ..idle("a", 0) };
    // Retired at once (no idle time), and replaced in the same decision when needed.
    assert_eq!(decide(&p, &pending(1), &[done], at(1)), vec![remove("a"), Action::Increase(1)]);
}

#[test]
fn a_nearly_used_up_instance_offers_only_the_uses_it_has_left() {
    let p = PoolPolicy { capacity_per_instance: 4, max_use_count: 5, ..policy() };
    // 1 busy slot, 4 jobs run: one more use left, not three free slots.
    let a = InstanceView { jobs_run: 4, ..busy("a", 1) };
    assert_eq!(decide(&p, &pending(3), &[a], at(0)), vec![Action::Increase(1)]);
    // A new instance takes min(capacity, max_use_count) jobs.
    let p = PoolPolicy { capacity_per_instance: 4, max_use_count: 2, ..policy() };
    assert_eq!(decide(&p, &pending(5), &[], at(0)), vec![Action::Increase(3)]);
}

#[test]
fn stuck_creating_instances_are_replaced_after_the_ready_deadline() {
    let p = PoolPolicy { min_idle: 1, ..policy() };
    let booting = [inst("a", InstanceState::Creating)];
    assert_eq!(decide(&p, &pending(0), &booting, at(10 * MIN)), vec![]);
    assert_eq!(
        decide(&p, &pending(0), &booting, at(10 * MIN + 1)),
        vec![Action::Replace("a".into()), Action::Increase(1)]
    );
    let p = PoolPolicy { ready_deadline_ms: 0, ..p };
    assert_eq!(decide(&p, &pending(0), &booting, at(600 * MIN)), vec![]);
}

#[test]
fn timed_out_and_broken_instances_are_replaced_and_do_not_block_scaling() {
    let p = PoolPolicy { min_idle: 2, max_instances: 2, ..policy() };
    let fleet = [inst("a", InstanceState::TimedOut), busy("b", 1)];
    let fleet = [fleet[0].clone(), InstanceView { state: InstanceState::Broken, ..fleet[1].clone() }];
    assert_eq!(
        decide(&p, &pending(0), &fleet, at(0)),
        vec![Action::Replace("a".into()), Action::Replace("b".into()), Action::Increase(2)]
    );
}

#[test]
fn weekday_and_minute_are_utc_from_the_unix_epoch() {
    assert_eq!(weekday_minute(Millis(0)), (3, 0)); // Thursday 1970-01-01
    assert_eq!(weekday_minute(Millis(WED + 13 * 60 * MIN + 7 * MIN + 59_999)), (2, 787));
    assert_eq!(weekday_minute(Millis(1_704_067_200_000)), (0, 0)); // Monday 2024-01-01
    assert_eq!(weekday_minute(Millis(-1)), (2, 1439)); // Wednesday 1969-12-31 23:59
}

#[test]
fn the_first_matching_window_sets_the_idle_target_and_idle_time() {
    let window = |days: Vec<u8>, from, to, min_idle, idle_time_ms| PolicyWindow {
        days,
        from_minute: from,
        to_minute: to,
        min_idle,
        idle_time_ms,
    };
    let p = PoolPolicy {
        min_idle: 1,
        windows: vec![window(vec![0, 1, 2, 3, 4], 480, 1080, 3, Some(30 * MIN)), window(vec![2], 0, 1440, 7, None)],
        ..policy()
    };
    assert_eq!(idle_target(&p, 0, at(479 * MIN)), 7); // Wednesday: the second window
    assert_eq!(idle_target(&p, 0, at(480 * MIN)), 3);
    assert_eq!(idle_target(&p, 0, at(1080 * MIN - 1)), 3);
    assert_eq!(idle_target(&p, 0, at(1440 * MIN * 4 + 600 * MIN)), 1); // Sunday: none
    // The window's idle time applies: 10 minutes idle is not enough in working hours.
    let p = PoolPolicy { min_idle: 0, windows: vec![window(vec![2], 480, 1080, 0, Some(30 * MIN))], ..policy() };
    let fleet = [idle("a", 600 * MIN)];
    assert_eq!(decide(&p, &pending(0), &fleet, at(610 * MIN)), vec![]);
    assert_eq!(decide(&p, &pending(0), &fleet, at(630 * MIN + 1)), vec![remove("a")]);
    // An empty or inverted window never matches.
    let p = PoolPolicy { windows: vec![window(vec![2], 600, 600, 9, None), window(vec![2], 700, 600, 9, None)], ..p };
    assert_eq!(idle_target(&p, 0, at(650 * MIN)), 0);
}

#[test]
fn scale_factor_adds_headroom_rounded_up_and_capped() {
    let p = PoolPolicy { min_idle: 2, scale_factor: 0.1, scale_factor_limit: 5, ..policy() };
    assert_eq!(idle_target(&p, 0, at(0)), 2);
    assert_eq!(idle_target(&p, 30, at(0)), 5); // 0.1 × 30 = 3, not 4
    assert_eq!(idle_target(&p, 31, at(0)), 6);
    assert_eq!(idle_target(&p, 500, at(0)), 7);
    for factor in [0.0, -1.0, f64::NAN] {
        assert_eq!(idle_target(&PoolPolicy { scale_factor: factor, ..p.clone() }, 30, at(0)), 2);
    }
    let p = PoolPolicy { scale_factor: f64::INFINITY, scale_factor_limit: u32::MAX, min_idle: u32::MAX, ..p };
    assert_eq!(idle_target(&p, 1, at(0)), u32::MAX);
    // In `decide`: 4 busy × 0.5 = 2 more idle slots.
    let p = PoolPolicy { min_idle: 0, scale_factor: 0.5, scale_factor_limit: 10, ..policy() };
    let fleet = [busy("a", 1), busy("b", 1), busy("c", 1), busy("d", 1)];
    assert_eq!(decide(&p, &pending(0), &fleet, at(0)), vec![Action::Increase(2)]);
}

#[test]
fn a_provider_that_can_suspend_puts_idle_instances_to_sleep_and_wakes_them_first() {
    let p = PoolPolicy { can_suspend: true, max_instances: 3, ..policy() };
    let suspend = |id: &str| Action::Suspend(id.into());
    let resume = |id: &str| Action::Resume(id.into());
    // Idle past the idle time: suspended, not removed.
    assert_eq!(decide(&p, &pending(0), &[idle("a", 0)], at(6 * MIN)), vec![suspend("a")]);
    // Asleep instances hold their place and are woken, the most recently used first, before
    // anything new starts.
    let asleep =
        |id: &str, since: i64| InstanceView { idle_since: Some(at(since)), ..inst(id, InstanceState::Suspended) };
    let fleet = [asleep("old", 0), asleep("recent", MIN), busy("b", 1)];
    assert_eq!(decide(&p, &pending(1), &fleet, at(2 * MIN)), vec![resume("recent")]);
    assert_eq!(decide(&p, &pending(2), &fleet, at(2 * MIN)), vec![resume("recent"), resume("old")]);
    // Three held (two asleep): no room for a fourth even with more demand.
    assert_eq!(decide(&p, &pending(5), &fleet, at(2 * MIN)), vec![resume("recent"), resume("old")]);
    // Nothing asked: they stay asleep.
    assert_eq!(decide(&p, &pending(0), &fleet, at(60 * MIN)), vec![]);
    // A used-up sleeper is removed rather than woken; its place goes to a new instance.
    let p = PoolPolicy { max_use_count: 2, ..p };
    let used = InstanceView { jobs_run: 2, ..asleep("used", 0) };
    assert_eq!(decide(&p, &pending(1), &[used], at(MIN)), vec![remove("used"), Action::Increase(1)]);
}
