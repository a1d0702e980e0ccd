//! The coordinator's in-memory state: the pending-job queue and the runners held in a long
//! poll. The store is the truth (every job here is `pending` there); this is an index over it,
//! rebuilt from the store at start ([`crate::App::start_ci`]), so a restart loses nothing.
//!
//! One coordinator process per database: two processes would each hand out jobs from their own
//! queue, and the store's compare-and-set claim would keep that correct but not fair.

use autogit_core::{JobId, PipelineId, RunnerId};
use autogit_scheduler::Millis;
use autogit_scheduler::gpu::{Allocation, GpuPool, GpuRequest};
use autogit_scheduler::queue::{HeldRequest, QueuedJob, RunnerInfo, Waiters};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::oneshot;

/// Settings of the Runner Coordinator.
#[derive(Clone)]
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
    /// Job timeout when neither the job nor the project sets one (GitLab: 60 minutes).
    pub default_timeout_secs: i64,
    /// The legacy registration token (`POST /runners`, research §1.3); empty disables that flow.
    pub registration_token: String,
}

/// Prints everything but the registration token.
impl std::fmt::Debug for CiSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CiSettings")
            .field("server_url", &self.server_url)
            .field("long_poll", &self.long_poll)
            .field("lease_timeout", &self.lease_timeout)
            .field("server_timeout_grace", &self.server_timeout_grace)
            .field("max_trace_bytes", &self.max_trace_bytes)
            .field("max_artifacts_bytes", &self.max_artifacts_bytes)
            .field("default_timeout_secs", &self.default_timeout_secs)
            .field("registration_token", &if self.registration_token.is_empty() { "" } else { "[redacted]" })
            .finish()
    }
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
            default_timeout_secs: 3600,
            registration_token: String::new(),
        }
    }
}

/// The queue and the held requests, under one lock: handing a job to a waiter and queueing it
/// must be one decision, or a job could be queued while its only runner goes to sleep.
#[derive(Debug)]
pub(crate) struct Dispatch {
    pub queue: autogit_scheduler::queue::Queue,
    pub waiters: Waiters,
    /// Held request id → where to hand its job (with its GPUs, already allocated).
    pub handoff: HashMap<HeldRequest, oneshot::Sender<Handed>>,
    /// Held request id → the runner holding it (waiters are keyed by request).
    pub waiter_runner: HashMap<HeldRequest, RunnerId>,
    /// Every runner's GPUs and who holds them (ADR 0006). Under the same lock as the queue, so
    /// that "may this runner take this GPU job" and "allocate" are one decision.
    pub gpus: GpuPool,
    /// GPU requirements of queued jobs (absent: the job needs no GPU).
    pub gpu_requests: HashMap<JobId, GpuRequest>,
}

/// A job handed to a runner, with the GPUs allocated to it.
pub(crate) type Handed = (QueuedJob, Option<Allocation>);

#[derive(Debug)]
pub(crate) struct Runtime {
    pub settings: CiSettings,
    pub dispatch: Mutex<Dispatch>,
    /// Held requests are numbered: one runner with `concurrent = 4` holds four at once.
    next_waiter: AtomicU64,
    /// Set on shutdown: nothing is held any more, so that graceful shutdown is not delayed by
    /// a full long-poll period.
    closing: std::sync::atomic::AtomicBool,
    /// Per pipeline: the lock that serialises its progression and its in-memory view.
    pipelines: super::tracked::Slots,
    /// Runner id → what it last reported about its hardware.
    hardware: Mutex<HashMap<RunnerId, super::gpus::Hardware>>,
    /// What the autoscaler last saw of each pool.
    pub pools: super::pools::PoolBoard,
    /// Parsed job specs by job id (a spec never changes): progression reads every job of a
    /// pipeline after each job change, and parsing them each time made dispatch O(n²).
    specs: Mutex<HashMap<JobId, std::sync::Arc<super::spec::JobSpec>>>,
    /// Runner id → the pool whose instance runs as it.
    pub pool_runners: Mutex<HashMap<RunnerId, String>>,
    /// Ticks when a job is queued (not when it is handed straight to a held request).
    pub queued: tokio::sync::watch::Sender<u64>,
    /// The id of each job whose log just grew (live log pages follow it; a receiver that lags
    /// behind reads the log's size again).
    pub trace_grew: tokio::sync::broadcast::Sender<autogit_core::JobId>,
    /// Runners' last contacts, fresher than the stored ones (see `contacts`).
    pub contacts: super::contacts::Contacts,
    /// Facts of the commits pipelines run for (see `vars`).
    pub commits: super::vars::CommitCache,
    /// Job contexts of the pipelines being handed out (see `context_cache`).
    pub contexts: super::context_cache::ContextCache,
    /// Writes started in the background (trace archiving), waited for at shutdown.
    pub background: tokio_util::task::TaskTracker,
    /// Claims and success reports waiting for the next batch (see `batch`).
    pub claims: super::batch::Batcher<autogit_store::JobClaim, super::hot_writes::ClaimAnswer>,
    pub reports: super::batch::Batcher<autogit_store::TokenReport, super::hot_writes::ReportAnswer>,
}

