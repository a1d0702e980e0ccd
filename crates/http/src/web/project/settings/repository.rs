//! `<project>/-/settings/repository`: the protected branches and protected tags of a project,
//! listed with their levels, with a form to protect a branch or tag and a button to unprotect
//! each. Every change goes through the use-cases of `/protected_branches` and `/protected_tags`,
//! which decide who may (Maintainer) and check the name and levels.

use super::{Proj, page_ctx};
use crate::state::AppState;
use crate::web::settings::{message, retry_status, ticked};
use crate::web::{Browser, Page, field};
use autogit_app::store::{Page as Window, RefAccess};
use autogit_app::{AppError, ProtectBranch};
use autogit_core::protection::RefAccessLevel;
use axum::http::StatusCode;
use minijinja::{Value, context};

/// Which form failed, with its status, message and fields.
pub(super) struct Failed<'a> {
    form: &'static str,
    status: StatusCode,
    error: String,
    fields: &'a [(String, String)],
}

fn levels(list: &[RefAccess]) -> String {
    list.iter().map(|a| a.access_level.description()).collect::<Vec<_>>().join(", ")
}

fn level_choices() -> Vec<Value> {
    RefAccessLevel::ALL.iter().map(|l| context! { value => l.value(), label => l.description() }).collect()
}

pub(super) async fn page(
    s: &AppState,
    browser: &Browser,
    chrome: Option<Value>,
    p: &Proj,
    failed: Option<Failed<'_>>,
    notice: Option<&str>,
) -> Page {
    let id = p.project.id.to_string();
    let (branches, tags) = match tokio::try_join!(
        s.app.list_protected_branches(&p.who, &id, Window::ALL),
        s.app.list_protected_tags(&p.who, &id, Window::ALL)
    ) {
        Ok(x) => x,
        Err(e) => return Page::error(e),
    };
    let action = |what: &str| format!("{}/-/settings/repository/{what}", p.base);
    let branches: Vec<Value> = branches
        .items
        .iter()
        .map(|b| {
            context! { name => &b.name, push => levels(&b.push_access_levels), merge => levels(&b.merge_access_levels),
            force => b.allow_force_push }
        })
        .collect();
    let tags: Vec<Value> =
        tags.items.iter().map(|t| context! { name => &t.name, create => levels(&t.create_access_levels) }).collect();
    let entered = |form: &str, name: &str| -> String {
        failed.as_ref().filter(|f| f.form == form).map_or(String::new(), |f| field(f.fields, name).to_string())
    };
    let error = |form: &str| failed.as_ref().filter(|f| f.form == form).map(|f| f.error.clone());
    let ctx = context! {
        branches => branches, tags => tags, levels => level_choices(), notice => notice,
        branch_action => action("protected_branches"), branch_delete => action("protected_branches/delete"),
        tag_action => action("protected_tags"), tag_delete => action("protected_tags/delete"),
        branch_error => error("branch"), tag_error => error("tag"),
        branch_name => entered("branch", "name"), tag_name => entered("tag", "name"),
        ..page_ctx(browser, chrome, p, "Repository settings", "repository")
    };
    Page::render(failed.map_or(StatusCode::OK, |f| f.status), "settings_repository.html", ctx)
}

fn level(fields: &[(String, String)], name: &'static str) -> Result<Option<i64>, AppError> {
    match field(fields, name).trim() {
        "" => Ok(None),
        v => v.parse().map(Some).map_err(|_| AppError::Invalid(name, format!("{v:?} is not a number"))),
    }
}

/// `POST settings/repository/<what>`; `None` when `what` names no form.
pub(super) async fn post(
    s: &AppState,
    browser: &Browser,
    chrome: Value,
    p: &Proj,
    what: &str,
    fields: &[(String, String)],
) -> Option<Page> {
    let id = p.project.id.to_string();
    let name = field(fields, "name").trim().to_string();
    let (form, done): (&'static str, Result<&'static str, AppError>) = match what {
        "protected_branches" => {
            let req = match (level(fields, "push_access_level"), level(fields, "merge_access_level")) {
                (Ok(push), Ok(merge)) => Ok(ProtectBranch {
                    name,
                    push_access_level: push,
                    merge_access_level: merge,
                    allow_force_push: ticked(fields, "allow_force_push"),
                }),
                (Err(e), _) | (_, Err(e)) => Err(e),
            };
            let done = match req {
                Ok(req) => s.app.protect_branch(&p.who, &id, req).await.map(|_| "added"),
                Err(e) => Err(e),
            };
            ("branch", done)
        }
        "protected_branches/delete" => ("branch", s.app.unprotect_branch(&p.who, &id, &name).await.map(|()| "deleted")),
        "protected_tags" => {
            let done = match level(fields, "create_access_level") {
                Ok(create) => s.app.protect_tag(&p.who, &id, name, create).await.map(|_| "added"),
                Err(e) => Err(e),
            };
            ("tag", done)
        }
        "protected_tags/delete" => ("tag", s.app.unprotect_tag(&p.who, &id, &name).await.map(|()| "deleted")),
        _ => return None,
    };
    Some(match done {
        Ok(notice) => Page::redirect(&format!("{}/-/settings/repository?notice={notice}", p.base)),
        Err(e) => match retry_status(&e) {
            Some(status) => {
                let failed = Failed { form, status, error: message(&e), fields };
                page(s, browser, Some(chrome), p, Some(failed), None).await
            }
            None => Page::error(e),
        },
    })
}
