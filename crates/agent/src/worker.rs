//! The runner's main loop: poll `jobs/request` on each of `concurrent` slots and run each job
//! ([`crate::job`]); send the final states kept on disk ([`crate::report::resend_kept`]); stop as
//! [`Shutdown`] says — a drain after the running jobs, an abort once they are stopped.

use crate::client::{Client, ClientError, Poll};
use crate::config::Timeouts;
use crate::docker::DockerExecutor;
use crate::inventory;
use crate::job::{JobStages, Slot};
use crate::pending::PendingStore;
use crate::sandbox::{Sandbox, SandboxConfig, SandboxError};
use crate::shell::{Outcome, ShellExecutor};
use crate::shutdown::Shutdown;
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
    /// Where job caches live (`<cache_dir>/<project path>/<key>/cache.zip`, see [`crate::cache`]).
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
    /// Where final states the coordinator has not confirmed are kept ([`PendingStore`]);
    /// `None` keeps them in memory only.
    pub pending_dir: Option<PathBuf>,
    /// Request timeout and how often kept states are sent again (the shutdown timeout is the
    /// caller's: it decides when to stop waiting).
    pub timeouts: Timeouts,
    /// TLS to the coordinator (CA, client certificate).
    pub tls: crate::config::TlsFiles,
}

/// The executor jobs run with.
pub(crate) enum Executor {
    Shell(ShellExecutor),
    Docker(DockerExecutor),
}

impl Executor {
    pub(crate) async fn run(
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

/// Runs until `shutdown` drains: no job is asked for after that, and this returns once the
/// running jobs have ended (finished, or stopped by an abort) and their states were sent or kept.
pub async fn run(cfg: WorkerConfig, shutdown: Shutdown) -> Result<(), WorkerError> {
    let client = Arc::new(Client::with_tls(&cfg.url, Duration::from_secs(cfg.timeouts.request_seconds), &cfg.tls)?);
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
    let kept = cfg.pending_dir.clone().map(|dir| Arc::new(PendingStore::new(dir)));
    let cfg = Arc::new(cfg);
    let refresher = {
        let (root, info, shutdown) = (cfg.gpu_root.clone(), info.clone(), shutdown.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(INVENTORY_REFRESH) => refresh_inventory(&root, &archs, &info).await,
                    _ = shutdown.draining() => return,
                }
            }
        })
    };
    // Final states an earlier run (or a job of this one) could not deliver.
    let resender = kept.clone().map(|store| {
        let (client, shutdown) = (client.clone(), shutdown.clone());
        let every = Duration::from_secs(cfg.timeouts.pending_retry_seconds.max(1));
        tokio::spawn(async move { crate::report::resend_kept(&client, &store, &shutdown, every).await })
    });
    let mut loops = tokio::task::JoinSet::new();
    for executor in executors {
        loops.spawn(poll_loop(client.clone(), cfg.clone(), info.clone(), executor, kept.clone(), shutdown.clone()));
    }
    let mut result = Ok(());
    while let Some(r) = loops.join_next().await {
        if let Ok(Err(e)) = r {
            shutdown.drain();
            result = Err(e.into());
        }
    }
    refresher.abort();
    if let Some(r) = resender {
        r.abort();
    }
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
    kept: Option<Arc<PendingStore>>,
    shutdown: Shutdown,
) -> Result<(), ClientError> {
    let slot = Slot { client: &client, cfg: &cfg, executor: &executor, shutdown: &shutdown, kept: kept.as_deref() };
    let mut last_update = None;
    while !shutdown.is_draining() {
        let req = JobRequest {
            token: cfg.token.clone(),
            system_id: Some(cfg.system_id.clone()),
            last_update: last_update.clone(),
            info: info.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone(),
            session: None,
        };
        let poll = tokio::select! {
            p = client.request_job(&req) => p,
            _ = shutdown.draining() => break,
        };
        match poll {
            Ok(Poll::Job(job)) => crate::job::run_job(&slot, *job).await,
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
                tracing::warn!(error = %crate::report::error_chain(&e), "job request failed");
                sleep_or(&shutdown, CHECK_INTERVAL).await;
            }
        }
    }
    Ok(())
}

async fn sleep_or(shutdown: &Shutdown, d: Duration) {
    tokio::select! {
        _ = tokio::time::sleep(d) => {},
        _ = shutdown.draining() => {},
    }
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
