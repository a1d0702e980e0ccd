//! Protected branches: the API use-cases (`/projects/:id/protected_branches`) and the facts the
//! pure policy (`autogit_core::protection`) decides on — the project's rules, the pusher's role —
//! for pushes and for CI.
//!
//! Reading the rules needs read access to the code (GitLab's `read_code`), changing them
//! Maintainer. A new project's default branch is protected in the transaction that creates it
//! (maintainers push and merge, no force push), as GitLab does by default.

use crate::groups::to_result;
use crate::{App, AppError, Principal, Result, System};
use autogit_core::access::{Action, decide, effective_level};
use autogit_core::protection::{BranchPolicy, PushPolicy, Pusher, RefAccessLevel, TagPolicy, validate_pattern};
use autogit_git::hooks::ReceiveHooks;
use autogit_git::pktline::RefUpdate;
use autogit_store::{
    BranchProtection, CiSettings, Listed, NewProtectedBranch, Page, Project, ProtectedBranch, ProtectedTag, StoreError,
    User,
};

/// Largest text form of a push policy handed to the hook (it travels in an environment variable,
/// which Linux caps at 128 KiB per string).
const MAX_POLICY_TEXT: usize = 64 << 10;

/// `POST /projects/:id/protected_branches`. Unset levels default to Maintainer, as in GitLab.
#[derive(Debug, Clone, Default)]
pub struct ProtectBranch {
    pub name: String,
    pub push_access_level: Option<i64>,
    pub merge_access_level: Option<i64>,
    pub allow_force_push: bool,
}

pub(crate) fn access_level(field: &'static str, value: Option<i64>) -> Result<RefAccessLevel> {
    match value {
        None => Ok(RefAccessLevel::Maintainer),
        Some(v) => RefAccessLevel::from_value(v)
            .ok_or_else(|| AppError::Invalid(field, format!("{v} is not one of 0, 30, 40 or 60"))),
    }
}

impl App {
    pub(crate) async fn protection_project(&self, who: &Principal, project_ref: &str, manage: bool) -> Result<Project> {
        let (project, level) = self.get_project(who, project_ref, Action::View).await?;
        to_result(decide(who.actor, project.visibility, level, Action::ReadRepository), "Project")?;
        if manage {
            who.user()?;
            to_result(decide(who.actor, project.visibility, level, Action::Manage), "Project")?;
        }
        Ok(project)
    }

    /// The project's protected branches, by id.
    pub async fn list_protected_branches(
        &self,
        who: &Principal,
        project_ref: &str,
        page: Page,
    ) -> Result<Listed<ProtectedBranch>> {
        let project = self.protection_project(who, project_ref, false).await?;
        Ok(self.store.list_protected_branches(project.id, page).await?)
    }

    /// The rule named exactly `name` (a wildcard is addressed by its pattern).
    pub async fn get_protected_branch(
        &self,
        who: &Principal,
        project_ref: &str,
        name: &str,
    ) -> Result<ProtectedBranch> {
        let project = self.protection_project(who, project_ref, false).await?;
        self.store.protected_branch(project.id, name).await?.ok_or(AppError::NotFound("Protected Branch"))
    }

    pub async fn protect_branch(
        &self,
        who: &Principal,
        project_ref: &str,
        req: ProtectBranch,
    ) -> Result<ProtectedBranch> {
        let project = self.protection_project(who, project_ref, true).await?;
        validate_pattern(&req.name).map_err(|e| AppError::Invalid("name", e.to_string()))?;
        let new = NewProtectedBranch {
            project_id: project.id,
            name: req.name,
            protection: BranchProtection {
                push_access_levels: vec![access_level("push_access_level", req.push_access_level)?],
                merge_access_levels: vec![access_level("merge_access_level", req.merge_access_level)?],
                allow_force_push: req.allow_force_push,
            },
        };
        match self.store.protect_branch(&new).await {
            Err(StoreError::Conflict(_)) => {
                Err(AppError::Conflict("name".into(), format!("Protected branch '{}' already exists", new.name)))
            }
            other => Ok(other?),
        }
    }

