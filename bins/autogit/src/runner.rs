//! `autogit runner …`: register this machine as a runner and run jobs. Uses only the agent
//! library and the wire protocol; nothing of the server runs in this mode.
//!
//! Signals are gitlab-runner's: SIGQUIT stops asking for jobs and exits 0 once the running ones
//! have finished and reported; SIGTERM or SIGINT (also during a SIGQUIT wait) stops the running
//! jobs, reports them failed (`runner_system_failure`) and exits; another signal then, or
//! `[timeouts] shutdown_seconds`, exits at once (status 1). Final states the server has not
//! confirmed are on disk (`<config>.pending/`) and are sent after a restart.

use anyhow::{Context, Result, bail};
use autogit_agent::config::RunnerConfig;
use autogit_agent::pending::PendingStore;
use autogit_agent::sandbox::SandboxConfig;
use autogit_agent::shutdown::Shutdown;
use autogit_agent::worker::{self, WorkerConfig, WorkerError};
use autogit_protocol::{RUNNER_TOKEN_PREFIX, RegisterRequest, RunnerInfo, TagList, VerifyRequest};
use clap::Subcommand;
use rand::Rng;
use rand::distr::Alphanumeric;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Subcommand)]
pub enum RunnerCommand {
    /// Register with a server and write the runner configuration file.
    Register(Box<RegisterArgs>),
    /// Run jobs until a signal: SIGQUIT lets the running jobs finish, SIGTERM/SIGINT stops them
    /// (a second signal exits at once).
    Run {
        #[arg(long, default_value = "./autogit-runner.toml")]
        runner_config: PathBuf,
    },
}

/// `autogit runner register` (boxed in [`RunnerCommand`]: it is much larger than `Run`).
#[derive(clap::Args)]
pub struct RegisterArgs {
    /// The AutoGit server URL.
    #[arg(long)]
    url: String,
    /// A runner authentication token (`glrt-…`, from `POST /api/v4/user/runners`) or a
    /// registration token (legacy flow).
    #[arg(long)]
    token: String,
    #[arg(long, default_value = "")]
    description: String,
    /// Comma-separated tags (legacy registration only; runners created by API carry theirs).
    #[arg(long, default_value = "")]
    tag_list: String,
    #[arg(long)]
    run_untagged: bool,
    #[arg(long, default_value = "./autogit-runner.toml")]
    runner_config: PathBuf,
    #[arg(long, default_value = "./autogit-builds")]
    builds_dir: PathBuf,
    #[arg(long, default_value_t = 1)]
    concurrent: usize,
    /// Use the docker executor with this default image (jobs' `image:` overrides it).
    #[arg(long)]
    docker_image: Option<String>,
    /// Detect GPUs under this directory instead of `/` (fixture trees, chroots).
    #[arg(long)]
    gpu_root: Option<PathBuf>,
    /// Run jobs for this architecture only (GitLab's names: amd64, arm64, riscv64…); a
    /// foreign one needs `--docker-image` (job containers run under QEMU user emulation).
    #[arg(long)]
    arch: Option<String>,
    #[command(flatten)]
    sandbox: SandboxArgs,
    /// Docker executor: run job and service containers privileged (off by default).
    #[arg(long)]
    docker_privileged: bool,
    /// PEM CA certificate(s) the server's certificate must chain to, instead of the system's
    /// roots (gitlab-runner's `--tls-ca-file`).
    #[arg(long)]
    tls_ca_file: Option<PathBuf>,
    /// PEM client certificate for mutual TLS (the server's `tls.runner_listen`).
    #[arg(long, requires = "tls_key_file")]
    tls_cert_file: Option<PathBuf>,
    /// PEM private key of `--tls-cert-file`.
    #[arg(long, requires = "tls_cert_file")]
    tls_key_file: Option<PathBuf>,
}

