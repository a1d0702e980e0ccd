//! Cherry-pick and revert of one commit onto a branch (`POST
//! /repository/commits/:sha/cherry_pick|revert`): the change is merged onto the branch's head
//! as a three-way tree merge (`git merge-tree`, no working tree), written as a new commit, and
//! landed through the push path like every other API write. A conflict, or a change already
//! present, is refused with GitLab's words and moves nothing.

use crate::{App, AppError, Principal};
use autogit_core::protection::RefChange;
use autogit_git::RefUpdate;
use autogit_git::read::{self, CommitInfo};
use autogit_git::write::{self, Signature};
use autogit_store::Project;

/// Which of the two operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    CherryPick,
    Revert,
}

impl Pick {
    fn verb(self) -> &'static str {
        match self {
            Pick::CherryPick => "cherry-pick",
            Pick::Revert => "revert",
        }
    }

    fn done(self) -> &'static str {
        match self {
            Pick::CherryPick => "cherry-picked",
            Pick::Revert => "reverted",
        }
    }

    /// GitLab's refusal when the change does not apply (`error_code: conflict`).
    pub fn conflict_message(self) -> String {
        format!(
            "Sorry, we cannot {} this commit automatically. This commit may already have been {}, or a more \
             recent commit may have updated some of its content.",
            self.verb(),
            self.done()
        )
    }
}

/// Why a pick was refused, with GitLab's `error_code`.
#[derive(Debug)]
pub enum PickRefused {
    Conflict(String),
    Empty(String),
    Other(AppError),
}

impl From<AppError> for PickRefused {
    fn from(e: AppError) -> Self {
        PickRefused::Other(e)
    }
}

impl App {
    /// Applies (cherry-pick) or undoes (revert) commit `sha` on top of `branch`.
    pub async fn pick_commit(
        &self,
        who: &Principal,
        project_ref: &str,
        pick: Pick,
        sha: &str,
        branch: &str,
    ) -> std::result::Result<(Project, CommitInfo), PickRefused> {
        crate::repository::check_revision("sha", sha)?;
        crate::repository::check_branch_name("branch", branch)?;
        let (project, repo) = self.writable_repository(who, project_ref).await?;
        let commit = read::commit(&repo, sha).await.map_err(AppError::from)?.ok_or(AppError::NotFound("Commit"))?;
        let head = read::branch(&repo, branch).await.map_err(AppError::from)?.ok_or(AppError::NotFound("Branch"))?;
        let [parent] = commit.parent_ids.as_slice() else {
            return Err(AppError::Refused(format!(
                "Commit {} has {} parents: only a commit with one parent can be {} here",
                commit.short_id,
                commit.parent_ids.len(),
                pick.done()
            ))
            .into());
        };
        let refname = format!("refs/heads/{branch}");
        self.check_ref_rule(who, &project, &refname, RefChange::FastForward).await?;
        let (base, theirs) = match pick {
            Pick::CherryPick => (parent.as_str(), commit.id.as_str()),
            Pick::Revert => (commit.id.as_str(), parent.as_str()),
        };
        let tree = write::merge_trees(&repo, base, &head.commit.id, theirs)
            .await
            .map_err(AppError::from)?
            .ok_or_else(|| PickRefused::Conflict(pick.conflict_message()))?;
        let head_tree = write::tree_of(&repo, &head.commit.id).await.map_err(AppError::from)?;
        if head_tree == tree {
            return Err(PickRefused::Empty(format!(
                "Sorry, we cannot {} this commit automatically. It is already {} on {branch}: nothing would change.",
                pick.verb(),
                pick.done()
            )));
        }
        let caller = self.signature_of(who).await?;
        let (author, message) = match pick {
            Pick::CherryPick => (
                Signature {
                    name: commit.author_name.clone(),
                    email: commit.author_email.clone(),
                    when: commit.authored_date.timestamp(),
                },
                format!("{}\n\n(cherry picked from commit {})\n", commit.message.trim_end(), commit.id),
            ),
            Pick::Revert => {
                (caller.clone(), format!("Revert \"{}\"\n\nThis reverts commit {}.\n", commit.title, commit.id))
            }
        };
        let id = write::commit_tree(&repo, &tree, &[head.commit.id.as_str()], &message, &author, &caller)
            .await
            .map_err(AppError::from)?;
        let update = RefUpdate { name: refname, old: head.commit.id.clone(), new: id.clone() };
        self.write_ref(who, &project, &repo, update, &format!("{}: {}", pick.verb(), commit.short_id)).await?;
        let picked = read::commit(&repo, &id).await.map_err(AppError::from)?;
        Ok((project, picked.ok_or_else(|| AppError::Internal(format!("commit {id} vanished")))?))
    }
}
