//! The runner's main loop: poll `jobs/request`, run each job with the shell executor, ship its
//! trace incrementally, and report the final state — `concurrent` jobs at a time.

use crate::client::{Client, ClientError, JobState, Patched, Poll};
use crate::docker::DockerExecutor;
use crate::inventory;
use crate::sandbox::{Sandbox, SandboxConfig, SandboxError};
use crate::shell::{Outcome, ShellExecutor, Stages};
use crate::trace::TraceBuffer;
use crate::{artifacts, cache};
use autogit_protocol::*;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How long to wait before polling again when the server answered at once with no job (a server
/// without long polling); GitLab's runner default `check_interval`.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(3);
/// How often the trace is shipped while a job runs.
pub const TRACE_INTERVAL: Duration = Duration::from_millis(500);
/// Attempts at the final state report before giving up (the coordinator's lease then fails it).
pub const FINAL_UPDATE_ATTEMPTS: u32 = 10;

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub url: String,
    pub token: String,
    pub system_id: String,
    pub concurrent: usize,
    pub builds_dir: PathBuf,
    pub output_limit: usize,
    pub info: RunnerInfo,
    /// `None`: the shell executor; `Some(image)`: the docker executor with this default image.
    pub docker_image: Option<String>,
    /// Where job caches live (`<cache_dir>/<project path>/<key>/cache.zip`, see [`cache`]).
    pub cache_dir: PathBuf,
    /// Where GPUs are detected: `/` on a real host, a fixture tree in tests.
    pub gpu_root: PathBuf,
    /// Run jobs for this architecture only (checked by [`crate::config::check_architecture`]):
    /// the runner advertises just it, and docker jobs run in `linux/<it>` containers.
    pub architecture: Option<String>,
    /// Run the shell executor's jobs in the job sandbox ([`crate::sandbox`]); the runner does not
    /// start when the host cannot provide it.
    pub sandbox: Option<SandboxConfig>,
    /// Docker executor: job and service containers run privileged (an administrator's choice).
    pub docker_privileged: bool,
}

/// The executor jobs run with.
enum Executor {
    Shell(ShellExecutor),
    Docker(DockerExecutor),
}

impl Executor {
    async fn run(
        &self,
        job: &JobResponse,
        out: mpsc::Sender<Vec<u8>>,
        cancel: CancellationToken,
        stages: &JobStages<'_>,
    ) -> Outcome {
        match self {
            Executor::Shell(e) => e.run_with(job, out, cancel, stages).await,
            Executor::Docker(e) => e.run_with(job, out, cancel, stages).await,
        }
    }
}

/// Caches and artifacts around the script, in gitlab-runner's order: restore the cache, then
/// download the dependencies' artifacts; after after_script, save the cache, then upload.
struct JobStages<'a> {
    client: &'a Client,
    job: &'a JobResponse,
    cache_dir: &'a Path,
}

impl Stages for JobStages<'_> {
    async fn before_script(&self, dir: &Path, out: &mpsc::Sender<Vec<u8>>) -> Result<(), Outcome> {
        cache::restore(self.job, self.cache_dir, dir, out).await;
        artifacts::download_dependencies(self.client, self.job, dir, out).await
    }

    async fn after_script(&self, dir: &Path, outcome: Outcome, out: &mpsc::Sender<Vec<u8>>) -> Outcome {
        if outcome == Outcome::Canceled {
            return outcome;
        }
        cache::save(self.job, self.cache_dir, dir, &outcome, out).await;
        artifacts::upload(self.client, self.job, dir, outcome, out).await
    }
}

