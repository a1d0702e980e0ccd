//! Start-up shared by the subcommands: configuration layers, logging, runtime and adapters.

use anyhow::{Context, Result};
use autogit_app::{App, MemoryFailureCounter, PasswordSettings, SessionSettings, SsoSettings, SystemClock};
use autogit_blob_fs::FsBlobStore;
use autogit_config::{Config, GroupMapping, LockoutConfig, SqliteSynchronous};
use autogit_core::AccessLevel;
use autogit_core::lockout::LockoutPolicy;
use autogit_git::storage::RepoStorage;
use autogit_store_sql::{SqlStore, SqliteSync};
use chrono::TimeDelta;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Defaults → file → `AUTOGIT_*` → flags.
pub fn load_config(file: Option<&Path>, data_dir: Option<PathBuf>, listen: Option<String>) -> Result<Config> {
    let text = match file {
        Some(p) => Some(std::fs::read_to_string(p).with_context(|| format!("reading config file {}", p.display()))?),
        None => None,
    };
    let name = file.map(|p| p.display().to_string());
    let env: Vec<(String, String)> = std::env::vars().collect();
    let (mut config, warnings) = Config::load(name.as_deref().zip(text.as_deref()), &env)?;
    // Logging is not set up yet (its level is configuration), so warnings go straight to stderr.
    for w in warnings {
        eprintln!("warning: {w}");
    }
    if let Some(d) = data_dir {
        config.data_dir = d;
    }
    if let Some(l) = listen {
        config.listen = l;
    }
    // Everything below the data directory is named by absolute path from here on: git resolves a
    // relative `core.hooksPath` against the repository it runs in (a relative data directory
    // would make the push hooks — protected branches — silently absent), and runners and jobs
    // work in other directories.
    config.data_dir = std::path::absolute(&config.data_dir)
        .with_context(|| format!("resolving the data directory {}", config.data_dir.display()))?;
    config.validate()?;
    Ok(config)
}

/// A multi-threaded runtime with at most 4 workers: git work happens in child processes, so more
/// async workers only cost memory.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    let workers = std::thread::available_parallelism().map(|n| n.get().min(4)).unwrap_or(2);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .max_blocking_threads(16)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

pub fn init_logging(config: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.log.level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if config.log.format == autogit_config::LogFormat::Json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Logging for `autogit runner`, which has no server configuration: `RUST_LOG` or `info`.
pub fn init_runner_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

/// Opens the configured store (creating the data directory and its key subdirectories, 0700)
/// and the repository storage, and builds the application. It has no secrets keyring yet: the
/// commands that seal or open secret values attach one (`secrets_key::attach`).
pub async fn open_app(config: &Config) -> Result<App> {
    crate::data_dir::create(config)?;
    let sync = match config.database.sqlite_synchronous {
        SqliteSynchronous::Normal => SqliteSync::Normal,
        SqliteSynchronous::Full => SqliteSync::Full,
    };
    let store = SqlStore::connect_with(&config.database_url(), sync).await.context("opening the database")?;
    let repos = RepoStorage::new(config.data_dir.join("repositories"));
    repos.ensure_root().await.context("creating repository storage")?;
    // One server: failed sign-ins are counted in memory (a restart ends every lock).
    let counter = MemoryFailureCounter::new(usize::try_from(config.auth.max_tracked_keys).unwrap_or(usize::MAX));
    let store = Arc::new(store);
    // Sessions live in the database's `sessions` table.
    Ok(App::new(store.clone(), repos, Arc::new(SystemClock))
        .with_sessions(store, session_settings(config))
        .with_sso(sso_settings(config))
        .with_password_checks(password_settings(config), Arc::new(counter))
        .with_blobs(Arc::new(artifact_blobs(config)?)))
}

/// Artifact blobs live in `<data_dir>/artifacts`, a blob key `<job id>/<type>-<random>` at that
/// path below it: the layout (and the records' storage keys) of before the blob port. Finished
/// jobs' traces are kept there too, under `traces/<project id>/<job id>.log`.
fn artifact_blobs(config: &Config) -> Result<FsBlobStore> {
    let root = config.data_dir.join("artifacts");
    FsBlobStore::open(&root).with_context(|| format!("opening the artifact store {}", root.display()))
}

/// For `serve` only, before it serves: removes the temporary files of artifact uploads that a
/// crash interrupted, and `artifacts/tmp/`, where uploads were staged before the blob port.
pub fn remove_artifact_leftovers(config: &Config) -> Result<()> {
    let removed = artifact_blobs(config)?.remove_leftovers().context("removing interrupted artifact uploads")?;
    if removed > 0 {
        tracing::info!(removed, "removed interrupted artifact uploads");
    }
    match std::fs::remove_dir_all(config.data_dir.join("artifacts").join("tmp")) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).context("removing the old artifact upload directory artifacts/tmp")
        }
        _ => Ok(()),
    }
}

fn password_settings(config: &Config) -> PasswordSettings {
    let a = &config.auth;
    let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    PasswordSettings {
        concurrent_checks: size(a.password_checks),
        queue: size(a.password_queue),
        queue_wait: Duration::from_millis(a.password_queue_wait_ms),
        account: lockout(&a.account),
        address: lockout(&a.address),
    }
}

/// `[[…group_mappings]]` as the app takes them: (identity group, group path, role).
pub(crate) fn group_mappings(mappings: &[GroupMapping]) -> Vec<(String, String, AccessLevel)> {
    mappings
        .iter()
        .filter_map(|m| {
            let level = i64::try_from(m.access_level).ok().and_then(AccessLevel::from_value)?;
            Some((m.claim.clone(), m.group.clone(), level))
        })
        .collect()
}

fn sso_settings(config: &Config) -> SsoSettings {
    let a = &config.auth;
    SsoSettings {
        auto_create_users: a.proxy.auto_create_users,
        admin_groups: a.admin_groups.clone(),
        group_mappings: group_mappings(&a.group_mappings),
        required_groups: Vec::new(),
        auto_link_by_email: false,
        external_groups: Vec::new(),
    }
}

fn session_settings(config: &Config) -> SessionSettings {
    let a = &config.auth;
    let minutes = |m: u64| TimeDelta::minutes(i64::try_from(m).unwrap_or(i64::MAX / 60_000));
    SessionSettings {
        idle: minutes(a.session_expire_minutes),
        lifetime: minutes(a.session_lifetime_minutes),
        max_per_user: u32::try_from(a.max_sessions_per_user).unwrap_or(u32::MAX),
    }
}

fn lockout(l: &LockoutConfig) -> LockoutPolicy {
    let ms = |s: u64| i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX);
    LockoutPolicy {
        max_failures: u32::try_from(l.max_failures).unwrap_or(u32::MAX),
        window_ms: ms(l.window_seconds),
        lock_ms: ms(l.lock_seconds),
        max_lock_ms: ms(l.max_lock_seconds),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_password_limits_are_the_configured_defaults() {
        // `App::new` uses `PasswordSettings::default()`; the server maps `[auth]`. They must agree.
        assert_eq!(password_settings(&Config::default()), PasswordSettings::default());
        assert_eq!(session_settings(&Config::default()), SessionSettings::default());
    }
}
