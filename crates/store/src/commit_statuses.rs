//! Storage port of external commit statuses: what tools outside AutoGit (deploy tools, other CI
//! systems, bots) report about a commit through `POST /projects/:id/statuses/:sha`, one status
//! per commit, ref and name, with the history of earlier ones.
//!
//! Contract, in addition to the crate's: a new status marks every earlier one of the same project,
//! commit, ref and name `retried` in the same transaction, so at most one of them is not retried;
//! [`CommitStatusStore::move_commit_status`] is a compare-and-set on the current state; deleting a
//! project removes its statuses, deleting a user leaves their statuses without an author.

use async_trait::async_trait;
use autogit_core::ci::JobStatus;
use autogit_core::{ProjectId, UserId};
use chrono::{DateTime, Utc};

use crate::{Listed, Page, Result};

/// The key of one status line: project, commit, ref and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitStatusKey {
    pub project_id: ProjectId,
    /// Full hex object id.
    pub sha: String,
    /// A branch or tag name.
    pub ref_name: String,
    /// The tool's name for the status (GitLab's `name` or `context`).
    pub name: String,
}

/// What a report sets; `None` fields keep what a moved status had.
#[derive(Debug, Clone, PartialEq)]
pub struct CommitStatusReport {
    pub status: JobStatus,
    pub description: Option<String>,
    pub target_url: Option<String>,
    pub coverage: Option<f64>,
    pub author_id: Option<UserId>,
    /// Set when the status (first) becomes running; a moved status keeps an earlier one.
    pub started_at: Option<DateTime<Utc>>,
    /// Set when the status finishes.
    pub finished_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CommitStatus {
    pub id: i64,
    pub key: CommitStatusKey,
    pub status: JobStatus,
    pub description: Option<String>,
    pub target_url: Option<String>,
    pub coverage: Option<f64>,
    pub author_id: Option<UserId>,
    /// A later status of the same key exists.
    pub retried: bool,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// Which statuses of a commit a list returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitStatusFilter {
    pub ref_name: Option<String>,
    pub name: Option<String>,
    /// Retried ones too (GitLab's `all`).
    pub all: bool,
}

#[async_trait]
pub trait CommitStatusStore: Send + Sync {
    /// The newest status of `key` (retried or not, there is at most one that is not).
    async fn latest_commit_status(&self, key: &CommitStatusKey) -> Result<Option<CommitStatus>>;
    /// A new status of `key`, created at `now`; earlier ones of `key` become retried, in one
    /// transaction. Invalid for a missing project.
    async fn start_commit_status(
        &self,
        key: &CommitStatusKey,
        report: &CommitStatusReport,
        now: DateTime<Utc>,
    ) -> Result<CommitStatus>;
    /// Moves status `id` to `report`'s state if it is still `from` (and not retried); `None`
    /// when it is not (another report came first). Description, URL, coverage and author are
    /// replaced only when given; `started_at` only when it was not set.
    async fn move_commit_status(
        &self,
        id: i64,
        from: JobStatus,
        report: &CommitStatusReport,
    ) -> Result<Option<CommitStatus>>;
    /// The statuses of one commit of a project, by id.
    async fn list_commit_statuses(
        &self,
        project_id: ProjectId,
        sha: &str,
        filter: &CommitStatusFilter,
        page: Page,
    ) -> Result<Listed<CommitStatus>>;
}
