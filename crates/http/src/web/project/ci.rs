//! CI pages: pipelines, one pipeline (stages × jobs and the needs graph), one job (its log,
//! runner, GPUs, artifacts, why it waits) and the buttons that cancel, retry and play.

use super::{Params, Proj, artifacts, live_log};
use crate::state::AppState;
use crate::web::explore::{PER_PAGE, pager};
use crate::web::ui::val;
use crate::web::{Browser, Page};
use autogit_app::ci::stages::{needs_of, stages_of};
use autogit_app::store::{Job, Pipeline, PipelineFilter};
use autogit_app::{AppError, Principal};
use autogit_core::ci::JobStatus;
use autogit_core::{JobId, PipelineId};
use autogit_render::{log, needs_graph};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use minijinja::context;
use serde::Serialize;

/// The most of a log a job page renders; beyond it the page shows the end and links the raw log.
pub(super) const MAX_PAGE_LOG: u64 = 4 << 20;

/// `/-/pipelines` and `/-/pipelines/<id>`.
pub(super) async fn pipelines_get(s: &AppState, browser: &Browser, p: &Proj, tail: &str, q: &Params) -> Page {
    let tail = tail.trim_end_matches('/');
    if tail.is_empty() {
        return list(s, browser, p, q).await;
    }
    let (id, view) = tail.split_once('/').unwrap_or((tail, ""));
    match (id.parse::<i64>(), view) {
        (Ok(id), "") => pipeline(s, browser, p, PipelineId::new(id), false).await,
        (Ok(id), "dag") => pipeline(s, browser, p, PipelineId::new(id), true).await,
        _ => Page::error(AppError::NotFound("Pipeline")),
    }
}

#[derive(Serialize)]
struct StageBadge {
    name: String,
    status: &'static str,
}

async fn list(s: &AppState, browser: &Browser, p: &Proj, q: &Params) -> Page {
    let number = crate::web::explore::page_number(q.get("page").map(String::as_str));
    let window = autogit_app::store::Page { offset: (number - 1) * PER_PAGE, limit: PER_PAGE };
    let project_ref = p.project.id.to_string();
    let listed = match s.app.list_pipelines(&p.who, &project_ref, &PipelineFilter::default(), window).await {
        Ok(l) => l,
        Err(e) => return Page::error(e),
    };
    let mut rows = Vec::new();
    for pl in &listed.items {
        let stages: Vec<StageBadge> = match s.app.pipeline_jobs(&p.who, &project_ref, pl.id, false).await {
            Ok((_, _, jobs)) => stages_of(&jobs)
                .iter()
                .map(|st| StageBadge { name: st.name.clone(), status: st.status.as_str() })
                .collect(),
            Err(_) => Vec::new(),
        };
        rows.push(context! {
            id => pl.id.get(), status => pl.status.as_str(), ref_name => pl.ref_name.clone(), sha => pl.sha.clone(), source => pl.source.clone(),
            duration => pl.duration_secs, created_at => pl.created_at.to_rfc3339(),
            href => format!("{}/-/pipelines/{}", p.base, pl.id), stages => val(&stages),
        });
    }
    let ctx = context! {
        ..p.ctx(browser, "Pipelines", "pipelines"),
        ..context! { pipelines => rows, page => pager(&format!("{}/-/pipelines", p.base), number, listed.total, "") }
    };
    Page::render(StatusCode::OK, "pipelines.html", ctx)
}

fn job_href(p: &Proj, id: JobId) -> String {
    format!("{}/-/jobs/{id}", p.base)
}

fn cancelable(st: JobStatus) -> bool {
    !st.is_finished() && st != JobStatus::Manual
}

fn playable(st: JobStatus) -> bool {
    matches!(st, JobStatus::Manual | JobStatus::Scheduled)
}

fn retryable(j: &Job) -> bool {
    !j.retried && j.status.is_retryable()
}

fn duration_of(j: &Job) -> Option<i64> {
    match (j.started_at, j.finished_at) {
        (Some(a), Some(b)) => Some((b - a).num_seconds()),
        _ => None,
    }
}

