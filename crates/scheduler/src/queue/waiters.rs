//! Runners held in a long poll (`POST /api/v4/jobs/request`), so that a new job wakes exactly
//! one of them instead of waiting for the next poll (research §1.6, §6.2: GitLab's Workhorse
//! watches a version key and answers 204; we hand the job over inside the held request).

use std::collections::{BTreeMap, BTreeSet};

use super::{QueuedJob, RunnerInfo, may_take};
use crate::Millis;

/// How long a request is held before it is answered 204: GitLab's recommended
/// `apiCiLongPollingDuration` (50 s), well below the runner's network timeout.
pub const LONG_POLL_HOLD_MS: i64 = 50_000;

/// Runners currently waiting, oldest first.
#[derive(Debug, Default)]
pub struct Waiters {
    by_runner: BTreeMap<u64, (RunnerInfo, Millis)>,
    /// (waiting since, runner id): the order in which waiters are offered a job.
    order: BTreeSet<(Millis, u64)>,
}

impl Waiters {
    #[must_use]
    pub fn new() -> Waiters {
        Waiters::default()
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.by_runner.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.by_runner.is_empty()
    }

    /// A runner starts waiting (after its pick found nothing). A runner has at most one held
    /// request: registering again replaces the earlier one, which the I/O layer answers 204.
    pub fn register(&mut self, runner: RunnerInfo, now: Millis) {
        self.unregister(runner.id);
        self.order.insert((now, runner.id));
        self.by_runner.insert(runner.id, (runner, now));
    }

    /// A runner stops waiting (its connection closed, or it was answered). Whether it waited.
    pub fn unregister(&mut self, runner_id: u64) -> bool {
        match self.by_runner.remove(&runner_id) {
            Some((_, since)) => self.order.remove(&(since, runner_id)),
            None => false,
        }
    }

    /// A job was queued: the runner that should get it now — the one waiting longest among
    /// those allowed to take it — removed from the waiters. `None`: nobody waiting may take
    /// it, and it stays queued for the next pick. O(W) for W waiters.
    ///
    /// The I/O layer then wakes that runner's request, which picks from the queue as usual
    /// (so the job goes to it unless an older job it may take was queued too).
    /// [`Waiters::on_enqueue`] among the waiters `accept` agrees to (e.g. runners with the
    /// job's GPUs free now).
    pub fn on_enqueue_where(&mut self, job: &QueuedJob, mut accept: impl FnMut(&RunnerInfo) -> bool) -> Option<u64> {
        let &(since, id) = self
            .order
            .iter()
            .find(|(_, id)| self.by_runner.get(id).is_some_and(|(r, _)| may_take(r, job) && accept(r)))?;
        self.order.remove(&(since, id));
        self.by_runner.remove(&id);
        Some(id)
    }

    pub fn on_enqueue(&mut self, job: &QueuedJob) -> Option<u64> {
        let &(since, id) =
            self.order.iter().find(|(_, id)| self.by_runner.get(id).is_some_and(|(r, _)| may_take(r, job)))?;
        self.order.remove(&(since, id));
        self.by_runner.remove(&id);
        Some(id)
    }

    /// Runners whose hold of `hold_ms` ran out by `now`, removed: answer each 204 with the
    /// queue's current `last_update`.
    pub fn expire(&mut self, now: Millis, hold_ms: i64) -> Vec<u64> {
        let mut out = Vec::new();
        while let Some(&(since, id)) = self.order.first() {
            if since.plus(hold_ms) > now {
                break;
            }
            self.order.remove(&(since, id));
            self.by_runner.remove(&id);
            out.push(id);
        }
        out
    }

    /// When the next hold runs out: the time to call [`Waiters::expire`] again.
    #[must_use]
    pub fn next_expiry(&self, hold_ms: i64) -> Option<Millis> {
        self.order.first().map(|(since, _)| since.plus(hold_ms))
    }
}
