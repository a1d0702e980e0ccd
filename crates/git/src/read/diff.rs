//! Patches for the commit and compare pages: git's own unified diff, cut at a size bound.
//!
//! Revisions are resolved to object ids first (only ids reach the command line), external diff
//! and text conversion drivers are off, and the output is read up to [`MAX_PATCH`]; beyond it
//! git is stopped and the answer says it was cut, so a huge commit costs a bounded amount.

use super::{CommitInfo, resolve_with};
use crate::Result;
use crate::catfile::CatFile;
use crate::cmd::{git_in, spawn};
use std::path::Path;
use tokio::io::AsyncReadExt;

/// Most bytes of patch text read for one page.
pub const MAX_PATCH: usize = 4 << 20;

/// A patch as git wrote it, possibly cut.
#[derive(Debug, Clone)]
pub struct Patch {
    pub text: Vec<u8>,
    /// True when the patch was longer than [`MAX_PATCH`] and `text` holds only its start.
    pub truncated: bool,
}

/// The changes a commit made against its first parent (or against nothing, for a root commit).
/// `None` when `rev` names no commit.
pub async fn commit_patch(repo: &Path, rev: &str) -> Result<Option<(CommitInfo, Patch)>> {
    let mut cat = CatFile::spawn(repo).await?;
    let Some(oid) = resolve_with(&mut cat, rev).await? else { return Ok(None) };
    let Some(info) = super::commit::load(&mut cat, &oid).await? else { return Ok(None) };
    let mut cmd = git_in(repo);
    cmd.args(["-c", "core.quotePath=false", "diff-tree", "-p", "-r", "--root", "-M", "--no-color", "--no-ext-diff"]);
    cmd.args(["--no-textconv", "--first-parent", "-m", "--no-commit-id"]);
    cmd.arg(&oid);
    let patch = capped(cmd).await?;
    Ok(Some((info, patch)))
}

/// The changes on `to` since it diverged from `from` (`git diff from...to`), with the commits
/// `from..to` (newest first, at most `max_commits`). `None` when either names no commit.
pub async fn compare(
    repo: &Path,
    from: &str,
    to: &str,
    max_commits: usize,
) -> Result<Option<(Vec<CommitInfo>, Patch)>> {
    let mut cat = CatFile::spawn(repo).await?;
    let (Some(a), Some(b)) = (resolve_with(&mut cat, from).await?, resolve_with(&mut cat, to).await?) else {
        return Ok(None);
    };
    let mut cmd = git_in(repo);
    cmd.args(["rev-list", &format!("--max-count={max_commits}"), &b, &format!("^{a}")]);
    let ids = crate::cmd::run_ok(cmd, 1 << 20).await?;
    let mut commits = Vec::new();
    for id in String::from_utf8_lossy(&ids).lines() {
        commits.extend(super::commit::load(&mut cat, id).await?);
    }
    let mut cmd = git_in(repo);
    cmd.args(["-c", "core.quotePath=false", "diff", "-M", "--no-color", "--no-ext-diff", "--no-textconv"]);
    cmd.arg(format!("{a}...{b}"));
    let patch = capped(cmd).await?;
    Ok(Some((commits, patch)))
}

/// Runs `cmd`, keeping at most [`MAX_PATCH`] bytes of its output; a longer output stops git.
async fn capped(mut cmd: tokio::process::Command) -> Result<Patch> {
    let label = crate::cmd::label(&cmd);
    let mut child = spawn(&mut cmd)?;
    let stderr = child.stderr.take().map(crate::cmd::collect_stderr);
    let mut text = Vec::new();
    if let Some(out) = child.stdout.take() {
        out.take(MAX_PATCH as u64 + 1).read_to_end(&mut text).await?;
    }
    if text.len() > MAX_PATCH {
        text.truncate(MAX_PATCH);
        // Cut at the last whole line, so the parser sees no half line.
        if let Some(end) = text.iter().rposition(|&b| b == b'\n') {
            text.truncate(end + 1);
        }
        let _ = child.kill().await;
        return Ok(Patch { text, truncated: true });
    }
    let status = child.wait().await?;
    if !status.success() {
        let err = match stderr {
            Some(t) => t.await.unwrap_or_default(),
            None => Vec::new(),
        };
        return Err(crate::cmd::failed(&label, status, &err));
    }
    Ok(Patch { text, truncated: false })
}
