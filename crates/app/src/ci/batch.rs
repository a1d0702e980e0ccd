//! Group commit for the coordinator's hottest writes, claims and runners' success reports
//! (ADR 0012, step 4): requests that arrive while one batch is being written are written
//! together, in one statement, by the next.
//!
//! No long-lived task and no timer: the caller that finds no batch in flight writes its own
//! request at once (so an idle coordinator adds no latency); callers that arrive meanwhile queue
//! their requests, and the first of them to get the turn writes all that queued. A batch is
//! written by a spawned task, so a caller that goes away (its HTTP request was dropped) neither
//! cancels the others' writes nor leaves them without an answer.

use std::future::Future;
use std::sync::{Mutex, PoisonError};
use tokio::sync::oneshot;

/// Requests `Q` waiting for the next batch, and the turn to write one.
pub(crate) struct Batcher<Q, A> {
    queued: Mutex<Vec<(Q, oneshot::Sender<A>)>>,
    turn: tokio::sync::Mutex<()>,
}

impl<Q, A> Default for Batcher<Q, A> {
    fn default() -> Self {
        Batcher { queued: Mutex::new(Vec::new()), turn: tokio::sync::Mutex::new(()) }
    }
}

impl<Q, A> std::fmt::Debug for Batcher<Q, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let queued = self.queued.lock().unwrap_or_else(PoisonError::into_inner).len();
        f.debug_struct("Batcher").field("queued", &queued).finish()
    }
}

impl<Q: Send + 'static, A: Send + 'static> Batcher<Q, A> {
    /// Writes `request` in a batch with whatever else is queued, using `write`, which answers
    /// every request of the batch, in order. `None` only if the batch's task failed (panicked).
    pub async fn submit<F, Fut>(&self, request: Q, write: F) -> Option<A>
    where
        F: FnOnce(Vec<Q>) -> Fut,
        Fut: Future<Output = Vec<A>> + Send + 'static,
    {
        let (tx, mut rx) = oneshot::channel();
        self.queued.lock().unwrap_or_else(PoisonError::into_inner).push((request, tx));
        let turn = self.turn.lock().await;
        // The batch before this turn may have taken this request: a batch answers every request
        // before its writer gives up the turn.
        match rx.try_recv() {
            Ok(answer) => return Some(answer),
            Err(oneshot::error::TryRecvError::Closed) => return None,
            Err(oneshot::error::TryRecvError::Empty) => {}
        }
        let batch = std::mem::take(&mut *self.queued.lock().unwrap_or_else(PoisonError::into_inner));
        if batch.is_empty() {
            // Taken by a batch whose writer went away before answering; its task answers.
            drop(turn);
            return rx.await.ok();
        }
        let (requests, answer_to): (Vec<Q>, Vec<oneshot::Sender<A>>) = batch.into_iter().unzip();
        let written = write(requests);
        let task = tokio::spawn(async move {
            for (tx, answer) in answer_to.into_iter().zip(written.await) {
                // A caller that went away no longer waits for its answer.
                let _ = tx.send(answer);
            }
        });
        let _ = task.await;
        drop(turn);
        rx.await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn alone_a_request_is_written_at_once_by_itself() {
        let b: Batcher<u32, u32> = Batcher::default();
        let got = b.submit(7, |qs| async move { qs.iter().map(|q| q * 2).collect() }).await;
        assert_eq!(got, Some(14));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn requests_arriving_during_a_write_share_the_next_one() {
        let b: Arc<Batcher<u32, u32>> = Arc::new(Batcher::default());
        let writes = Arc::new(AtomicUsize::new(0));
        let sizes = Arc::new(Mutex::new(Vec::new()));
        // Hold the turn so that every request below queues behind it.
        let held = b.turn.lock().await;
        let mut tasks = Vec::new();
        for i in 0..50u32 {
            let (b, writes, sizes) = (b.clone(), writes.clone(), sizes.clone());
            tasks.push(tokio::spawn(async move {
                b.submit(i, move |qs| {
                    writes.fetch_add(1, Ordering::SeqCst);
                    sizes.lock().expect("sizes").push(qs.len());
                    async move { qs.iter().map(|q| q + 1000).collect() }
                })
                .await
            }));
        }
        while b.queued.lock().expect("queued").len() < 50 {
            tokio::task::yield_now().await;
        }
        drop(held);
        for (i, t) in tasks.into_iter().enumerate() {
            assert_eq!(t.await.expect("task"), Some(i as u32 + 1000), "each request gets its own answer");
        }
        assert_eq!(writes.load(Ordering::SeqCst), 1, "one write for the 50 queued requests");
        assert_eq!(*sizes.lock().expect("sizes"), vec![50]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_writer_that_goes_away_still_answers_the_others() {
        let b: Arc<Batcher<u32, u32>> = Arc::new(Batcher::default());
        let held = b.turn.lock().await;
        let (release_tx, release_rx) = oneshot::channel::<()>();
        let release_rx = Arc::new(tokio::sync::Mutex::new(Some(release_rx)));
        let first = {
            let (b, release_rx) = (b.clone(), release_rx.clone());
            tokio::spawn(async move {
                b.submit(1, move |qs| async move {
                    // The write takes a while; its caller is aborted meanwhile.
                    if let Some(rx) = release_rx.lock().await.take() {
                        let _ = rx.await;
                    }
                    qs.iter().map(|q| q * 10).collect()
                })
                .await
            })
        };
        let second = {
            let b = b.clone();
            tokio::spawn(async move { b.submit(2, |qs| async move { qs.iter().map(|q| q * 10).collect() }).await })
        };
        while b.queued.lock().expect("queued").len() < 2 {
            tokio::task::yield_now().await;
        }
        drop(held);
        // Let the first caller take the turn and start the write of both, then abort it.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        first.abort();
        let _ = release_tx.send(());
        assert_eq!(second.await.expect("task"), Some(20), "the batch is written and answered without its caller");
    }
}
