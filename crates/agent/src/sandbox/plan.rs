//! The command line of one sandboxed process, decided before anything runs. Pure: the host facts
//! (tool paths, identity, cgroups, which ports reach the server) come in as data, the argv comes
//! out, so every rule of the sandbox is checked by unit tests.
//!
//! The chain, outermost first (each program `exec`s or supervises the next):
//!
//! ```text
//! unshare --mount (a private mount namespace)                              — only when the runner is root
//!  └ sh: joins the job's cgroups, opens the generated files as fds 3…, and (root) covers the
//!        runner's private directory with an empty tmpfs in which only the job's directories
//!        reappear, so that the job's unprivileged user can reach them and nothing else
//!    └ setpriv --reuid/--regid/--clear-groups: the job's own uid              — only when the runner is root
//!    └ pasta: own user + network namespace; outgoing connections through the host's sockets,
//!             the host's loopback unreachable except the forwarded server ports
//!      └ bwrap: own user, mount, PID, IPC and UTS namespaces; an empty root with the host's
//!               system directories read-only and the job's directory bound from its fd
//!        └ prlimit (processes, file size, no core dumps) → the job's command
//! ```
//!
//! The job's variables reach only the innermost link: bwrap reads them (`--args 0`) from a pipe on
//! its standard input. So they never appear on a command line, which every local user can read
//! in /proc, and no link of the chain that still runs as the runner (or as root) ever sees a
//! job-chosen `PATH` or `LD_PRELOAD`: those links run with [`CHAIN_PATH`] and nothing else.

use std::path::PathBuf;

/// Where the programs of the chain are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tools {
    pub unshare: PathBuf,
    pub sh: PathBuf,
    pub setpriv: PathBuf,
    pub pasta: PathBuf,
    pub bwrap: PathBuf,
    pub prlimit: PathBuf,
}

/// The job's identity inside, whatever its number outside: files it creates are owned by the
/// outer uid, and tools that look the user up find this name.
pub const INNER_UID: u32 = 1000;
pub const INNER_USER: &str = "autogit";
pub const INNER_HOME: &str = "/home/autogit";

/// The address inside the sandbox that pasta answers DNS queries on, forwarding them to the
/// host's resolver (which may itself be on the host's loopback, e.g. systemd-resolved).
pub const DNS_ADDRESS: &str = "169.254.0.53";

/// One entry of the sandbox's file system, applied in order (a later entry shadows an earlier).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mount {
    /// A host path, read-only, at the same place.
    ReadOnly(PathBuf),
    /// A host symlink recreated (`/bin -> usr/bin` on merged-/usr systems).
    Symlink { target: PathBuf, at: PathBuf },
    /// A device node passed through (the job's GPUs).
    Device(PathBuf),
    /// A host directory (the job's own), writable or not, at `at`.
    Bind { from: PathBuf, at: PathBuf, writable: bool },
    /// A generated file, read-only: `Plan::files[index]`, copied in by bwrap from its fd.
    File { index: usize, at: PathBuf },
    /// An empty size-capped tmpfs.
    Tmpfs { at: PathBuf, bytes: u64 },
    /// A directory under a read-only path that must not be seen: covered by an empty tmpfs.
    Hide(PathBuf),
    /// A file under a read-only path that must not be seen: covered by `/dev/null` (a tmpfs
    /// cannot be mounted on a file).
    HideFile(PathBuf),
}

/// Limits applied to every process of the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimits {
    /// Processes (and threads) of the job at once.
    pub processes: u64,
    /// Largest file the job may write, in bytes.
    pub file_bytes: u64,
}

