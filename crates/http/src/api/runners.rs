//! Runners: `POST /user/runners` (users create a runner and get its `glrt-` token once),
//! `POST /runners` (legacy registration with the server's registration token),
//! `POST /runners/verify` and `DELETE /runners` (the runner, with its own token, as
//! gitlab-runner calls them), and for users `GET /runners` (those they maintain),
//! `GET /runners/all` (administrators), `GET|PUT /runners/:id` and `GET /runners/:id/jobs`.

use super::{Caller, Handler, List, created};
use crate::dto;
use crate::error::ApiError;
use crate::params::Params;
use crate::state::AppState;
use autogit_app::ci::runners::{CreateRunner, UpdateRunner};
use autogit_app::store::{RunnerFilter, RunnerSeen};
use autogit_app::{AppError, RunnerJob};
use autogit_core::{NamespaceId, ProjectId, RunnerId};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use serde_json::{Value, json};

/// The header gitlab-runner may carry its token in (besides the JSON body).
const RUNNER_TOKEN_HEADER: &str = "runner-token";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/user/runners", post(create))
        .route("/runners/verify", post(verify))
        .route("/runners", get(list_mine).post(register).delete(unregister))
        .route("/runners/all", get(list))
        .route("/runners/{id}", get(show).put(update))
        .route("/runners/{id}/jobs", get(jobs))
}

