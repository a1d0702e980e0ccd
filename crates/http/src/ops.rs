//! Operational endpoints: liveness, readiness (database and repository storage checked), metrics
//! (for allowed addresses or the metrics token only).

use crate::state::AppState;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{any, get};
use serde_json::json;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/-/health", get(health))
        .route("/-/liveness", get(health))
        .route("/-/readiness", get(readiness))
        // Other methods answer as an unknown path does: a 405 (with `Allow`) would tell anyone
        // that it exists.
        .route("/metrics", any(metrics))
}

/// The process is up and serving; says nothing about dependencies (that is readiness).
async fn health() -> &'static str {
    "AutoGit OK"
}

async fn readiness(State(s): State<AppState>) -> impl IntoResponse {
    match s.app.system().check_ready().await {
        Ok(()) => (
            StatusCode::OK,
            axum::Json(
                json!({"status": "ok", "database_check": [{"status": "ok"}], "repository_storage_check": [{"status": "ok"}]}),
            ),
        ),
        Err(failed) => {
            let mut body = json!({"status": "failed"});
            for (what, msg) in failed {
                tracing::warn!(check = what, error = %msg, "readiness check failed");
                body[format!("{what}_check")] = json!([{"status": "failed", "message": msg}]);
            }
            (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body))
        }
    }
}

async fn metrics(State(s): State<AppState>, req: Request) -> axum::response::Response {
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        return crate::web::unknown_page();
    }
    // The socket's peer, inserted by the accept loop; never a forwarded-for header.
    let peer = crate::conn::peer_ip(req.extensions());
    if !s.config.metrics_access.permits(peer, req.headers(), req.uri().query()) {
        // The same answer as an unknown page: the endpoint is not advertised.
        return crate::web::unknown_page();
    }
    let (queued, waiting) = s.app.system().ci_gauges();
    s.metrics.ci_queued_jobs.set(i64::try_from(queued).unwrap_or(i64::MAX));
    s.metrics.ci_waiting_requests.set(i64::try_from(waiting).unwrap_or(i64::MAX));
    s.metrics.git_processes_started.set(i64::try_from(autogit_git::processes_started()).unwrap_or(i64::MAX));
    let board = s.app.system().pool_board();
    let pools = {
        let mut b = board.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let snapshot = b.clone();
        // Each provider call is observed once.
        b.iter_mut().for_each(|p| p.calls.clear());
        snapshot
    };
    s.metrics.set_pools(&pools);
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], s.metrics.render())
        .into_response()
}