    pub async fn unprotect_branch(&self, who: &Principal, project_ref: &str, name: &str) -> Result<()> {
        let project = self.protection_project(who, project_ref, true).await?;
        match self.store.unprotect_branch(project.id, name).await {
            Err(StoreError::NotFound(_)) => Err(AppError::NotFound("Protected Branch")),
            other => Ok(other?),
        }
    }

    /// What the policy needs to know about the principal.
    pub async fn pusher(&self, who: &Principal, project: &Project) -> Result<Pusher> {
        Ok(Pusher { level: self.project_level(who, project).await?, admin: who.actor.is_admin() })
    }

    /// The policy for one push that updates `refnames`, as text for the pre-receive hook; `None`
    /// when no ref of the push can be refused by it (then no hook needs to run).
    pub async fn push_policy_text(
        &self,
        who: &Principal,
        project: &Project,
        refnames: &[&str],
    ) -> Result<Option<String>> {
        let branches = self.system().branch_policy(project).await?;
        let tags = self.system().tag_policy(project).await?;
        if !refnames.iter().any(|r| branches.needs_check(r) || tags.needs_check(r)) {
            return Ok(None);
        }
        let policy = PushPolicy {
            pusher: self.pusher(who, project).await?,
            branches: branches.for_refs(refnames.iter().copied()),
            tags: tags.for_refs(refnames.iter().copied()),
        };
        let text = policy.encode().map_err(|e| AppError::Internal(e.to_string()))?;
        if text.len() > MAX_POLICY_TEXT {
            return Err(AppError::Invalid(
                "refs",
                format!("too many protection rules apply to this push ({} bytes of policy)", text.len()),
            ));
        }
        Ok(Some(text))
    }

    /// The hooks a receive-pack child for this push runs: the policy hook when a ref of the push
    /// can be refused, none otherwise. Job tokens never push (defence in depth: their scope
    /// already forbids it). Refused when the server's hooks are not installed: no push bypasses
    /// protection.
    pub async fn receive_hooks(
        &self,
        who: &Principal,
        project: &Project,
        updates: &[RefUpdate],
    ) -> Result<ReceiveHooks> {
        if who.job_project.is_some() {
            return Err(AppError::Forbidden(Some("You are not allowed to push code to this project.".into())));
        }
        let hooks =
            self.push_hooks.as_ref().ok_or_else(|| AppError::Internal("push hooks are not installed".into()))?;
        let refnames: Vec<&str> = updates.iter().map(|u| u.name.as_str()).collect();
        Ok(match self.push_policy_text(who, project, &refnames).await? {
            Some(text) => hooks.with_policy(text),
            None => hooks.none(),
        })
    }
}

impl System<'_> {
    /// The project's rules and default branch, for the pure policy.
    pub async fn branch_policy(&self, project: &Project) -> Result<BranchPolicy> {
        let rules = self.store.list_protected_branches(project.id, Page::ALL).await?.items;
        Ok(BranchPolicy {
            default_branch: project.default_branch.clone(),
            rules: rules.iter().map(ProtectedBranch::rule).collect(),
        })
    }
}

/// Whether a pipeline for `ref_name` run as `user` is protected: the ref is a protected branch
/// and the user may push or merge there (GitLab's `can_update_branch?`), or a protected tag the
/// user may create (`can_create_tag?`); a pipeline without a user never is. Decided on
/// `settings`, read for this project and this user (`CiContextStore`): its rules and the user's
/// roles on the project.
pub(crate) fn ref_protected_for(
    project: &Project,
    settings: &CiSettings,
    ref_name: &str,
    tag: bool,
    user: Option<&User>,
) -> bool {
    let Some(user) = user else { return false };
    // As `App::pusher` for this user: the strongest role that applies to the project.
    let pusher = Pusher { level: effective_level(settings.user_levels.iter().copied()), admin: user.is_admin };
    if tag {
        let policy = TagPolicy {
            default_branch: project.default_branch.clone(),
            rules: settings.protected_tags.iter().map(ProtectedTag::rule).collect(),
        };
        return policy.is_protected(ref_name) && policy.may_create(pusher, ref_name);
    }
    let policy = BranchPolicy {
        default_branch: project.default_branch.clone(),
        rules: settings.protected_branches.iter().map(ProtectedBranch::rule).collect(),
    };
    if !policy.is_protected(ref_name) {
        return false;
    }
    policy.may_update(pusher, ref_name)
}