/// Whether the browser may press the pipeline's buttons (the use-cases check again on press).
async fn may_act(s: &AppState, p: &Proj, pipeline: PipelineId) -> bool {
    if p.who.user.is_none() {
        return false;
    }
    s.app.may_act_on_pipeline(&p.who, &p.project.id.to_string(), pipeline).await.unwrap_or(false)
}

async fn user_name(s: &AppState, who: &Principal, pl: &Pipeline) -> Option<String> {
    let id = pl.user_id?;
    s.app.get_user(who, id).await.ok().map(|u| u.username)
}

/// A pipeline as stages × jobs, or (`dag`) as the graph of its jobs' `needs:`.
async fn pipeline(s: &AppState, browser: &Browser, p: &Proj, id: PipelineId, dag: bool) -> Page {
    let (_, pl, jobs) = match s.app.pipeline_jobs(&p.who, &p.project.id.to_string(), id, false).await {
        Ok(x) => x,
        Err(e) => return Page::error(e),
    };
    let stages = stages_of(&jobs);
    let mut graph = Vec::new();
    let mut columns = Vec::new();
    for (i, st) in stages.iter().enumerate() {
        let mut list = Vec::new();
        for j in &st.jobs {
            graph.push(needs_graph::GraphJob {
                name: j.name.clone(),
                stage: i,
                status: j.status.as_str().to_string(),
                href: job_href(p, j.id),
                needs: needs_of(j),
            });
            list.push(context! {
                name => j.name.clone(), status => j.status.as_str(), href => job_href(p, j.id), duration => duration_of(j),
                playable => playable(j.status), retryable => retryable(j), cancelable => cancelable(j.status),
            });
        }
        columns.push(context! { name => st.name.clone(), status => st.status.as_str(), jobs => list });
    }
    let graph_html = if dag { needs_graph::needs_svg(&graph) } else { String::new() };
    let view = context! {
        id => pl.id.get(), status => pl.status.as_str(), ref_name => pl.ref_name.clone(), sha => pl.sha.clone(), source => pl.source.clone(),
        user => user_name(s, &p.who, &pl).await, created_at => pl.created_at.to_rfc3339(), duration => pl.duration_secs,
        yaml_errors => pl.yaml_errors.clone(), href => format!("{}/-/pipelines/{}", p.base, pl.id),
        cancelable => !pl.status.is_finished(),
        retryable => jobs.iter().any(|j| !j.retried && matches!(j.status, JobStatus::Failed | JobStatus::Canceled)),
    };
    let ctx = context! {
        ..p.ctx(browser, &format!("Pipeline #{}", pl.id), "pipelines"),
        ..context! { pipeline => view, stages => columns, graph_html => graph_html, may_act => may_act(s, p, pl.id).await }
    };
    Page::render(StatusCode::OK, if dag { "pipeline_dag.html" } else { "pipeline.html" }, ctx)
}

/// `/-/jobs/<id>`, `/-/jobs/<id>/raw` and `/-/jobs/<id>/trace_stream`.
pub(super) async fn jobs_get(
    s: &AppState,
    browser: &Browser,
    p: &Proj,
    tail: &str,
    q: &Params,
    headers: &HeaderMap,
) -> Response {
    let (id, what) = tail.trim_end_matches('/').split_once('/').unwrap_or((tail.trim_end_matches('/'), ""));
    let Ok(id) = id.parse::<i64>().map(JobId::new) else {
        return Page::error(AppError::NotFound("Job")).into_response();
    };
    match what {
        "" => job(s, browser, p, id).await.into_response(),
        "raw" => raw_log(s, p, id).await,
        "trace_stream" => live_log::stream(s, p, id, q, headers).await,
        "artifacts/download" => {
            let range = crate::api::artifact_download::range_of(headers);
            match s.app.job_artifacts(&p.who, &p.project.id.to_string(), id, range).await {
                Ok(d) => crate::api::artifact_download::respond(d),
                Err(e) => Page::error(e).into_response(),
            }
        }
        "artifacts/browse" => artifacts::browse(s, browser, p, id, &job_href(p, id), "").await.into_response(),
        other => match (other.strip_prefix("artifacts/browse/"), other.strip_prefix("artifacts/raw/")) {
            (Some(dir), _) => artifacts::browse(s, browser, p, id, &job_href(p, id), dir).await.into_response(),
            (_, Some(path)) => artifacts::raw(s, p, id, path, q.get("inline").is_some_and(|v| v == "false")).await,
            _ => crate::web::unknown_page(),
        },
    }
}

