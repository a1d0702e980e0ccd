//! The built-in shell runner of `autogit serve`, so that a fresh server runs pipelines with no
//! set-up (`ci.builtin_runner_concurrent = 0` turns it off). By default (`builtin_runner_mode =
//! "pool"`) it is an autoscaled pool named `builtin`: a local `autogit runner` process started
//! when jobs wait and stopped when idle. With `"in-process"` it is an instance runner registered
//! once (token in `<data_dir>/builtin-runner.toml`, mode 0600) and run inside the server by the
//! same agent code as `autogit runner run`, over loopback HTTP.
//!
//! Either way its jobs run in the job sandbox (`autogit_agent::sandbox`): another user, their
//! own namespaces, the data directory and the configuration file out of sight, the server
//! reachable only through its URL. [`check_sandbox`] runs first; where the host cannot provide
//! the sandbox, the built-in runner (and every `process` pool) stays off and `serve` says why.
//!
//! When the server stops, its in-process runner stops like `autogit runner run` on SIGTERM: its
//! running jobs are stopped and reported failed (`runner_system_failure`) while the server still
//! answers; a state it could not send is kept in `<data_dir>/builtin-runner.pending/` and sent
//! after the next start.

use anyhow::{Context, Result};
use autogit_agent::config::RunnerConfig;
use autogit_agent::pending::PendingStore;
use autogit_agent::sandbox::{Sandbox, SandboxConfig, SandboxError};
use autogit_agent::shutdown::Shutdown;
use autogit_agent::worker::{self, WorkerConfig};
use autogit_app::ci::runners::CreateRunner;
use autogit_app::{App, Principal};
use autogit_config::Config;
use autogit_store::RunnerSeen;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

const CONFIG_FILE: &str = "builtin-runner.toml";
/// The longest a stopping server waits for its in-process runner's jobs to be stopped and
/// reported (the runner's `timeouts.shutdown_seconds`, at most this).
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// The in-process runner while it runs.
pub struct InProcess {
    shutdown: Shutdown,
    worker: tokio::task::JoinHandle<()>,
    stop_timeout: Duration,
}

impl InProcess {
    /// Stops the runner's jobs and waits (bounded) until they were reported or kept on disk.
    pub async fn stop(self) {
        self.shutdown.abort("terminated");
        if tokio::time::timeout(self.stop_timeout, self.worker).await.is_err() {
            tracing::warn!(running = ?self.shutdown.running(), "built-in runner jobs not stopped in time");
        }
    }
}

/// The job sandbox of runners `serve` starts on its own host: `[ci.sandbox]`, with the data
/// directory, the configuration file and the secrets key file hidden.
pub fn sandbox_config(config: &Config, config_file: Option<&Path>) -> SandboxConfig {
    let s = &config.ci.sandbox;
    // The data directory, the configuration file, and the key file wherever it is (it may be
    // configured outside the data directory, e.g. below /etc).
    let mut hidden: Vec<PathBuf> = std::path::absolute(&config.data_dir).into_iter().collect();
    hidden.extend(config_file.and_then(|f| std::path::absolute(f).ok()));
    hidden.extend(std::path::absolute(config.secrets.key_file(&config.data_dir)).ok());
    SandboxConfig {
        memory_mib: s.memory_mib,
        max_processes: s.max_processes,
        disk_mib: s.disk_mib,
        tmp_mib: s.tmp_mib,
        uid_base: s.uid_base,
        read_only_paths: s.read_only_paths.clone(),
        hidden_paths: hidden,
    }
}

/// The `autogit runner register` arguments that give a runner this sandbox.
pub fn sandbox_args(c: &SandboxConfig) -> Vec<String> {
    let mut a = vec![
        "--sandbox".to_string(),
        format!("--sandbox-memory-mib={}", c.memory_mib),
        format!("--sandbox-max-processes={}", c.max_processes),
        format!("--sandbox-disk-mib={}", c.disk_mib),
        format!("--sandbox-tmp-mib={}", c.tmp_mib),
        format!("--sandbox-uid-base={}", c.uid_base),
    ];
    for p in &c.read_only_paths {
        a.push(format!("--sandbox-read-only={}", p.display()));
    }
    for p in &c.hidden_paths {
        a.push(format!("--sandbox-hide={}", p.display()));
    }
    a
}

/// Whether this host can run sandboxed jobs, checked with a trial job before any runner of
/// `serve`'s starts.
pub async fn check_sandbox(config: &Config, sandbox: &SandboxConfig, server_url: &str) -> Result<(), SandboxError> {
    let dir = config.data_dir.join("sandbox-check");
    // The name picks the trial job's cgroup: one per server process, so that two servers
    // starting on one host never run (and remove) their trial jobs in the same cgroup.
    let name = format!("serve-check-{}", std::process::id());
    let r = Sandbox::probe(sandbox, &dir, &name, server_url).await.map(|_| ());
    let _ = std::fs::remove_dir_all(&dir);
    r
}

