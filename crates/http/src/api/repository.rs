//! Repository browsing: `/projects/:id/repository/{branches,tags,commits,tree,files}` and
//! `/projects/:id/events` (push events); branch and tag writes are in
//! `repository_writes.rs`, commits and file writes in `file_writes.rs`, compare, commit diffs,
//! cherry-pick and revert in `repository_diffs.rs`, archives in `archive.rs`.

use super::file_writes;
use super::repository_diffs as diffs;
use super::repository_writes as writes;
use super::{Caller, Handler, List};
use crate::dto::{self, branch_json, commit_json, entry_json, tag_json};
use crate::error::{ApiError, ApiResult};
use crate::params::Params;
use crate::state::AppState;
use autogit_app::{AppError, check_branch_name, check_revision};
use autogit_git::read;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde_json::json;
use sha2::{Digest, Sha256};

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/projects/{id}/repository/branches", get(branches).post(writes::create_branch))
        .route("/projects/{id}/repository/branches/{branch}", get(branch).delete(writes::delete_branch))
        .route("/projects/{id}/repository/tags", get(tags).post(writes::create_tag))
        .route("/projects/{id}/repository/tags/{tag_name}", get(writes::tag).delete(writes::delete_tag))
        .route("/projects/{id}/repository/commits", get(commits).post(file_writes::create_commit))
        .route("/projects/{id}/repository/commits/{sha}", get(commit))
        .route("/projects/{id}/repository/commits/{sha}/diff", get(diffs::commit_diff))
        .route("/projects/{id}/repository/commits/{sha}/cherry_pick", post(diffs::cherry_pick))
        .route("/projects/{id}/repository/commits/{sha}/revert", post(diffs::revert))
        .route("/projects/{id}/repository/compare", get(diffs::compare))
        .route("/projects/{id}/repository/{archive}", get(super::archive::archive))
        .route("/projects/{id}/repository/tree", get(tree))
        .route(
            "/projects/{id}/repository/files/{path}",
            get(file).post(file_writes::create_file).put(file_writes::update_file).delete(file_writes::delete_file),
        )
        .route("/projects/{id}/repository/files/{path}/raw", get(file_raw))
        .route("/projects/{id}/events", get(events))
}

/// A git read's error as the API answers it (a bad ref or path is the client's 400).
pub(super) fn git_err(e: autogit_git::Error) -> ApiError {
    ApiError(AppError::from(e))
}

async fn branches(State(s): State<AppState>, Caller(who): Caller, Path(id): Path<String>, list: List) -> Handler {
    let p = &list.params;
    let (project, repo) = s.app.readable_repository(&who, &id).await?;
    let mut all = read::branches(&repo).await.map_err(git_err)?;
    if let Some(q) = p.str("search")? {
        all.retain(|b| b.name.contains(q.as_str()));
    }
    let base = &s.config.external_url;
    Ok(list.respond_all(&s, all, |b| branch_json(base, &project.full_path, b)))
}

async fn branch(State(s): State<AppState>, Caller(who): Caller, Path((id, name)): Path<(String, String)>) -> Handler {
    let (project, repo) = s.app.readable_repository(&who, &id).await?;
    check_branch_name("branch", &name)?;
    let b = read::branch(&repo, &name).await.map_err(git_err)?.ok_or(ApiError(AppError::NotFound("Branch")))?;
    Ok(Json(branch_json(&s.config.external_url, &project.full_path, &b)).into_response())
}

async fn tags(State(s): State<AppState>, Caller(who): Caller, Path(id): Path<String>, list: List) -> Handler {
    let (project, repo) = s.app.readable_repository(&who, &id).await?;
    let all = read::tags(&repo).await.map_err(git_err)?;
    let base = &s.config.external_url;
    Ok(list.respond_all(&s, all, |t| tag_json(base, &project.full_path, t)))
}

