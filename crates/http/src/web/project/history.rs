//! History pages: commits of a ref (and path), one commit with its diff, branches, tags and
//! the comparison of two refs.

use super::code::{commit_view, pipeline_badge};
use super::{Params, Proj, split_ref};
use crate::state::AppState;
use crate::web::explore::PER_PAGE;
use crate::web::filters::path as url_path;
use crate::web::ui::val;
use crate::web::{Browser, Page};
use autogit_app::AppError;
use autogit_git::read::{self, Patch};
use autogit_render::diff;
use axum::http::StatusCode;
use minijinja::context;
use serde::Serialize;

/// Commits a comparison lists.
const MAX_COMPARE_COMMITS: usize = 100;

/// `/-/commits/<ref>[/<path>]`, paginated.
pub(super) async fn commits(s: &AppState, browser: &Browser, p: &Proj, tail: &str, q: &Params) -> Page {
    let (_, repo) = match s.app.readable_repository(&p.who, &p.project.full_path).await {
        Ok(x) => x,
        Err(e) => return Page::error(e),
    };
    let names = match read::ref_names(&repo).await {
        Ok(n) => n,
        Err(e) => return Page::error(e.into()),
    };
    let Some((refname, path)) = split_ref(&names, tail) else { return Page::error(AppError::NotFound("Ref")) };
    let number = crate::web::explore::page_number(q.get("page").map(String::as_str));
    let skip = usize::try_from((number - 1) * PER_PAGE).unwrap_or(0);
    let dir = (!path.is_empty()).then_some(path);
    // One more than a page tells whether there is a next one without counting all history.
    let mut list = match read::commits(&repo, Some(refname), dir, skip, PER_PAGE as usize + 1).await {
        Ok(l) => l,
        Err(e) => return Page::error(e.into()),
    };
    let more = list.len() > PER_PAGE as usize;
    list.truncate(PER_PAGE as usize);
    let mut rows = Vec::with_capacity(list.len());
    for c in &list {
        let mut v = commit_view(c);
        v.pipeline = pipeline_badge(s, p, &c.id).await;
        rows.push(v);
    }
    let base = format!("{}/-/commits/{}", p.base, url_path(tail.trim_end_matches('/')));
    let page = context! {
        number => number,
        prev => (number > 1).then(|| format!("{base}?page={}", number - 1)),
        next => more.then(|| format!("{base}?page={}", number + 1)),
    };
    let ctx = context! {
        ..p.ctx(browser, "Commits", "commits"),
        ..context! { ref_name => refname, path => path, commits => val(&rows), page => page }
    };
    Page::render(StatusCode::OK, "commits.html", ctx)
}

#[derive(Serialize)]
struct FileRow {
    #[serde(flatten)]
    file: diff::FileDiff,
    path: String,
    view: Option<String>,
}

/// The template values of a patch: files (with links to the file at `view_rev`), stats.
fn diff_ctx(p: &Proj, patch: &Patch, view_rev: &str) -> minijinja::Value {
    let files = diff::parse(&patch.text);
    let stats = diff::stats(&files);
    let rows: Vec<FileRow> = files
        .into_iter()
        .map(|f| {
            let path = f.path().to_string();
            let view = f.new_path.as_ref().map(|n| format!("{}/-/blob/{}/{}", p.base, url_path(view_rev), url_path(n)));
            FileRow { file: f, path, view }
        })
        .collect();
    context! { files => val(&rows), stats => val(&stats), truncated => patch.truncated }
}

/// `/-/commit/<sha>`: the commit, its pipelines and its diff against its first parent.
pub(super) async fn commit(s: &AppState, browser: &Browser, p: &Proj, tail: &str) -> Page {
    let sha = tail.trim_end_matches('/');
    if let Err(e) = autogit_app::check_revision("sha", sha) {
        return Page::error(e);
    }
    let (_, repo) = match s.app.readable_repository(&p.who, &p.project.full_path).await {
        Ok(x) => x,
        Err(e) => return Page::error(e),
    };
    let (info, patch) = match read::commit_patch(&repo, sha).await {
        Ok(Some(x)) => x,
        Ok(None) => return Page::error(AppError::NotFound("Commit")),
        Err(e) => return Page::error(e.into()),
    };
    let filter = autogit_app::store::PipelineFilter { sha: Some(info.id.clone()), ..Default::default() };
    let window = autogit_app::store::Page { offset: 0, limit: 20 };
    let pipelines: Vec<_> = match s.app.list_pipelines(&p.who, &p.project.id.to_string(), &filter, window).await {
        Ok(l) => l
            .items
            .iter()
            .map(|pl| context! { id => pl.id.get(), status => pl.status.as_str(), href => format!("{}/-/pipelines/{}", p.base, pl.id) })
            .collect(),
        // Guests of some projects may read code but not pipelines.
        Err(_) => Vec::new(),
    };
    let statuses = external_statuses(s, p, &info.id).await;
    let body = info.message.split_once('\n').map(|(_, rest)| rest.trim().to_string()).unwrap_or_default();
    let ctx = context! {
        ..p.ctx(browser, &info.title, "commits"),
        ..context! { commit => val(&commit_view(&info)), body => body, pipelines => pipelines, statuses => statuses },
        ..diff_ctx(p, &patch, &info.id)
    };
    Page::render(StatusCode::OK, "commit.html", ctx)
}

