//! `/groups/:id/members` and `/projects/:id/members` (direct members).

use super::{Caller, Handler, List, created};
use crate::dto;
use crate::error::{ApiError, bad_param};
use crate::params::Params;
use crate::state::AppState;
use autogit_app::{AppError, Source};
use autogit_core::AccessLevel;
use autogit_core::UserId;
use axum::extract::{MatchedPath, Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/groups/{id}/members", get(list).post(add))
        .route("/groups/{id}/members/{user_id}", get(show).put(update).delete(remove))
        .route("/projects/{id}/members", get(list).post(add))
        .route("/projects/{id}/members/{user_id}", get(show).put(update).delete(remove))
}

/// The same handlers serve groups and projects; the matched route says which.
fn source<'a>(route: &MatchedPath, id: &'a str) -> Result<Source<'a>, ApiError> {
    if route.as_str().contains("/groups/") { Ok(Source::Group(id)) } else { Ok(Source::Project(id)) }
}

fn level(p: &Params) -> Result<AccessLevel, ApiError> {
    let raw = p.i64("access_level")?.ok_or(ApiError(AppError::Missing("access_level")))?;
    AccessLevel::from_value(raw).ok_or_else(|| bad_param("access_level", "does not have a valid value"))
}

async fn list(
    State(s): State<AppState>,
    Caller(who): Caller,
    route: MatchedPath,
    Path(id): Path<String>,
    list: List,
) -> Handler {
    let res = s.app.list_members(&who, source(&route, &id)?, list.page()).await?;
    let base = &s.config.external_url;
    let items = res.items.iter().map(|(m, u)| dto::member(base, m, u)).collect();
    Ok(list.respond(&s, res.total, items))
}

async fn show(
    State(s): State<AppState>,
    Caller(who): Caller,
    route: MatchedPath,
    Path((id, user_id)): Path<(String, UserId)>,
) -> Handler {
    let (m, u) = s.app.get_member(&who, source(&route, &id)?, user_id).await?;
    Ok(Json(dto::member(&s.config.external_url, &m, &u)).into_response())
}

async fn add(
    State(s): State<AppState>,
    Caller(who): Caller,
    route: MatchedPath,
    Path(id): Path<String>,
    p: Params,
) -> Handler {
    let user_id = p.id("user_id", UserId::new)?.ok_or(ApiError(AppError::Missing("user_id")))?;
    let (m, u) = s.app.add_member(&who, source(&route, &id)?, user_id, level(&p)?).await?;
    Ok(created(dto::member(&s.config.external_url, &m, &u)))
}

async fn update(
    State(s): State<AppState>,
    Caller(who): Caller,
    route: MatchedPath,
    Path((id, user_id)): Path<(String, UserId)>,
    p: Params,
) -> Handler {
    let (m, u) = s.app.update_member(&who, source(&route, &id)?, user_id, level(&p)?).await?;
    Ok(Json(dto::member(&s.config.external_url, &m, &u)).into_response())
}

async fn remove(
    State(s): State<AppState>,
    Caller(who): Caller,
    route: MatchedPath,
    Path((id, user_id)): Path<(String, UserId)>,
) -> Handler {
    s.app.remove_member(&who, source(&route, &id)?, user_id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
