//! The job sandbox of the shell executor: every process of a job (its sources fetch, `script`,
//! `after_script`) runs under another unprivileged identity, in its own user, mount, PID, IPC,
//! UTS and network namespaces, with its own cgroup, and sees of the host only the system
//! directories (read-only) and its own working copy. The runner's files, the server's data
//! directory and configuration, other jobs' directories and every process outside are absent;
//! the network reaches the outside world and, of this host, only the server's port.
//!
//! Who is trusted: the runner (and the server that starts it) and the host's administrator. Not
//! trusted: the job — anything a project member can put in `.gitlab-ci.yml` or the repository.
//!
//! The kernel enforces it; the tools that set it up are well-kept ones from the distribution:
//! bubblewrap (namespaces and the mount view), passt's `pasta` (user-mode networking for the
//! job's network namespace: outgoing connections through the host's sockets, the host's
//! loopback unreachable except the forwarded ports), util-linux (`setpriv`, `prlimit`,
//! `unshare`), and cgroups (memory and process limits). [`plan`] builds the command chain;
//! [`Sandbox::probe`] refuses, with the reason and the fix, when the host cannot do all of it —
//! there is no partial fallback.

pub mod cgroup;
pub mod host;
pub mod plan;

use cgroup::{Cgroups, JobCgroup, Limits};
use plan::{Mount, Plan, Reexpose, Rlimits, Tools};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::process::Command;

/// The sandbox's settings (`[sandbox]` in the runner's configuration file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxConfig {
    /// Memory of all of a job's processes together, in MiB; 0 means no limit (then cgroups are
    /// not needed).
    pub memory_mib: u64,
    /// Processes and threads of a job at once.
    pub max_processes: u64,
    /// Size of the job's build directory (and of any one file it writes), in MiB.
    pub disk_mib: u64,
    /// Size of the job's `/tmp` and of its home directory (each a tmpfs), in MiB.
    pub tmp_mib: u64,
    /// When the runner runs as root, slot N's jobs run as uid and gid `uid_base + N`.
    pub uid_base: u32,
    /// Host paths visible read-only besides the system directories (a toolchain in /opt…).
    pub read_only_paths: Vec<PathBuf>,
    /// Host paths never visible, even below a read-only one (the server's configuration file
    /// and data directory).
    pub hidden_paths: Vec<PathBuf>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            memory_mib: 4096,
            max_processes: 1024,
            disk_mib: 10 * 1024,
            tmp_mib: 1024,
            uid_base: 1_900_000_000,
            read_only_paths: Vec::new(),
            hidden_paths: Vec::new(),
        }
    }
}

/// Why a sandbox cannot be used here, and what to do about it.
#[derive(Debug, thiserror::Error)]
#[error("the job sandbox cannot be set up on this host: {0}")]
pub struct SandboxError(pub String);

/// The system directories a job sees read-only (those that exist; symlinks are recreated).
const SYSTEM_PATHS: &[&str] = &["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt", "/sys"];

/// How long the probe's trial job may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// A host able to run sandboxed jobs, with the facts every job's plan is built from.
#[derive(Debug, Clone)]
pub struct Sandbox {
    cfg: SandboxConfig,
    tools: Tools,
    root: bool,
    cgroups: Option<Cgroups>,
    /// Where generated files live: private to the runner, never visible to a job.
    runtime_dir: PathBuf,
    /// Names this runner's cgroups apart from other runners' on the host.
    name: String,
    /// The server as the runner reaches it.
    server_url: String,
}

impl Sandbox {
    /// Checks that everything the sandbox needs is here and works, by running a trial command
    /// through the whole chain. `runtime_dir` is private to the runner.
    pub async fn probe(
        cfg: &SandboxConfig,
        runtime_dir: &Path,
        name: &str,
        server_url: &str,
    ) -> Result<Sandbox, SandboxError> {
        let tools = host::find_tools().map_err(|e| SandboxError(format!("{e}; install bubblewrap and passt")))?;
        let root = host::is_root();
        check_userns()?;
        check_tun(root)?;
        let cgroups = match Cgroups::detect() {
            Ok(c) => Some(c),
            Err(_) if cfg.memory_mib == 0 => None,
            Err(e) => {
                return Err(SandboxError(format!(
                    "memory limits need cgroups: {e} (run AutoGit as root, or under systemd with Delegate=yes; or set the sandbox's memory_mib = 0 to run without a memory limit)"
                )));
            }
        };
        let name: String = name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
        let sandbox = Sandbox {
            cfg: cfg.clone(),
            tools,
            root,
            cgroups,
            runtime_dir: runtime_dir.to_path_buf(),
            name,
            server_url: server_url.to_string(),
        };
        sandbox.trial().await?;
        Ok(sandbox)
    }

