//! Shared fixtures for the integration tests: a scratch working repository driven by the git CLI
//! with a fixed identity and dates, isolated from the developer's own git configuration.

#![allow(dead_code)]

use autogit_git::RepoStorage;
use std::path::{Path, PathBuf};
use std::process::Command;
use tempfile::TempDir;

/// A git command that ignores global/system config and has a fixed identity.
pub fn git_cmd(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Ann Author")
        .env("GIT_AUTHOR_EMAIL", "ann@example.com")
        .env("GIT_COMMITTER_NAME", "Carl Committer")
        .env("GIT_COMMITTER_EMAIL", "carl@example.com")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE");
    cmd
}

/// Runs git in `dir`, panicking on failure; returns trimmed stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = git_cmd(dir).args(args).output().expect("git runs");
    assert!(out.status.success(), "git {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A temporary directory holding repository storage and a working repository.
pub struct Fixture {
    pub tmp: TempDir,
    pub storage: RepoStorage,
    pub work: PathBuf,
}

impl Fixture {
    pub fn new() -> Self {
        let tmp = TempDir::new().expect("tempdir");
        let storage = RepoStorage::new(tmp.path().join("repos"));
        let work = tmp.path().join("work");
        std::fs::create_dir_all(&work).expect("mkdir");
        git(&work, &["init", "-q", "-b", "main"]);
        Self { tmp, storage, work }
    }

    pub fn write(&self, path: &str, content: &[u8]) {
        let p = self.work.join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, content).expect("write");
    }

    /// Commits everything with author/committer date `ts` (UTC+2); returns the commit id.
    pub fn commit(&self, message: &str, ts: i64) -> String {
        git(&self.work, &["add", "-A"]);
        self.commit_staged(message, ts)
    }

    /// Commits the index as it is.
    pub fn commit_staged(&self, message: &str, ts: i64) -> String {
        self.git_at(&["commit", "-q", "--allow-empty", "-m", message], ts);
        self.git(&["rev-parse", "HEAD"])
    }

    /// Runs git with author and committer (and so tagger) dates set to `ts` (UTC+2).
    pub fn git_at(&self, args: &[&str], ts: i64) {
        let date = format!("{ts} +0200");
        let out = git_cmd(&self.work)
            .args(args)
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date)
            .output()
            .expect("git");
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }

    pub fn git(&self, args: &[&str]) -> String {
        git(&self.work, args)
    }

    /// Pushes all branches and tags of the working repository into `bare`.
    pub fn push_all(&self, bare: &Path) {
        let bare = bare.to_str().expect("utf-8 path");
        self.git(&["push", "-q", bare, "refs/heads/*:refs/heads/*", "refs/tags/*:refs/tags/*"]);
    }

    /// A pack of everything reachable from `tip` and not from `exclude`, built by pack-objects.
    pub fn pack(&self, tip: &str, exclude: Option<&str>) -> Vec<u8> {
        use std::io::Write;
        let mut child = git_cmd(&self.work)
            .args(["pack-objects", "--stdout", "--revs", "-q"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("pack-objects");
        let mut input = format!("{tip}\n");
        if let Some(x) = exclude {
            input.push_str(&format!("^{x}\n"));
        }
        child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write revs");
        let out = child.wait_with_output().expect("pack-objects output");
        assert!(out.status.success());
        out.stdout
    }
}

pub const ZERO: &str = "0000000000000000000000000000000000000000";

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
