//! Commits through the API: `POST /projects/:id/repository/commits` (`branch`, `commit_message`,
//! `actions` — create, update, delete, move, chmod — with `start_branch`/`start_sha`,
//! `author_name`/`author_email`, per-action `last_commit_id`) and the files API,
//! `POST`/`PUT`/`DELETE /projects/:id/repository/files/:file_path` (one action each). Content is
//! text, or base64 with `encoding=base64`. The decisions and the write are the app's.

use super::{Handler, created};
use crate::api::Caller;
use crate::dto::commit_json;
use crate::error::{ApiError, bad_param};
use crate::params::Params;
use crate::state::AppState;
use autogit_app::{CommitAction, CommitRequest};
use autogit_git::write::FileAction;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use base64::Engine;
use serde_json::{Map, Value, json};

/// `POST /projects/:id/repository/commits`.
pub(super) async fn create_commit(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    p: Params,
) -> Handler {
    let Some(Value::Array(list)) = p.0.get("actions") else {
        return Err(bad_param("actions", "must be a JSON array of actions"));
    };
    let mut actions = Vec::with_capacity(list.len());
    for (i, a) in list.iter().enumerate() {
        let Value::Object(a) = a else { return Err(bad_param("actions", format!("item {i} is not an object"))) };
        actions.push(action_of(i, a)?);
    }
    let req = request(&p, actions)?;
    let (project, c) = s.app.create_commit(&who, &id, req).await?;
    Ok(created(commit_json(&s.config.external_url, &project.full_path, &c)))
}

/// `POST /projects/:id/repository/files/:file_path`.
pub(super) async fn create_file(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((id, path)): Path<(String, String)>,
    p: Params,
) -> Handler {
    let action = FileAction::Create {
        path: path.clone(),
        content: content(&p, true)?.unwrap_or_default(),
        executable: p.bool("execute_filemode")?.unwrap_or(false),
    };
    let req = request(&p, vec![CommitAction { action, last_commit_id: None }])?;
    let branch = req.branch.clone();
    s.app.create_commit(&who, &id, req).await?;
    Ok(created(json!({ "file_path": path, "branch": branch })))
}

/// `PUT /projects/:id/repository/files/:file_path`.
pub(super) async fn update_file(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((id, path)): Path<(String, String)>,
    p: Params,
) -> Handler {
    let action = FileAction::Update {
        path: path.clone(),
        content: content(&p, true)?.unwrap_or_default(),
        executable: p.bool("execute_filemode")?,
    };
    let req = request(&p, vec![CommitAction { action, last_commit_id: p.str("last_commit_id")? }])?;
    let branch = req.branch.clone();
    s.app.create_commit(&who, &id, req).await?;
    Ok(Json(json!({ "file_path": path, "branch": branch })).into_response())
}

/// `DELETE /projects/:id/repository/files/:file_path`.
pub(super) async fn delete_file(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((id, path)): Path<(String, String)>,
    p: Params,
) -> Handler {
    let action = FileAction::Delete { path };
    let req = request(&p, vec![CommitAction { action, last_commit_id: p.str("last_commit_id")? }])?;
    s.app.create_commit(&who, &id, req).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn request(p: &Params, actions: Vec<CommitAction>) -> Result<CommitRequest, ApiError> {
    Ok(CommitRequest {
        branch: p.required("branch")?,
        start_branch: p.str("start_branch")?.filter(|s| !s.is_empty()),
        start_sha: p.str("start_sha")?.filter(|s| !s.is_empty()),
        message: p.required("commit_message")?,
        actions,
        author_name: p.str("author_name")?,
        author_email: p.str("author_email")?,
    })
}

/// `content` decoded by `encoding` (`text`, the default, or `base64`); `None` when absent and
/// not `required`.
fn content(p: &Params, required: bool) -> Result<Option<Vec<u8>>, ApiError> {
    let raw = if required {
        Some(p.str("content")?.ok_or_else(|| bad_param("content", "is missing"))?)
    } else {
        p.str("content")?
    };
    let encoding = p.str("encoding")?;
    raw.map(|c| decode(&c, encoding.as_deref(), "content")).transpose()
}

fn decode(content: &str, encoding: Option<&str>, field: &'static str) -> Result<Vec<u8>, ApiError> {
    match encoding.unwrap_or("text") {
        "text" => Ok(content.as_bytes().to_vec()),
        "base64" => base64::engine::general_purpose::STANDARD
            .decode(content.trim())
            .map_err(|e| bad_param(field, format!("is not valid base64: {e}"))),
        other => Err(bad_param(
            "encoding",
            format!("must be text or base64, not {:?}", other.chars().take(20).collect::<String>()),
        )),
    }
}

/// One item of `actions`, named by its position in errors.
fn action_of(i: usize, a: &Map<String, Value>) -> Result<CommitAction, ApiError> {
    let text = |key: &str| -> Result<Option<String>, ApiError> {
        match a.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(bad_param("actions", format!("item {i}: {key} must be a string"))),
        }
    };
    let required = |key: &str| {
        text(key)?.filter(|s| !s.is_empty()).ok_or_else(|| bad_param("actions", format!("item {i}: {key} is missing")))
    };
    let path = required("file_path")?;
    let encoding = text("encoding")?;
    let content = text("content")?.map(|c| decode(&c, encoding.as_deref(), "actions")).transpose()?;
    let executable = match a.get("execute_filemode") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(Value::String(s)) if s == "true" || s == "false" => Some(s == "true"),
        Some(_) => return Err(bad_param("actions", format!("item {i}: execute_filemode must be true or false"))),
    };
    let action = match required("action")?.as_str() {
        "create" => {
            FileAction::Create { path, content: content.unwrap_or_default(), executable: executable.unwrap_or(false) }
        }
        "update" => FileAction::Update {
            path,
            content: content.ok_or_else(|| bad_param("actions", format!("item {i}: content is missing")))?,
            executable,
        },
        "delete" => FileAction::Delete { path },
        "move" => FileAction::Move { from: required("previous_path")?, path, content },
        "chmod" => FileAction::Chmod {
            path,
            executable: executable
                .ok_or_else(|| bad_param("actions", format!("item {i}: execute_filemode is missing")))?,
        },
        other => {
            return Err(bad_param(
                "actions",
                format!(
                    "item {i}: action {:?} is not one of create, update, delete, move, chmod",
                    other.chars().take(20).collect::<String>()
                ),
            ));
        }
    };
    Ok(CommitAction { action, last_commit_id: text("last_commit_id")? })
}
