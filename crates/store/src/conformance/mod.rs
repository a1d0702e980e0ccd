//! The behaviour suite every [`Store`] adapter must pass (feature `conformance`).
//!
//! Call [`run_all`] from an async test with a connected store and a prefix unique to the run
//! ([`unique_prefix`] makes one). Every check creates its own records, with names built from the
//! prefix, so the suite also runs against a database that is shared and never wiped: it never
//! asserts on global totals, only on records it made (list checks filter by a search marker or a
//! namespace of their own). Each check panics with a message naming the rule that broke.
//!
//! [`failure_counter::run`] is the separate suite of `FailureCounter` adapters.
//!
//! The suite is the executable form of the contract written on the traits in this crate. Where
//! the trait docs leave a choice open, the suite pins the choice and says so in a comment:
//! - dangling references (a missing namespace, parent, user or source) are `Invalid`;
//! - groups cannot be nested in a personal namespace (`Invalid`), as in GitLab;
//! - `touch_*` and `set_password_hash` on a missing id are `NotFound` (they change one record);
//! - `applicable_levels` is compared as a set; `list_members` is ordered by user id;
//! - push events are "newest first" by their `created_at`, then by id;
//! - CI: pipelines and jobs are "newest first" by id; a pipeline may have no jobs; a failed
//!   `create_pipeline` does not use up an iid; job tags are sorted like runner tags.

use std::fmt::Debug;
use std::sync::atomic::{AtomicU32, Ordering};

use autogit_core::ci::{FailureReason, JobStatus, PipelineStatus, When};
use autogit_core::{AccessLevel, Scope, Visibility};
use chrono::{DateTime, NaiveDate, Utc};

use crate::*;

mod accounts;
pub mod blob;
mod ci_artifacts;
mod ci_common;
mod ci_context;
mod ci_hardware;
mod ci_job_history;
mod ci_jobs;
mod ci_pipelines;
mod ci_runners;
mod ci_scheduled;
mod ci_trace_archives;
mod ci_variables;
mod ci_words;
mod commit_statuses;
mod external_identities;
pub mod failure_counter;
mod groups;
mod hooks;
mod identity;
mod lists;
mod members;
mod projects;
mod protected_branches;
mod push_records;
mod tokens;

use accounts::*;
use ci_artifacts::*;
use ci_context::*;
use ci_hardware::*;
use ci_job_history::*;
use ci_jobs::*;
use ci_pipelines::*;
use ci_runners::*;
use ci_scheduled::*;
use ci_trace_archives::*;
use ci_variables::*;
use ci_words::*;
use commit_statuses::*;
use groups::*;
use hooks::*;
use identity::*;
use lists::*;
use members::*;
use projects::*;
use protected_branches::*;
use push_records::*;
use tokens::*;

/// An id no adapter will have handed out in a test database.
const MISSING: i64 = i64::MAX - 1;

/// A prefix for [`run_all`] that differs between processes, runs and calls:
/// `c<pid>t<millis, base 36>n<call number>`.
pub fn unique_prefix() -> String {
    static CALLS: AtomicU32 = AtomicU32::new(0);
    let millis =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or_default();
    let call = CALLS.fetch_add(1, Ordering::Relaxed);
    format!("c{}t{}n{call}", std::process::id(), base36(millis))
}

fn base36(mut n: u128) -> String {
    let mut digits = Vec::new();
    loop {
        digits.push(char::from_digit((n % 36) as u32, 36).expect("digit below radix"));
        n /= 36;
        if n == 0 {
            break;
        }
    }
    digits.iter().rev().collect()
}