/// Everything one sandboxed command needs.
#[derive(Debug, Clone)]
pub struct Plan {
    pub tools: Tools,
    /// `Some((uid, gid))`: the runner is root and the job runs as this other identity.
    pub run_as: Option<(u32, u32)>,
    /// `cgroup.procs` files the chain joins before anything else starts.
    pub cgroups: Vec<PathBuf>,
    /// Generated files (passwd, hosts…), opened by `sh` as fds 3, 4, … in this order: the job's
    /// user could not open them where the runner keeps them.
    pub files: Vec<PathBuf>,
    /// Root only: the job's directories lie below the runner's private directory `cover`,
    /// which the job's user cannot traverse.
    pub reexpose: Option<Reexpose>,
    /// Host loopback TCP ports the job may reach (the server's).
    pub forward_ports: Vec<u16>,
    pub mounts: Vec<Mount>,
    pub rlimits: Rlimits,
    pub hostname: String,
    pub cwd: PathBuf,
    /// The job's whole environment inside.
    pub env: Vec<(String, String)>,
    pub command: Vec<String>,
}

/// In a private mount namespace, `cover` is hidden under an empty tmpfs in which `dirs` (below
/// it) reappear, bound from fds opened before the cover went on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reexpose {
    pub cover: PathBuf,
    pub dirs: Vec<PathBuf>,
}

/// The whole environment of the chain's outer links.
pub const CHAIN_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The first fd `sh` opens `files[0]` as.
pub const FIRST_FD: usize = 3;

/// The `sh -c` program of the chain's first link. Its inputs are positional parameters only —
/// `<cgroup.procs files…> <generated files…> [<cover> <dirs…>] <command…>`, their counts fixed
/// in the program — so nothing from a job or a path is ever interpreted as shell code.
pub fn shim(cgroups: usize, files: usize, reexpose: Option<usize>) -> String {
    let mut s = format!("set -e\numask 022\nexport PATH={CHAIN_PATH}\n");
    for _ in 0..cgroups {
        s.push_str("echo $$ > \"$1\"\nshift\n");
    }
    for i in 0..files {
        s.push_str(&format!("exec {}<\"$1\"\nshift\n", FIRST_FD + i));
    }
    if let Some(dirs) = reexpose {
        let fd = |j: usize| FIRST_FD + files + j;
        s.push_str("cover=\"$1\"\nshift\n");
        for j in 0..dirs {
            s.push_str(&format!("d{j}=\"$1\"\nexec {}<\"$1\"\nshift\n", fd(j)));
        }
        s.push_str("mount -t tmpfs -o mode=0755,size=1m autogit-sandbox \"$cover\"\n");
        for j in 0..dirs {
            s.push_str(&format!(
                "mkdir -p \"$d{j}\"\nmount --no-canonicalize --bind /proc/self/fd/{0} \"$d{j}\"\nexec {0}<&-\n",
                fd(j)
            ));
        }
    }
    s.push_str("exec \"$@\"\n");
    s
}

impl Plan {
    /// The whole argv, program first.
    pub fn argv(&self) -> Vec<String> {
        let t = &self.tools;
        let mut a: Vec<String> = Vec::new();
        if self.reexpose.is_some() {
            a.extend([path(&t.unshare), "--mount".into(), "--propagation".into(), "private".into(), "--".into()]);
        }
        let shim = shim(self.cgroups.len(), self.files.len(), self.reexpose.as_ref().map(|r| r.dirs.len()));
        a.extend([path(&t.sh), "-c".into(), shim, "autogit-sandbox".into()]);
        a.extend(self.cgroups.iter().map(|p| path(p)));
        a.extend(self.files.iter().map(|p| path(p)));
        if let Some(r) = &self.reexpose {
            a.push(path(&r.cover));
            a.extend(r.dirs.iter().map(|p| path(p)));
        }
        if let Some((uid, gid)) = self.run_as {
            a.extend([
                path(&t.setpriv),
                format!("--reuid={uid}"),
                format!("--regid={gid}"),
                // No `--no-new-privs` here: it would stop pasta from mapping its user namespace.
                // bwrap sets it for the job itself.
                "--clear-groups".into(),
            ]);
        }
        a.extend(self.pasta());
        a.extend(self.bwrap());
        a.extend([
            path(&t.prlimit),
            format!("--nproc={0}:{0}", self.rlimits.processes),
            format!("--fsize={0}:{0}", self.rlimits.file_bytes),
            "--core=0:0".into(),
            "--".into(),
        ]);
        a.extend(self.command.iter().cloned());
        a
    }

