//! Sign-in lockout: whether a key (an account name, a client address) may try a password now.
//!
//! The decision is a pure function of the key's failure count, the policy and `now`, so the
//! counters can live anywhere (in memory, in Redis) and the rule is tested here alone:
//! - below `max_failures` failures the key is open;
//! - the failure that reaches `max_failures` locks the key for `lock_ms` from that failure, and
//!   every further failure locks it again from its own time, twice as long as the one before,
//!   up to `max_lock_ms` (growing back-off: after the first lock, one guess per lock at most);
//! - failures are forgotten `window_ms` after the last one, or after the end of the lock the
//!   last one caused (see [`LockoutPolicy::keep_until`]); a successful sign-in forgets the
//!   account's failures (the caller resets the counter).
//!
//! Times are Unix milliseconds, passed in by the caller.

/// When failures lock a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failures that lock the key; 0 disables locking.
    pub max_failures: u32,
    /// A failure counts toward the limit while the previous one is less than this old (ms).
    pub window_ms: i64,
    /// The first lock (ms).
    pub lock_ms: i64,
    /// The longest lock (ms); each failure past the limit doubles the lock up to this.
    pub max_lock_ms: i64,
}

/// What a failure counter holds for one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failures {
    /// Failures since the key was last forgotten or reset.
    pub count: u32,
    /// When the last one happened (Unix ms).
    pub last_at_ms: i64,
}

/// The decision for one key at one time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Open,
    /// Refuse without checking the password until this time (Unix ms).
    Locked {
        until_ms: i64,
    },
}

impl Verdict {
    /// Whole seconds until the lock ends, at least 1 (for `Retry-After`); 0 when open.
    pub fn retry_after_secs(self, now_ms: i64) -> u64 {
        match self {
            Verdict::Open => 0,
            Verdict::Locked { until_ms } => {
                let ms = until_ms.saturating_sub(now_ms).max(1);
                u64::try_from(ms.saturating_add(999) / 1000).unwrap_or(1)
            }
        }
    }

    /// The later-ending of two verdicts: a request is refused while any of its keys is locked.
    #[must_use]
    pub fn and(self, other: Verdict) -> Verdict {
        match (self, other) {
            (Verdict::Open, v) | (v, Verdict::Open) => v,
            (Verdict::Locked { until_ms: a }, Verdict::Locked { until_ms: b }) => {
                Verdict::Locked { until_ms: a.max(b) }
            }
        }
    }
}

impl LockoutPolicy {
    /// How long the lock lasts that the `count`-th failure starts (0 below the limit).
    pub fn lock_for(&self, count: u32) -> i64 {
        if self.max_failures == 0 || count < self.max_failures {
            return 0;
        }
        let cap = self.max_lock_ms.max(self.lock_ms).max(0);
        let doublings = count - self.max_failures;
        if doublings >= 62 {
            return cap;
        }
        self.lock_ms.max(0).saturating_mul(1_i64 << doublings).min(cap)
    }

    /// Whether a key with these failures is locked at `now_ms`.
    pub fn decide(&self, failures: Option<Failures>, now_ms: i64) -> Verdict {
        let Some(f) = failures else { return Verdict::Open };
        let lock = self.lock_for(f.count);
        let until_ms = f.last_at_ms.saturating_add(lock);
        if lock > 0 && now_ms < until_ms { Verdict::Locked { until_ms } } else { Verdict::Open }
    }

