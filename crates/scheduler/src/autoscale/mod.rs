//! The autoscaler's decision (research: gitlab-runner.md §2.5, §4): given one pool's policy, what
//! the queue asks of it and its instances as the provider last reported them, which instances
//! to start, remove or replace. Pure like the rest of the crate: the coordinator loop calls
//! [`decide`] on every tick (and on queue events), applies the actions through the fleeting-style
//! provider and persists what happened; it never decides anything itself.
//!
//! The rules, in the order [`decide`] applies them:
//! 1. **Replace** what cannot run jobs: `TimedOut` and `Broken` instances, and instances stuck
//!    in `Creating` for longer than `ready_deadline_ms` (GitLab pain point #5: instances in a
//!    cloud ERROR state that still count against capacity block all scaling), busy or not: such
//!    an instance runs nothing any more, and the lease expiry requeues its jobs. They count
//!    neither as capacity nor against `max_instances`, so their replacements may start at once.
//! 2. **Retire** a `Running` instance that has been handed `max_use_count` jobs, once it is idle.
//! 3. **Remove idle** `Running` instances idle for longer than the idle time in effect, the
//!    longest idle first, while the free slots on *ready* instances stay at or above
//!    `pending_jobs + idle target` (a ready instance is never traded for a booting one). Where
//!    the provider can (`can_suspend`), they are **suspended** instead: asleep, they still hold
//!    their place under `max_instances`, and a used-up suspended instance is removed.
//! 4. **Resume** suspended instances (the most recently used first), then **increase** by
//!    enough instances that the free slots on `Creating` and `Running` instances cover
//!    `pending_jobs + idle target`, never above `max_instances` (counting `Suspended` ones).
//!
//! A usable instance is never removed while it has busy slots or is `just_assigned`; `Deleting` ones
//! are left to the provider. With `max_use_count = 0`, step 4 is exactly: desired capacity =
//! busy slots + pending jobs + idle target, instances needed = ceil(desired /
//! capacity_per_instance) clamped to `max_instances`, start needed − (creating + running). With a
//! use limit, an instance offers only the uses it has left (`max_use_count − jobs_run`), so a
//! nearly used-up instance is not mistaken for free capacity (GitLab pain point #3). Steps 3 and
//! 4 never both fire in one decision, and deciding again after applying the actions, without time
//! passing, yields nothing more (checked by the property tests).
//!
//! The idle target ([`idle_target`]) is `min_idle`, or the first matching [`PolicyWindow`]'s,
//! plus `ceil(scale_factor × busy slots)` capped at `scale_factor_limit`. Unlike GitLab's
//! `[[runners.autoscaler.policy]]` (the *last* match wins, and `scale_factor` replaces
//! `idle_count` when larger), the *first* window wins and the scaled part is added on top of the
//! floor. Windows are in UTC, on the Unix-epoch `Millis` the caller passes.
//!
//! The difference from GitLab's taskscaler that matters most: in its preemptive mode (the
//! default whenever `idle_count > 0`) the runner asks for jobs only when a slot is free, so the
//! scaler never sees the queue and a burst is absorbed `idle_count` slots per boot cycle. Here
//! the pending jobs are an input, so a burst is met in one boot cycle (see the day simulation in
//! `sim_tests`).
//!
//! Complexity: O(n log n) in the number of instances (the idle candidates are sorted).
//!
//! Across pools, [`split_demand`] first decides which pool each pending job counts toward (the
//! one with a free slot, else the first that can grow), so that two pools able to run the same
//! job do not both scale up for it.

mod decide;
mod split;
mod window;

#[cfg(test)]
mod prop_tests;
#[cfg(test)]
mod sim;
#[cfg(test)]
mod sim_tests;
#[cfg(test)]
mod tests;

pub use decide::{decide, idle_target};
pub use split::{PendingJob, PoolOffer, split_demand};

use crate::Millis;

