//! Memory and process limits of a job through the kernel's control groups: one cgroup per job
//! slot, below the runner's own, that the sandbox joins before the job starts. After each step
//! everything left in it is killed, so no daemon a job started outlives it.
//!
//! Both hierarchies are supported. cgroup v2 (unified): a runner inside a cgroup that also holds
//! other processes first moves them into a leaf (`autogit-main`) — the kernel allows controllers
//! for children only in a cgroup without processes of its own — which is what a systemd service
//! with `Delegate=yes` is expected to do. cgroup v1: the `memory` and `pids` hierarchies, each
//! with its own child.

use std::io;
use std::path::{Path, PathBuf};

/// The leaf a v2 runner moves its cgroup's processes into.
const MAIN_LEAF: &str = "autogit-main";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cgroups {
    /// Job cgroups are created in `base`, whose `memory` and `pids` controllers are enabled.
    V2 {
        base: PathBuf,
    },
    V1 {
        memory: PathBuf,
        pids: PathBuf,
    },
}

/// The limits written into a job's cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// 0: no memory limit.
    pub memory_bytes: u64,
    pub processes: u64,
}

/// One job slot's cgroup (one directory per hierarchy).
#[derive(Debug)]
pub struct JobCgroup {
    dirs: Vec<PathBuf>,
    v2: bool,
}

impl Cgroups {
    /// Finds where this process may create job cgroups, from /proc/self/mountinfo and
    /// /proc/self/cgroup. `Err` says why none can be used.
    pub fn detect() -> Result<Cgroups, String> {
        let mountinfo =
            std::fs::read_to_string("/proc/self/mountinfo").map_err(|e| format!("/proc/self/mountinfo: {e}"))?;
        let own = std::fs::read_to_string("/proc/self/cgroup").map_err(|e| format!("/proc/self/cgroup: {e}"))?;
        let mounts = parse_mounts(&mountinfo);
        let own = parse_own(&own);
        let v1 = |controller: &str| {
            let mount = mounts.iter().find(|m| m.v1_controllers.iter().any(|c| c == controller))?;
            let path = own.iter().find(|(c, _)| c.split(',').any(|c| c == controller))?.1.clone();
            Some(join(&mount.point, &mount.root, &path))
        };
        if let (Some(memory), Some(pids)) = (v1("memory"), v1("pids")) {
            return Ok(Cgroups::V1 { memory, pids });
        }
        let unified = mounts.iter().find(|m| m.v2).ok_or("no cgroup file system is mounted")?;
        let path = own
            .iter()
            .find(|(c, _)| c.is_empty())
            .map(|(_, p)| p.clone())
            .ok_or("this process has no cgroup v2 path")?;
        let here = join(&unified.point, &unified.root, &path);
        let controllers = std::fs::read_to_string(here.join("cgroup.controllers")).unwrap_or_default();
        for c in ["memory", "pids"] {
            if !controllers.split_whitespace().any(|x| x == c) {
                return Err(format!(
                    "the {c} controller is not available in {} (cgroup v2); delegate it to AutoGit (systemd: Delegate=yes)",
                    here.display()
                ));
            }
        }
        let base = if here.file_name().is_some_and(|n| n == MAIN_LEAF) {
            here.parent().map(Path::to_path_buf).unwrap_or(here)
        } else {
            here
        };
        Ok(Cgroups::V2 { base })
    }

