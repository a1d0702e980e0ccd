//! Typed configuration of `autogit serve`, loaded in layers: built-in defaults, then a TOML file,
//! then `AUTOGIT_*` environment variables, then command-line flags (applied by the binary).
//!
//! Loading is pure: the caller reads the file and the environment and passes their contents in,
//! so tests need neither. Secrets are wrapped in [`Secret`], whose `Debug` and `Display` print
//! `[redacted]`, so a config can be logged whole.

mod env;
mod secret;

pub use env::ENV_VARS;
pub use secret::Secret;

use serde::Deserialize;
use std::path::PathBuf;
use thiserror::Error;

/// The commented example printed by `autogit config example`. A test checks that it parses and
/// equals the defaults, so it cannot drift.
pub const EXAMPLE: &str = include_str!("example.toml");

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the embedded database, repositories and the initial root password live.
    pub data_dir: PathBuf,
    /// Address and port the HTTP server binds to.
    pub listen: String,
    /// The URL users reach AutoGit at, used in `web_url`/`http_url_to_repo` fields.
    /// Empty means `http://<listen>`, with `localhost` for a wildcard address such as 0.0.0.0.
    pub external_url: String,
    /// Password for the `root` user created on first start. Empty means generate one.
    pub initial_root_password: Secret,
    pub database: DatabaseConfig,
    pub git: GitConfig,
    pub log: LogConfig,
    pub ci: CiConfig,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CiConfig {
    /// Jobs the built-in shell runner of `autogit serve` runs at once; 0 disables it.
    pub builtin_runner_concurrent: u64,
    /// `pool` (default): the built-in runner is an autoscaled local process, started when jobs
    /// wait and stopped after 5 idle minutes (scale from zero). `in-process`: one runner inside
    /// the server, always on (no start-up wait for the first job).
    pub builtin_runner_mode: String,
    /// Seconds a runner's `jobs/request` is held waiting for a job (long polling).
    pub long_poll_seconds: u64,
    /// Seconds without any report from its runner after which a running job is failed with
    /// `runner_system_failure` (and retried when its `retry:` allows).
    pub lease_timeout_seconds: u64,
    /// Largest job log kept, in bytes.
    pub max_trace_bytes: u64,
    /// Largest artifacts upload accepted, in bytes.
    pub max_artifacts_bytes: u64,
    /// The legacy runner registration token (`gitlab-runner register --registration-token`,
    /// `POST /api/v4/runners`): runners registered with it are instance runners. Empty disables
    /// that flow (runners are then created with `POST /api/v4/user/runners`).
    pub registration_token: Secret,
    /// Autoscaled runner pools (`[[ci.pools]]`): runner instances started from queued demand.
    pub pools: Vec<PoolConfig>,
}

/// One autoscaled pool of runner instances.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PoolConfig {
    pub name: String,
    /// `process` (local `autogit runner` processes), `docker` (containers running the runner) or
    /// `plugin` (an external program speaking the fleet plugin protocol).
    pub provider: String,
    /// Tags of the pool's runners; an empty list means they take untagged jobs only.
    pub tags: Vec<String>,
    /// Whether its runners also take untagged jobs (always when `tags` is empty).
    pub run_untagged: bool,
    /// Idle job slots kept ready; 0 scales to zero.
    pub min_idle: u32,
    pub max_instances: u32,
    /// Jobs one instance runs at once.
    pub capacity_per_instance: u32,
    /// An instance that ran this many jobs is retired once idle; 0 = no limit.
    pub max_use_count: u32,
    /// Seconds an instance may stay idle before it is removed (beyond `min_idle`).
    pub idle_time_seconds: u64,
    /// Seconds an instance may take to become ready before it is replaced.
    pub ready_timeout_seconds: u64,
    /// Idle slots added per busy slot (taskscaler's scale_factor), at most `scale_factor_limit`.
    pub scale_factor: f64,
    pub scale_factor_limit: u32,
    /// Docker provider: the base image instances run in, and the engine (empty: local socket;
    /// `tcp://host:2376` with TLS from DOCKER_CERT_PATH).
    pub docker_image: String,
    pub docker_host: String,
    /// Arguments added to `autogit runner register` for each instance (e.g. an executor).
    pub register_args: Vec<String>,
    /// Plugin provider: the plugin's program and its arguments, and its configuration (passed to
    /// the plugin's `init` re-encoded as JSON).
    pub plugin_command: Vec<String>,
    pub plugin_config: toml::Table,
    /// SSH provider: the known hosts (`[[ci.pools.ssh_hosts]]`: name, address, user,
    /// identity_file, mac, broadcast, power_on_command, suspend_command, remote_dir), one runner
    /// instance per host, woken by Wake-on-LAN or `power_on_command`; and `-o` options for ssh.
    pub ssh_hosts: Vec<toml::Table>,
    pub ssh_options: Vec<String>,
    /// Time windows (UTC) with their own idle target, e.g. a warm pool in working hours:
    /// `windows = [{ days = [0, 1, 2, 3, 4], from = "08:00", to = "18:00", min_idle = 3 }]`
    /// (0 = Monday). The first window that matches wins.
    pub windows: Vec<PoolWindow>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PoolWindow {
    /// Days of the week, 0 = Monday … 6 = Sunday; empty = every day.
    pub days: Vec<u8>,
    /// `HH:MM`, UTC; the window is `from ≤ t < to`.
    pub from: String,
    pub to: String,
    pub min_idle: u32,
    /// Overrides the pool's `idle_time_seconds` inside the window.
    pub idle_time_seconds: Option<u64>,
}

