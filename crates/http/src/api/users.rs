//! `/user`, `/users`, `/users/:id`.

use super::{Caller, Handler, List, created};
use crate::dto;
use crate::params::Params;
use crate::state::AppState;
use autogit_app::CreateUser;
use autogit_app::store::UserFilter;
use autogit_core::UserId;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};

pub fn routes() -> Router<AppState> {
    Router::new().route("/user", get(current)).route("/users", get(list).post(create)).route("/users/{id}", get(show))
}

async fn current(State(s): State<AppState>, Caller(who): Caller) -> Handler {
    let u = who.user()?;
    Ok(Json(dto::user(&s.config.external_url, u, true)).into_response())
}

async fn list(State(s): State<AppState>, Caller(who): Caller, list: List) -> Handler {
    let p = &list.params;
    let filter = UserFilter { username: p.str("username")?, search: p.str("search")? };
    let res = s.app.list_users(&who, filter, list.page()).await?;
    let admin = who.actor.is_admin();
    let base = &s.config.external_url;
    let items = res.items.iter().map(|u| dto::user(base, u, admin || who.actor.user_id() == Some(u.id))).collect();
    Ok(list.respond(&s, res.total, items))
}

async fn show(State(s): State<AppState>, Caller(who): Caller, Path(id): Path<UserId>) -> Handler {
    let u = s.app.get_user(&who, id).await?;
    let private = who.actor.is_admin() || who.actor.user_id() == Some(u.id);
    Ok(Json(dto::user(&s.config.external_url, &u, private)).into_response())
}

async fn create(State(s): State<AppState>, Caller(who): Caller, p: Params) -> Handler {
    let req = CreateUser {
        username: p.required("username")?,
        name: p.required("name")?,
        email: p.required("email")?,
        password: p.str("password")?,
        is_admin: p.bool("admin")?.unwrap_or(false),
    };
    let u = s.app.create_user(&who, req).await?;
    Ok(created(dto::user(&s.config.external_url, &u, true)))
}
