//! Random pools, demands and fleets: the guarantees of [`decide`], checked on the fleet as it is
//! after the actions are applied, and a second decision at the same instant.

use proptest::prelude::*;

use super::tests::{MIN, WED};
use super::*;

fn window() -> impl Strategy<Value = PolicyWindow> {
    (prop::collection::vec(0u8..7, 0..4), 0u16..1440, 0u16..1440, 0u32..5, prop::option::of(0i64..20 * MIN)).prop_map(
        |(days, from_minute, to_minute, min_idle, idle_time_ms)| PolicyWindow {
            days,
            from_minute,
            to_minute,
            min_idle,
            idle_time_ms,
        },
    )
}

fn pool() -> impl Strategy<Value = PoolPolicy> {
    (
        (0u32..5, 0u32..10, 0u32..4, prop::sample::select(vec![0u32, 0, 1, 2, 5])),
        (0i64..20 * MIN, prop::sample::select(vec![0.0, 0.0, 0.25, 0.5, 1.0, 2.0]), 0u32..6),
        (prop::collection::vec(window(), 0..3), prop::sample::select(vec![0i64, 2 * MIN, 10 * MIN]), any::<bool>()),
    )
        .prop_map(
            |(
                (min_idle, max_instances, capacity_per_instance, max_use_count),
                (idle_time_ms, scale_factor, scale_factor_limit),
                (windows, ready_deadline_ms, can_suspend),
            )| PoolPolicy {
                name: "p".into(),
                min_idle,
                max_instances,
                capacity_per_instance,
                max_use_count,
                idle_time_ms,
                scale_factor,
                scale_factor_limit,
                windows,
                ready_deadline_ms,
                can_suspend,
            },
        )
}

/// Instances as a provider and a coordinator would report them: only `Running` ones have jobs;
/// busy ones have no `idle_since`; up to 4 slots busy (beyond a small capacity is tolerated).
/// `Suspended` ones appear whatever the policy says (decide must cope with either).
fn instance() -> impl Strategy<Value = InstanceView> {
    use InstanceState::*;
    (
        prop::sample::select(vec![Creating, Running, Running, Running, Deleting, Suspended, TimedOut, Broken]),
        0i64..30 * MIN,
        (0u32..5, 0u32..8),
        0i64..30 * MIN,
        prop::bool::weighted(0.15),
        prop::bool::weighted(0.9),
    )
        .prop_map(|(state, age, (busy, extra_jobs), idle_for, just_assigned, known)| {
            let running = state == Running;
            let busy = if running { busy.saturating_sub(1) } else { 0 };
            InstanceView {
                id: String::new(),
                state,
                created_at: now().plus(-age),
                busy_slots: busy,
                jobs_run: if state == Creating { 0 } else { busy + extra_jobs },
                idle_since: ((running || state == Suspended) && busy == 0 && known)
                    .then(|| now().plus(-idle_for.min(age))),
                just_assigned: running && just_assigned,
            }
        })
}

fn fleet() -> impl Strategy<Value = Vec<InstanceView>> {
    prop::collection::vec(instance(), 0..12).prop_map(|mut v| {
        for (i, inst) in v.iter_mut().enumerate() {
            inst.id = format!("i{i}");
        }
        v
    })
}

/// Some minute of a week, so windows match now and then.
fn now() -> Millis {
    Millis(WED + 600 * MIN)
}

fn live(i: &InstanceView) -> bool {
    matches!(i.state, InstanceState::Creating | InstanceState::Running)
}

/// What counts under `max_instances`.
fn held(i: &InstanceView) -> bool {
    live(i) || i.state == InstanceState::Suspended
}

fn free(p: &PoolPolicy, i: &InstanceView) -> u64 {
    let free = p.capacity_per_instance.max(1).saturating_sub(i.busy_slots);
    let left = if p.max_use_count == 0 { u32::MAX } else { p.max_use_count.saturating_sub(i.jobs_run) };
    u64::from(free.min(left))
}

