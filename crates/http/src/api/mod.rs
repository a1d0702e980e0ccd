//! The GitLab API v4 subset, mounted at `/api/v4`.

mod archive;
pub(crate) mod artifact_download;
mod audit_events;
mod commit_statuses;
mod file_writes;
mod groups;
mod hooks;
mod keys;
mod members;
mod pipelines;
mod pools;
mod projects;
mod protected_branches;
mod protected_tags;
mod repository;
mod repository_diffs;
mod repository_writes;
mod runner_gpus;
mod runner_jobs;
mod runners;
mod tokens;
mod users;
mod variables;

use crate::auth::credentials;
use crate::error::{ApiError, ApiResult};
use crate::pagination::Paging;
use crate::params::Params;
use crate::state::AppState;
use autogit_app::store::Page;
use autogit_app::{AppError, Principal};
use autogit_core::scope::ScopeUse;
use axum::Json;
use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, OriginalUri, Request};
use axum::http::request::Parts;
use axum::http::{Method, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(users::routes())
        .merge(audit_events::routes())
        .merge(tokens::routes())
        .merge(groups::routes())
        .merge(keys::routes())
        .merge(projects::routes())
        .merge(members::routes())
        .merge(repository::routes())
        .merge(runners::routes())
        .merge(runner_gpus::routes())
        .merge(runner_jobs::routes())
        .merge(pipelines::routes())
        .merge(pools::routes())
        .merge(variables::routes())
        .merge(protected_branches::routes())
        .merge(protected_tags::routes())
        .merge(commit_statuses::routes())
        .merge(hooks::routes())
        .fallback(|| async { ApiError(AppError::NotFound("Route")) })
}

/// The authenticated caller of an API request. Reading methods need a token scope that allows
/// API reads; all others one that allows API writes.
pub struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let creds = credentials(&parts.headers).map_err(|_| ApiError(AppError::Unauthorized))?;
        let mut principal = state.app.system().authenticate(creds).await?;
        if let Some(peer) = crate::conn::peer_ip(&parts.extensions) {
            principal = principal.from_address(peer);
        }
        let usage =
            if matches!(parts.method, Method::GET | Method::HEAD) { ScopeUse::ApiRead } else { ScopeUse::ApiWrite };
        principal.require_scope(usage)?;
        Ok(Caller(principal))
    }
}

/// A list request: its paging, its other parameters, and its URL (for the `Link` header).
pub struct List {
    pub paging: Paging,
    pub params: Params,
    uri: Uri,
}

impl FromRequest<AppState> for List {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        // Nested routers see a path without `/api/v4`; links need the original.
        let uri = req.extensions().get::<OriginalUri>().map(|o| o.0.clone()).unwrap_or_else(|| req.uri().clone());
        let params = Params::from_request(req, state).await?;
        let paging = Paging::from_params(&params)?;
        Ok(List { paging, params, uri })
    }
}

impl List {
    pub fn page(&self) -> Page {
        self.paging.store_page()
    }

    /// A JSON array with GitLab's pagination headers.
    pub fn respond(&self, state: &AppState, total: i64, items: Vec<Value>) -> Response {
        let headers = self.paging.headers(total, &state.config.external_url, &self.uri);
        (headers, Json(Value::Array(items))).into_response()
    }

    /// Pages a list computed in full (e.g. read from git) rather than by the store.
    pub fn respond_all<T>(&self, state: &AppState, all: Vec<T>, render: impl Fn(&T) -> Value) -> Response {
        let total = all.len() as i64;
        let page = self.page();
        let items = all.iter().skip(page.offset as usize).take(page.limit as usize).map(render).collect();
        self.respond(state, total, items)
    }
}

/// `201 Created` with a JSON body.
pub fn created(v: Value) -> Response {
    (axum::http::StatusCode::CREATED, Json(v)).into_response()
}

pub type Handler = ApiResult<Response>;
