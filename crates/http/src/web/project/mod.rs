//! The pages under a project's path, GitLab's URL scheme: `/<namespace>/<project>` (home),
//! `/-/tree|blob|raw/<ref>/<path>`, `/-/commits/<ref>[/<path>]`, `/-/commit/<sha>`,
//! `/-/branches`, `/-/tags`, `/-/compare`, `/-/pipelines[/<id>]`, `/-/jobs/<id>[/raw|/trace_stream]`,
//! `/-/jobs/<id>/artifacts/download|browse[/<dir>]|raw/<path>`,
//! and the POSTs of the CI buttons. A path without `/-/` that names no project is a namespace
//! (a user's or a group's page).
//!
//! # Who is trusted
//! Nobody beyond the session: every page asks the same use-case the API asks, so a project a
//! browser may not see is a `404`, and a button that is shown is also checked when pressed.
//! Ref and file names in addresses are checked by the git layer before git sees them.

mod artifacts;
mod ci;
mod code;
mod history;
mod live_log;
mod settings;

use super::{Browser, Page, chrome};
use crate::state::AppState;
use crate::web::CheckedForm;
use autogit_app::Principal;
use autogit_app::store::Project;
use autogit_core::AccessLevel;
use autogit_core::access::Action;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use minijinja::context;
use std::collections::HashMap;

/// Query parameters of a page (`page`, `from`, `to`, `offset`, `inline`…), each read where used.
pub(crate) type Params = HashMap<String, String>;

/// A project page's subject: the project, the browser's role in it and who acts.
pub(crate) struct Proj {
    pub project: Project,
    pub level: Option<AccessLevel>,
    pub who: Principal,
    /// `/<full path>`, escaped for an address.
    pub base: String,
}

impl Proj {
    /// The project's part of the layout: names, visibility and the tabs.
    fn header(&self) -> minijinja::Value {
        let p = &self.project;
        let (ns, _) = p.full_path.rsplit_once('/').unwrap_or(("", &p.full_path));
        let default = p.default_branch.clone().unwrap_or_else(|| "main".into());
        let b = &self.base;
        let mut tabs = vec![
            ("code", "Repository", b.clone()),
            ("commits", "Commits", format!("{b}/-/commits/{}", super::filters::path(&default))),
            ("branches", "Branches", format!("{b}/-/branches")),
            ("tags", "Tags", format!("{b}/-/tags")),
            ("compare", "Compare", format!("{b}/-/compare")),
            ("pipelines", "Pipelines", format!("{b}/-/pipelines")),
        ];
        if self.level >= Some(AccessLevel::Maintainer) || self.who.actor.is_admin() {
            tabs.push(("settings", "Settings", format!("{b}/-/settings/general")));
        }
        context! {
            name => p.name.clone(), path => p.path.clone(), full_path => p.full_path.clone(), namespace_path => ns, namespace_name => ns,
            visibility => p.visibility.to_string(), default_branch => p.default_branch.clone(),
            tabs => tabs.iter().map(|(id, label, href)| context! { id => *id, label => *label, href => href.clone() }).collect::<Vec<_>>(),
        }
    }

    /// The context every project page starts from.
    fn ctx(&self, browser: &Browser, title: &str, tab: &str) -> minijinja::Value {
        context! { chrome => chrome(browser), title => format!("{title} · {}", self.project.full_path), project => self.header(), tab => tab }
    }

    /// Whether the browser may see the project's code (guests of private projects may not).
    fn may_read_code(&self) -> bool {
        autogit_core::access::decide(self.who.actor, self.project.visibility, self.level, Action::ReadRepository)
            .is_allowed()
    }
}

/// `GET /<path>`.
pub(super) async fn get(
    State(s): State<AppState>,
    browser: Browser,
    Path(path): Path<String>,
    Query(q): Query<Params>,
    headers: HeaderMap,
) -> Response {
    let Some((project_path, rest)) = split(&path) else { return namespace_or_project(&s, &browser, &path).await };
    let p = match open(&s, &browser, project_path).await {
        Ok(p) => p,
        Err(page) => return page.into_response(),
    };
    let (word, tail) = rest.split_once('/').unwrap_or((rest, ""));
    match word {
        "tree" => code::tree(&s, &browser, &p, tail).await.into_response(),
        "blob" => code::blob(&s, &browser, &p, tail).await.into_response(),
        "raw" => code::raw(&s, &p, tail, &q).await,
        "commits" => history::commits(&s, &browser, &p, tail, &q).await.into_response(),
        "commit" => history::commit(&s, &browser, &p, tail).await.into_response(),
        "branches" if tail.is_empty() => history::branches(&s, &browser, &p).await.into_response(),
        "tags" if tail.is_empty() => history::tags(&s, &browser, &p).await.into_response(),
        "compare" => history::compare(&s, &browser, &p, tail, &q).await.into_response(),
        "pipelines" => ci::pipelines_get(&s, &browser, &p, tail, &q).await.into_response(),
        "jobs" => ci::jobs_get(&s, &browser, &p, tail, &q, &headers).await,
        "settings" | "project_members" | "hooks" => settings::get(&s, &browser, &p, rest, &q).await.into_response(),
        _ => Page::not_found().into_response(),
    }
}

