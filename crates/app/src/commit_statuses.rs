//! External commit statuses: `POST /projects/:id/statuses/:sha` and
//! `GET /projects/:id/repository/commits/:sha/statuses`, for deploy tools and other CI systems
//! that report on a commit (Flux, Argo CD, Renovate).
//!
//! # Who is trusted
//! Reporting needs push access (developers and up, as GitLab's `create_commit_status`; never a
//! job token); reading, read access to the code. A report's text fields are the tool's words,
//! shown on pages as escaped text; `target_url` must be an `http` or `https` URL, so a page's
//! link never runs script.
//!
//! How a report changes a status is `autogit_core::commit_status::report`; this use-case finds
//! the live status of the line, applies the decision with a compare-and-set, and decides again
//! if another report came first.

use crate::{App, AppError, Principal, Result};
use autogit_core::ci::JobStatus;
use autogit_core::commit_status::{REPORTABLE, Report, report};
use autogit_git::read;
use autogit_store::{
    CommitStatus, CommitStatusFilter, CommitStatusKey, CommitStatusReport, Listed, Page, Project, User, UserId,
};
use std::collections::HashMap;

/// GitLab's limit on a status's name and URL (string columns).
const MAX_FIELD: usize = 255;
/// A longer description is cut here (GitLab stores it whole; pages show one line).
const MAX_DESCRIPTION: usize = 1024;
/// How often a report is decided again when other reports of its line keep coming first.
const ATTEMPTS: usize = 3;

/// `POST /projects/:id/statuses/:sha`.
#[derive(Debug, Clone, Default)]
pub struct StatusReport {
    pub state: String,
    pub ref_name: Option<String>,
    /// `name`, else `context`, else `default`.
    pub name: Option<String>,
    pub target_url: Option<String>,
    pub description: Option<String>,
    pub coverage: Option<f64>,
}

/// A status with its author, as the API shows it.
pub type AuthoredStatus = (CommitStatus, Option<User>);

fn state_of(text: &str) -> Result<JobStatus> {
    REPORTABLE
        .into_iter()
        .find(|s| s.as_str() == text)
        .ok_or_else(|| AppError::Invalid("state", "does not have a valid value".into()))
}

fn bounded(field: &'static str, value: Option<String>, max: usize) -> Result<Option<String>> {
    match value.map(|v| v.trim().to_string()).filter(|v| !v.is_empty()) {
        Some(v) if v.chars().count() > max => {
            Err(AppError::Invalid(field, format!("is too long (maximum is {max} characters)")))
        }
        Some(v) if v.chars().any(char::is_control) => Err(AppError::Invalid(field, "must be on one line".into())),
        other => Ok(other),
    }
}

/// An absolute `http`/`https` URL with a host, as GitLab's `addressable_url` validation asks.
fn check_target_url(url: Option<String>) -> Result<Option<String>> {
    let Some(url) = bounded("target_url", url, MAX_FIELD)? else { return Ok(None) };
    let parsed =
        url::Url::parse(&url).map_err(|_| AppError::Invalid("target_url", "is blocked: must be a valid URL".into()))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none_or(str::is_empty) {
        return Err(AppError::Invalid("target_url", "is blocked: only allowed schemes are http, https".into()));
    }
    Ok(Some(url))
}

impl App {
    /// Records a tool's report on commit `sha`; the status as it is now.
    pub async fn report_commit_status(
        &self,
        who: &Principal,
        project_ref: &str,
        sha: &str,
        req: StatusReport,
    ) -> Result<(Project, AuthoredStatus)> {
        let to = state_of(req.state.trim())?;
        let name = bounded("name", req.name, MAX_FIELD)?.unwrap_or_else(|| "default".into());
        let description = req.description.map(|d| d.chars().take(MAX_DESCRIPTION).collect::<String>());
        let description =
            bounded("description", description.map(|d| d.replace(['\r', '\n', '\t'], " ")), MAX_DESCRIPTION)?;
        let target_url = check_target_url(req.target_url)?;
        if req.coverage.is_some_and(|c| !c.is_finite()) {
            return Err(AppError::Invalid("coverage", "must be a number".into()));
        }
        crate::repository::check_revision("sha", sha)?;
        let (project, repo) = self.writable_repository(who, project_ref).await?;
        let sha = read::resolve(&repo, sha).await?.ok_or(AppError::NotFound("Commit"))?;
        let ref_name = match req.ref_name.map(|r| r.trim().to_string()).filter(|r| !r.is_empty()) {
            Some(r) => {
                crate::repository::check_revision("ref", &r)?;
                r
            }
            None => self.branch_of_commit(&project, &repo, &sha).await?,
        };
        let author = who.actor.user_id();
        let key = CommitStatusKey { project_id: project.id, sha, ref_name, name };
        let now = self.clock.now();
        let finished = !matches!(to, JobStatus::Pending | JobStatus::Running);
        let change = CommitStatusReport {
            status: to,
            description,
            target_url,
            coverage: req.coverage,
            author_id: author,
            started_at: (to == JobStatus::Running).then_some(now),
            finished_at: finished.then_some(now),
        };
        for _ in 0..ATTEMPTS {
            let live = self.store.latest_commit_status(&key).await?;
            let decided = report(live.as_ref().map(|l| l.status), to).map_err(|e| AppError::Refused(e.to_string()))?;
            let status = match (decided, live) {
                (Report::Move(_), Some(live)) => self.store.move_commit_status(live.id, live.status, &change).await?,
                _ => Some(self.store.start_commit_status(&key, &change, now).await?),
            };
            if let Some(status) = status {
                let user = match status.author_id {
                    Some(id) => self.store.user_by_id(id).await?,
                    None => None,
                };
                return Ok((project, (status, user)));
            }
        }
        Err(AppError::Conflict("state".into(), "other reports of this status keep coming first; try again".into()))
    }

