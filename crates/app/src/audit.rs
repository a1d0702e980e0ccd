//! The audit log: use-cases record who did what, to which record, when and from where; an
//! administrator lists it (`GET /audit_events`).
//!
//! Recording follows the change it records and is best effort: when the store refuses the
//! event, the change stands and an error is logged (naming the action, never a secret), because
//! undoing a sign-in or a membership change that already happened would be worse than a gap in
//! the log. ADR 0013 weighs this against writing both in one transaction.
//!
//! An event never holds a secret: tokens are named by id and name, keys by fingerprint; a failed
//! sign-in keeps the login as given, never the password.

use crate::{App, Principal, Result};
use autogit_core::audit::{AuditAction, AuditEntity};
use autogit_store::{
    AuditChange, AuditEvent, AuditFilter, AuditTarget, Listed, Namespace, NewAuditEvent, Page, Project, User,
};
use std::net::IpAddr;

/// The longest login a failed sign-in's event keeps.
const MAX_LOGIN_SHOWN: usize = 64;

/// What one event says, before its author is known.
pub(crate) struct Entry {
    action: AuditAction,
    entity_type: AuditEntity,
    entity_id: i64,
    entity_path: String,
    target: Option<AuditTarget>,
    change: Option<AuditChange>,
}

impl Entry {
    pub(crate) fn user(action: AuditAction, u: &User) -> Entry {
        Entry::on(action, AuditEntity::User, u.id.get(), &u.username)
    }

    pub(crate) fn project(action: AuditAction, p: &Project) -> Entry {
        Entry::on(action, AuditEntity::Project, p.id.get(), &p.full_path)
    }

    pub(crate) fn group(action: AuditAction, g: &Namespace) -> Entry {
        Entry::on(action, AuditEntity::Group, g.id.get(), &g.full_path)
    }

    pub(crate) fn instance(action: AuditAction) -> Entry {
        Entry::on(action, AuditEntity::Instance, 0, "")
    }

    pub(crate) fn on(action: AuditAction, entity_type: AuditEntity, entity_id: i64, path: &str) -> Entry {
        Entry { action, entity_type, entity_id, entity_path: path.to_string(), target: None, change: None }
    }

    /// What the action was applied to inside the entity.
    pub(crate) fn target(mut self, kind: &str, id: i64, details: impl Into<String>) -> Entry {
        self.target = Some(AuditTarget { kind: kind.to_string(), id, details: details.into() });
        self
    }

    /// A change of one attribute.
    pub(crate) fn change(mut self, attribute: &str, from: impl Into<String>, to: impl Into<String>) -> Entry {
        self.change = Some(AuditChange { attribute: attribute.to_string(), from: from.into(), to: to.into() });
        self
    }
}

impl App {
    /// Records `entry` as done by `who`.
    pub(crate) async fn audit(&self, who: &Principal, entry: Entry) {
        let (id, name) = match &who.user {
            Some(u) => (Some(u.id), u.username.clone()),
            None => (None, "An unauthenticated user".to_string()),
        };
        self.record(id, name, who.address, entry).await;
    }

    /// Records a refused password sign-in: nobody is signed in, the author is the login given.
    pub(crate) async fn audit_failed_sign_in(&self, login: &str, address: IpAddr) {
        let shown: String = login.chars().filter(|c| !c.is_control()).take(MAX_LOGIN_SHOWN).collect();
        let entry = Entry::instance(AuditAction::UserSignInFailed).target("User", 0, shown.clone());
        self.record(None, shown, Some(address), entry).await;
    }

    /// Records a refused single sign-on: `who` is what the provider or the browser claimed,
    /// `why` the reason in words (never a token or code).
    pub(crate) async fn audit_failed_sso(&self, who: &str, provider: &str, why: &str, address: IpAddr) {
        let shown: String = who.chars().filter(|c| !c.is_control()).take(MAX_LOGIN_SHOWN).collect();
        let details = format!("{shown} ({provider}: {why})");
        let entry = Entry::instance(AuditAction::UserSignInFailed).target("User", 0, details);
        self.record(None, shown, Some(address), entry).await;
    }

    async fn record(
        &self,
        author_id: Option<autogit_core::UserId>,
        author_name: String,
        address: Option<IpAddr>,
        e: Entry,
    ) {
        let event = NewAuditEvent {
            action: e.action,
            author_id,
            author_name,
            entity_type: e.entity_type,
            entity_id: e.entity_id,
            entity_path: e.entity_path,
            target: e.target,
            change: e.change,
            ip_address: address.map(|a| a.to_canonical().to_string()),
        };
        if let Err(err) = self.store.record_audit_event(&event, self.clock.now()).await {
            tracing::error!(action = %event.action, entity = %event.entity_type, entity_id = event.entity_id, error = %err,
                "audit event not recorded");
        }
    }

    /// The audit log, newest first (administrators only, as GitLab's instance audit events).
    pub async fn list_audit_events(
        &self,
        who: &Principal,
        filter: &AuditFilter,
        page: Page,
    ) -> Result<Listed<AuditEvent>> {
        who.require_admin()?;
        Ok(self.store.list_audit_events(filter, page).await?)
    }

    /// One audit event (administrators only).
    pub async fn get_audit_event(&self, who: &Principal, id: i64) -> Result<AuditEvent> {
        who.require_admin()?;
        self.store.audit_event_by_id(id).await?.ok_or(crate::AppError::NotFound("Audit event"))
    }
}
