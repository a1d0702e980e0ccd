//! A commit built from file actions (GitLab's `POST /repository/commits` and the files API)
//! without a working tree: the parent's tree is read into a private index file, each action
//! changes one entry (content written with `git hash-object`), and `git write-tree` +
//! `git commit-tree` make the objects. No ref moves here; the caller moves the branch with
//! [`super::update_ref`] against the parent it decided on.
//!
//! Each write has its own index file (removed on every path), so concurrent writes to one
//! repository never share state; git's object writes are safe to run side by side.

use super::{MAX_MESSAGE, Signature, is_object_id, run_with_input};
use crate::cmd::{git_in, run_ok};
use crate::read::{normalize_path, validate_rev};
use crate::{Error, Result};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// One change to the tree, as GitLab's commit actions name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileAction {
    /// A new file; `executable` sets mode 100755.
    Create {
        path: String,
        content: Vec<u8>,
        executable: bool,
    },
    /// New content for an existing file; its mode stays unless `executable` says otherwise.
    Update {
        path: String,
        content: Vec<u8>,
        executable: Option<bool>,
    },
    Delete {
        path: String,
    },
    /// `from` renamed to `path`, with new content when given.
    Move {
        from: String,
        path: String,
        content: Option<Vec<u8>>,
    },
    Chmod {
        path: String,
        executable: bool,
    },
}

impl FileAction {
    /// The path the action writes (its target).
    pub fn path(&self) -> &str {
        match self {
            FileAction::Create { path, .. }
            | FileAction::Update { path, .. }
            | FileAction::Delete { path }
            | FileAction::Move { path, .. }
            | FileAction::Chmod { path, .. } => path,
        }
    }
}

/// Why an action cannot be applied to the tree it meets: GitLab's sentences.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    #[error("A file with this name already exists")]
    Exists { path: String },
    #[error("A file with this name doesn't exist")]
    Missing { path: String },
    #[error("The path {path:?} is not valid: {reason}")]
    BadPath { path: String, reason: String },
}

/// What to commit: on top of `parent` (`None`: the first commit of an empty repository).
#[derive(Debug, Clone)]
pub struct NewCommit<'a> {
    pub parent: Option<&'a str>,
    pub actions: &'a [FileAction],
    pub message: &'a str,
    pub author: &'a Signature,
    pub committer: &'a Signature,
}

static INDEXES: AtomicU64 = AtomicU64::new(0);

/// A private index file below the repository, removed when dropped.
struct TempIndex(PathBuf);

