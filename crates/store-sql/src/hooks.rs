//! [`HookStore`] and [`SettingsStore`] (migration 0019): project hooks, their outbox of
//! deliveries, and the outbound-request settings.

use async_trait::async_trait;
use autogit_store::{
    DeliveryAttempt, DeliveryState, HookChange, HookDelivery, HookEvents, HookStore, Listed, NewHookDelivery,
    NewProjectHook, OutboundSettings, Page, ProjectHook, ProjectId, Result, SettingsStore, StoredHookHealth,
};
use chrono::{DateTime, Utc};

use crate::db::{BeginWrite, SqlStore, with_db};
use crate::error::{corrupt, db_err, one_row};
use crate::filter::page_and_total;

macro_rules! hook_select {
    ($rest:literal) => {
        concat!(
            "SELECT id, project_id, url, token, name, description, push_events, tag_push_events, \
             push_events_branch_filter, enable_ssl_verification, recent_failures, disabled_until, \
             permanently_disabled, created_at FROM project_hooks ",
            $rest
        )
    };
}
macro_rules! delivery_select {
    ($rest:literal) => {
        concat!(
            "SELECT id, hook_id, event, payload, idempotency_key, state, attempts, response_status, response, \
             duration_ms, created_at, last_attempt_at FROM hook_deliveries ",
            $rest
        )
    };
}

const INSERT_HOOK: &str = "INSERT INTO project_hooks (project_id, url, token, name, description, push_events, \
     tag_push_events, push_events_branch_filter, enable_ssl_verification, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id";
const HOOK_BY_ID: &str = hook_select!("WHERE id = $1");
const HOOK: &str = hook_select!("WHERE project_id = $1 AND id = $2");
const LIST_HOOKS: &str = hook_select!("WHERE project_id = $1 ORDER BY id LIMIT $2 OFFSET $3");
const COUNT_HOOKS: &str = "SELECT COUNT(*) FROM project_hooks WHERE project_id = $1";
const UPDATE_HOOK: &str = "UPDATE project_hooks SET url = $2, token = $3, name = $4, description = $5, \
     push_events = $6, tag_push_events = $7, push_events_branch_filter = $8, enable_ssl_verification = $9, \
     recent_failures = 0, disabled_until = NULL, permanently_disabled = FALSE WHERE id = $1";
const DELETE_HOOK: &str = "DELETE FROM project_hooks WHERE project_id = $1 AND id = $2";
const ENQUEUE: &str = "INSERT INTO hook_deliveries (hook_id, event, payload, idempotency_key, origin_record, \
     origin_position, state, created_at) VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7) ON CONFLICT DO NOTHING";
const LOG: &str = "INSERT INTO hook_deliveries (hook_id, event, payload, idempotency_key, state, attempts, \
     response_status, response, duration_ms, created_at, last_attempt_at) \
     VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $8, $9, $9) RETURNING id";
const DUE: &str = delivery_select!(
    "d WHERE d.state = 'pending' AND d.id = (SELECT MIN(x.id) FROM hook_deliveries x \
     WHERE x.hook_id = d.hook_id AND x.state = 'pending') AND EXISTS (SELECT 1 FROM project_hooks h \
     WHERE h.id = d.hook_id AND NOT h.permanently_disabled AND (h.disabled_until IS NULL OR h.disabled_until <= $1)) \
     ORDER BY d.id LIMIT $2"
);
const ATTEMPT: &str = "UPDATE hook_deliveries SET state = $2, attempts = attempts + 1, response_status = $3, \
     response = $4, duration_ms = $5, last_attempt_at = $6 WHERE id = $1 AND state = 'pending'";
const HEALTH: &str = "UPDATE project_hooks SET recent_failures = $2, disabled_until = $3, permanently_disabled = $4 \
     WHERE id = (SELECT hook_id FROM hook_deliveries WHERE id = $1)";
