//! At most one log line per second for an event a client can repeat at will (refused
//! sign-ins, identity headers from an untrusted address), with the count of lines left out, so
//! a flood cannot fill the log. Time is a parameter (milliseconds since any fixed instant).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct LogThrottle {
    next_ms: AtomicI64,
    skipped: AtomicU64,
}

impl LogThrottle {
    /// A throttle that admits its first line (usable in a `static`).
    pub const fn new() -> LogThrottle {
        LogThrottle { next_ms: AtomicI64::new(i64::MIN), skipped: AtomicU64::new(0) }
    }

    /// `Some(lines left out since the last admitted one)` when a line may be written at `now_ms`.
    pub fn admit(&self, now_ms: i64) -> Option<u64> {
        let next = self.next_ms.load(Ordering::Relaxed);
        if now_ms >= next
            && self
                .next_ms
                .compare_exchange(next, now_ms.saturating_add(1_000), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            return Some(self.skipped.swap(0, Ordering::Relaxed));
        }
        self.skipped.fetch_add(1, Ordering::Relaxed);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_second_and_the_count_of_the_rest() {
        for t in [LogThrottle::default(), LogThrottle::new()] {
            assert_eq!(t.admit(10_000), Some(0));
            assert_eq!(t.admit(10_500), None);
            assert_eq!(t.admit(10_900), None);
            assert_eq!(t.admit(11_000), Some(2));
        }
        assert_eq!(LogThrottle::new().admit(-5), Some(0), "any clock reading admits the first line");
    }
}
