//! External commit statuses: `POST /projects/:id/statuses/:sha` (a tool's report: `state`,
//! `ref`, `name` or `context`, `target_url`, `description`, `coverage`) and
//! `GET /projects/:id/repository/commits/:sha/statuses` (`ref`, `name`, `all`).

use super::{Caller, Handler, List, created};
use crate::dto;
use crate::params::Params;
use crate::state::AppState;
use autogit_app::StatusReport;
use autogit_app::store::CommitStatusFilter;
use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/projects/{id}/statuses/{sha}", post(report))
        .route("/projects/{id}/repository/commits/{sha}/statuses", get(list))
}

async fn report(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((id, sha)): Path<(String, String)>,
    p: Params,
) -> Handler {
    let req = StatusReport {
        state: p.required("state")?,
        ref_name: p.str("ref")?,
        name: p.str("name")?.filter(|n| !n.trim().is_empty()).or(p.str("context")?),
        target_url: p.str("target_url")?,
        description: p.str("description")?,
        coverage: p.f64("coverage")?,
    };
    let (_, status) = s.app.report_commit_status(&who, &id, &sha, req).await?;
    Ok(created(dto::commit_status(&s.config.external_url, &status)))
}

async fn list(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((id, sha)): Path<(String, String)>,
    list: List,
) -> Handler {
    let p = &list.params;
    let filter =
        CommitStatusFilter { ref_name: p.str("ref")?, name: p.str("name")?, all: p.bool("all")?.unwrap_or(false) };
    let (_, res) = s.app.commit_statuses(&who, &id, &sha, &filter, list.page()).await?;
    let items = res.items.iter().map(|st| dto::commit_status(&s.config.external_url, st)).collect();
    Ok(list.respond(&s, res.total, items))
}