async fn create(State(s): State<AppState>, Caller(who): Caller, p: Params) -> Handler {
    let req = CreateRunner {
        runner_type: p.required("runner_type")?,
        group_id: p.id("group_id", NamespaceId::new)?,
        project_id: p.id("project_id", ProjectId::new)?,
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
    let runner = s.app.system().verify_runner(&token, &seen(&p)).await?;
    note_hardware(&s, &runner, &p).await?;
    Ok(Json(json!({"id": runner.id, "token": token, "token_expires_at": Value::Null})).into_response())
}

/// The hardware an AutoGit runner reports in `info` (GPU inventory, architectures) is taken in at
/// registration too, so the fleet view is complete before the first job request.
async fn note_hardware(s: &AppState, runner: &autogit_app::store::Runner, p: &Params) -> Result<(), ApiError> {
    let info = p.0.get("info").cloned().and_then(|v| serde_json::from_value::<autogit_protocol::RunnerInfo>(v).ok());
    if let Some(info) = info {
        s.app.system().note_hardware(runner, &info).await?;
    }
    Ok(())
}

async fn unregister(State(s): State<AppState>, headers: HeaderMap, p: Params) -> Handler {
    let token = runner_token(&headers, &p)?;
    s.app.system().unregister_runner(&token).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `paused`, or the deprecated `active` (its opposite); not both.
fn paused(p: &Params) -> Result<Option<bool>, ApiError> {
    match (p.bool("paused")?, p.bool("active")?) {
        (Some(_), Some(_)) => Err(ApiError(AppError::Invalid("paused", "and active are mutually exclusive".into()))),
        (paused, active) => Ok(paused.or(active.map(|a| !a))),
    }
}

/// Legacy registration: `token` is the server's registration token (research §1.3).
async fn register(State(s): State<AppState>, headers: HeaderMap, p: Params) -> Handler {
    let token = runner_token(&headers, &p)?;
    let req = CreateRunner {
        runner_type: "instance_type".into(),
        description: p.str("description")?.unwrap_or_default(),
        tags: p.list("tag_list")?,
        run_untagged: p.bool("run_untagged")?,
        locked: p.bool("locked")?.unwrap_or(false),
        paused: paused(&p)?.unwrap_or(false),
        access_level: p.str("access_level")?.filter(|a| !a.is_empty()),
        maximum_timeout: p.i64("maximum_timeout")?,
        ..CreateRunner::default()
    };
    let issued = s.app.system().register_runner(&token, req, &seen(&p)).await?;
    note_hardware(&s, &issued.runner, &p).await?;
    Ok(created(json!({"id": issued.runner.id, "token": issued.token, "token_expires_at": Value::Null})))
}

fn filter(list: &List) -> Result<RunnerFilter, ApiError> {
    let p = &list.params;
    let tag = p.list("tag_list")?;
    if tag.len() > 1 {
        return Err(ApiError(AppError::Invalid("tag_list", "filters by one tag".into())));
    }
    Ok(RunnerFilter { tag: tag.into_iter().next(), paused: paused(p)?, ..RunnerFilter::default() })
}

async fn list(State(s): State<AppState>, Caller(who): Caller, list: List) -> Handler {
    let kind = list.params.str("type")?.filter(|t| !t.is_empty());
    let res = s.app.list_runners(&who, kind.as_deref(), filter(&list)?, list.page()).await?;
    Ok(list.respond(&s, res.total, dto::runners(&res.items, Utc::now())))
}

async fn list_mine(State(s): State<AppState>, Caller(who): Caller, list: List) -> Handler {
    let kind = list.params.str("type")?.filter(|t| !t.is_empty());
    let res = s.app.list_visible_runners(&who, kind.as_deref(), filter(&list)?, list.page()).await?;
    Ok(list.respond(&s, res.total, dto::runners(&res.items, Utc::now())))
}

async fn show(State(s): State<AppState>, Caller(who): Caller, Path(id): Path<RunnerId>) -> Handler {
    let r = s.app.get_runner(&who, id).await?;
    let mut v = dto::runner(&r, Utc::now());
    // What the runner last reported about its hardware: its GPUs (the `autogit gpu detect --json`
    // inventory) and the architectures it runs.
    let hw = s.app.system().runner_hardware(r.id).await?;
    if let Some(o) = v.as_object_mut() {
        let inventory = hw.as_ref().and_then(|h| serde_json::from_str::<Value>(&h.inventory).ok());
        o.insert("gpus".into(), inventory.map_or(Value::Array(Vec::new()), |i| i["gpus"].clone()));
        o.insert("architectures".into(), json!(hw.map(|h| h.architectures).unwrap_or_default()));
    }
    Ok(Json(v).into_response())
}

async fn update(State(s): State<AppState>, Caller(who): Caller, Path(id): Path<RunnerId>, p: Params) -> Handler {
    let maximum_timeout = match p.0.get("maximum_timeout") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(_) => Some(p.i64("maximum_timeout")?),
    };
    let req = UpdateRunner {
        description: p.str("description")?,
        paused: paused(&p)?,
        tags: if p.0.contains_key("tag_list") { Some(p.list("tag_list")?) } else { None },
        run_untagged: p.bool("run_untagged")?,
        locked: p.bool("locked")?,
        access_level: p.str("access_level")?,
        maximum_timeout,
    };
    let r = s.app.update_runner(&who, id, req).await?;
    Ok(Json(dto::runner(&r, Utc::now())).into_response())
}

/// The jobs a runner took, each with its project (as GitLab's runner jobs list shows it).
async fn jobs(State(s): State<AppState>, Caller(who): Caller, Path(id): Path<RunnerId>, list: List) -> Handler {
    let statuses = list.params.words("status")?;
    let res = s.app.runner_jobs_with_context(&who, id, &statuses, list.page()).await?;
    let base = &s.config.external_url;
    let mut items = Vec::with_capacity(res.items.len());
    for RunnerJob { job: j, project, pipeline } in &res.items {
        let artifacts = s.app.system().artifacts_of(j.id).await?;
        let mut v = dto::job(base, project, pipeline, j, &artifacts);
        v["project"] = json!({
            "id": project.id,
            "name": project.name,
            "path": project.path,
            "path_with_namespace": project.full_path,
            "ci_job_token_scope_enabled": true,
        });
        items.push(v);
    }
    Ok(list.respond(&s, res.total, items))
}
