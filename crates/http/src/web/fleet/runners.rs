//! `/admin/runners` (every runner: its state, what it reported, its current jobs),
//! `/admin/runners/<id>` (one runner with its recent jobs and GPUs) and the pause and resume
//! buttons (`POST /admin/runners/<id>/pause|resume`, as `PUT /runners/:id` with `paused`).

use super::gpus::{GpuRow, gpu_rows};
use super::{admin, ctx, job_href, not_found};
use crate::dto;
use crate::state::AppState;
use crate::web::explore::{ListQuery, PER_PAGE, pager};
use crate::web::ui::val;
use crate::web::{Browser, Page, checked_fields, field};
use autogit_app::ci::FleetRunner;
use autogit_app::ci::runners::UpdateRunner;
use autogit_app::store::{Page as Window, Runner, RunnerFilter};
use autogit_app::{Principal, RunnerJob};
use autogit_core::ci::JobStatus;
use autogit_core::runner_status::Connection;
use autogit_core::{JobId, RunnerId};
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::Utc;
use minijinja::context;
use serde::Serialize;
use std::collections::HashMap;

/// Current jobs a runner row lists at most.
const CURRENT_JOBS: i64 = 20;

/// A job as the admin pages link it.
#[derive(Serialize, Clone)]
pub(super) struct JobLink {
    pub id: i64,
    pub name: String,
    pub status: &'static str,
    pub project: String,
    pub href: String,
    pub pipeline_id: i64,
    pub ref_name: String,
    pub created_at: String,
    pub duration: Option<i64>,
}

fn job_link(rj: &RunnerJob) -> JobLink {
    let j = &rj.job;
    JobLink {
        id: j.id.get(),
        name: j.name.clone(),
        status: j.status.as_str(),
        project: rj.project.full_path.clone(),
        href: job_href(&rj.project.full_path, j.id),
        pipeline_id: rj.pipeline.id.get(),
        ref_name: rj.pipeline.ref_name.clone(),
        created_at: j.created_at.to_rfc3339(),
        duration: match (j.started_at, j.finished_at) {
            (Some(a), Some(b)) => Some((b - a).num_seconds()),
            _ => None,
        },
    }
}

/// The jobs running on a runner now.
pub(super) async fn running_jobs(s: &AppState, who: &Principal, id: RunnerId) -> Result<Vec<JobLink>, Page> {
    let window = Window { offset: 0, limit: CURRENT_JOBS };
    let listed = s.app.runner_jobs_with_context(who, id, &[JobStatus::Running], window).await.map_err(Page::error)?;
    Ok(listed.items.iter().map(job_link).collect())
}

/// The running jobs of every runner that holds GPUs, by id (what the GPU tables link).
pub(super) async fn gpu_holders(
    s: &AppState,
    who: &Principal,
    fleet: &[FleetRunner],
) -> Result<HashMap<JobId, JobLink>, Page> {
    let mut held = HashMap::new();
    for f in fleet.iter().filter(|f| !f.allocations.is_empty()) {
        for j in running_jobs(s, who, f.runner.id).await? {
            held.insert(JobId::new(j.id), j);
        }
    }
    Ok(held)
}

/// A runner as the admin pages show it. `status` is the API's word (`online`, `offline`,
/// `stale`, `never_contacted`, `paused`), decided by the same rule as `GET /runners/:id`.
#[derive(Serialize)]
struct RunnerRow {
    id: i64,
    href: String,
    description: String,
    status: String,
    state: String,
    online: bool,
    paused: bool,
    runner_type: String,
    tags: Vec<String>,
    run_untagged: bool,
    locked: bool,
    access_level: String,
    maximum_timeout: Option<i64>,
    executor: Option<String>,
    version: Option<String>,
    platform: Option<String>,
    architectures: Vec<String>,
    contacted_at: Option<String>,
    created_at: String,
    gpus: usize,
    jobs: Vec<JobLink>,
}

fn runner_row(r: &Runner, fleet: Option<&FleetRunner>, jobs: Vec<JobLink>) -> RunnerRow {
    let now = Utc::now();
    let api = dto::runner(r, now);
    let text = |k: &str| api[k].as_str().unwrap_or_default().to_string();
    let status = text("status");
    let connection = dto::connection(r, now);
    let online = connection == Connection::Online;
    // Paused is a setting, the connection a fact: the page shows both in words.
    let state = match (r.paused, connection.as_str().replace('_', " ")) {
        (true, words) => format!("paused, {words}"),
        (false, words) => words,
    };
    let mut architectures = fleet.map(FleetRunner::architectures).unwrap_or_default();
    if architectures.is_empty() {
        architectures.extend(r.architecture.clone());
    }
    RunnerRow {
        id: r.id.get(),
        href: format!("/admin/runners/{}", r.id),
        description: r.description.clone(),
        state,
        status,
        online,
        paused: r.paused,
        runner_type: text("runner_type").trim_end_matches("_type").to_string(),
        tags: r.tags.clone(),
        run_untagged: r.run_untagged,
        locked: r.locked,
        access_level: text("access_level").replace('_', " "),
        maximum_timeout: r.maximum_timeout,
        executor: r.executor.clone(),
        version: r.version.clone(),
        platform: r.platform.clone(),
        architectures,
        contacted_at: r.contacted_at.map(|t| t.to_rfc3339()),
        created_at: r.created_at.to_rfc3339(),
        gpus: fleet.map_or(0, |f| f.gpus().len()),
        jobs,
    }
}