impl PoolWindow {
    /// (from, to) in minutes of the day.
    pub fn minutes(&self) -> Result<(u16, u16), String> {
        let parse = |s: &str| -> Result<u16, String> {
            let (h, m) = s.split_once(':').ok_or_else(|| format!("{s:?} is not HH:MM"))?;
            let (h, m): (u16, u16) = (
                h.parse().map_err(|_| format!("{s:?} is not HH:MM"))?,
                m.parse().map_err(|_| format!("{s:?} is not HH:MM"))?,
            );
            if h > 24 || m > 59 || (h == 24 && m > 0) {
                return Err(format!("{s:?} is not a time of day"));
            }
            Ok(h * 60 + m)
        };
        let (from, to) = (parse(&self.from)?, parse(&self.to)?);
        if from >= to {
            return Err(format!("from {:?} must be before to {:?}", self.from, self.to));
        }
        if self.days.iter().any(|d| *d > 6) {
            return Err("days are 0 (Monday) to 6 (Sunday)".into());
        }
        Ok((from, to))
    }
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            name: String::new(),
            provider: "process".into(),
            tags: Vec::new(),
            run_untagged: true,
            min_idle: 0,
            max_instances: 4,
            capacity_per_instance: 1,
            max_use_count: 0,
            idle_time_seconds: 300,
            ready_timeout_seconds: 120,
            scale_factor: 0.0,
            scale_factor_limit: 0,
            docker_image: String::new(),
            docker_host: String::new(),
            register_args: Vec::new(),
            plugin_command: Vec::new(),
            plugin_config: toml::Table::new(),
            ssh_hosts: Vec::new(),
            ssh_options: Vec::new(),
            windows: Vec::new(),
        }
    }
}

