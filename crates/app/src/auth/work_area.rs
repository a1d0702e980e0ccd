//! The memory argon2 fills, kept between checks while sign-ins keep coming and given back to
//! the operating system once they stop.
//!
//! Why: a fresh 19 MiB area is mapped, page-faulted in and unmapped at every check, and on this
//! project's 2-core VM that costs about as much as the hash itself (27 ms a check with a fresh
//! area, 14 ms with a reused one; 30 vs 17 ms with two at once). So at most `keep` areas (the
//! number of checks that run at once) wait for the next check; when no check has ended for
//! [`IDLE`], they are freed (each is its own mapping, see `password`'s module doc, so freeing
//! it unmaps it) and an idle server holds none. An area holds what the last hash derived from
//! its password through BLAKE2b, never the password.

use argon2::Block;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How long spare areas are kept after the last check ended.
pub const IDLE: Duration = Duration::from_secs(2);

pub struct WorkAreas {
    spare: Mutex<Vec<Vec<Block>>>,
    keep: usize,
    /// Checks ended so far: a release finds whether one ended since it was planned.
    ended: AtomicU64,
}

impl WorkAreas {
    pub fn new(keep: usize) -> WorkAreas {
        WorkAreas { spare: Mutex::new(Vec::new()), keep, ended: AtomicU64::new(0) }
    }

    /// A spare area, or a new one (empty, with the capacity `password` needs).
    pub fn take(&self) -> Vec<Block> {
        let spare = self.spare.lock().ok().and_then(|mut s| s.pop());
        spare.unwrap_or_else(|| Vec::with_capacity(super::password::MAPPED_CAPACITY / Block::SIZE))
    }

    /// Returns an area after a check; one beyond `keep` is freed at once. The count of checks
    /// ended after this one is the mark [`WorkAreas::release_unless_used_since`] takes.
    pub fn put(&self, area: Vec<Block>) -> u64 {
        if let Ok(mut spare) = self.spare.lock()
            && spare.len() < self.keep
        {
            spare.push(area);
        }
        self.ended.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Frees every spare area unless a check ended after the one that returned `mark`.
    pub fn release_unless_used_since(&self, mark: u64) {
        if self.ended.load(Ordering::SeqCst) == mark
            && let Ok(mut spare) = self.spare.lock()
        {
            spare.clear();
        }
    }

    #[cfg(test)]
    fn spare(&self) -> usize {
        self.spare.lock().map_or(0, |s| s.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn areas_are_kept_up_to_the_bound_and_released_only_when_idle() {
        let areas = WorkAreas::new(2);
        let (a, b, c) = (areas.take(), areas.take(), areas.take());
        assert!(a.capacity() * Block::SIZE >= super::super::password::MAPPED_CAPACITY);
        areas.put(a);
        areas.put(b);
        let mark = areas.put(c);
        assert_eq!(areas.spare(), 2, "the third is freed at once");
        let reused = areas.take();
        let later = areas.put(reused);
        areas.release_unless_used_since(mark);
        assert_eq!(areas.spare(), 2, "a check ended since the mark: kept");
        areas.release_unless_used_since(later);
        assert_eq!(areas.spare(), 0, "idle since the last check: freed");
    }
}