/// Runs until `shutdown` is cancelled; jobs in progress are finished first.
pub async fn run(cfg: WorkerConfig, shutdown: CancellationToken) -> Result<(), WorkerError> {
    let client = Arc::new(Client::new(&cfg.url)?);
    // One working directory per concurrent slot (gitlab-runner's `CI_CONCURRENT_ID` layout):
    // two jobs of one project running at once must not share a checkout.
    let slot_dir = |slot: usize| cfg.builds_dir.join(slot.to_string());
    let sandbox = match (&cfg.sandbox, &cfg.docker_image) {
        (Some(s), None) => {
            let runtime = cfg.builds_dir.with_file_name("sandbox");
            let sandbox = Sandbox::probe(s, &runtime, &cfg.system_id, &cfg.url).await?;
            tracing::info!(
                memory_mib = s.memory_mib,
                processes = s.max_processes,
                disk_mib = s.disk_mib,
                "job sandbox ready"
            );
            Some(Arc::new(sandbox))
        }
        _ => None,
    };
    let mut executors = Vec::new();
    for slot in 0..cfg.concurrent.max(1) {
        executors.push(Arc::new(match &cfg.docker_image {
            None => Executor::Shell(ShellExecutor {
                builds_dir: slot_dir(slot),
                git: "git".into(),
                sandbox: sandbox.clone().map(|s| (s, slot)),
                gpu_root: cfg.gpu_root.clone(),
            }),
            Some(image) => {
                let mut d = DockerExecutor::connect(slot_dir(slot), image.clone(), cfg.system_id.clone()).await?;
                d.gpu_root = cfg.gpu_root.clone();
                d.platform = cfg.architecture.as_ref().map(|a| format!("linux/{a}"));
                d.rules = crate::docker::ContainerRules {
                    privileged: cfg.docker_privileged,
                    memory_bytes: cfg
                        .sandbox
                        .as_ref()
                        .map_or(0, |s| i64::try_from(s.memory_mib << 20).unwrap_or(i64::MAX)),
                    pids: cfg.sandbox.as_ref().map_or(0, |s| i64::try_from(s.max_processes).unwrap_or(i64::MAX)),
                };
                if slot == 0 {
                    // Whatever a crashed run of this runner left behind goes first.
                    let stale = d.remove_stale().await?;
                    if stale > 0 {
                        tracing::info!(stale, "removed containers and networks left by an earlier run");
                    }
                }
                Executor::Docker(d)
            }
        }));
    }
    let info = Arc::new(std::sync::RwLock::new(cfg.info.clone()));
    // Only containers run under binfmt_misc QEMU handlers: a shell executor's jobs run natively.
    let archs = Advertised { emulates: cfg.docker_image.is_some(), only: cfg.architecture.clone() };
    refresh_inventory(&cfg.gpu_root, &archs, &info).await;
    let cfg = Arc::new(cfg);
    let refresher = {
        let (root, info, shutdown) = (cfg.gpu_root.clone(), info.clone(), shutdown.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(INVENTORY_REFRESH) => refresh_inventory(&root, &archs, &info).await,
                    _ = shutdown.cancelled() => return,
                }
            }
        })
    };
    let mut loops = tokio::task::JoinSet::new();
    for executor in executors {
        loops.spawn(poll_loop(client.clone(), cfg.clone(), info.clone(), executor, shutdown.clone()));
    }
    let mut result = Ok(());
    while let Some(r) = loops.join_next().await {
        if let Ok(Err(e)) = r {
            shutdown.cancel();
            result = Err(e.into());
        }
    }
    refresher.abort();
    result
}

/// How often GPUs and architectures are detected again; a change reaches the coordinator with
/// the next job request (and drains the GPUs that went away).
pub const INVENTORY_REFRESH: Duration = Duration::from_secs(60);

/// Which architectures a runner advertises.
#[derive(Debug, Clone, Default)]
pub struct Advertised {
    /// The ones binfmt_misc QEMU handlers emulate count too (the docker executor).
    pub emulates: bool,
    /// Exactly this one (the runner's configured `architecture`), whatever is detected.
    pub only: Option<String>,
}

/// Puts the current GPU inventory and architectures into `info.config`.
async fn refresh_inventory(root: &Path, archs: &Advertised, info: &std::sync::RwLock<RunnerInfo>) {
    let root = root.to_path_buf();
    let want = archs.clone();
    let detected = tokio::task::spawn_blocking(move || {
        let inv = inventory::detect_gpus(&root);
        (serde_json::to_value(&inv).ok(), advertised_architectures(inventory::architectures(&root), &want))
    })
    .await;
    let Ok((inv, archs)) = detected else { return };
    let mut info = info.write().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(inv) = inv {
        info.config.insert(inventory::INVENTORY_KEY.into(), inv);
    }
    info.config.insert(inventory::ARCHITECTURES_KEY.into(), serde_json::json!(archs));
}

/// The architectures a runner advertises, from [`inventory::architectures`] (native first): the
/// native one always; the ones binfmt_misc QEMU handlers emulate only when `emulates`; only the
/// configured one when there is one. A shell executor runs its jobs on the host, so an `arm64`
/// job given to it would run natively and fail; a container of an arm64 image runs through the
/// handler.
pub fn advertised_architectures(mut archs: Vec<String>, want: &Advertised) -> Vec<String> {
    if let Some(only) = &want.only {
        return vec![only.clone()];
    }
    if !want.emulates {
        archs.truncate(1);
    }
    archs
}

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("the Docker engine is not usable")]
    Docker(#[from] bollard::errors::Error),
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
}

