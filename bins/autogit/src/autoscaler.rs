//! The autoscaler loop of `autogit serve` (ADR 0007): for each `[[ci.pools]]` pool, every
//! half second — observe (provider `update`, runner activity from the store, queued demand from
//! the coordinator), decide (the pure `autogit_scheduler::autoscale::decide`), apply (provider
//! `increase`/`decrease`, one runner record and token per instance). Provider errors back off
//! exponentially without blocking the other pools.
//!
//! No orphans: instances carry the pool's label, so after a crash the next start's first
//! `update` finds them; those whose runner record still exists are adopted, the rest deleted.
//! Runner records of instances that no longer exist are deleted too.

mod pool_config;
mod view;

use anyhow::{Context, Result};
use autogit_app::App;
use autogit_app::ci::pool_demand::PoolMatcher;
use autogit_config::{PoolConfig, PoolProvider};
use autogit_fleet::{FleetError, Instance, InstanceGroup, Launch, State};
use autogit_scheduler::Millis;
use autogit_scheduler::autoscale::{Action, InstanceState, InstanceView, PoolOffer, decide};
use pool_config::{plugin_config_json, policy, pool_spec, register_args};
use rand::Rng;
use rand::distr::Alphanumeric;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use view::Stats;

/// How often each pool is looked at when nothing is queued meanwhile (a queued job wakes every
/// pool at once): idle removal, readiness and reconciliation run at this pace.
const TICK: Duration = Duration::from_millis(500);
/// After a job is queued, how long to wait for the rest of its push's jobs before deciding, so
/// that a pipeline of several jobs is one scale-up, not several.
const QUEUE_SETTLE: Duration = Duration::from_millis(20);
/// Steps woken by the queue start at least this long after the previous one, so that a stream
/// of queued jobs does not turn into a stream of provider `update` calls (an ssh one asks every
/// host).
const MIN_STEP_GAP: Duration = Duration::from_millis(100);
/// A runner that took a job this recently is never removed (the hand-off may be in flight).
const JUST_ASSIGNED_MS: i64 = 10_000;
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Starts one loop per pool; await the handles after `shutdown` so that idle instances are
/// removed before the process exits.
pub async fn start(
    app: &App,
    pools: &[PoolConfig],
    data_dir: &Path,
    server_url: &str,
    shutdown: CancellationToken,
) -> Result<Vec<tokio::task::JoinHandle<()>>> {
    let mut loops = Vec::new();
    let bin = std::env::current_exe().context("locating the autogit binary for pool instances")?;
    let all = Arc::new(Fleet {
        names: pools.iter().map(|p| p.name.clone()).collect(),
        matchers: pools.iter().map(|p| PoolMatcher::new(&pool_spec(p))).collect(),
    });
    for (index, cfg) in pools.iter().enumerate() {
        let group: Box<dyn InstanceGroup> = match cfg.provider {
            PoolProvider::Docker => {
                let host = (!cfg.docker_host.is_empty()).then(|| cfg.docker_host.clone());
                Box::new(
                    autogit_fleet::docker::DockerGroup::connect(
                        &cfg.name,
                        cfg.docker_image.clone(),
                        bin.clone(),
                        host,
                        cfg.max_instances as usize,
                    )
                    .await
                    .with_context(|| format!("pool {}: connecting to Docker", cfg.name))?,
                )
            }
            PoolProvider::Ssh => {
                let hosts = cfg
                    .ssh_hosts
                    .iter()
                    .map(|t| {
                        serde_json::to_value(t)
                            .and_then(serde_json::from_value::<autogit_fleet::ssh::SshHost>)
                            .with_context(|| format!("pool {}: an ssh_hosts entry", cfg.name))
                    })
                    .collect::<Result<Vec<_>>>()?;
                Box::new(autogit_fleet::ssh::SshGroup::new(
                    &cfg.name,
                    bin.clone(),
                    data_dir.join("pools").join(&cfg.name),
                    hosts,
                    cfg.ssh_options.clone(),
                ))
            }
            PoolProvider::Plugin => Box::new(autogit_fleet::plugin::PluginGroup::new(
                &cfg.name,
                cfg.plugin_command.clone(),
                plugin_config_json(cfg)?,
                cfg.max_instances as usize,
            )),
            PoolProvider::Process => Box::new(autogit_fleet::process::ProcessGroup::new(
                &cfg.name,
                bin.clone(),
                data_dir.join("pools").join(&cfg.name),
                cfg.max_instances as usize,
            )),
        };
        let info = group.init().await.with_context(|| format!("pool {}: provider init", cfg.name))?;
        tracing::info!(pool = %cfg.name, provider = %info.id, max = info.max_size, "autoscaled pool started");
        let pool = Pool {
            app: app.clone(),
            cfg: cfg.clone(),
            group,
            server_url: server_url.to_string(),
            stats: Stats::default(),
            index,
            all: all.clone(),
            can_suspend: info.can_suspend,
            resumed: std::collections::HashMap::new(),
            profile_checks: std::collections::HashMap::new(),
        };
        loops.push(tokio::spawn(pool.run(shutdown.clone())));
    }
    Ok(loops)
}

