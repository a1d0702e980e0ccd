//! The runner job API (research: gitlab-runner.md §1.6–1.12), as gitlab-runner and
//! `autogit runner` call it: `POST /jobs/request` (long-polled), `PUT /jobs/:id`,
//! `PATCH /jobs/:id/trace`, `POST|GET /jobs/:id/artifacts`. Runners authenticate with their
//! token in the body; job calls with the job token (`JOB-TOKEN` header, or `token`).

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use autogit_app::AppError;
use autogit_app::ci::{JobOffer, TraceAck, UploadMeta};
use autogit_core::JobId;
use autogit_core::ci::JobStatus;
use autogit_protocol::{JOB_STATUS_HEADER, JOB_TOKEN_HEADER, JobRequest, LAST_UPDATE_HEADER, UpdateJobRequest};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{post, put};
use futures_util::StreamExt;
use std::collections::HashMap;

/// Largest trace patch accepted: gitlab-runner sends at most 1 MiB (`DefaultTracePatchLimit`).
const MAX_TRACE_PATCH: usize = 2 << 20;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/jobs/request", post(request))
        .route("/jobs/{id}", put(update))
        .route("/jobs/{id}/trace", axum::routing::patch(trace).layer(DefaultBodyLimit::max(MAX_TRACE_PATCH)))
        .route("/jobs/{id}/artifacts", post(upload).get(download).layer(DefaultBodyLimit::disable()))
}

fn json_body<T: serde::de::DeserializeOwned>(body: &Bytes) -> ApiResult<T> {
    serde_json::from_slice(body).map_err(|e| ApiError(AppError::Invalid("body", e.to_string())))
}

fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// The job token: `JOB-TOKEN` header, else `token` in the query.
fn job_token(h: &HeaderMap, q: &HashMap<String, String>) -> ApiResult<String> {
    header_str(h, JOB_TOKEN_HEADER)
        .map(str::to_string)
        .or_else(|| q.get("token").cloned())
        .filter(|t| !t.is_empty())
        .ok_or(ApiError(AppError::Unauthorized))
}

/// Adds `Job-Status` and `X-GitLab-Trace-Update-Interval`: how often the runner must report
/// (a quarter of the lease, so that three lost updates in a row still keep the job).
fn with_status(s: &AppState, mut r: Response, status: JobStatus) -> Response {
    r.headers_mut().insert(JOB_STATUS_HEADER, HeaderValue::from_static(status.as_str()));
    let interval = (s.app.ci_settings().lease_timeout.as_secs() / 4).clamp(1, 30);
    r.headers_mut().insert("X-GitLab-Trace-Update-Interval", HeaderValue::from(interval));
    r
}

/// A refused job call, with the job's real status so that the runner stops it.
async fn refused(s: &AppState, id: JobId, e: ApiError) -> Response {
    let status = s.app.system().job_status(id).await;
    let r = e.into_response();
    match status {
        Some(st) => with_status(s, r, st),
        None => r,
    }
}

async fn request(State(s): State<AppState>, body: Bytes) -> ApiResult<Response> {
    let req: JobRequest = json_body(&body)?;
    if req.token.is_empty() {
        return Err(ApiError(AppError::Missing("token")));
    }
    let started = std::time::Instant::now();
    let offer = s.app.system().request_job(&req).await?;
    Ok(match offer {
        JobOffer::Job(job, tags, pool) => {
            s.metrics.observe_job_pickup(started.elapsed());
            s.metrics.observe_queue_wait(pool.as_deref().unwrap_or(""), &tags, job.job_info.time_in_queue_seconds);
            (StatusCode::CREATED, axum::Json(*job)).into_response()
        }
        JobOffer::NoJob { last_update } => {
            let mut r = StatusCode::NO_CONTENT.into_response();
            if let Ok(v) = HeaderValue::from_str(&last_update) {
                r.headers_mut().insert(LAST_UPDATE_HEADER, v);
            }
            r
        }
    })
}

