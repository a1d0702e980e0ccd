//! Commits made through the API: `POST /repository/commits` (several file actions in one commit)
//! and the files API (`POST`/`PUT`/`DELETE /repository/files/:path`, one action each). Decided
//! like a push to the branch (push access, protected branches), checked against what the caller
//! last saw (`last_commit_id`: the file's last commit on the branch), written without a working
//! tree (`autogit_git::write::write_commit`) and landed through the push path
//! ([`App::write_ref`]): events, pipelines and recovery as for a `git push`.

use crate::{App, AppError, Principal, Result};
use autogit_core::protection::RefChange;
use autogit_git::RefUpdate;
use autogit_git::read::{self, CommitInfo};
use autogit_git::write::{self, FileAction, NewCommit};
use autogit_store::Project;

/// GitLab's answer when a file changed after the caller read it.
const STALE: &str = "You are attempting to update a file that has changed since you started editing it.";
/// Actions in one commit: GitLab has no documented limit; this bounds the git processes one
/// request starts (two or three per action).
pub const MAX_ACTIONS: usize = 1000;

/// One action with the commit its author last saw the file at (for update, delete, move, chmod).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitAction {
    pub action: FileAction,
    pub last_commit_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitRequest {
    /// The branch the commit lands on.
    pub branch: String,
    /// Where a new `branch` starts (a branch name), or a commit id (`start_sha`).
    pub start_branch: Option<String>,
    pub start_sha: Option<String>,
    pub message: String,
    pub actions: Vec<CommitAction>,
    /// GitLab lets the caller name the author; the committer is always the caller.
    pub author_name: Option<String>,
    pub author_email: Option<String>,
}

impl App {
    pub async fn create_commit(
        &self,
        who: &Principal,
        project_ref: &str,
        req: CommitRequest,
    ) -> Result<(Project, CommitInfo)> {
        crate::repository::check_branch_name("branch", &req.branch)?;
        if let Some(b) = &req.start_branch {
            crate::repository::check_branch_name("start_branch", b)?;
        }
        if let Some(sha) = &req.start_sha {
            crate::repository::check_revision("start_sha", sha)?;
        }
        if req.actions.is_empty() {
            return Err(AppError::Invalid("actions", "must hold at least one action".into()));
        }
        if req.actions.len() > MAX_ACTIONS {
            return Err(AppError::Invalid("actions", format!("holds more than {MAX_ACTIONS} actions")));
        }
        let (project, repo) = self.writable_repository(who, project_ref).await?;
        let current = read::branch(&repo, &req.branch).await?;
        let start = req.start_branch.as_deref().or(req.start_sha.as_deref());
        let parent = match (&current, start) {
            (Some(_), Some(s)) if s != req.branch => {
                return Err(AppError::Refused(format!(
                    "A branch called '{}' already exists. Switch to that branch in order to make changes",
                    req.branch
                )));
            }
            (Some(b), _) => Some(b.commit.id.clone()),
            (None, Some(s)) => Some(read::resolve(&repo, s).await?.ok_or(AppError::NotFound("Commit"))?),
            (None, None) if read::is_empty(&repo).await? => None,
            (None, None) => {
                return Err(AppError::Refused(format!(
                    "Branch '{}' does not exist; give start_branch or start_sha to create it",
                    req.branch
                )));
            }
        };
        if let Some(parent) = &parent {
            self.check_last_commits(&repo, parent, &req.actions).await?;
        }
        let refname = format!("refs/heads/{}", req.branch);
        let change = if current.is_some() { RefChange::FastForward } else { RefChange::Create };
        self.check_ref_rule(who, &project, &refname, change).await?;

        let committer = self.signature_of(who).await?;
        let mut author = committer.clone();
        if let Some(name) = req.author_name.as_ref().filter(|n| !n.trim().is_empty()) {
            author.name = name.clone();
        }
        if let Some(email) = req.author_email.as_ref().filter(|e| !e.trim().is_empty()) {
            author.email = email.clone();
        }
        let actions: Vec<FileAction> = req.actions.iter().map(|a| a.action.clone()).collect();
        let new = NewCommit {
            parent: parent.as_deref(),
            actions: &actions,
            message: &req.message,
            author: &author,
            committer: &committer,
        };
        let id = match write::write_commit(&repo, &new).await {
            Ok(Ok(id)) => id,
            Ok(Err(refused)) => return Err(AppError::Refused(refused.to_string())),
            Err(autogit_git::Error::InvalidRef(what)) if what == "commit message" => {
                return Err(AppError::Invalid(
                    "commit_message",
                    "must be given, without NUL bytes, up to 64 KiB".into(),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        // A new branch is created (from nothing), an existing one moved from the parent.
        let old = match (&current, &parent) {
            (Some(_), Some(p)) => p.clone(),
            _ => crate::ref_writes::zero_like(&id),
        };
        let title = req.message.lines().next().unwrap_or_default();
        let update = RefUpdate { name: refname, old, new: id.clone() };
        self.write_ref(who, &project, &repo, update, &format!("commit: {title}")).await?;
        let commit = read::commit(&repo, &id).await?;
        Ok((project, commit.ok_or_else(|| AppError::Internal(format!("commit {id} vanished")))?))
    }

    /// Refuses the request when a file changed on the branch after the commit its author saw.
    async fn check_last_commits(&self, repo: &std::path::Path, parent: &str, actions: &[CommitAction]) -> Result<()> {
        for a in actions {
            let Some(seen) = &a.last_commit_id else { continue };
            let path = match &a.action {
                FileAction::Move { from, .. } => from.as_str(),
                other => other.path(),
            };
            let last = read::commits(repo, Some(parent), Some(path), 0, 1).await?;
            if last.first().map(|c| c.id.as_str()) != Some(seen.as_str()) {
                return Err(AppError::Refused(STALE.into()));
            }
        }
        Ok(())
    }
}
