//! The `process` provider: each instance is a local `autogit runner run` process.
//!
//! Layout: `<state_dir>/<name>/` holds `instance.json` (the record: name, pid, runner id, group,
//! creation time, labels), `runner.toml` (written by `autogit runner register`; it holds the
//! runner token, so the directory is created `0700`), `runner.log` (the runner's stdout and
//! stderr) and `builds/`.
//!
//! The runner is spawned into its own process group (`process_group(0)`, i.e. `setpgid`) with
//! its output in a file and no stdin, so it survives the coordinator crashing or being
//! interrupted from a terminal; [`ProcessGroup::update`](crate::InstanceGroup::update) on a new
//! [`ProcessGroup`] over the same `state_dir` adopts it. It also carries the environment
//! variable `AUTOGIT_FLEET_INSTANCE=<group>/<name>`, which every process it starts inherits.
//!
//! Pids are reused by the kernel, so a pid alone is never trusted: the instance's leader is
//! alive only if `/proc/<pid>/cmdline` still names its `runner.toml`, and a process group is
//! signalled only while one of its members either is that leader or carries the
//! `AUTOGIT_FLEET_INSTANCE` marker. Signals go through the `nix` crate (the workspace forbids
//! unsafe code). Linux only (`/proc`).

use crate::{FleetError, Instance, InstanceGroup, Launch, ProviderInfo, RUNNER_LABEL, State};
use autogit_core::RunnerId;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::Command;

/// The record file in each instance directory.
const RECORD: &str = "instance.json";
const CONFIG: &str = "runner.toml";
/// Environment variable marking every process of an instance (`<group>/<name>`).
pub const MARKER_ENV: &str = "AUTOGIT_FLEET_INSTANCE";

/// What `<state_dir>/<name>/instance.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    name: String,
    /// `None` while `autogit runner register` runs: the instance is [`State::Creating`].
    pid: Option<u32>,
    runner_id: RunnerId,
    group: String,
    /// Unix ms.
    created_at: i64,
    labels: BTreeMap<String, String>,
}

/// A group of local `autogit runner` processes (see the module documentation).
pub struct ProcessGroup {
    group: String,
    autogit_bin: PathBuf,
    state_dir: PathBuf,
    max_size: usize,
    grace: Duration,
    create_timeout: Duration,
}

impl ProcessGroup {
    /// `autogit_bin` is the `autogit` executable to run; `state_dir` holds one directory per
    /// instance and may be shared by several groups (records carry their group). Nothing is
    /// checked here: [`InstanceGroup::init`] does that.
    pub fn new(group: &str, autogit_bin: PathBuf, state_dir: PathBuf, max_size: usize) -> Self {
        let state_dir = std::path::absolute(&state_dir).unwrap_or(state_dir);
        ProcessGroup {
            group: group.to_string(),
            autogit_bin,
            state_dir,
            max_size,
            grace: Duration::from_secs(10),
            create_timeout: Duration::from_secs(300),
        }
    }

    /// How long [`InstanceGroup::decrease`] waits after SIGQUIT (the runner finishes its running
    /// jobs), then again after SIGTERM (it stops and reports them), before it SIGKILLs the
    /// process group. Default 10 s.
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// How long `autogit runner register` may take, and how long an instance may stay
    /// [`State::Creating`] (a coordinator that crashed mid-create) before it is reported
    /// [`State::TimedOut`]. Default 5 min.
    pub fn with_create_timeout(mut self, timeout: Duration) -> Self {
        self.create_timeout = timeout;
        self
    }

    fn dir(&self, name: &str) -> PathBuf {
        self.state_dir.join(name)
    }

    fn marker(&self, name: &str) -> String {
        format!("{}/{name}", self.group)
    }