    pub fn config(&self) -> &SandboxConfig {
        &self.cfg
    }

    /// The identity of slot `slot`'s jobs outside: their own uid when the runner is root, the
    /// runner's otherwise (a user namespace still gives them another identity inside).
    pub fn identity(&self, slot: usize) -> Option<(u32, u32)> {
        self.root.then(|| {
            let id = self.cfg.uid_base.saturating_add(u32::try_from(slot).unwrap_or(u32::MAX));
            (id, id)
        })
    }

    /// Sets up one job of slot `slot`: its directories (created, owned by its user), its cgroup
    /// and its generated files. `urls` are the server URLs the job uses (its `CI_SERVER_URL`).
    pub fn prepare(
        &self,
        slot: usize,
        dirs: JobDirs,
        urls: &[&str],
        devices: Vec<PathBuf>,
    ) -> Result<JobSandbox, String> {
        let identity = self.identity(slot);
        for d in [&dirs.project, &dirs.tmp] {
            std::fs::create_dir_all(d).map_err(|e| format!("creating {}: {e}", d.display()))?;
        }
        let mut all_urls = vec![self.server_url.as_str()];
        all_urls.extend_from_slice(urls);
        let (ports, names) = host::local_server_ports(&all_urls);
        let etc_dir = self.runtime_dir.join(format!("slot-{slot}"));
        let files = host::write_etc(&etc_dir, &names).map_err(|e| format!("writing {}: {e}", etc_dir.display()))?;
        let cgroup = match &self.cgroups {
            Some(c) => {
                let limits = Limits { memory_bytes: self.cfg.memory_mib << 20, processes: self.cfg.max_processes };
                Some(
                    c.create(&format!("autogit-{}-{slot}", self.name), limits)
                        .map_err(|e| format!("creating the job's cgroup: {e}"))?,
                )
            }
            None => None,
        };
        let reexpose = match identity {
            Some(_) => {
                let cover = host::private_ancestor(&dirs.project);
                if cover.is_some() && cover != host::private_ancestor(&dirs.tmp) {
                    return Err("the job's directories are below different private directories".into());
                }
                cover.map(|cover| Reexpose { cover, dirs: vec![dirs.project.clone(), dirs.tmp.clone()] })
            }
            None => None,
        };
        let job = JobSandbox {
            sandbox: self.clone(),
            identity,
            ports,
            files,
            reexpose,
            cgroup,
            dirs,
            devices,
            oom_before: 0,
        };
        job.adopt().map_err(|e| format!("handing the build directory to the job's user: {e}"))?;
        Ok(job)
    }

    /// Runs `sh -c 'echo sandbox-ok'` in a sandbox and checks what came out.
    async fn trial(&self) -> Result<(), SandboxError> {
        let base = self.runtime_dir.join("probe");
        let dirs = JobDirs { project: base.join("build"), tmp: base.join("build.tmp"), rel: "probe".into() };
        let job = self.prepare(0, dirs, &[], Vec::new()).map_err(SandboxError)?;
        let (mut cmd, input) =
            job.command(&["sh".into(), "-c".into(), "echo sandbox-ok".into()], &job.dirs.project.clone(), &[]);
        cmd.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd.kill_on_drop(true);
        let result = async {
            let mut child = cmd.spawn().map_err(|e| format!("starting {}: {e}", self.tools.sh.display()))?;
            if let Some(mut stdin) = child.stdin.take() {
                use tokio::io::AsyncWriteExt;
                stdin.write_all(&input).await.map_err(|e| format!("writing the job's environment: {e}"))?;
            }
            let out = tokio::time::timeout(PROBE_TIMEOUT, child.wait_with_output())
                .await
                .map_err(|_| format!("a trial job did not finish within {PROBE_TIMEOUT:?}"))?
                .map_err(|e| e.to_string())?;
            if String::from_utf8_lossy(&out.stdout).contains("sandbox-ok") {
                Ok(())
            } else {
                Err(explain(&String::from_utf8_lossy(&out.stderr)))
            }
        }
        .await;
        drop(job);
        let _ = std::fs::remove_dir_all(&base);
        result.map_err(SandboxError)
    }
}

/// Where a job's working copy is inside its sandbox: `/builds/<project path>`, as in GitLab's
/// docker executor, so no host path (the data directory's least of all) shows in a job.
pub const BUILDS_INSIDE: &str = "/builds";
/// Where a job's file variables are inside its sandbox.
pub const TMP_INSIDE: &str = "/autogit-tmp";

/// A job's directories on the host: its working copy, and where its file variables are written.
#[derive(Debug, Clone)]
pub struct JobDirs {
    pub project: PathBuf,
    pub tmp: PathBuf,
    /// The project's path (`group/project`): the working copy is `/builds/<it>` inside.
    pub rel: PathBuf,
}

