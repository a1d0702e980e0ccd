//! The user's active sessions
//! (`/-/user_settings/active_sessions`, GitLab's path): list, revoke one, revoke all others.

use super::page::esc;
use super::{Browser, CSRF_FIELD, Page, TokenForm, checked, signed_in};
use crate::state::AppState;
use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};

const PAGE: &str = "/-/user_settings/active_sessions";

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(PAGE, get(list))
        .route("/-/user_settings/active_sessions/{id}/revoke", post(revoke))
        .route("/-/user_settings/active_sessions/revoke_all", post(revoke_all))
}

async fn list(State(s): State<AppState>, browser: Browser) -> Page {
    let (who, token) = match signed_in(&browser) {
        Ok(x) => x,
        Err(p) => return p,
    };
    let sessions = match s.app.list_sessions(who).await {
        Ok(v) => v,
        Err(e) => return Page::error(e),
    };
    let mut rows = String::new();
    for x in &sessions {
        let current = who.session_id == Some(x.id);
        let action = if current {
            "This is your current session".to_string()
        } else {
            button(&format!("/-/user_settings/active_sessions/{}/revoke", x.id), &token, "Revoke")
        };
        rows.push_str(&format!(
            "<tr data-session=\"{id}\"><td>{ip}</td><td>{agent}</td><td>{signed_in}</td><td>{active}</td><td>{action}</td></tr>\n",
            id = x.id,
            ip = esc(&x.ip_address),
            agent = esc(&x.user_agent),
            signed_in = x.created_at.format("%Y-%m-%d %H:%M UTC"),
            active = x.last_active_at.format("%Y-%m-%d %H:%M UTC"),
        ));
    }
    let body = format!(
        "<h1>Active sessions</h1>\n<p>Browsers signed in to your account. Revoke the ones you do not recognise.</p>\n\
         <table class=\"grid\"><thead><tr><th>Address</th><th>Browser</th><th>Signed in</th><th>Last active</th><th></th></tr></thead>\n\
         <tbody>\n{rows}</tbody></table>\n{all}\n<p><a href=\"/\">Home</a></p>",
        all = button("/-/user_settings/active_sessions/revoke_all", &token, "Sign out everywhere else"),
    );
    Page::html_in(super::chrome(&browser), StatusCode::OK, "Active sessions", &body)
}

async fn revoke(
    State(s): State<AppState>,
    browser: Browser,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Page {
    let who = match checked(&browser, &headers, form) {
        Ok(w) => w,
        Err(p) => return p,
    };
    let Ok(id) = id.parse::<i64>() else { return Page::error(autogit_app::AppError::NotFound("Session")) };
    match s.app.revoke_session(who, id).await {
        Ok(()) => Page::redirect(PAGE),
        Err(e) => Page::error(e),
    }
}

async fn revoke_all(
    State(s): State<AppState>,
    browser: Browser,
    headers: HeaderMap,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Page {
    let who = match checked(&browser, &headers, form) {
        Ok(w) => w,
        Err(p) => return p,
    };
    match s.app.revoke_other_sessions(who).await {
        Ok(_) => Page::redirect(PAGE),
        Err(e) => Page::error(e),
    }
}

/// A one-button form that POSTs the CSRF token to `action`.
fn button(action: &str, token: &str, label: &str) -> String {
    format!(
        "<form method=\"post\" action=\"{}\"><input type=\"hidden\" name=\"{CSRF_FIELD}\" value=\"{}\">\
         <button type=\"submit\">{}</button></form>",
        esc(action),
        esc(token),
        esc(label)
    )
}
