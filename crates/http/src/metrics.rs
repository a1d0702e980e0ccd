//! Prometheus metrics: HTTP requests by route and status with a latency histogram, git operations
//! by kind and result, and git bytes moved. Rendered in the text exposition format at `/metrics`.
//!
//! Latency is measured until the response head is produced; for streaming git responses the
//! transfer itself is visible in the byte counters instead.

use crate::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::time::Instant;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GitOpLabels {
    /// `info_refs`, `upload_pack` or `receive_pack`.
    pub kind: &'static str,
    /// `ok` or `error`.
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolStateLabels {
    pub pool: String,
    /// `creating`, `running`, `deleting`, `timedout`, `broken`.
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TagSetLabels {
    /// The pool of the runner that took the job; empty for a runner of no pool.
    pub pool: String,
    /// The job's tags, sorted, comma-separated; empty for untagged jobs.
    pub tags: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProviderCallLabels {
    pub pool: String,
    /// `update`, `increase`, `decrease`.
    pub call: String,
    /// `ok` or `error`.
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabels {
    pub pool: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GitKindLabels {
    pub kind: &'static str,
}

pub struct Metrics {
    registry: Registry,
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_duration: Family<HttpLabels, Histogram>,
    pub git_operations: Family<GitOpLabels, Counter>,
    pub git_bytes_received: Family<GitKindLabels, Counter>,
    pub git_bytes_sent: Family<GitKindLabels, Counter>,
    /// Jobs handed to runners, and how long their `jobs/request` was held before it got one.
    pub ci_job_request_wait: Histogram,
    /// Pending jobs in the coordinator's queue and runner requests held in a long poll; set
    /// when `/metrics` is rendered.
    pub ci_queued_jobs: Gauge,
    pub ci_waiting_requests: Gauge,
    /// Autoscaled pools, set from the autoscaler's board when `/metrics` is rendered: instances
    /// by state, pending jobs the pool could run, scale events and whether the last step failed.
    pub pool_instances: Family<PoolStateLabels, Gauge>,
    pub pool_pending_jobs: Family<PoolLabels, Gauge>,
    pub pool_scale_ups: Family<PoolLabels, Gauge>,
    pub pool_scale_downs: Family<PoolLabels, Gauge>,
    pub pool_failing: Family<PoolLabels, Gauge>,
    /// Time from queued to handed to a runner, by the runner's pool and the job's tag set.
    pub ci_queue_wait: Family<TagSetLabels, Histogram>,
    /// Autoscaler provider calls, by pool, call and result.
    pub pool_provider_calls: Family<ProviderCallLabels, Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("autogit");
        let http_requests = Family::<HttpLabels, Counter>::default();
        let http_duration = Family::<HttpLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        let git_operations = Family::<GitOpLabels, Counter>::default();
        let git_bytes_received = Family::<GitKindLabels, Counter>::default();
        let git_bytes_sent = Family::<GitKindLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests by method, route and status", http_requests.clone());
        registry.register("http_request_duration_seconds", "Time to produce the response head", http_duration.clone());
        registry.register("git_operations", "git smart-HTTP operations by kind and result", git_operations.clone());
        registry.register(
            "git_received_bytes",
            "Request body bytes received by git operations",
            git_bytes_received.clone(),
        );
        registry.register("git_sent_bytes", "Response body bytes sent by git operations", git_bytes_sent.clone());
        let ci_job_request_wait = Histogram::new(exponential_buckets(0.0005, 2.0, 18));
        let ci_queued_jobs = Gauge::default();
        let ci_waiting_requests = Gauge::default();
        registry.register(
            "ci_job_request_wait_seconds",
            "Time a jobs/request that got a job was held before the job was handed over",
            ci_job_request_wait.clone(),
        );
        registry.register("ci_queued_jobs", "Pending jobs waiting for a runner", ci_queued_jobs.clone());
        registry.register(
            "ci_waiting_requests",
            "Runner job requests held in a long poll",
            ci_waiting_requests.clone(),
        );
        let pool_instances = Family::<PoolStateLabels, Gauge>::default();
        let pool_pending_jobs = Family::<PoolLabels, Gauge>::default();
        let pool_scale_ups = Family::<PoolLabels, Gauge>::default();
        let pool_scale_downs = Family::<PoolLabels, Gauge>::default();
        let pool_failing = Family::<PoolLabels, Gauge>::default();
        registry.register("pool_instances", "Runner instances of an autoscaled pool by state", pool_instances.clone());
        registry.register("pool_pending_jobs", "Queued jobs an autoscaled pool could run", pool_pending_jobs.clone());
        registry.register(
            "pool_scale_ups",
            "Instances started by the autoscaler since the server started",
            pool_scale_ups.clone(),
        );
        registry.register(
            "pool_scale_downs",
            "Instances removed by the autoscaler since the server started",
            pool_scale_downs.clone(),
        );
        registry.register("pool_failing", "1 when the pool's last autoscaler step failed", pool_failing.clone());
        let ci_queue_wait = Family::<TagSetLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 22))
        });
        let pool_provider_calls = Family::<ProviderCallLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 18))
        });
        registry.register(
            "ci_queue_wait_seconds",
            "Time from queued to handed to a runner, by the runner's pool and the job's tag set",
            ci_queue_wait.clone(),
        );
        registry.register(
            "pool_provider_call_seconds",
            "Autoscaler provider call latency by pool, call and result",
            pool_provider_calls.clone(),
        );
        Metrics {
            registry,
            http_requests,
            http_duration,
            git_operations,
            git_bytes_received,
            git_bytes_sent,
            ci_job_request_wait,
            ci_queued_jobs,
            ci_waiting_requests,
            pool_instances,
            pool_pending_jobs,
            pool_scale_ups,
            pool_scale_downs,
            pool_failing,
            ci_queue_wait,
            pool_provider_calls,
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "metrics encoding failed");
        }
        out
    }

    /// Copies the autoscaler's view of its pools into the gauges.
    pub fn set_pools(&self, pools: &[autogit_app::ci::pools::PoolSnapshot]) {
        self.pool_instances.clear();
        for p in pools {
            let pool = PoolLabels { pool: p.name.clone() };
            for state in ["creating", "running", "deleting", "suspended", "timedout", "broken"] {
                let n = p.instances.iter().filter(|i| i.state == state).count();
                self.pool_instances
                    .get_or_create(&PoolStateLabels { pool: p.name.clone(), state: state.into() })
                    .set(i64::try_from(n).unwrap_or(i64::MAX));
            }
            self.pool_pending_jobs.get_or_create(&pool).set(i64::from(p.pending_jobs));
            self.pool_scale_ups.get_or_create(&pool).set(i64::try_from(p.scale_ups).unwrap_or(i64::MAX));
            self.pool_scale_downs.get_or_create(&pool).set(i64::try_from(p.scale_downs).unwrap_or(i64::MAX));
            self.pool_failing.get_or_create(&pool).set(i64::from(p.last_error.is_some()));
            for c in &p.calls {
                let labels = ProviderCallLabels {
                    pool: p.name.clone(),
                    call: c.call.clone(),
                    result: if c.ok { "ok".into() } else { "error".into() },
                };
                self.pool_provider_calls.get_or_create(&labels).observe(c.seconds);
            }
        }
    }

    pub fn observe_queue_wait(&self, pool: &str, tags: &[String], seconds: f64) {
        let mut tags = tags.to_vec();
        tags.sort();
        let labels = TagSetLabels { pool: pool.to_string(), tags: tags.join(",") };
        self.ci_queue_wait.get_or_create(&labels).observe(seconds.max(0.0));
    }

    pub fn observe_job_pickup(&self, held: std::time::Duration) {
        self.ci_job_request_wait.observe(held.as_secs_f64());
    }

    pub fn git_op(&self, kind: &'static str, ok: bool) {
        self.git_operations.get_or_create(&GitOpLabels { kind, result: if ok { "ok" } else { "error" } }).inc();
    }
}

/// Middleware recording every request. The route label is the matched route template (bounded
/// cardinality); unmatched paths are labelled `git` when they are git URLs and `other` otherwise.
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().as_str().to_string();
    let route = match req.extensions().get::<MatchedPath>() {
        Some(m) => m.as_str().to_string(),
        None if autogit_core::repo_path::parse_git_path(req.uri().path()).is_ok() => "git".to_string(),
        None => "other".to_string(),
    };
    let resp = next.run(req).await;
    let labels = HttpLabels { method, route, status: resp.status().as_u16() };
    state.metrics.http_requests.get_or_create(&labels).inc();
    state.metrics.http_duration.get_or_create(&labels).observe(start.elapsed().as_secs_f64());
    resp
}