const DELIVERY: &str = delivery_select!("WHERE hook_id = $1 AND id = $2");
const LIST_DELIVERIES: &str = delivery_select!("WHERE hook_id = $1 ORDER BY id DESC LIMIT $2 OFFSET $3");
const COUNT_DELIVERIES: &str = "SELECT COUNT(*) FROM hook_deliveries WHERE hook_id = $1";
const HOOKS_AFTER: &str = hook_select!("WHERE id > $1 ORDER BY id LIMIT $2");
/// `IS NOT DISTINCT FROM` would be clearer, but SQLite spells it `IS`: the token is compared as
/// text with an empty string standing for none.
const SWAP_SECRETS: &str = "UPDATE project_hooks SET url = $4, token = $5 \
     WHERE id = $1 AND url = $2 AND COALESCE(token, '') = COALESCE($3, '')";
const SETTINGS: &str = "SELECT allow_local_requests_from_web_hooks_and_services, allow_local_requests_from_system_hooks, \
     outbound_local_requests_allowlist FROM outbound_settings WHERE id = 1";
const SAVE_SETTINGS: &str = "INSERT INTO outbound_settings (id, allow_local_requests_from_web_hooks_and_services, \
     allow_local_requests_from_system_hooks, outbound_local_requests_allowlist) VALUES (1, $1, $2, $3) \
     ON CONFLICT (id) DO UPDATE SET allow_local_requests_from_web_hooks_and_services = $1, \
     allow_local_requests_from_system_hooks = $2, outbound_local_requests_allowlist = $3";

#[derive(sqlx::FromRow)]
struct HookRow {
    id: i64,
    project_id: i64,
    url: String,
    token: Option<String>,
    name: String,
    description: String,
    push_events: bool,
    tag_push_events: bool,
    push_events_branch_filter: Option<String>,
    enable_ssl_verification: bool,
    recent_failures: i32,
    disabled_until: Option<DateTime<Utc>>,
    permanently_disabled: bool,
    created_at: DateTime<Utc>,
}