impl Drop for TempIndex {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Writes the commit's objects and returns its id, or why an action does not fit
/// (`Ok(Err(…))`: the request's fault; `Err(…)`: git's or the server's).
pub async fn write_commit(repo: &Path, new: &NewCommit<'_>) -> Result<std::result::Result<String, ActionError>> {
    if new.message.trim().is_empty() || new.message.len() > MAX_MESSAGE || new.message.contains('\0') {
        return Err(Error::InvalidRef("commit message".into()));
    }
    if let Some(parent) = new.parent {
        validate_rev(parent)?;
    }
    for a in new.actions {
        let paths = match a {
            FileAction::Move { from, path, .. } => vec![from.as_str(), path.as_str()],
            other => vec![other.path()],
        };
        for p in paths {
            if let Err(reason) = check_path(p) {
                return Ok(Err(ActionError::BadPath { path: p.to_string(), reason }));
            }
        }
    }
    let index = TempIndex(repo.join(format!(
        "index.autogit-{}-{}",
        std::process::id(),
        INDEXES.fetch_add(1, Ordering::Relaxed)
    )));
    let git = |args: &[&str]| {
        let mut cmd = git_in(repo);
        cmd.env("GIT_INDEX_FILE", &index.0).args(args);
        cmd
    };
    match new.parent {
        Some(parent) => run_ok(git(&["read-tree", &format!("{parent}^{{tree}}")]), 4096).await?,
        None => run_ok(git(&["read-tree", "--empty"]), 4096).await?,
    };
    for action in new.actions {
        if let Err(e) = apply(&git, action).await? {
            return Ok(Err(e));
        }
    }
    let tree = run_ok(git(&["write-tree"]), 4096).await?;
    let tree = String::from_utf8_lossy(&tree).trim().to_string();
    let parents: Vec<&str> = new.parent.into_iter().collect();
    commit_tree(repo, &tree, &parents, new.message, new.author, new.committer).await.map(Ok)
}

/// Writes a commit object of `tree` with `parents`; returns its id. No ref moves.
pub async fn commit_tree(
    repo: &Path,
    tree: &str,
    parents: &[&str],
    message: &str,
    author: &Signature,
    committer: &Signature,
) -> Result<String> {
    if message.trim().is_empty() || message.len() > MAX_MESSAGE || message.contains('\0') {
        return Err(Error::InvalidRef("commit message".into()));
    }
    for id in std::iter::once(tree).chain(parents.iter().copied()) {
        if !is_object_id(id) {
            return Err(Error::InvalidRef(id.to_string()));
        }
    }
    let mut cmd = git_in(repo);
    cmd.args(["commit-tree", tree]);
    for p in parents {
        cmd.args(["-p", p]);
    }
    cmd.envs([
        ("GIT_AUTHOR_NAME", author.clean_name()),
        ("GIT_AUTHOR_EMAIL", author.clean_email()),
        ("GIT_AUTHOR_DATE", format!("@{} +0000", author.when)),
        ("GIT_COMMITTER_NAME", committer.clean_name()),
        ("GIT_COMMITTER_EMAIL", committer.clean_email()),
        ("GIT_COMMITTER_DATE", format!("@{} +0000", committer.when)),
    ]);
    let id = run_with_input(cmd, "git commit-tree", message.as_bytes()).await?;
    if !is_object_id(&id) {
        return Err(Error::Parse(format!("git commit-tree printed {id:?}")));
    }
    Ok(id)
}

/// A path as GitLab takes it, checked as the repository reads are; git also refuses `.git`
/// components when the entry is added.
fn check_path(p: &str) -> std::result::Result<(), String> {
    match normalize_path(Some(p)) {
        Ok(Some(n)) if n == p => Ok(()),
        Ok(_) => Err("give it without leading or trailing slashes".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// The index entry of `path`: (mode, id), if any.
async fn entry<F: Fn(&[&str]) -> tokio::process::Command>(git: &F, path: &str) -> Result<Option<(String, String)>> {
    let out = run_ok(git(&["ls-files", "--stage", "-z", "--", path]), 64 * 1024).await?;
    let text = String::from_utf8_lossy(&out);
    for record in text.split('\0').filter(|r| !r.is_empty()) {
        let (meta, name) = record.split_once('\t').ok_or_else(|| Error::Parse(format!("ls-files {record:?}")))?;
        if name == path {
            let mut parts = meta.split(' ');
            let mode = parts.next().unwrap_or_default().to_string();
            let id = parts.next().unwrap_or_default().to_string();
            return Ok(Some((mode, id)));
        }
    }
    Ok(None)
}

async fn hash<F: Fn(&[&str]) -> tokio::process::Command>(git: &F, content: &[u8]) -> Result<String> {
    let id = run_with_input(git(&["hash-object", "-w", "--stdin", "--no-filters"]), "git hash-object", content).await?;
    if is_object_id(&id) { Ok(id) } else { Err(Error::Parse(format!("git hash-object printed {id:?}"))) }
}

async fn put<F: Fn(&[&str]) -> tokio::process::Command>(git: &F, mode: &str, id: &str, path: &str) -> Result<()> {
    run_ok(git(&["update-index", "--add", "--cacheinfo", &format!("{mode},{id},{path}")]), 4096).await.map(drop)
}

/// Drops the entry `path` whose id is `id`: `--index-info` with mode 0 (the removal form that,
/// unlike `--force-remove`, needs no work tree).
async fn remove<F: Fn(&[&str]) -> tokio::process::Command>(git: &F, path: &str, id: &str) -> Result<()> {
    let line = format!("0 {}\t{path}\n", "0".repeat(id.len()));
    run_with_input(git(&["update-index", "--index-info"]), "git update-index", line.as_bytes()).await.map(drop)
}

fn mode_of(executable: bool) -> &'static str {
    if executable { "100755" } else { "100644" }
}

async fn apply<F: Fn(&[&str]) -> tokio::process::Command>(
    git: &F,
    action: &FileAction,
) -> Result<std::result::Result<(), ActionError>> {
    let missing = |path: &str| Ok(Err(ActionError::Missing { path: path.to_string() }));
    match action {
        FileAction::Create { path, content, executable } => {
            if entry(git, path).await?.is_some() {
                return Ok(Err(ActionError::Exists { path: path.clone() }));
            }
            let id = hash(git, content).await?;
            put_checked(git, mode_of(*executable), &id, path).await
        }
        FileAction::Update { path, content, executable } => {
            let Some((mode, _)) = entry(git, path).await? else { return missing(path) };
            let id = hash(git, content).await?;
            let mode = executable.map_or(mode, |x| mode_of(x).to_string());
            put_checked(git, &mode, &id, path).await
        }
        FileAction::Delete { path } => {
            let Some((_, id)) = entry(git, path).await? else { return missing(path) };
            remove(git, path, &id).await.map(Ok)
        }
        FileAction::Move { from, path, content } => {
            let Some((mode, old_id)) = entry(git, from).await? else { return missing(from) };
            if from != path && entry(git, path).await?.is_some() {
                return Ok(Err(ActionError::Exists { path: path.clone() }));
            }
            let id = match content {
                Some(c) => hash(git, c).await?,
                None => old_id.clone(),
            };
            remove(git, from, &old_id).await?;
            put_checked(git, &mode, &id, path).await
        }
        FileAction::Chmod { path, executable } => {
            let Some((_, id)) = entry(git, path).await? else { return missing(path) };
            put_checked(git, mode_of(*executable), &id, path).await
        }
    }
}

/// Adds the entry; git's refusal (a file where a directory is, a `.git` component) is the
/// request's fault and named as such.
async fn put_checked<F: Fn(&[&str]) -> tokio::process::Command>(
    git: &F,
    mode: &str,
    id: &str,
    path: &str,
) -> Result<std::result::Result<(), ActionError>> {
    match put(git, mode, id, path).await {
        Ok(()) => Ok(Ok(())),
        Err(Error::GitFailed { stderr, .. }) => Ok(Err(ActionError::BadPath {
            path: path.to_string(),
            reason: stderr.lines().next().unwrap_or("refused by git").trim().to_string(),
        })),
        Err(e) => Err(e),
    }
}
