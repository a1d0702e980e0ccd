//! Keys as paths below the root, walked one component at a time without following symlinks:
//! every directory on the way must be a real directory, so a symlink placed in the tree (by
//! whoever can write to it) never leads a read, write or removal outside the root.

use autogit_store::blob::{BlobError, BlobKey, BlobResult};
use std::io::ErrorKind;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// Where a key's object lives.
pub(crate) enum Place {
    /// Its directory exists (all real directories); the object may or may not.
    Dir(PathBuf),
    /// A directory on the way is missing: the object is absent.
    Missing,
}

pub(crate) fn unavailable(key: &BlobKey, what: &str, e: impl std::fmt::Display) -> BlobError {
    BlobError::Unavailable { key: key.to_string(), message: format!("{what}: {e}") }
}

/// Creates a directory owner-only (the data directory is owner-only), tolerating a racing creator.
pub(crate) fn make_dir(path: &Path) -> std::io::Result<()> {
    match std::fs::DirBuilder::new().mode(0o700).create(path) {
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
        other => other,
    }
}

/// The directory holding `key`'s object, created (0700) on the way when `create`.
pub(crate) fn parent_of(root: &Path, key: &BlobKey, create: bool) -> BlobResult<Place> {
    let segments: Vec<&str> = key.segments().collect();
    let mut dir = root.to_path_buf();
    let mut walked = String::new();
    for segment in &segments[..segments.len() - 1] {
        dir.push(segment);
        walked = if walked.is_empty() { segment.to_string() } else { format!("{walked}/{segment}") };
        loop {
            match std::fs::symlink_metadata(&dir) {
                Ok(m) if m.is_dir() => break,
                Ok(m) if m.is_file() && create => {
                    return Err(BlobError::Conflict { key: key.to_string(), stored: walked });
                }
                // Below a stored object there is nothing to read or remove.
                Ok(m) if m.is_file() => return Ok(Place::Missing),
                Ok(_) => return Err(unavailable(key, "refusing to follow", format!("'{walked}' is not a directory"))),
                Err(e) if e.kind() == ErrorKind::NotFound && create => {
                    make_dir(&dir).map_err(|e| unavailable(key, "creating a directory", e))?;
                }
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Place::Missing),
                Err(e) => return Err(unavailable(key, "reading the tree", e)),
            }
        }
    }
    Ok(Place::Dir(dir))
}

/// The path of `key` (every directory on the way checked), or `None` when a directory is missing.
pub(crate) fn path_of(root: &Path, key: &BlobKey) -> BlobResult<Option<PathBuf>> {
    Ok(match parent_of(root, key, false)? {
        Place::Dir(dir) => Some(dir.join(key.segments().last().unwrap_or_default())),
        Place::Missing => None,
    })
}

/// Every stored key at or below `prefix`, sorted. Directories and files whose names are not key
/// segments (the adapter's `.tmp`, anything else put there by hand) and symlinks are skipped.
pub(crate) fn list(root: &Path, prefix: &BlobKey) -> BlobResult<Vec<BlobKey>> {
    let Some(path) = path_of(root, prefix)? else { return Ok(Vec::new()) };
    let mut keys = Vec::new();
    match std::fs::symlink_metadata(&path) {
        Ok(m) if m.is_file() => keys.push(prefix.clone()),
        Ok(m) if m.is_dir() => walk(&path, prefix, &mut keys)?,
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(unavailable(prefix, "reading the tree", e)),
    }
    keys.sort();
    Ok(keys)
}

fn walk(dir: &Path, key: &BlobKey, keys: &mut Vec<BlobKey>) -> BlobResult<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        // Removed by a concurrent removal: nothing is below it any more.
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(unavailable(key, "listing", e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| unavailable(key, "listing", e))?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else { continue };
        let Ok(child) = key.join(&name) else { continue };
        let kind = entry.file_type().map_err(|e| unavailable(&child, "listing", e))?;
        if kind.is_file() {
            keys.push(child);
        } else if kind.is_dir() {
            walk(&entry.path(), &child, keys)?;
        }
    }
    Ok(())
}

/// Removes the now empty directories from `dir` up to (not including) the root. A directory
/// that is not empty (or was just filled by a concurrent put) stops it.
pub(crate) fn prune(root: &Path, mut dir: PathBuf) {
    while dir != root && dir.starts_with(root) {
        if std::fs::remove_dir(&dir).is_err() {
            return;
        }
        if !dir.pop() {
            return;
        }
    }
}