/// `--sandbox` and its limits: shell jobs run in the job sandbox (bubblewrap + pasta, another
/// user, cgroup limits); the memory and process limits also apply to docker jobs' containers.
#[derive(clap::Args)]
pub struct SandboxArgs {
    /// Run shell jobs in the job sandbox; `autogit runner run` refuses to start where the host
    /// cannot provide it.
    #[arg(long)]
    sandbox: bool,
    /// Memory of a job's processes together, in MiB (0: no limit).
    #[arg(long)]
    sandbox_memory_mib: Option<u64>,
    /// Processes and threads of a job at once.
    #[arg(long)]
    sandbox_max_processes: Option<u64>,
    /// Size of a job's build directory, in MiB.
    #[arg(long)]
    sandbox_disk_mib: Option<u64>,
    /// Size of a job's /tmp and home directory, in MiB.
    #[arg(long)]
    sandbox_tmp_mib: Option<u64>,
    /// As root, slot N's jobs run as uid/gid BASE + N.
    #[arg(long)]
    sandbox_uid_base: Option<u32>,
    /// A host path jobs see read-only (repeatable).
    #[arg(long)]
    sandbox_read_only: Vec<PathBuf>,
    /// A host path jobs never see, even below a read-only one (repeatable).
    #[arg(long)]
    sandbox_hide: Vec<PathBuf>,
}

impl SandboxArgs {
    fn config(self) -> Result<Option<SandboxConfig>> {
        if !self.sandbox {
            return Ok(None);
        }
        let d = SandboxConfig::default();
        let absolute = |paths: Vec<PathBuf>| -> Result<Vec<PathBuf>> {
            paths.into_iter().map(|p| std::path::absolute(&p).context("resolving a sandbox path")).collect()
        };
        Ok(Some(SandboxConfig {
            memory_mib: self.sandbox_memory_mib.unwrap_or(d.memory_mib),
            max_processes: self.sandbox_max_processes.unwrap_or(d.max_processes),
            disk_mib: self.sandbox_disk_mib.unwrap_or(d.disk_mib),
            tmp_mib: self.sandbox_tmp_mib.unwrap_or(d.tmp_mib),
            uid_base: self.sandbox_uid_base.unwrap_or(d.uid_base),
            read_only_paths: absolute(self.sandbox_read_only)?,
            hidden_paths: absolute(self.sandbox_hide)?,
        }))
    }
}

/// What this runner tells the server about itself.
pub fn runner_info(executor: &str) -> RunnerInfo {
    let arch = autogit_agent::inventory::gitlab_arch(std::env::consts::ARCH);
    let features: BTreeMap<String, bool> = [
        "variables",
        "raw_variables",
        "masking",
        "return_exit_code",
        "cancelable",
        "two_phase_job_commit",
        "trace_reset",
        "trace_checksum",
        "trace_size",
        "multi_build_steps",
        // Zip artifacts (not reports) and the local cache: see autogit_agent::{artifacts, cache}.
        "artifacts",
        "artifacts_exclude",
        "cache",
        "fallback_cache_keys",
    ]
    .into_iter()
    .map(|f| (f.to_string(), true))
    .collect();
    RunnerInfo {
        name: "autogit-runner".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        platform: std::env::consts::OS.into(),
        architecture: arch.into(),
        executor: executor.into(),
        shell: if executor == "docker" { "sh".into() } else { "bash".into() },
        features,
        ..RunnerInfo::default()
    }
}

/// What `register` tells the server: the runner's `info` with its GPU inventory and the
/// architectures it runs (emulated ones only with the docker executor; only `arch` when set), as
/// job requests carry.
fn registration_info(docker: bool, gpu_root: Option<&std::path::Path>, arch: Option<&str>) -> RunnerInfo {
    use autogit_agent::inventory;
    let mut info = runner_info(if docker { "docker" } else { "shell" });
    let root = gpu_root.unwrap_or(std::path::Path::new("/"));
    if let Ok(v) = serde_json::to_value(inventory::detect_gpus(root)) {
        info.config.insert(inventory::INVENTORY_KEY.into(), v);
    }
    let want = worker::Advertised { emulates: docker, only: arch.map(str::to_string) };
    let archs = worker::advertised_architectures(inventory::architectures(root), &want);
    info.config.insert(inventory::ARCHITECTURES_KEY.into(), serde_json::json!(archs));
    info
}

