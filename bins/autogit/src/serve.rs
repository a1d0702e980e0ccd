//! `autogit serve`: bootstrap on first start, then serve HTTP until SIGINT/SIGTERM.

use crate::{autoscaler, builtin_runner, setup};
use anyhow::{Context, Result};
use autogit_app::ci::CiSettings;
use autogit_app::webhooks::WebhookSettings;
use autogit_app::{App, PushSettings};
use autogit_config::Config;
use autogit_git::hooks::ServerHooks;
use autogit_http::{AppState, ConnectionSettings, HttpConfig, MetricsAccess, ProxyAuth, Tls};
use autogit_webhook_client::HttpHookTransport;
use rand::Rng;
use rand::distr::Alphanumeric;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const ROOT_PASSWORD_FILE: &str = "initial_root_password";

pub async fn run(config: Config, config_file: Option<std::path::PathBuf>) -> Result<()> {
    setup::init_logging(&config);
    tracing::info!(?config, "starting");
    let app = setup::open_app(&config).await?;
    crate::data_dir::warn_loose(&config);
    let app = crate::secrets_key::attach(app, &config).await?;
    crate::secrets_key::seal_at_start(&app).await?;
    // Every push runs the server's own hooks only; `hook pre-receive` of this binary enforces
    // protected branches.
    let exe = std::env::current_exe().context("locating the autogit binary for the push hook")?;
    let hooks = ServerHooks::install(&config.data_dir.join("git-hooks"), &exe).context("installing the push hooks")?;
    let app = app.with_push_hooks(hooks);
    bootstrap_root(&app, &config).await?;

    let tls = match config.tls.enabled() {
        true => {
            let t = &config.tls;
            Some(Tls::load(&t.cert_file, &t.key_file, None).map_err(anyhow::Error::msg).context("tls")?)
        }
        false => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let listener = bind(&config.listen).with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    let external_url = if config.external_url.is_empty() {
        // A wildcard bind address is not a place clients can reach; name this host instead.
        let host = if addr.ip().is_unspecified() { "localhost".to_string() } else { addr.ip().to_string() };
        let host = if host.contains(':') { format!("[{host}]") } else { host };
        format!("{scheme}://{host}:{}", addr.port())
    } else {
        config.external_url.trim_end_matches('/').to_string()
    };
    let shutdown = CancellationToken::new();
    let ssh_bound = crate::ssh::bind(&config, &external_url)?;
    let ssh_clone_base = ssh_bound.as_ref().map(|b| b.clone_base.clone());
    let http = HttpConfig {
        external_url: external_url.clone(),
        max_push_bytes: config.git.max_push_bytes,
        max_fetch_request_bytes: config.git.max_fetch_request_bytes,
        connections: connection_settings(&config, tls.clone()),
        metrics_access: MetricsAccess::new(&config.metrics.allowed_networks()?, config.metrics.token.expose()),
        ssh_clone_base: ssh_clone_base.clone(),
        proxy_auth: proxy_auth(&config)?,
        refuse_runner_api: config.tls.require_runner_certificates,
    };
    // Printed on stdout (not only logged) so scripts and tests can find the port of `--listen :0`.
    let app = app
        .with_ci_settings(ci_settings(&config, &external_url))
        .with_push_settings(push_settings(&config))
        .with_oidc_providers(crate::oidc::providers(&config, &external_url)?)
        .with_webhooks(Arc::new(HttpHookTransport::new()), webhook_settings(&config, &external_url, ssh_clone_base));
    // Served with the finished application: SSH pushes settle as HTTP pushes do.
    let ssh = ssh_bound.map(|b| crate::ssh::start(b, &app, shutdown.clone())).transpose()?;
    // Before serving: every push acknowledged before a crash gets its events and pipelines —
    // once the crashed server's own git processes have finished applying them.
    wait_for_orphaned_pushes(app.system().repository_root()).await;
    crate::setup::remove_artifact_leftovers(&config)?;
    app.system().recover_pushes().await.context("recovering recorded pushes")?;
    let ci = app.clone();
    let ci_stop = shutdown.clone();
    let housekeeping = tokio::spawn(async move { ci.system().run_ci(ci_stop).await });
    let hooks_app = app.clone();
    let hooks_stop = shutdown.clone();
    tokio::spawn(async move { hooks_app.system().run_hook_deliveries(hooks_stop).await });
    println!("AutoGit listening on {scheme}://{addr} (external URL {external_url})");
    let runner_addr = match &tls {
        None => addr,
        Some(tls) => {
            tokio::spawn(tls.clone().watch(Duration::from_secs(config.tls.reload_seconds), shutdown.clone()));
            if !config.tls.redirect_listen.is_empty() {
                let plain = bind(&config.tls.redirect_listen)
                    .with_context(|| format!("binding tls.redirect_listen {}", config.tls.redirect_listen))?;
                println!("HTTP redirect on {} (to {external_url})", plain.local_addr()?);
                tokio::spawn(autogit_http::serve_redirect(plain, external_url.clone(), shutdown.clone()));
            }
            start_runner_port(&app, &config, &http, shutdown.clone())?;
            local_plain_listener(&app, &http, shutdown.clone())?
        }
    };
    std::io::stdout().flush().ok();
    tracing::info!(%addr, "listening");
    // Runners must stop polling before the server stops answering: cancel them first.
    let runners = CancellationToken::new();
    let (pools, in_process) = local_runners(&app, &config, config_file.as_deref(), runner_addr).await?;
    let pool_loops =
        autoscaler::start(&app, &pools, &config.data_dir, &builtin_runner::loopback_url(runner_addr), runners.clone())
            .await?;
    let stop = shutdown.clone();
    let signal = async move {
        shutdown_signal().await;
        runners.cancel();
        // Its jobs are stopped and reported while the server still answers.
        if let Some(r) = in_process {
            r.stop().await;
        }
        stop.cancel();
    };
    autogit_http::serve(listener, AppState::new(app, http), signal).await?;
    for l in pool_loops {
        l.await.ok();
    }
    shutdown.cancel();
    housekeeping.await.ok();
    if let Some(s) = ssh {
        s.task.await.ok();
    }
    tracing::info!("stopped");
    Ok(())
}

/// The pools to autoscale, with the built-in runner's (or, in-process, the built-in runner
/// started). Runners this server starts on its own host run their jobs in the job sandbox; where
/// the host cannot provide it, none of them starts and the reason is printed.
async fn local_runners(
    app: &autogit_app::App,
    config: &Config,
    config_file: Option<&Path>,
    addr: std::net::SocketAddr,
) -> Result<(Vec<autogit_config::PoolConfig>, Option<builtin_runner::InProcess>)> {
    let sandbox = builtin_runner::sandbox_config(config, config_file);
    let is_local_shell = |p: &autogit_config::PoolConfig| {
        p.provider == autogit_config::PoolProvider::Process
            && !p.register_args.iter().any(|a| a.starts_with("--docker-image"))
    };
    let builtin = config.ci.builtin_runner_concurrent > 0;
    let mut pools = config.ci.pools.clone();
    if builtin || pools.iter().any(is_local_shell) {
        let url = builtin_runner::loopback_url(addr);
        if let Err(e) = builtin_runner::check_sandbox(config, &sandbox, &url).await {
            let shell_pools: Vec<String> = pools.iter().filter(|p| is_local_shell(p)).map(|p| p.name.clone()).collect();
            pools.retain(|p| !is_local_shell(p));
            tracing::error!(error = %e, ?shell_pools, "runners on this host are not started");
            println!(
                "NOT STARTED: the built-in runner{} — {e}.\n\
                 Jobs of runners that AutoGit starts on this host run in a sandbox so that they cannot read the \
                 server's data. Install bubblewrap and passt (Debian/Ubuntu: apt install bubblewrap passt) and fix \
                 what is named above, or run jobs on a runner on another machine (README) and set \
                 ci.builtin_runner_concurrent = 0.",
                if shell_pools.is_empty() { String::new() } else { format!(" and the process pools {shell_pools:?}") }
            );
            std::io::stdout().flush().ok();
            return Ok((pools, None));
        }
    }
    for p in pools.iter_mut().filter(|p| is_local_shell(p)) {
        p.register_args.extend(builtin_runner::sandbox_args(&sandbox));
    }
    let mut in_process = None;
    if config.ci.builtin_runner_mode == autogit_config::BuiltinRunnerMode::InProcess {
        in_process = builtin_runner::start(app, config, sandbox, addr).await?;
    } else if let Some(pool) = builtin_runner::as_pool(config, &sandbox) {
        pools.push(pool);
    }
    Ok((pools, in_process))
}

/// Connections the kernel completes before they are accepted (capped by net.core.somaxconn).
/// tokio's `bind` uses 128: a burst of connections (an attack, or many runners at once) beyond
/// that has its SYNs dropped, and every client then, a health probe included, waits a 1 s
/// retransmission. Refused connections leave the queue as fast as they come.
const LISTEN_BACKLOG: u32 = 4096;

pub(crate) fn bind(listen: &str) -> std::io::Result<tokio::net::TcpListener> {
    let addr: std::net::SocketAddr =
        listen.parse().map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "not an IP:port address"))?;
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// `[auth.proxy]` for the HTTP layer, when it is on.
fn proxy_auth(config: &Config) -> Result<Option<ProxyAuth>> {
    let p = &config.auth.proxy;
    if !p.enabled {
        return Ok(None);
    }
    tracing::warn!(trusted = ?p.trusted_proxies, "forward-auth sign-in is on: identity headers from these addresses are believed");
    let names = [p.user_header.as_str(), &p.groups_header, &p.email_header, &p.name_header];
    Ok(Some(ProxyAuth::new(p.trusted_networks()?, names).map_err(anyhow::Error::msg)?))
}

