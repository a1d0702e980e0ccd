//! Protected tags: `GET/POST /projects/:id/protected_tags` and
//! `GET/DELETE /projects/:id/protected_tags/:name` (a wildcard's `/` URL-encoded, as in GitLab).
//! Reading needs read access to the code, changing Maintainer.

use super::{Caller, Handler, List, created};
use crate::dto;
use crate::params::Params;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/projects/{id}/protected_tags", get(list).post(create))
        .route("/projects/{id}/protected_tags/{name}", get(show).delete(remove))
}

async fn list(State(s): State<AppState>, Caller(who): Caller, Path(id): Path<String>, list: List) -> Handler {
    let res = s.app.list_protected_tags(&who, &id, list.page()).await?;
    Ok(list.respond(&s, res.total, res.items.iter().map(dto::protected_tag).collect()))
}

async fn show(State(s): State<AppState>, Caller(who): Caller, Path((id, name)): Path<(String, String)>) -> Handler {
    let t = s.app.get_protected_tag(&who, &id, &name).await?;
    Ok(Json(dto::protected_tag(&t)).into_response())
}

async fn create(State(s): State<AppState>, Caller(who): Caller, Path(id): Path<String>, p: Params) -> Handler {
    let t = s.app.protect_tag(&who, &id, p.required("name")?, p.i64("create_access_level")?).await?;
    Ok(created(dto::protected_tag(&t)))
}

async fn remove(State(s): State<AppState>, Caller(who): Caller, Path((id, name)): Path<(String, String)>) -> Handler {
    s.app.unprotect_tag(&who, &id, &name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
