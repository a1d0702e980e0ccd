//! Personal access tokens: `GET /personal_access_tokens`, `GET/DELETE /personal_access_tokens/:id`,
//! `POST /users/:id/personal_access_tokens`.

use super::{Caller, Handler, List, created};
use crate::dto;
use crate::error::bad_param;
use crate::params::Params;
use crate::state::AppState;
use autogit_app::CreateToken;
use autogit_core::UserId;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{NaiveDate, Utc};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/personal_access_tokens", get(list))
        .route("/personal_access_tokens/{id}", get(show).delete(revoke))
        .route("/users/{id}/personal_access_tokens", post(create))
}

async fn list(State(s): State<AppState>, Caller(who): Caller, list: List) -> Handler {
    let p = &list.params;
    let res = s.app.list_tokens(&who, p.id("user_id", UserId::new)?, list.page()).await?;
    let today = Utc::now().date_naive();
    let items = res.items.iter().map(|t| dto::token(t, today)).collect();
    Ok(list.respond(&s, res.total, items))
}

async fn show(State(s): State<AppState>, Caller(who): Caller, Path(id): Path<i64>) -> Handler {
    let t = s.app.get_token(&who, id).await?;
    Ok(Json(dto::token(&t, Utc::now().date_naive())).into_response())
}

async fn revoke(State(s): State<AppState>, Caller(who): Caller, Path(id): Path<i64>) -> Handler {
    s.app.revoke_token(&who, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn create(State(s): State<AppState>, Caller(who): Caller, Path(user_id): Path<UserId>, p: Params) -> Handler {
    let expires_at = match p.str("expires_at")? {
        Some(d) if !d.is_empty() => Some(
            NaiveDate::parse_from_str(&d, "%Y-%m-%d")
                .map_err(|_| bad_param("expires_at", "must be a date (YYYY-MM-DD)"))?,
        ),
        _ => None,
    };
    let req = CreateToken { name: p.required("name")?, scopes: p.list("scopes")?, expires_at };
    let issued = s.app.create_token(&who, user_id, req).await?;
    let mut v = dto::token(&issued.token, Utc::now().date_naive());
    v["token"] = serde_json::Value::String(issued.secret);
    Ok(created(v))
}
