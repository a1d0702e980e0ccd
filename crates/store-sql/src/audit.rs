//! [`AuditStore`]: the append-only audit log.

use async_trait::async_trait;
use autogit_store::{
    AuditChange, AuditEvent, AuditFilter, AuditStore, AuditTarget, Listed, NewAuditEvent, Page, Result, StoreError,
    UserId,
};
use chrono::{DateTime, Utc};

use crate::db::{SqlStore, with_db};
use crate::error::{corrupt, db_err};
use crate::filter::page_and_total;

macro_rules! audit_columns {
    () => {
        "id, action, author_id, author_name, entity_type, entity_id, entity_path, target_type, target_id, \
         target_details, change_attribute, change_from, change_to, ip_address, created_at"
    };
}

#[derive(sqlx::FromRow)]
struct AuditRow {
    id: i64,
    action: String,
    author_id: Option<i64>,
    author_name: String,
    entity_type: String,
    entity_id: i64,
    entity_path: String,
    target_type: Option<String>,
    target_id: Option<i64>,
    target_details: Option<String>,
    change_attribute: Option<String>,
    change_from: Option<String>,
    change_to: Option<String>,
    ip_address: Option<String>,
    created_at: DateTime<Utc>,
}

impl TryFrom<AuditRow> for AuditEvent {
    type Error = StoreError;

    fn try_from(r: AuditRow) -> Result<AuditEvent> {
        let target = match (r.target_type, r.target_id) {
            (Some(kind), Some(id)) => Some(AuditTarget { kind, id, details: r.target_details.unwrap_or_default() }),
            _ => None,
        };
        let change = r.change_attribute.map(|attribute| AuditChange {
            attribute,
            from: r.change_from.unwrap_or_default(),
            to: r.change_to.unwrap_or_default(),
        });
        Ok(AuditEvent {
            id: r.id,
            created_at: r.created_at,
            event: NewAuditEvent {
                action: r.action.parse().map_err(|_| corrupt("audit action", &r.action))?,
                author_id: r.author_id.map(UserId::new),
                author_name: r.author_name,
                entity_type: r.entity_type.parse().map_err(|_| corrupt("audit entity type", &r.entity_type))?,
                entity_id: r.entity_id,
                entity_path: r.entity_path,
                target,
                change,
                ip_address: r.ip_address,
            },
        })
    }
}

const INSERT: &str = concat!(
    "INSERT INTO audit_events (action, author_id, author_name, entity_type, entity_id, entity_path, target_type, ",
    "target_id, target_details, change_attribute, change_from, change_to, ip_address, created_at) ",
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING ",
    audit_columns!()
);
const BY_ID: &str = concat!("SELECT ", audit_columns!(), " FROM audit_events WHERE id = $1");
macro_rules! filtered {
    () => {
        " FROM audit_events WHERE ($1 IS NULL OR entity_type = $1) AND ($2 IS NULL OR entity_id = $2) \
         AND ($3 IS NULL OR created_at >= $3) AND ($4 IS NULL OR created_at <= $4)"
    };
}
const LIST: &str = concat!("SELECT ", audit_columns!(), filtered!(), " ORDER BY id DESC LIMIT $5 OFFSET $6");
const COUNT: &str = concat!("SELECT COUNT(*)", filtered!());

#[async_trait]
impl AuditStore for SqlStore {
    async fn record_audit_event(&self, e: &NewAuditEvent, now: DateTime<Utc>) -> Result<AuditEvent> {
        let row: AuditRow = with_db!(self, |p| sqlx::query_as(INSERT)
            .bind(e.action.as_str())
            .bind(e.author_id.map(UserId::get))
            .bind(&e.author_name)
            .bind(e.entity_type.as_str())
            .bind(e.entity_id)
            .bind(&e.entity_path)
            .bind(e.target.as_ref().map(|t| t.kind.as_str()))
            .bind(e.target.as_ref().map(|t| t.id))
            .bind(e.target.as_ref().map(|t| t.details.as_str()))
            .bind(e.change.as_ref().map(|c| c.attribute.as_str()))
            .bind(e.change.as_ref().map(|c| c.from.as_str()))
            .bind(e.change.as_ref().map(|c| c.to.as_str()))
            .bind(e.ip_address.as_deref())
            .bind(now)
            .fetch_one(p)
            .await
            .map_err(db_err)?);
        AuditEvent::try_from(row)
    }

    async fn audit_event_by_id(&self, id: i64) -> Result<Option<AuditEvent>> {
        let row: Option<AuditRow> =
            with_db!(self, |p| sqlx::query_as(BY_ID).bind(id).fetch_optional(p).await.map_err(db_err)?);
        row.map(AuditEvent::try_from).transpose()
    }

    async fn list_audit_events(&self, filter: &AuditFilter, page: Page) -> Result<Listed<AuditEvent>> {
        let (rows, total): (Vec<AuditRow>, i64) = with_db!(self, |p| page_and_total!(p, LIST, COUNT, page, |q| q
            .bind(filter.entity_type.map(|t| t.as_str()))
            .bind(filter.entity_id)
            .bind(filter.created_after)
            .bind(filter.created_before)));
        let items = rows.into_iter().map(AuditEvent::try_from).collect::<Result<_>>()?;
        Ok(Listed { items, total })
    }
}