async fn poll_loop(
    client: Arc<Client>,
    cfg: Arc<WorkerConfig>,
    info: Arc<std::sync::RwLock<RunnerInfo>>,
    executor: Arc<Executor>,
    shutdown: CancellationToken,
) -> Result<(), ClientError> {
    let mut last_update = None;
    while !shutdown.is_cancelled() {
        let req = JobRequest {
            token: cfg.token.clone(),
            system_id: Some(cfg.system_id.clone()),
            last_update: last_update.clone(),
            info: info.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone(),
            session: None,
        };
        let poll = tokio::select! {
            p = client.request_job(&req) => p,
            _ = shutdown.cancelled() => break,
        };
        match poll {
            Ok(Poll::Job(job)) => run_job(&client, &cfg, &executor, *job).await,
            Ok(Poll::NoJob { last_update: lu }) => {
                let unchanged = lu.is_some() && lu == last_update;
                last_update = lu;
                // A long-polling server already waited; an immediate "no job" needs a pause.
                if unchanged || last_update.is_none() {
                    sleep_or(&shutdown, CHECK_INTERVAL).await;
                }
            }
            Ok(Poll::Retry) => sleep_or(&shutdown, Duration::from_secs(1)).await,
            Err(ClientError::Forbidden) => return Err(ClientError::Forbidden),
            Err(e) => {
                tracing::warn!(error = %e, "job request failed");
                sleep_or(&shutdown, CHECK_INTERVAL).await;
            }
        }
    }
    Ok(())
}

async fn sleep_or(shutdown: &CancellationToken, d: Duration) {
    tokio::select! {
        _ = tokio::time::sleep(d) => {},
        _ = shutdown.cancelled() => {},
    }
}

fn update(token: &str, state: ReportedState) -> UpdateJobRequest {
    UpdateJobRequest {
        token: token.to_string(),
        state,
        failure_reason: None,
        exit_code: None,
        checksum: None,
        output: None,
        info: RunnerInfo::default(),
        gpu_usage: None,
    }
}

async fn run_job(client: &Client, cfg: &WorkerConfig, executor: &Executor, job: JobResponse) {
    let id = job.id;
    // Two-phase commit: confirm before running; a refusal means the job is not ours any more.
    match client.update_job(id, &update(&job.token, ReportedState::Running)).await {
        Ok(JobState::Abort) => return,
        Ok(_) => {}
        Err(e) => tracing::warn!(job = id, error = %e, "could not confirm the job; running it anyway"),
    }
    let mut secrets: Vec<String> = job.variables.iter().filter(|v| v.masked).map(|v| v.value.clone()).collect();
    secrets.push(job.token.clone());
    let mut trace = TraceBuffer::new(secrets, cfg.output_limit);
    let cancel = CancellationToken::new();
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(256);
    let stages = JobStages { client, job: &job, cache_dir: &cfg.cache_dir };
    let run = executor.run(&job, tx, cancel.clone(), &stages);
    tokio::pin!(run);
    let mut shipped = 0u64;
    let mut tick = tokio::time::interval(TRACE_INTERVAL);
    let mut last_contact = tokio::time::Instant::now();
    // Telemetry of the NVIDIA GPUs the coordinator gave the job (by UUID), when NVML loads.
    let gpu_uuids: Vec<String> = job
        .variables
        .iter()
        .rev()
        .find(|v| v.key == "AUTOGIT_GPU_KEYS")
        .map(|v| v.value.split(',').filter(|k| k.starts_with("GPU-")).map(String::from).collect())
        .unwrap_or_default();
    let sampler = if gpu_uuids.is_empty() {
        None
    } else {
        tokio::task::spawn_blocking(autogit_gpu::telemetry::Sampler::open).await.ok().flatten()
    };
    let mut usage = autogit_gpu::telemetry::UsageAccumulator::default();
    let outcome = loop {
        tokio::select! {
            outcome = &mut run => break outcome,
            Some(chunk) = rx.recv() => { trace.push(&chunk); }
            _ = tick.tick() => {
                if let Some(sampler) = &sampler {
                    usage.add(&sampler.sample(&gpu_uuids));
                }
                let state = match ship(client, &job, &trace, &mut shipped).await {
                    Some(state) => Some(state),
                    // Nothing to send: still tell the coordinator the job is alive, or its
                    // lease runs out (gitlab-runner's `touchJob`).
                    None if last_contact.elapsed() >= client.update_interval() => {
                        client.update_job(id, &update(&job.token, ReportedState::Running)).await.ok()
                    }
                    None => None,
                };
                if let Some(state) = state {
                    last_contact = tokio::time::Instant::now();
                    if state != JobState::Continue {
                        cancel.cancel();
                    }
                }
            }
        }
    };
    while let Ok(chunk) = rx.try_recv() {
        trace.push(&chunk);
    }
    trace.finish();
    ship(client, &job, &trace, &mut shipped).await;
    let mut report = match outcome {
        Outcome::Success => update(&job.token, ReportedState::Success),
        Outcome::Failed { reason, exit_code } => {
            UpdateJobRequest { failure_reason: Some(reason), exit_code, ..update(&job.token, ReportedState::Failed) }
        }
        Outcome::Canceled => return,
    };
    if !usage.is_empty() {
        report.gpu_usage = serde_json::to_value(usage.finish()).ok();
    }
    report.checksum = Some(trace.checksum());
    report.output = Some(TraceSummary { checksum: Some(trace.checksum()), bytesize: Some(trace.sent().len() as u64) });
    for attempt in 1..=FINAL_UPDATE_ATTEMPTS {
        match client.update_job(id, &report).await {
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(job = id, attempt, error = %e, "final update failed; retrying");
                tokio::time::sleep(Duration::from_secs(u64::from(attempt))).await;
            }
        }
    }
}