async fn commits(State(s): State<AppState>, Caller(who): Caller, Path(id): Path<String>, list: List) -> Handler {
    let p = &list.params;
    let (project, repo) = s.app.readable_repository(&who, &id).await?;
    let rev = p.str("ref_name")?.filter(|r| !r.is_empty());
    if let Some(r) = &rev {
        check_revision("ref_name", r)?;
    }
    let path = p.str("path")?.filter(|r| !r.is_empty());
    let page = list.page();
    let commits = read::commits(&repo, rev.as_deref(), path.as_deref(), page.offset as usize, page.limit as usize)
        .await
        .map_err(git_err)?;
    let total = read::count_commits(&repo, rev.as_deref(), path.as_deref()).await.map_err(git_err)?;
    let base = &s.config.external_url;
    let json = commits.iter().map(|c| commit_json(base, &project.full_path, c)).collect();
    Ok(list.respond(&s, total as i64, json))
}

async fn commit(State(s): State<AppState>, Caller(who): Caller, Path((id, sha)): Path<(String, String)>) -> Handler {
    let (project, repo) = s.app.readable_repository(&who, &id).await?;
    check_revision("sha", &sha)?;
    let c = read::commit(&repo, &sha).await.map_err(git_err)?.ok_or(ApiError(AppError::NotFound("Commit")))?;
    Ok(Json(commit_json(&s.config.external_url, &project.full_path, &c)).into_response())
}

async fn tree(State(s): State<AppState>, Caller(who): Caller, Path(id): Path<String>, list: List) -> Handler {
    let p = &list.params;
    let (_project, repo) = s.app.readable_repository(&who, &id).await?;
    let (param, rev) = match p.str("ref")? {
        Some(r) => ("ref", Some(r)),
        None => ("ref_name", p.str("ref_name")?),
    };
    let rev = rev.filter(|r| !r.is_empty());
    if let Some(r) = &rev {
        check_revision(param, r)?;
    }
    let path = p.str("path")?.filter(|x| !x.is_empty());
    let recursive = p.bool("recursive")?.unwrap_or(false);
    let entries = read::tree(&repo, rev.as_deref(), path.as_deref(), recursive)
        .await
        .map_err(git_err)?
        .ok_or(ApiError(AppError::NotFound("Tree")))?;
    Ok(list.respond_all(&s, entries, entry_json))
}

async fn load_file(
    s: &AppState,
    who: &autogit_app::Principal,
    id: &str,
    path: &str,
    p: &Params,
) -> ApiResult<(String, read::FileBlob)> {
    let (_project, repo) = s.app.readable_repository(who, id).await?;
    let (param, rev) = match p.required("ref") {
        Ok(r) => ("ref", r),
        Err(_) => ("ref_name", p.required("ref_name")?),
    };
    check_revision(param, &rev)?;
    let blob = read::file(&repo, &rev, path).await.map_err(git_err)?.ok_or(ApiError(AppError::NotFound("File")))?;
    Ok((rev, blob))
}

async fn file(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((id, path)): Path<(String, String)>,
    p: Params,
) -> Handler {
    let (rev, blob) = load_file(&s, &who, &id, &path, &p).await?;
    let name = path.rsplit('/').next().unwrap_or(&path).to_string();
    Ok(Json(json!({
        "file_name": name,
        "file_path": path,
        "size": blob.size,
        "encoding": "base64",
        "content": base64::engine::general_purpose::STANDARD.encode(&blob.content),
        "content_sha256": sha256_hex(&blob.content),
        "ref": rev,
        "blob_id": blob.blob_id,
        "commit_id": blob.commit_id,
        "last_commit_id": blob.last_commit_id,
        "execute_filemode": blob.mode == "100755",
    }))
    .into_response())
}

async fn file_raw(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((id, path)): Path<(String, String)>,
    p: Params,
) -> Handler {
    let (_rev, blob) = load_file(&s, &who, &id, &path, &p).await?;
    let mut r = blob.content.into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r.headers_mut()
        .insert("x-gitlab-blob-id", HeaderValue::from_str(&blob.blob_id).unwrap_or(HeaderValue::from_static("")));
    Ok(r)
}

async fn events(State(s): State<AppState>, Caller(who): Caller, Path(id): Path<String>, list: List) -> Handler {
    let res = s.app.push_events(&who, &id, list.page()).await?;
    let items = res.items.iter().map(dto::push_event).collect();
    Ok(list.respond(&s, res.total, items))
}
