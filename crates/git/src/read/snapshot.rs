//! What the CI compiler needs from a commit: every file path (for `rules:exists`), the text of
//! the YAML files (for `include:local`), and the paths a push changed (for `rules:changes`).
//! Read once per pipeline, with caps, so a huge repository costs a bounded amount of work.

use super::{MAX_BLOB_SIZE, validate_rev};
use crate::Result;
use crate::catfile::CatFile;
use crate::cmd::{MAX_LISTING, git_in, run};
use std::collections::BTreeMap;
use std::path::Path;

/// Paths listed at most; beyond it `exists` sees a truncated list (GitLab caps `exists` at
/// 10,000 paths too).
pub const MAX_SNAPSHOT_PATHS: usize = 50_000;
/// YAML files read at most, and their total size.
pub const MAX_YAML_FILES: usize = 500;
pub const MAX_YAML_BYTES: usize = 64 << 20;

/// The files of one commit as the CI compiler sees them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Every blob path, sorted.
    pub paths: Vec<String>,
    /// `*.yml`/`*.yaml` files (and `extra`) by path: candidates for `include:local`.
    pub yaml: BTreeMap<String, String>,
    /// YAML files not read because of the size limits, with their size: a CI file listed here
    /// gets a "too large" error rather than "not found".
    pub skipped: BTreeMap<String, u64>,
}

/// Reads the paths of `commit` and the text of its YAML files plus `extra` (the CI file, which
/// may have any name). `None` when the commit does not exist.
pub async fn snapshot(repo: &Path, commit: &str, extra: &str) -> Result<Option<Snapshot>> {
    validate_rev(commit)?;
    let mut cmd = git_in(repo);
    cmd.args(["ls-tree", "-r", "-z", "--format=%(objecttype) %(objectname) %(objectsize)\t%(path)", commit]);
    let out = run(cmd, MAX_LISTING).await?;
    if !out.status.success() {
        return Ok(None);
    }
    let mut snap = Snapshot::default();
    let mut wanted = Vec::new();
    let mut budget = MAX_YAML_BYTES;
    for rec in out.stdout.split(|&b| b == 0).filter(|r| !r.is_empty()) {
        let rec = String::from_utf8_lossy(rec);
        let Some((meta, path)) = rec.split_once('\t') else { continue };
        let mut parts = meta.split(' ');
        let (Some("blob"), Some(id), Some(size)) = (parts.next(), parts.next(), parts.next()) else { continue };
        if snap.paths.len() < MAX_SNAPSHOT_PATHS {
            snap.paths.push(path.to_string());
        }
        let size: usize = size.trim().parse().unwrap_or(usize::MAX);
        let yaml = path.ends_with(".yml") || path.ends_with(".yaml") || path == extra;
        if !yaml {
            continue;
        }
        if wanted.len() < MAX_YAML_FILES && size <= budget && size as u64 <= MAX_BLOB_SIZE {
            budget -= size;
            wanted.push((path.to_string(), id.to_string()));
        } else {
            snap.skipped.insert(path.to_string(), size as u64);
        }
    }
    if !wanted.is_empty() {
        let mut cat = CatFile::spawn(repo).await?;
        for (path, id) in wanted {
            if let Some((_, bytes)) = cat.contents(&id, MAX_BLOB_SIZE as usize).await? {
                snap.yaml.insert(path, String::from_utf8_lossy(&bytes).into_owned());
            }
        }
    }
    snap.paths.sort();
    Ok(Some(snap))
}

/// Paths that differ between two commits; `None` when `before` is absent (a new branch: GitLab
/// then treats every `changes` clause as true) or either commit is unknown.
pub async fn changed_paths(repo: &Path, before: &str, after: &str) -> Result<Option<Vec<String>>> {
    if before.is_empty() || before.bytes().all(|b| b == b'0') {
        return Ok(None);
    }
    validate_rev(before)?;
    validate_rev(after)?;
    let mut cmd = git_in(repo);
    cmd.args(["diff", "--name-only", "-z", "--no-renames", before, after, "--"]);
    let out = run(cmd, MAX_LISTING).await?;
    if !out.status.success() {
        return Ok(None);
    }
    let paths = out
        .stdout
        .split(|&b| b == 0)
        .filter(|r| !r.is_empty())
        .map(|r| String::from_utf8_lossy(r).into_owned())
        .collect();
    Ok(Some(paths))
}
