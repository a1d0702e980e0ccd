//! Protected branches: `GET/POST /projects/:id/protected_branches` and
//! `GET/DELETE /projects/:id/protected_branches/:name` (a wildcard's `/` URL-encoded, as in
//! GitLab). Reading needs read access to the code, changing Maintainer.

use super::{Caller, Handler, List, created};
use crate::dto;
use crate::params::Params;
use crate::state::AppState;
use autogit_app::ProtectBranch;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/projects/{id}/protected_branches", get(list).post(create))
        .route("/projects/{id}/protected_branches/{name}", get(show).delete(remove))
}

async fn list(State(s): State<AppState>, Caller(who): Caller, Path(id): Path<String>, list: List) -> Handler {
    let res = s.app.list_protected_branches(&who, &id, list.page()).await?;
    Ok(list.respond(&s, res.total, res.items.iter().map(dto::protected_branch).collect()))
}

async fn show(State(s): State<AppState>, Caller(who): Caller, Path((id, name)): Path<(String, String)>) -> Handler {
    let b = s.app.get_protected_branch(&who, &id, &name).await?;
    Ok(Json(dto::protected_branch(&b)).into_response())
}

async fn create(State(s): State<AppState>, Caller(who): Caller, Path(id): Path<String>, p: Params) -> Handler {
    let req = ProtectBranch {
        name: p.required("name")?,
        push_access_level: p.i64("push_access_level")?,
        merge_access_level: p.i64("merge_access_level")?,
        allow_force_push: p.bool("allow_force_push")?.unwrap_or(false),
    };
    let b = s.app.protect_branch(&who, &id, req).await?;
    Ok(created(dto::protected_branch(&b)))
}

async fn remove(State(s): State<AppState>, Caller(who): Caller, Path((id, name)): Path<(String, String)>) -> Handler {
    s.app.unprotect_branch(&who, &id, &name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
