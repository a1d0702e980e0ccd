//! Spawning git: one place decides the environment every git child gets and how its output is
//! collected, so that no caller can forget a limit.
//!
//! The environment is cleared and rebuilt from `PATH` and `HOME` only: a server process may have
//! `GIT_DIR`, `GIT_WORK_TREE`, `GIT_CONFIG_*` or similar inherited from whoever launched it, and
//! any of those would silently redirect commands to the wrong repository or configuration.

use crate::{Error, Result};
use std::ffi::OsStr;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{ChildStderr, Command};
use tokio::task::JoinHandle;

/// How much of a child's stderr is kept for error messages.
pub const MAX_STDERR: usize = 64 << 10;
/// Cap on the stdout of listing commands (ls-tree, rev-list, for-each-ref) read into memory.
pub const MAX_LISTING: usize = 64 << 20;

/// `git` processes started by this process (every spawn goes through [`spawn`]).
static STARTED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many `git` processes this process has started (for `/metrics` and benchmarks).
pub fn processes_started() -> u64 {
    STARTED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Spawns `cmd`, counting it.
pub(crate) fn spawn(cmd: &mut Command) -> std::io::Result<tokio::process::Child> {
    STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    cmd.spawn()
}

/// A `git` command with a scrubbed environment, null stdin and piped stdout/stderr. The child is
/// killed if the handle is dropped, so an abandoned request never leaves git running.
pub(crate) fn git() -> Command {
    let mut cmd = Command::new("git");
    cmd.env_clear();
    for key in ["PATH", "HOME"] {
        if let Some(value) = std::env::var_os(key) {
            cmd.env(key, value);
        }
    }
    // Never wait for a password prompt: there is no terminal behind a server.
    cmd.env("GIT_TERMINAL_PROMPT", "0");
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    cmd
}

/// A git command operating on the bare repository `repo`. Pathspecs are literal: a user path
/// like `:(exclude)x` or `*.rs` names a file, never pathspec magic or a glob.
pub(crate) fn git_in(repo: &Path) -> Command {
    let mut cmd = git();
    cmd.arg("--literal-pathspecs").arg("--git-dir").arg(repo);
    cmd
}

/// Output of a finished command.
pub(crate) struct Output {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    /// stdout if the command succeeded, otherwise [`Error::GitFailed`].
    pub fn ok(self, label: &str) -> Result<Vec<u8>> {
        if self.status.success() { Ok(self.stdout) } else { Err(failed(label, self.status, &self.stderr)) }
    }
}

pub(crate) fn failed(label: &str, status: ExitStatus, stderr: &[u8]) -> Error {
    Error::GitFailed {
        cmd: label.to_owned(),
        status: status.code(),
        stderr: String::from_utf8_lossy(stderr).trim_end().to_owned(),
    }
}

/// A short description of a command for errors and logs: the git arguments without the
/// repository path (which would leak the storage layout into client-visible messages).
pub(crate) fn label(cmd: &Command) -> String {
    let mut out = String::from("git");
    let mut skip_next = false;
    for arg in cmd.as_std().get_args() {
        if std::mem::take(&mut skip_next) {
            continue;
        }
        skip_next = arg == OsStr::new("--git-dir");
        if !skip_next && arg != OsStr::new("--literal-pathspecs") {
            out.push(' ');
            out.push_str(&arg.to_string_lossy());
        }
    }
    out
}

/// Runs `cmd` to completion, keeping at most `stdout_cap` bytes of stdout: beyond that the child
/// is killed and [`Error::TooLarge`] returned, so a huge listing can't exhaust memory.
pub(crate) async fn run(mut cmd: Command, stdout_cap: usize) -> Result<Output> {
    let mut child = spawn(&mut cmd)?;
    let stderr = child.stderr.take().map(collect_stderr);
    let mut stdout = Vec::new();
    if let Some(out) = child.stdout.take() {
        let limit = u64::try_from(stdout_cap).unwrap_or(u64::MAX);
        out.take(limit.saturating_add(1)).read_to_end(&mut stdout).await?;
        if stdout.len() > stdout_cap {
            // Kill first: the child may be blocked writing to the pipe we stopped reading.
            let _ = child.kill().await;
            return Err(Error::TooLarge { size: stdout.len() as u64, limit });
        }
    }
    let status = child.wait().await?;
    let stderr = match stderr {
        Some(task) => task.await.unwrap_or_default(),
        None => Vec::new(),
    };
    Ok(Output { status, stdout, stderr })
}

/// Runs `cmd` and returns its stdout, or [`Error::GitFailed`] on a non-zero exit.
pub(crate) async fn run_ok(cmd: Command, stdout_cap: usize) -> Result<Vec<u8>> {
    let label = label(&cmd);
    run(cmd, stdout_cap).await?.ok(&label)
}

/// Reads a child's stderr to the end on a separate task, keeping the first [`MAX_STDERR`] bytes.
/// Draining it fully matters: a child whose stderr pipe fills up blocks forever.
pub(crate) fn collect_stderr(stderr: ChildStderr) -> JoinHandle<Vec<u8>> {
    tokio::spawn(read_capped(stderr, MAX_STDERR))
}

async fn read_capped(mut reader: impl AsyncRead + Unpin, cap: usize) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => return kept,
            Ok(n) => {
                let room = cap.saturating_sub(kept.len()).min(n);
                kept.extend_from_slice(&buf[..room]);
            }
        }
    }
}

/// Rejects paths that git would parse as an option when given as a positional argument.
pub(crate) fn positional(path: &Path) -> Result<&Path> {
    if path.as_os_str().as_encoded_bytes().first() == Some(&b'-') {
        return Err(Error::InvalidPath(path.display().to_string()));
    }
    Ok(path)
}
