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
        .fallback(git_http::handle)
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::track))
        .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(request_span))
        .layer(tower_http::decompression::RequestDecompressionLayer::new())
        .with_state(state)
}

/// The request's span, as tower-http's default but with the path only: query strings carry
/// secrets (`?private_token=`, the metrics `?token=`).
fn request_span(req: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    tracing::debug_span!("request", method = %req.method(), path = %req.uri().path(), version = ?req.version())
}