    /// The statuses of commit `sha` (a revision), by id.
    pub async fn commit_statuses(
        &self,
        who: &Principal,
        project_ref: &str,
        sha: &str,
        filter: &CommitStatusFilter,
        page: Page,
    ) -> Result<(Project, Listed<AuthoredStatus>)> {
        crate::repository::check_revision("sha", sha)?;
        let (project, _) = self.readable_project(who, project_ref).await?;
        let repo = self.repos.path_for(project.id);
        let sha = read::resolve(&repo, sha).await?.ok_or(AppError::NotFound("Commit"))?;
        let listed = self.store.list_commit_statuses(project.id, &sha, filter, page).await?;
        let mut users: HashMap<UserId, Option<User>> = HashMap::new();
        let mut items = Vec::with_capacity(listed.items.len());
        for status in listed.items {
            let user = match status.author_id {
                Some(id) => match users.get(&id) {
                    Some(u) => u.clone(),
                    None => {
                        let u = self.store.user_by_id(id).await?;
                        users.insert(id, u.clone());
                        u
                    }
                },
                None => None,
            };
            items.push((status, user));
        }
        Ok((project, Listed { items, total: listed.total }))
    }

    /// A report without a ref names the branch that holds the commit: the default branch when it
    /// does, else the first by name (GitLab takes the first branch that contains it).
    async fn branch_of_commit(&self, project: &Project, repo: &std::path::Path, sha: &str) -> Result<String> {
        let branches = read::branches_containing(repo, sha).await?;
        if let Some(default) = project.default_branch.as_ref().filter(|d| branches.contains(d)) {
            return Ok(default.clone());
        }
        branches
            .into_iter()
            .next()
            .ok_or_else(|| AppError::Invalid("ref", "is missing and no branch contains the commit".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_gitlabs_reportable_words() {
        for ok in ["pending", "running", "success", "failed", "canceled", "skipped"] {
            assert_eq!(state_of(ok).map(|s| s.as_str()).ok(), Some(ok));
        }
        for bad in ["", "created", "manual", "SUCCESS", "passed"] {
            assert!(matches!(state_of(bad), Err(AppError::Invalid("state", _))), "{bad:?}");
        }
    }

    #[test]
    fn target_urls_are_http_or_https_with_a_host() {
        for ok in ["https://ci.example.com/build/1", "http://10.0.0.1:8080/x?y=1#z"] {
            assert_eq!(check_target_url(Some(ok.into())).ok().flatten().as_deref(), Some(ok));
        }
        assert_eq!(check_target_url(Some("  ".into())).ok(), Some(None), "blank is none");
        for bad in ["javascript:alert(1)", "data:text/html,x", "file:///etc/passwd", "ftp://x/y", "//x/y", "not a url"]
        {
            assert!(check_target_url(Some(bad.into())).is_err(), "{bad:?} accepted");
        }
        assert!(check_target_url(Some(format!("https://x/{}", "a".repeat(300)))).is_err(), "too long");
    }

    #[test]
    fn names_are_bounded_and_on_one_line() {
        assert_eq!(bounded("name", Some(" ci ".into()), 255).ok().flatten().as_deref(), Some("ci"));
        assert!(bounded("name", Some("a\nb".into()), 255).is_err());
        assert!(bounded("name", Some("x".repeat(256)), 255).is_err());
    }
}
