//! Time-driven coordinator work, once a second: runners that stopped reporting lose their jobs
//! (`runner_system_failure`, retried when `retry:` allows), jobs past their timeout are failed
//! by the server itself, and delayed jobs whose time came are queued. At start the queue is
//! rebuilt from the store and running jobs get a full lease (the runners could not report
//! while the server was down). The trace sweeps (`traces`) run from the first tick on: finished
//! jobs whose trace is not archived yet (a crash, a failed put) every minute, a batch a tick
//! while more are left; blobs of deleted projects' traces at start and every hour. At shutdown
//! it waits a while for the archiving started in the background.

use super::process::Changed;
use super::traces::SweepFrom;
use crate::{Result, System};
use autogit_core::ci::{FailureReason, JobStatus};
use autogit_store::JobChange;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the housekeeping pass runs.
pub const TICK: Duration = Duration::from_secs(1);
/// Push records are pruned and retried every this many ticks.
const PUSH_RECORD_TICKS: u64 = 60;
/// A sweep for unarchived traces starts every this many ticks.
const TRACE_SWEEP_TICKS: u64 = 60;
/// Expired browser sessions are deleted every this many ticks (an expired one already
/// authenticates nobody; this only frees its row).
const SESSION_SWEEP_TICKS: u64 = 600;
/// Trace blobs of deleted projects are looked for every this many ticks.
const ORPHAN_TRACE_TICKS: u64 = 3600;

/// How long shutdown waits for background writes (trace archiving) before leaving the rest to
/// the next start's sweep.
const BACKGROUND_WAIT: Duration = Duration::from_secs(10);

impl System<'_> {
    /// Waits, at most [`BACKGROUND_WAIT`], for the writes started in the background, so that a
    /// stopping server finishes what its last jobs began; what is left is swept after the next
    /// start.
    pub async fn finish_background(&self) {
        self.ci.background.close();
        if tokio::time::timeout(BACKGROUND_WAIT, self.ci.background.wait()).await.is_err() {
            tracing::warn!(
                left = self.ci.background.len(),
                "background writes not finished at shutdown; the sweep takes them"
            );
        }
    }

    /// Rebuilds the queue from the store and runs housekeeping until `shutdown`.
    pub async fn run_ci(&self, shutdown: CancellationToken) {
        if let Err(e) = self.rebuild_queue().await {
            tracing::error!(error = %e, "could not rebuild the job queue");
        }
        if let Err(e) = self.renew_leases().await {
            tracing::error!(error = %e, "could not renew the leases of running jobs");
        }
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ticks: u64 = 0;
        // Where the trace sweep goes on next tick; `None` between sweeps.
        let mut trace_sweep: Option<SweepFrom> = None;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.cancelled() => {
                    self.ci.close();
                    self.finish_background().await;
                    return;
                }
            }
            ticks += 1;
            if ticks.is_multiple_of(PUSH_RECORD_TICKS)
                && let Err(e) = self.maintain_push_records().await
            {
                tracing::warn!(error = %e, "push record maintenance failed");
            }
            if let Err(e) = self.housekeeping().await {
                tracing::warn!(error = %e, "CI housekeeping failed");
            }
            trace_sweep = self.trace_sweeps(ticks, trace_sweep).await;
            if ticks.is_multiple_of(SESSION_SWEEP_TICKS)
                && let Err(e) = self.sweep_sessions().await
            {
                tracing::warn!(error = %e, "expired sessions not removed");
            }
        }
    }

    /// Queues every pending job the store holds.
    pub async fn rebuild_queue(&self) -> Result<usize> {
        self.restore_gpus().await?;
        let pending = self.store.pending_jobs(i64::MAX).await?;
        let n = pending.len();
        for job in pending.iter().filter(|j| j.runner_id.is_none()) {
            self.enqueue_job(job);
        }
        Ok(n)
    }

    /// Gives every running job a full lease from now. While this coordinator was down no
    /// runner could report, so silence then says nothing: a runner that kept its job's final
    /// state (or still runs the job) has a lease's time after the start to report it. Returns
    /// how many leases were renewed.
    pub async fn renew_leases(&self) -> Result<usize> {
        let until = self.clock.now() + self.ci.settings.lease_timeout;
        let mut renewed = 0;
        for job in self.store.running_jobs().await? {
            let Some(runner) = job.runner_id else { continue };
            if job.lease_expires_at.is_none_or(|l| l < until) && self.store.extend_lease(job.id, runner, until).await? {
                renewed += 1;
            }
        }
        if renewed > 0 {
            tracing::info!(renewed, "running jobs get a full lease after the start");
        }
        Ok(renewed)
    }

    /// The trace sweeps' share of tick `ticks` (the first is 1): one batch of unarchived traces
    /// while a sweep is under way (`at`), and orphaned blobs now and then. Returns where the
    /// sweep goes on.
    async fn trace_sweeps(&self, ticks: u64, at: Option<SweepFrom>) -> Option<SweepFrom> {
        if (ticks - 1).is_multiple_of(ORPHAN_TRACE_TICKS)
            && let Err(e) = self.remove_orphan_traces().await
        {
            tracing::warn!(error = %e, "orphaned trace blobs not removed");
        }
        let at = at.or(((ticks - 1).is_multiple_of(TRACE_SWEEP_TICKS)).then_some(SweepFrom::default()))?;
        self.archive_traces_after(at).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "trace sweep failed");
            None
        })
    }

    /// One pass; public so that tests can drive it with a fake clock.
    pub async fn housekeeping(&self) -> Result<()> {
        let now = self.clock.now();
        for job in self.store.expired_leases(now).await? {
            tracing::warn!(job = job.id.get(), runner = ?job.runner_id, "runner stopped reporting; failing the job");
            self.fail_job(&job, FailureReason::RunnerSystemFailure, None).await?;
        }
        let grace = chrono::Duration::from_std(self.ci.settings.server_timeout_grace).unwrap_or_default();
        for job in self.store.running_jobs().await? {
            let Some(started) = job.started_at else { continue };
            if started + chrono::Duration::seconds(job.timeout_secs) + grace < now {
                tracing::warn!(job = job.id.get(), "job ran past its timeout; failing it");
                self.fail_job(&job, FailureReason::JobExecutionServerTimeout, None).await?;
            }
        }
        for job in self.store.due_scheduled_jobs(now).await? {
            let moved = self
                .store
                .transition_job(job.id, &[JobStatus::Scheduled], JobStatus::Pending, &JobChange::default(), now)
                .await?;
            if let Some(moved) = moved {
                self.enqueue_job(&moved);
                self.process_jobs(moved.pipeline_id, &[Changed::Id(moved.id)]).await?;
            }
        }
        self.expire_artifacts().await?;
        // Idle object readers (pipeline creation, hand-out) are not kept past their time.
        self.repos.object_pool().evict_idle();
        Ok(())
    }
}
