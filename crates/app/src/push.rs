//! git access for the smart-HTTP (and later SSH) transports: resolve a repository path for a
//! principal with the right permission, and list the push events recorded (the recording itself
//! is `push_record`).

use crate::groups::to_result;
use crate::{App, AppError, Principal, Result};
use autogit_core::access::{Action, Decision, decide};
use autogit_core::scope::ScopeUse;
use autogit_store::{Listed, Page, Project, PushEvent};
use std::path::PathBuf;

/// Why a git request was refused, worded for the `remote:` line git prints.
#[derive(Debug)]
pub enum GitDenied {
    /// No (valid) credentials and the project is not readable anonymously: ask for credentials.
    Challenge,
    /// The project does not exist or may not be seen.
    NotFound,
    /// Visible but not allowed: the message says what.
    Forbidden(&'static str),
    Other(AppError),
}

impl App {
    /// The project and repository path behind a git URL, if `who` may read it (or write, for
    /// pushes). Token scopes are checked here too: `read_repository`/`write_repository`/`api`.
    pub async fn git_project(
        &self,
        who: &Principal,
        full_path: &str,
        write: bool,
    ) -> std::result::Result<(Project, PathBuf), GitDenied> {
        let project = match self.store.project_by_full_path(full_path).await {
            Ok(Some(p)) => p,
            Ok(None) if who.user.is_none() => return Err(GitDenied::Challenge),
            Ok(None) => return Err(GitDenied::NotFound),
            Err(e) => return Err(GitDenied::Other(e.into())),
        };
        if who.job_project.or(who.deploy_project).is_some_and(|p| p != project.id) {
            return Err(GitDenied::NotFound);
        }
        let level = self.project_level(who, &project).await.map_err(GitDenied::Other)?;
        let read = decide(who.actor, project.visibility, level, Action::ReadRepository);
        match read {
            Decision::Hidden if who.user.is_none() => return Err(GitDenied::Challenge),
            Decision::Hidden => return Err(GitDenied::NotFound),
            Decision::Forbidden => {
                return Err(GitDenied::Forbidden("You are not allowed to download code from this project."));
            }
            Decision::Allow => {}
        }
        if who.require_scope(ScopeUse::GitRead).is_err() {
            return Err(GitDenied::Forbidden(
                "Your token does not allow git access (needs read_repository, write_repository or api).",
            ));
        }
        if write {
            if who.user.is_none() {
                return Err(GitDenied::Challenge);
            }
            if !decide(who.actor, project.visibility, level, Action::WriteRepository).is_allowed() {
                return Err(GitDenied::Forbidden("You are not allowed to push code to this project."));
            }
            if who.require_scope(ScopeUse::GitWrite).is_err() {
                return Err(GitDenied::Forbidden("Your token does not allow pushing (needs write_repository or api)."));
            }
        }
        let path = self.repos.path_for(project.id);
        Ok((project, path))
    }

    /// Push events of a project, newest first, for those who may see the project.
    pub async fn push_events(&self, who: &Principal, project_ref: &str, page: Page) -> Result<Listed<PushEvent>> {
        let (project, level) = self.get_project(who, project_ref, Action::View).await?;
        to_result(decide(who.actor, project.visibility, level, Action::ReadRepository), "Project")?;
        Ok(self.store.list_push_events(project.id, page).await?)
    }
}
