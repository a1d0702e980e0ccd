//! How a runner stops, after gitlab-runner's signals: a *drain* (SIGQUIT) stops asking for jobs
//! and lets the running ones finish and report; an *abort* (SIGTERM, SIGINT, a server stopping
//! its built-in runner) also stops the running jobs and reports them failed with
//! `runner_system_failure`. The caller owns the clock: it decides when waiting is over and the
//! process exits at once, after [`Shutdown::persisted`] says no finished or aborted job's state
//! exists only in memory.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Shared by the caller and every job of one worker; cheap to clone.
#[derive(Clone)]
pub struct Shutdown {
    drain: CancellationToken,
    abort: CancellationToken,
    /// Why the jobs were aborted, as gitlab-runner names the signal (`terminated`, `interrupt`).
    why: Arc<Mutex<String>>,
    /// The jobs running here, by id: `true` once their final (or abort) state is on disk.
    jobs: Arc<watch::Sender<BTreeMap<i64, bool>>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    pub fn new() -> Self {
        let abort = CancellationToken::new();
        // An abort is a drain too: no new job is taken while the running ones are stopped.
        let drain = abort.child_token();
        Shutdown { drain, abort, why: Arc::default(), jobs: Arc::new(watch::channel(BTreeMap::new()).0) }
    }

    /// Stop asking for jobs; running ones finish and report (SIGQUIT).
    pub fn drain(&self) {
        self.drain.cancel();
    }

    /// Stop asking for jobs and stop the running ones (SIGTERM/SIGINT); `why` ends their trace
    /// (`ERROR: Job failed (system failure): aborted: <why>`).
    pub fn abort(&self, why: &str) {
        {
            let mut w = self.why.lock().unwrap_or_else(PoisonError::into_inner);
            if w.is_empty() {
                *w = why.to_string();
            }
        }
        self.abort.cancel();
    }

    pub fn is_draining(&self) -> bool {
        self.drain.is_cancelled()
    }

    pub fn is_aborting(&self) -> bool {
        self.abort.is_cancelled()
    }

    /// Resolves once a drain (or an abort) was asked for.
    pub async fn draining(&self) {
        self.drain.cancelled().await;
    }

    /// Resolves once an abort was asked for.
    pub async fn aborting(&self) {
        self.abort.cancelled().await;
    }

    /// What [`Self::abort`] was given.
    pub fn why(&self) -> String {
        self.why.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Resolves once every job running here has its final or abort state on disk (or has
    /// ended); what the caller awaits, briefly, before it exits at once.
    pub async fn persisted(&self) {
        let mut rx = self.jobs.subscribe();
        let _ = rx.wait_for(|jobs| jobs.values().all(|on_disk| *on_disk)).await;
    }

    /// The ids of the jobs running here now.
    pub fn running(&self) -> Vec<i64> {
        self.jobs.borrow().keys().copied().collect()
    }

    pub(crate) fn job_started(&self, id: i64) {
        self.jobs.send_modify(|j| {
            j.insert(id, false);
        });
    }

    pub(crate) fn job_persisted(&self, id: i64) {
        self.jobs.send_modify(|j| {
            if let Some(on_disk) = j.get_mut(&id) {
                *on_disk = true;
            }
        });
    }

    pub(crate) fn job_ended(&self, id: i64) {
        self.jobs.send_modify(|j| {
            j.remove(&id);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn an_abort_drains_and_persisted_waits_for_every_job() {
        let s = Shutdown::new();
        s.drain();
        assert!(s.is_draining() && !s.is_aborting());
        let s = Shutdown::new();
        s.abort("terminated");
        s.abort("interrupt");
        assert!(s.is_draining() && s.is_aborting());
        assert_eq!(s.why(), "terminated", "the first signal names the abort");

        s.job_started(1);
        s.job_started(2);
        s.job_persisted(1);
        let wait = tokio::time::timeout(Duration::from_millis(50), s.persisted()).await;
        assert!(wait.is_err(), "job 2 has nothing on disk yet");
        s.job_ended(2);
        tokio::time::timeout(Duration::from_secs(1), s.persisted()).await.expect("all persisted");
        assert_eq!(s.running(), vec![1]);
    }
}
