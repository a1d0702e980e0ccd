//! Pipelines and jobs for users: `/projects/:id/pipelines…`, `/projects/:id/pipeline`,
//! `/projects/:id/jobs…` (list, show, trace, play, cancel, retry, artifacts).

use super::{Caller, Handler, List, created};
use crate::dto;
use crate::error::{ApiError, bad_param};
use crate::params::Params;
use crate::state::AppState;
use autogit_app::store::{Job, Pipeline, PipelineFilter, Project};
use autogit_app::{AppError, Principal};
use autogit_core::ci::JobStatus;
use autogit_core::{JobId, PipelineId};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::Value;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/projects/{id}/pipelines", get(list))
        .route("/projects/{id}/pipeline", post(create))
        .route("/projects/{id}/pipelines/{pid}", get(show))
        .route("/projects/{id}/pipelines/{pid}/cancel", post(cancel))
        .route("/projects/{id}/pipelines/{pid}/retry", post(retry))
        .route("/projects/{id}/pipelines/{pid}/jobs", get(pipeline_jobs))
        .route("/projects/{id}/jobs", get(project_jobs))
        .route("/projects/{id}/jobs/{jid}", get(show_job))
        .route("/projects/{id}/jobs/{jid}/trace", get(trace))
        .route("/projects/{id}/jobs/{jid}/play", post(play))
        .route("/projects/{id}/jobs/{jid}/cancel", post(cancel_job))
        .route("/projects/{id}/jobs/{jid}/retry", post(retry_job))
        .route("/projects/{id}/jobs/{jid}/artifacts", get(artifacts))
        .route("/projects/{id}/jobs/{jid}/artifacts/{*artifact_path}", get(artifact_file))
}

async fn render_pipeline(s: &AppState, who: &Principal, project: &Project, p: &Pipeline) -> Value {
    let base = &s.config.external_url;
    let user = match p.user_id {
        Some(id) => s.app.get_user(who, id).await.ok().map(|u| dto::user_basic(base, &u)),
        None => None,
    };
    dto::pipeline(base, project, p, user)
}

async fn render_job(
    s: &AppState,
    who: &Principal,
    project: &Project,
    pipeline: Option<&Pipeline>,
    j: &Job,
) -> Result<Value, ApiError> {
    let fetched;
    let pipeline = match pipeline {
        Some(p) => p,
        None => {
            fetched = s.app.job_pipelines(who, project, std::slice::from_ref(j)).await?;
            fetched.get(&j.pipeline_id).ok_or(AppError::NotFound("Pipeline"))?
        }
    };
    let artifacts = s.app.system().artifacts_of(j.id).await?;
    let mut v = dto::job(&s.config.external_url, project, pipeline, j, &artifacts);
    if artifacts.iter().any(|a| a.file_type == autogit_app::ci::artifacts::GPU_USAGE_TYPE)
        && let (Some(usage), Some(o)) = (s.app.system().gpu_usage_of(j.id).await?, v.as_object_mut())
    {
        o.insert("gpu_usage".into(), usage);
    }
    if let (Some(o), Some(req)) = (v.as_object_mut(), s.app.system().gpu_request_text(j)) {
        o.insert("gpu_request".into(), Value::String(req));
        // A pending job no runner could ever run says so instead of waiting silently.
        o.insert("pending_reason".into(), s.app.system().gpu_pending_reason(j).map_or(Value::Null, Value::String));
    }
    Ok(v)
}

async fn list(State(s): State<AppState>, Caller(who): Caller, Path(id): Path<String>, list: List) -> Handler {
    let p = &list.params;
    let filter = PipelineFilter { ref_name: p.str("ref")?, status: p.word("status")?, sha: p.str("sha")? };
    let res = s.app.list_pipelines(&who, &id, &filter, list.page()).await?;
    let (project, _) = s.app.get_project(&who, &id, autogit_core::access::Action::View).await?;
    let items = res.items.iter().map(|pl| dto::pipeline_basic(&s.config.external_url, &project, pl)).collect();
    Ok(list.respond(&s, res.total, items))
}

/// Pipeline variables: a JSON array of `{key, value}` (what python-gitlab and curl send).
fn variables(p: &Params) -> Result<Vec<(String, String)>, ApiError> {
    match p.0.get("variables") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                let key = v.get("key").and_then(Value::as_str).filter(|k| !k.is_empty());
                let value = v.get("value").map(|x| x.as_str().map(str::to_string).unwrap_or_else(|| x.to_string()));
                match (key, value) {
                    (Some(k), Some(v)) => Ok((k.to_string(), v)),
                    _ => Err(bad_param("variables", "each entry needs a key and a value")),
                }
            })
            .collect(),
        Some(_) => Err(bad_param("variables", "must be an array of {key, value}")),
    }
}

async fn create(State(s): State<AppState>, Caller(who): Caller, Path(id): Path<String>, p: Params) -> Handler {
    let ref_name = p.required("ref")?;
    let vars = variables(&p)?;
    let pipeline = s.app.run_pipeline(&who, &id, &ref_name, vars).await?;
    let (project, _) = s.app.get_project(&who, &id, autogit_core::access::Action::View).await?;
    Ok(created(render_pipeline(&s, &who, &project, &pipeline).await))
}

