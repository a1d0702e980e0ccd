//! `/admin/users`: the users of the instance, searchable by username, name or email, a page
//! at a time.

use super::{admin, ctx};
use crate::state::AppState;
use crate::web::explore::{PER_PAGE, pager};
use crate::web::filters::path;
use crate::web::ui::val;
use crate::web::{Browser, Page};
use autogit_app::store::{Page as Window, User, UserFilter, UserState};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use minijinja::context;
use serde::{Deserialize, Serialize};

#[derive(Deserialize, Default)]
pub(super) struct UsersQuery {
    #[serde(default)]
    page: Option<String>,
    #[serde(default)]
    search: Option<String>,
}

#[derive(Serialize)]
struct UserRow {
    id: i64,
    username: String,
    name: String,
    email: String,
    admin: bool,
    external: bool,
    blocked: bool,
    created_at: String,
}

fn user_row(u: &User) -> UserRow {
    UserRow {
        id: u.id.get(),
        username: u.username.clone(),
        name: u.name.clone(),
        email: u.email.clone(),
        admin: u.is_admin,
        external: u.external,
        blocked: u.state == UserState::Blocked,
        created_at: u.created_at.to_rfc3339(),
    }
}

/// `GET /admin/users[?search=…&page=…]`.
pub(super) async fn list(State(s): State<AppState>, browser: Browser, Query(q): Query<UsersQuery>) -> Page {
    let who = match admin(&browser) {
        Ok(w) => w,
        Err(p) => return p,
    };
    let number =
        q.page.as_deref().and_then(|p| p.parse::<i64>().ok()).filter(|n| (1..=10_000).contains(n)).unwrap_or(1);
    let search = q.search.as_deref().map(|t| t.trim().chars().take(200).collect::<String>()).filter(|t| !t.is_empty());
    let filter = UserFilter { search: search.clone(), ..UserFilter::default() };
    let window = Window { offset: (number - 1) * PER_PAGE, limit: PER_PAGE };
    let listed = match s.app.list_users(who, filter, window).await {
        Ok(l) => l,
        Err(e) => return Page::error(e),
    };
    let extra = search.as_deref().map(|t| format!("&search={}", path(t))).unwrap_or_default();
    let ctx = context! {
        ..ctx(&browser, "Users", "users"),
        ..context! {
            users => val(&listed.items.iter().map(user_row).collect::<Vec<_>>()), total => listed.total, search => search.unwrap_or_default(),
            page => pager("/admin/users", number, listed.total, &extra),
        }
    };
    Page::render(StatusCode::OK, "admin_users.html", ctx)
}
