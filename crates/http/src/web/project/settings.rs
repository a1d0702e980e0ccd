//! A project's settings pages, at GitLab's addresses: `/-/settings/general` (name, description,
//! visibility, default branch, CI configuration path), `/-/settings/repository` (protected
//! branches and tags), `/-/hooks` (webhooks and their deliveries), `/-/settings/ci_cd` (CI/CD
//! variables) and `/-/project_members`, with the POSTs of their forms. The variables and members sections
//! are the ones groups have too (`web::group_settings`).
//!
//! # Who is trusted
//! Whoever may manage the project (Maintainer and up, or an administrator) sees these pages;
//! everyone else who may see the project gets a `404`, as in GitLab, and a project they may not
//! see is a `404` already. Every change is decided again by the use-case the API uses.

mod general;
mod hooks;
mod repository;

use super::{Params, Proj};
use crate::state::AppState;
use crate::web::settings::{self as shared, Outcome, Retry, Section, Subject};
use crate::web::{Browser, Page};
use autogit_app::Principal;
use autogit_core::access::{Action, decide};
use axum::http::StatusCode;
use minijinja::{Value, context};

/// `GET <project>/-/settings/…` and `<project>/-/project_members`.
pub(super) async fn get(s: &AppState, browser: &Browser, p: &Proj, rest: &str, q: &Params) -> Page {
    if !may_manage(p) {
        return Page::not_found();
    }
    let notice = shared::notice(q);
    match rest.trim_end_matches('/') {
        "settings" => Page::redirect(&format!("{}/-/settings/general", p.base)),
        "settings/general" => general::page(s, browser, None, p, None, notice).await,
        "settings/repository" => repository::page(s, browser, None, p, None, notice).await,
        "hooks" => hooks::page(s, browser, None, p, None, notice).await,
        "settings/ci_cd" => section_page(s, browser, None, p, Section::Variables, None, notice).await,
        "project_members" => section_page(s, browser, None, p, Section::Members, None, notice).await,
        other => match other.strip_prefix("hooks/").and_then(|t| t.strip_suffix("/hook_logs")).map(str::parse) {
            Some(Ok(id)) => hooks::logs(s, browser, p, id, notice).await,
            _ => Page::not_found(),
        },
    }
}

/// `POST <project>/-/settings/…` and `<project>/-/project_members/…`; `form` is the whole
/// urlencoded body, already checked for the CSRF token.
pub(super) async fn post(
    s: &AppState,
    who: &Principal,
    project_path: &str,
    rest: &str,
    form: &[(String, String)],
) -> Page {
    let (project, level) = match s.app.get_project(who, project_path, Action::View).await {
        Ok(x) => x,
        Err(e) => return Page::error(e),
    };
    let base = format!("/{}", crate::web::filters::path(&project.full_path));
    let p = Proj { project, level, who: who.clone(), base };
    if !may_manage(&p) {
        return Page::not_found();
    }
    let browser = shared::stand_in(who);
    let chrome = shared::chrome_after_post(who, form);
    let rest = rest.trim_end_matches('/');
    if rest == "settings/general" {
        return general::post(s, &browser, chrome, &p, form).await;
    }
    if rest == "hooks" || rest.starts_with("hooks/") {
        return hooks::post(s, &browser, chrome, &p, rest, form).await.unwrap_or_else(Page::not_found);
    }
    if let Some(what) = rest.strip_prefix("settings/repository/") {
        return repository::post(s, &browser, chrome, &p, what, form).await.unwrap_or_else(Page::not_found);
    }
    let subject = Subject::project(&p.project);
    match shared::post_section(s, who, &subject, rest, form).await {
        None => Page::not_found(),
        Some(Outcome::Done(page)) => page,
        Some(Outcome::Retry(r)) => section_page(s, &browser, Some(chrome), &p, r.section, Some(&r), None).await,
    }
}

/// Whether the browser may manage the project: what the settings use-cases ask.
pub(super) fn may_manage(p: &Proj) -> bool {
    decide(p.who.actor, p.project.visibility, p.level, Action::Manage).is_allowed()
}

/// The context every settings page starts from: the project's, on its Settings tab, with the
/// settings' own tabs; `chrome` replaces the layout's when the page answers a POST.
fn page_ctx(browser: &Browser, chrome: Option<Value>, p: &Proj, title: &str, current: &str) -> Value {
    let b = &p.base;
    let nav = vec![
        context! { id => "general", label => "General", href => format!("{b}/-/settings/general") },
        context! { id => "repository", label => "Repository", href => format!("{b}/-/settings/repository") },
        context! { id => "hooks", label => "Webhooks", href => format!("{b}/-/hooks") },
        context! { id => "ci_cd", label => "CI/CD variables", href => format!("{b}/-/settings/ci_cd") },
        context! { id => "members", label => "Members", href => format!("{b}/-/project_members") },
    ];
    let base = p.ctx(browser, title, "settings");
    match chrome {
        Some(c) => context! { chrome => c, heading => title, settings_nav => nav, current => current, ..base },
        None => context! { heading => title, settings_nav => nav, current => current, ..base },
    }
}

/// The CI/CD variables or members page, with a failed form shown again.
async fn section_page(
    s: &AppState,
    browser: &Browser,
    chrome: Option<Value>,
    p: &Proj,
    section: Section,
    retry: Option<&Retry>,
    notice: Option<&str>,
) -> Page {
    let subject = Subject::project(&p.project);
    let part = match shared::section_ctx(s, &p.who, &subject, section, retry).await {
        Ok(v) => v,
        Err(e) => return Page::error(e),
    };
    let (title, current, template) = match section {
        Section::Variables => ("CI/CD variables", "ci_cd", "settings_ci.html"),
        Section::Members => ("Members", "members", "members.html"),
    };
    let ctx = context! { notice => notice, ..context! { ..page_ctx(browser, chrome, p, title, current), ..part } };
    Page::render(retry.map_or(StatusCode::OK, |r| r.status), template, ctx)
}