async fn update(State(s): State<AppState>, Path(id): Path<JobId>, headers: HeaderMap, body: Bytes) -> Response {
    let mut req: UpdateJobRequest = match json_body(&body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    if req.token.is_empty()
        && let Some(t) = header_str(&headers, JOB_TOKEN_HEADER)
    {
        req.token = t.to_string();
    }
    match s.app.system().update_job(id, &req).await {
        Ok(ack) => with_status(&s, StatusCode::OK.into_response(), ack.status),
        Err(e) => refused(&s, id, ApiError(e)).await,
    }
}

async fn trace(
    State(s): State<AppState>,
    Path(id): Path<JobId>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let token = match job_token(&headers, &q) {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    let start = match autogit_protocol::range_start(header_str(&headers, header::CONTENT_RANGE.as_str())) {
        Ok(start) => start,
        Err(e) => return ApiError(AppError::Invalid("Content-Range", e.to_string())).into_response(),
    };
    let start = i64::try_from(start).unwrap_or(i64::MAX);
    match s.app.system().append_job_trace(id, &token, start, &body).await {
        Ok(TraceAck::Accepted { size, status }) => {
            let mut r = with_status(&s, StatusCode::ACCEPTED.into_response(), status);
            r.headers_mut().insert(header::RANGE, range(size));
            r
        }
        Ok(TraceAck::Mismatch { size, status }) => {
            let mut r = with_status(&s, StatusCode::RANGE_NOT_SATISFIABLE.into_response(), status);
            r.headers_mut().insert(header::RANGE, range(size));
            r
        }
        Err(e) => refused(&s, id, ApiError(e)).await,
    }
}

fn range(size: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("0-{size}")).unwrap_or(HeaderValue::from_static("0-0"))
}

/// `POST /jobs/:id/artifacts`. Every answer closes the connection: the multipart reader stops at the closing
/// boundary, so the request's last bytes (the final chunk) may be left unread, and a client
/// that reused the connection for its next request would find it closed under it.
async fn upload(
    state: State<AppState>,
    id: Path<JobId>,
    q: Query<HashMap<String, String>>,
    headers: HeaderMap,
    form: Multipart,
) -> Response {
    let mut r = receive_upload(state, id, q, headers, form).await;
    r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

/// Streams the multipart field `file` into the app's blob store (size-capped there, hashed on
/// the way); the app checks the upload before reading it and records it after.
async fn receive_upload(
    State(s): State<AppState>,
    Path(id): Path<JobId>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    mut form: Multipart,
) -> Response {
    let token = match job_token(&headers, &q) {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    // Refuse before storing a byte when the token is wrong.
    if let Err(e) = s.app.system().job_for_token(id, &token).await {
        drain(form).await;
        return refused(&s, id, ApiError(e)).await;
    }
    let mut meta = UploadMeta {
        artifact_type: q.get("artifact_type").cloned().unwrap_or_else(|| "archive".into()),
        artifact_format: q.get("artifact_format").cloned().unwrap_or_else(|| "zip".into()),
        filename: "artifacts.zip".into(),
        expire_in: q.get("expire_in").cloned(),
    };
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => return ApiError(AppError::Missing("file")).into_response(),
            Err(e) => return ApiError(AppError::Invalid("file", e.body_text())).into_response(),
        };
        if field.name() != Some("file") {
            continue;
        }
        if let Some(name) = field.file_name() {
            meta.filename = name.rsplit('/').next().unwrap_or(name).to_string();
        }
        // A broken request body is the client's fault (400 with multipart's own words).
        let mut broken: Option<String> = None;
        let body = field.map(|chunk| {
            chunk.map_err(|e| {
                let text = e.body_text();
                broken.get_or_insert_with(|| text.clone());
                std::io::Error::other(text)
            })
        });
        let accepted = s.app.system().accept_artifact(id, &token, &meta, Box::pin(body)).await;
        return match (accepted, broken) {
            (Ok(_), _) => {
                // The closing boundary (and any later field) is read before answering.
                drain(form).await;
                (StatusCode::CREATED, axum::Json(serde_json::json!("201"))).into_response()
            }
            // Too large: the rest is not read; the connection closes (see `upload`).
            (Err(e @ AppError::TooLarge(_)), _) => ApiError(e).into_response(),
            (Err(_), Some(message)) => {
                drain(form).await;
                (StatusCode::BAD_REQUEST, axum::Json(serde_json::json!({ "message": message }))).into_response()
            }
            (Err(e), None) => {
                drain(form).await;
                refused(&s, id, ApiError(e)).await
            }
        };
    }
}

/// Reads what is left of a refused or finished upload, up to 1 MiB, before the answer goes out:
/// a server that closes a connection with unread request bytes makes the kernel reset it, and
/// the client may then lose the answer (it sees a broken connection instead of the 4xx).
async fn drain(mut form: Multipart) {
    let mut left: usize = 1 << 20;
    while let Ok(Some(mut field)) = form.next_field().await {
        while let Ok(Some(chunk)) = field.chunk().await {
            left = left.saturating_sub(chunk.len());
            if left == 0 {
                return;
            }
        }
    }
}

async fn download(
    State(s): State<AppState>,
    Path(id): Path<JobId>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let token = job_token(&headers, &q)?;
    let download = s.app.system().dependency_artifact(id, &token, super::artifact_download::range_of(&headers)).await?;
    Ok(super::artifact_download::respond(download))
}
