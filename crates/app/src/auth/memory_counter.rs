//! The in-memory [`FailureCounter`]: one server's failed sign-ins in a map of bounded size.
//!
//! Memory is bounded whatever the attacker sends: keys are stored as 128 bits of their SHA-256
//! (a long username costs no more than a short one), expired entries are dropped when room is
//! needed, and at most `max_keys` entries are kept. When the map is full of live entries, the one
//! that would expire first is forgotten: locked keys expire last (their entry outlives the lock),
//! so rotating through usernames or addresses to flush a lock needs `max_keys` fresh failures,
//! each of them a full password check, and the per-address limit stops one address long before.
//! Counters are lost on restart (a restart ends every lock).

use async_trait::async_trait;
use autogit_core::lockout::Failures;
use autogit_store::{FailureCounter, Result};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: Failures,
    expires_ms: i64,
}

pub struct MemoryFailureCounter {
    entries: Mutex<HashMap<u128, Entry>>,
    max_keys: usize,
}

impl MemoryFailureCounter {
    /// A counter that keeps at most `max_keys` keys (at least 1).
    pub fn new(max_keys: usize) -> Self {
        MemoryFailureCounter { entries: Mutex::new(HashMap::new()), max_keys: max_keys.max(1) }
    }

    /// Keys held now, expired ones included until they are dropped.
    pub fn len(&self) -> usize {
        self.map().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn map(&self) -> MutexGuard<'_, HashMap<u128, Entry>> {
        // A panic while holding the lock leaves the map consistent (every update is one insert).
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn slot(key: &str) -> u128 {
    let digest = Sha256::digest(key.as_bytes());
    let mut first = [0u8; 16];
    first.copy_from_slice(&digest[..16]);
    u128::from_be_bytes(first)
}

/// Makes room for one more key: drops expired entries, then the one that expires first.
fn make_room(map: &mut HashMap<u128, Entry>, max_keys: usize, now_ms: i64) {
    if map.len() < max_keys {
        return;
    }
    map.retain(|_, e| e.expires_ms > now_ms);
    while map.len() >= max_keys {
        let Some(first) = map.iter().min_by_key(|(_, e)| e.expires_ms).map(|(k, _)| *k) else { break };
        map.remove(&first);
    }
}

#[async_trait]
impl FailureCounter for MemoryFailureCounter {
    async fn add_failure(&self, key: &str, now_ms: i64, window_ms: i64) -> Result<Failures> {
        let slot = slot(key);
        let mut map = self.map();
        let live = map.get(&slot).copied().filter(|e| e.expires_ms > now_ms);
        let entry = match live {
            Some(e) => Entry {
                failures: Failures { count: e.failures.count.saturating_add(1), last_at_ms: now_ms },
                expires_ms: e.expires_ms.max(now_ms.saturating_add(window_ms)),
            },
            None => {
                map.remove(&slot);
                make_room(&mut map, self.max_keys, now_ms);
                Entry {
                    failures: Failures { count: 1, last_at_ms: now_ms },
                    expires_ms: now_ms.saturating_add(window_ms),
                }
            }
        };
        map.insert(slot, entry);
        Ok(entry.failures)
    }

    async fn get(&self, key: &str, now_ms: i64) -> Result<Option<Failures>> {
        Ok(self.map().get(&slot(key)).filter(|e| e.expires_ms > now_ms).map(|e| e.failures))
    }

    async fn keep_until(&self, key: &str, until_ms: i64) -> Result<()> {
        if let Some(e) = self.map().get_mut(&slot(key)) {
            e.expires_ms = e.expires_ms.max(until_ms);
        }
        Ok(())
    }

    async fn reset(&self, key: &str) -> Result<()> {
        self.map().remove(&slot(key));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn passes_the_failure_counter_contract() {
        autogit_store::conformance::failure_counter::run(&MemoryFailureCounter::new(1_000), "mem").await;
    }

    #[tokio::test]
    async fn memory_is_bounded_and_the_entry_expiring_first_goes_first() {
        let c = MemoryFailureCounter::new(100);
        c.add_failure("locked", 0, 1_000).await.expect("add");
        c.keep_until("locked", 1_000_000).await.expect("keep");
        for i in 0..10_000 {
            c.add_failure(&format!("rotating-{i}-{}", "x".repeat(200)), i, 1_000).await.expect("add");
            assert!(c.len() <= 100, "at most max_keys entries");
        }
        assert_eq!(c.get("locked", 10_000).await.expect("get").map(|f| f.count), Some(1), "the lock survived");
        c.add_failure("late", 2_000_000, 10).await.expect("add");
        assert_eq!(c.len(), 1, "expired entries are dropped when room is needed");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_adds_from_many_threads_lose_nothing() {
        let c = Arc::new(MemoryFailureCounter::new(10));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let c = c.clone();
                tokio::spawn(async move {
                    for i in 0..250 {
                        c.add_failure("k", i, 60_000).await.expect("add");
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("task");
        }
        assert_eq!(c.get("k", 0).await.expect("get").map(|f| f.count), Some(2_000));
    }
}
