//! Browser routes: the sign-in page, sign-out, the signed-in home page and the user's active
//! sessions. They take a session cookie and nothing else; the API and git keep their tokens
//! (`auth.rs`), and a cookie authenticates no API or git request.
//!
//! # Who is trusted
//! - The session cookie `_autogit_session` is `HttpOnly`, `SameSite=Lax`, `Path=/`, and `Secure`
//!   when the external URL is https. Its value is looked up by digest (app `sessions`).
//! - Every state-changing browser request (POST) carries a CSRF token in the form field
//!   `authenticity_token` (Rails' name, as GitLab's forms): the session's own token when signed
//!   in, and on the sign-in form a double-submit token that must equal the `_autogit_csrf`
//!   cookie set with the form. A request that a browser marks `Sec-Fetch-Site: cross-site` is
//!   refused before the token is read. A failure is a `422` that changes nothing.
//! - Pages are sent `no-store`, framed by nobody (`frame-ancestors 'none'`, `X-Frame-Options`),
//!   with a content security policy that allows no script and forms to this origin only.

mod assets;
mod explore;
mod filters;
mod fleet;
mod new;
mod oidc;
mod page;
mod project;
mod proxy;
mod sessions;
mod settings;
mod sign_in;
#[cfg(test)]
mod snapshot_tests;
mod ui;
mod user_settings;

use crate::state::AppState;
use autogit_app::{Principal, csrf_token, same_token};
use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use serde::Deserialize;
use std::net::IpAddr;

pub(crate) use page::Page;
pub use proxy::ProxyAuth;

/// The session cookie's name.
pub(crate) const SESSION_COOKIE: &str = "_autogit_session";
/// The sign-in form's double-submit cookie.
pub(crate) const CSRF_COOKIE: &str = "_autogit_csrf";
/// The form field of every CSRF token.
pub(crate) const CSRF_FIELD: &str = "authenticity_token";

pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .merge(sign_in::routes())
        .merge(oidc::routes())
        .merge(sessions::routes())
        .merge(explore::routes())
        .merge(user_settings::routes())
        .merge(new::routes())
        .merge(fleet::routes())
        .merge(settings::routes())
        .route_layer(axum::middleware::from_fn_with_state(state, proxy::sign_in_by_proxy))
        .merge(assets::routes())
}

/// The pages under a project's or namespace's own path (`/<namespace>/<project>/-/…`), which
/// share the router's fallback with git over HTTP (see [`fallback`]).
fn namespace_pages(state: AppState) -> Router {
    Router::new()
        .route("/{*path}", axum::routing::get(project::get).post(project::post))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), proxy::sign_in_by_proxy))
        .with_state(state)
}

/// What no route took: git's smart HTTP paths go to git, unknown API paths get the API's JSON
/// `404`, and everything else is a namespace's or project's page.
pub fn fallback(state: AppState) -> impl Fn(axum::extract::Request) -> FallbackFuture + Clone + Send + Sync + 'static {
    let pages = namespace_pages(state.clone());
    move |req: axum::extract::Request| {
        let (state, pages) = (state.clone(), pages.clone());
        Box::pin(async move {
            use tower::ServiceExt;
            let path = req.uri().path();
            if path.starts_with("/api/") {
                return crate::error::unknown_path();
            }
            if crate::git_http::is_git_path(path) {
                return crate::git_http::handle(axum::extract::State(state), req).await;
            }
            match pages.oneshot(req).await {
                Ok(r) => r,
                Err(never) => match never {},
            }
        })
    }
}

/// What a path that names no page answers (the same whoever asks).
pub(crate) fn unknown_page() -> axum::response::Response {
    use axum::response::IntoResponse;
    Page::not_found().into_response()
}

pub type FallbackFuture = std::pin::Pin<Box<dyn std::future::Future<Output = axum::response::Response> + Send>>;

/// What every page's layout shows about the browser: who is signed in and the CSRF token of
/// its forms.
pub(crate) fn chrome(browser: &Browser) -> minijinja::Value {
    let user = browser.who.as_ref().and_then(|w| w.user.as_ref());
    let csrf = match (&browser.who, &browser.secret) {
        (Some(_), Some(secret)) => Some(csrf_token(secret)),
        _ => None,
    };
    minijinja::context! {
        user => user.map(|u| minijinja::context! { username => u.username.clone(), name => u.name.clone(), admin => u.is_admin }),
        csrf => csrf,
    }
}

/// The browser of a request: signed in by its session cookie, or not.
pub(crate) struct Browser {
    /// `None` when there is no cookie, or it names no live session.
    pub who: Option<Principal>,
    /// The session cookie's value as sent (to derive the CSRF token, and to clear a dead cookie).
    pub secret: Option<String>,
    pub peer: IpAddr,
    /// Whether the connection's external URL is https (cookies get `Secure`).
    pub secure: bool,
}