    /// Every record of this group, with its state.
    async fn scan(&self) -> Result<Vec<Instance>, FleetError> {
        let (state_dir, group, timeout) = (self.state_dir.clone(), self.group.clone(), self.create_timeout);
        blocking(move || {
            let entries = match std::fs::read_dir(&state_dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
                Err(e) => return Err(io_err(&format!("reading {}", state_dir.display()), e)),
            };
            let mut out = vec![];
            for entry in entries.flatten() {
                let dir = entry.path();
                match read_record(&dir) {
                    Ok(Some(r)) if r.group == group => out.push(instance(&dir, r, timeout)),
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(dir = %dir.display(), error = %e, "skipping an unreadable instance record")
                    }
                }
            }
            out.sort_by(|a, b| a.id.cmp(&b.id));
            Ok(out)
        })
        .await
    }

    /// Registers and starts one instance; on failure removes what it made.
    async fn launch(&self, l: &Launch) -> Result<(), FleetError> {
        let dir = self.dir(&l.name);
        std::fs::DirBuilder::new().mode(0o700).create(&dir).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                FleetError::Failed(format!("instance {} already exists ({})", l.name, dir.display()))
            } else {
                io_err(&format!("creating {}", dir.display()), e)
            }
        })?;
        let result = self.register_and_spawn(l, &dir).await;
        if result.is_err()
            && let Err(e) = std::fs::remove_dir_all(&dir)
        {
            tracing::warn!(dir = %dir.display(), error = %e, "could not remove a failed instance's directory");
        }
        result
    }

    async fn register_and_spawn(&self, l: &Launch, dir: &Path) -> Result<(), FleetError> {
        let mut record = Record {
            name: l.name.clone(),
            pid: None,
            runner_id: l.runner_id,
            group: self.group.clone(),
            created_at: crate::now_ms(),
            labels: crate::instance_labels(&self.group, l),
        };
        write_record(dir, &record)?;
        let config = dir.join(CONFIG);
        let register = Command::new(&self.autogit_bin)
            .args(["runner", "register", "--url", &l.server_url, "--token", &l.runner_token, "--runner-config"])
            .arg(&config)
            .arg("--builds-dir")
            .arg(dir.join("builds"))
            .arg("--concurrent")
            .arg(l.concurrent.to_string())
            .args(&l.register_args)
            .current_dir(dir)
            .env_clear()
            .envs(runner_env())
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output();
        let out = match tokio::time::timeout(self.create_timeout, register).await {
            Err(_) => {
                return Err(FleetError::Failed(format!(
                    "`autogit runner register` for {} took longer than {:?}",
                    l.name, self.create_timeout
                )));
            }
            Ok(Err(e)) => return Err(self.spawn_err(e)),
            Ok(Ok(out)) => out,
        };
        if !out.status.success() {
            return Err(FleetError::Failed(format!(
                "`autogit runner register` for {} failed ({}): {}",
                l.name,
                out.status,
                tail(&out.stderr)
            )));
        }
        let log = std::fs::File::create(dir.join("runner.log"))
            .map_err(|e| io_err(&format!("creating {}/runner.log", dir.display()), e))?;
        let log2 = log.try_clone().map_err(|e| io_err("duplicating the log file", e))?;
        let mut child = Command::new(&self.autogit_bin)
            .args(["runner", "run", "--runner-config"])
            .arg(&config)
            .current_dir(dir)
            .env_clear()
            .envs(runner_env())
            .env(MARKER_ENV, self.marker(&l.name))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .process_group(0)
            .spawn()
            .map_err(|e| self.spawn_err(e))?;
        let Some(pid) = child.id() else {
            return Err(FleetError::Failed(format!("the runner of {} exited at once", l.name)));
        };
        // Reap it while this coordinator lives (a dead runner must not linger as a zombie);
        // if the coordinator dies, the runner is re-parented and lives on.
        tokio::spawn(async move {
            let _ = child.wait().await;
        });
        record.pid = Some(pid);
        if let Err(e) = write_record(dir, &record) {
            let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
            return Err(e);
        }
        tracing::info!(group = %self.group, instance = %l.name, pid, runner = l.runner_id.get(), "runner process started");
        Ok(())
    }

    fn spawn_err(&self, e: std::io::Error) -> FleetError {
        let what = format!("running {}", self.autogit_bin.display());
        match e.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => {
                FleetError::Config(format!("{what}: {e}"))
            }
            _ => io_err(&what, e),
        }
    }

    /// Stops one instance (QUIT, grace, TERM, grace, KILL) and removes its directory. `Ok` = gone.
    async fn delete_one(&self, id: &str) -> Result<(), FleetError> {
        if !crate::valid_name(id) {
            return Ok(()); // never one of ours
        }
        let dir = self.dir(id);
        let record = match read_record(&dir) {
            Ok(Some(r)) if r.group == self.group => r,
            Ok(_) => return Ok(()), // unknown here, or another group's
            Err(e) => return Err(FleetError::Failed(format!("{id}: {e}"))),
        };
        if let Some(pid) = record.pid {
            let (marker, config) = (self.marker(id), dir.join(CONFIG));
            let members = || {
                let (m, c) = (marker.clone(), config.clone());
                blocking(move || Ok(group_members(pid, &m, &c)))
            };
            // gitlab-runner's signals: SIGQUIT lets a job the runner took at the last moment
            // finish; SIGTERM stops it and reports it failed; SIGKILL is for a runner that
            // does neither in time. The first two go to the runner alone (its `git` children
            // must not die of a graceful stop), or to the group when only strays are left.
            for signal in [Signal::SIGQUIT, Signal::SIGTERM] {
                if members().await?.is_empty() {
                    break;
                }
                if leader_alive(pid, &config) {
                    signal_leader(pid, signal);
                } else {
                    signal_group(pid, signal);
                }
                let deadline = Instant::now() + self.grace;
                while !members().await?.is_empty() && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            if !members().await?.is_empty() {
                tracing::warn!(instance = id, grace = ?self.grace, "runner did not stop in time; killing it");
                signal_group(pid, Signal::SIGKILL);
                let deadline = Instant::now() + Duration::from_secs(5);
                while !members().await?.is_empty() {
                    if Instant::now() > deadline {
                        return Err(FleetError::Failed(format!("processes of {id} survive SIGKILL")));
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        match tokio::fs::remove_dir_all(&dir).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&format!("removing {}", dir.display()), e)),
        }
        tracing::info!(group = %self.group, instance = id, "runner process instance deleted");
        Ok(())
    }
}

#[async_trait::async_trait]
impl InstanceGroup for ProcessGroup {
    async fn init(&self) -> Result<ProviderInfo, FleetError> {
        crate::check_names(&self.group, &[])?;
        let meta = std::fs::metadata(&self.autogit_bin)
            .map_err(|e| FleetError::Config(format!("autogit binary {}: {e}", self.autogit_bin.display())))?;
        if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
            return Err(FleetError::Config(format!("{} is not an executable file", self.autogit_bin.display())));
        }
        if !Path::new("/proc/self/cmdline").exists() {
            return Err(FleetError::Config("the process provider needs Linux /proc".into()));
        }
        std::fs::create_dir_all(&self.state_dir)
            .map_err(|e| FleetError::Config(format!("state directory {}: {e}", self.state_dir.display())))?;
        Ok(ProviderInfo {
            id: format!("process/{}", self.group),
            max_size: self.max_size,
            version: env!("CARGO_PKG_VERSION").to_string(),
            can_suspend: false,
        })
    }

    async fn update(&self) -> Result<Vec<Instance>, FleetError> {
        self.scan().await
    }

    async fn increase(&self, launches: &[Launch]) -> Result<usize, FleetError> {
        crate::check_names(&self.group, launches)?;
        let room = self.max_size.saturating_sub(self.scan().await?.len());
        let launches = &launches[..launches.len().min(room)];
        if launches.is_empty() {
            return Ok(0);
        }
        std::fs::create_dir_all(&self.state_dir)
            .map_err(|e| io_err(&format!("creating {}", self.state_dir.display()), e))?;
        let results = futures_util::future::join_all(launches.iter().map(|l| self.launch(l))).await;
        finish_increase(&self.group, results)
    }

    async fn decrease(&self, ids: &[String]) -> Result<Vec<String>, FleetError> {
        let results = futures_util::future::join_all(ids.iter().map(|id| self.delete_one(id))).await;
        finish_decrease(&self.group, ids, results)
    }

    async fn heartbeat(&self, id: &str) -> Result<bool, FleetError> {
        if !crate::valid_name(id) {
            return Ok(false);
        }
        let dir = self.dir(id);
        match read_record(&dir) {
            Ok(Some(Record { pid: Some(pid), group, .. })) if group == self.group => {
                Ok(leader_alive(pid, &dir.join(CONFIG)))
            }
            Ok(_) => Ok(false),
            Err(e) => Err(FleetError::Failed(format!("{id}: {e}"))),
        }
    }

    async fn shutdown(&self) -> Result<(), FleetError> {
        // Nothing is held: the runners are independent processes and stay up.
        Ok(())
    }
}

