//! The runner's configuration file, written by `autogit runner register` and read by
//! `autogit runner run`. TOML; the token is a secret and the file is written mode 0600.

use crate::sandbox::SandboxConfig;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunnerConfig {
    /// The coordinator's URL (the AutoGit server).
    pub url: String,
    /// The runner authentication token (`glrt-…`).
    pub token: String,
    /// The runner's id on the server.
    pub id: i64,
    /// Identifies this host among managers sharing one token (`s_…`/`r_…`).
    pub system_id: String,
    /// Jobs run at the same time.
    #[serde(default = "default_concurrent")]
    pub concurrent: usize,
    /// Where working copies live.
    pub builds_dir: PathBuf,
    /// `shell` or `docker`.
    #[serde(default = "default_executor")]
    pub executor: String,
    /// The image of docker jobs that name none (docker executor only).
    #[serde(default)]
    pub docker_image: Option<String>,
    /// Trace cap in bytes.
    #[serde(default = "default_output_limit")]
    pub output_limit: usize,
    /// Where job caches live; by default `cache` beside `builds_dir` (see [`Self::cache_dir`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_dir: Option<PathBuf>,
    /// Where GPUs are detected; `/` (the default) on a real host, a fixture tree in tests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_root: Option<PathBuf>,
    /// The one architecture (GitLab's name: `amd64`, `arm64`, `riscv64`…) this runner runs jobs
    /// for; unset = the native one, plus those QEMU emulates with the docker executor. A foreign
    /// one needs the docker executor: its job containers are created for `linux/<architecture>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    /// `[sandbox]`: shell jobs run in the job sandbox (see `autogit_agent::sandbox`), and its
    /// memory and process limits apply to docker jobs' containers. Absent: shell jobs run as the
    /// runner on the host, as gitlab-runner's shell executor does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<SandboxConfig>,
    /// Docker executor: job and service containers run privileged. Off unless an administrator
    /// turns it on for this runner.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub docker_privileged: bool,
    /// How long the runner waits for the coordinator and for its stopped jobs (`[timeouts]`).
    #[serde(default)]
    pub timeouts: Timeouts,
    /// TLS to the coordinator, named as gitlab-runner names them.
    #[serde(flatten)]
    pub tls: TlsFiles,
}

/// The CA the coordinator's certificate must chain to (instead of the system's roots), and the
/// runner's own certificate and key for mutual TLS (`tls.runner_listen` of the server).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsFiles {
    #[serde(rename = "tls-ca-file", default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    #[serde(rename = "tls-cert-file", default, skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<PathBuf>,
    #[serde(rename = "tls-key-file", default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
}

/// The `[timeouts]` table of the runner configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timeouts {
    /// After SIGTERM or SIGINT, how long the runner waits for the jobs it stopped to be
    /// reported before it exits anyway (gitlab-runner's `shutdown_timeout`). Their final states
    /// are on disk by then and are sent after a restart.
    pub shutdown_seconds: u64,
    /// The longest one call to the coordinator may take (job updates, trace, registration); a
    /// job request may be held for the coordinator's long poll on top.
    pub request_seconds: u64,
    /// How often final states the coordinator could not be told are sent again.
    pub pending_retry_seconds: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { shutdown_seconds: 30, request_seconds: 30, pending_retry_seconds: 30 }
    }
}

impl Timeouts {
    fn check(&self) -> Result<(), String> {
        if self.request_seconds == 0 || self.pending_retry_seconds == 0 {
            return Err("timeouts.request_seconds and timeouts.pending_retry_seconds must be at least 1".into());
        }
        Ok(())
    }
}

fn default_concurrent() -> usize {
    1
}

fn default_executor() -> String {
    "shell".into()
}

fn default_output_limit() -> usize {
    crate::trace::DEFAULT_OUTPUT_LIMIT
}

/// Whether a runner can run jobs for `arch`: the native architecture always; a foreign one only
/// with the docker executor (a shell executor's jobs run natively, so an `arm64` job would run
/// as amd64 and fail, or worse, succeed).
pub fn check_architecture(arch: &str, docker: bool) -> Result<(), String> {
    let native = crate::inventory::gitlab_arch(std::env::consts::ARCH);
    if arch.is_empty() || !arch.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!("architecture {arch:?} is not an architecture name (amd64, arm64, riscv64…)"));
    }
    if arch != native && !docker {
        return Err(format!(
            "architecture {arch:?} is not this host's ({native}): jobs for it need the docker executor (QEMU user emulation)"
        ));
    }
    Ok(())
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("reading {path}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("writing {path}")]
    Write { path: String, source: std::io::Error },
}

