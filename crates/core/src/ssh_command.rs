//! The command an SSH client asks AutoGit to run: only git's three transport commands on one
//! repository path, as OpenSSH clients send them (`git-upload-pack '/group/project.git'`).
//! Untrusted input: the path goes through the same checks as a git URL's ([`crate::repo_path`]),
//! quotes are OpenSSH's single quotes only, and anything else (a shell, other commands,
//! arguments, several paths) is refused with the reason.

use crate::repo_path::{PathError, split_full_path};
use thiserror::Error;

/// What an SSH exec request may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SshService {
    /// Clone and fetch.
    UploadPack,
    /// Push.
    ReceivePack,
    /// `git archive --remote`.
    UploadArchive,
}

/// A parsed exec request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshCommand {
    pub service: SshService,
    /// The project's full path, without a leading `/`, a trailing `/` or `.git`.
    pub full_path: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SshCommandError {
    #[error("only git clone, fetch and push are served over SSH")]
    NotGit,
    #[error("the command is not text")]
    NotText,
    #[error("the repository path is missing or malformed")]
    BadPath,
    #[error("invalid repository path: {0}")]
    Path(#[from] PathError),
}

/// The longest command line looked at.
const MAX_LEN: usize = 4096;

/// Parses `git-upload-pack '<path>'` (also `git upload-pack`, double or no quotes, as git and
/// other clients send it).
pub fn parse_ssh_command(raw: &[u8]) -> Result<SshCommand, SshCommandError> {
    if raw.len() > MAX_LEN {
        return Err(SshCommandError::NotGit);
    }
    let line = std::str::from_utf8(raw).map_err(|_| SshCommandError::NotText)?.trim();
    let (service, rest) = [
        ("git-upload-pack ", SshService::UploadPack),
        ("git upload-pack ", SshService::UploadPack),
        ("git-receive-pack ", SshService::ReceivePack),
        ("git receive-pack ", SshService::ReceivePack),
        ("git-upload-archive ", SshService::UploadArchive),
        ("git upload-archive ", SshService::UploadArchive),
    ]
    .iter()
    .find_map(|(prefix, s)| line.strip_prefix(prefix).map(|r| (*s, r.trim())))
    .ok_or(SshCommandError::NotGit)?;
    let path = unquote(rest).ok_or(SshCommandError::BadPath)?;
    let path = path.strip_prefix('/').unwrap_or(path);
    let path = path.strip_suffix('/').unwrap_or(path);
    let path = path.strip_suffix(".git").unwrap_or(path);
    let segments = split_full_path(path)?;
    if segments.len() < 2 {
        return Err(SshCommandError::BadPath);
    }
    Ok(SshCommand { service, full_path: path.to_string() })
}

/// One word: `'…'`, `"…"` or bare, with no quote, space or shell character inside.
fn unquote(word: &str) -> Option<&str> {
    let inner = match word.as_bytes() {
        [b'\'', .., b'\''] | [b'"', .., b'"'] if word.len() >= 2 => &word[1..word.len() - 1],
        _ => word,
    };
    let clean = !inner.is_empty()
        && !inner.chars().any(|c| c.is_whitespace() || c.is_control() || "'\"\\`$;&|<>*?(){}[]!#~".contains(c));
    clean.then_some(inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> SshCommand {
        parse_ssh_command(s.as_bytes()).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    #[test]
    fn the_forms_git_sends() {
        let want = SshCommand { service: SshService::UploadPack, full_path: "group/sub/proj".into() };
        assert_eq!(ok("git-upload-pack '/group/sub/proj.git'"), want);
        assert_eq!(ok("git-upload-pack 'group/sub/proj.git'"), want);
        assert_eq!(ok("git upload-pack \"/group/sub/proj\""), want);
        assert_eq!(ok("git-upload-pack group/sub/proj.git/"), want);
        assert_eq!(ok("git-receive-pack '/a/b.git'").service, SshService::ReceivePack);
        assert_eq!(ok("git-upload-archive '/a/b.git'").service, SshService::UploadArchive);
    }

    #[test]
    fn everything_else_is_refused() {
        for bad in [
            "",
            "sh",
            "rm -rf /",
            "git-upload-pack",
            "git-upload-pack ''",
            "git-upload-pack '/a/b.git' '/c/d.git'",
            "git-upload-pack '/a/b.git'; rm -rf /",
            "git-upload-pack '/a/../b.git'",
            "git-upload-pack '/a//b.git'",
            "git-upload-pack '/onlyone.git'",
            "git-upload-pack '/a/b%2e.git'",
            "git-upload-pack '$(id)/b'",
            "git-lfs-authenticate a/b download",
            "scp -t /tmp",
        ] {
            assert!(parse_ssh_command(bad.as_bytes()).is_err(), "{bad:?} was accepted");
        }
        assert_eq!(parse_ssh_command(&[0xff, 0xfe]), Err(SshCommandError::NotText));
    }
}
