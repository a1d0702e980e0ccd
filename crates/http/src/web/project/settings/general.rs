//! `<project>/-/settings/general`: name, description, visibility, default branch and CI
//! configuration path, changed through `update_project` (which decides who may, and checks a
//! visibility against the group's).

use super::{Proj, page_ctx};
use crate::state::AppState;
use crate::web::settings::{message, retry_status};
use crate::web::ui::val;
use crate::web::{Browser, Page, field};
use autogit_app::store::Project;
use autogit_app::{AppError, UpdateProject};
use autogit_core::Visibility;
use axum::http::StatusCode;
use minijinja::{Value, context};
use serde::Serialize;

/// The form's fields, as stored or as entered.
#[derive(Serialize)]
struct General {
    name: String,
    description: String,
    visibility: String,
    default_branch: String,
    ci_config_path: String,
}

impl General {
    fn of(p: &Project) -> General {
        General {
            name: p.name.clone(),
            description: p.description.clone(),
            visibility: p.visibility.to_string(),
            default_branch: p.default_branch.clone().unwrap_or_default(),
            ci_config_path: p.ci_config_path.clone().unwrap_or_default(),
        }
    }

    fn entered(fields: &[(String, String)]) -> General {
        let text = |name: &str| field(fields, name).trim().to_string();
        General {
            name: text("name"),
            description: text("description"),
            visibility: text("visibility"),
            default_branch: text("default_branch"),
            ci_config_path: text("ci_config_path"),
        }
    }

    /// The change: only the fields that differ from the project's.
    fn update(&self, p: &Project) -> Result<UpdateProject, AppError> {
        let visibility = Visibility::parse(&self.visibility)
            .ok_or_else(|| AppError::Invalid("visibility", "does not have a valid value".into()))?;
        let changed = |new: &str, old: &str| (new != old).then(|| new.to_string());
        Ok(UpdateProject {
            name: changed(&self.name, &p.name),
            path: None,
            description: changed(&self.description, &p.description),
            visibility: (visibility != p.visibility).then_some(visibility),
            default_branch: changed(&self.default_branch, p.default_branch.as_deref().unwrap_or("")),
            ci_config_path: changed(&self.ci_config_path, p.ci_config_path.as_deref().unwrap_or("")),
        })
    }
}

/// A form that failed: its status, message and fields.
pub(super) type Failed<'a> = (StatusCode, String, &'a [(String, String)]);

pub(super) async fn page(
    s: &AppState,
    browser: &Browser,
    chrome: Option<Value>,
    p: &Proj,
    failed: Option<Failed<'_>>,
    notice: Option<&str>,
) -> Page {
    let form = failed.as_ref().map_or_else(|| General::of(&p.project), |(_, _, f)| General::entered(f));
    // The branches to pick the default from (none for an empty repository).
    let branches: Vec<String> = match s.app.readable_repository(&p.who, &p.project.id.to_string()).await {
        Ok((_, repo)) => autogit_git::read::branches(&repo)
            .await
            .map(|l| l.into_iter().map(|b| b.name).collect())
            .unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    let visibilities: Vec<&str> = Visibility::ALL.iter().map(|v| v.as_str()).collect();
    let ctx = context! {
        form => val(&form), error => failed.as_ref().map(|(_, e, _)| e.clone()), notice => notice,
        visibilities => visibilities, branches => branches, action => format!("{}/-/settings/general", p.base),
        ..page_ctx(browser, chrome, p, "General settings", "general")
    };
    Page::render(failed.map_or(StatusCode::OK, |(st, _, _)| st), "settings_general.html", ctx)
}

/// `POST settings/general`: back to the page (at the project's address after the change), or
/// the form again with the use-case's refusal.
pub(super) async fn post(
    s: &AppState,
    browser: &Browser,
    chrome: Value,
    p: &Proj,
    fields: &[(String, String)],
) -> Page {
    let entered = General::entered(fields);
    let done = match entered.update(&p.project) {
        Ok(req) => s.app.update_project(&p.who, &p.project.id.to_string(), req).await,
        Err(e) => Err(e),
    };
    match done {
        Ok(updated) => Page::redirect(&format!(
            "/{}/-/settings/general?notice=saved",
            crate::web::filters::path(&updated.full_path)
        )),
        Err(e) => match retry_status(&e) {
            Some(status) => page(s, browser, Some(chrome), p, Some((status, message(&e), fields)), None).await,
            None => Page::error(e),
        },
    }
}
