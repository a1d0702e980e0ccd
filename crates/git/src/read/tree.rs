//! Trees and files at a revision.

use super::{MAX_BLOB_SIZE, normalize_path, resolve_with};
use crate::catfile::CatFile;
use crate::cmd::{MAX_LISTING, git_in, run_ok};
use crate::{Error, Result};
use serde::Serialize;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    Tree,
    Blob,
    /// A submodule (gitlink).
    Commit,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Tree => "tree",
            EntryKind::Blob => "blob",
            EntryKind::Commit => "commit",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TreeEntry {
    pub id: String,
    /// The last path component.
    pub name: String,
    #[serde(rename = "type")]
    pub kind: EntryKind,
    /// Full path from the repository root.
    pub path: String,
    /// Octal mode as git prints it (`040000`, `100644`, `100755`, `120000`, `160000`).
    pub mode: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileBlob {
    pub file_name: String,
    pub file_path: String,
    pub size: u64,
    pub mode: String,
    pub blob_id: String,
    /// The commit the revision resolved to.
    pub commit_id: String,
    /// The newest commit at or before `commit_id` that touched this path.
    pub last_commit_id: String,
    #[serde(skip)]
    pub content: Vec<u8>,
}

/// The entries of the tree at `path` (root when `None`) in `rev` (HEAD when `None`); with
/// `recursive`, every entry below it, trees included. `None` when the revision or path does not
/// exist or the path is not a directory; a repository without commits browsed at HEAD is empty.
pub async fn tree(
    repo: &Path,
    rev: Option<&str>,
    path: Option<&str>,
    recursive: bool,
) -> Result<Option<Vec<TreeEntry>>> {
    let path = normalize_path(path)?;
    let mut cat = CatFile::spawn(repo).await?;
    let Some(commit) = resolve_with(&mut cat, rev.unwrap_or("HEAD")).await? else {
        return Ok((rev.is_none() && path.is_none()).then(Vec::new));
    };
    let spec = match path {
        Some(p) => format!("{commit}:{p}"),
        None => format!("{commit}^{{tree}}"),
    };
    let Some(info) = cat.info(&spec).await?.filter(|i| i.kind == "tree") else { return Ok(None) };
    let mut cmd = git_in(repo);
    cmd.args(["ls-tree", "-z"]);
    if recursive {
        // -t also lists the trees walked through, as GitLab's recursive listing does.
        cmd.args(["-r", "-t"]);
    }
    cmd.arg(&info.oid);
    let out = run_ok(cmd, MAX_LISTING).await?;
    let prefix = path.map(|p| format!("{p}/")).unwrap_or_default();
    out.split(|&b| b == 0).filter(|r| !r.is_empty()).map(|r| parse_entry(r, &prefix)).collect::<Result<_>>().map(Some)
}

/// Parses one `ls-tree -z` record: `<mode> SP <type> SP <oid> TAB <path>`.
fn parse_entry(record: &[u8], prefix: &str) -> Result<TreeEntry> {
    let text = String::from_utf8_lossy(record);
    let bad = || Error::Parse(format!("ls-tree record {text:?}"));
    let (meta, rel) = text.split_once('\t').ok_or_else(bad)?;
    let mut parts = meta.split(' ');
    let (Some(mode), Some(kind), Some(id), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let kind = match kind {
        "tree" => EntryKind::Tree,
        "blob" => EntryKind::Blob,
        "commit" => EntryKind::Commit,
        _ => return Err(bad()),
    };
    let name = rel.rsplit('/').next().unwrap_or(rel);
    Ok(TreeEntry {
        id: id.to_owned(),
        name: name.to_owned(),
        kind,
        path: format!("{prefix}{rel}"),
        mode: mode.to_owned(),
    })
}

/// The file at `path` in `rev`, read into memory. `None` when the revision or path does not exist
/// or is not a file (a directory or submodule); [`Error::TooLarge`] above [`MAX_BLOB_SIZE`].
pub async fn file(repo: &Path, rev: &str, path: &str) -> Result<Option<FileBlob>> {
    let Some(path) = normalize_path(Some(path))? else { return Ok(None) };
    let mut cat = CatFile::spawn(repo).await?;
    let Some(commit) = resolve_with(&mut cat, rev).await? else { return Ok(None) };
    let mut cmd = git_in(repo);
    cmd.args(["ls-tree", "-z", &commit, "--", path]);
    let out = run_ok(cmd, 1 << 20).await?;
    let entry = out
        .split(|&b| b == 0)
        .filter(|r| !r.is_empty())
        .map(|r| parse_entry(r, ""))
        .find(|e| e.as_ref().map_or(true, |e| e.path == path));
    let Some(entry) = entry.transpose()?.filter(|e| e.kind == EntryKind::Blob) else { return Ok(None) };
    let Some(info) = cat.info(&entry.id).await? else { return Ok(None) };
    if info.size > MAX_BLOB_SIZE {
        return Err(Error::TooLarge { size: info.size, limit: MAX_BLOB_SIZE });
    }
    let Some((_, content)) = cat.contents(&entry.id, MAX_BLOB_SIZE as usize).await? else { return Ok(None) };
    let mut cmd = git_in(repo);
    cmd.args(["rev-list", "--max-count=1", &commit, "--", path]);
    let last = String::from_utf8_lossy(&run_ok(cmd, 1 << 10).await?).trim().to_owned();
    Ok(Some(FileBlob {
        file_name: entry.name,
        file_path: entry.path,
        size: info.size,
        mode: entry.mode,
        blob_id: entry.id,
        commit_id: commit,
        last_commit_id: last,
        content,
    }))
}
