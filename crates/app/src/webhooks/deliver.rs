//! Delivering the outbox: a loop takes each executable hook's oldest pending delivery, posts it
//! through the [`HookTransport`] port with GitLab's headers, and records the attempt with the
//! hook's new health (`autogit_core::webhook::HookHealth`) in one transaction. A failed delivery
//! stays first in its hook's line, so a receiver that was down gets every event, in order, once it
//! is back and the hook's rest is over. Also the synchronous "test hook" and the re-send of a
//! logged delivery.

use super::payload::{push_payload, uuid4};
use super::{HookFailure, HookRequest, HookTransport, ShownHook, WebhookRuntime};
use crate::{App, AppError, Principal, Result, System};
use autogit_core::webhook::OutboundPolicy;
use autogit_git::read;
use autogit_store::{
    DeliveryAttempt, DeliveryState, HookDelivery, Listed, NewHookDelivery, Page, ProjectHook, PushPipelineState,
    PushRecordUpdate, StoredHookHealth,
};
use chrono::{DateTime, Utc};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

/// Deliveries attempted at once (each for a different hook).
const BATCH: i64 = 64;
/// How often the loop looks for deliveries whose hook's rest is over, when nothing woke it.
const IDLE: Duration = Duration::from_secs(1);

/// GitLab's `X-Gitlab-Event` for an event name.
pub fn event_header(event: &str) -> &'static str {
    match event {
        "tag_push" => "Tag Push Hook",
        _ => "Push Hook",
    }
}

impl App {
    /// Posts `payload` to `hook` once; the attempt as the store records it (health unchanged).
    async fn attempt(
        &self,
        rt: &WebhookRuntime,
        hook: &ProjectHook,
        event: &str,
        payload: &str,
        key: &str,
        policy: &OutboundPolicy,
    ) -> DeliveryAttempt {
        let started = Instant::now();
        let outcome = match (self.open_hook_url(hook), self.open_hook_token(hook)) {
            (Ok(url), Ok(token)) => {
                let mut headers = vec![
                    ("Content-Type".to_string(), "application/json".to_string()),
                    ("User-Agent".to_string(), format!("GitLab/17.0.0 (AutoGit {})", env!("CARGO_PKG_VERSION"))),
                    ("X-Gitlab-Event".to_string(), event_header(event).to_string()),
                    ("X-Gitlab-Webhook-UUID".to_string(), uuid4()),
                    ("X-Gitlab-Event-UUID".to_string(), key.to_string()),
                    ("X-Gitlab-Instance".to_string(), rt.instance_url.clone()),
                    ("Idempotency-Key".to_string(), key.to_string()),
                ];
                if let Some(t) = token {
                    headers.push(("X-Gitlab-Token".to_string(), t));
                }
                let request = HookRequest {
                    url,
                    headers,
                    body: payload.as_bytes().to_vec(),
                    verify_tls: hook.enable_ssl_verification,
                    policy: policy.clone(),
                    timeout: rt.timeout,
                };
                rt.transport.post(request).await
            }
            (Err(e), _) | (_, Err(e)) => Err(HookFailure::Network(e.to_string())),
        };
        let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let now = self.clock.now();
        let (ok, status, response) = match outcome {
            Ok(r) => {
                let headers: serde_json::Map<String, serde_json::Value> =
                    r.headers.into_iter().map(|(k, v)| (k, json!(v))).collect();
                let body = json!({"headers": headers, "body": r.body_excerpt});
                ((200..300).contains(&r.status), Some(i32::from(r.status)), body.to_string())
            }
            Err(e) => (false, None, json!({"error": e.to_string()}).to_string()),
        };
        let health = hook.health.health().after(ok, now.timestamp(), rt.backoff_unit_secs);
        DeliveryAttempt {
            state: if ok { DeliveryState::Delivered } else { DeliveryState::Pending },
            response_status: status,
            response: Some(response),
            duration_ms,
            at: now,
            health: StoredHookHealth::of(health),
        }
    }

    /// A hook's logged deliveries, newest first (maintainers).
    pub async fn hook_deliveries(
        &self,
        who: &Principal,
        project_ref: &str,
        hook_id: i64,
        page: Page,
    ) -> Result<(ShownHook, Listed<HookDelivery>)> {
        let hook = self.get_hook(who, project_ref, hook_id).await?;
        let listed = self.store.list_deliveries(hook.hook.id, page).await?;
        Ok((hook, listed))
    }

    /// Sends a logged delivery's payload again, as a new delivery at the end of the hook's line.
    pub async fn resend_hook_delivery(
        &self,
        who: &Principal,
        project_ref: &str,
        hook_id: i64,
        delivery_id: i64,
    ) -> Result<()> {
        let hook = self.get_hook(who, project_ref, hook_id).await?;
        let old = self.store.delivery(hook.hook.id, delivery_id).await?.ok_or(AppError::NotFound("Hook event"))?;
        let again = NewHookDelivery {
            hook_id: hook.hook.id,
            event: old.event,
            payload: old.payload,
            idempotency_key: uuid4(),
            origin: None,
        };
        self.store.enqueue_deliveries(&[again], self.clock.now()).await?;
        if let Some(rt) = &self.webhooks {
            rt.wake.notify_one();
        }
        Ok(())
    }