/// The external statuses of a commit (the newest of each ref and name), as the commit page lists
/// them beside the pipelines; a link only for the `http`/`https` URLs the API accepts.
async fn external_statuses(s: &AppState, p: &Proj, sha: &str) -> Vec<minijinja::Value> {
    let filter = autogit_app::store::CommitStatusFilter::default();
    let window = autogit_app::store::Page { offset: 0, limit: 50 };
    match s.app.commit_statuses(&p.who, &p.project.id.to_string(), sha, &filter, window).await {
        Ok((_, listed)) => listed
            .items
            .iter()
            .map(|(c, _)| {
                context! { name => &c.key.name, ref_name => &c.key.ref_name, status => c.status.as_str(),
                description => &c.description, href => &c.target_url }
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// `/-/branches`.
pub(super) async fn branches(s: &AppState, browser: &Browser, p: &Proj) -> Page {
    let (_, repo) = match s.app.readable_repository(&p.who, &p.project.full_path).await {
        Ok(x) => x,
        Err(e) => return Page::error(e),
    };
    let list = match read::branches(&repo).await {
        Ok(l) => l,
        Err(e) => return Page::error(e.into()),
    };
    let protected = s
        .app
        .list_protected_branches(&p.who, &p.project.id.to_string(), autogit_app::store::Page::ALL)
        .await
        .map(|l| l.items)
        .unwrap_or_default();
    let default = list.iter().find(|b| b.default).map(|b| b.name.clone());
    let rows: Vec<_> = list
        .iter()
        .map(|b| {
            let is_protected = protected.iter().any(|pb| autogit_core::protection::pattern_matches(&pb.name, &b.name));
            context! {
                name => b.name.clone(), default => b.default, protected => is_protected, commit => val(&commit_view(&b.commit)),
                compare => default.as_ref().filter(|d| **d != b.name).map(|d| {
                    format!("{}/-/compare?from={}&to={}", p.base, url_path(d), url_path(&b.name))
                }),
            }
        })
        .collect();
    let ctx = context! { ..p.ctx(browser, "Branches", "branches"), ..context! { heading => "Branches", refs => rows } };
    Page::render(StatusCode::OK, "refs.html", ctx)
}

/// `/-/tags`.
pub(super) async fn tags(s: &AppState, browser: &Browser, p: &Proj) -> Page {
    let (_, repo) = match s.app.readable_repository(&p.who, &p.project.full_path).await {
        Ok(x) => x,
        Err(e) => return Page::error(e),
    };
    let list = match read::tags(&repo).await {
        Ok(l) => l,
        Err(e) => return Page::error(e.into()),
    };
    let rows: Vec<_> = list
        .iter()
        .rev()
        .map(|t| context! { name => t.name.clone(), message => t.message.clone(), commit => val(&t.commit.as_ref().map(commit_view)) })
        .collect();
    let ctx = context! { ..p.ctx(browser, "Tags", "tags"), ..context! { heading => "Tags", refs => rows } };
    Page::render(StatusCode::OK, "refs.html", ctx)
}

/// `/-/compare?from=<ref>&to=<ref>` (and GitLab's `/-/compare/<from>...<to>`).
pub(super) async fn compare(s: &AppState, browser: &Browser, p: &Proj, tail: &str, q: &Params) -> Page {
    let (from, to) = match tail.split_once("...") {
        Some((a, b)) => (a.to_string(), b.to_string()),
        None => (q.get("from").cloned().unwrap_or_default(), q.get("to").cloned().unwrap_or_default()),
    };
    let mut extra = context! { from => from.clone(), to => to.clone(), compared => false };
    if !from.is_empty() && !to.is_empty() {
        let checked = autogit_app::check_revision("from", &from).and_then(|_| autogit_app::check_revision("to", &to));
        let found = match checked {
            Ok(()) => match s.app.readable_repository(&p.who, &p.project.full_path).await {
                Ok((_, repo)) => read::compare(&repo, &from, &to, MAX_COMPARE_COMMITS).await.map_err(AppError::from),
                Err(e) => return Page::error(e),
            },
            Err(e) => Err(e),
        };
        extra = match found {
            Ok(Some((commits, patch))) => {
                let rows: Vec<_> = commits.iter().map(commit_view).collect();
                context! {
                    from => from.clone(), to => to.clone(), compared => true, commits => val(&rows),
                    ..diff_ctx(p, &patch, &to)
                }
            }
            Ok(None) => {
                context! { from => from.clone(), to => to.clone(), compared => false, error => "One of the refs names no commit." }
            }
            Err(e) => context! { from => from.clone(), to => to.clone(), compared => false, error => e.to_string() },
        };
    }
    let ctx = context! { ..p.ctx(browser, "Compare", "compare"), ..extra };
    Page::render(StatusCode::OK, "compare.html", ctx)
}