/// With HTTPS on, the runners this server starts on its own host (the built-in runner, process
/// pools) reach it over a plain-HTTP listener on 127.0.0.1 with the same routes: the runner speaks
/// no TLS of its own yet, and loopback traffic does not leave the host.
fn local_plain_listener(app: &App, http: &HttpConfig, shutdown: CancellationToken) -> Result<std::net::SocketAddr> {
    let listener = bind("127.0.0.1:0").context("binding the local runners' loopback listener")?;
    let addr = listener.local_addr()?;
    let mut plain = http.clone();
    plain.connections.tls = None;
    plain.refuse_runner_api = false;
    let state = AppState::new(app.clone(), plain);
    tokio::spawn(async move {
        if let Err(e) = autogit_http::serve(listener, state, shutdown.cancelled_owned()).await {
            tracing::error!(error = %e, "the local runners' listener stopped");
        }
    });
    Ok(addr)
}

/// `[tls] runner_listen`: HTTPS whose handshake requires a client certificate of the runners' CA,
/// serving the runner API (and the rest of the routes, to the certified) for runners elsewhere.
fn start_runner_port(app: &App, config: &Config, http: &HttpConfig, shutdown: CancellationToken) -> Result<()> {
    let t = &config.tls;
    if t.runner_listen.is_empty() {
        return Ok(());
    }
    let tls = Tls::load(&t.cert_file, &t.key_file, Some(&t.client_ca_file))
        .map_err(anyhow::Error::msg)
        .context("tls.runner_listen")?;
    let listener = bind(&t.runner_listen).with_context(|| format!("binding tls.runner_listen {}", t.runner_listen))?;
    println!(
        "Runner port on https://{} (client certificates of {} required)",
        listener.local_addr()?,
        t.client_ca_file.display()
    );
    tokio::spawn(tls.clone().watch(Duration::from_secs(t.reload_seconds), shutdown.clone()));
    let mut runner = http.clone();
    runner.connections.tls = Some(tls);
    runner.refuse_runner_api = false;
    let state = AppState::new(app.clone(), runner);
    tokio::spawn(async move {
        if let Err(e) = autogit_http::serve(listener, state, shutdown.cancelled_owned()).await {
            tracing::error!(error = %e, "the runner port stopped");
        }
    });
    Ok(())
}

