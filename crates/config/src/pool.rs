//! `[[ci.pools]]`: autoscaled pools of runner instances (ADR 0007).

use crate::ConfigError;
use crate::choice::config_choice;
use serde::Deserialize;

/// One autoscaled pool of runner instances.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PoolConfig {
    pub name: String,
    /// What starts the pool's instances (see [`PoolProvider`]).
    pub provider: PoolProvider,
    /// Tags of the pool's runners; an empty list means they take untagged jobs only.
    pub tags: Vec<String>,
    /// The architecture its runners run jobs for, GitLab's name (`amd64`, `arm64`, `riscv64`…);
    /// empty = this host's. Jobs select it with `tags: [arm64]` (runners get their architecture
    /// as a tag). A foreign one runs jobs in containers under QEMU user emulation, so it needs
    /// the docker executor on the instances: `register_args = ["--docker-image", "<image>"]`
    /// (with the docker provider, the instances then start job containers on the same engine).
    pub architecture: String,
    /// The GPUs each instance has (`gpu = { count = 1, vendor = "nvidia", model = "NVIDIA
    /// GeForce RTX 4090", memory_mib = 24564 }`): jobs with a `gpu:` request count toward this
    /// pool's demand only when such an instance could run them. Without it, GPU jobs never
    /// scale this pool. The profile is what the autoscaler plans with; the GPUs an instance's
    /// runner reports are what dispatch allocates, so a profile that promises more than the
    /// instances have leaves those jobs waiting on an idle instance.
    pub gpu: Option<PoolGpu>,
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

config_choice! {
    /// `provider` of a pool: what starts its runner instances.
    PoolProvider ("provider") {
        /// Local `autogit runner` processes.
        Process = "process",
        /// Containers running the runner.
        Docker = "docker",
        /// Known hosts over SSH, woken and suspended (`ssh_hosts`).
        Ssh = "ssh",
        /// An external program speaking the fleet plugin protocol.
        Plugin = "plugin",
    }
}

config_choice! {
    /// `vendor` of a pool's GPU profile.
    GpuVendor ("gpu.vendor") {
        Nvidia = "nvidia",
        Amd = "amd",
        Intel = "intel",
    }
}

/// The GPUs of one instance of a pool (its GPU profile). `count` and `vendor` are required.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PoolGpu {
    /// GPUs per instance, at least 1.
    pub count: u32,
    pub vendor: GpuVendor,
    /// The product name as the driver reports it (matched by jobs' `model:` globs and made into
    /// the `gpu:<vendor>:<model>` tag); empty = unknown.
    #[serde(default)]
    pub model: String,
    /// Memory per GPU in MiB; 0 = unknown (then jobs asking for memory do not match).
    #[serde(default)]
    pub memory_mib: u64,
    /// NVIDIA compute capability, `"8.9"`; empty = unknown.
    #[serde(default)]
    pub compute_capability: String,
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
            provider: PoolProvider::Process,
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
            architecture: String::new(),
            gpu: None,
        }
    }
}

impl PoolConfig {
    /// Checks one pool (`i`: its index, for messages about a pool without a valid name).
    pub(crate) fn validate(&self, i: usize) -> Result<(), ConfigError> {
        let p = self;
        let name_ok = !p.name.is_empty()
            && p.name.len() <= 40
            && p.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !name_ok {
            return Err(ConfigError::Invalid(format!(
                "ci.pools[{i}].name = {:?}: 1-40 letters, digits, '-' or '_'",
                p.name
            )));
        }
        match p.provider {
            PoolProvider::Process => {}
            PoolProvider::Docker if !p.docker_image.is_empty() => {}
            PoolProvider::Docker => {
                return Err(ConfigError::Invalid(format!(
                    "ci.pools.{}: the docker provider needs docker_image",
                    p.name
                )));
            }
            PoolProvider::Plugin if !p.plugin_command.is_empty() => {}
            PoolProvider::Ssh if !p.ssh_hosts.is_empty() => {}
            PoolProvider::Ssh => {
                return Err(ConfigError::Invalid(format!(
                    "ci.pools.{}: the ssh provider needs at least one [[ci.pools.ssh_hosts]] entry",
                    p.name
                )));
            }
            PoolProvider::Plugin => {
                return Err(ConfigError::Invalid(format!(
                    "ci.pools.{}: the plugin provider needs plugin_command",
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
        p.validate_architecture()?;
        if let Some(g) = &p.gpu {
            g.check().map_err(|e| ConfigError::Invalid(format!("ci.pools.{}.gpu: {e}", p.name)))?;
        }
        Ok(())
    }

    /// A foreign architecture needs instances whose runner uses the docker executor.
    fn validate_architecture(&self) -> Result<(), ConfigError> {
        let arch = self.architecture.as_str();
        if arch.is_empty() {
            return Ok(());
        }
        if !arch.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(ConfigError::Invalid(format!(
                "ci.pools.{}: architecture {arch:?} is not an architecture name (amd64, arm64, riscv64…)",
                self.name
            )));
        }
        let docker_executor =
            self.register_args.iter().any(|a| a == "--docker-image" || a.starts_with("--docker-image="));
        let native = native_architecture();
        match self.provider {
            _ if arch == native => Ok(()),
            PoolProvider::Plugin => Ok(()),
            _ if docker_executor => Ok(()),
            _ => Err(ConfigError::Invalid(format!(
                "ci.pools.{}: architecture {arch:?} is not this host's ({native}): its jobs run in containers under QEMU \
                 emulation, so register_args must name the docker executor's image (\"--docker-image\", \"<{arch} image>\")",
                self.name
            ))),
        }
    }

    /// The pool's architecture: the configured one, or this host's.
    #[must_use]
    pub fn effective_architecture(&self) -> String {
        if self.architecture.is_empty() { native_architecture().to_string() } else { self.architecture.clone() }
    }
}

impl PoolGpu {
    fn check(&self) -> Result<(), String> {
        if self.count == 0 {
            return Err("count must be at least 1".into());
        }
        if !self.compute_capability.is_empty() {
            self.compute_capability_parts()?;
        }
        Ok(())
    }

    /// `"8.9"` → (8, 9).
    pub fn compute_capability_parts(&self) -> Result<(u8, u8), String> {
        let bad = || format!("compute_capability {:?} is not MAJOR.MINOR", self.compute_capability);
        let (a, b) = self.compute_capability.split_once('.').ok_or_else(bad)?;
        Ok((a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?))
    }
}

/// GitLab's name of this host's architecture.
#[must_use]
pub fn native_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}
