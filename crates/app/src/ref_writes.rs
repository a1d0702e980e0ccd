//! Branches and tags created and deleted through the API (`POST`/`DELETE` on
//! `/repository/branches` and `/repository/tags`), decided and recorded as pushes are:
//!
//! - who may: anyone who may push (developers and up; never a job token), and for protected
//!   branches and tags the same [`PushPolicy`] the pre-receive hook applies, with GitLab's
//!   allowances for writes made through the web and API (a protected branch may be created by
//!   those allowed to merge, and deleted by maintainers; a protected tag deleted by maintainers;
//!   the default branch never);
//! - how: the ref update is recorded first ([`System::begin_push`]), then applied by one
//!   `git update-ref` against the value it was decided on and signed with the record's identity,
//!   then settled by the push path ([`System::settle_now`], what `finish_push` does after
//!   receive-pack): the same push events and pipelines as a `git push`, and the same crash
//!   recovery.

use crate::groups::to_result;
use crate::{App, AppError, Principal, Result};
use autogit_core::UserId;
use autogit_core::access::{Action, decide};
use autogit_core::protection::{PushPolicy, RefChange};
use autogit_git::RefUpdate;
use autogit_git::read::{self, Branch, Tag};
use autogit_git::write::{self, Signature};
use autogit_store::Project;
use std::path::PathBuf;

impl App {
    /// `POST /projects/:id/repository/branches`: `name` at the commit `from` names.
    pub async fn create_branch(
        &self,
        who: &Principal,
        project_ref: &str,
        name: &str,
        from: &str,
    ) -> Result<(Project, Branch)> {
        crate::repository::check_branch_name("branch", name)?;
        crate::repository::check_revision("ref", from)?;
        let (project, repo) = self.writable_repository(who, project_ref).await?;
        let target = read::resolve(&repo, from).await?.ok_or(AppError::NotFound("Commit"))?;
        if read::branch(&repo, name).await?.is_some() {
            return Err(AppError::Refused("Branch already exists".into()));
        }
        let refname = format!("refs/heads/{name}");
        self.check_ref_rule(who, &project, &refname, RefChange::Create).await?;
        let update = RefUpdate { name: refname, old: zero_like(&target), new: target };
        self.write_ref(who, &project, &repo, update, &format!("branch: Created from {from}")).await?;
        let branch = read::branch(&repo, name).await?;
        Ok((project, branch.ok_or_else(|| AppError::Internal(format!("branch {name} vanished")))?))
    }

    /// `DELETE /projects/:id/repository/branches/:branch`.
    pub async fn delete_branch(&self, who: &Principal, project_ref: &str, name: &str) -> Result<()> {
        crate::repository::check_branch_name("branch", name)?;
        let (project, repo) = self.writable_repository(who, project_ref).await?;
        let current = read::branch(&repo, name).await?.ok_or(AppError::NotFound("Branch"))?;
        let refname = format!("refs/heads/{name}");
        self.check_ref_rule(who, &project, &refname, RefChange::Delete).await?;
        let old = current.commit.id;
        let update = RefUpdate { name: refname, new: zero_like(&old), old };
        self.write_ref(who, &project, &repo, update, "branch: deleted").await
    }

    /// `POST /projects/:id/repository/tags`: `name` at the commit `from` names; annotated, with
    /// the caller as tagger, when `message` is given.
    pub async fn create_tag(
        &self,
        who: &Principal,
        project_ref: &str,
        name: &str,
        from: &str,
        message: Option<&str>,
    ) -> Result<(Project, Tag)> {
        crate::repository::check_tag_name("tag_name", name)?;
        crate::repository::check_revision("ref", from)?;
        let (project, repo) = self.writable_repository(who, project_ref).await?;
        let target = read::resolve(&repo, from).await?.ok_or(AppError::NotFound("Commit"))?;
        if read::tag(&repo, name).await?.is_some() {
            return Err(AppError::Refused(format!("Tag {name} already exists")));
        }
        let refname = format!("refs/tags/{name}");
        self.check_ref_rule(who, &project, &refname, RefChange::Create).await?;
        let new = match message.map(str::trim).filter(|m| !m.is_empty()) {
            Some(text) => {
                let tagger = self.signature_of(who).await?;
                write::write_tag(&repo, name, &target, &tagger, text).await?
            }
            None => target.clone(),
        };
        let update = RefUpdate { name: refname, old: zero_like(&new), new };
        self.write_ref(who, &project, &repo, update, &format!("tag: Created from {from}")).await?;
        let tag = read::tag(&repo, name).await?;
        Ok((project, tag.ok_or_else(|| AppError::Internal(format!("tag {name} vanished")))?))
    }

