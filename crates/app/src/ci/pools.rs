//! What the autoscaler needs from the coordinator (ADR 0007): the demand a pool's runners could
//! serve (from the live queue), runner records for new instances (one token each, so that a
//! removed instance's token dies with it), and per-runner activity for idleness decisions.

use super::runners::{CreateRunner, IssuedRunner};
use crate::{App, AppError, Principal, Result};
use autogit_scheduler::queue::RunnerInfo;
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
    pub tags: Vec<String>,
    pub pending_jobs: u32,
    pub instances: Vec<InstanceSnapshot>,
    pub last_error: Option<String>,
    pub scale_ups: u64,
    pub scale_downs: u64,
    /// Provider calls since the last `/metrics` read (drained there into a histogram).
    #[serde(skip)]
    pub calls: Vec<ProviderCall>,
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
    pub runner_id: Option<i64>,
    pub age_seconds: i64,
    pub busy: u32,
    pub jobs_run: u32,
}

/// Shared between the autoscaler loop (writer) and the API (reader).
pub type PoolBoard = Arc<Mutex<Vec<PoolSnapshot>>>;

impl App {
    /// The board the autoscaler writes its view of the pools to.
    pub fn pool_board(&self) -> PoolBoard {
        self.ci.pools.clone()
    }

    /// The pools as the autoscaler last saw them (administrators).
    pub fn pools(&self, who: &Principal) -> Result<Vec<PoolSnapshot>> {
        who.require_admin()?;
        Ok(self.ci.pools.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone())
    }

    /// Pending jobs runners with these tags could take now, and the age of the oldest (ms).
    pub fn pool_demand(&self, tags: &[String], run_untagged: bool) -> (u32, i64) {
        let runner = RunnerInfo {
            id: 0,
            tags: tags.iter().cloned().collect(),
            run_untagged: run_untagged || tags.is_empty(),
            active: true,
            ..RunnerInfo::default()
        };
        let (n, oldest) = self.ci.lock_dispatch().queue.demand_for(&runner);
        let now = self.clock.now().timestamp_millis();
        (u32::try_from(n).unwrap_or(u32::MAX), oldest.map_or(0, |o| (now - o.0).max(0)))
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
        self.create_runner(
            &Principal::trusted(root),
            CreateRunner {
                runner_type: "instance_type".into(),
                description: format!("pool {pool}: {instance}"),
                tags: tags.to_vec(),
                run_untagged: Some(run_untagged || tags.is_empty()),
                ..CreateRunner::default()
            },
        )
        .await
    }

    /// Deletes a pool instance's runner (its token stops working; its jobs stay).
    pub async fn remove_pool_runner(&self, runner_id: i64) -> Result<()> {
        self.ci.lock_dispatch().gpus.remove_runner(runner_id as u64);
        self.ci.drop_runner_waiters(runner_id as u64);
        match self.store.delete_runner(runner_id).await {
            Ok(()) | Err(autogit_store::StoreError::NotFound(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether a runner record exists.
    pub async fn runner_exists(&self, runner_id: i64) -> Result<bool> {
        Ok(self.store.runner_by_id(runner_id).await?.is_some())
    }

    pub async fn runner_activity(&self, runner_id: i64) -> Result<RunnerActivity> {
        let Some(runner) = self.store.runner_by_id(runner_id).await? else { return Ok(RunnerActivity::default()) };
        let busy = self.store.list_runner_jobs(runner_id, &["running"], Page { offset: 0, limit: 0 }).await?.total;
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