/// One job's sandbox: every command of the job is built by [`JobSandbox::command`].
#[derive(Debug)]
pub struct JobSandbox {
    sandbox: Sandbox,
    identity: Option<(u32, u32)>,
    ports: Vec<u16>,
    files: Vec<(PathBuf, PathBuf)>,
    reexpose: Option<Reexpose>,
    cgroup: Option<JobCgroup>,
    dirs: JobDirs,
    devices: Vec<PathBuf>,
    oom_before: u64,
}

impl JobSandbox {
    /// Where the host path `p` (the working copy, its file variables, or below them) is inside.
    pub fn inside(&self, p: &Path) -> PathBuf {
        // `join("")` would add a trailing slash: CI_PROJECT_DIR must be `/builds/g/p`.
        let below = |base: PathBuf, rest: &Path| if rest.as_os_str().is_empty() { base } else { base.join(rest) };
        if let Ok(rest) = p.strip_prefix(&self.dirs.tmp) {
            return below(PathBuf::from(TMP_INSIDE), rest);
        }
        match p.strip_prefix(&self.dirs.project) {
            Ok(rest) => below(Path::new(BUILDS_INSIDE).join(&self.dirs.rel), rest),
            Err(_) => p.to_path_buf(),
        }
    }

    /// `command` (program first) in the sandbox, in `cwd` (a host path of the job's, see
    /// [`Self::inside`]), with exactly `env` (plus the
    /// sandbox's own HOME/USER/PATH/TMPDIR unless `env` sets them). Returns the command and the
    /// bytes to write to its standard input (the environment, which travels that way).
    pub fn command(&self, command: &[String], cwd: &Path, env: &[(String, String)]) -> (Command, Vec<u8>) {
        let plan = self.plan(command, cwd, env);
        let argv = plan.argv();
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]).env_clear().env("PATH", plan::CHAIN_PATH).current_dir("/");
        (cmd, plan.stdin_args())
    }

    fn plan(&self, command: &[String], cwd: &Path, env: &[(String, String)]) -> Plan {
        let cfg = &self.sandbox.cfg;
        // The job's scratch space first, so that a read-only path below /tmp (a toolchain
        // unpacked there) is not covered by it.
        let tmp_bytes = cfg.tmp_mib << 20;
        let mut mounts = vec![
            Mount::Tmpfs { at: "/tmp".into(), bytes: tmp_bytes },
            Mount::Tmpfs { at: "/var/tmp".into(), bytes: tmp_bytes },
            Mount::Tmpfs { at: plan::INNER_HOME.into(), bytes: tmp_bytes },
        ];
        for p in SYSTEM_PATHS.iter().map(PathBuf::from).chain(cfg.read_only_paths.iter().cloned()) {
            match std::fs::symlink_metadata(&p) {
                Ok(m) if m.file_type().is_symlink() => {
                    if let Ok(target) = std::fs::read_link(&p) {
                        mounts.push(Mount::Symlink { target, at: p });
                    }
                }
                Ok(_) => mounts.push(Mount::ReadOnly(p)),
                Err(_) => {}
            }
        }
        for (i, (_, at)) in self.files.iter().enumerate() {
            mounts.push(Mount::File { index: i, at: at.clone() });
        }
        mounts.extend(self.devices.iter().cloned().map(Mount::Device));
        mounts.push(Mount::Bind {
            from: self.dirs.project.clone(),
            at: self.inside(&self.dirs.project),
            writable: true,
        });
        mounts.push(Mount::Bind { from: self.dirs.tmp.clone(), at: TMP_INSIDE.into(), writable: false });
        for hidden in &cfg.hidden_paths {
            if !mounts.iter().any(|m| matches!(m, Mount::ReadOnly(p) if hidden.starts_with(p))) {
                continue; // not in the job's view anyway
            }
            match std::fs::symlink_metadata(hidden) {
                Ok(m) if m.is_dir() => mounts.push(Mount::Hide(hidden.clone())),
                Ok(_) => mounts.push(Mount::HideFile(hidden.clone())),
                Err(_) => {}
            }
        }
        let mut full_env: Vec<(String, String)> = vec![
            ("HOME".into(), plan::INNER_HOME.into()),
            ("USER".into(), plan::INNER_USER.into()),
            ("LOGNAME".into(), plan::INNER_USER.into()),
            ("PATH".into(), plan::CHAIN_PATH.into()),
            ("TMPDIR".into(), "/tmp".into()),
            ("LANG".into(), "C.UTF-8".into()),
        ];
        for (k, v) in env {
            full_env.retain(|(x, _)| x != k);
            full_env.push((k.clone(), v.clone()));
        }
        Plan {
            tools: self.sandbox.tools.clone(),
            run_as: self.identity,
            cgroups: self.cgroup.as_ref().map(JobCgroup::procs_files).unwrap_or_default(),
            files: self.files.iter().map(|(host, _)| host.clone()).collect(),
            reexpose: self.reexpose.clone(),
            forward_ports: self.ports.clone(),
            mounts,
            rlimits: Rlimits { processes: cfg.max_processes, file_bytes: cfg.disk_mib << 20 },
            hostname: "autogit-job".into(),
            cwd: self.inside(cwd),
            env: full_env,
            command: command.to_vec(),
        }
    }

    /// Hands what the runner wrote into the job's directories (sources, caches, artifacts of
    /// dependencies, file variables) to the job's user.
    pub fn adopt(&self) -> std::io::Result<()> {
        if let Some((uid, gid)) = self.identity {
            host::adopt(&self.dirs.project, uid, gid)?;
            host::adopt(&self.dirs.tmp, uid, gid)?;
        }
        Ok(())
    }

    /// The build directory's size limit in bytes.
    pub fn disk_limit(&self) -> u64 {
        self.sandbox.cfg.disk_mib << 20
    }

    pub fn memory_mib(&self) -> u64 {
        self.sandbox.cfg.memory_mib
    }

    /// Marks the start of a step (for [`Self::oom_killed`]).
    pub fn step_started(&mut self) {
        self.oom_before = self.cgroup.as_ref().map(JobCgroup::oom_kills).unwrap_or(0);
    }

    /// Whether the kernel killed a process of this step for using too much memory.
    pub fn oom_killed(&self) -> bool {
        self.cgroup.as_ref().is_some_and(|c| c.oom_kills() > self.oom_before)
    }

    /// Kills whatever of the step is still alive (daemons it started included).
    pub fn end_step(&self) {
        if let Some(c) = &self.cgroup {
            c.kill_all();
        }
    }
}

