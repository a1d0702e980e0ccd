//! `GET|POST /users/sign_in` and `POST /users/sign_out` (GitLab's paths and form field names:
//! `user[login]`, `user[password]`, `authenticity_token`).

use super::page::esc;
use super::{
    Browser, CSRF_COOKIE, CSRF_FIELD, Page, SESSION_COOKIE, TokenForm, checked, cookie, cross_site, set_cookie,
};
use crate::state::AppState;
use autogit_app::{AppError, SignIn, same_token};
use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::routing::{get, post};
use rand::Rng;
use serde::Deserialize;

/// The longest login (a username or an email address) the form takes.
const MAX_LOGIN: usize = 255;
/// The longest password the form takes; argon2 reads all of it, so it is bounded.
const MAX_PASSWORD: usize = 1024;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/users/sign_in", get(form).post(sign_in)).route("/users/sign_out", post(sign_out))
}

#[derive(Deserialize)]
struct SignInForm {
    #[serde(rename = "user[login]", default)]
    login: String,
    #[serde(rename = "user[password]", default)]
    password: String,
    #[serde(rename = "authenticity_token", default)]
    token: String,
}

/// The sign-in form, with a fresh double-submit token (or the one the browser already holds).
async fn form(State(s): State<AppState>, browser: Browser, headers: HeaderMap) -> Page {
    if browser.who.is_some() {
        return Page::redirect("/");
    }
    let token =
        cookie(&headers, CSRF_COOKIE).filter(|t| plausible_token(t)).map(str::to_string).unwrap_or_else(new_token);
    sign_in_page(&s, StatusCode::OK, &token, "", None, browser.secure)
}

/// Checks the form's token against its cookie, then the password; a session on success.
async fn sign_in(
    State(s): State<AppState>,
    browser: Browser,
    headers: HeaderMap,
    form: Result<Form<SignInForm>, FormRejection>,
) -> Page {
    let Ok(Form(f)) = form else {
        return Page::html(
            StatusCode::BAD_REQUEST,
            "Sign in",
            "<h1>400</h1>\n<p>The sign-in form could not be read.</p>",
        );
    };
    let Some(token) = form_token(&headers, &f.token) else { return Page::csrf_refused() };
    let token = token.to_string();
    if f.login.trim().is_empty() || f.password.is_empty() {
        return sign_in_page(
            &s,
            StatusCode::BAD_REQUEST,
            &token,
            &f.login,
            Some("Enter your login and password."),
            browser.secure,
        );
    }
    if f.login.len() > MAX_LOGIN || f.password.len() > MAX_PASSWORD {
        let msg = format!("The login is at most {MAX_LOGIN} bytes and the password at most {MAX_PASSWORD}.");
        return sign_in_page(&s, StatusCode::BAD_REQUEST, &token, "", Some(&msg), browser.secure);
    }
    let user_agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let req = SignIn { login: f.login.trim(), password: &f.password, user_agent };
    match s.app.system().sign_in(req, browser.peer).await {
        Ok((_, issued)) => Page::redirect("/")
            .with_header(header::SET_COOKIE, set_cookie(SESSION_COOKIE, Some(&issued.secret), browser.secure)),
        Err(AppError::Unauthorized) => sign_in_page(
            &s,
            StatusCode::UNAUTHORIZED,
            &token,
            &f.login,
            Some("Invalid login or password."),
            browser.secure,
        ),
        Err(e @ (AppError::SignInLocked(_) | AppError::PasswordChecksBusy(_))) => {
            let secs = e.retry_after_secs().unwrap_or(1);
            let msg = match e {
                AppError::SignInLocked(_) => format!("Too many failed sign-in attempts. Try again in {secs} seconds."),
                _ => format!("Too many sign-ins at once. Try again in {secs} seconds."),
            };
            sign_in_page(&s, StatusCode::TOO_MANY_REQUESTS, &token, &f.login, Some(&msg), browser.secure)
                .with_header(header::RETRY_AFTER, HeaderValue::from(secs))
        }
        Err(e) => Page::error(e),
    }
}

/// Ends the browser's session (with its CSRF token) and clears the cookie.
async fn sign_out(
    State(s): State<AppState>,
    browser: Browser,
    headers: HeaderMap,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Page {
    let clear = set_cookie(SESSION_COOKIE, None, browser.secure);
    let who = match checked(&browser, &headers, form) {
        Ok(w) => w,
        Err(p) if browser.who.is_none() => return p.with_header(header::SET_COOKIE, clear),
        Err(p) => return p,
    };
    match s.app.sign_out(who).await {
        Ok(()) => Page::redirect("/users/sign_in").with_header(header::SET_COOKIE, clear),
        Err(e) => Page::error(e),
    }
}

fn sign_in_page(s: &AppState, status: StatusCode, token: &str, login: &str, alert: Option<&str>, secure: bool) -> Page {
    let alert = alert.map(|a| format!("<p role=\"alert\">{}</p>\n", esc(a))).unwrap_or_default();
    // One form per OpenID Connect provider: a POST with the same double-submit token.
    let buttons = s.app.oidc_providers();
    let providers: String = buttons
        .iter()
        .map(|b| {
            let (name, label) = (&b.name, &b.label);
            format!(
                "\n<form method=\"post\" action=\"/users/auth/{name}\">\
                 <input type=\"hidden\" name=\"{CSRF_FIELD}\" value=\"{token}\">\
                 <button type=\"submit\">Sign in with {label}</button></form>",
                name = esc(name),
                label = esc(label),
                token = esc(token),
            )
        })
        .collect();
    let body = format!(
        "<h1>Sign in to AutoGit</h1>\n{alert}<form method=\"post\" action=\"/users/sign_in\">\n\
         <input type=\"hidden\" name=\"{CSRF_FIELD}\" value=\"{token}\">\n\
         <label>Username or email <input name=\"user[login]\" value=\"{login}\" autocomplete=\"username\" \
         required autofocus></label>\n\
         <label>Password <input type=\"password\" name=\"user[password]\" autocomplete=\"current-password\" \
         required></label>\n<button type=\"submit\">Sign in</button>\n</form>{providers}",
        token = esc(token),
        login = esc(login),
    );
    let origins: Vec<String> = buttons.into_iter().map(|b| b.origin).collect();
    Page::html(status, "Sign in", &body)
        .with_form_targets(&origins)
        .with_header(header::SET_COOKIE, set_cookie(CSRF_COOKIE, Some(token), secure))
}

/// 32 random bytes as hex.
fn new_token() -> String {
    hex::encode(rand::rng().random::<[u8; 32]>())
}

/// The sign-in form's double-submit check (the form's sign-in and its provider buttons): the
/// token of the `_autogit_csrf` cookie when the form sent the same one and the browser does not
/// mark the request cross-site; `None` refuses it.
pub(super) fn form_token<'a>(headers: &'a HeaderMap, sent: &str) -> Option<&'a str> {
    let expected = cookie(headers, CSRF_COOKIE).filter(|t| plausible_token(t))?;
    (!cross_site(headers) && same_token(expected, sent)).then_some(expected)
}

fn plausible_token(t: &str) -> bool {
    t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit())
}
