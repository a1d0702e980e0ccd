//! `GET /api/v4/admin/ci/pools`: the autoscaled runner pools — instances, their state, age and
//! jobs, pending demand, scale events and the last provider error (`autogit pool list`).

use super::{Caller, Handler};
use crate::state::AppState;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};

pub fn routes() -> Router<AppState> {
    Router::new().route("/admin/ci/pools", get(list))
}

async fn list(State(s): State<AppState>, Caller(who): Caller) -> Handler {
    Ok(Json(s.app.pools(&who)?).into_response())
}
