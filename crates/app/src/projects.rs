//! Projects: a record in the store plus a bare repository at a hashed path. Creation and deletion
//! keep the two in step: a project whose repository cannot be created is removed again.

use crate::audit::Entry;
use crate::error::invalid_name;
use crate::groups::{access_filter, check_visibility_within, to_result};
use crate::{App, AppError, Principal, Result};
use autogit_core::access::{Action, decide};
use autogit_core::audit::AuditAction;
use autogit_core::repo_path::{Ref, parse_ref};
use autogit_core::{AccessLevel, Visibility, access, name};
use autogit_core::{JobId, NamespaceId, ProjectId};
use autogit_store::{
    BranchProtection, Listed, MemberSource, NamespaceKind, NewProject, Page, Project, ProjectFilter, ProjectUpdate,
};

/// Branch that new repositories point HEAD at unless told otherwise.
pub const DEFAULT_BRANCH: &str = "main";

#[derive(Debug, Clone, Default)]
pub struct CreateProject {
    pub name: Option<String>,
    pub path: Option<String>,
    /// Defaults to the creator's personal namespace.
    pub namespace_id: Option<NamespaceId>,
    pub description: String,
    /// Defaults to private.
    pub visibility: Option<Visibility>,
    pub default_branch: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct UpdateProject {
    pub name: Option<String>,
    pub path: Option<String>,
    pub description: Option<String>,
    pub visibility: Option<Visibility>,
    pub default_branch: Option<String>,
    /// The CI file's path in the repository; `Some("")` goes back to `.gitlab-ci.yml`.
    pub ci_config_path: Option<String>,
}

impl App {
    pub async fn create_project(&self, who: &Principal, req: CreateProject) -> Result<Project> {
        let user = who.user()?;
        let (name, path) = match (req.name, req.path) {
            (None, None) => return Err(AppError::Missing("name or path")),
            (Some(n), None) => (n.clone(), name::path_from_name(&n)),
            (None, Some(p)) => (p.clone(), p),
            (Some(n), Some(p)) => (n, p),
        };
        name::validate_display_name("name", &name).map_err(invalid_name("name"))?;
        name::validate_project_path(&path).map_err(invalid_name("path"))?;
        let branch = req.default_branch.unwrap_or_else(|| DEFAULT_BRANCH.to_string());
        validate_branch_name(&branch)?;
        let ns = match req.namespace_id {
            Some(id) => self.store.namespace_by_id(id).await?.ok_or(AppError::NotFound("Namespace"))?,
            None => self.store.user_namespace(user.id).await?.ok_or(AppError::NotFound("Namespace"))?,
        };
        let visibility = req.visibility.unwrap_or(Visibility::Private);
        let mut creator = None;
        match ns.kind {
            NamespaceKind::User if ns.owner_id != Some(user.id) && !user.is_admin => {
                return Err(AppError::NotFound("Namespace"));
            }
            NamespaceKind::User if user.external && !user.is_admin => {
                return Err(AppError::Forbidden(Some("external users cannot create personal projects".into())));
            }
            NamespaceKind::User => {}
            NamespaceKind::Group => {
                self.authorize_namespace(who, &ns, Action::CreateProject).await?;
                check_visibility_within(visibility, ns.visibility, "group")?;
                // A developer who creates a project in a group maintains it, as in GitLab.
                if self.namespace_level(who, &ns).await? < Some(AccessLevel::Maintainer) && !user.is_admin {
                    creator = Some((user.id, AccessLevel::Maintainer));
                }
            }
        }
        let new = NewProject {
            namespace_id: ns.id,
            name,
            path,
            description: req.description,
            visibility,
            default_branch: Some(branch.clone()),
            // GitLab's default branch protection: maintainers push and merge, nobody force-pushes.
            default_branch_protection: Some(BranchProtection::maintainers()),
        };
        let project = self.store.create_project(&new, creator, self.clock.now()).await?;
        if let Err(e) = self.repos.create(project.id, &branch).await {
            // Lose nothing, keep nothing half-made: the record goes if its repository can't exist.
            if let Err(undo) = self.store.delete_project(project.id).await {
                tracing::error!(project_id = project.id.get(), error = %undo, "could not undo project record");
            }
            return Err(e.into());
        }
        self.audit(who, Entry::project(AuditAction::ProjectCreated, &project)).await;
        Ok(project)
    }

    /// A project by id or full path, if `action` is allowed; also returns the effective role.
    pub async fn get_project(
        &self,
        who: &Principal,
        project_ref: &str,
        action: Action,
    ) -> Result<(Project, Option<AccessLevel>)> {
        let project = match parse_ref(project_ref).map_err(|_| AppError::NotFound("Project"))? {
            Ref::Id(id) => self.store.project_by_id(ProjectId::new(id)).await?,
            Ref::Path(p) => self.store.project_by_full_path(&p).await?,
        }
        .ok_or(AppError::NotFound("Project"))?;
        let level = self.project_level(who, &project).await?;
        to_result(decide(who.actor, project.visibility, level, action), "Project")?;
        Ok((project, level))
    }

