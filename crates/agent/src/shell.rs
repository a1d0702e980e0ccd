//! The shell executor: sources at the job's commit, then the `script` step and the
//! `after_script` step in bash, each in its own process group so that a timeout or a cancel kills
//! everything the job started (not only the shell).
//!
//! Output goes, raw, to an mpsc channel; masking and shipping are the caller's business
//! (see [`crate::trace`]), so this module never sees the coordinator.

use crate::script::{job_env, step_script};
use autogit_protocol::{FailureReason, JobResponse, Step, StepWhen};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// GitLab's cap for `after_script` (research §3.1: `AfterScriptTimeout`).
pub const AFTER_SCRIPT_TIMEOUT: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failed { reason: FailureReason, exit_code: Option<i32> },
    Canceled,
}

impl Outcome {
    /// The `CI_JOB_STATUS` value `after_script` sees.
    pub fn job_status(&self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failed { .. } => "failed",
            Outcome::Canceled => "canceled",
        }
    }
}

/// What the worker does in the project directory around the script: restore caches and fetch
/// dependencies' artifacts once the sources are in place (`git clean` would remove them
/// earlier), save caches and upload artifacts once after_script has run. Executors call it on
/// the host directory; [`NoStages`] runs the executor alone.
pub trait Stages: Sync {
    /// Before the first step; an `Err` ends the job with that outcome.
    fn before_script(
        &self,
        dir: &Path,
        out: &mpsc::Sender<Vec<u8>>,
    ) -> impl Future<Output = Result<(), Outcome>> + Send;
    /// After after_script; returns the outcome to report.
    fn after_script(
        &self,
        dir: &Path,
        outcome: Outcome,
        out: &mpsc::Sender<Vec<u8>>,
    ) -> impl Future<Output = Outcome> + Send;
}

pub struct NoStages;

impl Stages for NoStages {
    async fn before_script(&self, _: &Path, _: &mpsc::Sender<Vec<u8>>) -> Result<(), Outcome> {
        Ok(())
    }
    async fn after_script(&self, _: &Path, outcome: Outcome, _: &mpsc::Sender<Vec<u8>>) -> Outcome {
        outcome
    }
}

pub struct ShellExecutor {
    /// Where project working copies live (`<builds_dir>/<project path>`).
    pub builds_dir: PathBuf,
    pub git: String,
}

/// How one step ended.
enum StepEnd {
    Exited(i32),
    TimedOut,
    Canceled,
    Error(String),
}

impl ShellExecutor {
    pub fn project_dir(&self, job: &JobResponse) -> PathBuf {
        let path = if job.job_info.project_full_path.is_empty() {
            job.job_info.project_id.to_string()
        } else {
            job.job_info.project_full_path.clone()
        };
        self.builds_dir.join(path)
    }

    /// Runs the whole job. Never panics on job input; every failure is an [`Outcome`].
    pub async fn run(&self, job: &JobResponse, out: mpsc::Sender<Vec<u8>>, cancel: CancellationToken) -> Outcome {
        self.run_with(job, out, cancel, &NoStages).await
    }

