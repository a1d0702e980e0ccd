//! AutoGit's HTTP face: the GitLab API v4 subset under `/api/v4`, git smart HTTP at
//! `/<namespace>/<project>.git/…`, and the operational endpoints (`/-/health`, `/-/readiness`,
//! `/metrics`).
//!
//! API boundary: handlers parse requests, call one `autogit_app::App` use-case and render the
//! result; they hold no policy. `error.rs` is the only place that maps errors to statuses.
//! Serialization lives in `dto.rs`; domain records are never serialized directly.

mod api;
mod auth;
mod dto;
mod error;
mod git_http;
mod metrics;
mod ops;
mod pagination;
mod params;
mod push_watch;
mod state;

pub use metrics::Metrics;
pub use state::{AppState, HttpConfig};

use axum::Router;
use std::future::Future;
use tokio::net::TcpListener;

/// Builds the whole router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .nest("/api/v4", api::routes())
        .merge(ops::routes())
        .fallback(git_http::handle)
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::track))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .layer(tower_http::decompression::RequestDecompressionLayer::new())
        .with_state(state)
}

/// Serves until `shutdown` resolves, then stops accepting, lets in-flight requests (including
/// streaming git transfers) finish, and waits for their background work (push recording).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    let tasks = state.tasks.clone();
    // Without TCP_NODELAY, small response writes (pkt-line negotiation, the last bytes of a pack)
    // wait for the peer's delayed ACK: ~40 ms per git round trip.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!(error = %e, "could not set TCP_NODELAY");
        }
    });
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown).await?;
    tasks.close();
    tasks.wait().await;
    Ok(())
}
