//! [`decide`] and [`idle_target`]: the rules listed in the module documentation.

use super::window::{idle_time_at, window_at};
use super::{Action, Demand, InstanceState, InstanceView, PoolPolicy};
use crate::Millis;

/// (queue stats, pool state, limits, now) → actions, in this order: `Replace`s and `Remove`s,
/// `Suspend`s, `Resume`s, at most one `Increase` (never `Increase(0)`).
///
/// Never exceeds `max_instances` (counting `Creating` and `Running`, not `Deleting`), never
/// removes a busy or just-assigned instance, removes idle ones only past the idle time and only
/// beyond `pending_jobs + idle target`, retires instances that reached `max_use_count` once idle,
/// and replaces instances stuck in `Creating` past `ready_deadline_ms` as well as `TimedOut` and
/// `Broken` ones. See the module documentation for the exact rules.
#[must_use]
pub fn decide(policy: &PoolPolicy, demand: &Demand, instances: &[InstanceView], now: Millis) -> Vec<Action> {
    let mut actions = Vec::new();
    let mut leaving = vec![false; instances.len()];

    // 1. Replace what cannot run jobs; 2. retire used-up instances once idle.
    for (i, inst) in instances.iter().enumerate() {
        if unusable(policy, inst, now) {
            actions.push(Action::Replace(inst.id.clone()));
            leaving[i] = true;
        } else if asleep_or_idle(inst) && used_up(policy, inst) {
            actions.push(Action::Remove(inst.id.clone()));
            leaving[i] = true;
        }
    }

    let staying = || instances.iter().zip(&leaving).filter(|(_, gone)| !**gone).map(|(inst, _)| inst);
    let live = || staying().filter(|i| matches!(i.state, InstanceState::Creating | InstanceState::Running));
    let busy = live().fold(0u32, |sum, i| sum.saturating_add(i.busy_slots));
    let wanted_free = u64::from(idle_target(policy, busy, now)) + u64::from(demand.pending_jobs);
    let mut held = live().count() as u64;
    let mut asleep: Vec<&InstanceView> = staying().filter(|i| i.state == InstanceState::Suspended).collect();
    held += asleep.len() as u64;
    let mut free_all: u64 = live().map(|i| free_slots(policy, i)).sum();
    let mut free_ready: u64 = live().filter(|i| i.state == InstanceState::Running).map(|i| free_slots(policy, i)).sum();

    // 3. Remove idle instances past the idle time, the longest idle first, while the ready free
    //    slots still cover the pending jobs and the idle target.
    let idle_time = idle_time_at(policy, now);
    let mut idle: Vec<(Millis, &InstanceView)> = live()
        .filter(|i| i.state == InstanceState::Running && removable(i))
        .filter_map(|i| i.idle_since.map(|since| (since, i)))
        .filter(|(since, _)| now - *since > idle_time)
        .collect();
    idle.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.id.cmp(&b.1.id)));
    for (_, inst) in idle {
        let free = free_slots(policy, inst);
        // `free_ready` includes this instance's `free`.
        if free_ready - free >= wanted_free {
            if policy.can_suspend {
                // Still held (asleep), so `held` is unchanged.
                actions.push(Action::Suspend(inst.id.clone()));
            } else {
                actions.push(Action::Remove(inst.id.clone()));
                held -= 1;
            }
            free_ready -= free;
            free_all -= free;
        }
    }

    // 4. Wake suspended instances, the most recently used first, then start enough new ones
    //    that the free slots (booting ones included) cover the rest.
    let mut deficit = wanted_free.saturating_sub(free_all);
    asleep.sort_by(|a, b| b.idle_since.cmp(&a.idle_since).then_with(|| a.id.cmp(&b.id)));
    for inst in asleep {
        if deficit == 0 {
            break;
        }
        actions.push(Action::Resume(inst.id.clone()));
        deficit = deficit.saturating_sub(free_slots(policy, inst));
    }
    let wanted = deficit.div_ceil(u64::from(slots_per_new_instance(policy)));
    let room = u64::from(policy.max_instances).saturating_sub(held);
    let start = wanted.min(room);
    if start > 0 {
        // `start <= max_instances`, a u32.
        actions.push(Action::Increase(start as u32));
    }
    actions
}

/// The idle target in effect at `now`: `min_idle` or the first matching window's, plus
/// `ceil(scale_factor × busy_slots)` capped at `scale_factor_limit`. In job slots.
#[must_use]
pub fn idle_target(policy: &PoolPolicy, busy_slots: u32, now: Millis) -> u32 {
    let floor = window_at(policy, now).map_or(policy.min_idle, |w| w.min_idle);
    floor.saturating_add(scaled(policy.scale_factor, busy_slots).min(policy.scale_factor_limit))
}

/// `ceil(factor × busy)`, ignoring float noise (0.1 × 30 is 3, not 4); 0 for a factor that is
/// not positive.
fn scaled(factor: f64, busy: u32) -> u32 {
    if factor.is_nan() || factor <= 0.0 {
        return 0;
    }
    let exact = factor * f64::from(busy);
    let nearest = exact.round();
    let up = if (exact - nearest).abs() < 1e-9 { nearest } else { exact.ceil() };
    // Saturating conversion: a huge (or infinite) product becomes u32::MAX.
    up as u32
}

/// Cannot run jobs: timed out, broken, or stuck in `Creating` past the deadline.
fn unusable(policy: &PoolPolicy, inst: &InstanceView, now: Millis) -> bool {
    match inst.state {
        InstanceState::TimedOut | InstanceState::Broken => true,
        InstanceState::Creating => policy.ready_deadline_ms > 0 && now - inst.created_at > policy.ready_deadline_ms,
        InstanceState::Running | InstanceState::Deleting | InstanceState::Suspended => false,
    }
}

/// Running with nothing on it, or asleep: may be retired.
fn asleep_or_idle(inst: &InstanceView) -> bool {
    match inst.state {
        InstanceState::Running => removable(inst),
        InstanceState::Suspended => true,
        _ => false,
    }
}

/// No job on it and none just handed to it.
fn removable(inst: &InstanceView) -> bool {
    inst.busy_slots == 0 && !inst.just_assigned
}

fn used_up(policy: &PoolPolicy, inst: &InstanceView) -> bool {
    policy.max_use_count > 0 && inst.jobs_run >= policy.max_use_count
}

fn capacity(policy: &PoolPolicy) -> u32 {
    policy.capacity_per_instance.max(1)
}

/// Jobs this instance can still take: its free slots, and no more than the uses it has left.
fn free_slots(policy: &PoolPolicy, inst: &InstanceView) -> u64 {
    let free = capacity(policy).saturating_sub(inst.busy_slots);
    let free =
        if policy.max_use_count > 0 { free.min(policy.max_use_count.saturating_sub(inst.jobs_run)) } else { free };
    u64::from(free)
}

/// Jobs a new instance can take at once.
fn slots_per_new_instance(policy: &PoolPolicy) -> u32 {
    if policy.max_use_count > 0 { capacity(policy).min(policy.max_use_count) } else { capacity(policy) }
}