    /// Creates (or reuses) the cgroup `name` with `limits`.
    pub fn create(&self, name: &str, limits: Limits) -> io::Result<JobCgroup> {
        match self {
            Cgroups::V2 { base } => {
                enable_v2_controllers(base)?;
                let dir = base.join(name);
                make_dir(&dir)?;
                let job = JobCgroup { dirs: vec![dir.clone()], v2: true };
                job.kill_all();
                let max = |n: u64| if n == 0 { "max".to_string() } else { n.to_string() };
                write(&dir.join("memory.max"), &max(limits.memory_bytes))?;
                if dir.join("memory.swap.max").exists() {
                    // Swap would let a job use more than its limit, only slower.
                    write(&dir.join("memory.swap.max"), if limits.memory_bytes == 0 { "max" } else { "0" })?;
                }
                write(&dir.join("pids.max"), &max(limits.processes))?;
                Ok(job)
            }
            Cgroups::V1 { memory, pids } => {
                let (m, p) = (memory.join(name), pids.join(name));
                make_dir(&m)?;
                make_dir(&p)?;
                let job = JobCgroup { dirs: vec![m.clone(), p.clone()], v2: false };
                job.kill_all();
                if limits.memory_bytes > 0 {
                    // memsw must stay ≥ the plain limit: lower or raise them in a safe order.
                    let memsw = m.join("memory.memsw.limit_in_bytes");
                    let _ = write(&memsw, "-1");
                    write(&m.join("memory.limit_in_bytes"), &limits.memory_bytes.to_string())?;
                    if memsw.exists() {
                        write(&memsw, &limits.memory_bytes.to_string())?;
                    }
                } else {
                    write(&m.join("memory.limit_in_bytes"), "-1")?;
                }
                write(&p.join("pids.max"), &limits.processes.to_string())?;
                Ok(job)
            }
        }
    }
}

impl JobCgroup {
    /// The `cgroup.procs` files a process writes its pid into to join.
    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|d| d.join("cgroup.procs")).collect()
    }

    /// How many times the kernel's OOM killer struck in this cgroup so far.
    pub fn oom_kills(&self) -> u64 {
        let file = if self.v2 { "memory.events" } else { "memory.oom_control" };
        let text = std::fs::read_to_string(self.dirs[0].join(file)).unwrap_or_default();
        text.lines().find_map(|l| l.strip_prefix("oom_kill ")).and_then(|n| n.trim().parse().ok()).unwrap_or(0)
    }

    /// Kills every process left in the cgroup (a job's daemons, a fork bomb), until it is empty.
    pub fn kill_all(&self) {
        if self.v2 && std::fs::write(self.dirs[0].join("cgroup.kill"), "1").is_ok() {
            return;
        }
        for _ in 0..50 {
            let mut any = false;
            for d in &self.dirs {
                for pid in std::fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default().lines() {
                    if let Ok(pid) = pid.trim().parse::<i32>() {
                        any = true;
                        let _ =
                            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
                    }
                }
            }
            if !any {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Kills what is left and removes the cgroup.
    pub fn remove(self) {
        self.kill_all();
        for d in &self.dirs {
            for _ in 0..50 {
                match std::fs::remove_dir(d) {
                    Err(e) if e.kind() == io::ErrorKind::ResourceBusy => {
                        std::thread::sleep(std::time::Duration::from_millis(20));
                    }
                    _ => break,
                }
            }
        }
    }
}

/// Enables `memory` and `pids` for `base`'s children; when `base` holds processes itself (the
/// runner, and the server when it started the runner), they move into the `autogit-main` leaf
/// first, as the kernel requires.
fn enable_v2_controllers(base: &Path) -> io::Result<()> {
    let control = base.join("cgroup.subtree_control");
    let enabled = std::fs::read_to_string(&control)?;
    if ["memory", "pids"].iter().all(|c| enabled.split_whitespace().any(|x| x == *c)) {
        return Ok(());
    }
    let procs = std::fs::read_to_string(base.join("cgroup.procs"))?;
    if !procs.trim().is_empty() {
        let leaf = base.join(MAIN_LEAF);
        make_dir(&leaf)?;
        for pid in procs.lines().filter(|l| !l.trim().is_empty()) {
            // A process may exit meanwhile; any other failure shows in the write below.
            let _ = std::fs::write(leaf.join("cgroup.procs"), pid.trim());
        }
    }
    write(&control, "+memory +pids")
}

fn make_dir(dir: &Path) -> io::Result<()> {
    match std::fs::create_dir(dir) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(e),
        _ => Ok(()),
    }
}

fn write(path: &Path, value: &str) -> io::Result<()> {
    std::fs::write(path, value)
        .map_err(|e| io::Error::new(e.kind(), format!("writing {value} to {}: {e}", path.display())))
}

/// A cgroup file system from mountinfo: where it is mounted, which cgroup its root is, and
/// (v1) its controllers.
#[derive(Debug, PartialEq, Eq)]
struct CgroupMount {
    point: PathBuf,
    root: String,
    v2: bool,
    v1_controllers: Vec<String>,
}

fn parse_mounts(mountinfo: &str) -> Vec<CgroupMount> {
    let mut out = Vec::new();
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else { continue };
        let left: Vec<&str> = left.split(' ').collect();
        let right: Vec<&str> = right.split(' ').collect();
        if left.len() < 5 || right.len() < 3 {
            continue;
        }
        let (root, point, fstype) = (unescape(left[3]), unescape(left[4]), right[0]);
        match fstype {
            "cgroup2" => out.push(CgroupMount { point: point.into(), root, v2: true, v1_controllers: Vec::new() }),
            "cgroup" => {
                let controllers =
                    right[2].split(',').filter(|o| *o == "memory" || *o == "pids").map(String::from).collect();
                out.push(CgroupMount { point: point.into(), root, v2: false, v1_controllers: controllers });
            }
            _ => {}
        }
    }
    out
}

