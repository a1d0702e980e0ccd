//! The audit log port: who did what, to which record, when and from where.
//!
//! # Contract (the conformance suite's `audit_events` checks pin it)
//! - Events are append-only: recorded, listed, never changed. They outlive their author and
//!   their entity (no foreign keys): an audit trail must survive the deletion it records.
//! - `list_audit_events` is newest first (by id) and filters by entity and time; the total is
//!   counted before paging.
//! - An event holds no secret; that is the caller's rule, the port stores what it is given.

use crate::{Listed, Page, Result, UserId};
use async_trait::async_trait;
use autogit_core::audit::{AuditAction, AuditEntity};
use chrono::{DateTime, Utc};

/// One recorded event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    pub event: NewAuditEvent,
}

/// An event to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEvent {
    pub action: AuditAction,
    /// The acting user; `None` when nobody was signed in (a failed sign-in).
    pub author_id: Option<UserId>,
    /// The author's username at the time, or the login a failed sign-in gave.
    pub author_name: String,
    pub entity_type: AuditEntity,
    /// The entity's id (0 for the instance).
    pub entity_id: i64,
    /// The entity's full path or username at the time.
    pub entity_path: String,
    /// What the action was applied to inside the entity (GitLab's `target_*`): e.g. a member's
    /// user, a token, a runner.
    pub target: Option<AuditTarget>,
    /// A change of one attribute: its name, the value before and after.
    pub change: Option<AuditChange>,
    /// The client address the request came from, when there was a request.
    pub ip_address: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditTarget {
    /// GitLab's class name of the target: `User`, `PersonalAccessToken`, `Ci::Runner`, …
    pub kind: String,
    pub id: i64,
    /// A readable name of the target (a username, a token's name).
    pub details: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditChange {
    pub attribute: String,
    pub from: String,
    pub to: String,
}

/// Which events a list returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub entity_type: Option<AuditEntity>,
    pub entity_id: Option<i64>,
    /// Only events at or after this instant.
    pub created_after: Option<DateTime<Utc>>,
    /// Only events at or before this instant.
    pub created_before: Option<DateTime<Utc>>,
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn record_audit_event(&self, event: &NewAuditEvent, now: DateTime<Utc>) -> Result<AuditEvent>;
    async fn audit_event_by_id(&self, id: i64) -> Result<Option<AuditEvent>>;
    /// Newest first.
    async fn list_audit_events(&self, filter: &AuditFilter, page: Page) -> Result<Listed<AuditEvent>>;
}
