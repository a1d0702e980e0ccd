//! `[ci.sandbox]`: the job sandbox of the built-in runner and of the runners of `process` pools
//! (jobs of runners that `autogit serve` starts on its own host), and the limits of their jobs.

use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxSettings {
    /// Memory of all of a job's processes together, in MiB (a cgroup limit); 0 = no limit.
    pub memory_mib: u64,
    /// Processes and threads of one job at once.
    pub max_processes: u64,
    /// Size of a job's build directory, and of any one file it writes, in MiB.
    pub disk_mib: u64,
    /// Size of a job's `/tmp` and of its home directory (each a tmpfs), in MiB.
    pub tmp_mib: u64,
    /// When `autogit serve` runs as root, a job of runner slot N runs as uid/gid `uid_base + N`
    /// (no such user needs to exist).
    pub uid_base: u32,
    /// Host paths a job sees read-only besides /usr, /etc, /opt and the other system
    /// directories (e.g. a toolchain in /srv/tools).
    pub read_only_paths: Vec<PathBuf>,
}

impl Default for SandboxSettings {
    fn default() -> Self {
        SandboxSettings {
            memory_mib: 4096,
            max_processes: 1024,
            disk_mib: 10 * 1024,
            tmp_mib: 1024,
            uid_base: 1_900_000_000,
            read_only_paths: Vec::new(),
        }
    }
}

impl SandboxSettings {
    pub fn validate(&self) -> Result<(), String> {
        if self.max_processes < 16 {
            return Err("ci.sandbox.max_processes must be at least 16".into());
        }
        if self.disk_mib == 0 || self.tmp_mib == 0 {
            return Err("ci.sandbox.disk_mib and ci.sandbox.tmp_mib must be at least 1".into());
        }
        if self.uid_base < 1000 {
            return Err("ci.sandbox.uid_base must be at least 1000 (jobs must not share a system user's uid)".into());
        }
        if let Some(p) = self.read_only_paths.iter().find(|p| !p.is_absolute()) {
            return Err(format!("ci.sandbox.read_only_paths: {} is not an absolute path", p.display()));
        }
        Ok(())
    }
}