/// `POST /<path>`: the CI buttons (cancel, retry, play), each with the session's CSRF token.
pub(super) async fn post(
    State(s): State<AppState>,
    Path(path): Path<String>,
    CheckedForm { browser: _, who, fields }: CheckedForm,
) -> Page {
    let Some((project_path, rest)) = split(&path) else { return Page::not_found() };
    if rest.starts_with("settings/")
        || rest.starts_with("project_members")
        || rest == "hooks"
        || rest.starts_with("hooks/")
    {
        return settings::post(&s, &who, project_path, rest, &fields).await;
    }
    ci::action(&s, &who, project_path, rest).await
}

/// `a/b/-/tree/x` → `("a/b", "tree/x")`; `None` when the path has no `/-/`.
fn split(path: &str) -> Option<(&str, &str)> {
    path.split_once("/-/").map(|(p, r)| (p.trim_matches('/'), r))
}

/// The project at `path` if the browser may see it.
async fn open(s: &AppState, browser: &Browser, path: &str) -> Result<Proj, Page> {
    let who = browser.principal();
    let (project, level) = s.app.get_project(&who, path, Action::View).await.map_err(Page::error)?;
    let base = format!("/{}", super::filters::path(&project.full_path));
    Ok(Proj { project, level, who, base })
}

/// A path without `/-/`: a project's home, else a user's or group's page.
async fn namespace_or_project(s: &AppState, browser: &Browser, path: &str) -> Response {
    let path = path.trim_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    if path.contains('/') {
        match open(s, browser, path).await {
            Ok(p) => return code::home(s, browser, &p).await.into_response(),
            Err(page) if page.0.status() != axum::http::StatusCode::NOT_FOUND => return page.into_response(),
            Err(_) => {}
        }
    }
    let who = browser.principal();
    if let Ok(g) = s.app.get_group(&who, path).await {
        return super::explore::namespace_page(s, browser, &g).await.into_response();
    }
    if !path.contains('/')
        && let Ok(user) = s.app.get_user_by_username(&who, path).await
        && let Ok(ns) = s.app.user_namespace(&who, &user).await
    {
        return super::explore::namespace_page(s, browser, &ns).await.into_response();
    }
    super::unknown_page()
}

/// Splits `<ref>/<path>` at the longest branch or tag name it starts with (`feature/x/src` →
/// `feature/x`, `src`), or at the first `/` when the first segment is a commit id.
pub(crate) fn split_ref<'a>(names: &[String], rest: &'a str) -> Option<(&'a str, &'a str)> {
    let rest = rest.trim_end_matches('/');
    let best = names
        .iter()
        .filter(|n| rest == n.as_str() || (rest.starts_with(n.as_str()) && rest.as_bytes().get(n.len()) == Some(&b'/')))
        .max_by_key(|n| n.len());
    if let Some(n) = best {
        let tail = rest[n.len()..].trim_start_matches('/');
        return Some((&rest[..n.len()], tail));
    }
    let (first, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let is_sha = (7..=64).contains(&first.len()) && first.bytes().all(|b| b.is_ascii_hexdigit());
    (is_sha || first == "HEAD").then_some((first, tail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_with_slashes_are_split_at_the_longest_name() {
        let names: Vec<String> = ["main", "feature", "feature/x", "v1.0"].map(String::from).to_vec();
        assert_eq!(split_ref(&names, "main/src/lib.rs"), Some(("main", "src/lib.rs")));
        assert_eq!(split_ref(&names, "feature/x/src"), Some(("feature/x", "src")));
        assert_eq!(split_ref(&names, "feature/y"), Some(("feature", "y")));
        assert_eq!(split_ref(&names, "v1.0"), Some(("v1.0", "")));
        assert_eq!(split_ref(&names, "mainline/a"), None);
        assert_eq!(split_ref(&names, "0123abcd/README.md"), Some(("0123abcd", "README.md")));
        assert_eq!(split_ref(&names, "nothing"), None);
    }

    #[test]
    fn project_paths_split_at_the_separator() {
        assert_eq!(split("g/sub/p/-/tree/main"), Some(("g/sub/p", "tree/main")));
        assert_eq!(split("g/p"), None);
    }
}
