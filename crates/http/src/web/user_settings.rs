//! The signed-in person's own settings at GitLab's paths: SSH keys
//! (`/-/user_settings/ssh_keys`: list, add, delete) and personal access tokens
//! (`/-/user_settings/personal_access_tokens`: list, create, revoke).
//!
//! Everything goes through the same use-cases as the API (`/user/keys`,
//! `/personal_access_tokens`), with the API's checks and words; these pages only cap the size of
//! what they pass on. A new token's secret is shown once, in the answer to the form that created
//! it (sent `no-store`, as every page): never in an address, a cookie or a log. A key or token of
//! someone else is `404` here, whoever asks.

use super::explore::{ListQuery, pager};
use super::{Browser, Page, TokenForm, checked, chrome, field, signed_in};
use crate::state::AppState;
use crate::web::CheckedForm;
use crate::web::ui::val;
use autogit_app::store::{SshKey, Token};
use autogit_app::{AddKey, AppError, CreateToken, Principal};
use autogit_core::Scope;
use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use chrono::{NaiveDate, Utc};
use minijinja::context;
use serde::Serialize;

const KEYS: &str = "/-/user_settings/ssh_keys";
const TOKENS: &str = "/-/user_settings/personal_access_tokens";

/// The longest title or name accepted (characters), as the use-cases' own limit.
pub(super) const MAX_NAME: usize = 255;
/// The longest public key line accepted (bytes): an RSA key of 16384 bits is under 3 KiB.
const MAX_KEY: usize = 16 * 1024;
/// The longest date field read (`YYYY-MM-DD`, with room for a browser's variations).
const MAX_DATE: usize = 32;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(KEYS, get(keys).post(add_key))
        .route("/-/user_settings/ssh_keys/{id}/delete", post(delete_key))
        .route(TOKENS, get(tokens).post(create_token))
        .route("/-/user_settings/personal_access_tokens/{id}/revoke", post(revoke_token))
}

/// A use-case's refusal as the status and words shown above the form that was sent; what is no
/// refusal of the request (a failure on our side) is the error page.
pub(super) fn refusal(e: AppError) -> Result<(StatusCode, String), Page> {
    match e {
        AppError::Invalid(..) | AppError::Missing(_) | AppError::Conflict(..) => {
            Ok((StatusCode::BAD_REQUEST, e.to_string()))
        }
        AppError::Forbidden(m) => {
            Ok((StatusCode::FORBIDDEN, m.unwrap_or_else(|| "You are not allowed to do this.".to_string())))
        }
        AppError::NotFound(what) => Ok((StatusCode::NOT_FOUND, format!("{what} not found."))),
        other => Err(Page::error(other)),
    }
}

/// `Err` with the message naming `what` when `value` has more than `max` characters.
pub(super) fn capped(what: &str, value: &str, max: usize) -> Result<(), String> {
    if value.chars().count() > max {
        return Err(format!("{what} is too long (maximum is {max} characters)"));
    }
    Ok(())
}

/// An optional `YYYY-MM-DD` date field, in the API's words when it is not one.
fn date_field(value: &str) -> Result<Option<NaiveDate>, String> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    if value.len() > MAX_DATE {
        return Err("expires_at must be a date (YYYY-MM-DD)".into());
    }
    NaiveDate::parse_from_str(value.get(..10).unwrap_or(value), "%Y-%m-%d")
        .map(Some)
        .map_err(|_| "expires_at must be a date (YYYY-MM-DD)".into())
}

/// The earliest expiry date the use-cases accept (tomorrow, UTC): the date inputs' `min`.
fn tomorrow() -> String {
    (Utc::now().date_naive() + chrono::Days::new(1)).to_string()
}

/// A signed-in person's own user, or the sign-in redirect.
fn me(who: &Principal) -> Result<autogit_core::UserId, Page> {
    who.user().map(|u| u.id).map_err(|_| Page::redirect("/users/sign_in"))
}

/// The values of the key form, kept when it is refused.
#[derive(Serialize, Default)]
struct KeyValues {
    title: String,
    key: String,
    expires_at: String,
}

#[derive(Serialize)]
struct KeyRow {
    id: i64,
    title: String,
    fingerprint: String,
    /// The key's type as OpenSSH names it (`ssh-ed25519`, `ssh-rsa`…).
    kind: String,
    usage_type: String,
    created_at: String,
    expires_at: Option<String>,
    expired: bool,
    last_used_at: Option<String>,
}

fn key_row(k: &SshKey, today: NaiveDate) -> KeyRow {
    KeyRow {
        id: k.id,
        title: k.title.clone(),
        fingerprint: k.fingerprint.clone(),
        kind: k.key.split_whitespace().next().unwrap_or_default().to_string(),
        usage_type: k.usage_type.replace('_', " "),
        created_at: k.created_at.to_rfc3339(),
        expires_at: k.expires_at.map(|d| d.to_string()),
        expired: k.expires_at.is_some_and(|d| d <= today),
        last_used_at: k.last_used_at.map(|t| t.to_rfc3339()),
    }
}

