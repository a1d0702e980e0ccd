//! The reads of the CI coordinator's hot path, through one pooled [`ObjectReader`]: the snapshot
//! of a commit (paths and YAML texts), the paths two commits differ in, a commit's facts, a
//! branch or tag's commit and one file. Trees are walked object by object, so none of these
//! starts a process when the pool has an idle one for the repository.
//!
//! Results are the ones `git ls-tree -r`, `git diff --name-only --no-renames` and `git cat-file`
//! give (the tests compare them), with the caps of [`crate::read`].

use super::ObjectReader;
use super::tree::{Entry, EntryType, parse_tree};
use crate::read::{CommitInfo, MAX_BLOB_SIZE, Snapshot, normalize_path, validate_rev};
use crate::read::{MAX_SNAPSHOT_PATHS, MAX_YAML_BYTES, MAX_YAML_FILES};
use crate::{Error, Result};
use std::collections::BTreeMap;

/// Tree entries visited at most by one walk: a bound on the work a huge repository costs. Beyond
/// it the snapshot is cut (fewer paths, YAML files further down not read) and a diff reads as
/// unknown (`None`: every `changes:` clause holds, as for a new branch).
pub const MAX_WALK_ENTRIES: usize = 200_000;

/// Largest tree object read (a tree of ~100,000 entries).
const MAX_TREE_SIZE: usize = 16 << 20;

impl ObjectReader {
    /// The commit's paths (blobs only, as `git ls-tree -r` lists them) and the text of its YAML
    /// files plus `extra` (the CI file, which may have any name), within the caps of
    /// [`Snapshot`]; `None` when `commit` names no commit.
    pub async fn snapshot(&mut self, commit: &str, extra: &str) -> Result<Option<Snapshot>> {
        validate_rev(commit)?;
        let Some(root) = self.root_tree(commit).await? else { return Ok(None) };
        let mut snap = Snapshot::default();
        let mut wanted = Vec::new();
        let mut visited = 0usize;
        // Depth first in tree order, as `ls-tree -r` lists, so the YAML budget is spent alike.
        let mut stack = vec![(String::new(), root)];
        while let Some((prefix, tree)) = stack.pop() {
            let entries = self.tree(&tree).await?;
            visited += entries.len();
            if visited > MAX_WALK_ENTRIES {
                tracing::warn!(commit, "snapshot cut at {MAX_WALK_ENTRIES} tree entries");
                break;
            }
            let mut subtrees = Vec::new();
            for e in entries {
                let path = format!("{prefix}{}", e.name);
                match e.kind {
                    EntryType::Tree => subtrees.push((format!("{path}/"), e.oid)),
                    EntryType::Blob => {
                        let yaml = path.ends_with(".yml") || path.ends_with(".yaml") || path == extra;
                        if yaml {
                            wanted.push((path.clone(), e.oid));
                        }
                        if snap.paths.len() < MAX_SNAPSHOT_PATHS {
                            snap.paths.push(path);
                        }
                    }
                    EntryType::Gitlink => {}
                }
            }
            stack.extend(subtrees.into_iter().rev());
        }
        let mut budget = MAX_YAML_BYTES;
        let mut read = 0usize;
        for (path, oid) in wanted {
            let size = self.info(&oid).await?.map_or(u64::MAX, |i| i.size);
            let fits = usize::try_from(size).is_ok_and(|s| s <= budget) && size <= MAX_BLOB_SIZE;
            if read < MAX_YAML_FILES && fits {
                budget -= usize::try_from(size).unwrap_or(budget);
                read += 1;
                if let Some((_, bytes)) = self.contents(&oid, MAX_BLOB_SIZE as usize).await? {
                    snap.yaml.insert(path, String::from_utf8_lossy(&bytes).into_owned());
                }
            } else {
                snap.skipped.insert(path, size);
            }
        }
        snap.paths.sort();
        Ok(Some(snap))
    }

    /// Paths that differ between two commits (`git diff --name-only --no-renames`); `None` when
    /// `before` is absent (all zeros: a new branch), either commit is unknown, or the diff is
    /// larger than the walk allows.
    pub async fn changed_paths(&mut self, before: &str, after: &str) -> Result<Option<Vec<String>>> {
        if before.is_empty() || before.bytes().all(|b| b == b'0') {
            return Ok(None);
        }
        validate_rev(before)?;
        validate_rev(after)?;
        let (Some(a), Some(b)) = (self.root_tree(before).await?, self.root_tree(after).await?) else {
            return Ok(None);
        };
        let mut out = Vec::new();
        let mut budget = MAX_WALK_ENTRIES;
        let mut stack = vec![(String::new(), Some(a), Some(b))];
        while let Some((prefix, a, b)) = stack.pop() {
            let (Some(old), Some(new)) = (
                self.tree_by_name(a.as_deref(), &mut budget).await?,
                self.tree_by_name(b.as_deref(), &mut budget).await?,
            ) else {
                return Ok(None);
            };
            let names: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
            for name in names {
                let (o, n) = (old.get(name), new.get(name));
                if let (Some(o), Some(n)) = (o, n)
                    && o.oid == n.oid
                    && o.mode == n.mode
                {
                    continue;
                }
                let path = format!("{prefix}{name}");
                let tree_oid = |e: Option<&Entry>| e.filter(|e| e.kind == EntryType::Tree).map(|e| e.oid.clone());
                let (ot, nt) = (tree_oid(o), tree_oid(n));
                // A file (or submodule) on either side is a changed path; a tree on either side
                // contributes the paths below it that differ.
                if o.is_some_and(|e| e.kind != EntryType::Tree) || n.is_some_and(|e| e.kind != EntryType::Tree) {
                    out.push(path.clone());
                }
                if ot.is_some() || nt.is_some() {
                    stack.push((format!("{path}/"), ot, nt));
                }
            }
        }
        out.sort();
        Ok(Some(out))
    }

