//! Runners: `POST /user/runners` (users create a runner and get its `glrt-` token once),
//! `POST /runners/verify` and `DELETE /runners` (the runner, with its own token, as
//! gitlab-runner calls them), `GET /runners/all` and `GET /runners/:id`.

use super::{Caller, Handler, List, created};
use crate::dto;
use crate::error::ApiError;
use crate::params::Params;
use crate::state::AppState;
use autogit_app::AppError;
use autogit_app::ci::runners::CreateRunner;
use autogit_store::{RunnerFilter, RunnerSeen};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

/// The header gitlab-runner may carry its token in (besides the JSON body).
const RUNNER_TOKEN_HEADER: &str = "runner-token";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/user/runners", post(create))
        .route("/runners/verify", post(verify))
        .route("/runners", axum::routing::delete(unregister))
        .route("/runners/all", get(list))
        .route("/runners/{id}", get(show))
}

async fn create(State(s): State<AppState>, Caller(who): Caller, p: Params) -> Handler {
    let req = CreateRunner {
        runner_type: p.required("runner_type")?,
        group_id: p.i64("group_id")?,
        project_id: p.i64("project_id")?,
        description: p.str("description")?.unwrap_or_default(),
        tags: p.list("tag_list")?,
        run_untagged: p.bool("run_untagged")?,
        locked: p.bool("locked")?.unwrap_or(false),
        paused: p.bool("paused")?.unwrap_or(false),
        access_level: p.str("access_level")?,
        maximum_timeout: p.i64("maximum_timeout")?,
    };
    let issued = s.app.create_runner(&who, req).await?;
    Ok(created(json!({"id": issued.runner.id, "token": issued.token, "token_expires_at": Value::Null})))
}

/// The runner's token: the JSON `token` field (what gitlab-runner sends) or `RUNNER-TOKEN`.
fn runner_token(headers: &HeaderMap, p: &Params) -> Result<String, ApiError> {
    if let Some(t) = p.str("token")?.filter(|t| !t.is_empty()) {
        return Ok(t);
    }
    headers
        .get(RUNNER_TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or(ApiError(AppError::Missing("token")))
}

fn seen(p: &Params) -> RunnerSeen {
    let info = p.0.get("info").cloned().unwrap_or(Value::Null);
    let field = |k: &str| info.get(k).and_then(Value::as_str).filter(|v| !v.is_empty()).map(str::to_string);
    RunnerSeen {
        version: field("version"),
        platform: field("platform"),
        architecture: field("architecture"),
        executor: field("executor"),
    }
}

async fn verify(State(s): State<AppState>, headers: HeaderMap, p: Params) -> Handler {
    let token = runner_token(&headers, &p)?;
    let runner = s.app.verify_runner(&token, &seen(&p)).await?;
    Ok(Json(json!({"id": runner.id, "token": token, "token_expires_at": Value::Null})).into_response())
}

async fn unregister(State(s): State<AppState>, headers: HeaderMap, p: Params) -> Handler {
    let token = runner_token(&headers, &p)?;
    s.app.unregister_runner(&token).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list(State(s): State<AppState>, Caller(who): Caller, list: List) -> Handler {
    let filter = RunnerFilter { tag: list.params.str("tag_list")?, ..RunnerFilter::default() };
    let res = s.app.list_runners(&who, filter, list.page()).await?;
    Ok(list.respond(&s, res.total, res.items.iter().map(dto::runner).collect()))
}

async fn show(State(s): State<AppState>, Caller(who): Caller, Path(id): Path<i64>) -> Handler {
    let r = s.app.get_runner(&who, id).await?;
    Ok(Json(dto::runner(&r)).into_response())
}