async fn keys(State(s): State<AppState>, browser: Browser) -> Page {
    let who = match signed_in(&browser) {
        Ok((who, _)) => who.clone(),
        Err(p) => return p,
    };
    keys_page(&s, &browser, &who, StatusCode::OK, KeyValues::default(), None).await
}

async fn keys_page(
    s: &AppState,
    browser: &Browser,
    who: &Principal,
    status: StatusCode,
    values: KeyValues,
    error: Option<String>,
) -> Page {
    let user_id = match me(who) {
        Ok(id) => id,
        Err(p) => return p,
    };
    let keys = match s.app.list_ssh_keys(who, user_id).await {
        Ok(k) => k,
        Err(e) => return Page::error(e),
    };
    let today = Utc::now().date_naive();
    let ctx = context! {
        chrome => chrome(browser), title => "SSH keys",
        keys => val(&keys.iter().map(|k| key_row(k, today)).collect::<Vec<_>>()),
        form => val(&values), error => error, min_date => tomorrow(),
        max_title => MAX_NAME, max_key => MAX_KEY,
    };
    Page::render(status, "user_keys.html", ctx)
}

async fn add_key(State(s): State<AppState>, CheckedForm { browser, who, fields }: CheckedForm) -> Page {
    let user_id = match me(&who) {
        Ok(id) => id,
        Err(p) => return p,
    };
    let values = KeyValues {
        title: field(&fields, "title").chars().take(MAX_NAME + 1).collect(),
        key: field(&fields, "key").chars().take(MAX_KEY + 1).collect(),
        expires_at: field(&fields, "expires_at").chars().take(MAX_DATE + 1).collect(),
    };
    let checks = || -> Result<Option<NaiveDate>, String> {
        capped("title", &values.title, MAX_NAME)?;
        if values.key.len() > MAX_KEY {
            return Err(format!("key is too long (maximum is {MAX_KEY} bytes)"));
        }
        date_field(&values.expires_at)
    };
    let expires_at = match checks() {
        Ok(d) => d,
        Err(m) => return keys_page(&s, &browser, &who, StatusCode::BAD_REQUEST, values, Some(m)).await,
    };
    let req =
        AddKey { title: values.title.clone(), key: values.key.clone(), expires_at, usage_type: None, can_push: false };
    match s.app.add_ssh_key(&who, user_id, req).await {
        Ok(_) => Page::redirect(KEYS),
        Err(e) => match refusal(e) {
            Ok((status, m)) => keys_page(&s, &browser, &who, status, values, Some(m)).await,
            Err(p) => p,
        },
    }
}

async fn delete_key(
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
    let user_id = match me(who) {
        Ok(id) => id,
        Err(p) => return p,
    };
    let Ok(id) = id.parse::<i64>() else { return Page::error(AppError::NotFound("Key")) };
    match s.app.delete_ssh_key(who, user_id, id).await {
        Ok(()) => Page::redirect(KEYS),
        Err(e) => Page::error(e),
    }
}

/// The values of the token form, kept when it is refused.
#[derive(Serialize, Default)]
struct TokenValues {
    name: String,
    scopes: Vec<String>,
    expires_at: String,
}

#[derive(Serialize)]
struct TokenRow {
    id: i64,
    name: String,
    scopes: Vec<&'static str>,
    created_at: String,
    expires_at: Option<String>,
    last_used_at: Option<String>,
    /// `active`, `expired` or `revoked`.
    state: &'static str,
}

fn token_row(t: &Token, today: NaiveDate) -> TokenRow {
    let state = if t.revoked {
        "revoked"
    } else if t.expires_at.is_some_and(|d| d <= today) {
        "expired"
    } else {
        "active"
    };
    TokenRow {
        id: t.id,
        name: t.name.clone(),
        scopes: t.scopes.iter().map(|s| s.as_str()).collect(),
        created_at: t.created_at.to_rfc3339(),
        expires_at: t.expires_at.map(|d| d.to_string()),
        last_used_at: t.last_used_at.map(|x| x.to_rfc3339()),
        state,
    }
}

/// What each scope lets a token do, for the form.
fn scope_words(s: Scope) -> &'static str {
    match s {
        Scope::Api => "Read and write everything the API offers, and clone and push repositories.",
        Scope::ReadApi => "Read what the API offers.",
        Scope::ReadRepository => "Clone and fetch repositories.",
        Scope::WriteRepository => "Push to repositories (and clone and fetch them).",
    }
}

/// A token just made: its name and its secret, shown this once.
#[derive(Serialize)]
struct Created {
    name: String,
    secret: String,
}

async fn tokens(State(s): State<AppState>, browser: Browser, Query(q): Query<ListQuery>) -> Page {
    let who = match signed_in(&browser) {
        Ok((who, _)) => who.clone(),
        Err(p) => return p,
    };
    tokens_page(&s, &browser, &who, &q, StatusCode::OK, TokenValues::default(), None, None).await
}