/// `GET /admin/runners`.
pub(super) async fn list(State(s): State<AppState>, browser: Browser, Query(q): Query<ListQuery>) -> Page {
    list_page(&s, &browser, &q).await.unwrap_or_else(|p| p)
}

async fn list_page(s: &AppState, browser: &Browser, q: &ListQuery) -> Result<Page, Page> {
    let who = admin(browser)?;
    let listed = s.app.list_runners(who, None, RunnerFilter::default(), q.window()).await.map_err(Page::error)?;
    let fleet = s.app.gpu_fleet(who).await.map_err(Page::error)?;
    let mut rows = Vec::with_capacity(listed.items.len());
    for r in &listed.items {
        let jobs = running_jobs(s, who, r.id).await?;
        rows.push(runner_row(r, fleet.iter().find(|f| f.runner.id == r.id), jobs));
    }
    let ctx = context! {
        ..ctx(browser, "Runners", "runners"),
        ..context! { runners => val(&rows), total => listed.total, page => pager("/admin/runners", q.number(), listed.total, "") }
    };
    Ok(Page::render(StatusCode::OK, "runners.html", ctx))
}

fn runner_id(text: &str) -> Result<RunnerId, Page> {
    text.parse::<RunnerId>().map_err(|_| not_found())
}

/// `GET /admin/runners/<id>`.
pub(super) async fn show(State(s): State<AppState>, browser: Browser, Path(id): Path<String>) -> Page {
    show_page(&s, &browser, &id).await.unwrap_or_else(|p| p)
}

async fn show_page(s: &AppState, browser: &Browser, id: &str) -> Result<Page, Page> {
    let who = admin(browser)?;
    let id = runner_id(id)?;
    let runner = s.app.get_runner(who, id).await.map_err(Page::error)?;
    let fleet = s.app.gpu_fleet(who).await.map_err(Page::error)?.into_iter().find(|f| f.runner.id == id);
    let running = running_jobs(s, who, id).await?;
    let recent = s
        .app
        .runner_jobs_with_context(who, id, &[], Window { offset: 0, limit: PER_PAGE })
        .await
        .map_err(Page::error)?;
    let held: HashMap<JobId, JobLink> = running.iter().map(|j| (JobId::new(j.id), j.clone())).collect();
    let gpus: Vec<GpuRow> = fleet.as_ref().map(|f| gpu_rows(f, &held)).unwrap_or_default();
    let warnings = fleet.as_ref().map(FleetRunner::inventory_warnings).unwrap_or_default();
    let reported_at = fleet.as_ref().and_then(|f| f.inventory.as_ref()).map(|i| i.updated_at.to_rfc3339());
    let row = runner_row(&runner, fleet.as_ref(), running);
    let title = format!("Runner #{}", runner.id);
    let ctx = context! {
        ..ctx(browser, &title, "runners"),
        ..context! {
            runner => val(&row), gpus => val(&gpus), inventory_warnings => warnings, inventory_reported_at => reported_at,
            recent => val(&recent.items.iter().map(job_link).collect::<Vec<_>>()), recent_total => recent.total,
        }
    };
    Ok(Page::render(StatusCode::OK, "admin_runner.html", ctx))
}

/// `POST /admin/runners/<id>/pause` and `…/resume`; back to the list, or to the runner's page
/// when the form says `back=runner`.
pub(super) async fn pause_or_resume(
    State(s): State<AppState>,
    browser: Browser,
    Path((id, verb)): Path<(String, String)>,
    headers: HeaderMap,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Page {
    let fields = form.map(|Form(f)| f).unwrap_or_default();
    pause_or_resume_page(&s, &browser, &id, &verb, &headers, &fields).await.unwrap_or_else(|p| p)
}

async fn pause_or_resume_page(
    s: &AppState,
    browser: &Browser,
    id: &str,
    verb: &str,
    headers: &HeaderMap,
    fields: &[(String, String)],
) -> Result<Page, Page> {
    let who = admin(browser)?;
    let paused = match verb {
        "pause" => true,
        "resume" => false,
        _ => return Err(not_found()),
    };
    let id = runner_id(id)?;
    checked_fields(browser, headers, fields)?;
    let update = UpdateRunner { paused: Some(paused), ..UpdateRunner::default() };
    s.app.update_runner(who, id, update).await.map_err(Page::error)?;
    let back = if field(fields, "back") == "runner" { format!("/admin/runners/{id}") } else { "/admin/runners".into() };
    Ok(Page::redirect(&back))
}
