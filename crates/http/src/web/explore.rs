//! The pages that list what a person may see: the dashboard (`/`, `/dashboard/projects`: their
//! projects and recent pipelines), `/explore/projects`, `/explore/groups` and a group's page
//! (`/groups/<path>`). Lists come from the same use-cases as the API, so visibility is decided
//! exactly as there.

use super::{Browser, Page, chrome};
use crate::state::AppState;
use crate::web::ui::val;
use autogit_app::store::{
    AccessFilter, GroupFilter, Listed, Namespace, Page as Window, PipelineFilter, Project, ProjectFilter,
};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use minijinja::context;
use serde::{Deserialize, Serialize};

/// Rows per list page.
pub(crate) const PER_PAGE: i64 = 20;
/// Projects whose pipelines the dashboard looks at, and pipelines it shows.
const DASHBOARD_PROJECTS: usize = 10;
const DASHBOARD_PIPELINES: usize = 10;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(dashboard))
        .route("/dashboard/projects", get(dashboard))
        .route("/explore", get(|| async { Page::redirect("/explore/projects") }))
        .route("/explore/projects", get(explore_projects))
        .route("/explore/groups", get(explore_groups))
        .route("/groups/{*path}", get(group))
}

#[derive(Deserialize, Default)]
pub(crate) struct ListQuery {
    #[serde(default)]
    page: Option<String>,
    #[serde(default)]
    search: Option<String>,
}

impl ListQuery {
    pub(crate) fn number(&self) -> i64 {
        page_number(self.page.as_deref())
    }

    pub(crate) fn window(&self) -> Window {
        Window { offset: (self.number() - 1) * PER_PAGE, limit: PER_PAGE }
    }
}

/// A list's page number from its `page` parameter: 1 to 10,000, else the first page.
pub(crate) fn page_number(raw: Option<&str>) -> i64 {
    raw.and_then(|p| p.parse::<i64>().ok()).filter(|n| (1..=10_000).contains(n)).unwrap_or(1)
}

/// The pager of a list page: links to the neighbouring pages that exist.
pub(crate) fn pager(base: &str, number: i64, total: i64, extra: &str) -> minijinja::Value {
    let link = |n: i64| format!("{base}?page={n}{extra}");
    context! {
        number => number,
        prev => (number > 1).then(|| link(number - 1)),
        next => (number * PER_PAGE < total).then(|| link(number + 1)),
    }
}

/// A project as lists show it.
#[derive(Serialize)]
pub(crate) struct ProjectRow {
    full_path: String,
    name: String,
    description: String,
    visibility: String,
}

pub(crate) fn project_row(p: &Project) -> ProjectRow {
    ProjectRow {
        full_path: p.full_path.clone(),
        name: p.name.clone(),
        description: p.description.clone(),
        visibility: p.visibility.to_string(),
    }
}

#[derive(Serialize)]
pub(crate) struct GroupRow {
    full_path: String,
    name: String,
    description: String,
    visibility: String,
}

pub(crate) fn group_row(g: &Namespace) -> GroupRow {
    GroupRow {
        full_path: g.full_path.clone(),
        name: g.name.clone(),
        description: g.description.clone(),
        visibility: g.visibility.to_string(),
    }
}

/// `/` and `/dashboard/projects` for a signed-in person; the sign-in page for anyone else.
pub(super) async fn dashboard(State(s): State<AppState>, browser: Browser) -> Page {
    let Some(who) = &browser.who else { return Page::redirect("/users/sign_in") };
    let filter =
        ProjectFilter { access: AccessFilter { membership_only: true, ..Default::default() }, ..Default::default() };
    let projects = match s.app.list_projects(who, filter, Window { offset: 0, limit: 100 }).await {
        Ok(l) => l.items,
        Err(e) => return Page::error(e),
    };
    let mut pipelines = Vec::new();
    for p in projects.iter().take(DASHBOARD_PROJECTS) {
        let recent = s
            .app
            .list_pipelines(who, &p.id.to_string(), &PipelineFilter::default(), Window { offset: 0, limit: 5 })
            .await;
        if let Ok(Listed { items, .. }) = recent {
            pipelines.extend(items.into_iter().map(|pl| (p.full_path.clone(), pl)));
        }
    }
    pipelines.sort_by_key(|(_, pl)| std::cmp::Reverse(pl.created_at));
    pipelines.truncate(DASHBOARD_PIPELINES);
    let rows: Vec<_> = pipelines
        .iter()
        .map(|(path, pl)| {
            context! {
                id => pl.id.get(), status => pl.status.as_str(), project => path.clone(), ref_name => pl.ref_name.clone(),
                created_at => pl.created_at.to_rfc3339(),
                href => format!("/{}/-/pipelines/{}", super::filters::path(path), pl.id),
            }
        })
        .collect();
    let ctx = context! {
        chrome => chrome(&browser), title => "Your projects",
        projects => val(&projects.iter().map(project_row).collect::<Vec<_>>()),
        pipelines => rows,
    };
    Page::render(StatusCode::OK, "dashboard.html", ctx)
}

