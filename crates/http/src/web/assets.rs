//! `/-/assets/<name>`: the stylesheet and the script, under names that carry their content's
//! hash, so a browser may keep them a year and a new build is fetched at once.

use super::ui::{Asset, ui};
use crate::state::AppState;
use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/-/assets/{name}", get(asset))
}

async fn asset(Path(name): Path<String>) -> Response {
    let ui = ui();
    let found: Option<&Asset> = [&ui.css, &ui.js].into_iter().find(|a| a.name == name);
    let Some(a) = found else { return (StatusCode::NOT_FOUND, "no such asset\n").into_response() };
    let mut r = a.body.clone().into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(a.content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    r
}