struct Pool {
    app: App,
    cfg: PoolConfig,
    group: Box<dyn InstanceGroup>,
    server_url: String,
    stats: Stats,
    /// This pool's position in `all`.
    index: usize,
    all: Arc<Fleet>,
    /// From the provider's `init`.
    can_suspend: bool,
    /// Instance → when its last resume began (Unix ms): the ready deadline counts from then.
    /// Lost on restart, when a resuming instance's deadline falls back to its creation (the
    /// provider's own creation timeout still applies).
    resumed: std::collections::HashMap<String, i64>,
    /// Instance → what its runner's reported GPUs lack against the pool's GPU profile (`None`:
    /// they fit); checked once per instance, when it is first seen ready.
    profile_checks: std::collections::HashMap<String, Option<String>>,
}

/// Every pool, for splitting the demand between them.
struct Fleet {
    names: Vec<String>,
    matchers: Vec<PoolMatcher>,
}

impl Pool {
    async fn run(mut self, shutdown: CancellationToken) {
        let mut backoff = Duration::ZERO;
        let mut queued = self.app.system().queue_watch();
        let mut last_step = tokio::time::Instant::now();
        loop {
            let wait = TICK.max(backoff);
            // While backing off from provider errors, queued jobs do not hurry the next try.
            let hurry = backoff.is_zero();
            tokio::select! {
                _ = tokio::time::sleep_until(last_step + wait) => {}
                Ok(()) = queued.changed(), if hurry => {
                    let settle = tokio::time::Instant::now() + QUEUE_SETTLE;
                    tokio::time::sleep_until(settle.max(last_step + MIN_STEP_GAP)).await;
                    queued.borrow_and_update();
                }
                _ = shutdown.cancelled() => break,
            }
            last_step = tokio::time::Instant::now();
            match self.step().await {
                Ok(()) => {
                    backoff = Duration::ZERO;
                    self.stats.last_error = None;
                }
                Err(e) => {
                    backoff = (backoff * 2).clamp(Duration::from_secs(1), MAX_BACKOFF);
                    tracing::warn!(pool = %self.cfg.name, error = %format!("{e:#}"), retry_in = ?backoff, "autoscaler step failed");
                    self.stats.last_error = Some(format!("{e:#}"));
                    self.publish(&[], &[], 0, PoolOffer::default());
                }
            }
        }
        // Idle instances go with the server (nothing would use them); busy ones finish their
        // jobs and are adopted by the next start.
        if let Err(e) = tokio::time::timeout(Duration::from_secs(15), self.remove_idle()).await {
            tracing::warn!(pool = %self.cfg.name, error = %e, "idle instances not all removed at shutdown");
        }
        let _ = self.group.shutdown().await;
    }

