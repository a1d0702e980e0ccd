//! The coordinator's in-memory state: the pending-job queue and the runners held in a long
//! poll. The store is the truth (every job here is `pending` there); this is an index over it,
//! rebuilt from the store at start ([`crate::App::start_ci`]), so a restart loses nothing.
//!
//! One coordinator process per database: two processes would each hand out jobs from their own
//! queue, and the store's compare-and-set claim would keep that correct but not fair.

use autogit_scheduler::Millis;
use autogit_scheduler::queue::{QueuedJob, RunnerInfo, Waiters};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::oneshot;

/// Settings of the Runner Coordinator.
#[derive(Debug, Clone)]
pub struct CiSettings {
    /// The URL runners and jobs reach the server at (clone URLs, `CI_SERVER_URL`), no trailing `/`.
    pub server_url: String,
    /// How long a `jobs/request` is held when there is no job (GitLab's Workhorse: 50 s).
    pub long_poll: Duration,
    /// A running job whose runner has not reported for this long is failed with
    /// `runner_system_failure` (and retried when its `retry:` allows).
    pub lease_timeout: Duration,
    /// Extra time past a job's own timeout before the server fails it itself
    /// (`job_execution_server_timeout`): the runner should have stopped it first.
    pub server_timeout_grace: Duration,
    /// Largest trace kept per job; beyond it the job fails with `trace_size_exceeded`.
    pub max_trace_bytes: i64,
    /// Largest artifacts archive accepted.
    pub max_artifacts_bytes: u64,
    /// Where artifact archives are written (local disk).
    pub artifacts_dir: PathBuf,
    /// Job timeout when neither the job nor the project sets one (GitLab: 60 minutes).
    pub default_timeout_secs: i64,
}

impl Default for CiSettings {
    fn default() -> Self {
        CiSettings {
            server_url: "http://localhost:8080".into(),
            long_poll: Duration::from_secs(50),
            lease_timeout: Duration::from_secs(120),
            server_timeout_grace: Duration::from_secs(300),
            max_trace_bytes: 16 << 20,
            max_artifacts_bytes: 100 << 20,
            artifacts_dir: PathBuf::from("./autogit-data/artifacts"),
            default_timeout_secs: 3600,
        }
    }
}

/// The queue and the held requests, under one lock: handing a job to a waiter and queueing it
/// must be one decision, or a job could be queued while its only runner goes to sleep.
#[derive(Debug)]
pub(crate) struct Dispatch {
    pub queue: autogit_scheduler::queue::Queue,
    pub waiters: Waiters,
    /// Held request id → where to hand its job.
    pub handoff: HashMap<u64, oneshot::Sender<QueuedJob>>,
}

#[derive(Debug)]
pub(crate) struct Runtime {
    pub settings: CiSettings,
    pub dispatch: Mutex<Dispatch>,
    /// Held requests are numbered: one runner with `concurrent = 4` holds four at once.
    next_waiter: AtomicU64,
    /// Set on shutdown: nothing is held any more, so that graceful shutdown is not delayed by
    /// a full long-poll period.
    closing: std::sync::atomic::AtomicBool,
    /// Serialises progression per pipeline so that two job updates of one pipeline do not decide
    /// on the same stale view.
    pipeline_locks: Mutex<HashMap<i64, std::sync::Weak<tokio::sync::Mutex<()>>>>,
}

impl Runtime {
    pub fn new(settings: CiSettings, epoch: u64) -> Runtime {
        Runtime {
            settings,
            dispatch: Mutex::new(Dispatch {
                queue: autogit_scheduler::queue::Queue::new(epoch),
                waiters: Waiters::new(),
                handoff: HashMap::new(),
            }),
            next_waiter: AtomicU64::new(1),
            closing: std::sync::atomic::AtomicBool::new(false),
            pipeline_locks: Mutex::new(HashMap::new()),
        }
    }

    pub fn lock_dispatch(&self) -> std::sync::MutexGuard<'_, Dispatch> {
        // A panic while holding the lock leaves plain data behind, still consistent enough to
        // serve: the store is the truth and a restart rebuilds it.
        self.dispatch.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues a pending job, or hands it straight to a held request that may take it.
    pub fn enqueue(&self, job: QueuedJob) {
        let mut d = self.lock_dispatch();
        if d.queue.contains(job.id) {
            return;
        }
        let mut job = job;
        while let Some(waiter) = d.waiters.on_enqueue(&job) {
            let Some(tx) = d.handoff.remove(&waiter) else { continue };
            match tx.send(job) {
                Ok(()) => {
                    d.queue.bump();
                    return;
                }
                // The request went away (client gone, hold ended): offer the next waiter.
                Err(back) => job = back,
            }
        }
        // A duplicate is impossible here (checked above under the same lock).
        let _ = d.queue.push(job);
    }

    /// Takes the job out of the queue (canceled, or claimed elsewhere).
    pub fn dequeue(&self, id: i64) {
        self.lock_dispatch().queue.remove(id as u64);
    }

    /// The oldest job `runner` may take, or a receiver that gets one as soon as it is queued.
    pub fn pick_or_wait(
        &self,
        runner: &RunnerInfo,
        now: Millis,
    ) -> Result<QueuedJob, (u64, oneshot::Receiver<QueuedJob>)> {
        let mut d = self.lock_dispatch();
        if let Some(job) = d.queue.pick(runner) {
            return Ok(job);
        }
        let id = self.next_waiter.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        if self.closing.load(Ordering::Relaxed) {
            // Dropping `tx` answers the request at once with "no job".
            return Err((id, rx));
        }
        d.waiters.register(RunnerInfo { id, ..runner.clone() }, now);
        d.handoff.insert(id, tx);
        Err((id, rx))
    }

    /// Answers every held request with "no job" and holds no new ones.
    pub fn close(&self) {
        self.closing.store(true, Ordering::Relaxed);
        let mut d = self.lock_dispatch();
        d.handoff.clear();
        d.waiters = Waiters::new();
    }

    /// Ends a hold without a job.
    pub fn stop_waiting(&self, waiter: u64) {
        let mut d = self.lock_dispatch();
        d.waiters.unregister(waiter);
        d.handoff.remove(&waiter);
    }

    pub fn last_update(&self) -> String {
        self.lock_dispatch().queue.last_update()
    }

    pub fn queue_len(&self) -> usize {
        self.lock_dispatch().queue.len()
    }

    /// Runner settings changed (paused, tags): every runner must look again.
    pub fn bump(&self) {
        self.lock_dispatch().queue.bump();
    }

    pub fn waiting(&self) -> usize {
        self.lock_dispatch().waiters.len()
    }

    /// The lock that serialises progression of one pipeline.
    pub fn pipeline_lock(&self, pipeline_id: i64) -> std::sync::Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.pipeline_locks.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(l) = locks.get(&pipeline_id).and_then(std::sync::Weak::upgrade) {
            return l;
        }
        locks.retain(|_, w| w.strong_count() > 0);
        let l = std::sync::Arc::new(tokio::sync::Mutex::new(()));
        locks.insert(pipeline_id, std::sync::Arc::downgrade(&l));
        l
    }
}
