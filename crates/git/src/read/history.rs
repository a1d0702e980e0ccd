//! The last commit of each entry of a directory, for the tree page.
//!
//! One `git log --name-only` walk from the commit, read as it streams and stopped as soon as
//! every entry has its commit (or after a bound), instead of one `git log -1 -- <entry>` per
//! entry: the walk visits each commit once whatever the number of entries. Renames are not
//! followed (an entry's last commit is the last one that changed that path).

use super::commit::load;
use super::{CommitInfo, normalize_path};
use crate::catfile::CatFile;
use crate::cmd::{git_in, spawn};
use crate::{Error, Result};
use std::collections::HashMap;
use std::path::Path;
use tokio::io::{AsyncBufReadExt, BufReader};

/// For each of `names` (entries of the directory `dir` at `commit`, a resolved commit id), the
/// newest commit at or before `commit` that changed it. Entries not found within `max_commits`
/// commits of history are absent from the answer.
pub async fn last_commits(
    repo: &Path,
    commit: &str,
    dir: Option<&str>,
    names: &[String],
    max_commits: usize,
) -> Result<HashMap<String, CommitInfo>> {
    let dir = normalize_path(dir)?;
    if !commit.bytes().all(|b| b.is_ascii_hexdigit()) || commit.len() < 40 {
        return Err(Error::InvalidRef(commit.chars().take(80).collect()));
    }
    let mut wanted: HashMap<&str, ()> = names.iter().map(|n| (n.as_str(), ())).collect();
    let mut found: HashMap<String, String> = HashMap::new();
    if !wanted.is_empty() {
        let mut cmd = git_in(repo);
        cmd.args(["log", "--format=%x01%H", "-z", "--name-only", "--no-renames", "--no-ext-diff"]);
        cmd.arg(format!("--max-count={max_commits}")).arg(commit);
        if let Some(d) = dir {
            cmd.arg("--").arg(d);
        }
        let mut child = spawn(&mut cmd)?;
        let stderr = child.stderr.take().map(crate::cmd::collect_stderr);
        let Some(stdout) = child.stdout.take() else { return Ok(HashMap::new()) };
        let mut reader = BufReader::new(stdout);
        let prefix = dir.map(|d| format!("{d}/")).unwrap_or_default();
        let mut current = String::new();
        let mut token = Vec::new();
        loop {
            token.clear();
            if reader.read_until(0, &mut token).await? == 0 {
                break;
            }
            if token.last() == Some(&0) {
                token.pop();
            }
            if let Some(id) = token.strip_prefix(b"\x01") {
                current = String::from_utf8_lossy(id).into_owned();
                continue;
            }
            let path = token.strip_prefix(b"\n").unwrap_or(&token);
            let path = String::from_utf8_lossy(path);
            let Some(rel) = path.strip_prefix(prefix.as_str()) else { continue };
            let entry = rel.split('/').next().unwrap_or(rel);
            if wanted.remove(entry).is_some() {
                found.insert(entry.to_string(), current.clone());
                if wanted.is_empty() {
                    break;
                }
            }
        }
        // Dropping the child kills a walk that was stopped early; otherwise wait for it.
        if wanted.is_empty() {
            drop(child);
        } else {
            let status = child.wait().await?;
            let err = match stderr {
                Some(t) => t.await.unwrap_or_default(),
                None => Vec::new(),
            };
            if !status.success() {
                return Err(crate::cmd::failed("git log --name-only", status, &err));
            }
        }
    }
    let mut cat = CatFile::spawn(repo).await?;
    let mut infos: HashMap<String, CommitInfo> = HashMap::new();
    let mut out = HashMap::new();
    for (name, id) in found {
        if !infos.contains_key(&id)
            && let Some(info) = load(&mut cat, &id).await?
        {
            infos.insert(id.clone(), info);
        }
        if let Some(info) = infos.get(&id) {
            out.insert(name, info.clone());
        }
    }
    Ok(out)
}