/// Specs cached at most; the cache is emptied when full (they are cheap to parse again).
const MAX_CACHED_SPECS: usize = 50_000;

impl Runtime {
    pub fn new(settings: CiSettings, epoch: u64) -> Runtime {
        Runtime {
            settings,
            dispatch: Mutex::new(Dispatch {
                queue: autogit_scheduler::queue::Queue::new(epoch),
                waiters: Waiters::new(),
                handoff: HashMap::new(),
                waiter_runner: HashMap::new(),
                gpus: GpuPool::new(),
                gpu_requests: HashMap::new(),
            }),
            next_waiter: AtomicU64::new(1),
            closing: std::sync::atomic::AtomicBool::new(false),
            pipelines: super::tracked::Slots::default(),
            hardware: Mutex::new(HashMap::new()),
            pools: super::pools::PoolBoard::default(),
            specs: Mutex::new(HashMap::new()),
            pool_runners: Mutex::new(HashMap::new()),
            queued: tokio::sync::watch::Sender::new(0),
            trace_grew: tokio::sync::broadcast::Sender::new(1024),
            contacts: super::contacts::Contacts::default(),
            commits: super::vars::CommitCache::default(),
            contexts: super::context_cache::ContextCache::default(),
            background: tokio_util::task::TaskTracker::new(),
            claims: super::batch::Batcher::default(),
            reports: super::batch::Batcher::default(),
        }
    }