pub async fn run(command: RunnerCommand) -> Result<()> {
    match command {
        RunnerCommand::Register(args) => {
            let RegisterArgs {
                url,
                token,
                description,
                tag_list,
                run_untagged,
                runner_config,
                builds_dir,
                concurrent,
                docker_image,
                gpu_root,
                arch,
                sandbox,
                docker_privileged,
                tls_ca_file,
                tls_cert_file,
                tls_key_file,
            } = *args;
            let tls = autogit_agent::config::TlsFiles {
                ca_file: tls_ca_file.map(|p| std::path::absolute(&p)).transpose()?,
                cert_file: tls_cert_file.map(|p| std::path::absolute(&p)).transpose()?,
                key_file: tls_key_file.map(|p| std::path::absolute(&p)).transpose()?,
            };
            let sandbox = sandbox.config()?;
            if let Some(a) = &arch {
                autogit_agent::config::check_architecture(a, docker_image.is_some()).map_err(anyhow::Error::msg)?;
            }
            let client = autogit_agent::client::Client::with_tls(&url, Duration::from_secs(30), &tls)?;
            let system_id =
                format!("r_{}", rand::rng().sample_iter(Alphanumeric).take(12).map(char::from).collect::<String>());
            let details = if token.starts_with(RUNNER_TOKEN_PREFIX) {
                client
                    .verify(&VerifyRequest {
                        token,
                        system_id: Some(system_id.clone()),
                        info: registration_info(docker_image.is_some(), gpu_root.as_deref(), arch.as_deref()),
                    })
                    .await?
            } else {
                let req = RegisterRequest {
                    token,
                    description,
                    tag_list: TagList(
                        tag_list.split(',').map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect(),
                    ),
                    run_untagged: Some(run_untagged),
                    info: registration_info(docker_image.is_some(), gpu_root.as_deref(), arch.as_deref()),
                    ..RegisterRequest::default()
                };
                client.register(&req).await?
            };
            let builds_dir = std::path::absolute(&builds_dir).context("resolving --builds-dir")?;
            let config = RunnerConfig {
                url,
                token: details.token,
                id: details.id,
                system_id,
                concurrent,
                builds_dir,
                executor: if docker_image.is_some() { "docker".into() } else { "shell".into() },
                docker_image,
                output_limit: autogit_agent::trace::DEFAULT_OUTPUT_LIMIT,
                cache_dir: None,
                gpu_root: gpu_root.map(|p| std::path::absolute(&p)).transpose().context("resolving --gpu-root")?,
                architecture: arch,
                sandbox,
                docker_privileged,
                timeouts: Default::default(),
                tls,
            };
            config.save(&runner_config)?;
            println!("registered runner {} ; configuration written to {}", details.id, runner_config.display());
            Ok(())
        }
        RunnerCommand::Run { runner_config } => {
            // First: a SIGQUIT that came before the handlers would kill the process outright.
            let signals = Signals::install()?;
            let c = RunnerConfig::load(&runner_config)?;
            if c.concurrent == 0 {
                bail!("concurrent must be at least 1");
            }
            std::fs::create_dir_all(&c.builds_dir).with_context(|| format!("creating {}", c.builds_dir.display()))?;
            let runner_config = std::path::absolute(&runner_config).context("resolving --runner-config")?;
            let cfg = WorkerConfig {
                cache_dir: c.cache_dir(),
                gpu_root: c.gpu_root.clone().unwrap_or_else(|| PathBuf::from("/")),
                url: c.url,
                token: c.token,
                system_id: c.system_id,
                concurrent: c.concurrent,
                builds_dir: c.builds_dir,
                output_limit: c.output_limit,
                info: {
                    let mut info = runner_info(&c.executor);
                    if let Some(a) = &c.architecture {
                        info.architecture.clone_from(a);
                    }
                    info
                },
                docker_image: c.docker_image,
                architecture: c.architecture,
                sandbox: c.sandbox,
                docker_privileged: c.docker_privileged,
                pending_dir: Some(PendingStore::beside(&runner_config)),
                timeouts: c.timeouts.clone(),
                tls: c.tls.clone(),
            };
            tracing::info!(runner = c.id, concurrent = cfg.concurrent, "runner started");
            let containers = cfg.docker_image.clone().map(|image| Containers {
                builds_dir: cfg.builds_dir.clone(),
                image,
                system_id: cfg.system_id.clone(),
            });
            let shutdown = Shutdown::new();
            let worker = worker::run(cfg, shutdown.clone());
            signals.supervise(worker, &shutdown, Duration::from_secs(c.timeouts.shutdown_seconds), containers).await
        }
    }
}

