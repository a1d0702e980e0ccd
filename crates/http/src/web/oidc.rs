//! OpenID Connect sign-in (GitLab's paths): `POST /users/auth/<provider>` sends the browser to
//! the provider, `GET /users/auth/<provider>/callback` takes it back with a code (app `oidc`).
//!
//! The start is a POST with the sign-in form's double-submit token, so another site cannot sign
//! a browser in to an account of its choosing (login CSRF). The round trip's attempt cookie
//! `_autogit_oidc` is `HttpOnly` and `SameSite=Lax` (the callback is a top-level navigation
//! from the provider, which Lax cookies follow) and is cleared by every callback.

use super::page::esc;
use super::{Page, SESSION_COOKIE, TokenForm, cookie, set_cookie};
use crate::state::AppState;
use autogit_app::{AppError, OidcCallback, OidcOutcome};
use axum::Router;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{ConnectInfo, Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::routing::{get, post};
use serde::Deserialize;
use std::net::SocketAddr;

/// The attempt cookie.
const ATTEMPT_COOKIE: &str = "_autogit_oidc";
/// The longest code and state taken from a callback.
const MAX_CODE: usize = 4096;
const MAX_STATE: usize = 256;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/users/auth/{provider}", post(start)).route("/users/auth/{provider}/callback", get(callback))
}

async fn start(
    State(s): State<AppState>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Page {
    let sent = form.map(|Form(f)| f.token).unwrap_or_default();
    if super::sign_in::form_token(&headers, &sent).is_none() {
        return Page::csrf_refused();
    }
    match s.app.system().oidc_start(&provider).await {
        Ok(started) => {
            let secure = s.config.external_url.starts_with("https://");
            Page::redirect(&started.url)
                .with_header(header::SET_COOKIE, set_cookie(ATTEMPT_COOKIE, Some(&started.attempt_secret), secure))
        }
        Err(e) => failed(e),
    }
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

async fn callback(
    State(s): State<AppState>,
    Path(provider): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    query: Result<Query<CallbackQuery>, QueryRejection>,
) -> Page {
    let secure = s.config.external_url.starts_with("https://");
    let clear = set_cookie(ATTEMPT_COOKIE, None, secure);
    let Ok(Query(q)) = query else {
        return failed(AppError::Invalid("callback", "the provider's answer could not be read".into()))
            .with_header(header::SET_COOKIE, clear);
    };
    let outcome = match (&q.error, &q.code) {
        (Some(error), _) => OidcOutcome::Error { error, description: q.error_description.as_deref().unwrap_or("") },
        (None, Some(code)) if code.len() <= MAX_CODE => OidcOutcome::Code(code),
        _ => {
            return failed(AppError::Invalid("callback", "the answer lacks a code".into()))
                .with_header(header::SET_COOKIE, clear);
        }
    };
    let Some(state) = q.state.as_deref().filter(|s| s.len() <= MAX_STATE) else {
        return failed(AppError::Invalid("callback", "the answer lacks its state".into()))
            .with_header(header::SET_COOKIE, clear);
    };
    let callback = OidcCallback { state, outcome };
    let attempt = cookie(&headers, ATTEMPT_COOKIE);
    let user_agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("");
    match s.app.system().oidc_finish(&provider, attempt, callback, peer.ip(), user_agent).await {
        Ok((_, issued)) => Page::redirect("/")
            .with_header(header::SET_COOKIE, clear)
            .with_header(header::SET_COOKIE, set_cookie(SESSION_COOKIE, Some(&issued.secret), secure)),
        Err(e) => failed(e).with_header(header::SET_COOKIE, clear),
    }
}

/// A failed sign-in as a page that says why, with the way back.
fn failed(e: AppError) -> Page {
    let status = match &e {
        AppError::NotFound(_) => StatusCode::NOT_FOUND,
        AppError::Forbidden(_) => StatusCode::FORBIDDEN,
        AppError::SignInLocked(_) => StatusCode::TOO_MANY_REQUESTS,
        AppError::Unavailable(_) => StatusCode::BAD_GATEWAY,
        AppError::Internal(_) => return Page::error(e),
        _ => StatusCode::BAD_REQUEST,
    };
    let text = match &e {
        AppError::Forbidden(Some(m)) | AppError::Unavailable(m) | AppError::Invalid(_, m) => m.clone(),
        other => other.to_string(),
    };
    let mut page = Page::html(
        status,
        "Sign-in failed",
        &format!(
            "<h1>Sign-in failed</h1>\n<p role=\"alert\">{}</p>\n<p><a href=\"/users/sign_in\">Back to sign in</a></p>",
            esc(&text)
        ),
    );
    if let Some(secs) = e.retry_after_secs() {
        page = page.with_header(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    page
}
