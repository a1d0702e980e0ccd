//! GitLab's predefined CI/CD variables (research: gitlab-runner.md §3.4), computed from facts
//! the caller gathers. Pure: no store, no clock. Two classes matter: *pipeline* variables exist
//! when `rules`/`workflow:rules` are evaluated; *job* variables only in the job's environment.
//! The runner adds its own (`CI_PROJECT_DIR`, `CI_BUILDS_DIR`, `CI_JOB_STATUS`, …).

use autogit_core::PipelineId;
use autogit_store::{Project, User};
use chrono::{DateTime, SecondsFormat, Utc};

/// GitLab's `CI_SERVER_VERSION` stand-in: clients compare it, so it must look like a version.
pub const SERVER_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The commit a pipeline runs for, when it could be read.
#[derive(Debug, Clone, Default)]
pub struct CommitFacts {
    pub message: String,
    pub author: String,
    pub timestamp: Option<DateTime<Utc>>,
}

/// What a pipeline's variables are computed from.
pub struct PipelineFacts<'a> {
    /// The server's external URL, without a trailing slash.
    pub server_url: &'a str,
    pub project: &'a Project,
    /// The project's namespace chain, root first (paths).
    pub namespace_path: &'a str,
    pub pipeline_id: PipelineId,
    pub pipeline_iid: i64,
    /// `push`, `web`, `api`, `trigger`, `schedule`, …
    pub source: &'a str,
    pub ref_name: &'a str,
    pub is_tag: bool,
    pub ref_protected: bool,
    pub sha: &'a str,
    pub before_sha: &'a str,
    pub commit: &'a CommitFacts,
    pub user: Option<&'a User>,
    pub config_path: &'a str,
    pub created_at: DateTime<Utc>,
}

/// `CI_COMMIT_REF_SLUG` rules: lower-case, every character outside `a-z0-9` becomes `-`, at
/// most 63 bytes, no leading or trailing `-`.
pub fn slug(s: &str) -> String {
    let mapped: String = s.to_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    let cut: String = mapped.chars().take(63).collect();
    cut.trim_matches('-').to_string()
}

fn push(out: &mut Vec<(String, String)>, k: &str, v: impl Into<String>) {
    out.push((k.to_string(), v.into()));
}