/// A docker runner's containers: not in any process group of the runner, so exiting at once
/// removes them (by the runner's label) before the process goes.
struct Containers {
    builds_dir: PathBuf,
    image: String,
    system_id: String,
}

impl Containers {
    async fn remove(self) {
        let removal = async {
            let d = autogit_agent::docker::DockerExecutor::connect(self.builds_dir, self.image, self.system_id).await?;
            d.remove_stale().await
        };
        match tokio::time::timeout(Duration::from_secs(5), removal).await {
            Ok(Ok(n)) if n > 0 => tracing::warn!(removed = n, "removed the running jobs' containers and networks"),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "could not remove the jobs' containers; the next start removes them")
            }
            Err(_) => tracing::warn!("removing the jobs' containers took too long; the next start removes them"),
        }
    }
}

/// The stop signals, caught from the start of `runner run`.
struct Signals {
    quit: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            quit: signal(SignalKind::quit()).context("catching SIGQUIT")?,
            term: signal(SignalKind::terminate()).context("catching SIGTERM")?,
            int: signal(SignalKind::interrupt()).context("catching SIGINT")?,
        })
    }

    /// Runs `worker` and stops it as the signals say (see the module documentation).
    async fn supervise(
        mut self,
        worker: impl Future<Output = Result<(), WorkerError>>,
        shutdown: &Shutdown,
        shutdown_timeout: Duration,
        containers: Option<Containers>,
    ) -> Result<()> {
        tokio::pin!(worker);
        // gitlab-runner names the signal in the trace of the jobs it stops (Go's names).
        let why = loop {
            tokio::select! {
                r = &mut worker => return Ok(r?),
                _ = self.quit.recv() => {
                    tracing::warn!(running = ?shutdown.running(), "SIGQUIT: graceful shutdown; no new jobs, waiting for the running ones (SIGTERM stops them)");
                    shutdown.drain();
                }
                _ = self.term.recv() => break "terminated",
                _ = self.int.recv() => break "interrupt",
            }
        };
        tracing::warn!(running = ?shutdown.running(), timeout = ?shutdown_timeout, "forceful shutdown ({why}): stopping the running jobs (another signal exits at once)");
        shutdown.abort(why);
        let forced = tokio::select! {
            r = &mut worker => return Ok(r?),
            _ = tokio::time::sleep(shutdown_timeout) => "the shutdown timeout passed",
            _ = self.quit.recv() => "SIGQUIT",
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        };
        // The jobs keep their abort states on disk as soon as they see the abort; give that a
        // moment, never more.
        let _ = tokio::time::timeout(Duration::from_secs(1), shutdown.persisted()).await;
        tracing::warn!(running = ?shutdown.running(), "{forced}: exiting at once; unsent final states are kept and sent after a restart");
        autogit_agent::step::kill_live_groups();
        if let Some(c) = containers {
            c.remove().await;
        }
        std::process::exit(1);
    }
}