    /// GitLab's "test hook" for `push_events` or `tag_push_events`: a push of the default branch's
    /// last commits (or of the newest tag), sent now and logged; the receiver's answer, or why
    /// there was none. The hook's health is left as it is.
    pub async fn test_hook(
        &self,
        who: &Principal,
        project_ref: &str,
        hook_id: i64,
        trigger: &str,
    ) -> Result<HookDelivery> {
        let shown = self.get_hook(who, project_ref, hook_id).await?;
        let rt = self.webhooks.clone().ok_or_else(|| AppError::Internal("webhooks are not set up".into()))?;
        let project = self.store.project_by_id(shown.hook.project_id).await?.ok_or(AppError::NotFound("Project"))?;
        let repo = self.repos.path_for(project.id);
        let empty = || AppError::Refused("Ensure the project has at least one commit.".into());
        let (tag, ref_name, new) = match trigger {
            "push_events" => {
                let default = project.default_branch.clone().ok_or_else(empty)?;
                let head = read::branch(&repo, &default).await?.ok_or_else(empty)?;
                (false, format!("refs/heads/{default}"), head.commit.id)
            }
            "tag_push_events" => {
                let tag = read::tags(&repo)
                    .await?
                    .into_iter()
                    .next_back()
                    .ok_or_else(|| AppError::Refused("Ensure the project has tags.".into()))?;
                (true, format!("refs/tags/{}", tag.name), tag.target)
            }
            other => {
                return Err(AppError::Invalid(
                    "trigger",
                    format!("{other:?} is not one of push_events, tag_push_events"),
                ));
            }
        };
        let (commits, total) = if tag { (Vec::new(), 0) } else { read::push_commits(&repo, &new, &[], 3).await? };
        let update = PushRecordUpdate {
            position: 0,
            ref_name,
            old: commits
                .last()
                .and_then(|c| c.info.parent_ids.first().cloned())
                .unwrap_or_else(|| "0".repeat(new.len())),
            new: new.clone(),
            applied: true,
            pipeline: PushPipelineState::None,
            pipeline_id: None,
        };
        let user = match who.actor.user_id() {
            Some(id) => self.store.user_by_id(id).await?,
            None => None,
        };
        let payload = push_payload(&rt, &project, user.as_ref(), &update, tag, false, Some(new), &commits, total);
        let event = if tag { "tag_push" } else { "push" };
        let key = uuid4();
        let policy = self.system().hook_policy().await?;
        let mut attempt = self.attempt(&rt, &shown.hook, event, &payload, &key, &policy).await;
        if attempt.state == DeliveryState::Pending {
            attempt.state = DeliveryState::Failed;
        }
        let logged = NewHookDelivery {
            hook_id: shown.hook.id,
            event: event.into(),
            payload,
            idempotency_key: key,
            origin: None,
        };
        Ok(self.store.log_delivery(&logged, &attempt).await?)
    }
}

impl System<'_> {
    /// One pass over the outbox: the due deliveries attempted, each recorded. How many were
    /// attempted.
    pub async fn deliver_hooks_once(&self, now: DateTime<Utc>) -> Result<usize> {
        let Some(rt) = self.webhooks.clone() else { return Ok(0) };
        let due = self.store.due_deliveries(now, BATCH).await?;
        if due.is_empty() {
            return Ok(0);
        }
        let policy = self.hook_policy().await?;
        let attempts = due.iter().map(|(d, hook)| {
            let (rt, policy) = (rt.clone(), policy.clone());
            async move {
                let attempt = self.attempt(&rt, hook, &d.event, &d.payload, &d.idempotency_key, &policy).await;
                if attempt.state != DeliveryState::Delivered {
                    // The answer's status, or the transport's error (which never holds the URL).
                    let why = attempt.response.as_deref().unwrap_or_default().chars().take(300).collect::<String>();
                    tracing::info!(hook = hook.id, delivery = d.id, status = ?attempt.response_status, %why,
                        failures = attempt.health.recent_failures, "hook delivery failed; it stays first in line");
                }
                self.store.record_attempt(d.id, &attempt).await
            }
        });
        for r in futures_util::future::join_all(attempts).await {
            r?;
        }
        Ok(due.len())
    }

    /// Delivers until `stop`: woken by every enqueue, and every second for hooks whose rest ended.
    pub async fn run_hook_deliveries(&self, stop: CancellationToken) {
        let Some(rt) = self.webhooks.clone() else { return };
        loop {
            let done = match self.deliver_hooks_once(self.clock.now()).await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "hook delivery pass failed");
                    0
                }
            };
            if done > 0 {
                continue;
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = rt.wake.notified() => {}
                () = tokio::time::sleep(IDLE) => {}
            }
        }
    }
}

/// What a process needs to deliver hooks: the transport adapter and the instance's addresses.
pub(crate) fn runtime(transport: Arc<dyn HookTransport>, settings: super::WebhookSettings) -> WebhookRuntime {
    WebhookRuntime {
        transport,
        instance_url: settings.instance_url.trim_end_matches('/').to_string(),
        ssh_clone_base: settings.ssh_clone_base,
        timeout: settings.timeout,
        backoff_unit_secs: i64::try_from(settings.backoff_unit.as_secs()).unwrap_or(60).max(1),
        wake: tokio::sync::Notify::new(),
    }
}
