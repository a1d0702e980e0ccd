//! Records of the CI aggregates: runners, pipelines, jobs, traces and CI/CD variables. Plain data,
//! shaped after GitLab's model; statuses are the domain's ([`autogit_core::ci`]).

use autogit_core::ci::PipelineStatus;
use autogit_core::{NamespaceId, PipelineId, ProjectId, RunnerId, UserId};
use chrono::{DateTime, Utc};

/// Who may use a runner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunnerScope {
    /// Shared by every project.
    Instance,
    /// Projects of this group (namespace id) and its subgroups.
    Group(NamespaceId),
    /// One project.
    Project(ProjectId),
}

/// Which refs a runner takes jobs for (GitLab's `access_level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunnerAccessLevel {
    NotProtected,
    /// Only jobs of protected refs.
    RefProtected,
}

impl RunnerAccessLevel {
    /// GitLab's spelling: `not_protected` or `ref_protected`.
    pub fn as_str(self) -> &'static str {
        match self {
            RunnerAccessLevel::NotProtected => "not_protected",
            RunnerAccessLevel::RefProtected => "ref_protected",
        }
    }

    pub fn parse(s: &str) -> Option<RunnerAccessLevel> {
        match s {
            "not_protected" => Some(RunnerAccessLevel::NotProtected),
            "ref_protected" => Some(RunnerAccessLevel::RefProtected),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Runner {
    pub id: RunnerId,
    pub description: String,
    /// Hex SHA-256 of the runner's authentication token.
    pub token_digest: String,
    pub scope: RunnerScope,
    /// Sorted, without duplicates.
    pub tags: Vec<String>,
    pub run_untagged: bool,
    pub locked: bool,
    pub paused: bool,
    pub access_level: RunnerAccessLevel,
    /// Seconds; caps the timeout of the jobs it runs.
    pub maximum_timeout: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub contacted_at: Option<DateTime<Utc>>,
    /// As last reported by the runner (`info` of its requests).
    pub version: Option<String>,
    pub platform: Option<String>,
    pub architecture: Option<String>,
    pub executor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRunner {
    pub description: String,
    pub token_digest: String,
    pub scope: RunnerScope,
    /// Stored sorted and deduplicated. A tag must be non-empty and hold no comma (`Invalid`).
    pub tags: Vec<String>,
    pub run_untagged: bool,
    pub locked: bool,
    pub paused: bool,
    pub access_level: RunnerAccessLevel,
    pub maximum_timeout: Option<i64>,
}

/// Which runners to list; every set field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunnerFilter {
    /// Exactly this scope (a group's runners are not a subgroup's).
    pub scope: Option<RunnerScope>,
    pub paused: Option<bool>,
    /// Runners carrying this tag (exact, case-sensitive).
    pub tag: Option<String>,
}

/// The fields that are `Some` are changed. `maximum_timeout: Some(None)` removes the limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunnerUpdate {
    pub description: Option<String>,
    pub tags: Option<Vec<String>>,
    pub run_untagged: Option<bool>,
    pub locked: Option<bool>,
    pub paused: Option<bool>,
    pub access_level: Option<RunnerAccessLevel>,
    pub maximum_timeout: Option<Option<i64>>,
}

/// What a runner reports about itself on each contact; `None` keeps the stored value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunnerSeen {
    pub version: Option<String>,
    pub platform: Option<String>,
    pub architecture: Option<String>,
    pub executor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pipeline {
    pub id: PipelineId,
    pub project_id: ProjectId,
    /// Per-project sequence number: 1, 2, 3… in creation order, never reused.
    pub iid: i64,
    /// Branch or tag name (not the full ref).
    pub ref_name: String,
    pub tag: bool,
    pub sha: String,
    pub before_sha: String,
    /// `push`, `web`, `api`, `trigger`, `schedule`…
    pub source: String,
    pub status: PipelineStatus,
    pub user_id: Option<UserId>,
    pub yaml_errors: Option<String>,
    /// Pipeline-level variables given at creation, in the order given.
    pub variables: Vec<(String, String)>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Whole seconds from `started_at` to `finished_at`, when both are set.
    pub duration_secs: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPipeline {
    pub project_id: ProjectId,
    pub ref_name: String,
    pub tag: bool,
    pub sha: String,
    pub before_sha: String,
    pub source: String,
    pub status: PipelineStatus,
    pub user_id: Option<UserId>,
    pub yaml_errors: Option<String>,
    pub variables: Vec<(String, String)>,
}

/// Which pipelines of a project to list; every set field must match exactly.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PipelineFilter {
    pub ref_name: Option<String>,
    pub status: Option<PipelineStatus>,
    pub sha: Option<String>,
}
