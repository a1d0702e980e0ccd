//! Running one process of a job: in its own process group (a timeout or a cancel kills
//! everything it started), output streamed as it comes, and — in a sandbox — the environment
//! written to its standard input and the build directory's size watched.

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How often a sandboxed job's build directory is measured against its size limit.
pub const DISK_CHECK_INTERVAL: Duration = Duration::from_secs(2);

/// The process groups of the steps running now, so that a runner exiting at once (a second
/// signal) takes them with it: `process::exit` runs no destructor, and a step's group would
/// otherwise outlive the runner, still running the job.
static LIVE_GROUPS: Mutex<Option<HashSet<i32>>> = Mutex::new(None);

/// Kills the process group of every step running now. For a runner about to exit at once.
pub fn kill_live_groups() {
    let groups = LIVE_GROUPS.lock().unwrap_or_else(|e| e.into_inner());
    for pg in groups.iter().flatten() {
        let _ = killpg(Pid::from_raw(*pg), Signal::SIGKILL);
    }
}

/// A step's process group while it lives: registered for [`kill_live_groups`], killed whole
/// (with what the script left in the background) and forgotten when dropped, on every path.
struct LiveGroup(Pid);

impl LiveGroup {
    fn new(pg: Pid) -> Self {
        LIVE_GROUPS.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert_with(HashSet::new).insert(pg.as_raw());
        LiveGroup(pg)
    }
}

impl Drop for LiveGroup {
    fn drop(&mut self) {
        let _ = killpg(self.0, Signal::SIGKILL);
        if let Some(g) = LIVE_GROUPS.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            g.remove(&self.0.as_raw());
        }
    }
}

/// How one step ended.
#[derive(Debug, PartialEq, Eq)]
pub enum StepEnd {
    Exited(i32),
    TimedOut,
    Canceled,
    /// Stopped for crossing a sandbox limit; the text says which.
    Limit(String),
    Error(String),
}

/// A size limit on a directory, checked while the step runs.
#[derive(Debug, Clone)]
pub struct DiskWatch {
    pub dir: PathBuf,
    pub limit: u64,
}

/// Runs `cmd` in a process group of its own, streaming stdout and stderr to `out`; kills the
/// whole group on timeout, cancel or a crossed disk limit. `input` is written to its stdin.
pub async fn run_group(
    mut cmd: Command,
    input: Option<Vec<u8>>,
    timeout: Duration,
    out: &mpsc::Sender<Vec<u8>>,
    cancel: &CancellationToken,
    disk: Option<DiskWatch>,
) -> StepEnd {
    cmd.stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return StepEnd::Error(format!("starting the step: {e}")),
    };
    let group = child.id().map(|id| LiveGroup::new(Pid::from_raw(id as i32)));
    if let (Some(bytes), Some(mut stdin)) = (input, child.stdin.take()) {
        // Dropped at the end of the block: the reader sees end-of-file after the environment.
        if let Err(e) = stdin.write_all(&bytes).await {
            return StepEnd::Error(format!("passing the job's environment to the sandbox: {e}"));
        }
    }
    let readers = [
        child.stdout.take().map(|r| tokio::spawn(forward(r, out.clone()))),
        child.stderr.take().map(|r| tokio::spawn(forward(r, out.clone()))),
    ];
    let over_limit = async {
        let Some(w) = disk else { return std::future::pending().await };
        loop {
            tokio::time::sleep(DISK_CHECK_INTERVAL).await;
            let dir = w.dir.clone();
            let used = tokio::task::spawn_blocking(move || crate::sandbox::host::disk_usage(&dir)).await.unwrap_or(0);
            if used > w.limit {
                return StepEnd::Limit(format!(
                    "the build directory grew to {} MiB, past the limit of {} MiB",
                    used >> 20,
                    w.limit >> 20
                ));
            }
        }
    };
    let end = tokio::select! {
        status = child.wait() => match status {
            Ok(s) => StepEnd::Exited(s.code().unwrap_or(-1)),
            Err(e) => StepEnd::Error(format!("waiting for the step: {e}")),
        },
        _ = tokio::time::sleep(timeout) => StepEnd::TimedOut,
        _ = cancel.cancelled() => StepEnd::Canceled,
        limit = over_limit => limit,
    };
    // Also after a normal exit: background processes the script left behind die with it.
    drop(group);
    let _ = child.wait().await;
    for r in readers.into_iter().flatten() {
        let _ = r.await;
    }
    end
}

/// Runs `cmd` to completion with `input` on its stdin, collecting its output.
pub async fn output_with_input(cmd: &mut Command, input: Vec<u8>) -> std::io::Result<std::process::Output> {
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    let mut child = cmd.spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(&input).await?;
    }
    child.wait_with_output().await
}

async fn forward(mut r: impl AsyncRead + Unpin, out: mpsc::Sender<Vec<u8>>) {
    let mut buf = vec![0u8; 16 * 1024];
    while let Ok(n) = r.read(&mut buf).await {
        if n == 0 || out.send(buf[..n].to_vec()).await.is_err() {
            break;
        }
    }
}