/// The pool the built-in runner is in "pool" mode: scale from zero, one local process with
/// `builtin_runner_concurrent` slots, removed after 5 idle minutes, registered with `sandbox`.
/// `None` when disabled or when the configuration defines a pool of that name itself.
pub fn as_pool(config: &Config, sandbox: &SandboxConfig) -> Option<autogit_config::PoolConfig> {
    let slots = u32::try_from(config.ci.builtin_runner_concurrent).unwrap_or(u32::MAX);
    if slots == 0 || config.ci.pools.iter().any(|p| p.name == "builtin") {
        return None;
    }
    Some(autogit_config::PoolConfig {
        name: "builtin".into(),
        provider: autogit_config::PoolProvider::Process,
        run_untagged: true,
        min_idle: 0,
        max_instances: 1,
        capacity_per_instance: slots,
        idle_time_seconds: 300,
        register_args: sandbox_args(sandbox),
        ..autogit_config::PoolConfig::default()
    })
}

/// The server's own address as a runner on this host reaches it.
pub fn loopback_url(addr: SocketAddr) -> String {
    let host = if addr.ip().is_unspecified() {
        if addr.is_ipv4() { "127.0.0.1".to_string() } else { "[::1]".to_string() }
    } else if addr.is_ipv6() {
        format!("[{}]", addr.ip())
    } else {
        addr.ip().to_string()
    };
    format!("http://{host}:{}", addr.port())
}

/// Registers (or reuses) the built-in runner and starts its workers; `None` when disabled.
pub async fn start(app: &App, config: &Config, sandbox: SandboxConfig, addr: SocketAddr) -> Result<Option<InProcess>> {
    let concurrent = usize::try_from(config.ci.builtin_runner_concurrent).unwrap_or(1);
    if concurrent == 0 {
        tracing::info!("built-in runner disabled (ci.builtin_runner_concurrent = 0)");
        return Ok(None);
    }
    let url = loopback_url(addr);
    let path = config.data_dir.join(CONFIG_FILE);
    let builds_dir = std::path::absolute(config.data_dir.join("builds")).context("resolving the builds directory")?;
    let existing = RunnerConfig::load(&path).ok();
    let reusable = match &existing {
        Some(c) => app.system().verify_runner(&c.token, &RunnerSeen::default()).await.is_ok(),
        None => false,
    };
    let mut runner = match existing {
        Some(c) if reusable => c,
        _ => {
            let root =
                app.system().user_by_username("root").await.context("the built-in runner is registered as root")?;
            let issued = app
                .create_runner(
                    &Principal::trusted(root),
                    CreateRunner {
                        runner_type: "instance_type".into(),
                        description: "built-in shell runner".into(),
                        run_untagged: Some(true),
                        ..CreateRunner::default()
                    },
                )
                .await
                .context("registering the built-in runner")?;
            if path.exists() {
                std::fs::remove_file(&path).ok();
            }
            RunnerConfig {
                url: url.clone(),
                token: issued.token,
                id: issued.runner.id.get(),
                system_id: "builtin".into(),
                concurrent,
                builds_dir: builds_dir.clone(),
                executor: "shell".into(),
                docker_image: None,
                output_limit: autogit_agent::trace::DEFAULT_OUTPUT_LIMIT,
                cache_dir: None,
                gpu_root: None,
                architecture: None,
                sandbox: None,
                docker_privileged: false,
                timeouts: Default::default(),
                tls: Default::default(),
            }
        }
    };
    // The port may differ between starts (`--listen :0`); the rest is kept.
    runner.url = url;
    runner.concurrent = concurrent;
    runner.save(&path).with_context(|| format!("writing {}", path.display()))?;
    std::fs::create_dir_all(&builds_dir).with_context(|| format!("creating {}", builds_dir.display()))?;
    let cfg = WorkerConfig {
        url: runner.url.clone(),
        token: runner.token.clone(),
        system_id: runner.system_id.clone(),
        concurrent,
        builds_dir,
        output_limit: runner.output_limit,
        info: crate::runner::runner_info("shell"),
        docker_image: None,
        cache_dir: runner.cache_dir(),
        gpu_root: runner.gpu_root.clone().unwrap_or_else(|| std::path::PathBuf::from("/")),
        architecture: None,
        sandbox: Some(sandbox),
        docker_privileged: false,
        pending_dir: Some(PendingStore::beside(&path)),
        timeouts: runner.timeouts.clone(),
        tls: runner.tls.clone(),
    };
    tracing::info!(runner = runner.id, concurrent, "built-in shell runner started");
    let shutdown = Shutdown::new();
    let stop = shutdown.clone();
    let worker = tokio::spawn(async move {
        if let Err(e) = worker::run(cfg, stop).await {
            tracing::error!(error = %e, "built-in runner stopped");
        }
    });
    let stop_timeout = Duration::from_secs(runner.timeouts.shutdown_seconds).min(STOP_TIMEOUT);
    Ok(Some(InProcess { shutdown, worker, stop_timeout }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `[ci.sandbox]` (server configuration) and the runner's own `SandboxConfig` keep separate
    /// defaults (the agent depends on no server crate): they must be the same limits.
    #[test]
    fn the_servers_sandbox_defaults_are_the_runners() {
        let from_server = sandbox_config(&Config::default(), None);
        let runner = SandboxConfig::default();
        let limits = |c: &SandboxConfig| (c.memory_mib, c.max_processes, c.disk_mib, c.tmp_mib, c.uid_base);
        assert_eq!(limits(&from_server), limits(&runner));
        assert_eq!(from_server.read_only_paths, runner.read_only_paths);
    }
}