    async fn step(&mut self) -> Result<()> {
        let t = std::time::Instant::now();
        let instances = self.group.update().await;
        self.stats.timed("update", t, instances.is_ok());
        let instances = instances.map_err(fleet)?;
        let now = chrono::Utc::now().timestamp_millis();
        let mut views = Vec::with_capacity(instances.len());
        let mut orphans = Vec::new();
        for i in &instances {
            match self.view(i, now).await? {
                Some(v) => views.push(v),
                None => orphans.push(i.id.clone()),
            }
        }
        if !orphans.is_empty() {
            tracing::warn!(pool = %self.cfg.name, ?orphans, "deleting instances whose runner no longer exists");
            let t = std::time::Instant::now();
            let r = self.group.decrease(&orphans).await;
            self.stats.timed("decrease", t, r.is_ok());
            r.map_err(fleet)?;
        }
        self.check_profiles(&views, &instances).await;
        let own = self.offer(&views);
        let mut offers = self.app.system().pool_offers(&self.all.names);
        offers[self.index] = own;
        let demand = self.app.system().pools_demand(&self.all.matchers, &offers).swap_remove(self.index);
        let pending = demand.pending_jobs;
        let actions = decide(&policy(&self.cfg, self.can_suspend), &demand, &views, Millis(now));
        let mut removed = Vec::new();
        let mut woken = Vec::new();
        let free = offers[self.index].free_slots;
        for a in &actions {
            let state = |id: &str| views.iter().find(|v| v.id == id).map(|v| format!("{:?}", v.state).to_lowercase());
            let (action, reason) = match a {
                Action::Increase(n) => {
                    ("increase", format!("{pending} job(s) waiting, {free} free slot(s): {n} more instance(s)"))
                }
                Action::Remove(id) => ("remove", format!("instance {id} idle past the pool's idle time")),
                Action::Replace(id) => {
                    ("replace", format!("instance {id} {}: replaced", state(id).unwrap_or_else(|| "unusable".into())))
                }
                Action::Suspend(id) => ("suspend", format!("instance {id} idle: put to sleep")),
                Action::Resume(id) => ("resume", format!("{pending} job(s) waiting: instance {id} woken")),
            };
            self.stats.decided(action, reason);
        }
        for a in actions {
            match a {
                Action::Increase(n) => self.increase(n).await?,
                Action::Remove(id) | Action::Replace(id) => {
                    self.remove(&instances, &id).await?;
                    removed.push(id);
                }
                Action::Suspend(id) => self.sleep_or_wake(&id, true).await?,
                Action::Resume(id) => {
                    self.resumed.insert(id.clone(), now);
                    woken.push(id.clone());
                    self.sleep_or_wake(&id, false).await?;
                }
            }
        }
        // Kept while the instance boots again (it was still asleep in this step's views).
        self.resumed.retain(|id, _| {
            woken.contains(id) || views.iter().any(|v| &v.id == id && v.state == InstanceState::Creating)
        });
        // What is left after this step's removals (new instances show from the next update).
        views.retain(|v| !removed.contains(&v.id));
        let offer = self.offer(&views);
        self.publish(&views, &instances, pending, offer);
        Ok(())
    }

    /// Compares the GPUs each newly ready instance reports with the pool's profile, once, and
    /// says so (log and pool view) when they fall short: the plan would count on GPUs that
    /// dispatch cannot hand out there.
    async fn check_profiles(&mut self, views: &[InstanceView], instances: &[Instance]) {
        self.profile_checks.retain(|id, _| views.iter().any(|v| &v.id == id));
        if self.cfg.gpu.is_none() {
            return;
        }
        for v in views.iter().filter(|v| v.state == InstanceState::Running) {
            if self.profile_checks.contains_key(&v.id) {
                continue;
            }
            let Some(runner) = instances.iter().find(|i| i.id == v.id).and_then(|i| i.runner_id) else { continue };
            match self.app.system().profile_shortfall(runner, &self.all.matchers[self.index].spec).await {
                Ok(found) => {
                    if let Some(why) = &found {
                        tracing::warn!(pool = %self.cfg.name, instance = %v.id, runner = runner.get(), "GPU profile not met: {why}");
                    }
                    self.profile_checks.insert(v.id.clone(), found);
                }
                Err(e) => tracing::debug!(pool = %self.cfg.name, instance = %v.id, error = %e, "GPU profile check"),
            }
        }
    }

    /// Free slots on ready instances, and whether it can add capacity (room under
    /// `max_instances`, or a suspended instance to wake).
    fn offer(&self, views: &[InstanceView]) -> PoolOffer {
        let cap = self.cfg.capacity_per_instance.max(1);
        let held = views
            .iter()
            .filter(|v| matches!(v.state, InstanceState::Creating | InstanceState::Running | InstanceState::Suspended));
        let asleep = views.iter().any(|v| v.state == InstanceState::Suspended);
        let free_slots = views
            .iter()
            .filter(|v| v.state == InstanceState::Running)
            .map(|v| cap.saturating_sub(v.busy_slots))
            .fold(0u32, u32::saturating_add);
        PoolOffer { free_slots, can_grow: asleep || held.count() < self.cfg.max_instances as usize }
    }

    /// Suspends (`sleep`) or resumes one instance; its runner record stays either way.
    async fn sleep_or_wake(&mut self, id: &str, sleep: bool) -> Result<()> {
        let call = if sleep { "suspend" } else { "resume" };
        let t = std::time::Instant::now();
        let ids = [id.to_string()];
        let r = if sleep { self.group.suspend(&ids).await } else { self.group.resume(&ids).await };
        self.stats.timed(call, t, r.is_ok());
        let done = r.map_err(fleet)?;
        if done.is_empty() {
            tracing::warn!(pool = %self.cfg.name, instance = id, call, "the provider did not act on the instance");
        } else if sleep {
            self.stats.downs += 1;
            tracing::info!(pool = %self.cfg.name, instance = id, "suspended");
        } else {
            self.stats.ups += 1;
            tracing::info!(pool = %self.cfg.name, instance = id, "resumed");
        }
        Ok(())
    }

