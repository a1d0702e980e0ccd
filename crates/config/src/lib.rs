//! Typed configuration of `autogit serve`, loaded in layers: built-in defaults, then a TOML file,
//! then `AUTOGIT_*` environment variables, then command-line flags (applied by the binary).
//!
//! Loading is pure: the caller reads the file and the environment and passes their contents in,
//! so tests need neither. Secrets are wrapped in [`Secret`], whose `Debug` and `Display` print
//! `[redacted]`, so a config can be logged whole.

mod auth;
mod choice;
mod env;
mod http;
mod metrics;
mod oidc;
mod pool;
mod proxy_auth;
mod sandbox;
mod secret;
mod secrets;
mod ssh;
mod tls;
mod webhooks;

pub use auth::{AuthConfig, LockoutConfig};
pub use env::ENV_VARS;
pub use http::HttpServerConfig;
pub use metrics::{MetricsConfig, parse_network};
pub use oidc::{ClientAuthMethod, OidcProviderConfig, SecretSource};
pub use pool::{GpuVendor, PoolConfig, PoolGpu, PoolProvider, PoolWindow};
pub use proxy_auth::{GroupMapping, ProxyAuthConfig};
pub use sandbox::SandboxSettings;
pub use secret::Secret;
pub use secrets::SecretsConfig;
pub use ssh::SshConfig;
pub use tls::TlsConfig;
pub use webhooks::WebhooksConfig;

use choice::config_choice;
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
    pub http: HttpServerConfig,
    pub metrics: MetricsConfig,
    pub auth: AuthConfig,
    pub secrets: SecretsConfig,
    pub ssh: SshConfig,
    pub tls: TlsConfig,
    pub webhooks: WebhooksConfig,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CiConfig {
    /// Jobs the built-in shell runner of `autogit serve` runs at once; 0 disables it.
    pub builtin_runner_concurrent: u64,
    /// How the built-in runner runs (see [`BuiltinRunnerMode`]).
    pub builtin_runner_mode: BuiltinRunnerMode,
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
    /// The job sandbox of the built-in runner and of `process` pools' runners.
    pub sandbox: SandboxSettings,
    /// Autoscaled runner pools (`[[ci.pools]]`): runner instances started from queued demand.
    pub pools: Vec<PoolConfig>,
}

impl Default for CiConfig {
    fn default() -> Self {
        CiConfig {
            builtin_runner_concurrent: 2,
            builtin_runner_mode: BuiltinRunnerMode::Pool,
            long_poll_seconds: 50,
            lease_timeout_seconds: 120,
            max_trace_bytes: 16 << 20,
            max_artifacts_bytes: 100 << 20,
            registration_token: Secret::default(),
            sandbox: SandboxSettings::default(),
            pools: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` or `postgres://USER:PASS@HOST/DB`. Empty means `sqlite://<data_dir>/autogit.db`.
    pub url: Secret,
    /// When a SQLite commit returns (ADR 0012); no effect on PostgreSQL.
    pub sqlite_synchronous: SqliteSynchronous,
}

config_choice! {
    /// `database.sqlite_synchronous`: SQLite's `synchronous` in WAL mode.
    #[derive(Default)]
    SqliteSynchronous ("database.sqlite_synchronous") {
        /// Commits survive a process crash; a power loss may roll back the last ones. The default.
        #[default]
        Normal = "normal",
        /// Every commit waits for its fsync: it also survives a power loss.
        Full = "full",
    }
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
    /// Free space, in bytes, the repositories' filesystem must keep beyond a push's declared
    /// size; below it pushes are refused with "no space left on device". 0 disables the check.
    pub min_free_bytes: u64,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// A `tracing` filter such as `info` or `autogit=debug,tower_http=info`. `RUST_LOG` wins if set.
    pub level: String,
    pub format: LogFormat,
}

config_choice! {
    /// `log.format`: how log lines are written.
    LogFormat ("log.format") {
        /// Human-readable lines.
        Text = "text",
        /// One JSON object per line.
        Json = "json",
    }
}

config_choice! {
    /// `ci.builtin_runner_mode`.
    BuiltinRunnerMode ("ci.builtin_runner_mode") {
        /// The built-in runner is an autoscaled local process, started when jobs wait and stopped
        /// after 5 idle minutes (scale from zero). The default.
        Pool = "pool",
        /// One runner inside the server, always on (no start-up wait for the first job).
        InProcess = "in-process",
    }
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
            http: HttpServerConfig::default(),
            metrics: MetricsConfig::default(),
            ssh: SshConfig::default(),
            tls: TlsConfig::default(),
            webhooks: WebhooksConfig::default(),
            auth: AuthConfig::default(),
            secrets: SecretsConfig::default(),
        }
    }
}

impl Default for GitConfig {
    fn default() -> Self {
        GitConfig {
            binary: "git".into(),
            max_push_bytes: 5 << 30,
            max_fetch_request_bytes: 64 << 20,
            min_free_bytes: 100 << 20,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { level: "info".into(), format: LogFormat::Text }
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
        self.auth.validate()?;
        if self.ci.long_poll_seconds > 600 {
            return Err(ConfigError::Invalid("ci.long_poll_seconds must be at most 600".into()));
        }
        if self.ci.lease_timeout_seconds < 1 {
            return Err(ConfigError::Invalid("ci.lease_timeout_seconds must be at least 1".into()));
        }
        self.ci.sandbox.validate().map_err(ConfigError::Invalid)?;
        for (i, p) in self.ci.pools.iter().enumerate() {
            if self.ci.pools[..i].iter().any(|q| q.name == p.name) {
                return Err(ConfigError::Invalid(format!("ci.pools: the name {:?} is used twice", p.name)));
            }
            p.validate(i)?;
        }
        self.secrets.validate()?;
        if self.git.binary.is_empty() {
            return Err(ConfigError::Invalid("git.binary can't be empty".into()));
        }
        self.http.validate()?;
        self.metrics.validate()?;
        self.ssh.validate()?;
        self.tls.validate()?;
        self.webhooks.validate()?;
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