fn connection_settings(config: &Config, tls: Option<std::sync::Arc<Tls>>) -> ConnectionSettings {
    let h = &config.http;
    ConnectionSettings {
        tls,
        header_read_timeout: Duration::from_secs(h.header_read_timeout_seconds),
        idle_timeout: Duration::from_secs(h.idle_timeout_seconds),
        max_connections: usize::try_from(h.max_connections).unwrap_or(usize::MAX),
        max_connections_per_address: usize::try_from(h.max_connections_per_address).unwrap_or(usize::MAX),
        shutdown_timeout: Duration::from_secs(h.shutdown_timeout_seconds),
    }
}

fn webhook_settings(config: &Config, external_url: &str, ssh_clone_base: Option<String>) -> WebhookSettings {
    WebhookSettings {
        instance_url: external_url.to_string(),
        ssh_clone_base,
        timeout: Duration::from_secs(config.webhooks.timeout_seconds),
        backoff_unit: Duration::from_secs(config.webhooks.backoff_seconds),
    }
}

fn ci_settings(config: &Config, external_url: &str) -> CiSettings {
    CiSettings {
        server_url: external_url.to_string(),
        long_poll: Duration::from_secs(config.ci.long_poll_seconds),
        lease_timeout: Duration::from_secs(config.ci.lease_timeout_seconds),
        max_trace_bytes: i64::try_from(config.ci.max_trace_bytes).unwrap_or(i64::MAX),
        max_artifacts_bytes: config.ci.max_artifacts_bytes,
        registration_token: config.ci.registration_token.expose().to_string(),
        ..CiSettings::default()
    }
}