    /// The commit `rev` names (a full object id, or a validated revision); `None` if none.
    pub async fn commit(&mut self, rev: &str) -> Result<Option<CommitInfo>> {
        validate_rev(rev)?;
        match self.contents(&format!("{rev}^{{commit}}"), crate::read::MAX_COMMIT_SIZE).await? {
            Some((info, raw)) if info.kind == "commit" => Ok(Some(crate::read::parse_commit(&info.oid, &raw))),
            _ => Ok(None),
        }
    }

    /// The commit branch `name` points at (`refs/heads/<name>`, tags peeled), if it exists.
    pub async fn branch_commit(&mut self, name: &str) -> Result<Option<String>> {
        self.ref_commit(&format!("refs/heads/{name}")).await
    }

    /// The commit tag `name` peels to, if it exists and points at a commit.
    pub async fn tag_commit(&mut self, name: &str) -> Result<Option<String>> {
        self.ref_commit(&format!("refs/tags/{name}")).await
    }

    /// Invalid names simply do not exist (as in [`crate::read::branch`]).
    async fn ref_commit(&mut self, full: &str) -> Result<Option<String>> {
        if crate::pktline::validate_ref_name(full).is_err() || validate_rev(full).is_err() {
            return Ok(None);
        }
        Ok(self.info(&format!("{full}^{{commit}}")).await?.map(|i| i.oid))
    }

    /// The content of the file at `path` in `commit`; `None` when there is no file there;
    /// [`Error::TooLarge`] above [`MAX_BLOB_SIZE`].
    pub async fn file_at(&mut self, commit: &str, path: &str) -> Result<Option<Vec<u8>>> {
        validate_rev(commit)?;
        let Some(path) = normalize_path(Some(path))? else { return Ok(None) };
        let Some(mut tree) = self.root_tree(commit).await? else { return Ok(None) };
        let mut parts = path.split('/').peekable();
        while let Some(part) = parts.next() {
            let entries = self.tree(&tree).await?;
            let Some(e) = entries.into_iter().find(|e| e.name == part) else { return Ok(None) };
            match (parts.peek().is_some(), e.kind) {
                (true, EntryType::Tree) => tree = e.oid,
                (false, EntryType::Blob) => {
                    let size = self.info(&e.oid).await?.map_or(0, |i| i.size);
                    if size > MAX_BLOB_SIZE {
                        return Err(Error::TooLarge { size, limit: MAX_BLOB_SIZE });
                    }
                    return Ok(self.contents(&e.oid, MAX_BLOB_SIZE as usize).await?.map(|(_, b)| b));
                }
                _ => return Ok(None),
            }
        }
        Ok(None)
    }

    async fn root_tree(&mut self, commit: &str) -> Result<Option<String>> {
        Ok(self.info(&format!("{commit}^{{tree}}")).await?.filter(|i| i.kind == "tree").map(|i| i.oid))
    }

    async fn tree(&mut self, oid: &str) -> Result<Vec<Entry>> {
        match self.contents(oid, MAX_TREE_SIZE).await? {
            Some((info, raw)) if info.kind == "tree" => {
                if info.size > MAX_TREE_SIZE as u64 {
                    return Err(Error::TooLarge { size: info.size, limit: MAX_TREE_SIZE as u64 });
                }
                parse_tree(&raw, info.oid.len() / 2)
            }
            _ => Err(Error::Parse(format!("tree {oid} is missing"))),
        }
    }

    /// The entries of tree `oid` by name (none for `None`), counted against `budget`; `None`
    /// once they would exceed it.
    async fn tree_by_name(&mut self, oid: Option<&str>, budget: &mut usize) -> Result<Option<BTreeMap<String, Entry>>> {
        let Some(oid) = oid else { return Ok(Some(BTreeMap::new())) };
        let entries = self.tree(oid).await?;
        let Some(left) = budget.checked_sub(entries.len()) else { return Ok(None) };
        *budget = left;
        Ok(Some(entries.into_iter().map(|e| (e.name.clone(), e)).collect()))
    }
}