#[derive(Serialize)]
struct ArtifactRow {
    filename: String,
    file_type: String,
    size: i64,
    href: Option<String>,
    /// The archive's browser, for zip archives.
    browse: Option<String>,
}

async fn job(s: &AppState, browser: &Browser, p: &Proj, id: JobId) -> Page {
    let project_ref = p.project.id.to_string();
    let (_, j) = match s.app.get_job(&p.who, &project_ref, id).await {
        Ok(x) => x,
        Err(e) => return Page::error(e),
    };
    let pl = match s.app.get_pipeline(&p.who, &project_ref, j.pipeline_id).await {
        Ok((_, pl)) => pl,
        Err(e) => return Page::error(e),
    };
    let size = u64::try_from(j.trace_size).unwrap_or(0);
    let live = !j.status.is_finished();
    let from = size.saturating_sub(MAX_PAGE_LOG);
    let (_, mut bytes) = match s.app.job_trace_part(&p.who, &project_ref, id, from, MAX_PAGE_LOG as usize).await {
        Ok(x) => x,
        Err(e) => return Page::error(e),
    };
    if live {
        // A running job's page shows whole lines only; the stream goes on from the last one.
        let keep = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        bytes.truncate(keep);
    }
    let offset = from + bytes.len() as u64;
    let mut renderer = log::LogRenderer::new();
    let _ = renderer.push(&bytes);
    let open_sections = serde_json::to_string(&renderer.open_sections()).unwrap_or_else(|_| "[]".into());
    let mut log_html = String::new();
    if from > 0 {
        log_html.push_str(&format!(
            "<p class=\"log-cut\">The log is {} long; this page shows its end. The raw log has all of it.</p>",
            crate::web::filters::size(size as i64)
        ));
    }
    log_html.push_str(&log::to_html(&bytes));
    let runner = match j.runner_id {
        Some(rid) => s
            .app
            .get_runner(&p.who, rid)
            .await
            .ok()
            .map(|r| context! { id => r.id.get(), description => r.description.clone() }),
        None => None,
    };
    let sys = s.app.system();
    let gpus: Vec<_> = if j.status == JobStatus::Running {
        sys.gpus_held(&j)
            .into_iter()
            .map(|(key, model, mem)| context! {
                id => key, model => model.unwrap_or_else(|| "GPU".into()),
                memory => mem.map(|m| crate::web::filters::size(i64::try_from(m).unwrap_or(i64::MAX))).unwrap_or_else(|| "unknown".into()),
            })
            .collect()
    } else {
        Vec::new()
    };
    let gpu_usage: Vec<_> = match sys.gpu_usage_of(j.id).await {
        Ok(Some(serde_json::Value::Array(items))) => items
            .iter()
            .map(|u| context! {
                gpu => u.get("gpu").or_else(|| u.get("uuid")).and_then(|v| v.as_str()).unwrap_or("GPU").to_string(),
                peak_memory => u.get("peak_memory_bytes").and_then(|v| v.as_i64()).map(crate::web::filters::size).unwrap_or_else(|| "unknown".into()),
                utilization => u.get("mean_utilization_percent").and_then(|v| v.as_f64()).map(|x| format!("{x:.0}%")).unwrap_or_else(|| "unknown".into()),
            })
            .collect(),
        _ => Vec::new(),
    };
    let artifacts: Vec<ArtifactRow> = sys
        .artifacts_of(j.id)
        .await
        .unwrap_or_default()
        .iter()
        .filter(|a| a.file_type != autogit_app::ci::artifacts::GPU_USAGE_TYPE)
        .map(|a| ArtifactRow {
            filename: a.filename.clone(),
            file_type: a.file_type.clone(),
            size: a.size,
            href: (a.file_type == "archive").then(|| format!("{}/artifacts/download", job_href(p, j.id))),
            browse: (a.file_type == "archive" && a.file_format == "zip")
                .then(|| format!("{}/artifacts/browse", job_href(p, j.id))),
        })
        .collect();
    let pending_reason = sys.pending_reason(&j);
    let queued = match (j.queued_at, j.started_at) {
        (Some(a), Some(b)) => Some((b - a).num_seconds()),
        _ => None,
    };
    let view = context! {
        id => j.id.get(), name => j.name.clone(), status => j.status.as_str(), stage => j.stage.clone(), href => job_href(p, j.id),
        pipeline_id => pl.id.get(), pipeline_href => format!("{}/-/pipelines/{}", p.base, pl.id),
        ref_name => pl.ref_name.clone(), sha => pl.sha.clone(), duration => duration_of(&j), queued_duration => queued, runner => runner,
        tags => j.tags.clone(), failure_reason => j.failure_reason.map(|r| r.as_str().to_string()), exit_code => j.exit_code,
        gpu_request => sys.gpu_request_text(&j), pending_reason => pending_reason,
        playable => playable(j.status), retryable => retryable(&j), cancelable => cancelable(j.status),
    };
    let ctx = context! {
        ..p.ctx(browser, &j.name, "pipelines"),
        ..context! {
            job => view, live => live, offset => offset, open_sections => open_sections, log_html => log_html,
            gpus => gpus, gpu_usage => gpu_usage, artifacts => val(&artifacts), may_act => may_act(s, p, pl.id).await,
        }
    };
    Page::render(StatusCode::OK, "job.html", ctx)
}