/// The end of a job, on every path (an early error included): nothing of it survives — whatever a
/// step or the fetch left running (a daemon, `git gc --auto`) is killed with the cgroup.
impl Drop for JobSandbox {
    fn drop(&mut self) {
        if let Some(c) = self.cgroup.take() {
            c.remove();
        }
    }
}

/// Whether the kernel lets an unprivileged process create user namespaces, read from the knobs
/// distributions use to turn them off.
fn check_userns() -> Result<(), SandboxError> {
    let read = |p: &str| std::fs::read_to_string(p).ok().map(|v| v.trim().to_string());
    let off = |knob: &str, value: Option<String>, fix: &str| {
        Err(SandboxError(format!(
            "user namespaces are disabled ({knob} = {}); the sandbox needs them: {fix}",
            value.unwrap_or_default()
        )))
    };
    let max = read("/proc/sys/user/max_user_namespaces");
    if max.as_deref() == Some("0") {
        return off("user.max_user_namespaces", max, "sysctl -w user.max_user_namespaces=15000");
    }
    let clone = read("/proc/sys/kernel/unprivileged_userns_clone");
    if clone.as_deref() == Some("0") {
        return off("kernel.unprivileged_userns_clone", clone, "sysctl -w kernel.unprivileged_userns_clone=1");
    }
    Ok(())
}

/// Whether the job's user will be able to open /dev/net/tun, which pasta needs (it hangs rather
/// than failing when it cannot).
fn check_tun(root: bool) -> Result<(), SandboxError> {
    use std::os::unix::fs::PermissionsExt;
    let path = Path::new("/dev/net/tun");
    let ok = if root {
        std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o006 == 0o006)
    } else {
        std::fs::OpenOptions::new().read(true).write(true).open(path).is_ok()
    };
    if ok {
        Ok(())
    } else {
        Err(SandboxError(
            "the job's user cannot open /dev/net/tun, which the job's network needs (udev makes it crw-rw-rw- on a standard host; in a container: `chmod 0666 /dev/net/tun`)".into(),
        ))
    }
}

/// Turns a failed trial's error output into the reason and the fix.
fn explain(stderr: &str) -> String {
    let text = stderr.lines().filter(|l| !l.contains("syslog")).collect::<Vec<_>>().join("; ");
    let hint = if text.contains("uid map")
        || text.contains("user namespace")
        || text.contains("Operation not permitted")
    {
        " (unprivileged user namespaces must be allowed: sysctl kernel.unprivileged_userns_clone=1 and user.max_user_namespaces > 0; on Ubuntu 24.04 also kernel.apparmor_restrict_unprivileged_userns=0 or an AppArmor profile for bwrap and pasta)"
    } else if text.contains("tun") {
        " (the job's user must be able to open /dev/net/tun)"
    } else {
        ""
    };
    format!("a trial job failed: {}{hint}", if text.is_empty() { "no output" } else { &text })
}
