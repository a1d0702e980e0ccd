//! What a pool's loop tells the rest of the server: its counters, provider call timings and
//! recent scaling decisions ([`Stats`]), and the snapshot it publishes on the app's pool board
//! after every step — what `/api/v4/admin/ci/pools`, `/admin/pools` and `/metrics` read.

use super::Pool;
use autogit_app::ci::pools::{InstanceSnapshot, PoolSnapshot, ProviderCall, ScalingDecision};
use autogit_fleet::Instance;
use autogit_scheduler::autoscale::{InstanceView, PoolOffer};

/// Scaling decisions a pool's view keeps.
const KEPT_DECISIONS: usize = 20;

#[derive(Default)]
pub(super) struct Stats {
    pub(super) ups: u64,
    pub(super) downs: u64,
    pub(super) last_error: Option<String>,
    /// The latest decisions acted on, newest first.
    pub(super) decisions: std::collections::VecDeque<ScalingDecision>,
    /// Provider calls not yet handed to the metrics.
    pub(super) calls: Vec<ProviderCall>,
}

impl Stats {
    pub(super) fn decided(&mut self, action: &str, reason: String) {
        let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        self.decisions.push_front(ScalingDecision { at, action: action.into(), reason });
        self.decisions.truncate(KEPT_DECISIONS);
    }

    pub(super) fn timed(&mut self, call: &str, started: std::time::Instant, ok: bool) {
        // Bounded: if nobody reads /metrics, old observations are dropped.
        if self.calls.len() < 10_000 {
            self.calls.push(ProviderCall { call: call.into(), seconds: started.elapsed().as_secs_f64(), ok });
        }
    }
}

impl Pool {
    pub(super) fn publish(&mut self, views: &[InstanceView], instances: &[Instance], pending: u32, offer: PoolOffer) {
        let calls = std::mem::take(&mut self.stats.calls);
        let now = chrono::Utc::now().timestamp_millis();
        let board = self.app.system().pool_board();
        let mut board = board.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let snapshot = PoolSnapshot {
            name: self.cfg.name.clone(),
            provider: self.cfg.provider.to_string(),
            tags: self.all.matchers[self.index].tags().iter().cloned().collect(),
            architecture: self.cfg.effective_architecture(),
            gpu: self.cfg.gpu.as_ref().map(|g| {
                let memory = if g.memory_mib > 0 { format!(" {} MiB", g.memory_mib) } else { String::new() };
                format!("{} × {} {}{memory}", g.count, g.vendor, g.model).replace("  ", " ")
            }),
            pending_jobs: pending,
            free_slots: offer.free_slots,
            can_grow: offer.can_grow,
            instances: views
                .iter()
                .map(|v| InstanceSnapshot {
                    id: v.id.clone(),
                    state: format!("{:?}", v.state).to_lowercase(),
                    runner_id: instances.iter().find(|i| i.id == v.id).and_then(|i| i.runner_id),
                    age_seconds: (now - v.created_at.0) / 1000,
                    busy: v.busy_slots,
                    jobs_run: v.jobs_run,
                })
                .collect(),
            last_error: self.stats.last_error.clone(),
            warnings: self
                .profile_checks
                .iter()
                .filter_map(|(id, why)| why.as_ref().map(|w| format!("{id}: {w}")))
                .collect(),
            scale_ups: self.stats.ups,
            scale_downs: self.stats.downs,
            recent_decisions: self.stats.decisions.iter().cloned().collect(),
            calls: Vec::new(),
        };
        let entry = match board.iter().position(|p| p.name == snapshot.name) {
            Some(i) if views.is_empty() && snapshot.last_error.is_some() => {
                board[i].last_error = snapshot.last_error;
                i
            }
            Some(i) => {
                let pending_calls = std::mem::take(&mut board[i].calls);
                board[i] = snapshot;
                board[i].calls = pending_calls;
                i
            }
            None => {
                board.push(snapshot);
                board.len() - 1
            }
        };
        let room = 10_000usize.saturating_sub(board[entry].calls.len());
        board[entry].calls.extend(calls.into_iter().take(room));
    }
}