/// `Ok(n)` if anything started (failures logged), else the first error.
pub(crate) fn finish_increase(group: &str, results: Vec<Result<(), FleetError>>) -> Result<usize, FleetError> {
    let started = results.iter().filter(|r| r.is_ok()).count();
    let mut first = None;
    for e in results.into_iter().filter_map(Result::err) {
        tracing::warn!(group, error = %e, "starting an instance failed");
        first.get_or_insert(e);
    }
    match first {
        Some(e) if started == 0 => Err(e),
        _ => Ok(started),
    }
}

/// The ids that are gone (failures logged); the first error if none is.
pub(crate) fn finish_decrease(
    group: &str,
    ids: &[String],
    results: Vec<Result<(), FleetError>>,
) -> Result<Vec<String>, FleetError> {
    finish_each(group, "deleting an instance", ids, results.into_iter().map(|r| r.map(|()| true)).collect())
}

/// The ids whose call did its work (`Ok(true)`; `Ok(false)` means there was nothing to do for
/// that id), failures logged as "`what` failed"; the first error if no id was done.
pub(crate) fn finish_each(
    group: &str,
    what: &str,
    ids: &[String],
    results: Vec<Result<bool, FleetError>>,
) -> Result<Vec<String>, FleetError> {
    let mut done = vec![];
    let mut first = None;
    for (id, r) in ids.iter().zip(results) {
        match r {
            Ok(true) => done.push(id.clone()),
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(group, instance = %id, error = %e, "{what} failed");
                first.get_or_insert(e);
            }
        }
    }
    match first {
        Some(e) if done.is_empty() => Err(e),
        _ => Ok(done),
    }
}