/// Runs every check. `prefix` must be unique to this run, ASCII letters and digits only, and
/// start with a letter (it becomes the start of usernames and paths).
pub async fn run_all(store: &dyn Store, prefix: &str) {
    assert!(
        prefix.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && prefix.chars().all(|c| c.is_ascii_alphanumeric()),
        "conformance prefix '{prefix}' must be ASCII alphanumeric and start with a letter"
    );
    let cx = Cx { store, prefix: prefix.to_string(), counter: AtomicU32::new(0) };
    ping(&cx).await;
    users_create_and_lookup(&cx).await;
    users_list(&cx).await;
    users_conflicts(&cx).await;
    groups_nesting(&cx).await;
    groups_conflicts_and_references(&cx).await;
    projects_create_and_lookup(&cx).await;
    projects_path_clashes(&cx).await;
    projects_update_and_touch(&cx).await;
    projects_delete_cascades(&cx).await;
    members_crud(&cx).await;
    applicable_levels_inherit(&cx).await;
    project_lists(&cx).await;
    group_lists(&cx).await;
    tokens(&cx).await;
    sessions_lifecycle(&cx).await;
    audit_events(&cx).await;
    ssh_keys(&cx).await;
    external_identities::external_identities(&cx).await;
    external_identities::sign_in_attempts(&cx).await;
    sso_memberships_and_admins(&cx).await;
    push_events(&cx).await;
    push_records_lifecycle(&cx).await;
    push_records_failures_and_pruning(&cx).await;
    ci_runners_crud(&cx).await;
    ci_runner_lists(&cx).await;
    ci_pipelines_create(&cx).await;
    ci_pipeline_lists(&cx).await;
    ci_pipeline_status_times(&cx).await;
    ci_words_round_trip(&cx).await;
    ci_job_transitions(&cx).await;
    ci_job_claims_and_leases(&cx).await;
    ci_job_batches(&cx).await;
    ci_job_retry_and_lists(&cx).await;
    ci_runner_job_lists(&cx).await;
    ci_scheduled_jobs(&cx).await;
    ci_traces(&cx).await;
    ci_trace_archives(&cx).await;
    ci_variables(&cx).await;
    ci_variable_values(&cx).await;
    ci_context_reads(&cx).await;
    ci_context_generation(&cx).await;
    ci_project_delete_cascades(&cx).await;
    ci_artifacts_create_and_replace(&cx).await;
    ci_artifacts_expiry(&cx).await;
    ci_artifacts_cascade(&cx).await;
    ci_config_path(&cx).await;
    ci_hardware_inventories(&cx).await;
    ci_gpu_allocations(&cx).await;
    ci_hardware_cascades(&cx).await;
    protected_branches_crud(&cx).await;
    protected_tags_crud(&cx).await;
    commit_statuses(&cx).await;
    hooks_and_deliveries(&cx).await;
    protected_default_branch_of_new_projects(&cx).await;
}

/// Shared state of one run: the store, the prefix and a counter for unique names.
struct Cx<'a> {
    store: &'a dyn Store,
    prefix: String,
    counter: AtomicU32,
}

