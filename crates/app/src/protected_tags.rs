//! Protected tags: the API use-cases (`/projects/:id/protected_tags`). Reading the rules needs
//! read access to the code, changing them Maintainer, as for protected branches; the decision on
//! a push or an API write is `autogit_core::protection::TagPolicy`'s.

use crate::{App, AppError, Principal, Result, System};
use autogit_core::protection::{TagPolicy, validate_pattern};
use autogit_store::{Listed, NewProtectedTag, Page, Project, ProtectedTag, StoreError};

impl App {
    /// The project's protected tags, by id.
    pub async fn list_protected_tags(
        &self,
        who: &Principal,
        project_ref: &str,
        page: Page,
    ) -> Result<Listed<ProtectedTag>> {
        let project = self.protection_project(who, project_ref, false).await?;
        Ok(self.store.list_protected_tags(project.id, page).await?)
    }

    /// The rule named exactly `name`.
    pub async fn get_protected_tag(&self, who: &Principal, project_ref: &str, name: &str) -> Result<ProtectedTag> {
        let project = self.protection_project(who, project_ref, false).await?;
        self.store.protected_tag(project.id, name).await?.ok_or(AppError::NotFound("Protected Tag"))
    }

    /// `POST /projects/:id/protected_tags`: `create_access_level` defaults to Maintainer, as in
    /// GitLab.
    pub async fn protect_tag(
        &self,
        who: &Principal,
        project_ref: &str,
        name: String,
        create_access_level: Option<i64>,
    ) -> Result<ProtectedTag> {
        let project = self.protection_project(who, project_ref, true).await?;
        validate_pattern(&name).map_err(|e| AppError::Invalid("name", e.to_string()))?;
        let level = crate::protected_branches::access_level("create_access_level", create_access_level)?;
        let new = NewProtectedTag { project_id: project.id, name, create_access_levels: vec![level] };
        match self.store.protect_tag(&new).await {
            Err(StoreError::Conflict(_)) => {
                Err(AppError::Conflict("name".into(), format!("Protected tag '{}' already exists", new.name)))
            }
            other => Ok(other?),
        }
    }

    pub async fn unprotect_tag(&self, who: &Principal, project_ref: &str, name: &str) -> Result<()> {
        let project = self.protection_project(who, project_ref, true).await?;
        match self.store.unprotect_tag(project.id, name).await {
            Err(StoreError::NotFound(_)) => Err(AppError::NotFound("Protected Tag")),
            other => Ok(other?),
        }
    }
}

impl System<'_> {
    /// The project's protected tags and default branch, for the pure policy.
    pub async fn tag_policy(&self, project: &Project) -> Result<TagPolicy> {
        let rules = self.store.list_protected_tags(project.id, Page::ALL).await?.items;
        Ok(TagPolicy {
            default_branch: project.default_branch.clone(),
            rules: rules.iter().map(ProtectedTag::rule).collect(),
        })
    }
}