    /// [`Self::run`] with the worker's [`Stages`] around the script.
    pub async fn run_with(
        &self,
        job: &JobResponse,
        out: mpsc::Sender<Vec<u8>>,
        cancel: CancellationToken,
        stages: &impl Stages,
    ) -> Outcome {
        let dir = self.project_dir(job);
        let tmp = dir.with_extension("tmp");
        let say = |s: String| {
            let out = out.clone();
            async move {
                let _ = out.send(s.into_bytes()).await;
            }
        };
        say(format!("\x1b[0KRunning with autogit runner (shell executor), job {}\n", job.id)).await;
        if let Err(e) = crate::sources::fetch(&self.git, job, &dir, &out).await {
            say(format!("\x1b[31;1mERROR: fetching sources failed: {e}\x1b[0;m\n")).await;
            return Outcome::Failed { reason: FailureReason::RunnerSystemFailure, exit_code: None };
        }
        if let Err(outcome) = stages.before_script(&dir, &out).await {
            return outcome;
        }
        let mut env = job_env(&job.variables, &tmp);
        if let Err(e) = write_files(&tmp, &env.files).await {
            say(format!("\x1b[31;1mERROR: preparing variables failed: {e}\x1b[0;m\n")).await;
            return Outcome::Failed { reason: FailureReason::RunnerSystemFailure, exit_code: None };
        }
        env.vars.push(("CI_PROJECT_DIR".into(), dir.display().to_string()));
        env.vars.push(("CI_BUILDS_DIR".into(), self.builds_dir.display().to_string()));
        env.vars.push(("CI_SERVER".into(), "yes".into()));
        let default_timeout = Duration::from_secs(job.runner_info.timeout.max(1) as u64);

        let mut outcome = Outcome::Success;
        for step in job.steps.iter().filter(|s| s.name != "after_script") {
            if step.when == StepWhen::OnFailure {
                continue;
            }
            let timeout = step_timeout(step, default_timeout);
            match self.step(step, &dir, &env.vars, timeout, &out, &cancel).await {
                StepEnd::Exited(0) => {}
                StepEnd::Exited(code) => {
                    say(format!("\x1b[31;1mERROR: Job failed: exit code {code}\x1b[0;m\n")).await;
                    outcome = Outcome::Failed { reason: FailureReason::ScriptFailure, exit_code: Some(code) };
                    break;
                }
                StepEnd::TimedOut => {
                    say(format!("\x1b[31;1mERROR: Job failed: execution took longer than {timeout:?}\x1b[0;m\n")).await;
                    outcome = Outcome::Failed { reason: FailureReason::JobExecutionTimeout, exit_code: None };
                    break;
                }
                StepEnd::Canceled => {
                    say("\x1b[31;1mERROR: Job was canceled\x1b[0;m\n".into()).await;
                    outcome = Outcome::Canceled;
                    break;
                }
                StepEnd::Error(e) => {
                    say(format!("\x1b[31;1mERROR: {e}\x1b[0;m\n")).await;
                    outcome = Outcome::Failed { reason: FailureReason::RunnerSystemFailure, exit_code: None };
                    break;
                }
            }
        }
        if let Some(after) = job.steps.iter().find(|s| s.name == "after_script" && !s.script.is_empty()) {
            let mut vars = env.vars.clone();
            vars.push(("CI_JOB_STATUS".into(), outcome.job_status().into()));
            say("\x1b[32;1mRunning after_script\x1b[0;m\n".into()).await;
            // after_script runs in a fresh shell, may fail without failing the job, and is not
            // stopped by the cancel that may have ended the script (it has its own cap).
            let timeout = step_timeout(after, AFTER_SCRIPT_TIMEOUT).min(AFTER_SCRIPT_TIMEOUT);
            if let StepEnd::Exited(code) = self.step(after, &dir, &vars, timeout, &out, &CancellationToken::new()).await
                && code != 0
            {
                say(format!("\x1b[33;1mWARNING: after_script failed with exit code {code}\x1b[0;m\n")).await;
            }
        }
        let _ = tokio::fs::remove_dir_all(&tmp).await;
        let outcome = stages.after_script(&dir, outcome, &out).await;
        if outcome == Outcome::Success {
            say("\x1b[32;1mJob succeeded\x1b[0;m\n".into()).await;
        }
        outcome
    }

    async fn step(
        &self,
        step: &Step,
        dir: &Path,
        vars: &[(String, String)],
        timeout: Duration,
        out: &mpsc::Sender<Vec<u8>>,
        cancel: &CancellationToken,
    ) -> StepEnd {
        let mut cmd = Command::new("bash");
        cmd.arg("-c")
            .arg(step_script(&step.script))
            .current_dir(dir)
            .env_clear()
            .envs(base_env())
            .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        run_group(cmd, timeout, out, cancel).await
    }
}

pub(crate) fn step_timeout(step: &Step, default: Duration) -> Duration {
    if step.timeout > 0 { Duration::from_secs(step.timeout as u64) } else { default }
}

/// The little of the runner's own environment a job inherits.
pub(crate) fn base_env() -> Vec<(String, String)> {
    ["PATH", "HOME", "LANG", "TMPDIR", "USER"]
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
        .collect()
}

pub(crate) async fn write_files(dir: &Path, files: &[(String, String)]) -> std::io::Result<()> {
    if files.is_empty() {
        return Ok(());
    }
    tokio::fs::create_dir_all(dir).await?;
    for (path, contents) in files {
        tokio::fs::write(path, contents).await?;
    }
    Ok(())
}

/// Runs a command in its own process group, streaming stdout and stderr to `out`; kills the
/// whole group on timeout or cancel.
async fn run_group(
    mut cmd: Command,
    timeout: Duration,
    out: &mpsc::Sender<Vec<u8>>,
    cancel: &CancellationToken,
) -> StepEnd {
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return StepEnd::Error(format!("starting bash: {e}")),
    };
    let pgid = child.id().map(|id| Pid::from_raw(id as i32));
    let readers = [
        child.stdout.take().map(|r| tokio::spawn(forward(r, out.clone()))),
        child.stderr.take().map(|r| tokio::spawn(forward(r, out.clone()))),
    ];
    let end = tokio::select! {
        status = child.wait() => match status {
            Ok(s) => StepEnd::Exited(s.code().unwrap_or(-1)),
            Err(e) => StepEnd::Error(format!("waiting for bash: {e}")),
        },
        _ = tokio::time::sleep(timeout) => StepEnd::TimedOut,
        _ = cancel.cancelled() => StepEnd::Canceled,
    };
    // Also after a normal exit: background processes the script left behind die with it.
    if let Some(pg) = pgid {
        let _ = killpg(pg, Signal::SIGKILL);
    }
    let _ = child.wait().await;
    for r in readers.into_iter().flatten() {
        let _ = r.await;
    }
    end
}

async fn forward(mut r: impl AsyncRead + Unpin, out: mpsc::Sender<Vec<u8>>) {
    let mut buf = vec![0u8; 16 * 1024];
    while let Ok(n) = r.read(&mut buf).await {
        if n == 0 || out.send(buf[..n].to_vec()).await.is_err() {
            break;
        }
    }
}