impl Cx<'_> {
    /// A fresh, valid path segment: `<prefix>-<what><n>`.
    fn name(&self, what: &str) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!("{}-{what}{n}", self.prefix)
    }

    /// A fixed instant plus `n` seconds and `n` milliseconds, so that stored times must keep
    /// milliseconds to round-trip.
    fn at(&self, n: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_714_979_289_123 + n * 1_001).expect("timestamp in range")
    }

    async fn user(&self, what: &str) -> User {
        let username = self.name(what);
        let new = NewUser {
            username: username.clone(),
            name: format!("User {username}"),
            email: format!("{username}@example.test"),
            password_hash: None,
            is_admin: false,
        };
        self.store.create_user(&new, self.at(0)).await.unwrap_or_else(|e| panic!("create user {username}: {e}"))
    }

    async fn group(&self, what: &str, parent: Option<&Namespace>, visibility: Visibility) -> Namespace {
        self.group_owned(what, parent, visibility, None).await
    }

    async fn group_owned(
        &self,
        what: &str,
        parent: Option<&Namespace>,
        visibility: Visibility,
        owner: Option<&User>,
    ) -> Namespace {
        let new = new_group(&self.name(what), parent.map(|p| p.id), visibility);
        self.store
            .create_group(&new, owner.map(|u| u.id), self.at(1))
            .await
            .unwrap_or_else(|e| panic!("create group {}: {e}", new.path))
    }

    async fn project(&self, ns: &Namespace, what: &str, visibility: Visibility, creator: Option<&User>) -> Project {
        let new = new_project(ns.id, &self.name(what), visibility);
        self.store
            .create_project(&new, creator.map(|u| (u.id, AccessLevel::Owner)), self.at(2))
            .await
            .unwrap_or_else(|e| panic!("create project {}: {e}", new.path))
    }

    /// A group or project with exactly this path, for list checks that search by a marker.
    async fn group_at(&self, path: String, parent: Option<&Namespace>, visibility: Visibility) -> Namespace {
        let new = new_group(&path, parent.map(|p| p.id), visibility);
        self.store.create_group(&new, None, self.at(1)).await.unwrap_or_else(|e| panic!("create group {path}: {e}"))
    }

    async fn project_at(&self, ns: &Namespace, path: String, visibility: Visibility) -> Project {
        let new = new_project(ns.id, &path, visibility);
        self.store.create_project(&new, None, self.at(2)).await.unwrap_or_else(|e| panic!("create project {path}: {e}"))
    }

    async fn add(&self, source: MemberSource, user: &User, level: AccessLevel) {
        self.store
            .add_member(source, user.id, level, self.at(3))
            .await
            .unwrap_or_else(|e| panic!("add {} to {source:?}: {e}", user.username));
    }
}

fn new_group(path: &str, parent_id: Option<NamespaceId>, visibility: Visibility) -> NewGroup {
    NewGroup {
        name: format!("Group {path}"),
        path: path.to_string(),
        parent_id,
        visibility,
        description: String::new(),
    }
}

fn new_project(namespace_id: NamespaceId, path: &str, visibility: Visibility) -> NewProject {
    NewProject {
        namespace_id,
        name: format!("Project {path}"),
        path: path.to_string(),
        description: format!("about {path}"),
        visibility,
        default_branch: Some("main".to_string()),
        default_branch_protection: None,
    }
}

fn expect_conflict<T: Debug>(r: Result<T>, field: &str, what: &str) {
    match r {
        Err(StoreError::Conflict(f)) if f == field => {}
        other => panic!("{what}: expected Conflict(\"{field}\"), got {other:?}"),
    }
}

fn expect_any_conflict<T: Debug>(r: Result<T>, what: &str) {
    if !matches!(r, Err(StoreError::Conflict(_))) {
        panic!("{what}: expected Conflict, got {r:?}");
    }
}

fn expect_not_found<T: Debug>(r: Result<T>, what: &str) {
    if !matches!(r, Err(StoreError::NotFound(_))) {
        panic!("{what}: expected NotFound, got {r:?}");
    }
}

fn expect_invalid<T: Debug>(r: Result<T>, what: &str) {
    if !matches!(r, Err(StoreError::Invalid(_))) {
        panic!("{what}: expected Invalid, got {r:?}");
    }
}

fn ok<T>(r: Result<T>, what: &str) -> T {
    r.unwrap_or_else(|e| panic!("{what}: unexpected error: {e}"))
}

/// Levels as a set (highest first), so the order an adapter returns them in does not matter.
fn level_set(mut levels: Vec<AccessLevel>) -> Vec<AccessLevel> {
    levels.sort_unstable_by(|a, b| b.cmp(a));
    levels.dedup();
    levels
}

fn project_ids(l: &Listed<Project>) -> Vec<ProjectId> {
    l.items.iter().map(|p| p.id).collect()
}

fn group_ids(l: &Listed<Namespace>) -> Vec<NamespaceId> {
    l.items.iter().map(|g| g.id).collect()
}

fn sorted<T: Ord>(mut ids: Vec<T>) -> Vec<T> {
    ids.sort_unstable();
    ids
}
