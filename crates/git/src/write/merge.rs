//! Three-way merges of trees without a working tree (`git merge-tree --write-tree`, git ≥ 2.38):
//! what cherry-pick and revert need, and later merge requests. Only object ids reach git.

use super::is_object_id;
use crate::cmd::{git_in, run};
use crate::{Error, Result};
use std::path::Path;

/// The tree of merging `theirs` into `ours` over `base`: `Ok(Some(tree))` when it merges
/// cleanly, `Ok(None)` on conflicts (nothing is written that anything refers to).
pub async fn merge_trees(repo: &Path, base: &str, ours: &str, theirs: &str) -> Result<Option<String>> {
    for id in [base, ours, theirs] {
        if !is_object_id(id) {
            return Err(Error::InvalidRef(id.to_string()));
        }
    }
    let mut cmd = git_in(repo);
    cmd.args(["merge-tree", "--write-tree", "--no-messages", &format!("--merge-base={base}"), ours, theirs]);
    let out = run(cmd, 1 << 20).await?;
    let first = String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or_default().trim().to_string();
    match out.status.code() {
        Some(0) if is_object_id(&first) => Ok(Some(first)),
        Some(1) => Ok(None),
        code => Err(Error::GitFailed {
            cmd: "git merge-tree".into(),
            status: code,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }),
    }
}

/// The tree id of the commit `commit` (a full object id).
pub async fn tree_of(repo: &Path, commit: &str) -> Result<String> {
    if !is_object_id(commit) {
        return Err(Error::InvalidRef(commit.to_string()));
    }
    let mut cmd = git_in(repo);
    cmd.args(["rev-parse", "--verify", "--quiet", &format!("{commit}^{{tree}}")]);
    let out = crate::cmd::run_ok(cmd, 4096).await?;
    let id = String::from_utf8_lossy(&out).trim().to_string();
    if is_object_id(&id) { Ok(id) } else { Err(Error::Parse(format!("git rev-parse printed {id:?}"))) }
}