fn instance(dir: &Path, r: Record, create_timeout: Duration) -> Instance {
    let state = match r.pid {
        Some(pid) if leader_alive(pid, &dir.join(CONFIG)) => State::Running,
        Some(_) => State::TimedOut,
        None if crate::now_ms().saturating_sub(r.created_at) > create_timeout.as_millis() as i64 => State::TimedOut,
        None => State::Creating,
    };
    Instance {
        id: r.name,
        state,
        created_at: r.created_at,
        runner_id: r.labels.get(RUNNER_LABEL).and_then(|v| v.parse().ok()),
        labels: r.labels,
    }
}

/// Reads `<dir>/instance.json`: `None` if there is none.
fn read_record(dir: &Path) -> Result<Option<Record>, String> {
    crate::record::read(&dir.join(RECORD))
}

/// Writes the record atomically (a concurrent `update` never reads half a file).
fn write_record(dir: &Path, r: &Record) -> Result<(), FleetError> {
    crate::record::write(&dir.join(RECORD), r)
}

/// Whether `pid` is alive and still the runner started with `config` (a zombie's cmdline is
/// empty, a reused pid's names something else).
fn leader_alive(pid: u32, config: &Path) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| c.split(|b| *b == 0).any(|arg| arg == config.as_os_str().as_bytes()))
        .unwrap_or(false)
}

/// The live (non-zombie) processes of process group `pgid` that belong to this instance: the
/// leader running `config`, or any process carrying `MARKER_ENV=marker`. If none does, the group
/// is not (or no longer) ours and must not be signalled.
fn group_members(pgid: u32, marker: &str, config: &Path) -> Vec<u32> {
    let needle = format!("{MARKER_ENV}={marker}");
    let Ok(entries) = std::fs::read_dir("/proc") else { return vec![] };
    let mut pids = vec![];
    for pid in entries.flatten().filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok()) {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        // `pid (comm) state ppid pgrp …`; comm may hold spaces and parentheses.
        let Some((_, rest)) = stat.rsplit_once(')') else { continue };
        let mut fields = rest.split_whitespace();
        let (state, pgrp) = (fields.next(), fields.nth(1).and_then(|p| p.parse::<u32>().ok()));
        if pgrp != Some(pgid) || matches!(state, Some("Z" | "X")) {
            continue;
        }
        let marked = std::fs::read(format!("/proc/{pid}/environ"))
            .map(|env| env.split(|b| *b == 0).any(|v| v == needle.as_bytes()))
            .unwrap_or(false);
        if marked || leader_alive(pid, config) {
            pids.push(pid);
        }
    }
    pids
}

