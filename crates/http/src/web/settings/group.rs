//! A group's settings pages: GitLab's `/groups/<path>/-/settings/ci_cd` and
//! `/groups/<path>/-/group_members` (the group page's wildcard route in `explore.rs` hands a path
//! with `/-/` to [`page`]); the forms post to `POST /groups/{*path}`.

use super::*;
use crate::web::CheckedForm;
use axum::Router;
use axum::extract::{Path, State};
use axum::routing::post;

pub(in crate::web) fn routes() -> Router<AppState> {
    Router::new().route("/groups/{*path}", post(group_post))
}

/// The group at `path` if the principal may manage it; `404` otherwise, as GitLab hides a
/// group's settings from whoever may not change them.
async fn managed_group(s: &AppState, who: &Principal, path: &str) -> Result<Namespace, Page> {
    let g = s.app.get_group(who, path).await.map_err(Page::error)?;
    let level = s.app.namespace_level(who, &g).await.map_err(Page::error)?;
    if !decide(who.actor, g.visibility, level, Action::Manage).is_allowed() {
        return Err(Page::error(AppError::NotFound("Group")));
    }
    Ok(g)
}

/// The section a path after `/-/` names: `settings/ci_cd`, `group_members`.
pub(super) fn group_section(rest: &str) -> Option<Section> {
    match rest.trim_end_matches('/') {
        "settings/ci_cd" => Some(Section::Variables),
        "group_members" => Some(Section::Members),
        _ => None,
    }
}

/// A group's settings page: `rest` is the part of the address after `/-/`.
pub(crate) async fn page(
    s: &AppState,
    browser: &Browser,
    group_path: &str,
    rest: &str,
    q: &HashMap<String, String>,
) -> Page {
    let who = browser.principal();
    let g = match managed_group(s, &who, group_path).await {
        Ok(g) => g,
        Err(p) => return p,
    };
    let Some(section) = group_section(rest) else { return Page::not_found() };
    render_group(s, chrome(browser), &who, &g, section, None, notice(q)).await
}

/// `POST /groups/<path>/-/settings/ci_cd/variables…` and `…/-/group_members…`.
async fn group_post(
    State(s): State<AppState>,
    Path(path): Path<String>,
    CheckedForm { browser: _, who, fields }: CheckedForm,
) -> Page {
    let Some((group_path, rest)) = path.split_once("/-/") else { return Page::not_found() };
    let g = match managed_group(&s, &who, group_path.trim_matches('/')).await {
        Ok(g) => g,
        Err(p) => return p,
    };
    let subject = Subject::group(&g);
    match post_section(&s, &who, &subject, rest, &fields).await {
        None => Page::not_found(),
        Some(Outcome::Done(page)) => page,
        Some(Outcome::Retry(r)) => {
            render_group(&s, chrome_after_post(&who, &fields), &who, &g, r.section, Some(&r), None).await
        }
    }
}

async fn render_group(
    s: &AppState,
    chrome: Value,
    who: &Principal,
    g: &Namespace,
    section: Section,
    retry: Option<&Retry>,
    notice: Option<&str>,
) -> Page {
    let subject = Subject::group(g);
    let part = match section_ctx(s, who, &subject, section, retry).await {
        Ok(v) => v,
        Err(e) => return Page::error(e),
    };
    let (heading, current) = match section {
        Section::Variables => ("CI/CD variables", "ci_cd"),
        Section::Members => ("Members", "members"),
    };
    let nav = vec![
        context! { id => "ci_cd", label => "CI/CD variables", href => subject.page_of(Section::Variables) },
        context! { id => "members", label => "Members", href => subject.page_of(Section::Members) },
    ];
    let ctx = context! {
        chrome => chrome, title => format!("{heading} · {}", g.full_path), heading => heading,
        group => context! { name => g.name.clone(), full_path => g.full_path.clone(), href => format!("/groups/{}", crate::web::filters::path(&g.full_path)) },
        settings_nav => nav, current => current, section => current, notice => notice,
        ..part
    };
    Page::render(retry.map_or(StatusCode::OK, |r| r.status), "group_settings.html", ctx)
}