/// Pipeline-class variables: available to `rules`, `workflow:rules` and every job.
pub fn pipeline_variables(f: &PipelineFacts<'_>) -> Vec<(String, String)> {
    let mut v = Vec::with_capacity(48);
    let p = f.project;
    let (scheme, rest) = f.server_url.split_once("://").unwrap_or(("http", f.server_url));
    let host_port = rest.split('/').next().unwrap_or(rest);
    let (host, port) = match host_port.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => (h, port.to_string()),
        _ => (host_port, if scheme == "https" { "443".into() } else { "80".into() }),
    };
    push(&mut v, "CI", "true");
    push(&mut v, "GITLAB_CI", "true");
    push(&mut v, "CI_SERVER_URL", f.server_url);
    push(&mut v, "CI_SERVER_HOST", host);
    push(&mut v, "CI_SERVER_PORT", port);
    push(&mut v, "CI_SERVER_PROTOCOL", scheme);
    push(&mut v, "CI_SERVER_FQDN", host_port);
    push(&mut v, "CI_SERVER_NAME", "AutoGit");
    push(&mut v, "CI_SERVER_VERSION", SERVER_VERSION);
    let mut parts = SERVER_VERSION.split('.');
    for key in ["CI_SERVER_VERSION_MAJOR", "CI_SERVER_VERSION_MINOR", "CI_SERVER_VERSION_PATCH"] {
        push(&mut v, key, parts.next().unwrap_or("0"));
    }
    push(&mut v, "CI_API_V4_URL", format!("{}/api/v4", f.server_url));
    push(&mut v, "CI_PROJECT_ID", p.id.to_string());
    push(&mut v, "CI_PROJECT_NAME", p.path.clone());
    push(&mut v, "CI_PROJECT_TITLE", p.name.clone());
    push(&mut v, "CI_PROJECT_PATH", p.full_path.clone());
    push(&mut v, "CI_PROJECT_PATH_SLUG", slug(&p.full_path));
    push(&mut v, "CI_PROJECT_NAMESPACE", f.namespace_path);
    push(&mut v, "CI_PROJECT_ROOT_NAMESPACE", f.namespace_path.split('/').next().unwrap_or(f.namespace_path));
    push(&mut v, "CI_PROJECT_URL", format!("{}/{}", f.server_url, p.full_path));
    push(&mut v, "CI_PROJECT_VISIBILITY", p.visibility.as_str());
    push(&mut v, "CI_DEFAULT_BRANCH", p.default_branch.clone().unwrap_or_default());
    push(&mut v, "CI_CONFIG_PATH", f.config_path);
    push(&mut v, "CI_PIPELINE_ID", f.pipeline_id.to_string());
    push(&mut v, "CI_PIPELINE_IID", f.pipeline_iid.to_string());
    push(&mut v, "CI_PIPELINE_SOURCE", f.source);
    push(&mut v, "CI_PIPELINE_URL", format!("{}/{}/-/pipelines/{}", f.server_url, p.full_path, f.pipeline_id));
    push(&mut v, "CI_PIPELINE_CREATED_AT", f.created_at.to_rfc3339_opts(SecondsFormat::Secs, true));
    push(&mut v, "CI_COMMIT_SHA", f.sha);
    push(&mut v, "CI_COMMIT_SHORT_SHA", f.sha.get(..8).unwrap_or(f.sha));
    push(&mut v, "CI_COMMIT_BEFORE_SHA", f.before_sha);
    push(&mut v, "CI_COMMIT_REF_NAME", f.ref_name);
    push(&mut v, "CI_COMMIT_REF_SLUG", slug(f.ref_name));
    push(&mut v, "CI_COMMIT_REF_PROTECTED", f.ref_protected.to_string());
    if f.is_tag {
        push(&mut v, "CI_COMMIT_TAG", f.ref_name);
    } else {
        push(&mut v, "CI_COMMIT_BRANCH", f.ref_name);
    }
    let message = f.commit.message.as_str();
    let (title, description) = message.split_once('\n').unwrap_or((message, ""));
    push(&mut v, "CI_COMMIT_MESSAGE", message);
    push(&mut v, "CI_COMMIT_TITLE", title.trim_end());
    push(&mut v, "CI_COMMIT_DESCRIPTION", description.trim_start_matches('\n'));
    push(&mut v, "CI_COMMIT_AUTHOR", f.commit.author.clone());
    if let Some(ts) = f.commit.timestamp {
        push(&mut v, "CI_COMMIT_TIMESTAMP", ts.to_rfc3339_opts(SecondsFormat::Secs, true));
    }
    if let Some(u) = f.user {
        push(&mut v, "GITLAB_USER_ID", u.id.to_string());
        push(&mut v, "GITLAB_USER_LOGIN", u.username.clone());
        push(&mut v, "GITLAB_USER_EMAIL", u.email.clone());
        push(&mut v, "GITLAB_USER_NAME", u.name.clone());
    }
    v
}

/// What a job adds on top of its pipeline's variables.
pub struct JobFacts<'a> {
    pub id: i64,
    pub name: &'a str,
    pub stage: &'a str,
    /// The job token (`glcbt-…`); masked in traces.
    pub token: &'a str,
    pub manual: bool,
    /// (index, total) for `parallel` jobs, 1-based.
    pub node: Option<(u32, u32)>,
    pub started_at: DateTime<Utc>,
}

/// Job-class variables: `(key, value, masked)`.
pub fn job_variables(f: &PipelineFacts<'_>, j: &JobFacts<'_>) -> Vec<(String, String, bool)> {
    let (scheme, rest) = f.server_url.split_once("://").unwrap_or(("http", f.server_url));
    let repo = format!("{scheme}://gitlab-ci-token:{}@{rest}/{}.git", j.token, f.project.full_path);
    let mut v = vec![
        ("CI_JOB_ID".to_string(), j.id.to_string(), false),
        ("CI_JOB_NAME".to_string(), j.name.to_string(), false),
        ("CI_JOB_NAME_SLUG".to_string(), slug(j.name), false),
        ("CI_JOB_STAGE".to_string(), j.stage.to_string(), false),
        ("CI_JOB_TOKEN".to_string(), j.token.to_string(), true),
        ("CI_JOB_URL".to_string(), format!("{}/{}/-/jobs/{}", f.server_url, f.project.full_path, j.id), false),
        ("CI_JOB_STARTED_AT".to_string(), j.started_at.to_rfc3339_opts(SecondsFormat::Secs, true), false),
        ("CI_REPOSITORY_URL".to_string(), repo, false),
        ("CI_REGISTRY_PASSWORD".to_string(), j.token.to_string(), true),
    ];
    if j.manual {
        v.push(("CI_JOB_MANUAL".into(), "true".into(), false));
    }
    if let Some((index, total)) = j.node {
        v.push(("CI_NODE_INDEX".into(), index.to_string(), false));
        v.push(("CI_NODE_TOTAL".into(), total.to_string(), false));
    }
    v
}

#[cfg(test)]
mod tests;
