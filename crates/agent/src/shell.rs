//! The shell executor: sources at the job's commit, then the `script` step and the
//! `after_script` step in bash, each in its own process group so that a timeout or a cancel kills
//! everything the job started (not only the shell). With a [`Sandbox`] every process of the job
//! (the fetch included) runs inside it; see [`crate::sandbox`].
//!
//! Output goes, raw, to an mpsc channel; masking and shipping are the caller's business
//! (see [`crate::trace`]), so this module never sees the coordinator.

use crate::sandbox::{JobDirs, JobSandbox, Sandbox};
use crate::script::{job_env, step_script};
use crate::step::{DiskWatch, StepEnd, run_group};
use autogit_protocol::{FailureReason, JobResponse, Step, StepWhen};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
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
    /// The job sandbox and this executor's slot in it (the slot picks the jobs' identity).
    /// `None`: jobs run as the runner, on the host (a runner without `[sandbox]`).
    pub sandbox: Option<(Arc<Sandbox>, usize)>,
    /// Where GPUs are detected (`/` on a real host): a sandboxed job gets its GPUs' device nodes.
    pub gpu_root: PathBuf,
}

impl ShellExecutor {
    /// A shell executor without a sandbox.
    pub fn unsandboxed(builds_dir: PathBuf) -> Self {
        ShellExecutor { builds_dir, git: "git".into(), sandbox: None, gpu_root: PathBuf::from("/") }
    }