/// The fleet once the provider has done what it was told (new instances are `Creating`).
fn apply(fleet: &[InstanceView], actions: &[Action], at: Millis) -> Vec<InstanceView> {
    let mut after = fleet.to_vec();
    for a in actions {
        match a {
            Action::Remove(id) | Action::Replace(id) => {
                let i = after.iter().position(|i| &i.id == id).expect("acts on a known instance");
                after[i].state = InstanceState::Deleting;
            }
            Action::Suspend(id) => {
                let i = after.iter().position(|i| &i.id == id).expect("acts on a known instance");
                after[i].state = InstanceState::Suspended;
            }
            Action::Resume(id) => {
                let i = after.iter().position(|i| &i.id == id).expect("acts on a known instance");
                // The ready deadline counts from the resume (the caller's view does the same).
                after[i].state = InstanceState::Creating;
                after[i].created_at = at;
            }
            Action::Increase(n) => {
                for k in 0..*n {
                    after.push(InstanceView {
                        id: format!("new{}-{k}", after.len()),
                        state: InstanceState::Creating,
                        created_at: at,
                        busy_slots: 0,
                        jobs_run: 0,
                        idle_since: None,
                        just_assigned: false,
                    });
                }
            }
        }
    }
    after
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]
    #[test]
    fn decisions_keep_every_guarantee(
        p in pool(), pending_jobs in 0u32..25, fleet in fleet(), minute in 0i64..(7 * 1440),
    ) {
        let at = Millis(WED + minute * MIN);
        let fleet: Vec<InstanceView> = fleet.into_iter().map(|mut i| {
            // Re-anchor the generated times on `at`.
            let shift = at - now();
            i.created_at = i.created_at.plus(shift);
            i.idle_since = i.idle_since.map(|s| s.plus(shift));
            i
        }).collect();
        let demand = Demand { pending_jobs, oldest_wait_ms: 0 };
        let actions = decide(&p, &demand, &fleet, at);
        let after = apply(&fleet, &actions, at);

        // At most one Increase, never of 0, and last.
        let increases: Vec<u32> =
            actions.iter().filter_map(|a| if let Action::Increase(n) = a { Some(*n) } else { None }).collect();
        prop_assert!(increases.len() <= 1 && increases.iter().all(|n| *n > 0));
        prop_assert!(increases.is_empty() || matches!(actions.last(), Some(Action::Increase(_))));

        // Never above max_instances, suspended ones included (nor above what was already
        // there, if the cap was lowered).
        let held_before = fleet.iter().filter(|i| held(i)).count();
        let held_after = after.iter().filter(|i| held(i)).count();
        prop_assert!(held_after <= (p.max_instances as usize).max(held_before));
        if !increases.is_empty() {
            prop_assert!(held_after <= p.max_instances as usize);
            // Nothing new while a usable instance sleeps.
            prop_assert!(
                !after.iter().any(|i| i.state == InstanceState::Suspended
                    && !(p.max_use_count > 0 && i.jobs_run >= p.max_use_count)),
                "started new instances with one asleep"
            );
        }

        let busy: u32 = fleet.iter().filter(|i| live(i)).map(|i| i.busy_slots).sum();
        let target = idle_target(&p, busy, at);
        let idle_time = super::window::idle_time_at(&p, at);
        for a in &actions {
            match a {
                Action::Remove(id) => {
                    let i = fleet.iter().find(|i| &i.id == id).expect("known");
                    let used_up = p.max_use_count > 0 && i.jobs_run >= p.max_use_count;
                    if i.state == InstanceState::Suspended {
                        prop_assert!(used_up, "removed a usable sleeper: {:?}", i);
                        continue;
                    }
                    prop_assert_eq!(i.state, InstanceState::Running);
                    prop_assert!(i.busy_slots == 0 && !i.just_assigned, "removed a busy instance: {:?}", i);
                    let expired = i.idle_since.is_some_and(|s| at - s > idle_time);
                    prop_assert!(used_up || (expired && !p.can_suspend), "removed before its idle time: {:?}", i);
                }
                Action::Suspend(id) => {
                    let i = fleet.iter().find(|i| &i.id == id).expect("known");
                    prop_assert!(p.can_suspend);
                    prop_assert_eq!(i.state, InstanceState::Running);
                    prop_assert!(i.busy_slots == 0 && !i.just_assigned, "suspended a busy instance: {:?}", i);
                    prop_assert!(i.idle_since.is_some_and(|s| at - s > idle_time), "suspended too early: {:?}", i);
                }
                Action::Resume(id) => {
                    let i = fleet.iter().find(|i| &i.id == id).expect("known");
                    prop_assert_eq!(i.state, InstanceState::Suspended);
                    prop_assert!(p.max_use_count == 0 || i.jobs_run < p.max_use_count);
                }
                Action::Replace(id) => {
                    let i = fleet.iter().find(|i| &i.id == id).expect("known");
                    let stuck = i.state == InstanceState::Creating
                        && p.ready_deadline_ms > 0
                        && at - i.created_at > p.ready_deadline_ms;
                    prop_assert!(stuck || matches!(i.state, InstanceState::TimedOut | InstanceState::Broken));
                }
                Action::Increase(_) => {}
            }
        }

        // Removing never takes the ready free slots below the target (plus pending jobs).
        let ready_free = |f: &[InstanceView]| -> u64 {
            f.iter().filter(|i| i.state == InstanceState::Running).map(|i| free(&p, i)).sum()
        };
        let wanted = u64::from(target) + u64::from(pending_jobs);
        prop_assert!(ready_free(&after) >= ready_free(&fleet).min(wanted));

        // No Increase beyond need: with the fleet as it is after removals, one instance fewer
        // would not have covered the wanted free slots.
        if let Some(&n) = increases.first() {
            let kept = apply(&fleet, &actions[..actions.len() - 1], at);
            let free_kept: u64 = kept.iter().filter(|i| live(i)).map(|i| free(&p, i)).sum();
            prop_assert!(free_kept < wanted, "started {} with enough free slots", n);
            let per_new = u64::from(p.capacity_per_instance.max(1))
                .min(if p.max_use_count == 0 { u64::MAX } else { u64::from(p.max_use_count) });
            prop_assert!(free_kept + (u64::from(n) - 1) * per_new < wanted, "started {} too many", n);
        }

        // Deciding again at once, on the applied fleet, asks for nothing more.
        prop_assert_eq!(decide(&p, &demand, &after, at), vec![]);
    }
}
