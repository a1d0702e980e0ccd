//! Bounded password work: at most `permits` argon2 computations at once, at most `queue`
//! requests waiting for one and each for at most `wait`; anything beyond is refused at once, so
//! a burst of sign-ins costs neither unbounded memory (19 MiB per computation) nor unbounded
//! latency.
//!
//! A computation keeps its permit until it has finished on its blocking thread, even when the
//! request that started it has gone away, so the bound holds for work in flight, not only for
//! requests.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The gate refused: every permit is taken and the queue is full, or the wait ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

pub struct PasswordGate {
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    queue: usize,
    wait: Duration,
}

/// Leaves the queue when dropped, including when the waiting request is cancelled.
struct InQueue<'a>(&'a AtomicUsize);

impl Drop for InQueue<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl PasswordGate {
    /// `permits` is at least 1.
    pub fn new(permits: usize, queue: usize, wait: Duration) -> Self {
        PasswordGate { permits: Arc::new(Semaphore::new(permits.max(1))), waiting: AtomicUsize::new(0), queue, wait }
    }

    /// A permit now, or after a bounded wait in a bounded queue.
    pub async fn enter(&self) -> Result<OwnedSemaphorePermit, Busy> {
        if let Ok(p) = self.permits.clone().try_acquire_owned() {
            return Ok(p);
        }
        let ahead = self.waiting.fetch_add(1, Ordering::SeqCst);
        let _queued = InQueue(&self.waiting);
        if ahead >= self.queue {
            return Err(Busy);
        }
        match tokio::time::timeout(self.wait, self.permits.clone().acquire_owned()).await {
            Ok(Ok(p)) => Ok(p),
            _ => Err(Busy),
        }
    }

    /// Runs `work` on a blocking thread holding `permit`, and hands the permit back with the
    /// result, so the caller can finish what belongs to the check (counting a failure) before
    /// the next one starts. Were the caller gone, the permit is released when `work` returns.
    pub async fn run<T: Send + 'static>(
        permit: OwnedSemaphorePermit,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<(T, OwnedSemaphorePermit), tokio::task::JoinError> {
        tokio::task::spawn_blocking(move || (work(), permit)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn at_most_permits_run_at_most_queue_wait_and_the_rest_are_refused_at_once() {
        let gate = Arc::new(PasswordGate::new(2, 3, Duration::from_secs(30)));
        let peak = Arc::new(AtomicUsize::new(0));
        let now = Arc::new(AtomicUsize::new(0));
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let release_rx = Arc::new(std::sync::Mutex::new(release_rx));
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let (gate, peak, now, rx) = (gate.clone(), peak.clone(), now.clone(), release_rx.clone());
            tasks.push(tokio::spawn(async move {
                let permit = gate.enter().await?;
                let ((), _permit) = PasswordGate::run(permit, move || {
                    let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(n, Ordering::SeqCst);
                    rx.lock().expect("lock").recv().ok();
                    now.fetch_sub(1, Ordering::SeqCst);
                })
                .await
                .expect("work runs");
                Ok::<(), Busy>(())
            }));
        }
        // Two run and three wait; the other five are refused without waiting.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(gate.permits.available_permits(), 0);
        assert_eq!(gate.waiting.load(Ordering::SeqCst), 3);
        for _ in 0..5 {
            release_tx.send(()).expect("send");
        }
        let mut refused = 0;
        for t in tasks {
            if t.await.expect("task").is_err() {
                refused += 1;
            }
        }
        assert_eq!(refused, 5);
        assert_eq!(peak.load(Ordering::SeqCst), 2, "never more than the permits at once");
        assert_eq!(gate.waiting.load(Ordering::SeqCst), 0, "the queue empties");
    }

    #[tokio::test]
    async fn the_wait_is_bounded_and_a_cancelled_waiter_leaves_the_queue() {
        let gate = PasswordGate::new(1, 4, Duration::from_millis(50));
        let held = gate.enter().await.expect("first permit");
        let started = std::time::Instant::now();
        assert_eq!(gate.enter().await.err(), Some(Busy), "times out");
        assert!(started.elapsed() < Duration::from_secs(5));
        let cancelled = tokio::time::timeout(Duration::from_millis(10), gate.enter()).await;
        assert!(cancelled.is_err(), "still waiting when cancelled");
        assert_eq!(gate.waiting.load(Ordering::SeqCst), 0);
        drop(held);
        assert!(gate.enter().await.is_ok());
    }
}