impl FromRequestParts<AppState> for Browser {
    type Rejection = Page;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Page> {
        let peer = crate::conn::peer_or_unknown(&parts.extensions);
        let secure = state.config.external_url.starts_with("https://");
        if let Some(p) = parts.extensions.get::<proxy::ProxySession>() {
            return Ok(Browser { who: Some(p.who.clone()), secret: Some(p.secret.clone()), peer, secure });
        }
        let secret = cookie(&parts.headers, SESSION_COOKIE).filter(|s| plausible_secret(s)).map(str::to_string);
        let who = match &secret {
            Some(s) => state.app.system().session_principal(s, peer).await.map_err(Page::error)?,
            None => None,
        };
        Ok(Browser { who, secret, peer, secure })
    }
}

impl Browser {
    /// Who acts: the signed-in person, or anonymous.
    pub(crate) fn principal(&self) -> Principal {
        self.who.clone().unwrap_or_else(|| Principal { address: Some(self.peer), ..Principal::anonymous() })
    }
}

/// The form of a POST that carries only its CSRF token.
#[derive(Deserialize)]
pub(crate) struct TokenForm {
    #[serde(rename = "authenticity_token", default)]
    token: String,
}

/// A signed-in browser with its CSRF token, or the redirect to the sign-in page.
pub(crate) fn signed_in(browser: &Browser) -> Result<(&Principal, String), Page> {
    match (&browser.who, &browser.secret) {
        (Some(who), Some(secret)) => Ok((who, csrf_token(secret))),
        _ => Err(Page::redirect("/users/sign_in")),
    }
}

/// The form of a POST, checked against the session's CSRF token.
pub(crate) fn checked<'a>(
    browser: &'a Browser,
    headers: &HeaderMap,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Result<&'a Principal, Page> {
    let (who, token) = signed_in(browser)?;
    let sent = form.map(|Form(f)| f.token).unwrap_or_default();
    if cross_site(headers) || !same_token(&token, &sent) {
        return Err(Page::csrf_refused());
    }
    Ok(who)
}

/// A form's fields (all of them, in order), checked against the session's CSRF token: for
/// forms that carry more than the token.
pub(crate) fn checked_fields<'a>(
    browser: &'a Browser,
    headers: &HeaderMap,
    fields: &[(String, String)],
) -> Result<&'a Principal, Page> {
    let (who, token) = signed_in(browser)?;
    let sent = fields.iter().find(|(k, _)| k == CSRF_FIELD).map_or("", |(_, v)| v.as_str());
    if cross_site(headers) || !same_token(&token, sent) {
        return Err(Page::csrf_refused());
    }
    Ok(who)
}

/// A POST form with all its fields, from a signed-in browser whose session's CSRF token it
/// carries (the extractor answers the sign-in redirect or the `422` otherwise). It reads the
/// body, so it comes last among a handler's arguments.
pub(crate) struct CheckedForm {
    pub browser: Browser,
    pub who: Principal,
    pub fields: Vec<(String, String)>,
}

impl axum::extract::FromRequest<AppState> for CheckedForm {
    type Rejection = Page;

    async fn from_request(req: axum::extract::Request, state: &AppState) -> Result<Self, Page> {
        let (mut parts, body) = req.into_parts();
        let browser = Browser::from_request_parts(&mut parts, state).await?;
        let headers = parts.headers.clone();
        let req = axum::extract::Request::from_parts(parts, body);
        let fields = Form::<Vec<(String, String)>>::from_request(req, state).await.map(|Form(f)| f).unwrap_or_default();
        let who = checked_fields(&browser, &headers, &fields)?.clone();
        Ok(CheckedForm { browser, who, fields })
    }
}

/// The value of form field `name` (the first one), or `""`.
pub(crate) fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
}

/// A session secret is 40 alphanumerics; anything else is not looked up.
fn plausible_secret(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// A `Set-Cookie` value: `HttpOnly`, `SameSite=Lax`, `Path=/`, `Secure` on https; `value`
/// `None` clears the cookie.
pub(crate) fn set_cookie(name: &str, value: Option<&str>, secure: bool) -> HeaderValue {
    let mut c = match value {
        Some(v) => format!("{name}={v}; Path=/; HttpOnly; SameSite=Lax"),
        None => format!("{name}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"),
    };
    if secure {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

/// Whether the browser says this request comes from another site (`Sec-Fetch-Site`); browsers
/// that do not send the header are judged by the CSRF token alone.
pub(crate) fn cross_site(headers: &HeaderMap) -> bool {
    headers.get("sec-fetch-site").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_several_headers_and_pairs() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("a=1; _autogit_session=abc"));
        h.append(header::COOKIE, HeaderValue::from_static("b=2"));
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "b"), Some("2"));
        assert_eq!(cookie(&h, "_autogit"), None);
    }

    #[test]
    fn cookie_attributes() {
        let c = set_cookie(SESSION_COOKIE, Some("x"), true);
        assert_eq!(c.to_str().expect("text"), "_autogit_session=x; Path=/; HttpOnly; SameSite=Lax; Secure");
        let gone = set_cookie(SESSION_COOKIE, None, false);
        assert!(gone.to_str().expect("text").contains("Max-Age=0") && !gone.to_str().expect("text").contains("Secure"));
    }

    #[test]
    fn only_plausible_secrets_are_looked_up() {
        assert!(plausible_secret(&"a".repeat(40)));
        assert!(!plausible_secret(&"a".repeat(39)) && !plausible_secret(&format!("{}%", "a".repeat(39))));
    }
}
