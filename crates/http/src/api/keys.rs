//! SSH keys in GitLab's shapes: `/user/keys[/:id]`, `/users/:id/keys[/:key_id]`, `/keys/:id` and
//! `/keys?fingerprint=` (administrators), `/projects/:id/deploy_keys[/:key_id]`.

use super::{Caller, Handler, List, created};
use crate::dto;
use crate::error::bad_param;
use crate::params::Params;
use crate::state::AppState;
use autogit_app::AddKey;
use autogit_app::store::{SshKey, User};
use autogit_core::UserId;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use chrono::NaiveDate;
use serde_json::{Value, json};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/user/keys", get(mine).post(add_mine))
        .route("/user/keys/{id}", get(show_mine).delete(delete_mine))
        .route("/users/{id}/keys", get(of_user).post(add_for_user))
        .route("/users/{id}/keys/{key_id}", axum::routing::delete(delete_for_user))
        .route("/keys", get(by_fingerprint))
        .route("/keys/{id}", get(show_with_user))
        .route("/projects/{id}/deploy_keys", get(deploy_keys).post(add_deploy_key))
        .route("/projects/{id}/deploy_keys/{key_id}", get(show_deploy_key).delete(delete_deploy_key))
}

fn key(k: &SshKey) -> Value {
    json!({
        "id": k.id,
        "title": k.title,
        "key": k.key,
        "fingerprint_sha256": k.fingerprint.trim_start_matches("SHA256:"),
        "usage_type": k.usage_type,
        "created_at": dto::time(k.created_at),
        "expires_at": k.expires_at.map(|d| format!("{d}T00:00:00.000Z")),
        "last_used_at": k.last_used_at.map(dto::time),
    })
}

/// A key with its owner (the administrators' `/keys` shapes).
fn with_user(s: &AppState, k: &SshKey, owner: &User) -> axum::response::Response {
    let mut v = key(k);
    v["user"] = dto::user_basic(&s.config.external_url, owner);
    Json(v).into_response()
}

fn deploy_key(k: &SshKey) -> Value {
    let mut v = key(k);
    v["can_push"] = k.can_push.into();
    v
}

fn add_key(p: &Params, deploy: bool) -> crate::error::ApiResult<AddKey> {
    let expires_at = match p.str("expires_at")? {
        Some(d) if !d.is_empty() => Some(
            NaiveDate::parse_from_str(d.get(..10).unwrap_or(&d), "%Y-%m-%d")
                .map_err(|_| bad_param("expires_at", "must be a date (YYYY-MM-DD)"))?,
        ),
        _ => None,
    };
    Ok(AddKey {
        title: p.required("title")?,
        key: p.required("key")?,
        expires_at,
        usage_type: if deploy { None } else { p.str("usage_type")? },
        can_push: deploy && p.bool("can_push")?.unwrap_or(false),
    })
}

async fn mine(State(s): State<AppState>, Caller(who): Caller, list: List) -> Handler {
    let keys = s.app.list_ssh_keys(&who, who.user()?.id).await?;
    Ok(list.respond_all(&s, keys, key))
}

async fn add_mine(State(s): State<AppState>, Caller(who): Caller, p: Params) -> Handler {
    let k = s.app.add_ssh_key(&who, who.user()?.id, add_key(&p, false)?).await?;
    Ok(created(key(&k)))
}

async fn show_mine(State(s): State<AppState>, Caller(who): Caller, Path(id): Path<i64>) -> Handler {
    let (k, owner) = s.app.get_ssh_key(&who, id).await?;
    if owner.id != who.user()?.id {
        return Err(autogit_app::AppError::NotFound("Key").into());
    }
    Ok(Json(key(&k)).into_response())
}

async fn delete_mine(State(s): State<AppState>, Caller(who): Caller, Path(id): Path<i64>) -> Handler {
    s.app.delete_ssh_key(&who, who.user()?.id, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn of_user(State(s): State<AppState>, Caller(who): Caller, Path(id): Path<UserId>, list: List) -> Handler {
    let keys = s.app.list_ssh_keys(&who, id).await?;
    Ok(list.respond_all(&s, keys, key))
}

async fn add_for_user(State(s): State<AppState>, Caller(who): Caller, Path(id): Path<UserId>, p: Params) -> Handler {
    let k = s.app.add_ssh_key(&who, id, add_key(&p, false)?).await?;
    Ok(created(key(&k)))
}

async fn delete_for_user(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((id, key_id)): Path<(UserId, i64)>,
) -> Handler {
    s.app.delete_ssh_key(&who, id, key_id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn show_with_user(State(s): State<AppState>, Caller(who): Caller, Path(id): Path<i64>) -> Handler {
    who.require_admin()?;
    let (k, owner) = s.app.get_ssh_key(&who, id).await?;
    Ok(with_user(&s, &k, &owner))
}

async fn by_fingerprint(State(s): State<AppState>, Caller(who): Caller, p: Params) -> Handler {
    let fp: String = p.required("fingerprint")?;
    // GitLab takes `SHA256:…` (URL-encoded) or the MD5 form; only SHA-256 is kept here.
    if !fp.starts_with("SHA256:") {
        return Err(bad_param("fingerprint", "must be a SHA256:… fingerprint (MD5 fingerprints are not kept)"));
    }
    let (k, owner) = s.app.ssh_key_by_fingerprint(&who, &fp).await?;
    Ok(with_user(&s, &k, &owner))
}

async fn deploy_keys(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(project): Path<String>,
    list: List,
) -> Handler {
    let keys = s.app.list_deploy_keys(&who, &project).await?;
    Ok(list.respond_all(&s, keys, deploy_key))
}

async fn add_deploy_key(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(project): Path<String>,
    p: Params,
) -> Handler {
    let k = s.app.add_deploy_key(&who, &project, add_key(&p, true)?).await?;
    Ok(created(deploy_key(&k)))
}

async fn show_deploy_key(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((project, id)): Path<(String, i64)>,
) -> Handler {
    Ok(Json(deploy_key(&s.app.get_deploy_key(&who, &project, id).await?)).into_response())
}

async fn delete_deploy_key(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((project, id)): Path<(String, i64)>,
) -> Handler {
    s.app.delete_deploy_key(&who, &project, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