/// A pool's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolPolicy {
    pub name: String,
    /// Idle capacity (job slots) to keep ready, by default; overridden by the first matching window.
    pub min_idle: u32,
    /// Cap on `Creating` + `Running` instances (`Deleting` ones are not counted). 0 = no
    /// instances at all (a disabled pool), not "unlimited".
    pub max_instances: u32,
    /// Job slots per instance; 0 is read as 1.
    pub capacity_per_instance: u32,
    /// 0 = unlimited; otherwise an instance that was handed this many jobs takes no more and is
    /// retired once idle (1 = ephemeral instances).
    pub max_use_count: u32,
    /// An instance idle for longer than this may be removed, unless it is needed for the idle
    /// target or for pending jobs. Overridden by the matching window's `idle_time_ms`.
    pub idle_time_ms: i64,
    /// The idle target grows by `ceil(scale_factor × busy slots)`, at most `scale_factor_limit`
    /// (taskscaler's `scale_factor`); 0, negative or NaN adds nothing.
    pub scale_factor: f64,
    pub scale_factor_limit: u32,
    /// Time-window overrides (e.g. a warm pool in working hours); the first match wins.
    pub windows: Vec<PolicyWindow>,
    /// How long (milliseconds) an instance may stay `Creating` before it is deleted and
    /// replaced; 0 or less = no deadline.
    pub ready_deadline_ms: i64,
    /// The provider can suspend and resume instances: idle ones are suspended instead of
    /// removed, and suspended ones are resumed before new ones are started.
    pub can_suspend: bool,
}

/// An override of the idle target (and optionally the idle time) on some days, for a span of
/// minutes of the day, in UTC.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyWindow {
    /// Weekdays it applies on: 0 = Monday … 6 = Sunday.
    pub days: Vec<u8>,
    /// Minutes of the day, UTC: the window is `from_minute <= minute < to_minute` (a window with
    /// `from_minute >= to_minute` never matches; split one that spans midnight in two).
    pub from_minute: u16,
    pub to_minute: u16,
    pub min_idle: u32,
    pub idle_time_ms: Option<i64>,
}

/// An instance's state as the provider reports it (fleeting's `provider.State`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceState {
    Creating,
    Running,
    Deleting,
    /// Asleep: no runner, no capacity, but it still holds its place under `max_instances`.
    Suspended,
    TimedOut,
    Broken,
}

/// What the decision needs to know about one instance.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceView {
    pub id: String,
    pub state: InstanceState,
    /// When it was requested from the provider, or last resumed (the `ready_deadline_ms` clock).
    pub created_at: Millis,
    /// Slots running a job now.
    pub busy_slots: u32,
    /// Jobs it was handed over its life, the running ones included (compared with `max_use_count`).
    pub jobs_run: u32,
    /// Since when it has had no job: its last job's end, or when it became ready if it never ran
    /// one. `None` while busy; an idle instance with `None` is never removed for idleness.
    pub idle_since: Option<Millis>,
    /// Handed a job in the last moments (the assignment may not show in `busy_slots` yet):
    /// never removed.
    pub just_assigned: bool,
}

/// What the queue asks of this pool: pending jobs this pool can run (the caller has already
/// left out those another pool will take), and how long the oldest has waited.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Demand {
    pub pending_jobs: u32,
    /// Not used by [`decide`]; carried for the caller's metrics and logs.
    pub oldest_wait_ms: i64,
}

/// One thing for the coordinator to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Ask the provider for this many more instances.
    Increase(u32),
    /// Delete this idle instance (the instance id).
    Remove(String),
    /// Delete this stuck, timed-out or broken instance; it does not count any more, so the same
    /// decision may already start its replacement.
    Replace(String),
    /// Put this idle instance to sleep (instead of removing it, where the provider can).
    Suspend(String),
    /// Wake this suspended instance (before starting new ones).
    Resume(String),
}
