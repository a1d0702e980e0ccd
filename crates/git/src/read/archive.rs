//! Repository archives (`GET /repository/archive[.format]`): `git archive` of one commit,
//! streamed as git writes it. Only a resolved commit id and a checked path reach git.

use crate::cmd::{git_in, spawn};
use crate::read::normalize_path;
use crate::{Error, Result};
use std::path::Path;
use tokio::process::{Child, ChildStdout};

/// The formats served: git's own (`tar`, `tar.gz` with git's internal gzip, `zip`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFormat {
    Tar,
    TarGz,
    Zip,
}

impl ArchiveFormat {
    /// GitLab's format names (`tar.gz` and its aliases `tgz` and `gz`, `tar`, `zip`); `None` for
    /// the others (bzip2 formats need an external compressor and are not offered).
    pub fn parse(name: &str) -> Option<ArchiveFormat> {
        match name {
            "tar.gz" | "tgz" | "gz" => Some(ArchiveFormat::TarGz),
            "tar" => Some(ArchiveFormat::Tar),
            "zip" => Some(ArchiveFormat::Zip),
            _ => None,
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            ArchiveFormat::Tar => "tar",
            ArchiveFormat::TarGz => "tar.gz",
            ArchiveFormat::Zip => "zip",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ArchiveFormat::Tar => "application/x-tar",
            ArchiveFormat::TarGz => "application/gzip",
            ArchiveFormat::Zip => "application/zip",
        }
    }
}

/// A running `git archive`: read `stdout` to the end; dropping it stops git.
pub struct Archive {
    pub stdout: ChildStdout,
    /// Held so that git is killed when the reader goes away.
    pub child: Child,
}

/// Starts `git archive` of `commit` (a full object id) below the top-level directory `prefix`
/// (a plain name: no slash, no `..`), limited to `path` when given.
pub async fn archive(
    repo: &Path,
    commit: &str,
    format: ArchiveFormat,
    prefix: &str,
    path: Option<&str>,
) -> Result<Archive> {
    if !crate::pktline::is_valid_oid(commit) {
        return Err(Error::InvalidRef(commit.to_string()));
    }
    if prefix.is_empty() || prefix.contains(['/', '\0', '\n']) || prefix == "." || prefix == ".." {
        return Err(Error::InvalidPath(prefix.to_string()));
    }
    let path = normalize_path(path)?;
    let mut cmd = git_in(repo);
    cmd.args(["archive", &format!("--format={}", format.extension()), &format!("--prefix={prefix}/"), commit]);
    if let Some(p) = path {
        cmd.args(["--", p]);
    }
    // Nobody reads its stderr while the archive streams, so none is kept (a full pipe would
    // stop git).
    cmd.stderr(std::process::Stdio::null());
    let mut child = spawn(&mut cmd)?;
    let stdout = child.stdout.take().ok_or_else(|| Error::Parse("git archive has no stdout".into()))?;
    Ok(Archive { stdout, child })
}