    /// Until when a counter must keep these failures for [`decide`](Self::decide) to stay right:
    /// `window_ms` after the last failure, or after the end of the lock it started.
    pub fn keep_until(&self, failures: Failures) -> i64 {
        failures.last_at_ms.saturating_add(self.lock_for(failures.count)).saturating_add(self.window_ms.max(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MIN: i64 = 60_000;

    fn devise() -> LockoutPolicy {
        LockoutPolicy { max_failures: 10, window_ms: 10 * MIN, lock_ms: 10 * MIN, max_lock_ms: 60 * MIN }
    }

    fn at(count: u32, last_at_ms: i64) -> Option<Failures> {
        Some(Failures { count, last_at_ms })
    }

    #[test]
    fn the_tenth_failure_locks_for_ten_minutes_then_each_further_one_doubles_up_to_an_hour() {
        let p = devise();
        assert_eq!(p.decide(None, 0), Verdict::Open);
        assert_eq!(p.decide(at(9, 0), 1), Verdict::Open, "nine failures leave the key open");
        assert_eq!(p.decide(at(10, 0), 1), Verdict::Locked { until_ms: 10 * MIN });
        assert_eq!(p.decide(at(10, 0), 10 * MIN - 1), Verdict::Locked { until_ms: 10 * MIN });
        assert_eq!(p.decide(at(10, 0), 10 * MIN), Verdict::Open, "the lock ends");
        let locks: Vec<i64> = (10..15).map(|c| p.lock_for(c) / MIN).collect();
        assert_eq!(locks, [10, 20, 40, 60, 60]);
        assert_eq!(p.lock_for(u32::MAX), 60 * MIN, "no overflow");
    }

    #[test]
    fn zero_failures_allowed_means_no_limit() {
        let p = LockoutPolicy { max_failures: 0, ..devise() };
        assert_eq!(p.decide(at(1_000_000, 0), 1), Verdict::Open);
        assert_eq!(p.keep_until(Failures { count: 5, last_at_ms: 7 }), 7 + 10 * MIN);
    }

    #[test]
    fn retry_after_rounds_up_and_is_never_zero_while_locked() {
        let v = Verdict::Locked { until_ms: 10_001 };
        assert_eq!(v.retry_after_secs(0), 11);
        assert_eq!(v.retry_after_secs(10_000), 1);
        assert_eq!(v.retry_after_secs(10_001), 1, "a lock ending now still says 1");
        assert_eq!(Verdict::Open.retry_after_secs(5), 0);
        assert_eq!(v.and(Verdict::Locked { until_ms: 5 }), v);
        assert_eq!(Verdict::Open.and(v), v);
    }

    fn policies() -> impl Strategy<Value = LockoutPolicy> {
        (0u32..20, 0i64..100_000, 0i64..100_000, 0i64..1_000_000).prop_map(|(max_failures, window_ms, lock_ms, max)| {
            LockoutPolicy { max_failures, window_ms, lock_ms, max_lock_ms: max }
        })
    }

    proptest! {
        #[test]
        fn more_failures_never_shorten_the_lock(p in policies(), c in 0u32..100) {
            prop_assert!(p.lock_for(c) <= p.lock_for(c + 1));
            prop_assert!(p.lock_for(c) <= p.max_lock_ms.max(p.lock_ms));
        }

        #[test]
        fn below_the_limit_is_open_and_at_it_locked_right_after(p in policies(), c in 0u32..100, last in 0i64..1_000_000) {
            let v = p.decide(at(c, last), last);
            if p.max_failures == 0 || c < p.max_failures || p.lock_ms == 0 {
                prop_assert_eq!(v, Verdict::Open);
            } else {
                prop_assert!(matches!(v, Verdict::Locked { .. }), "{:?} {} → {:?}", p, c, v);
            }
        }

        #[test]
        fn a_lock_holds_until_its_end_and_never_comes_back(
            p in policies(), c in 0u32..100, last in 0i64..1_000_000, dt in 0i64..3_000_000, dt2 in 0i64..3_000_000,
        ) {
            let (t1, t2) = (last + dt.min(dt2), last + dt.max(dt2));
            match p.decide(at(c, last), t1) {
                Verdict::Locked { until_ms } => {
                    prop_assert!(until_ms > t1 && until_ms <= last + p.max_lock_ms.max(p.lock_ms));
                    let later = p.decide(at(c, last), t2);
                    prop_assert_eq!(later == Verdict::Open, t2 >= until_ms);
                    let kept = p.keep_until(Failures { count: c, last_at_ms: last });
                    prop_assert!(kept >= until_ms);
                }
                Verdict::Open => prop_assert_eq!(p.decide(at(c, last), t2), Verdict::Open),
            }
        }
    }
}