    /// pasta: `-t/-u/-U none` because their default (`auto`) would forward ports between the
    /// job and the host in both directions; `-T` only for the server's ports; `--no-map-gw` so
    /// the gateway address is not the host's loopback.
    fn pasta(&self) -> Vec<String> {
        let mut a: Vec<String> = vec![
            path(&self.tools.pasta),
            "--quiet".into(),
            "--foreground".into(),
            "--config-net".into(),
            "--no-map-gw".into(),
            "--tcp-ports".into(),
            "none".into(),
            "--udp-ports".into(),
            "none".into(),
            "--udp-ns".into(),
            "none".into(),
            "--dns-forward".into(),
            DNS_ADDRESS.into(),
        ];
        if self.forward_ports.is_empty() {
            a.extend(["--tcp-ns".into(), "none".into()]);
        } else {
            let ports: Vec<String> = self.forward_ports.iter().map(u16::to_string).collect();
            a.extend(["--tcp-ns".into(), ports.join(",")]);
        }
        a.push("--".into());
        a
    }

    /// What the chain's standard input carries to bwrap (`--args 0`): NUL-separated options that
    /// set the job's environment from nothing. A variable with a NUL (which no environment can
    /// hold) is left out: it would otherwise split into options of bwrap's own.
    pub fn stdin_args(&self) -> Vec<u8> {
        let mut b = b"--clearenv\0".to_vec();
        for (k, v) in self.env.iter().filter(|(k, v)| env_safe(k, v)) {
            for part in ["--setenv", k.as_str(), v.as_str()] {
                b.extend_from_slice(part.as_bytes());
                b.push(0);
            }
        }
        b
    }

    fn bwrap(&self) -> Vec<String> {
        let mut a: Vec<String> = vec![
            path(&self.tools.bwrap),
            "--args".into(),
            "0".into(),
            "--unshare-user".into(),
            "--uid".into(),
            INNER_UID.to_string(),
            "--gid".into(),
            INNER_UID.to_string(),
            "--unshare-pid".into(),
            "--unshare-ipc".into(),
            "--unshare-uts".into(),
            "--unshare-cgroup-try".into(),
            "--hostname".into(),
            self.hostname.clone(),
            // The job's processes die with the runner's, and cannot reach its terminal.
            "--die-with-parent".into(),
            "--new-session".into(),
            "--cap-drop".into(),
            "ALL".into(),
            "--proc".into(),
            "/proc".into(),
            "--dev".into(),
            "/dev".into(),
        ];
        for m in &self.mounts {
            match m {
                Mount::ReadOnly(p) => a.extend(["--ro-bind".into(), path(p), path(p)]),
                Mount::Symlink { target, at } => a.extend(["--symlink".into(), path(target), path(at)]),
                Mount::Device(p) => a.extend(["--dev-bind".into(), path(p), path(p)]),
                Mount::Bind { from, at, writable } => {
                    let flag = if *writable { "--bind" } else { "--ro-bind" };
                    a.extend([flag.into(), path(from), path(at)]);
                }
                Mount::File { index, at } => {
                    a.extend(["--ro-bind-data".into(), (FIRST_FD + index).to_string(), path(at)]);
                }
                Mount::Tmpfs { at, bytes } => {
                    a.extend(["--size".into(), bytes.to_string(), "--tmpfs".into(), path(at)]);
                }
                Mount::Hide(p) => a.extend(["--tmpfs".into(), path(p)]),
                Mount::HideFile(p) => a.extend(["--ro-bind".into(), "/dev/null".into(), path(p)]),
            }
        }
        a.extend(["--chdir".into(), path(&self.cwd), "--".into()]);
        a
    }
}

/// Whether a variable can be passed as an environment entry at all.
pub fn env_safe(key: &str, value: &str) -> bool {
    !key.is_empty() && !key.contains(['=', '\0']) && !value.contains('\0')
}

fn path(p: &std::path::Path) -> String {
    p.display().to_string()
}

#[cfg(test)]
mod tests;
