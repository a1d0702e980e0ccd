//! The trusted entry point: calls made without an acting principal.

use crate::{App, Result};
use std::ops::Deref;

/// The application's trusted calls, which take no [`Principal`](crate::Principal) and so apply
/// no user access policy. Who may call them:
/// - the runner job API (register, request, update, trace, artifacts by job token): each of these
///   methods checks the runner or job token it is given before anything else;
/// - credential resolution (`authenticate`, `authenticate_git`), which turns credentials into the
///   principal every user use-case then takes;
/// - the server's own loops and wiring: CI housekeeping, the autoscaler and its pools, push
///   recording, recovery and maintenance, pipeline creation and processing after a recorded
///   push, readiness and metrics;
/// - inbound layers decorating a record a user use-case already returned to them (a job's
///   artifacts, GPU usage and pending reason, a runner's reported hardware), or refusing a push
///   into a full disk before reading it;
/// - the admin CLI run by the server's owner on the server's own data (`setup`, accounts and
///   tokens, secrets passes).
///
/// An inbound layer reaches these only through [`App::system`], so a review of who calls what
/// without a user check reads the `system()` call sites. Like [`App`], `System` never hands out
/// the store or repository storage (`xtask/tests/boundary.rs`).
#[derive(Clone, Copy)]
pub struct System<'a> {
    app: &'a App,
}

impl App {
    /// The trusted entry point (see [`System`] for who may use it).
    pub fn system(&self) -> System<'_> {
        System { app: self }
    }
}

/// The trusted calls share the application's ports and helpers; the user use-cases reachable
/// through this still take a principal.
impl Deref for System<'_> {
    type Target = App;

    fn deref(&self) -> &App {
        self.app
    }
}

impl System<'_> {
    /// Where repositories live on disk (the server waits there for a crashed run's git processes
    /// before recovering pushes).
    pub fn repository_root(&self) -> &std::path::Path {
        self.app.repos.root()
    }

    /// The application clock's time (for answers that say whether something is due).
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.app.clock.now()
    }

    /// Whether any account exists yet (the server creates `root` on its first start).
    pub async fn has_users(&self) -> Result<bool> {
        Ok(self.store.count_users().await? > 0)
    }

    /// Jobs queued and runners held in a long poll right now (for metrics).
    pub fn ci_gauges(&self) -> (usize, usize) {
        (self.ci.queue_len(), self.ci.waiting())
    }

    /// Readiness: the database answers and repository storage is writable.
    pub async fn check_ready(&self) -> std::result::Result<(), Vec<(&'static str, String)>> {
        let mut failed = Vec::new();
        if let Err(e) = self.store.ping().await {
            failed.push(("database", e.to_string()));
        }
        if let Err(e) = self.repos.check().await {
            failed.push(("repository_storage", e.to_string()));
        }
        if failed.is_empty() { Ok(()) } else { Err(failed) }
    }
}
