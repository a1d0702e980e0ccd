//! CI/CD variables: `/projects/:id/variables[/:key]` and `/groups/:id/variables[/:key]`
//! (list, show, create, update, delete). A key set in several environment scopes is addressed
//! with `filter[environment_scope]`, as in GitLab.

use super::{Caller, Handler, List, created};
use crate::dto;
use crate::error::{ApiError, ApiResult, bad_param};
use crate::params::Params;
use crate::state::AppState;
use autogit_app::ci::variables::{CreateVariable, UpdateVariable};
use autogit_app::{AppError, Source};
use axum::extract::{MatchedPath, Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/projects/{id}/variables", get(list).post(create))
        .route("/projects/{id}/variables/{key}", get(show).put(update).delete(remove))
        .route("/groups/{id}/variables", get(list).post(create))
        .route("/groups/{id}/variables/{key}", get(show).put(update).delete(remove))
}

/// The same handlers serve groups and projects; the matched route says which.
fn source<'a>(route: &MatchedPath, id: &'a str) -> Source<'a> {
    if route.as_str().contains("/groups/") { Source::Group(id) } else { Source::Project(id) }
}

/// `filter[environment_scope]`: a query or form parameter, or `{"filter": {...}}` in JSON. An
/// empty one filters nothing, as in GitLab.
fn scope_filter(p: &Params) -> ApiResult<Option<String>> {
    let nested = match p.0.get("filter") {
        None | Some(Value::Null) => None,
        Some(Value::Object(f)) => match f.get("environment_scope") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(bad_param("filter", "environment_scope must be a string")),
        },
        Some(_) => return Err(bad_param("filter", "must be a hash")),
    };
    let scope = match nested {
        Some(s) => Some(s),
        None => p.str("filter[environment_scope]")?,
    };
    Ok(scope.filter(|s| !s.is_empty()))
}

async fn list(
    State(s): State<AppState>,
    Caller(who): Caller,
    route: MatchedPath,
    Path(id): Path<String>,
    list: List,
) -> Handler {
    let res = s.app.list_variables(&who, source(&route, &id), list.page()).await?;
    Ok(list.respond(&s, res.total, res.items.iter().map(dto::variable).collect()))
}

async fn show(
    State(s): State<AppState>,
    Caller(who): Caller,
    route: MatchedPath,
    Path((id, key)): Path<(String, String)>,
    p: Params,
) -> Handler {
    let scope = scope_filter(&p)?;
    let v = s.app.get_variable(&who, source(&route, &id), &key, scope.as_deref()).await?;
    Ok(Json(dto::variable(&v)).into_response())
}

async fn create(
    State(s): State<AppState>,
    Caller(who): Caller,
    route: MatchedPath,
    Path(id): Path<String>,
    p: Params,
) -> Handler {
    let req = CreateVariable {
        key: p.required("key")?,
        value: p.str("value")?.ok_or(ApiError(AppError::Missing("value")))?,
        variable_type: p.str("variable_type")?,
        protected: p.bool("protected")?.unwrap_or(false),
        masked: p.bool("masked")?.unwrap_or(false),
        raw: p.bool("raw")?.unwrap_or(false),
        environment_scope: p.str("environment_scope")?,
        description: p.str("description")?,
    };
    let v = s.app.create_variable(&who, source(&route, &id), req).await?;
    Ok(created(dto::variable(&v)))
}

async fn update(
    State(s): State<AppState>,
    Caller(who): Caller,
    route: MatchedPath,
    Path((id, key)): Path<(String, String)>,
    p: Params,
) -> Handler {
    let scope = scope_filter(&p)?;
    let req = UpdateVariable {
        value: p.str("value")?,
        variable_type: p.str("variable_type")?,
        protected: p.bool("protected")?,
        masked: p.bool("masked")?,
        raw: p.bool("raw")?,
        environment_scope: p.str("environment_scope")?,
        description: p.str("description")?,
    };
    let v = s.app.update_variable(&who, source(&route, &id), &key, scope.as_deref(), req).await?;
    Ok(Json(dto::variable(&v)).into_response())
}

async fn remove(
    State(s): State<AppState>,
    Caller(who): Caller,
    route: MatchedPath,
    Path((id, key)): Path<(String, String)>,
    p: Params,
) -> Handler {
    let scope = scope_filter(&p)?;
    s.app.delete_variable(&who, source(&route, &id), &key, scope.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