    async fn remove_idle(&mut self) {
        let Ok(instances) = self.group.update().await else { return };
        for i in &instances {
            let idle = match i.runner_id {
                Some(r) => self.app.system().runner_activity(r).await.is_ok_and(|a| a.busy == 0),
                None => true,
            };
            if idle && let Err(e) = self.remove(&instances, &i.id).await {
                tracing::warn!(pool = %self.cfg.name, instance = %i.id, error = %format!("{e:#}"), "could not remove");
            }
        }
    }

    /// The policy's view of an instance; `None` for one whose runner record is gone (orphan).
    async fn view(&self, i: &Instance, now: i64) -> Result<Option<InstanceView>> {
        let Some(runner) = i.runner_id else { return Ok(None) };
        if !self.app.system().runner_exists(runner).await? {
            return Ok(None);
        }
        self.app.system().note_pool_runner(runner, &self.cfg.name);
        let act = self.app.system().runner_activity(runner).await?;
        let state = match i.state {
            // A started instance is ready once its runner has called in.
            State::Running if act.contacted => InstanceState::Running,
            State::Running | State::Creating => InstanceState::Creating,
            State::Deleting => InstanceState::Deleting,
            State::Suspended => InstanceState::Suspended,
            State::TimedOut => InstanceState::TimedOut,
        };
        let created_at = self.resumed.get(&i.id).map_or(i.created_at, |r| (*r).max(i.created_at));
        let idle_since =
            (act.busy == 0).then(|| Millis(act.last_finished.map_or(i.created_at, |t| t.timestamp_millis())));
        Ok(Some(InstanceView {
            id: i.id.clone(),
            state,
            created_at: Millis(created_at),
            busy_slots: act.busy,
            jobs_run: act.jobs_run,
            idle_since,
            just_assigned: act.last_started.is_some_and(|t| now - t.timestamp_millis() < JUST_ASSIGNED_MS),
        }))
    }

    async fn increase(&mut self, n: u32) -> Result<()> {
        let mut launches = Vec::new();
        for _ in 0..n {
            let suffix: String = rand::rng().sample_iter(Alphanumeric).take(8).map(char::from).collect();
            let name = format!("{}-{}", self.cfg.name, suffix.to_lowercase());
            let issued = self
                .app
                .system()
                .create_pool_runner(&self.cfg.name, &name, &self.cfg.tags, self.cfg.run_untagged)
                .await?;
            launches.push(Launch {
                name,
                server_url: self.server_url.clone(),
                runner_token: issued.token,
                runner_id: issued.runner.id,
                concurrent: self.cfg.capacity_per_instance.max(1) as usize,
                register_args: register_args(&self.cfg),
            });
        }
        let t = std::time::Instant::now();
        let result = self.group.increase(&launches).await;
        self.stats.timed("increase", t, result.is_ok());
        let started = match result {
            Ok(k) => k,
            Err(e) => {
                self.forget(&launches).await;
                return Err(fleet(e));
            }
        };
        // Launches past `started` were not created: their runner records go.
        self.forget(&launches[started.min(launches.len())..]).await;
        self.stats.ups += started as u64;
        tracing::info!(pool = %self.cfg.name, asked = n, started, "scaled up");
        Ok(())
    }

    async fn forget(&self, launches: &[Launch]) {
        for l in launches {
            let _ = self.app.system().remove_pool_runner(l.runner_id).await;
        }
    }

    async fn remove(&mut self, instances: &[Instance], id: &str) -> Result<()> {
        let t = std::time::Instant::now();
        let r = self.group.decrease(&[id.to_string()]).await;
        self.stats.timed("decrease", t, r.is_ok());
        r.map_err(fleet)?;
        if let Some(runner) = instances.iter().find(|i| i.id == id).and_then(|i| i.runner_id) {
            self.app.system().remove_pool_runner(runner).await?;
        }
        self.stats.downs += 1;
        tracing::info!(pool = %self.cfg.name, instance = id, "scaled down");
        Ok(())
    }
}

fn fleet(e: FleetError) -> anyhow::Error {
    anyhow::anyhow!(e)
}
