//! JSON shapes of project hooks, their logged deliveries (GitLab's hook events) and the
//! outbound settings. A hook's token is never shown; its URL only with the password redacted.

use super::time;
use autogit_app::store::{HookDelivery, OutboundSettings};
use autogit_app::webhooks::{ShownHook, event_header};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

pub fn hook(h: &ShownHook, now: DateTime<Utc>) -> Value {
    let r = &h.hook;
    let health = r.health.health();
    json!({
        "id": r.id,
        "url": h.url,
        "name": r.name,
        "description": r.description,
        "project_id": r.project_id,
        "push_events": r.events.push,
        "push_events_branch_filter": r.push_events_branch_filter.clone().unwrap_or_default(),
        "tag_push_events": r.events.tag_push,
        "issues_events": false,
        "confidential_issues_events": false,
        "merge_requests_events": false,
        "note_events": false,
        "confidential_note_events": false,
        "job_events": false,
        "pipeline_events": false,
        "wiki_page_events": false,
        "deployment_events": false,
        "releases_events": false,
        "repository_update_events": false,
        "enable_ssl_verification": r.enable_ssl_verification,
        "alert_status": health.alert_status(now.timestamp()),
        "disabled_until": r.health.disabled_until.map(time),
        "url_variables": [],
        "custom_headers": [],
        "created_at": time(r.created_at),
    })
}

/// Why an attempt got no answer, from its logged response.
pub fn delivery_error(d: &HookDelivery) -> String {
    d.response
        .as_deref()
        .and_then(|r| serde_json::from_str::<Value>(r).ok())
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or_else(|| "no answer".into())
}

pub fn hook_delivery(h: &ShownHook, d: &HookDelivery) -> Value {
    let response: Value = d.response.as_deref().and_then(|r| serde_json::from_str(r).ok()).unwrap_or(Value::Null);
    let request: Value = serde_json::from_str(&d.payload).unwrap_or(Value::Null);
    json!({
        "id": d.id,
        "url": h.url,
        "trigger": format!("{}_hooks", d.event),
        "request_headers": {"Content-Type": "application/json", "X-Gitlab-Event": event_header(&d.event),
            "Idempotency-Key": d.idempotency_key, "X-Gitlab-Token": "[REDACTED]"},
        "request_data": request,
        "response_headers": response.get("headers").cloned().unwrap_or(Value::Null),
        "response_body": response.get("body").cloned().or_else(|| response.get("error").cloned()).unwrap_or(Value::Null),
        "execution_duration": d.duration_ms.map(|ms| ms as f64 / 1000.0),
        "response_status": d.response_status.map_or_else(|| json!("internal error"), |s| json!(s.to_string())),
        "state": d.state.as_str(),
        "attempts": d.attempts,
        "created_at": time(d.created_at),
        "updated_at": d.last_attempt_at.map(time),
    })
}

pub fn outbound_settings(s: &OutboundSettings) -> Value {
    json!({
        "allow_local_requests_from_web_hooks_and_services": s.allow_local_requests_from_web_hooks_and_services,
        "allow_local_requests_from_system_hooks": s.allow_local_requests_from_system_hooks,
        "outbound_local_requests_allowlist": s.outbound_local_requests_allowlist,
    })
}