impl RunnerConfig {
    /// `cache_dir`, or `<builds_dir>/../cache`: outside the builds directory, so that no
    /// project's working copy can be named like it.
    pub fn cache_dir(&self) -> PathBuf {
        self.cache_dir.clone().unwrap_or_else(|| self.builds_dir.with_file_name("cache"))
    }

    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: p.clone(), source })?;
        let c: RunnerConfig =
            toml::from_str(&text).map_err(|e| ConfigError::Parse { path: p.clone(), message: e.to_string() })?;
        let docker_ok = c.executor == "docker" && c.docker_image.as_deref().is_some_and(|i| !i.is_empty());
        if let Some(arch) = &c.architecture
            && let Err(message) = check_architecture(arch, docker_ok)
        {
            return Err(ConfigError::Parse { path: p, message });
        }
        if let Err(message) = c.timeouts.check() {
            return Err(ConfigError::Parse { path: p, message });
        }
        if c.executor != "shell" && !docker_ok {
            return Err(ConfigError::Parse {
                path: p,
                message: format!(
                    "executor {:?} is not supported (use \"shell\", or \"docker\" with docker_image set)",
                    c.executor
                ),
            });
        }
        Ok(c)
    }

    /// Writes the file with mode 0600: it holds the runner token.
    pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let p = path.display().to_string();
        let text = toml::to_string(self).map_err(|e| ConfigError::Parse { path: p.clone(), message: e.to_string() })?;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
            .map_err(|source| ConfigError::Write { path: p.clone(), source })?;
        f.write_all(text.as_bytes()).map_err(|source| ConfigError::Write { path: p, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("runner.toml");
        let c = RunnerConfig {
            url: "http://h:8080".into(),
            token: "glrt-x".into(),
            id: 3,
            system_id: "r_abc".into(),
            concurrent: 2,
            builds_dir: "/b".into(),
            executor: "shell".into(),
            docker_image: None,
            output_limit: 100,
            cache_dir: None,
            gpu_root: None,
            architecture: None,
            sandbox: None,
            docker_privileged: false,
            timeouts: Timeouts { shutdown_seconds: 2, ..Timeouts::default() },
            tls: TlsFiles {
                ca_file: Some("/etc/autogit/ca.crt".into()),
                cert_file: Some("/etc/autogit/runner.crt".into()),
                key_file: Some("/etc/autogit/runner.key".into()),
            },
        };
        c.save(&path).expect("save");
        assert_eq!(RunnerConfig::load(&path).expect("load"), c);
        assert_eq!(c.cache_dir(), Path::new("/cache"));
        let c = RunnerConfig { cache_dir: Some("/var/cache/runner".into()), builds_dir: "/r/builds".into(), ..c };
        c.save(&path).expect("save");
        assert_eq!(RunnerConfig::load(&path).expect("load").cache_dir(), Path::new("/var/cache/runner"));
        assert_eq!(RunnerConfig { cache_dir: None, ..c }.cache_dir(), Path::new("/r/cache"));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777, 0o600);
        std::fs::write(
            &path,
            "url = \"x\"\ntoken = \"t\"\nid = 1\nsystem_id = \"s\"\nbuilds_dir = \"/b\"\nexecutor = \"docker\"\n",
        )
        .expect("write");
        assert!(RunnerConfig::load(&path).expect_err("docker not yet").to_string().contains("not supported"));
    }

    #[test]
    fn a_foreign_architecture_needs_the_docker_executor() {
        let native = crate::inventory::gitlab_arch(std::env::consts::ARCH);
        let foreign = if native == "riscv64" { "arm64" } else { "riscv64" };
        assert_eq!(check_architecture(native, false), Ok(()));
        assert_eq!(check_architecture(foreign, true), Ok(()));
        let e = check_architecture(foreign, false).expect_err("shell");
        assert!(e.contains("docker executor") && e.contains(foreign), "{e}");
        assert!(check_architecture("linux/arm64", true).expect_err("slash").contains("not an architecture"));
        assert!(check_architecture("", true).is_err());

        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("runner.toml");
        let text = format!(
            "url = \"x\"\ntoken = \"t\"\nid = 1\nsystem_id = \"s\"\nbuilds_dir = \"/b\"\narchitecture = \"{foreign}\"\n"
        );
        std::fs::write(&path, &text).expect("write");
        assert!(RunnerConfig::load(&path).expect_err("shell").to_string().contains("docker executor"));
        std::fs::write(&path, format!("{text}executor = \"docker\"\ndocker_image = \"i\"\n")).expect("write");
        assert_eq!(RunnerConfig::load(&path).expect("docker").architecture.as_deref(), Some(foreign));
    }

    #[test]
    fn timeouts_default_per_key_and_are_checked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("runner.toml");
        let base = "url = \"x\"\ntoken = \"t\"\nid = 1\nsystem_id = \"s\"\nbuilds_dir = \"/b\"\n";
        std::fs::write(&path, base).expect("write");
        assert_eq!(RunnerConfig::load(&path).expect("no table").timeouts, Timeouts::default());
        std::fs::write(&path, format!("{base}[timeouts]\nshutdown_seconds = 0\npending_retry_seconds = 2\n"))
            .expect("write");
        let t = RunnerConfig::load(&path).expect("partial table").timeouts;
        assert_eq!(t, Timeouts { shutdown_seconds: 0, pending_retry_seconds: 2, ..Timeouts::default() });
        std::fs::write(&path, format!("{base}[timeouts]\nrequest_seconds = 0\n")).expect("write");
        let e = RunnerConfig::load(&path).expect_err("zero").to_string();
        assert!(e.contains("request_seconds") && e.contains("runner.toml"), "{e}");
        std::fs::write(&path, format!("{base}[timeouts]\nshutdown = 3\n")).expect("write");
        assert!(RunnerConfig::load(&path).expect_err("unknown key").to_string().contains("shutdown"));
    }
}
