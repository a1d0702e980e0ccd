//! Repository writes: `POST /projects/:id/repository/branches` (`branch`, `ref`),
//! `DELETE …/branches/:branch`, `POST /projects/:id/repository/tags` (`tag_name`, `ref`,
//! optional `message` for an annotated tag), `DELETE …/tags/:tag_name`, and `GET` of one tag.
//! The decisions (push access, protected branches) and the ref update are the app's; a write
//! leaves the same push event and pipeline a `git push` of it would.

use super::repository::git_err;
use super::{Handler, created};
use crate::api::Caller;
use crate::dto::{branch_json, tag_json};
use crate::error::ApiError;
use crate::params::Params;
use crate::state::AppState;
use autogit_app::AppError;
use autogit_git::read;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;

pub(super) async fn create_branch(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    p: Params,
) -> Handler {
    let name: String = p.required("branch")?;
    let from: String = p.required("ref")?;
    let (project, b) = s.app.create_branch(&who, &id, &name, &from).await?;
    Ok(created(branch_json(&s.config.external_url, &project.full_path, &b)))
}

pub(super) async fn delete_branch(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((id, name)): Path<(String, String)>,
) -> Handler {
    s.app.delete_branch(&who, &id, &name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(super) async fn create_tag(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    p: Params,
) -> Handler {
    let name: String = p.required("tag_name")?;
    let from: String = p.required("ref")?;
    let message = p.str("message")?;
    let (project, t) = s.app.create_tag(&who, &id, &name, &from, message.as_deref()).await?;
    Ok(created(tag_json(&s.config.external_url, &project.full_path, &t)))
}

pub(super) async fn tag(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((id, name)): Path<(String, String)>,
) -> Handler {
    let (project, repo) = s.app.readable_repository(&who, &id).await?;
    let t = read::tag(&repo, &name).await.map_err(git_err)?.ok_or(ApiError(AppError::NotFound("Tag")))?;
    Ok(Json(tag_json(&s.config.external_url, &project.full_path, &t)).into_response())
}

pub(super) async fn delete_tag(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((id, name)): Path<(String, String)>,
) -> Handler {
    s.app.delete_tag(&who, &id, &name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
