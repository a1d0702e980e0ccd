//! AutoGit's HTTP face: the GitLab API v4 subset under `/api/v4`, git smart HTTP at
//! `/<namespace>/<project>.git/…`, the browser routes (`web`: sign-in, sign-out, sessions), and
//! the operational endpoints (`/-/health`, `/-/readiness`, `/metrics`).
//!
//! API boundary: handlers parse requests, call one `autogit_app::App` use-case and render the
//! result; they hold no policy. `error.rs` is the only place that maps errors to statuses.
//! Serialization lives in `dto.rs`; domain records are never serialized directly.

mod api;
mod auth;
mod conn;
mod dto;
mod error;
mod git_http;
mod metrics;
mod metrics_access;
mod ops;
mod pagination;
mod params;
mod state;
mod web;

pub use conn::{ConnectionSettings, Tls, serve, serve_redirect};
pub use metrics::Metrics;
pub use metrics_access::MetricsAccess;
pub use state::{AppState, HttpConfig};
pub use web::ProxyAuth;

use axum::Router;

/// Builds the whole router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .nest("/api/v4", api::routes())
        .merge(ops::routes())
        .merge(web::routes(state.clone()))
        .fallback(web::fallback(state.clone()))
        .layer(axum::middleware::from_fn_with_state(state.clone(), runner_port_only))
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::track))
        .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(request_span))
        .layer(tower_http::decompression::RequestDecompressionLayer::new())
        .with_state(state)
}

/// Whether a request is a runner's (the runner job API a runner token or job token speaks).
fn is_runner_api(method: &axum::http::Method, path: &str) -> bool {
    use axum::http::Method;
    path.starts_with("/api/v4/jobs/")
        || (path == "/api/v4/runners" && (method == Method::POST || method == Method::DELETE))
        || path == "/api/v4/runners/verify"
        || path == "/api/v4/runners/reset_authentication_token"
}

/// On a listener that refuses the runner API, its requests get `403` with where to go instead.
async fn runner_port_only(
    axum::extract::State(s): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if s.config.refuse_runner_api && is_runner_api(req.method(), req.uri().path()) {
        let body = serde_json::json!({
            "message": "403 Forbidden - runners connect to the runner port with a client certificate (tls.runner_listen)"
        });
        return (axum::http::StatusCode::FORBIDDEN, axum::Json(body)).into_response();
    }
    next.run(req).await
}

/// The request's span, as tower-http's default but with the path only: query strings carry
/// secrets (`?private_token=`, the metrics `?token=`).
fn request_span(req: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    tracing::debug_span!("request", method = %req.method(), path = %req.uri().path(), version = ?req.version())
}
