//! Repository browsing: the policy check in front of `autogit_git::read`.

use crate::groups::to_result;
use crate::{App, Principal, Result};
use autogit_core::access::{Action, decide};
use autogit_store::Project;
use std::path::PathBuf;

impl App {
    /// The project and its repository path, if `who` may read its code.
    pub async fn readable_repository(&self, who: &Principal, project_ref: &str) -> Result<(Project, PathBuf)> {
        let (project, level) = self.get_project(who, project_ref, Action::View).await?;
        to_result(decide(who.actor, project.visibility, level, Action::ReadRepository), "Project")?;
        let path = self.repos.path_for(project.id);
        Ok((project, path))
    }
}
