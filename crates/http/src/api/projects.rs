//! `/projects`, `/projects/:id`, `/groups/:id/projects`, `/users/:id/projects`.

use super::{Caller, Handler, List, created};
use crate::dto::{self, Chain, ProjectExtras};
use crate::error::{ApiResult, bad_param};
use crate::params::Params;
use crate::state::AppState;
use autogit_app::store::{Namespace, NamespaceKind, Project, ProjectFilter};
use autogit_app::{CreateProject, Principal, UpdateProject};
use autogit_core::access::Action;
use autogit_core::{AccessLevel, Visibility};
use autogit_core::{NamespaceId, UserId};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;
use std::collections::HashMap;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/projects", get(list).post(create))
        .route("/projects/{id}", get(show).put(update).delete(remove))
        .route("/groups/{id}/projects", get(list_in_group))
        .route("/users/{id}/projects", get(list_of_user))
}

/// Renders projects with their namespace chains, caching chains across one response.
pub async fn render(
    s: &AppState,
    who: &Principal,
    projects: &[Project],
    levels: Option<Option<AccessLevel>>,
) -> ApiResult<Vec<Value>> {
    let base = &s.config.external_url;
    let mut chains: HashMap<NamespaceId, Vec<Namespace>> = HashMap::new();
    let mut out = Vec::with_capacity(projects.len());
    for p in projects {
        if let std::collections::hash_map::Entry::Vacant(slot) = chains.entry(p.namespace_id) {
            slot.insert(s.app.namespace_ancestry(who, p.namespace_id).await?);
        }
        let chain = &chains[&p.namespace_id];
        let owner = match chain.last() {
            Some(n) if n.kind == NamespaceKind::User => match n.owner_id {
                Some(uid) => match s.app.get_user(who, uid).await {
                    Ok(u) => Some(u),
                    Err(autogit_app::AppError::NotFound(_)) => None,
                    Err(e) => return Err(e.into()),
                },
                None => None,
            },
            _ => None,
        };
        let level = match levels {
            Some(l) => l,
            None => s.app.project_level(who, p).await?,
        };
        let extras = ProjectExtras {
            chain: Chain { namespaces: chain },
            owner: owner.as_ref(),
            empty_repo: s.app.repository_is_empty(who, p),
            access_level: level,
            ssh_base: s.config.ssh_clone_base.as_deref(),
        };
        out.push(dto::project(base, p, &extras));
    }
    Ok(out)
}

fn filter_from(p: &Params) -> ApiResult<ProjectFilter> {
    let mut f = ProjectFilter { search: p.str("search")?, ..ProjectFilter::default() };
    f.access.membership_only = p.bool("membership")?.unwrap_or(false) || p.bool("owned")?.unwrap_or(false);
    Ok(f)
}

async fn list_filtered(s: &AppState, who: &Principal, list: &List, filter: ProjectFilter) -> Handler {
    let p = &list.params;
    let mut res = s.app.list_projects(who, filter, list.page()).await?;
    if let Some(v) = p.str("visibility")? {
        let v = Visibility::parse(&v).ok_or_else(|| bad_param("visibility", "does not have a valid value"))?;
        res.items.retain(|x| x.visibility == v);
    }
    let items = render(s, who, &res.items, None).await?;
    Ok(list.respond(s, res.total, items))
}

async fn list(State(s): State<AppState>, Caller(who): Caller, list: List) -> Handler {
    let p = &list.params;
    let filter = filter_from(p)?;
    list_filtered(&s, &who, &list, filter).await
}

async fn list_in_group(State(s): State<AppState>, Caller(who): Caller, Path(id): Path<String>, list: List) -> Handler {
    let group = s.app.get_group(&who, &id).await?;
    let filter = ProjectFilter { namespace_id: Some(group.id), ..filter_from(&list.params)? };
    list_filtered(&s, &who, &list, filter).await
}

async fn list_of_user(State(s): State<AppState>, Caller(who): Caller, Path(id): Path<String>, list: List) -> Handler {
    let user = match id.parse::<i64>() {
        Ok(n) => s.app.get_user(&who, UserId::new(n)).await?,
        Err(_) => s.app.get_user_by_username(&who, &id).await?,
    };
    let ns = s.app.user_namespace(&who, &user).await?;
    let filter = ProjectFilter { namespace_id: Some(ns.id), ..filter_from(&list.params)? };
    list_filtered(&s, &who, &list, filter).await
}

async fn show(State(s): State<AppState>, Caller(who): Caller, Path(id): Path<String>) -> Handler {
    let (project, level) = s.app.get_project(&who, &id, Action::View).await?;
    let mut v = render(&s, &who, std::slice::from_ref(&project), Some(level)).await?;
    Ok(Json(v.remove(0)).into_response())
}

fn visibility(p: &Params) -> ApiResult<Option<Visibility>> {
    match p.str("visibility")? {
        None => Ok(None),
        Some(v) => {
            Visibility::parse(&v).map(Some).ok_or_else(|| bad_param("visibility", "does not have a valid value"))
        }
    }
}

async fn create(State(s): State<AppState>, Caller(who): Caller, p: Params) -> Handler {
    let req = CreateProject {
        name: p.str("name")?.filter(|x| !x.is_empty()),
        path: p.str("path")?.filter(|x| !x.is_empty()),
        namespace_id: p.id("namespace_id", NamespaceId::new)?,
        description: p.str("description")?.unwrap_or_default(),
        visibility: visibility(&p)?,
        default_branch: p.str("default_branch")?.filter(|x| !x.is_empty()),
    };
    let project = s.app.create_project(&who, req).await?;
    let mut v = render(&s, &who, std::slice::from_ref(&project), None).await?;
    Ok(created(v.remove(0)))
}

async fn update(State(s): State<AppState>, Caller(who): Caller, Path(id): Path<String>, p: Params) -> Handler {
    let req = UpdateProject {
        name: p.str("name")?,
        path: p.str("path")?,
        description: p.str("description")?,
        visibility: visibility(&p)?,
        default_branch: p.str("default_branch")?,
        ci_config_path: p.str("ci_config_path")?,
    };
    let project = s.app.update_project(&who, &id, req).await?;
    let mut v = render(&s, &who, std::slice::from_ref(&project), None).await?;
    Ok(Json(v.remove(0)).into_response())
}

async fn remove(State(s): State<AppState>, Caller(who): Caller, Path(id): Path<String>) -> Handler {
    s.app.delete_project(&who, &id).await?;
    // GitLab answers 202 Accepted with a message, deleting in the background; AutoGit deletes at once.
    Ok((StatusCode::ACCEPTED, Json(serde_json::json!({"message": "202 Accepted"}))).into_response())
}