/// Sends what the server does not have yet; follows a `416` to the server's offset. `None`
/// when there was nothing to send (or the server could not be reached).
async fn ship(client: &Client, job: &JobResponse, trace: &TraceBuffer, shipped: &mut u64) -> Option<JobState> {
    let sent = trace.sent();
    let mut answered = None;
    for _ in 0..3 {
        let from = (*shipped as usize).min(sent.len());
        if from == sent.len() {
            return answered;
        }
        match client.patch_trace(job.id, &job.token, *shipped, sent[from..].to_vec()).await {
            Ok(Patched::Accepted { state }) => {
                *shipped = sent.len() as u64;
                return Some(state);
            }
            Ok(Patched::Resend { offset, state }) => {
                *shipped = offset;
                if state != JobState::Continue {
                    return Some(state);
                }
                answered = Some(state);
            }
            Err(e) => {
                tracing::warn!(job = job.id, error = %e, "trace update failed");
                return answered;
            }
        }
    }
    answered
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_docker_executor_advertises_emulated_architectures() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("proc/sys/fs/binfmt_misc");
        std::fs::create_dir_all(&dir).expect("mkdir");
        for qemu in ["aarch64", "riscv64", "x86_64"] {
            std::fs::write(dir.join(format!("qemu-{qemu}")), "enabled\nflags: POF\n").expect("write");
        }
        let native = inventory::gitlab_arch(std::env::consts::ARCH).to_string();
        let all = inventory::architectures(root.path());
        let shell = Advertised { emulates: false, only: None };
        let docker = Advertised { emulates: true, only: None };
        assert_eq!(advertised_architectures(all.clone(), &shell), vec![native.clone()]);
        let only = Advertised { emulates: true, only: Some("riscv64".into()) };
        assert_eq!(advertised_architectures(all.clone(), &only), vec!["riscv64".to_string()]);
        let docker = advertised_architectures(all, &docker);
        assert_eq!(docker[0], native);
        for arch in ["amd64", "arm64", "riscv64"] {
            assert!(docker.contains(&arch.to_string()), "{arch} in {docker:?}");
        }
        assert_eq!(advertised_architectures(Vec::new(), &shell), Vec::<String>::new());
    }

    #[tokio::test]
    async fn refresh_inventory_follows_the_executor() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("proc/sys/fs/binfmt_misc");
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("qemu-riscv64"), "enabled\n").expect("write");
        let native = inventory::gitlab_arch(std::env::consts::ARCH);
        for (emulates, want) in [(false, serde_json::json!([native])), (true, serde_json::json!([native, "riscv64"]))] {
            let info = std::sync::RwLock::new(RunnerInfo::default());
            refresh_inventory(root.path(), &Advertised { emulates, only: None }, &info).await;
            let info = info.read().expect("lock");
            assert_eq!(info.config[inventory::ARCHITECTURES_KEY], want, "emulates: {emulates}");
        }
    }
}
