//! Prometheus metrics: HTTP requests by route and status with a latency histogram, git operations
//! by kind and result, and git bytes moved. Rendered in the text exposition format at `/metrics`.
//!
//! Latency is measured until the response head is produced; for streaming git responses the
//! transfer itself is visible in the byte counters instead.
//!
//! Every label has a bounded set of values, whatever clients send: a series per made-up method or
//! path would let anyone grow the scrape and the server's memory without end. Methods outside
//! the standard ones are `other`; routes are the router's templates, git's three endpoint
//! templates, or `other`; job tag sets (chosen by project members) are capped in number.

use crate::state::AppState;
use autogit_core::repo_path::GitEndpoint;
use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// One of the standard methods, or `other`.
    pub method: &'static str,
    /// A route template, or `other`.
    pub route: String,
    pub status: u16,
}

/// Distinct tag-set label values kept; later new ones are `other`.
const MAX_TAG_SETS: usize = 100;
/// The label value that stands for every value beyond a bound.
const OTHER: &str = "other";

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
    pub git_processes_started: Gauge,
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
    /// Tag sets that have a `ci_queue_wait` series.
    tag_sets: BoundedValues,
}

/// Admits the first `max` distinct values of a label; every later new value reads `other`.
pub struct BoundedValues {
    max: usize,
    seen: Mutex<HashSet<String>>,
}

impl BoundedValues {
    pub fn new(max: usize) -> Self {
        BoundedValues { max, seen: Mutex::default() }
    }

    pub fn label(&self, value: String) -> String {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.contains(&value) || (seen.len() < self.max && seen.insert(value.clone())) {
            value
        } else {
            OTHER.to_string()
        }
    }
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
        let git_processes_started = Gauge::default();
        registry.register(
            "git_processes_started",
            "git processes the server has started (pack services, object readers, listings)",
            git_processes_started.clone(),
        );
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
            git_processes_started,
            pool_instances,
            pool_pending_jobs,
            pool_scale_ups,
            pool_scale_downs,
            pool_failing,
            ci_queue_wait,
            pool_provider_calls,
            tag_sets: BoundedValues::new(MAX_TAG_SETS),
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
        let labels = TagSetLabels { pool: pool.to_string(), tags: self.tag_sets.label(tags.join(",")) };
        self.ci_queue_wait.get_or_create(&labels).observe(seconds.max(0.0));
    }

    pub fn observe_job_pickup(&self, held: std::time::Duration) {
        self.ci_job_request_wait.observe(held.as_secs_f64());
    }

    pub fn git_op(&self, kind: &'static str, ok: bool) {
        self.git_operations.get_or_create(&GitOpLabels { kind, result: if ok { "ok" } else { "error" } }).inc();
    }
}

/// Middleware recording every request, labelled by [`method_label`] and [`route_label`].
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = method_label(req.method());
    let route = route_label(req.extensions().get::<MatchedPath>(), req.uri().path());
    let resp = next.run(req).await;
    let labels = HttpLabels { method, route, status: resp.status().as_u16() };
    state.metrics.http_requests.get_or_create(&labels).inc();
    state.metrics.http_duration.get_or_create(&labels).observe(start.elapsed().as_secs_f64());
    resp
}

/// The standard methods (RFC 9110 and PATCH) as themselves, anything else as `other`.
pub fn method_label(method: &Method) -> &'static str {
    const STANDARD: [Method; 9] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ];
    STANDARD.iter().find(|m| *m == method).map_or(OTHER, Method::as_str)
}

/// The matched route template; for the fallback, the template of the git endpoint the path names,
/// else `other` (unknown paths, invalid repository paths).
pub fn route_label(matched: Option<&MatchedPath>, path: &str) -> String {
    if let Some(m) = matched {
        return m.as_str().to_string();
    }
    let template = match autogit_core::repo_path::parse_git_path(path).map(|g| g.endpoint) {
        Ok(GitEndpoint::InfoRefs) => "/{namespace}/{project}/info/refs",
        Ok(GitEndpoint::UploadPack) => "/{namespace}/{project}/git-upload-pack",
        Ok(GitEndpoint::ReceivePack) => "/{namespace}/{project}/git-receive-pack",
        Err(_) => OTHER,
    };
    template.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_fold_into_the_standard_ones_and_other() {
        for m in ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"] {
            assert_eq!(method_label(&Method::from_bytes(m.as_bytes()).expect("method")), m);
        }
        for m in ["FOO", "get", "PROPFIND", "X1234"] {
            assert_eq!(method_label(&Method::from_bytes(m.as_bytes()).expect("method")), "other", "{m}");
        }
    }

    #[test]
    fn unmatched_paths_fold_into_git_templates_and_other() {
        assert_eq!(route_label(None, "/g/sub/p.git/info/refs"), "/{namespace}/{project}/info/refs");
        assert_eq!(route_label(None, "/g/p/git-upload-pack"), "/{namespace}/{project}/git-upload-pack");
        assert_eq!(route_label(None, "/g/p.git/git-receive-pack"), "/{namespace}/{project}/git-receive-pack");
        for path in ["/", "/nope", "/g/p.git/../../x/info/refs", "/api/v4/made-up-1234", "/g/p.git/HEAD"] {
            assert_eq!(route_label(None, path), "other", "{path}");
        }
    }

    #[test]
    fn bounded_values_keep_the_first_ones() {
        let b = BoundedValues::new(2);
        assert_eq!(b.label("a".into()), "a");
        assert_eq!(b.label("b".into()), "b");
        assert_eq!(b.label("c".into()), "other");
        assert_eq!(b.label("a".into()), "a", "a known value stays itself");
        let m = Metrics::new();
        for i in 0..(MAX_TAG_SETS + 50) {
            m.observe_queue_wait("", &[format!("tag-{i}")], 1.0);
        }
        assert_eq!(m.render().matches("autogit_ci_queue_wait_seconds_count{").count(), MAX_TAG_SETS + 1);
    }
}
