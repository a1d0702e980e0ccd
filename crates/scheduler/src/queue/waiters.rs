//! Runners held in a long poll (`POST /api/v4/jobs/request`), so that a new job wakes exactly
//! one of them instead of waiting for the next poll (research §1.6, §6.2: GitLab's Workhorse
//! watches a version key and answers 204; we hand the job over inside the held request).

use std::collections::{BTreeMap, BTreeSet};

use super::{QueuedJob, RunnerInfo, may_take};
use crate::Millis;

/// How long a request is held before it is answered 204: GitLab's recommended
/// `apiCiLongPollingDuration` (50 s), well below the runner's network timeout.
pub const LONG_POLL_HOLD_MS: i64 = 50_000;

/// One held `jobs/request`, numbered by the I/O layer. A runner process with `concurrent`
/// above 1 holds several requests at once, so requests, not runners, are what waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HeldRequest(pub u64);

/// Requests currently held, oldest first, each with the runner that sent it.
#[derive(Debug, Default)]
pub struct Waiters {
    by_request: BTreeMap<HeldRequest, (RunnerInfo, Millis)>,
    /// (waiting since, request): the order in which waiters are offered a job.
    order: BTreeSet<(Millis, HeldRequest)>,
}

impl Waiters {
    #[must_use]
    pub fn new() -> Waiters {
        Waiters::default()
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.by_request.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.by_request.is_empty()
    }

    /// `request` of `runner` starts waiting (after its pick found nothing). Registering a
    /// request again replaces its earlier registration.
    pub fn register(&mut self, request: HeldRequest, runner: RunnerInfo, now: Millis) {
        self.unregister(request);
        self.order.insert((now, request));
        self.by_request.insert(request, (runner, now));
    }

    /// A request stops waiting (its connection closed, or it was answered). Whether it waited.
    pub fn unregister(&mut self, request: HeldRequest) -> bool {
        match self.by_request.remove(&request) {
            Some((_, since)) => self.order.remove(&(since, request)),
            None => false,
        }
    }

    /// A job was queued: the request that should get it now — the one waiting longest among
    /// those whose runner may take it — removed from the waiters. `None`: nobody waiting may take
    /// it, and it stays queued for the next pick. O(W) for W waiters.
    ///
    /// The I/O layer then wakes that request, which picks from the queue as usual (so the job
    /// goes to it unless an older job its runner may take was queued too).
    /// [`Waiters::on_enqueue`] among the waiters `accept` agrees to (e.g. runners with the
    /// job's GPUs free now).
    pub fn on_enqueue_where(
        &mut self,
        job: &QueuedJob,
        mut accept: impl FnMut(&RunnerInfo) -> bool,
    ) -> Option<HeldRequest> {
        let &(since, id) = self
            .order
            .iter()
            .find(|(_, id)| self.by_request.get(id).is_some_and(|(r, _)| may_take(r, job) && accept(r)))?;
        self.order.remove(&(since, id));
        self.by_request.remove(&id);
        Some(id)
    }

    pub fn on_enqueue(&mut self, job: &QueuedJob) -> Option<HeldRequest> {
        let &(since, id) =
            self.order.iter().find(|(_, id)| self.by_request.get(id).is_some_and(|(r, _)| may_take(r, job)))?;
        self.order.remove(&(since, id));
        self.by_request.remove(&id);
        Some(id)
    }

    /// Requests whose hold of `hold_ms` ran out by `now`, removed: answer each 204 with the
    /// queue's current `last_update`.
    pub fn expire(&mut self, now: Millis, hold_ms: i64) -> Vec<HeldRequest> {
        let mut out = Vec::new();
        while let Some(&(since, id)) = self.order.first() {
            if since.plus(hold_ms) > now {
                break;
            }
            self.order.remove(&(since, id));
            self.by_request.remove(&id);
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