/// `(controllers, path)` per line of /proc/self/cgroup; v2's controllers are empty.
fn parse_own(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            Some((controllers.to_string(), path.to_string()))
        })
        .collect()
}

/// The directory of cgroup `path` in a file system mounted at `point` whose root is `root`.
fn join(point: &Path, root: &str, path: &str) -> PathBuf {
    let rel = path.strip_prefix(root.trim_end_matches('/')).unwrap_or(path);
    point.join(rel.trim_start_matches('/'))
}

/// mountinfo escapes space, tab, newline and backslash as `\` and three octal digits.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && let Some(n) = std::str::from_utf8(&b[i + 1..i + 4]).ok().and_then(|o| u8::from_str_radix(o, 8).ok())
        {
            out.push(n);
            i += 4;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
30 25 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
35 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 30 0:32 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
37 30 0:33 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
38 30 0:34 /docker/abc /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu,cpuacct
";

    #[test]
    fn mounts_are_read_from_mountinfo() {
        let m = parse_mounts(HYBRID);
        assert_eq!(m.len(), 4);
        assert_eq!(m[0].point, PathBuf::from("/sys/fs/cgroup/memory"));
        assert_eq!(m[0].v1_controllers, ["memory"]);
        assert!(m[2].v2);
        assert!(m[3].v1_controllers.is_empty(), "cpu is not one we use");
        assert_eq!(parse_mounts("garbage\n1 2 3 - cgroup\n"), Vec::new());
    }

    #[test]
    fn own_paths_and_joins() {
        let own = parse_own("4:memory:/process_api/x\n8:pids:/\n0::/system.slice/autogit.service\n");
        assert_eq!(own[0], ("memory".into(), "/process_api/x".into()));
        assert_eq!(own[2], (String::new(), "/system.slice/autogit.service".into()));
        assert_eq!(
            join(Path::new("/sys/fs/cgroup/memory"), "/", "/process_api/x"),
            PathBuf::from("/sys/fs/cgroup/memory/process_api/x")
        );
        // A cgroup namespace or a bind-mounted subtree: the mount's root is a prefix of the path.
        assert_eq!(
            join(Path::new("/sys/fs/cgroup"), "/docker/abc", "/docker/abc/sub"),
            PathBuf::from("/sys/fs/cgroup/sub")
        );
        assert_eq!(join(Path::new("/sys/fs/cgroup"), "/", "/"), PathBuf::from("/sys/fs/cgroup/"));
    }

    #[test]
    fn escapes_in_mount_points() {
        assert_eq!(unescape(r"/a\040b"), "/a b");
        assert_eq!(unescape(r"/a\"), r"/a\");
        assert_eq!(unescape(r"/a\04"), r"/a\04");
    }
}
