//! The Runner Coordinator's decision core: given the state, decide; never fetch, store or wait.
//!
//! - [`progress`]: GitLab pipeline progression — which `created` jobs become `pending`, `manual`,
//!   `scheduled` or `skipped`; the pipeline's status; cancel, play and retry decisions.
//! - [`queue`]: pending jobs and which runner may take which (tags, `run_untagged`, paused,
//!   locked, protected refs, features), FIFO pick, and long-poll waiters with the
//!   `X-GitLab-Last-Update` version.
//! - [`lease`]: which runner owns which running job, until when; expiry and fencing of late runners.
//! - [`autoscale`]: the autoscaler's decision for one pool: from queue demand, instance states,
//!   idle targets (with time windows), `max_use_count` and ready deadlines, which instances to
//!   start, remove or replace.
//! - [`gpu`]: exclusive GPU allocation: which job holds which GPUs of which runner (all or
//!   nothing, best fit, NUMA and same-model constraints), fenced, with inventory drift drained.
//!
//! **Architecture invariant:** no I/O, no clock, no randomness, no async runtime. Time is the
//! caller's [`Millis`]; the application layer maps its stored records (and the compiled CI plan)
//! into the small input types defined here, applies the returned decisions, and persists them.

pub mod autoscale;
pub mod gpu;
pub mod lease;
pub mod progress;
pub mod queue;

use std::ops::{Add, Sub};

/// A point in time: milliseconds since an epoch the caller chooses (usually the Unix epoch).
/// Only differences and order matter here; the application's clock produces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Millis(pub i64);

impl Millis {
    /// This instant plus `ms` milliseconds, saturating instead of overflowing (a huge timeout
    /// must mean "never", not wrap around into the past).
    #[must_use]
    pub fn plus(self, ms: i64) -> Millis {
        Millis(self.0.saturating_add(ms))
    }
}

impl Add<i64> for Millis {
    type Output = Millis;
    fn add(self, ms: i64) -> Millis {
        self.plus(ms)
    }
}

impl Sub for Millis {
    type Output = i64;
    fn sub(self, earlier: Millis) -> i64 {
        self.0.saturating_sub(earlier.0)
    }
}