    /// `DELETE /projects/:id/repository/tags/:tag_name`.
    pub async fn delete_tag(&self, who: &Principal, project_ref: &str, name: &str) -> Result<()> {
        crate::repository::check_tag_name("tag_name", name)?;
        let (project, repo) = self.writable_repository(who, project_ref).await?;
        let old = read::tag(&repo, name).await?.ok_or(AppError::NotFound("Tag"))?.target;
        let refname = format!("refs/tags/{name}");
        self.check_ref_rule(who, &project, &refname, RefChange::Delete).await?;
        let update = RefUpdate { name: refname, new: zero_like(&old), old };
        self.write_ref(who, &project, &repo, update, "tag: deleted").await
    }

    /// The project and its repository, if `who` may push to it (a job token never may).
    pub(crate) async fn writable_repository(&self, who: &Principal, project_ref: &str) -> Result<(Project, PathBuf)> {
        let (project, level) = self.readable_project(who, project_ref).await?;
        if who.job_project.is_some() {
            return Err(AppError::Forbidden(Some("You are not allowed to push code to this project.".into())));
        }
        to_result(decide(who.actor, project.visibility, level, Action::WriteRepository), "Project")?;
        let path = self.repos.path_for(project.id);
        Ok((project, path))
    }

    /// The protected-branch and protected-tag rules for a write made through the API: the
    /// hook's decision, less the refusals that exist only to send people to the web and API.
    pub(crate) async fn check_ref_rule(
        &self,
        who: &Principal,
        project: &Project,
        refname: &str,
        change: RefChange,
    ) -> Result<()> {
        let system = self.system();
        let policy = PushPolicy {
            pusher: self.pusher(who, project).await?,
            branches: system.branch_policy(project).await?,
            tags: system.tag_policy(project).await?,
        };
        match policy.decide(refname, change) {
            Ok(()) => Ok(()),
            Err(refusal) if refusal.only_in_web() => Ok(()),
            Err(refusal) => Err(AppError::Refused(refusal.message().into())),
        }
    }

    /// Records, applies and settles one ref update, as a push of it would be.
    pub(crate) async fn write_ref(
        &self,
        who: &Principal,
        project: &Project,
        repo: &std::path::Path,
        update: RefUpdate,
        message: &str,
    ) -> Result<()> {
        let system = self.system();
        let pusher = who.actor.user_id().map(UserId::get);
        let recorded = system
            .begin_push(project.id, pusher, std::slice::from_ref(&update), None)
            .await
            .map_err(|refused| AppError::Forbidden(Some(refused.message())))?;
        let applied = write::update_ref(repo, recorded.identity(), &update, message).await;
        // Settled whatever happened: a refused update leaves a record with nothing applied,
        // which settling discards.
        system.settle_now(recorded).await;
        applied.map_err(AppError::from)
    }

    /// The caller as a tagger: their name and email, now.
    pub(crate) async fn signature_of(&self, who: &Principal) -> Result<Signature> {
        let id = who.actor.user_id().ok_or(AppError::Unauthorized)?;
        let user = self.store.user_by_id(id).await?.ok_or(AppError::Unauthorized)?;
        Ok(Signature { name: user.name, email: user.email, when: self.clock.now().timestamp() })
    }
}

/// The zero id of the same length as `oid` (SHA-1 or SHA-256 repositories).
pub(crate) fn zero_like(oid: &str) -> String {
    "0".repeat(oid.len())
}