impl From<HookRow> for ProjectHook {
    fn from(r: HookRow) -> ProjectHook {
        ProjectHook {
            id: r.id,
            project_id: ProjectId::new(r.project_id),
            url: r.url,
            token: r.token,
            name: r.name,
            description: r.description,
            events: HookEvents { push: r.push_events, tag_push: r.tag_push_events },
            push_events_branch_filter: r.push_events_branch_filter,
            enable_ssl_verification: r.enable_ssl_verification,
            health: StoredHookHealth {
                recent_failures: r.recent_failures,
                disabled_until: r.disabled_until,
                permanently_disabled: r.permanently_disabled,
            },
            created_at: r.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: i64,
    hook_id: i64,
    event: String,
    payload: String,
    idempotency_key: String,
    state: String,
    attempts: i32,
    response_status: Option<i32>,
    response: Option<String>,
    duration_ms: Option<i64>,
    created_at: DateTime<Utc>,
    last_attempt_at: Option<DateTime<Utc>>,
}

impl TryFrom<DeliveryRow> for HookDelivery {
    type Error = autogit_store::StoreError;

    fn try_from(r: DeliveryRow) -> Result<HookDelivery> {
        Ok(HookDelivery {
            id: r.id,
            hook_id: r.hook_id,
            event: r.event,
            payload: r.payload,
            idempotency_key: r.idempotency_key,
            state: DeliveryState::parse(&r.state).ok_or_else(|| corrupt("hook_deliveries.state", &r.state))?,
            attempts: r.attempts,
            response_status: r.response_status,
            response: r.response,
            duration_ms: r.duration_ms,
            created_at: r.created_at,
            last_attempt_at: r.last_attempt_at,
        })
    }
}

fn deliveries(rows: Vec<DeliveryRow>) -> Result<Vec<HookDelivery>> {
    rows.into_iter().map(HookDelivery::try_from).collect()
}

#[async_trait]
impl HookStore for SqlStore {
    async fn create_hook(&self, new: &NewProjectHook, now: DateTime<Utc>) -> Result<ProjectHook> {
        let row: HookRow = with_db!(self, |p| {
            let mut tx = p.begin_write().await?;
            let id: i64 = sqlx::query_scalar(INSERT_HOOK)
                .bind(new.project_id.get())
                .bind(&new.url)
                .bind(&new.token)
                .bind(&new.name)
                .bind(&new.description)
                .bind(new.events.push)
                .bind(new.events.tag_push)
                .bind(&new.push_events_branch_filter)
                .bind(new.enable_ssl_verification)
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?;
            let row = sqlx::query_as(HOOK_BY_ID).bind(id).fetch_one(&mut *tx).await.map_err(db_err)?;
            tx.commit().await.map_err(db_err)?;
            row
        });
        Ok(row.into())
    }

    async fn list_hooks(&self, project_id: ProjectId, page: Page) -> Result<Listed<ProjectHook>> {
        let (rows, total): (Vec<HookRow>, i64) =
            with_db!(self, |p| page_and_total!(p, LIST_HOOKS, COUNT_HOOKS, page, |q| q.bind(project_id.get())));
        Ok(Listed { items: rows.into_iter().map(ProjectHook::from).collect(), total })
    }

    async fn hook(&self, project_id: ProjectId, id: i64) -> Result<Option<ProjectHook>> {
        let row: Option<HookRow> = with_db!(self, |p| sqlx::query_as(HOOK)
            .bind(project_id.get())
            .bind(id)
            .fetch_optional(p)
            .await
            .map_err(db_err)?);
        Ok(row.map(ProjectHook::from))
    }

    async fn update_hook(&self, id: i64, c: &HookChange) -> Result<ProjectHook> {
        let row: Option<HookRow> = with_db!(self, |p| {
            let mut tx = p.begin_write().await?;
            let done = sqlx::query(UPDATE_HOOK)
                .bind(id)
                .bind(&c.url)
                .bind(&c.token)
                .bind(&c.name)
                .bind(&c.description)
                .bind(c.events.push)
                .bind(c.events.tag_push)
                .bind(&c.push_events_branch_filter)
                .bind(c.enable_ssl_verification)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?
                .rows_affected();
            let row = if done == 1 {
                Some(sqlx::query_as(HOOK_BY_ID).bind(id).fetch_one(&mut *tx).await.map_err(db_err)?)
            } else {
                None
            };
            tx.commit().await.map_err(db_err)?;
            row
        });
        row.map(ProjectHook::from).ok_or(autogit_store::StoreError::NotFound("hook"))
    }

    async fn delete_hook(&self, project_id: ProjectId, id: i64) -> Result<()> {
        let done = with_db!(self, |p| sqlx::query(DELETE_HOOK)
            .bind(project_id.get())
            .bind(id)
            .execute(p)
            .await
            .map_err(db_err)?
            .rows_affected());
        one_row(done, "hook")
    }

    async fn enqueue_deliveries(&self, list: &[NewHookDelivery], now: DateTime<Utc>) -> Result<()> {
        if list.is_empty() {
            return Ok(());
        }
        with_db!(self, |p| {
            let mut tx = p.begin_write().await?;
            for d in list {
                sqlx::query(ENQUEUE)
                    .bind(d.hook_id)
                    .bind(&d.event)
                    .bind(&d.payload)
                    .bind(&d.idempotency_key)
                    .bind(d.origin.map(|o| o.0))
                    .bind(d.origin.map(|o| o.1))
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
            }
            tx.commit().await.map_err(db_err)?;
        });
        Ok(())
    }

    async fn log_delivery(&self, d: &NewHookDelivery, a: &DeliveryAttempt) -> Result<HookDelivery> {
        let row: DeliveryRow = with_db!(self, |p| {
            let mut tx = p.begin_write().await?;
            let id: i64 = sqlx::query_scalar(LOG)
                .bind(d.hook_id)
                .bind(&d.event)
                .bind(&d.payload)
                .bind(&d.idempotency_key)
                .bind(a.state.as_str())
                .bind(a.response_status)
                .bind(&a.response)
                .bind(a.duration_ms)
                .bind(a.at)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?;
            let row = sqlx::query_as(DELIVERY).bind(d.hook_id).bind(id).fetch_one(&mut *tx).await.map_err(db_err)?;
            tx.commit().await.map_err(db_err)?;
            row
        });
        HookDelivery::try_from(row)
    }

    async fn due_deliveries(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<(HookDelivery, ProjectHook)>> {
        let (rows, hooks): (Vec<DeliveryRow>, Vec<HookRow>) = with_db!(self, |p| {
            let rows: Vec<DeliveryRow> =
                sqlx::query_as(DUE).bind(now).bind(limit).fetch_all(p).await.map_err(db_err)?;
            let mut hooks = Vec::with_capacity(rows.len());
            for r in &rows {
                hooks.push(sqlx::query_as(HOOK_BY_ID).bind(r.hook_id).fetch_one(p).await.map_err(db_err)?);
            }
            (rows, hooks)
        });
        Ok(deliveries(rows)?.into_iter().zip(hooks.into_iter().map(ProjectHook::from)).collect())
    }

    async fn record_attempt(&self, delivery_id: i64, a: &DeliveryAttempt) -> Result<bool> {
        let done = with_db!(self, |p| {
            let mut tx = p.begin_write().await?;
            let done = sqlx::query(ATTEMPT)
                .bind(delivery_id)
                .bind(a.state.as_str())
                .bind(a.response_status)
                .bind(&a.response)
                .bind(a.duration_ms)
                .bind(a.at)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?
                .rows_affected();
            if done == 1 {
                sqlx::query(HEALTH)
                    .bind(delivery_id)
                    .bind(a.health.recent_failures)
                    .bind(a.health.disabled_until)
                    .bind(a.health.permanently_disabled)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
            }
            tx.commit().await.map_err(db_err)?;
            done
        });
        Ok(done == 1)
    }

    async fn list_deliveries(&self, hook_id: i64, page: Page) -> Result<Listed<HookDelivery>> {
        let (rows, total): (Vec<DeliveryRow>, i64) =
            with_db!(self, |p| page_and_total!(p, LIST_DELIVERIES, COUNT_DELIVERIES, page, |q| q.bind(hook_id)));
        Ok(Listed { items: deliveries(rows)?, total })
    }

    async fn delivery(&self, hook_id: i64, id: i64) -> Result<Option<HookDelivery>> {
        let row: Option<DeliveryRow> = with_db!(self, |p| sqlx::query_as(DELIVERY)
            .bind(hook_id)
            .bind(id)
            .fetch_optional(p)
            .await
            .map_err(db_err)?);
        row.map(HookDelivery::try_from).transpose()
    }

    async fn hooks_after(&self, after: i64, limit: i64) -> Result<Vec<ProjectHook>> {
        let rows: Vec<HookRow> = with_db!(self, |p| sqlx::query_as(HOOKS_AFTER)
            .bind(after)
            .bind(limit)
            .fetch_all(p)
            .await
            .map_err(db_err)?);
        Ok(rows.into_iter().map(ProjectHook::from).collect())
    }

    async fn swap_hook_secrets(&self, id: i64, old: (&str, Option<&str>), new: (&str, Option<&str>)) -> Result<bool> {
        let done = with_db!(self, |p| sqlx::query(SWAP_SECRETS)
            .bind(id)
            .bind(old.0)
            .bind(old.1)
            .bind(new.0)
            .bind(new.1)
            .execute(p)
            .await
            .map_err(db_err)?
            .rows_affected());
        Ok(done == 1)
    }
}

#[async_trait]
impl SettingsStore for SqlStore {
    async fn outbound_settings(&self) -> Result<OutboundSettings> {
        let row: Option<(bool, bool, String)> =
            with_db!(self, |p| sqlx::query_as(SETTINGS).fetch_optional(p).await.map_err(db_err)?);
        let Some((hooks, system, list)) = row else { return Ok(OutboundSettings::default()) };
        let allowlist: Vec<String> = serde_json::from_str(&list)
            .map_err(|_| corrupt("outbound_settings.outbound_local_requests_allowlist", &list))?;
        Ok(OutboundSettings {
            allow_local_requests_from_web_hooks_and_services: hooks,
            allow_local_requests_from_system_hooks: system,
            outbound_local_requests_allowlist: allowlist,
        })
    }

    async fn set_outbound_settings(&self, s: &OutboundSettings) -> Result<()> {
        let list = serde_json::to_string(&s.outbound_local_requests_allowlist).unwrap_or_else(|_| "[]".into());
        with_db!(self, |p| {
            sqlx::query(SAVE_SETTINGS)
                .bind(s.allow_local_requests_from_web_hooks_and_services)
                .bind(s.allow_local_requests_from_system_hooks)
                .bind(&list)
                .execute(p)
                .await
                .map_err(db_err)?;
        });
        Ok(())
    }
}
