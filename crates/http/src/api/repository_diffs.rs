//! Changes between commits: `GET /projects/:id/repository/compare?from=&to=` (the commits on
//! `to` since it left `from`, and the diff from their merge base), `GET
//! /projects/:id/repository/commits/:sha/diff`, and the commit operations that make new ones:
//! `POST /projects/:id/repository/commits/:sha/cherry_pick|revert` (`branch`).
//! Diffs are git's own patch, cut at `MAX_PATCH` (GitLab's `compare_timeout` then says so).

use super::repository::git_err;
use super::{Caller, Handler, created};
use crate::dto::{commit_json, diff_json};
use crate::error::ApiError;
use crate::params::Params;
use crate::state::AppState;
use autogit_app::{AppError, Pick, PickRefused, check_revision};
use autogit_git::read;
use autogit_render::diff;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::{Value, json};

/// Commits listed by a comparison, at most (GitLab lists up to 100 in its API too).
const MAX_COMPARE_COMMITS: usize = 100;

pub(super) async fn compare(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    p: Params,
) -> Handler {
    let (project, repo) = s.app.readable_repository(&who, &id).await?;
    let from: String = p.required("from")?;
    let to: String = p.required("to")?;
    check_revision("from", &from)?;
    check_revision("to", &to)?;
    let (commits, patch) = read::compare(&repo, &from, &to, MAX_COMPARE_COMMITS)
        .await
        .map_err(git_err)?
        .ok_or(ApiError(AppError::NotFound("Commit")))?;
    let base = &s.config.external_url;
    let diffs: Vec<Value> = diff::parse(&patch.text).iter().map(diff_json).collect();
    Ok(Json(json!({
        "commit": commits.first().map(|c| commit_json(base, &project.full_path, c)),
        "commits": commits.iter().rev().map(|c| commit_json(base, &project.full_path, c)).collect::<Vec<_>>(),
        "diffs": diffs,
        "compare_timeout": patch.truncated,
        "compare_same_ref": from == to,
        "web_url": format!("{base}/{}/-/compare/{from}...{to}", project.full_path),
    }))
    .into_response())
}

pub(super) async fn commit_diff(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((id, sha)): Path<(String, String)>,
) -> Handler {
    let (_, repo) = s.app.readable_repository(&who, &id).await?;
    check_revision("sha", &sha)?;
    let (_, patch) =
        read::commit_patch(&repo, &sha).await.map_err(git_err)?.ok_or(ApiError(AppError::NotFound("Commit")))?;
    Ok(Json(diff::parse(&patch.text).iter().map(diff_json).collect::<Vec<_>>()).into_response())
}

pub(super) async fn cherry_pick(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((id, sha)): Path<(String, String)>,
    p: Params,
) -> Handler {
    pick(&s, &who, &id, Pick::CherryPick, &sha, &p).await
}

pub(super) async fn revert(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((id, sha)): Path<(String, String)>,
    p: Params,
) -> Handler {
    pick(&s, &who, &id, Pick::Revert, &sha, &p).await
}

async fn pick(s: &AppState, who: &autogit_app::Principal, id: &str, pick: Pick, sha: &str, p: &Params) -> Handler {
    let branch: String = p.required("branch")?;
    match s.app.pick_commit(who, id, pick, sha, &branch).await {
        Ok((project, c)) => Ok(created(commit_json(&s.config.external_url, &project.full_path, &c))),
        // GitLab's body for a change that does not apply: the sentence and an error code.
        Err(PickRefused::Conflict(message)) => {
            Ok((StatusCode::BAD_REQUEST, Json(json!({ "message": message, "error_code": "conflict" }))).into_response())
        }
        Err(PickRefused::Empty(message)) => {
            Ok((StatusCode::BAD_REQUEST, Json(json!({ "message": message, "error_code": "empty" }))).into_response())
        }
        Err(PickRefused::Other(e)) => Err(ApiError(e)),
    }
}
