//! What the autoscaler needs from the coordinator (ADR 0007): the demand a pool's runners could
//! serve (from the live queue), runner records for new instances (one token each, so that a
//! removed instance's token dies with it), and per-runner activity for idleness decisions.

use super::runners::{CreateRunner, IssuedRunner};
use crate::{App, AppError, Principal, Result, System};
use autogit_core::RunnerId;
use autogit_core::ci::JobStatus;
use autogit_store::Page;
use chrono::{DateTime, Utc};
use std::sync::{Arc, Mutex};

/// Activity of one runner, as the autoscaler weighs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunnerActivity {
    /// Jobs running on it now.
    pub busy: u32,
    /// Jobs it ever took.
    pub jobs_run: u32,
    /// When its last job ended; `None` if it never ran one or is busy.
    pub last_finished: Option<DateTime<Utc>>,
    /// When it last took a job.
    pub last_started: Option<DateTime<Utc>>,
    /// Whether it has contacted the coordinator yet (registered and polling: ready).
    pub contacted: bool,
}

/// A pool as the autoscaler last saw it, for the API and `autogit pool list`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PoolSnapshot {
    pub name: String,
    pub provider: String,
    /// The tags its runners match with: configured, plus the architecture and GPU tags.
    pub tags: Vec<String>,
    pub architecture: String,
    /// Per instance, e.g. `2 × nvidia NVIDIA A10 24000 MiB`; `None` without a GPU profile.
    pub gpu: Option<String>,
    /// Pending jobs counted toward this pool (each job counts toward one pool only).
    pub pending_jobs: u32,
    /// Job slots free on its ready instances.
    pub free_slots: u32,
    /// Whether it is below `max_instances`.
    pub can_grow: bool,
    pub instances: Vec<InstanceSnapshot>,
    pub last_error: Option<String>,
    /// Instances whose reported hardware falls short of the pool's GPU profile, and why.
    pub warnings: Vec<String>,
    pub scale_ups: u64,
    pub scale_downs: u64,
    /// The pool's latest scaling decisions, newest first (a bounded number).
    pub recent_decisions: Vec<ScalingDecision>,
    /// Provider calls since the last `/metrics` read (drained there into a histogram).
    #[serde(skip)]
    pub calls: Vec<ProviderCall>,
}

/// One scaling decision the autoscaler acted on, with its reason in words.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ScalingDecision {
    /// RFC 3339.
    pub at: String,
    /// `increase`, `remove`, `replace`, `suspend` or `resume`.
    pub action: String,
    /// What was decided and why, e.g. `3 jobs waiting and 0 free slots: 2 more instances`.
    pub reason: String,
}

/// One timed provider call.
#[derive(Debug, Clone, Default)]
pub struct ProviderCall {
    pub call: String,
    pub seconds: f64,
    pub ok: bool,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct InstanceSnapshot {
    pub id: String,
    pub state: String,
    pub runner_id: Option<RunnerId>,
    pub age_seconds: i64,
    pub busy: u32,
    pub jobs_run: u32,
}

/// Shared between the autoscaler loop (writer) and the API (reader).
pub type PoolBoard = Arc<Mutex<Vec<PoolSnapshot>>>;

impl App {
    /// The pools as the autoscaler last saw them (administrators).
    pub fn pools(&self, who: &Principal) -> Result<Vec<PoolSnapshot>> {
        who.require_admin()?;
        Ok(self.ci.pools.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone())
    }

    fn pool_runners(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<RunnerId, String>> {
        self.ci.pool_runners.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl System<'_> {
    /// The board the autoscaler writes its view of the pools to.
    pub fn pool_board(&self) -> PoolBoard {
        self.ci.pools.clone()
    }

    /// What each pool offers the queue, as last published (index = position in `names`);
    /// a pool not yet published offers nothing and may grow.
    pub fn pool_offers(&self, names: &[String]) -> Vec<autogit_scheduler::autoscale::PoolOffer> {
        let board = self.ci.pools.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        names
            .iter()
            .map(|n| match board.iter().find(|p| &p.name == n) {
                Some(p) => autogit_scheduler::autoscale::PoolOffer { free_slots: p.free_slots, can_grow: p.can_grow },
                None => autogit_scheduler::autoscale::PoolOffer { free_slots: 0, can_grow: true },
            })
            .collect()
    }

    /// The pool whose instance runs as this runner, if any (for metrics by pool).
    pub fn pool_of_runner(&self, runner_id: RunnerId) -> Option<String> {
        self.pool_runners().get(&runner_id).cloned()
    }

    /// Records that this runner is an instance of `pool` (new instances are recorded when
    /// created; the autoscaler calls this for the ones it adopts after a restart).
    pub fn note_pool_runner(&self, runner_id: RunnerId, pool: &str) {
        self.pool_runners().entry(runner_id).or_insert_with(|| pool.to_string());
    }

    /// Changes whenever a job is queued: the autoscaler wakes on it instead of waiting for its
    /// next tick, which takes the tick out of the scale-from-zero latency.
    pub fn queue_watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.ci.queued.subscribe()
    }

    /// A runner record for a new pool instance, created as the first administrator (pools are
    /// server configuration, not a user's action).
    pub async fn create_pool_runner(
        &self,
        pool: &str,
        instance: &str,
        tags: &[String],
        run_untagged: bool,
    ) -> Result<IssuedRunner> {
        let root = self.user_by_username("root").await?;
        if !root.is_admin {
            return Err(AppError::Forbidden(Some("the pool runner owner must be an administrator".into())));
        }
        let issued = self
            .create_runner(
                &Principal::trusted(root),
                CreateRunner {
                    runner_type: "instance_type".into(),
                    description: format!("pool {pool}: {instance}"),
                    tags: tags.to_vec(),
                    run_untagged: Some(run_untagged || tags.is_empty()),
                    ..CreateRunner::default()
                },
            )
            .await?;
        self.note_pool_runner(issued.runner.id, pool);
        Ok(issued)
    }

    /// Deletes a pool instance's runner (its token stops working; its jobs stay).
    pub async fn remove_pool_runner(&self, runner_id: RunnerId) -> Result<()> {
        self.pool_runners().remove(&runner_id);
        self.ci.contacts.forget(runner_id);
        self.ci.lock_dispatch().gpus.remove_runner(runner_id);
        self.ci.drop_runner_waiters(runner_id);
        match self.store.delete_runner(runner_id).await {
            Ok(()) | Err(autogit_store::StoreError::NotFound(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether a runner record exists.
    pub async fn runner_exists(&self, runner_id: RunnerId) -> Result<bool> {
        Ok(self.store.runner_by_id(runner_id).await?.is_some())
    }

    pub async fn runner_activity(&self, runner_id: RunnerId) -> Result<RunnerActivity> {
        let Some(runner) = self.store.runner_by_id(runner_id).await? else { return Ok(RunnerActivity::default()) };
        let busy =
            self.store.list_runner_jobs(runner_id, &[JobStatus::Running], Page { offset: 0, limit: 0 }).await?.total;
        let recent = self.store.list_runner_jobs(runner_id, &[], Page { offset: 0, limit: 1 }).await?;
        let last = recent.items.first();
        Ok(RunnerActivity {
            busy: u32::try_from(busy).unwrap_or(u32::MAX),
            jobs_run: u32::try_from(recent.total).unwrap_or(u32::MAX),
            last_finished: if busy == 0 { last.and_then(|j| j.finished_at) } else { None },
            last_started: last.and_then(|j| j.started_at),
            contacted: runner.contacted_at.is_some(),
        })
    }
}