#[allow(clippy::too_many_arguments)]
async fn tokens_page(
    s: &AppState,
    browser: &Browser,
    who: &Principal,
    q: &ListQuery,
    status: StatusCode,
    values: TokenValues,
    error: Option<String>,
    created: Option<Created>,
) -> Page {
    let user_id = match me(who) {
        Ok(id) => id,
        Err(p) => return p,
    };
    let listed = match s.app.list_tokens(who, Some(user_id), q.window()).await {
        Ok(l) => l,
        Err(e) => return Page::error(e),
    };
    let today = Utc::now().date_naive();
    let scopes: Vec<_> = Scope::ALL
        .iter()
        .map(|sc| {
            context! {
                name => sc.as_str(), words => scope_words(*sc),
                checked => values.scopes.iter().any(|v| v == sc.as_str()),
            }
        })
        .collect();
    let ctx = context! {
        chrome => chrome(browser), title => "Personal access tokens",
        tokens => val(&listed.items.iter().map(|t| token_row(t, today)).collect::<Vec<_>>()),
        page => pager(TOKENS, q.number(), listed.total, ""),
        scopes => scopes, form => val(&values), error => error, created => created.as_ref().map(val),
        min_date => tomorrow(), max_name => MAX_NAME,
    };
    Page::render(status, "user_tokens.html", ctx)
}

async fn create_token(State(s): State<AppState>, CheckedForm { browser, who, fields }: CheckedForm) -> Page {
    if let Err(p) = me(&who) {
        return p;
    }
    let first_page = ListQuery::default();
    let mut scopes: Vec<String> = Vec::new();
    for (k, v) in &fields {
        // At most one of each known scope is kept; an unknown one is passed on (the use-case
        // names it), a flood of them is not.
        if k == "scopes" && !scopes.contains(v) && scopes.len() <= Scope::ALL.len() {
            scopes.push(v.chars().take(64).collect());
        }
    }
    let values = TokenValues {
        name: field(&fields, "name").chars().take(MAX_NAME + 1).collect(),
        scopes,
        expires_at: field(&fields, "expires_at").chars().take(MAX_DATE + 1).collect(),
    };
    let checks = || -> Result<Option<NaiveDate>, String> {
        capped("name", &values.name, MAX_NAME)?;
        date_field(&values.expires_at)
    };
    let expires_at = match checks() {
        Ok(d) => d,
        Err(m) => {
            return tokens_page(&s, &browser, &who, &first_page, StatusCode::BAD_REQUEST, values, Some(m), None).await;
        }
    };
    let req = CreateToken { name: values.name.clone(), scopes: values.scopes.clone(), expires_at };
    match s.app.create_own_token(&who, req).await {
        Ok(issued) => {
            let created = Created { name: issued.token.name.clone(), secret: issued.secret };
            let blank = TokenValues::default();
            tokens_page(&s, &browser, &who, &first_page, StatusCode::OK, blank, None, Some(created)).await
        }
        Err(e) => match refusal(e) {
            Ok((status, m)) => tokens_page(&s, &browser, &who, &first_page, status, values, Some(m), None).await,
            Err(p) => p,
        },
    }
}

async fn revoke_token(
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
    let user_id = match me(who) {
        Ok(id) => id,
        Err(p) => return p,
    };
    let Ok(id) = id.parse::<i64>() else { return Page::error(AppError::NotFound("Token")) };
    // This page acts on one's own tokens only (an administrator revokes others' through the API).
    match s.app.get_token(who, id).await {
        Ok(t) if t.user_id == user_id => {}
        Ok(_) => return Page::error(AppError::NotFound("Token")),
        Err(e) => return Page::error(e),
    }
    match s.app.revoke_token(who, id).await {
        Ok(()) => Page::redirect(TOKENS),
        Err(e) => Page::error(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_read_as_the_api_reads_them() {
        assert_eq!(date_field(""), Ok(None));
        assert_eq!(date_field(" 2030-01-02 "), Ok(NaiveDate::from_ymd_opt(2030, 1, 2)));
        assert_eq!(date_field("2030-01-02T00:00:00Z"), Ok(NaiveDate::from_ymd_opt(2030, 1, 2)));
        assert!(date_field("tomorrow").expect_err("refused").contains("expires_at must be a date"));
        assert!(date_field(&"2".repeat(100)).is_err());
    }

    #[test]
    fn caps_name_the_field() {
        assert!(capped("title", &"é".repeat(255), 255).is_ok());
        assert_eq!(
            capped("title", &"x".repeat(256), 255),
            Err("title is too long (maximum is 255 characters)".to_string())
        );
    }

    #[test]
    fn refusals_keep_the_use_case_s_words() {
        let (status, m) =
            refusal(AppError::Invalid("key", "is not a valid SSH public key".into())).ok().expect("shown");
        assert_eq!((status, m.as_str()), (StatusCode::BAD_REQUEST, "key is not a valid SSH public key"));
        let (status, m) = refusal(AppError::Forbidden(None)).ok().expect("shown");
        assert_eq!((status, m.as_str()), (StatusCode::FORBIDDEN, "You are not allowed to do this."));
        assert!(refusal(AppError::Internal("db down".into())).is_err());
    }
}