fn signal_leader(pid: u32, signal: Signal) {
    match nix::sys::signal::kill(Pid::from_raw(pid as i32), signal) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
        Err(e) => tracing::warn!(pid, ?signal, error = %e, "could not signal a runner"),
    }
}

fn signal_group(pgid: u32, signal: Signal) {
    match killpg(Pid::from_raw(pgid as i32), signal) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
        Err(e) => tracing::warn!(pgid, ?signal, error = %e, "could not signal a runner's process group"),
    }
}

/// An I/O error as a provider error: permissions are configuration, the rest a failed call.
pub(crate) fn io_err(what: &str, e: std::io::Error) -> FleetError {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => FleetError::Config(format!("{what}: {e}")),
        _ => FleetError::Failed(format!("{what}: {e}")),
    }
}

/// The last 500 characters of a command's output, for error messages.
pub(crate) fn tail(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    let s = s.trim();
    match s.char_indices().rev().nth(499) {
        Some((i, _)) => format!("…{}", &s[i..]),
        None => s.to_string(),
    }
}

/// Runs blocking file and process work off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, FleetError> + Send + 'static,
) -> Result<T, FleetError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| FleetError::Failed(format!("a blocking task failed: {e}")))?
}

/// The environment a runner process gets: its own `AUTOGIT_RUNNER_*` settings and the common
/// ones (see [`passed_env`]).
fn runner_env() -> Vec<(String, String)> {
    passed_env("AUTOGIT_RUNNER_")
}

/// The environment of a program the coordinator starts (a runner, a plugin, a power command,
/// `ssh`): the coordinator's own environment holds its secrets (database URL, root password,
/// secrets key), so only the common process settings pass, and the variables named with
/// `prefix`, meant for that program.
pub(crate) fn passed_env(prefix: &str) -> Vec<(String, String)> {
    const KEEP: &[&str] = &[
        "PATH",
        "HOME",
        "LANG",
        "LC_ALL",
        "TZ",
        "TMPDIR",
        "RUST_LOG",
        "RUST_BACKTRACE",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "http_proxy",
        "https_proxy",
        "no_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "DOCKER_HOST",
        "DOCKER_CERT_PATH",
        "DOCKER_TLS_VERIFY",
        "USER",
        "LOGNAME",
        "SSH_AUTH_SOCK",
    ];
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, _)| KEEP.contains(&k.as_str()) || k.starts_with(prefix))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unmarked_process_is_never_a_member() {
        // The test process was not started with the marker and its cmdline names no config.
        let me = std::process::id();
        assert!(!leader_alive(me, Path::new("/nonexistent/runner.toml")));
        assert!(group_members(me, "g/none", Path::new("/nonexistent/runner.toml")).is_empty());
    }

    #[test]
    fn tail_keeps_the_end() {
        assert_eq!(tail(b" short \n"), "short");
        let long = "x".repeat(600) + "END";
        let t = tail(long.as_bytes());
        assert!(t.ends_with("END") && t.starts_with('…') && t.chars().count() == 501);
    }

    #[test]
    fn partial_results() {
        let ids = vec!["a".to_string(), "b".to_string()];
        let r = finish_decrease("g", &ids, vec![Ok(()), Err(FleetError::Failed("x".into()))]);
        assert_eq!(r.ok(), Some(vec!["a".to_string()]));
        let r = finish_decrease(
            "g",
            &ids,
            vec![Err(FleetError::Unavailable("x".into())), Err(FleetError::Failed("y".into()))],
        );
        assert!(matches!(r, Err(FleetError::Unavailable(_))));
        assert_eq!(finish_increase("g", vec![Ok(()), Err(FleetError::Failed("x".into()))]).ok(), Some(1));
        assert!(finish_increase("g", vec![Err(FleetError::Config("x".into()))]).is_err());
        assert_eq!(finish_increase("g", vec![]).ok(), Some(0));
    }
}
