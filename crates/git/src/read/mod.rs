//! Repository browsing for the REST API: branches, tags, commits, trees and files.
//!
//! Every function takes the bare repository's path and untrusted revision/path strings from
//! requests. Revisions are validated ([`validate_rev`]) and then resolved to an object id through
//! `cat-file` on stdin, so only hex ids ever reach a command line; paths go after `--` and are
//! literal pathspecs. A missing ref or path is `Ok(None)`/empty, not an error, and a repository
//! without commits reads as empty. Dates are `chrono::DateTime<FixedOffset>` in the author's
//! own offset. Text is decoded as UTF-8, lossily (a commit's `encoding` header is not honoured).

mod archive;
mod commit;
mod diff;
mod history;
mod push_log;
mod refs;
mod snapshot;
mod tree;

pub use archive::{Archive, ArchiveFormat, archive};
pub use commit::{CommitInfo, commit, commits, count_commits};
pub(crate) use commit::{MAX_COMMIT_SIZE, parse_commit};
pub use diff::{MAX_PATCH, Patch, commit_patch, compare};
pub use history::last_commits;
pub use push_log::{PushCommit, push_commits};
pub use refs::{Branch, Tag, branch, branches, branches_containing, ref_names, tag, tags};
pub use snapshot::{MAX_SNAPSHOT_PATHS, MAX_YAML_BYTES, MAX_YAML_FILES, Snapshot};
pub use tree::{EntryKind, FileBlob, TreeEntry, file, tree};

use crate::catfile::CatFile;
use crate::cmd::{git_in, run, run_ok};
use crate::{Error, Result};
use std::path::Path;

/// Largest blob [`file()`] reads into memory.
pub const MAX_BLOB_SIZE: u64 = 10 << 20;
/// Longest revision expression accepted.
pub const MAX_REV_LEN: usize = 1100;
/// Longest repository path accepted.
pub const MAX_PATH_LEN: usize = 4096;

/// Accepts branch and tag names, object ids and suffixes like `~2` / `^{commit}`; rejects
/// whatever could be an option (`-…`), a range (`..`), a `rev:path` or `:/search` expression, a
/// commit-message regex search (`^{/…}`), reflog and upstream syntax (`@{1}`, `@{u}`,
/// `main@{upstream}`, `@{-1}`: they name old ref values, whose commits may be ones a force push
/// removed, or need a checkout's configuration, which a bare repository has not), whitespace and
/// control characters.
pub fn validate_rev(rev: &str) -> Result<()> {
    let ok = !rev.is_empty()
        && rev.len() <= MAX_REV_LEN
        && !rev.starts_with('-')
        && !rev.contains("..")
        && !rev.contains("{/")
        && !rev.contains("@{")
        && !rev.bytes().any(|b| b <= b' ' || b == 0x7f || b == b':' || b == b'\\');
    if ok { Ok(()) } else { Err(Error::InvalidRef(rev.chars().take(80).collect())) }
}

/// Normalises a repository path: surrounding slashes are dropped and an empty path means the
/// root (`None`). Empty, `.` and `..` segments are rejected rather than resolved, as are NUL and
/// newlines (which would break git's line-based stdin protocols).
pub fn normalize_path(path: Option<&str>) -> Result<Option<&str>> {
    let Some(p) = path.map(|p| p.trim_matches('/')).filter(|p| !p.is_empty()) else { return Ok(None) };
    let bad = p.len() > MAX_PATH_LEN || p.contains(['\0', '\n']) || p.split('/').any(|s| matches!(s, "" | "." | ".."));
    if bad { Err(Error::InvalidPath(p.chars().take(80).collect())) } else { Ok(Some(p)) }
}

/// The commit id `rev` resolves to (tags are peeled), or `None` if it names no commit.
pub async fn resolve(repo: &Path, rev: &str) -> Result<Option<String>> {
    validate_rev(rev)?;
    resolve_with(&mut CatFile::spawn(repo).await?, rev).await
}

pub(crate) async fn resolve_with(cat: &mut CatFile, rev: &str) -> Result<Option<String>> {
    validate_rev(rev)?;
    Ok(cat.info(&format!("{rev}^{{commit}}")).await?.map(|i| i.oid))
}

/// The branch HEAD points at (even if it has no commits yet); `None` if HEAD is detached.
pub async fn default_branch(repo: &Path) -> Result<Option<String>> {
    let mut cmd = git_in(repo);
    cmd.args(["symbolic-ref", "--quiet", "HEAD"]);
    let out = run(cmd, 1 << 16).await?;
    // Exit status 1 with --quiet means "not a symbolic ref"; anything else is a real failure.
    if out.status.code() == Some(1) {
        return Ok(None);
    }
    let out = out.ok("git symbolic-ref HEAD")?;
    let target = String::from_utf8_lossy(&out);
    Ok(target.trim_end().strip_prefix("refs/heads/").map(str::to_owned))
}

/// True when the repository has no branches (GitLab's notion of an empty repository).
pub async fn is_empty(repo: &Path) -> Result<bool> {
    let mut cmd = git_in(repo);
    cmd.args(["for-each-ref", "--count=1", "--format=x", "refs/heads/"]);
    Ok(run_ok(cmd, 1 << 16).await?.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revs() {
        for ok in ["main", "feature/x", "v1.0", "HEAD~2", "main^", "v1^{commit}", "0123abcd", "@", "user@host"] {
            assert!(validate_rev(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-n",
            "--all",
            "a..b",
            "a...b",
            "main:README",
            ":/fix",
            "HEAD^{/fix}",
            "a b",
            "a\nb",
            "a\0",
            "a\\b",
            "@{u}",
            "main@{upstream}",
            "HEAD@{1}",
            "@{-1}",
            "main@{yesterday}",
        ] {
            assert!(validate_rev(bad).is_err(), "{bad:?}");
        }
        assert!(validate_rev(&"a".repeat(MAX_REV_LEN + 1)).is_err());
    }

    #[test]
    fn paths() {
        assert_eq!(normalize_path(None).ok(), Some(None));
        assert_eq!(normalize_path(Some("/")).ok(), Some(None));
        assert_eq!(normalize_path(Some("/a/b/")).ok(), Some(Some("a/b")));
        assert_eq!(normalize_path(Some(":(exclude)x")).ok(), Some(Some(":(exclude)x")));
        for bad in ["a//b", "a/./b", "../x", "a/..", "a\nb", "a\0b"] {
            assert!(normalize_path(Some(bad)).is_err(), "{bad:?}");
        }
    }
}