    pub async fn project_level(&self, who: &Principal, p: &Project) -> Result<Option<AccessLevel>> {
        let Some(uid) = who.actor.user_id() else { return Ok(None) };
        Ok(access::effective_level(self.store.applicable_levels(MemberSource::Project(p.id), uid).await?))
    }

    pub async fn list_projects(
        &self,
        who: &Principal,
        mut filter: ProjectFilter,
        page: Page,
    ) -> Result<Listed<Project>> {
        let member_only = filter.access.membership_only;
        filter.access = access_filter(who);
        filter.access.membership_only = member_only && who.user.is_some();
        Ok(self.store.list_projects(&filter, page).await?)
    }

    pub async fn update_project(&self, who: &Principal, project_ref: &str, req: UpdateProject) -> Result<Project> {
        let (project, _) = self.get_project(who, project_ref, Action::Manage).await?;
        if let Some(n) = &req.name {
            name::validate_display_name("name", n).map_err(invalid_name("name"))?;
        }
        if let Some(p) = &req.path {
            name::validate_project_path(p).map_err(invalid_name("path"))?;
        }
        if let Some(b) = &req.default_branch {
            validate_branch_name(b)?;
        }
        if let Some(c) = &req.ci_config_path {
            validate_ci_config_path(c)?;
        }
        if let Some(v) = req.visibility {
            let ns = self.store.namespace_by_id(project.namespace_id).await?.ok_or(AppError::NotFound("Namespace"))?;
            if ns.kind == NamespaceKind::Group {
                check_visibility_within(v, ns.visibility, "group")?;
            }
        }
        let update = ProjectUpdate {
            name: req.name,
            path: req.path,
            description: req.description,
            visibility: req.visibility,
            default_branch: req.default_branch.clone(),
            ci_config_path: req.ci_config_path.map(|c| Some(c).filter(|c| !c.is_empty())),
        };
        let updated = self.store.update_project(project.id, &update, self.clock.now()).await?;
        if updated.visibility != project.visibility {
            let entry = Entry::project(AuditAction::ProjectVisibilityChanged, &updated).change(
                "visibility",
                project.visibility.as_str(),
                updated.visibility.as_str(),
            );
            self.audit(who, entry).await;
        }
        if let Some(b) = req.default_branch {
            self.repos.set_default_branch(project.id, &b).await?;
        }
        Ok(updated)
    }

    /// Deletes the record first (so nobody can reach the project any more), then its repository
    /// and its jobs' artifact and trace blobs.
    pub async fn delete_project(&self, who: &Principal, project_ref: &str) -> Result<()> {
        let (project, _) = self.get_project(who, project_ref, Action::Own).await?;
        let jobs = self.store.list_project_jobs(project.id, &[], autogit_store::Page::ALL).await?;
        let job_ids: Vec<JobId> = jobs.items.into_iter().map(|j| j.id).collect();
        self.store.delete_project(project.id).await?;
        self.audit(who, Entry::project(AuditAction::ProjectDeleted, &project)).await;
        self.remove_job_blobs(job_ids).await;
        self.remove_project_traces(project.id).await;
        if let Err(e) = self.repos.delete(project.id).await {
            // The record is gone, so the data is unreachable; leave it for an operator.
            tracing::error!(project_id = project.id.get(), error = %e, "repository of deleted project not removed");
        }
        Ok(())
    }
}

pub(crate) fn validate_branch_name(b: &str) -> Result<()> {
    let bad = b.is_empty()
        || b.len() > 255
        || b.starts_with('-')
        || b.starts_with('/')
        || b.ends_with('/')
        || b.ends_with(".lock")
        || b.ends_with('.')
        || b.contains("..")
        || b.contains("@{")
        || b.contains("//")
        || b.chars().any(|c| c.is_control() || " ~^:?*[\\".contains(c));
    if bad { Err(AppError::Invalid("default_branch", format!("'{b}' is not a valid branch name"))) } else { Ok(()) }
}

/// A repository-relative file path (GitLab also accepts `file@group/project` and URLs there;
/// only paths in the project's own repository are supported here).
fn validate_ci_config_path(p: &str) -> Result<()> {
    let bad = p.len() > 255
        || p.starts_with('/')
        || p.contains(['\0', '\n', '@', ':'])
        || (!p.is_empty() && p.split('/').any(|s| matches!(s, "" | "." | "..")));
    if bad {
        return Err(AppError::Invalid(
            "ci_config_path",
            "must be a relative file path in the repository, such as ci/pipeline.yml".into(),
        ));
    }
    Ok(())
}
