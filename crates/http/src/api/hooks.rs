//! Project hooks: `GET/POST /projects/:id/hooks`, `GET/PUT/DELETE /projects/:id/hooks/:hook_id`,
//! `POST …/hooks/:hook_id/test/:trigger`, `GET …/hooks/:hook_id/events` and
//! `POST …/events/:event_id/resend` (maintainers); `GET/PUT /application/settings`
//! (administrators: where hooks may send).

use super::{Caller, Handler, List, created};
use crate::dto;
use crate::params::Params;
use crate::state::AppState;
use autogit_app::webhooks::{HookSettings, OutboundChange};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/projects/{id}/hooks", get(list).post(create))
        .route("/projects/{id}/hooks/{hook_id}", get(show).put(update).delete(remove))
        .route("/projects/{id}/hooks/{hook_id}/test/{trigger}", post(test))
        .route("/projects/{id}/hooks/{hook_id}/events", get(events))
        .route("/projects/{id}/hooks/{hook_id}/events/{event_id}/resend", post(resend))
        .route("/application/settings", get(settings).put(update_settings))
}

fn hook_settings(p: &Params) -> Result<HookSettings, crate::error::ApiError> {
    Ok(HookSettings {
        url: p.str("url")?.unwrap_or_default(),
        token: p.str("token")?,
        name: p.str("name")?,
        description: p.str("description")?,
        push_events: p.bool("push_events")?,
        tag_push_events: p.bool("tag_push_events")?,
        push_events_branch_filter: p.str("push_events_branch_filter")?,
        enable_ssl_verification: p.bool("enable_ssl_verification")?,
    })
}

async fn list(State(s): State<AppState>, Caller(who): Caller, Path(id): Path<String>, list: List) -> Handler {
    let res = s.app.list_hooks(&who, &id, list.page()).await?;
    let now = s.app.system().now();
    Ok(list.respond(&s, res.total, res.items.iter().map(|h| dto::hook(h, now)).collect()))
}

async fn show(State(s): State<AppState>, Caller(who): Caller, Path((id, hook)): Path<(String, i64)>) -> Handler {
    let h = s.app.get_hook(&who, &id, hook).await?;
    Ok(Json(dto::hook(&h, s.app.system().now())).into_response())
}

async fn create(State(s): State<AppState>, Caller(who): Caller, Path(id): Path<String>, p: Params) -> Handler {
    let h = s.app.create_hook(&who, &id, hook_settings(&p)?).await?;
    Ok(created(dto::hook(&h, s.app.system().now())))
}

async fn update(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((id, hook)): Path<(String, i64)>,
    p: Params,
) -> Handler {
    let h = s.app.update_hook(&who, &id, hook, hook_settings(&p)?).await?;
    Ok(Json(dto::hook(&h, s.app.system().now())).into_response())
}

async fn remove(State(s): State<AppState>, Caller(who): Caller, Path((id, hook)): Path<(String, i64)>) -> Handler {
    s.app.delete_hook(&who, &id, hook).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// GitLab answers `201 {"message": "201 Created"}` when the receiver took it and `422` with the
/// reason when not; the attempt is logged either way.
async fn test(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((id, hook, trigger)): Path<(String, i64, String)>,
) -> Handler {
    let d = s.app.test_hook(&who, &id, hook, &trigger).await?;
    let status = d.response_status.unwrap_or(0);
    if (200..300).contains(&status) {
        return Ok(created(serde_json::json!({"message": "201 Created"})));
    }
    let why = match d.response_status {
        Some(code) => format!("Hook execution failed: the receiver answered {code}"),
        None => format!("Hook execution failed: {}", dto::delivery_error(&d)),
    };
    Ok((StatusCode::UNPROCESSABLE_ENTITY, Json(serde_json::json!({"message": why}))).into_response())
}

async fn events(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((id, hook)): Path<(String, i64)>,
    list: List,
) -> Handler {
    let (h, res) = s.app.hook_deliveries(&who, &id, hook, list.page()).await?;
    Ok(list.respond(&s, res.total, res.items.iter().map(|d| dto::hook_delivery(&h, d)).collect()))
}

async fn resend(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((id, hook, event)): Path<(String, i64, i64)>,
) -> Handler {
    s.app.resend_hook_delivery(&who, &id, hook, event).await?;
    Ok(created(serde_json::json!({"message": "queued"})))
}

async fn settings(State(s): State<AppState>, Caller(who): Caller) -> Handler {
    Ok(Json(dto::outbound_settings(&s.app.outbound_settings(&who).await?)).into_response())
}

async fn update_settings(State(s): State<AppState>, Caller(who): Caller, p: Params) -> Handler {
    let change = OutboundChange {
        allow_local_requests_from_web_hooks_and_services: p.bool("allow_local_requests_from_web_hooks_and_services")?,
        allow_local_requests_from_system_hooks: p.bool("allow_local_requests_from_system_hooks")?,
        outbound_local_requests_allowlist: match p.0.get("outbound_local_requests_allowlist") {
            None => None,
            Some(_) => Some(p.list("outbound_local_requests_allowlist")?),
        },
    };
    Ok(Json(dto::outbound_settings(&s.app.update_outbound_settings(&who, change).await?)).into_response())
}