    pub fn project_dir(&self, job: &JobResponse) -> PathBuf {
        crate::docker::builds_root(&self.builds_dir, job).join(crate::docker::project_path(job))
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
        let system_failure = Outcome::Failed { reason: FailureReason::RunnerSystemFailure, exit_code: None };
        let how = if self.sandbox.is_some() { "shell executor, sandboxed" } else { "shell executor" };
        say(format!("\x1b[0KRunning with autogit runner ({how}), job {}\n", job.id)).await;
        let mut jail = match &self.sandbox {
            None => None,
            Some((sandbox, slot)) => {
                let rel = PathBuf::from(crate::docker::project_path(job));
                let dirs = JobDirs { project: dir.clone(), tmp: tmp.clone(), rel };
                let devices = gpu_devices(job, &self.gpu_root).await;
                match sandbox.prepare(*slot, dirs, &server_urls(job), devices) {
                    Ok(j) => Some(j),
                    Err(e) => {
                        say(format!("\x1b[31;1mERROR: preparing the job's sandbox failed: {e}\x1b[0;m\n")).await;
                        return system_failure;
                    }
                }
            }
        };
        if let Err(e) = crate::sources::fetch(&self.git, job, &dir, &out, jail.as_ref()).await {
            say(format!("\x1b[31;1mERROR: fetching sources failed: {e}\x1b[0;m\n")).await;
            return system_failure;
        }
        if let Err(outcome) = stages.before_script(&dir, &out).await {
            return outcome;
        }
        // The paths jobs see: the host's, or the sandbox's own (`/builds/<project>`).
        let (env_dir, env_tmp, env_builds) = match &jail {
            Some(j) => (j.inside(&dir), j.inside(&tmp), PathBuf::from(crate::sandbox::BUILDS_INSIDE)),
            None => (dir.clone(), tmp.clone(), crate::docker::builds_root(&self.builds_dir, job)),
        };
        let mut env = job_env(&job.variables, &env_tmp);
        let host_files: Vec<(String, String)> = env
            .files
            .iter()
            .map(|(p, c)| (tmp.join(Path::new(p).file_name().unwrap_or_default()).display().to_string(), c.clone()))
            .collect();
        if let Err(e) = write_files(&tmp, &host_files).await {
            say(format!("\x1b[31;1mERROR: preparing variables failed: {e}\x1b[0;m\n")).await;
            return system_failure;
        }
        if let Some(j) = &jail
            && let Err(e) = j.adopt()
        {
            say(format!("\x1b[31;1mERROR: handing the build directory to the job's user failed: {e}\x1b[0;m\n")).await;
            return system_failure;
        }
        env.vars.push(("CI_PROJECT_DIR".into(), env_dir.display().to_string()));
        env.vars.push(("CI_BUILDS_DIR".into(), env_builds.display().to_string()));
        env.vars.push(("CI_SERVER".into(), "yes".into()));
        let default_timeout = Duration::from_secs(job.runner_info.timeout.max(1) as u64);

        let mut outcome = Outcome::Success;
        for step in job.steps.iter().filter(|s| s.name != "after_script") {
            if step.when == StepWhen::OnFailure {
                continue;
            }
            let timeout = step_timeout(step, default_timeout);
            match self.step(step, &dir, &env.vars, timeout, &out, &cancel, jail.as_mut()).await {
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
                StepEnd::Limit(why) => {
                    say(format!("\x1b[31;1mERROR: Job failed: {why}\x1b[0;m\n")).await;
                    outcome = Outcome::Failed { reason: FailureReason::ScriptFailure, exit_code: None };
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
            let never = CancellationToken::new();
            if let StepEnd::Exited(code) = self.step(after, &dir, &vars, timeout, &out, &never, jail.as_mut()).await
                && code != 0
            {
                say(format!("\x1b[33;1mWARNING: after_script failed with exit code {code}\x1b[0;m\n")).await;
            }
        }
        // Nothing of the job may run while the runner reads its directory for caches and
        // artifacts (a job's process could swap a file for a symlink meanwhile).
        drop(jail);
        let _ = tokio::fs::remove_dir_all(&tmp).await;
        let outcome = stages.after_script(&dir, outcome, &out).await;
        if outcome == Outcome::Success {
            say("\x1b[32;1mJob succeeded\x1b[0;m\n".into()).await;
        }
        outcome
    }

    #[allow(clippy::too_many_arguments)]
    async fn step(
        &self,
        step: &Step,
        dir: &Path,
        vars: &[(String, String)],
        timeout: Duration,
        out: &mpsc::Sender<Vec<u8>>,
        cancel: &CancellationToken,
        jail: Option<&mut JobSandbox>,
    ) -> StepEnd {
        let script = step_script(&step.script);
        let Some(jail) = jail else {
            let mut cmd = Command::new("bash");
            cmd.arg("-c")
                .arg(script)
                .current_dir(dir)
                .env_clear()
                .envs(base_env())
                .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            return run_group(cmd, None, timeout, out, cancel, None).await;
        };
        jail.step_started();
        let (cmd, input) = jail.command(&["bash".into(), "-c".into(), script], dir, vars);
        let disk = DiskWatch { dir: dir.to_path_buf(), limit: jail.disk_limit() };
        let end = run_group(cmd, Some(input), timeout, out, cancel, Some(disk)).await;
        jail.end_step();
        if jail.oom_killed() {
            let msg = format!(
                "\x1b[31;1mERROR: a process of the job used more than its memory limit of {} MiB and was killed\x1b[0;m\n",
                jail.memory_mib()
            );
            let _ = out.send(msg.into_bytes()).await;
        }
        end
    }
}

/// The URLs of the server a job uses (its API and clone URLs).
fn server_urls(job: &JobResponse) -> Vec<&str> {
    let mut urls: Vec<&str> = job
        .variables
        .iter()
        .filter(|v| matches!(v.key.as_str(), "CI_SERVER_URL" | "CI_API_V4_URL"))
        .map(|v| v.value.as_str())
        .collect();
    urls.push(job.git_info.repo_url.as_str());
    urls
}

/// The device nodes of the GPUs the coordinator gave the job (`AUTOGIT_GPU_KEYS`), as detected
/// on this host.
async fn gpu_devices(job: &JobResponse, root: &Path) -> Vec<PathBuf> {
    let Some(keys) = job.variables.iter().rev().find(|v| v.key == "AUTOGIT_GPU_KEYS") else { return Vec::new() };
    let keys: Vec<String> = keys.value.split(',').map(str::trim).filter(|k| !k.is_empty()).map(String::from).collect();
    if keys.is_empty() {
        return Vec::new();
    }
    let root = root.to_path_buf();
    let Ok(inv) = tokio::task::spawn_blocking(move || crate::inventory::detect_gpus(&root)).await else {
        return Vec::new();
    };
    let mut nodes: Vec<PathBuf> = Vec::new();
    for g in inv.gpus.iter().filter(|g| keys.contains(&g.key.to_string())) {
        for n in g.nodes.exclusive.iter().chain(&g.nodes.shared) {
            let p = PathBuf::from(n);
            if p.exists() && !nodes.contains(&p) {
                nodes.push(p);
            }
        }
    }
    nodes
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