impl Default for CiConfig {
    fn default() -> Self {
        CiConfig {
            builtin_runner_concurrent: 2,
            builtin_runner_mode: "pool".into(),
            long_poll_seconds: 50,
            lease_timeout_seconds: 120,
            max_trace_bytes: 16 << 20,
            max_artifacts_bytes: 100 << 20,
            registration_token: Secret::default(),
            pools: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` or `postgres://USER:PASS@HOST/DB`. Empty means `sqlite://<data_dir>/autogit.db`.
    pub url: Secret,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct GitConfig {
    /// The git executable used for upload-pack, receive-pack and repository reads.
    pub binary: String,
    /// Largest accepted push request body, in bytes (after gzip decoding). 0 means no limit.
    pub max_push_bytes: u64,
    /// Largest accepted fetch negotiation request body, in bytes.
    pub max_fetch_request_bytes: u64,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// A `tracing` filter such as `info` or `autogit=debug,tower_http=info`. `RUST_LOG` wins if set.
    pub level: String,
    /// `text` or `json`.
    pub format: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./autogit-data"),
            listen: "0.0.0.0:8080".into(),
            external_url: String::new(),
            initial_root_password: Secret::default(),
            database: DatabaseConfig::default(),
            git: GitConfig::default(),
            log: LogConfig::default(),
            ci: CiConfig::default(),
        }
    }
}

impl Default for GitConfig {
    fn default() -> Self {
        GitConfig { binary: "git".into(), max_push_bytes: 5 << 30, max_fetch_request_bytes: 64 << 20 }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { level: "info".into(), format: "text".into() }
    }
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("{source_name}: {message}")]
    Parse { source_name: String, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Builds the configuration from an optional TOML file (name for messages, contents) and the
    /// process environment. Unknown keys in the file are errors that name the key; unknown
    /// `AUTOGIT_*` variables come back as warnings for the caller to show.
    pub fn load(file: Option<(&str, &str)>, env: &[(String, String)]) -> Result<(Config, Vec<String>), ConfigError> {
        let mut table = match file {
            Some((name, text)) => text
                .parse::<toml::Table>()
                .map_err(|e| ConfigError::Parse { source_name: name.to_string(), message: e.to_string() })?,
            None => toml::Table::new(),
        };
        let warnings = env::apply(&mut table, env)?;
        let name = file.map(|(n, _)| n).unwrap_or("configuration");
        let config = Config::deserialize(toml::Value::Table(table)).map_err(|e| ConfigError::Parse {
            source_name: name.to_string(),
            message: e.to_string().trim().to_string(),
        })?;
        config.validate()?;
        Ok((config, warnings))
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(ConfigError::Invalid(format!("listen = {:?} is not an IP:port address", self.listen)));
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            return Err(ConfigError::Invalid(format!(
                "log.format = {:?}: expected \"text\" or \"json\"",
                self.log.format
            )));
        }
        let url = self.database.url.expose();
        if !(url.is_empty()
            || url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(ConfigError::Invalid(
                "database.url must start with sqlite:, postgres:// or postgresql://".into(),
            ));
        }
        if self.ci.long_poll_seconds > 600 {
            return Err(ConfigError::Invalid("ci.long_poll_seconds must be at most 600".into()));
        }
        if self.ci.lease_timeout_seconds < 1 {
            return Err(ConfigError::Invalid("ci.lease_timeout_seconds must be at least 1".into()));
        }
        if !matches!(self.ci.builtin_runner_mode.as_str(), "pool" | "in-process") {
            return Err(ConfigError::Invalid(format!(
                "ci.builtin_runner_mode = {:?}: expected \"pool\" or \"in-process\"",
                self.ci.builtin_runner_mode
            )));
        }
        for (i, p) in self.ci.pools.iter().enumerate() {
            let name_ok = !p.name.is_empty()
                && p.name.len() <= 40
                && p.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !name_ok {
                return Err(ConfigError::Invalid(format!(
                    "ci.pools[{i}].name = {:?}: 1-40 letters, digits, '-' or '_'",
                    p.name
                )));
            }
            if self.ci.pools[..i].iter().any(|q| q.name == p.name) {
                return Err(ConfigError::Invalid(format!("ci.pools: the name {:?} is used twice", p.name)));
            }
            match p.provider.as_str() {
                "process" => {}
                "docker" if !p.docker_image.is_empty() => {}
                "docker" => {
                    return Err(ConfigError::Invalid(format!(
                        "ci.pools.{}: the docker provider needs docker_image",
                        p.name
                    )));
                }
                "plugin" if !p.plugin_command.is_empty() => {}
                "ssh" if !p.ssh_hosts.is_empty() => {}
                "ssh" => {
                    return Err(ConfigError::Invalid(format!(
                        "ci.pools.{}: the ssh provider needs at least one [[ci.pools.ssh_hosts]] entry",
                        p.name
                    )));
                }
                "plugin" => {
                    return Err(ConfigError::Invalid(format!(
                        "ci.pools.{}: the plugin provider needs plugin_command",
                        p.name
                    )));
                }
                other => {
                    return Err(ConfigError::Invalid(format!(
                        "ci.pools.{}: provider {other:?} is not \"process\", \"docker\", \"ssh\" or \"plugin\"",
                        p.name
                    )));
                }
            }
            for (w, window) in p.windows.iter().enumerate() {
                window.minutes().map_err(|e| ConfigError::Invalid(format!("ci.pools.{}.windows[{w}]: {e}", p.name)))?;
            }
            if p.max_instances == 0 || p.capacity_per_instance == 0 {
                return Err(ConfigError::Invalid(format!(
                    "ci.pools.{}: max_instances and capacity_per_instance must be at least 1",
                    p.name
                )));
            }
        }
        if self.git.binary.is_empty() {
            return Err(ConfigError::Invalid("git.binary can't be empty".into()));
        }
        Ok(())
    }

    /// The database URL, with the embedded SQLite default filled in.
    pub fn database_url(&self) -> String {
        let url = self.database.url.expose();
        if url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("autogit.db").display())
        } else {
            url.to_string()
        }
    }
}

#[cfg(test)]
mod tests;
