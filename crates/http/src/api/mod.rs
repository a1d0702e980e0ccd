//! The GitLab API v4 subset, mounted at `/api/v4`.

mod groups;
mod members;
mod projects;
mod repository;
mod tokens;
mod users;

use crate::auth::credentials;
use crate::error::{ApiError, ApiResult};
use crate::pagination::Paging;
use crate::state::AppState;
use autogit_app::{AppError, Principal};
use autogit_core::scope::ScopeUse;
use axum::Json;
use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(users::routes())
        .merge(tokens::routes())
        .merge(groups::routes())
        .merge(projects::routes())
        .merge(members::routes())
        .merge(repository::routes())
        .fallback(|| async { ApiError(AppError::NotFound("Route")) })
}

/// The authenticated caller of an API request. Reading methods need a token scope that allows
/// API reads; all others one that allows API writes.
pub struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let creds = credentials(&parts.headers).map_err(|_| ApiError(AppError::Unauthorized))?;
        let principal = state.app.authenticate(creds).await?;
        let usage =
            if matches!(parts.method, Method::GET | Method::HEAD) { ScopeUse::ApiRead } else { ScopeUse::ApiWrite };
        principal.require_scope(usage)?;
        Ok(Caller(principal))
    }
}

/// A JSON array with GitLab's pagination headers.
pub fn paged(state: &AppState, paging: Paging, total: i64, uri: &Uri, items: Vec<Value>) -> Response {
    let headers = paging.headers(total, &state.config.external_url, uri);
    (headers, Json(Value::Array(items))).into_response()
}

/// `201 Created` with a JSON body.
pub fn created(v: Value) -> Response {
    (axum::http::StatusCode::CREATED, Json(v)).into_response()
}

/// Returns the list for a page, for lists computed in full (e.g. from git) rather than by the store.
pub fn page_of<T>(all: Vec<T>, paging: Paging) -> (Vec<T>, i64) {
    let total = all.len() as i64;
    let items = all.into_iter().skip(paging.store_page().offset as usize).take(paging.per_page as usize).collect();
    (items, total)
}

pub type Handler = ApiResult<Response>;