async fn show(State(s): State<AppState>, Caller(who): Caller, Path((id, pid)): Path<(String, PipelineId)>) -> Handler {
    let (project, p) = s.app.get_pipeline(&who, &id, pid).await?;
    Ok(Json(render_pipeline(&s, &who, &project, &p).await).into_response())
}

async fn cancel(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((id, pid)): Path<(String, PipelineId)>,
) -> Handler {
    let p = s.app.cancel_pipeline(&who, &id, pid).await?;
    let (project, _) = s.app.get_pipeline(&who, &id, pid).await?;
    Ok(Json(render_pipeline(&s, &who, &project, &p).await).into_response())
}

async fn retry(State(s): State<AppState>, Caller(who): Caller, Path((id, pid)): Path<(String, PipelineId)>) -> Handler {
    let p = s.app.retry_pipeline(&who, &id, pid).await?;
    let (project, _) = s.app.get_pipeline(&who, &id, pid).await?;
    Ok(created(render_pipeline(&s, &who, &project, &p).await))
}

/// GitLab's `scope[]` filter: job statuses.
fn scopes(p: &Params) -> Result<Vec<JobStatus>, ApiError> {
    p.words("scope")
}

async fn pipeline_jobs(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((id, pid)): Path<(String, PipelineId)>,
    list: List,
) -> Handler {
    let include_retried = list.params.bool("include_retried")?.unwrap_or(false);
    let scope = scopes(&list.params)?;
    let (project, pipeline, mut jobs) = s.app.pipeline_jobs(&who, &id, pid, include_retried).await?;
    if !scope.is_empty() {
        jobs.retain(|j| scope.contains(&j.status));
    }
    let mut rendered = Vec::with_capacity(jobs.len());
    for j in &jobs {
        rendered.push(render_job(&s, &who, &project, Some(&pipeline), j).await?);
    }
    Ok(list.respond_all(&s, rendered, Clone::clone))
}

async fn project_jobs(State(s): State<AppState>, Caller(who): Caller, Path(id): Path<String>, list: List) -> Handler {
    let scope = scopes(&list.params)?;
    let (project, res) = s.app.project_jobs(&who, &id, &scope, list.page()).await?;
    let pipelines = s.app.job_pipelines(&who, &project, &res.items).await?;
    let mut items = Vec::with_capacity(res.items.len());
    for j in &res.items {
        items.push(render_job(&s, &who, &project, pipelines.get(&j.pipeline_id), j).await?);
    }
    Ok(list.respond(&s, res.total, items))
}

async fn job_response(s: &AppState, who: &Principal, id: &str, job: Job, status: axum::http::StatusCode) -> Handler {
    let (project, _) = s.app.get_project(who, id, autogit_core::access::Action::View).await?;
    Ok((status, Json(render_job(s, who, &project, None, &job).await?)).into_response())
}

async fn show_job(State(s): State<AppState>, Caller(who): Caller, Path((id, jid)): Path<(String, JobId)>) -> Handler {
    let (project, job) = s.app.get_job(&who, &id, jid).await?;
    Ok(Json(render_job(&s, &who, &project, None, &job).await?).into_response())
}

/// The log streams out of wherever the app reads it (the store while the job runs, its blob
/// once archived); the length is known up front.
async fn trace(State(s): State<AppState>, Caller(who): Caller, Path((id, jid)): Path<(String, JobId)>) -> Handler {
    let trace = s.app.job_trace(&who, &id, jid).await?;
    let headers = [
        (header::CONTENT_TYPE, "text/plain; charset=utf-8".to_string()),
        (header::CONTENT_LENGTH, trace.size.to_string()),
    ];
    Ok((headers, axum::body::Body::from_stream(trace.body)).into_response())
}

async fn play(State(s): State<AppState>, Caller(who): Caller, Path((id, jid)): Path<(String, JobId)>) -> Handler {
    let job = s.app.play_job(&who, &id, jid).await?;
    job_response(&s, &who, &id, job, axum::http::StatusCode::OK).await
}

async fn cancel_job(State(s): State<AppState>, Caller(who): Caller, Path((id, jid)): Path<(String, JobId)>) -> Handler {
    let job = s.app.cancel_job(&who, &id, jid).await?;
    job_response(&s, &who, &id, job, axum::http::StatusCode::CREATED).await
}

async fn retry_job(State(s): State<AppState>, Caller(who): Caller, Path((id, jid)): Path<(String, JobId)>) -> Handler {
    let job = s.app.retry_job_by(&who, &id, jid).await?;
    job_response(&s, &who, &id, job, axum::http::StatusCode::CREATED).await
}

async fn artifacts(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((id, jid)): Path<(String, JobId)>,
    headers: axum::http::HeaderMap,
) -> Handler {
    let download = s.app.job_artifacts(&who, &id, jid, super::artifact_download::range_of(&headers)).await?;
    Ok(super::artifact_download::respond(download))
}

/// `GET /projects/:id/jobs/:job_id/artifacts/*artifact_path`: one file of the archive.
async fn artifact_file(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((id, jid, path)): Path<(String, JobId, String)>,
) -> Handler {
    let file = s.app.job_artifact_file(&who, &id, jid, &path).await?;
    Ok(super::artifact_download::respond_entry(file))
}
