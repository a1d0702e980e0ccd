//! Zip archives of files under a project directory, shared by [`crate::artifacts`] and
//! [`crate::cache`]: choosing the files (`paths`, `exclude`, `untracked`), writing the zip, and
//! extracting one safely. Blocking; callers run it in `spawn_blocking`.
//!
//! Everything here runs on the runner host, also for docker jobs (their build dir is a bind
//! mount), so neither an archive nor the job's files may make the runner touch anything outside
//! the project directory: archive entries with absolute paths or `..` are refused, symlinks are
//! never followed (when choosing files, when writing through a path on extraction), and a
//! symlink is only recreated when its target stays inside the directory.

use chrono::{DateTime, Utc};
use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::time::SystemTime;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("bad archive: {0}")]
    Zip(#[from] zip::result::ZipError),
    #[error("refusing unsafe archive entry {0:?}")]
    Unsafe(String),
}

mod select;
pub use select::{Selection, select};

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> ArchiveError + '_ {
    move |source| ArchiveError::Io { path: path.display().to_string(), source }
}

/// Writes `entries` (from [`select`]) as a deflated zip with their unix modes, modification
/// times and symlinks; returns how many went in (entries gone meanwhile are skipped).
pub fn write_zip(root: &Path, entries: &BTreeSet<String>, out: File) -> Result<usize, ArchiveError> {
    let mut zip = ZipWriter::new(out);
    let mut n = 0;
    for rel in entries {
        let path = root.join(rel);
        let meta = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_at(&path)(e)),
        };
        let mut opts = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .unix_permissions(meta.permissions().mode());
        if let Some(t) = meta.modified().ok().and_then(|t| DateTime::<Utc>::from(t).naive_utc().try_into().ok()) {
            opts = opts.last_modified_time(t);
        }
        let kind = meta.file_type();
        if kind.is_symlink() {
            let target = fs::read_link(&path).map_err(io_at(&path))?;
            zip.add_symlink(rel, target.to_string_lossy(), opts)?;
        } else if kind.is_dir() {
            zip.add_directory(rel, opts)?;
        } else if kind.is_file() {
            zip.start_file(rel, opts.large_file(meta.len() >= u64::from(u32::MAX)))?;
            let mut f =
                OpenOptions::new().read(true).custom_flags(nix::libc::O_NOFOLLOW).open(&path).map_err(io_at(&path))?;
            io::copy(&mut f, &mut zip).map_err(io_at(&path))?;
        } else {
            continue; // sockets, fifos, devices
        }
        n += 1;
    }
    zip.finish()?;
    Ok(n)
}

/// Extracts a zip into `root`; returns how many entries were written and the names of the
/// symlinks skipped because they point outside `root`. Modes keep their permission bits (not
/// setuid/setgid); directories stay writable by the runner so that the next job can clean them.
pub fn extract(archive: File, root: &Path) -> Result<(usize, Vec<String>), ArchiveError> {
    fs::create_dir_all(root).map_err(io_at(root))?;
    let mut zip = ZipArchive::new(archive)?;
    let (mut written, mut skipped, mut dirs) = (0, Vec::new(), Vec::new());
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i)?;
        let name = entry.name()?.into_owned();
        let rel = safe_relative(&name).ok_or_else(|| ArchiveError::Unsafe(name.clone()))?;
        if rel.as_os_str().is_empty() {
            continue;
        }
        make_parents(root, &rel, &name)?;
        let path = root.join(&rel);
        let mode = entry.unix_mode().unwrap_or(if entry.is_dir() { 0o755 } else { 0o644 }) & 0o777;
        if entry.is_dir() {
            if !is_real_dir(&path) {
                remove_existing(&path)?;
                fs::create_dir(&path).map_err(io_at(&path))?;
            }
            dirs.push((path, mode | 0o700));
        } else if entry.is_symlink() {
            let mut target = String::new();
            io::Read::read_to_string(&mut entry, &mut target).map_err(io_at(&path))?;
            if !symlink_stays_inside(&rel, &target) {
                skipped.push(name);
                continue;
            }
            remove_existing(&path)?;
            symlink(&target, &path).map_err(io_at(&path))?;
        } else {
            remove_existing(&path)?;
            // `create_new`: never write through something that appeared at this path.
            let mut f =
                OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).map_err(io_at(&path))?;
            io::copy(&mut entry, &mut f).map_err(io_at(&path))?;
            f.set_permissions(Permissions::from_mode(mode)).map_err(io_at(&path))?;
            let mtime = entry.last_modified().and_then(|t| chrono::NaiveDateTime::try_from(t).ok());
            if let Some(t) = mtime {
                let _ = f.set_modified(SystemTime::from(t.and_utc()));
            }
        }
        written += 1;
    }
    // Directory modes last: a read-only directory would refuse the files extracted into it.
    for (path, mode) in dirs.into_iter().rev() {
        fs::set_permissions(&path, Permissions::from_mode(mode)).map_err(io_at(&path))?;
    }
    Ok((written, skipped))
}

/// An entry name as a relative path, or `None` for an absolute name or one with `..`.
pub fn safe_relative(name: &str) -> Option<PathBuf> {
    if name.starts_with('/') || name.contains('\0') {
        return None;
    }
    let comps: Vec<&str> = name.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
    (!comps.contains(&"..")).then(|| comps.iter().collect())
}

/// Creates the parent directories of `rel`, refusing to go through a symlink or a file.
fn make_parents(root: &Path, rel: &Path, name: &str) -> Result<(), ArchiveError> {
    let mut dir = root.to_path_buf();
    for c in rel.parent().into_iter().flat_map(Path::components) {
        dir.push(c);
        match fs::symlink_metadata(&dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(ArchiveError::Unsafe(name.to_string())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => match fs::create_dir(&dir) {
                Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(io_at(&dir)(e)),
                _ => {}
            },
            Err(e) => return Err(io_at(&dir)(e)),
        }
    }
    Ok(())
}

/// Removes a file or symlink at `path` (a directory there is an error).
fn remove_existing(path: &Path) -> Result<(), ArchiveError> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => Err(io_at(path)(io::Error::new(io::ErrorKind::AlreadyExists, "is a directory"))),
        Ok(_) => fs::remove_file(path).map_err(io_at(path)),
        Err(_) => Ok(()),
    }
}

/// Whether a symlink at `rel` to `target` resolves, lexically, inside the root.
fn symlink_stays_inside(rel: &Path, target: &str) -> bool {
    if target.is_empty() || target.starts_with('/') {
        return false;
    }
    let mut depth = rel.components().count() as i64 - 1;
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => depth -= 1,
            _ => depth += 1,
        }
        if depth < 0 {
            return false;
        }
    }
    true
}

/// A directory, not a symlink to one.
fn is_real_dir(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}

#[cfg(test)]
mod tests;