async fn explore_projects(State(s): State<AppState>, browser: Browser, Query(q): Query<ListQuery>) -> Page {
    let who = browser.principal();
    let search = q.search.clone().map(|t| t.trim().chars().take(200).collect::<String>()).filter(|t| !t.is_empty());
    let filter = ProjectFilter { search: search.clone(), ..Default::default() };
    let listed = match s.app.list_projects(&who, filter, q.window()).await {
        Ok(l) => l,
        Err(e) => return Page::error(e),
    };
    let extra = search.as_deref().map(|t| format!("&search={}", super::filters::path(t))).unwrap_or_default();
    let ctx = context! {
        chrome => chrome(&browser), title => "Explore projects", search => search.clone().unwrap_or_default(),
        projects => val(&listed.items.iter().map(project_row).collect::<Vec<_>>()),
        page => pager("/explore/projects", q.number(), listed.total, &extra),
    };
    Page::render(StatusCode::OK, "explore_projects.html", ctx)
}

async fn explore_groups(State(s): State<AppState>, browser: Browser, Query(q): Query<ListQuery>) -> Page {
    let who = browser.principal();
    let listed = match s.app.list_groups(&who, GroupFilter::default(), q.window()).await {
        Ok(l) => l,
        Err(e) => return Page::error(e),
    };
    let ctx = context! {
        chrome => chrome(&browser), title => "Explore groups",
        groups => val(&listed.items.iter().map(group_row).collect::<Vec<_>>()),
        page => pager("/explore/groups", q.number(), listed.total, ""),
    };
    Page::render(StatusCode::OK, "explore_groups.html", ctx)
}

/// `/groups/<path>`: a group with its subgroups and projects; `/groups/<path>/-/…` its settings.
async fn group(
    State(s): State<AppState>,
    browser: Browser,
    Path(path): Path<String>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Page {
    if let Some((group_path, rest)) = path.split_once("/-/") {
        return super::settings::page(&s, &browser, group_path.trim_matches('/'), rest, &q).await;
    }
    let who = browser.principal();
    let g = match s.app.get_group(&who, path.trim_end_matches('/')).await {
        Ok(g) => g,
        Err(e) => return Page::error(e),
    };
    namespace_page(&s, &browser, &g).await
}

/// A namespace's page (a group's, or a user's personal one): its subgroups and projects.
pub(crate) async fn namespace_page(s: &AppState, browser: &Browser, ns: &Namespace) -> Page {
    let who = browser.principal();
    let filter = ProjectFilter { namespace_id: Some(ns.id), ..Default::default() };
    let projects = match s.app.list_projects(&who, filter, Window { offset: 0, limit: 100 }).await {
        Ok(l) => l.items,
        Err(e) => return Page::error(e),
    };
    let subgroups = if ns.kind == autogit_app::store::NamespaceKind::Group {
        let f = GroupFilter { parent: Some(Some(ns.id)), ..Default::default() };
        s.app.list_groups(&who, f, Window { offset: 0, limit: 100 }).await.map(|l| l.items).unwrap_or_default()
    } else {
        Vec::new()
    };
    let manages = ns.kind == autogit_app::store::NamespaceKind::Group
        && (who.actor.is_admin()
            || s.app
                .namespace_level(&who, ns)
                .await
                .ok()
                .flatten()
                .is_some_and(|l| l >= autogit_core::AccessLevel::Maintainer));
    let ctx = context! {
        chrome => chrome(browser), title => ns.name.clone(), manages => manages,
        namespace => val(&group_row(ns)),
        subgroups => val(&subgroups.iter().map(group_row).collect::<Vec<_>>()),
        projects => val(&projects.iter().map(project_row).collect::<Vec<_>>()),
    };
    Page::render(StatusCode::OK, "namespace.html", ctx)
}
