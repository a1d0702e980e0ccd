//! The instance audit log: `GET /audit_events` and `GET /audit_events/:id` (administrators),
//! in GitLab's shape: `author_id` (-1 for nobody signed in), `entity_type`, `entity_id`,
//! `event_name`, `details` and `created_at`.

use super::{Caller, Handler, List};
use crate::dto;
use crate::error::bad_param;
use crate::params::Params;
use crate::state::AppState;
use autogit_app::store::{AuditEvent, AuditFilter};
use autogit_core::audit::AuditEntity;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value, json};

pub fn routes() -> Router<AppState> {
    Router::new().route("/audit_events", get(list)).route("/audit_events/{id}", get(show))
}

async fn list(State(s): State<AppState>, Caller(who): Caller, list: List) -> Handler {
    let p = &list.params;
    let filter = AuditFilter {
        entity_type: match p.str("entity_type")? {
            Some(t) if !t.is_empty() => {
                Some(t.parse::<AuditEntity>().map_err(|e| bad_param("entity_type", e.to_string()))?)
            }
            _ => None,
        },
        entity_id: p.i64("entity_id")?,
        created_after: instant(p, "created_after", false)?,
        created_before: instant(p, "created_before", true)?,
    };
    let res = s.app.list_audit_events(&who, &filter, list.page()).await?;
    let items = res.items.iter().map(event).collect();
    Ok(list.respond(&s, res.total, items))
}

async fn show(State(s): State<AppState>, Caller(who): Caller, Path(id): Path<i64>) -> Handler {
    Ok(Json(event(&s.app.get_audit_event(&who, id).await?)).into_response())
}

/// An ISO 8601 instant, or a date: the start of that day, or its end when `end_of_day`.
fn instant(p: &Params, name: &'static str, end_of_day: bool) -> crate::error::ApiResult<Option<DateTime<Utc>>> {
    let Some(text) = p.str(name)?.filter(|t| !t.is_empty()) else { return Ok(None) };
    if let Ok(t) = DateTime::parse_from_rfc3339(&text) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    let day = NaiveDate::parse_from_str(&text, "%Y-%m-%d")
        .map_err(|_| bad_param(name, "must be an ISO 8601 date or time (2026-12-07 or 2026-12-07T10:00:00Z)"))?;
    let t = if end_of_day { day.and_hms_milli_opt(23, 59, 59, 999) } else { day.and_hms_opt(0, 0, 0) };
    Ok(t.map(|t| t.and_utc()))
}

fn event(e: &AuditEvent) -> Value {
    let ev = &e.event;
    let mut details = Map::new();
    details.insert("custom_message".into(), ev.action.message().into());
    details.insert("author_name".into(), ev.author_name.clone().into());
    details.insert(
        "author_class".into(),
        if ev.author_id.is_some() { "User" } else { "Gitlab::Audit::UnauthenticatedAuthor" }.into(),
    );
    if let Some(t) = &ev.target {
        details.insert("target_id".into(), t.id.into());
        details.insert("target_type".into(), t.kind.clone().into());
        details.insert("target_details".into(), t.details.clone().into());
    }
    if let Some(c) = &ev.change {
        details.insert("change".into(), c.attribute.clone().into());
        details.insert("from".into(), c.from.clone().into());
        details.insert("to".into(), c.to.clone().into());
    }
    details.insert("ip_address".into(), ev.ip_address.clone().into());
    details.insert("entity_path".into(), ev.entity_path.clone().into());
    json!({
        "id": e.id,
        "author_id": ev.author_id.map_or(-1, |u| u.get()),
        "entity_id": ev.entity_id,
        "entity_type": ev.entity_type,
        "event_name": ev.action,
        "details": details,
        "created_at": dto::time(e.created_at),
    })
}
