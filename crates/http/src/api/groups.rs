//! `/groups`, `/groups/:id`, `/groups/:id/subgroups`.

use super::{Caller, Handler, List, created};
use crate::dto::{self, Chain};
use crate::error::{ApiResult, bad_param};
use crate::params::Params;
use crate::state::AppState;
use autogit_app::store::{GroupFilter, Namespace};
use autogit_app::{CreateGroup, Principal};
use autogit_core::NamespaceId;
use autogit_core::Visibility;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/groups", get(list).post(create))
        .route("/groups/{id}", get(show))
        .route("/groups/{id}/subgroups", get(subgroups))
}

async fn render(s: &AppState, who: &Principal, groups: &[Namespace]) -> ApiResult<Vec<Value>> {
    let mut out = Vec::with_capacity(groups.len());
    for g in groups {
        let chain = s.app.namespace_ancestry(who, g.id).await?;
        out.push(dto::group(&s.config.external_url, g, &Chain { namespaces: &chain }));
    }
    Ok(out)
}

async fn list_filtered(s: &AppState, who: &Principal, list: &List, mut filter: GroupFilter) -> Handler {
    let p = &list.params;
    filter.search = p.str("search")?;
    filter.access.membership_only = p.bool("owned")?.unwrap_or(false) || p.bool("min_access_level")?.is_some();
    let res = s.app.list_groups(who, filter, list.page()).await?;
    let items = render(s, who, &res.items).await?;
    Ok(list.respond(s, res.total, items))
}

async fn list(State(s): State<AppState>, Caller(who): Caller, list: List) -> Handler {
    let p = &list.params;
    let top = p.bool("top_level_only")?.unwrap_or(false);
    let filter = GroupFilter { parent: top.then_some(None), ..GroupFilter::default() };
    list_filtered(&s, &who, &list, filter).await
}

async fn subgroups(State(s): State<AppState>, Caller(who): Caller, Path(id): Path<String>, list: List) -> Handler {
    let g = s.app.get_group(&who, &id).await?;
    let filter = GroupFilter { parent: Some(Some(g.id)), ..GroupFilter::default() };
    list_filtered(&s, &who, &list, filter).await
}

async fn show(State(s): State<AppState>, Caller(who): Caller, Path(id): Path<String>) -> Handler {
    let g = s.app.get_group(&who, &id).await?;
    let mut v = render(&s, &who, std::slice::from_ref(&g)).await?;
    Ok(Json(v.remove(0)).into_response())
}

async fn create(State(s): State<AppState>, Caller(who): Caller, p: Params) -> Handler {
    let visibility = match p.str("visibility")? {
        None => None,
        Some(v) => Some(Visibility::parse(&v).ok_or_else(|| bad_param("visibility", "does not have a valid value"))?),
    };
    let req = CreateGroup {
        name: p.required("name")?,
        path: p.str("path")?.filter(|x| !x.is_empty()),
        parent_id: p.id("parent_id", NamespaceId::new)?,
        visibility,
        description: p.str("description")?.unwrap_or_default(),
    };
    let g = s.app.create_group(&who, req).await?;
    let mut v = render(&s, &who, std::slice::from_ref(&g)).await?;
    Ok(created(v.remove(0)))
}
