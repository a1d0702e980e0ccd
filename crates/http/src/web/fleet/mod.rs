//! The administration pages of the fleet and the instance (GitLab's `/admin/…`): every runner
//! with its state, current jobs and GPUs (`/admin/runners[/<id>]`, with pause and resume),
//! the GPU inventory of the fleet and who holds each GPU (`/admin/gpus`), the autoscaled pools
//! (`/admin/pools`) and the users (`/admin/users`).
//!
//! # Who is trusted
//! Administrators only. Anyone else, signed in or not, gets `404` for every address here, as
//! GitLab hides its admin area; the use-cases behind each page check again. Every POST carries
//! the session's CSRF token (a missing or wrong one is a `422` that changes nothing). What a
//! runner reported about itself (description, versions, GPU names) is shown escaped.

mod gpus;
mod runners;
mod users;

use super::{Browser, Page, chrome};
use crate::state::AppState;
use autogit_app::Principal;
use axum::Router;
use axum::routing::get;
use minijinja::context;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(home))
        .route("/admin/runners", get(runners::list))
        .route("/admin/runners/{id}", get(runners::show))
        .route("/admin/runners/{id}/{verb}", get(|| async { not_found() }).post(runners::pause_or_resume))
        .route("/admin/gpus", get(gpus::gpus))
        .route("/admin/pools", get(gpus::pools))
        .route("/admin/users", get(users::list))
}

/// `/admin`: the runners page for administrators.
async fn home(browser: Browser) -> Page {
    match admin(&browser) {
        Ok(_) => Page::redirect("/admin/runners"),
        Err(p) => p,
    }
}

/// The signed-in administrator, or the `404` everyone else gets.
fn admin(browser: &Browser) -> Result<&Principal, Page> {
    match &browser.who {
        Some(who) if who.user.as_ref().is_some_and(|u| u.is_admin) => Ok(who),
        _ => Err(not_found()),
    }
}

fn not_found() -> Page {
    Page::not_found()
}

/// The context every admin page starts from: the layout's chrome, the title and which tab of
/// the admin navigation is current.
fn ctx(browser: &Browser, title: &str, tab: &str) -> minijinja::Value {
    context! { chrome => chrome(browser), title => title, admin_tab => tab }
}

/// A job's page: `/<project>/-/jobs/<id>`.
fn job_href(project_path: &str, id: autogit_core::JobId) -> String {
    format!("/{}/-/jobs/{id}", super::filters::path(project_path))
}

/// Bytes in words, `unknown` when not known.
fn memory(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| "unknown".to_string(), |b| super::filters::size(i64::try_from(b).unwrap_or(i64::MAX)))
}
