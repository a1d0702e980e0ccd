//! Repository browsing: the policy check in front of `autogit_git::read`, and the checks of the
//! revisions and branch names a request names, so that a bad one is a `400` naming its parameter
//! rather than whatever git makes of it.

use crate::groups::to_result;
use crate::{App, AppError, Principal, Result};
use autogit_core::AccessLevel;
use autogit_core::access::{Action, decide};
use autogit_store::Project;
use std::path::PathBuf;

impl App {
    /// The project and its repository path, if `who` may read its code.
    pub async fn readable_repository(&self, who: &Principal, project_ref: &str) -> Result<(Project, PathBuf)> {
        let (project, _) = self.readable_project(who, project_ref).await?;
        let path = self.repos.path_for(project.id);
        Ok((project, path))
    }

    /// The project and `who`'s role in it, if `who` may read its code.
    pub(crate) async fn readable_project(
        &self,
        who: &Principal,
        project_ref: &str,
    ) -> Result<(Project, Option<AccessLevel>)> {
        let (project, level) = self.get_project(who, project_ref, Action::View).await?;
        to_result(decide(who.actor, project.visibility, level, Action::ReadRepository), "Project")?;
        Ok((project, level))
    }
}

/// Checks a revision given in request parameter `param`: a branch or tag name or a commit id,
/// optionally with `~n`/`^n` suffixes. Reflog and upstream syntax (`@{…}`), ranges, `rev:path`,
/// message searches and anything that could be read as an option are refused.
pub fn check_revision(param: &'static str, rev: &str) -> Result<()> {
    autogit_git::read::validate_rev(rev).map_err(|_| {
        AppError::Invalid(
            param,
            format!(
                "is not a valid ref: {:?}. Give a branch or tag name or a commit SHA (with ~N or ^N \
                 suffixes at most); reflog and upstream syntax (@{{...}}), ranges (..), rev:path and \
                 names starting with '-' are not accepted",
                snippet(rev)
            ),
        )
    })
}

/// Checks a branch name given in request parameter `param` (`main`, `feature/x`): it must be a
/// valid git ref name below `refs/heads/`.
pub fn check_branch_name(param: &'static str, name: &str) -> Result<()> {
    check_ref_name(param, "refs/heads/", "branch", name)
}

/// Checks a tag name given in request parameter `param`: a valid git ref name below `refs/tags/`.
pub fn check_tag_name(param: &'static str, name: &str) -> Result<()> {
    check_ref_name(param, "refs/tags/", "tag", name)
}

fn check_ref_name(param: &'static str, prefix: &str, kind: &str, name: &str) -> Result<()> {
    let valid = !name.starts_with('-') && autogit_git::pktline::validate_ref_name(&format!("{prefix}{name}")).is_ok();
    if valid {
        Ok(())
    } else {
        Err(AppError::Invalid(
            param,
            format!("is not a valid {kind} name: {:?} (see git check-ref-format)", snippet(name)),
        ))
    }
}

/// The start of a user-supplied value, for messages.
fn snippet(s: &str) -> String {
    s.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revisions_name_their_parameter() {
        assert!(check_revision("ref", "main~2").is_ok());
        for bad in ["@{u}", "main@{upstream}", "HEAD@{1}", "--all", "a..b", "main:x"] {
            let err = check_revision("ref_name", bad).expect_err(bad);
            assert!(matches!(&err, AppError::Invalid("ref_name", m) if m.contains("not a valid ref")), "{err}");
        }
        assert!(check_branch_name("branch", "feature/x").is_ok());
        for bad in ["a@{u}", "-x", "a..b", "a b", "x.lock"] {
            assert!(matches!(check_branch_name("branch", bad), Err(AppError::Invalid("branch", _))), "{bad}");
        }
    }
}