    pub fn lock_dispatch(&self) -> std::sync::MutexGuard<'_, Dispatch> {
        // A panic while holding the lock leaves plain data behind, still consistent enough to
        // serve: the store is the truth and a restart rebuilds it.
        self.dispatch.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues a pending job, or hands it straight to a held request that may take it (and, for
    /// a GPU job, whose runner has the GPUs free now: they are allocated on the spot).
    pub fn enqueue(&self, job: QueuedJob, gpu: Option<GpuRequest>) {
        let mut d = self.lock_dispatch();
        if d.queue.contains(job.id) {
            return;
        }
        let mut job = job;
        loop {
            let Dispatch { waiters, waiter_runner: _, gpus, .. } = &mut *d;
            let waiter = waiters.on_enqueue_where(&job, |r| match &gpu {
                None => true,
                Some(req) => gpus.can_allocate(r.id, req),
            });
            let Some(waiter) = waiter else { break };
            let Some(runner) = d.waiter_runner.remove(&waiter) else { continue };
            let Some(tx) = d.handoff.remove(&waiter) else { continue };
            let alloc = match &gpu {
                None => None,
                Some(req) => match d.gpus.allocate(runner, job.id, req) {
                    Ok(a) => Some(a),
                    Err(_) => continue,
                },
            };
            match tx.send((job, alloc)) {
                Ok(()) => {
                    d.queue.bump();
                    return;
                }
                // The request went away (client gone, hold ended): offer the next waiter.
                Err((back, alloc)) => {
                    if let Some(a) = alloc {
                        let _ = d.gpus.release(a.job, a.fence);
                    }
                    job = back;
                }
            }
        }
        if let Some(req) = gpu {
            d.gpu_requests.insert(job.id, req);
        }
        // A duplicate is impossible here (checked above under the same lock).
        let _ = d.queue.push(job);
        self.queued.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Takes the job out of the queue (canceled, or claimed elsewhere).
    pub fn dequeue(&self, id: JobId) {
        let mut d = self.lock_dispatch();
        d.queue.remove(id);
        d.gpu_requests.remove(&id);
    }

    /// The oldest job `runner` may take (GPU jobs only when their GPUs are free on it, then
    /// allocated), or a receiver that gets one as soon as it is queued.
    pub fn pick_or_wait(
        &self,
        runner: &RunnerInfo,
        now: Millis,
    ) -> Result<Handed, (HeldRequest, oneshot::Receiver<Handed>)> {
        let mut d = self.lock_dispatch();
        let Dispatch { queue, gpus, gpu_requests, .. } = &mut *d;
        let picked =
            queue.pick_where(runner, |j| gpu_requests.get(&j.id).is_none_or(|req| gpus.can_allocate(runner.id, req)));
        if let Some(job) = picked {
            let alloc = match d.gpu_requests.remove(&job.id) {
                None => None,
                // can_allocate said yes under this same lock.
                Some(req) => d.gpus.allocate(runner.id, job.id, &req).ok(),
            };
            return Ok((job, alloc));
        }
        let id = HeldRequest(self.next_waiter.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = oneshot::channel();
        if self.closing.load(Ordering::Relaxed) {
            // Dropping `tx` answers the request at once with "no job".
            return Err((id, rx));
        }
        d.waiters.register(id, runner.clone(), now);
        d.waiter_runner.insert(id, runner.id);
        d.handoff.insert(id, tx);
        Err((id, rx))
    }

    pub fn cached_spec(&self, job: JobId) -> Option<std::sync::Arc<super::spec::JobSpec>> {
        self.specs.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&job).cloned()
    }

    pub fn cache_spec(&self, job: JobId, spec: std::sync::Arc<super::spec::JobSpec>) {
        let mut specs = self.specs.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if specs.len() >= MAX_CACHED_SPECS {
            specs.clear();
        }
        specs.insert(job, spec);
    }

    pub fn hardware(&self, runner: RunnerId) -> Option<super::gpus::Hardware> {
        self.hardware.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&runner).cloned()
    }

    pub fn set_hardware(&self, runner: RunnerId, h: super::gpus::Hardware) {
        self.hardware.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(runner, h);
    }

    /// Whether the server is stopping ([`Runtime::close`] was called).
    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Relaxed)
    }

    /// Answers every held request with "no job" and holds no new ones.
    pub fn close(&self) {
        self.closing.store(true, Ordering::Relaxed);
        let mut d = self.lock_dispatch();
        d.handoff.clear();
        d.waiter_runner.clear();
        d.waiters = Waiters::new();
    }

    /// Answers the held requests of one runner with "no job" (it was deleted: a job handed to
    /// it would only wait for its lease to expire).
    pub fn drop_runner_waiters(&self, runner: RunnerId) {
        let mut d = self.lock_dispatch();
        let held: Vec<HeldRequest> = d.waiter_runner.iter().filter(|(_, r)| **r == runner).map(|(w, _)| *w).collect();
        for w in held {
            d.waiters.unregister(w);
            d.handoff.remove(&w);
            d.waiter_runner.remove(&w);
        }
    }

    /// Ends a hold without a job.
    pub fn stop_waiting(&self, waiter: HeldRequest) {
        let mut d = self.lock_dispatch();
        d.waiters.unregister(waiter);
        d.handoff.remove(&waiter);
        d.waiter_runner.remove(&waiter);
    }

    pub fn last_update(&self) -> String {
        self.lock_dispatch().queue.last_update()
    }

    pub fn queue_len(&self) -> usize {
        self.lock_dispatch().queue.len()
    }

    /// Runner settings changed (paused, tags): every runner must look again. Held requests were
    /// matched with the old settings, so they are answered "no job" now (as Workhorse answers
    /// 204 on a change) and the runners ask again at once.
    pub fn bump(&self) {
        let mut d = self.lock_dispatch();
        d.queue.bump();
        d.handoff.clear();
        d.waiter_runner.clear();
        d.waiters = Waiters::new();
    }

    pub fn waiting(&self) -> usize {
        self.lock_dispatch().waiters.len()
    }

    /// The lock that serialises progression of one pipeline.
    pub fn pipeline_slot(&self, pipeline_id: PipelineId) -> super::tracked::Slot {
        self.pipelines.get(pipeline_id)
    }

    /// The pipelines' views (see `tracked`).
    pub fn pipelines(&self) -> &super::tracked::Slots {
        &self.pipelines
    }
}