/// `/-/jobs/<id>/raw`: the log as plain text (GitLab's raw view), never run as a page.
async fn raw_log(s: &AppState, p: &Proj, id: JobId) -> Response {
    match s.app.job_trace(&p.who, &p.project.id.to_string(), id).await {
        Ok(trace) => {
            let headers = [
                (axum::http::header::CONTENT_TYPE, "text/plain; charset=utf-8".to_string()),
                (axum::http::header::CONTENT_LENGTH, trace.size.to_string()),
                (axum::http::header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
                (axum::http::header::CONTENT_SECURITY_POLICY, "sandbox; default-src 'none'".to_string()),
                (axum::http::header::CACHE_CONTROL, "no-store".to_string()),
            ];
            (headers, axum::body::Body::from_stream(trace.body)).into_response()
        }
        Err(e) => Page::error(e).into_response(),
    }
}

/// A CI button: `pipelines/<id>/cancel|retry`, `jobs/<id>/cancel|retry|play`; back to the page.
pub(super) async fn action(s: &AppState, who: &Principal, project_path: &str, rest: &str) -> Page {
    let parts: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    let (project, _) = match s.app.get_project(who, project_path, autogit_core::access::Action::View).await {
        Ok(x) => x,
        Err(e) => return Page::error(e),
    };
    let base = format!("/{}", crate::web::filters::path(&project.full_path));
    let r = project.id.to_string();
    let num = |s: &str| s.parse::<i64>().ok();
    match parts.as_slice() {
        ["pipelines", id, verb] => {
            let Some(id) = num(id).map(PipelineId::new) else { return Page::error(AppError::NotFound("Pipeline")) };
            let done = match *verb {
                "cancel" => s.app.cancel_pipeline(who, &r, id).await,
                "retry" => s.app.retry_pipeline(who, &r, id).await,
                _ => return Page::not_found(),
            };
            match done {
                Ok(pl) => Page::redirect(&format!("{base}/-/pipelines/{}", pl.id)),
                Err(e) => Page::error(e),
            }
        }
        ["jobs", id, verb] => {
            let Some(id) = num(id).map(JobId::new) else { return Page::error(AppError::NotFound("Job")) };
            let done = match *verb {
                "cancel" => s.app.cancel_job(who, &r, id).await,
                "retry" => s.app.retry_job_by(who, &r, id).await,
                "play" => s.app.play_job(who, &r, id).await,
                _ => return Page::not_found(),
            };
            match done {
                Ok(j) => Page::redirect(&format!("{base}/-/jobs/{}", j.id)),
                Err(e) => Page::error(e),
            }
        }
        _ => Page::not_found(),
    }
}