fn push_settings(config: &Config) -> PushSettings {
    PushSettings { min_free_bytes: config.git.min_free_bytes, ..PushSettings::default() }
}

/// Creates `root` on first start. The password comes from configuration, or is generated and
/// written once to `<data_dir>/initial_root_password` (mode 0600) before the user exists, so it
/// can never be lost.
async fn bootstrap_root(app: &App, config: &Config) -> Result<()> {
    if app.system().has_users().await? {
        return Ok(());
    }
    let configured = config.initial_root_password.expose();
    let (password, file) = if configured.is_empty() {
        let pw: String = rand::rng().sample_iter(Alphanumeric).take(24).map(char::from).collect();
        let path = config.data_dir.join(ROOT_PASSWORD_FILE);
        write_private(&path, &format!("{pw}\n"))?;
        (pw, Some(path))
    } else {
        (configured.to_string(), None)
    };
    match app.system().bootstrap_root(&password).await {
        Ok(true) => {
            match &file {
                Some(path) => println!(
                    "Created administrator 'root' with password: {password}\n(also written to {})",
                    path.display()
                ),
                None => println!("Created administrator 'root' with the password from AUTOGIT_ROOT_PASSWORD"),
            }
            Ok(())
        }
        other => {
            if let Some(path) = &file {
                std::fs::remove_file(path).ok();
            }
            other.map(|_| ()).context("creating the root user")
        }
    }
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(contents.as_bytes())?;
    Ok(())
}

pub async fn shutdown_signal() {
    let ctrl_c = async {
        tokio::signal::ctrl_c().await.ok();
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

/// The longest start-up waits for pushes a killed server left running.
const ORPHANED_PUSH_WAIT: Duration = Duration::from_secs(60);

/// Waits until no push process of a previous server runs in the repositories (see
/// `autogit_git::orphans`), at most [`ORPHANED_PUSH_WAIT`]: recovery reads from the repository
/// whether each recorded push took effect.
async fn wait_for_orphaned_pushes(root: &std::path::Path) {
    let deadline = std::time::Instant::now() + ORPHANED_PUSH_WAIT;
    let mut told = false;
    loop {
        let dir = root.to_path_buf();
        let pids = tokio::task::spawn_blocking(move || autogit_git::orphans::orphaned_push_processes(&dir))
            .await
            .unwrap_or_default();
        if pids.is_empty() {
            return;
        }
        if !told {
            tracing::warn!(?pids, "pushes of the previous server process are still running; recovery waits for them");
            told = true;
        }
        if std::time::Instant::now() >= deadline {
            tracing::error!(
                ?pids,
                "pushes of the previous server process still run after {ORPHANED_PUSH_WAIT:?}; recovering without waiting longer"
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
