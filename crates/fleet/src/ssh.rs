//! The `ssh` provider: a static pool of known hosts (homelab GPU desktops) that are woken for a
//! runner and put back to sleep after it.
//!
//! Each host holds at most one instance. [`InstanceGroup::increase`](crate::InstanceGroup::increase)
//! takes a free host, records the pairing in `<state_dir>/<name>.json` (name, host, runner id,
//! group, creation time, labels, whether the runner was started), wakes the host (a Wake-on-LAN
//! magic packet to its broadcast address, or a local `power_on_command`), waits until `ssh … true`
//! answers, copies the `autogit` binary into the host's `remote_dir` (with `scp`, only when the
//! remote `sha256sum` differs) and starts `autogit runner register … && nohup autogit runner run …`
//! there in its own session, its pid in `remote_dir/runner.pid` and its output in
//! `remote_dir/runner.log`.
//!
//! [`InstanceGroup::update`](crate::InstanceGroup::update) asks each host whether that pid is
//! alive; a host that does not answer (asleep, unplugged) shows its instance as
//! [`State::TimedOut`], so the coordinator decreases it. [`InstanceGroup::decrease`](crate::InstanceGroup::decrease)
//! sends SIGTERM to the runner's process group (it stops its running jobs and reports them
//! failed), SIGKILL after the grace period, runs the host's
//! `suspend_command` (its exit is ignored: the connection drops as the host sleeps) and removes
//! the record. A host that does not answer at all is released too (its runner cannot be asked to
//! stop): the start script first stops whatever runner `runner.pid` still names, so a leftover
//! is reaped the next time the host is used.
//!
//! [`InstanceGroup::suspend`](crate::InstanceGroup::suspend) stops the runner but keeps its
//! registration and the record (the host stays taken, [`State::Suspended`]), then runs the
//! suspend command; [`InstanceGroup::resume`](crate::InstanceGroup::resume) wakes the host and
//! starts the same runner again (`ssh/power.rs`).
//!
//! The system OpenSSH client (`ssh`, `scp`) does the work, always with `BatchMode=yes` (no
//! prompts): the key in `identity_file` (or the agent/default keys) must be authorised on the
//! host. Hosts are assumed to run a POSIX shell with `sha256sum`, `nohup` and (optionally)
//! `setsid`, and an sshd with the SFTP subsystem (modern `scp` copies over SFTP).

use crate::{FleetError, Instance, InstanceGroup, Launch, ProviderInfo, RUNNER_LABEL, State};
use autogit_core::RunnerId;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::Command;

/// Where a Wake-on-LAN packet goes when the host names no `broadcast`.
pub const DEFAULT_BROADCAST: &str = "255.255.255.255:9";
/// The directory on a host that holds the runner when the host names none.
pub const DEFAULT_REMOTE_DIR: &str = "~/.autogit-runner";

/// What `<state_dir>/<name>.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    name: String,
    /// The [`SshHost::name`] the instance runs on.
    host: String,
    /// `false` while the host is woken and the runner installed: [`State::Creating`].
    started: bool,
    runner_id: RunnerId,
    group: String,
    /// Unix ms.
    created_at: i64,
    labels: BTreeMap<String, String>,
    /// Put to sleep by `suspend`: [`State::Suspended`] until resumed.
    #[serde(default)]
    suspended: bool,
    /// When the last `resume` began (Unix ms): the creation timeout counts from it.
    #[serde(default)]
    resumed_at: Option<i64>,
}

/// A static pool of hosts reached over SSH (see the module documentation).
pub struct SshGroup {
    group: String,
    autogit_bin: PathBuf,
    state_dir: PathBuf,
    hosts: Vec<SshHost>,
    ssh_options: Vec<String>,
    ready_timeout: Duration,
    connect_timeout: Duration,
    grace: Duration,
    create_timeout: Duration,
}

impl SshGroup {
    /// `autogit_bin` is the (Linux) `autogit` executable copied to the hosts; `state_dir` holds
    /// the records and may be shared by several groups. `ssh_options` are passed to `ssh` and
    /// `scp` as `-o <option>` each, e.g. `StrictHostKeyChecking=accept-new`. Nothing is checked
    /// here: [`InstanceGroup::init`] does that.
    pub fn new(
        group: &str,
        autogit_bin: PathBuf,
        state_dir: PathBuf,
        hosts: Vec<SshHost>,
        ssh_options: Vec<String>,
    ) -> Self {
        let state_dir = std::path::absolute(&state_dir).unwrap_or(state_dir);
        SshGroup {
            group: group.to_string(),
            autogit_bin,
            state_dir,
            hosts,
            ssh_options,
            ready_timeout: Duration::from_secs(180),
            connect_timeout: Duration::from_secs(5),
            grace: Duration::from_secs(10),
            create_timeout: Duration::from_secs(600),
        }
    }

    /// How long [`InstanceGroup::increase`] waits for a woken host to answer `ssh … true`.
    /// Default 180 s.
    pub fn with_ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    /// `ssh -o ConnectTimeout`: how long one connection attempt may take (and so how long
    /// `update` waits for a sleeping host). Default 5 s.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long [`InstanceGroup::decrease`] waits after SIGTERM before SIGKILL. Default 10 s.
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// How long an instance may stay [`State::Creating`] (e.g. a coordinator that crashed
    /// mid-create) before it is reported [`State::TimedOut`]. Default 10 min.
    pub fn with_create_timeout(mut self, timeout: Duration) -> Self {
        self.create_timeout = timeout;
        self
    }

    fn record_path(&self, name: &str) -> PathBuf {
        self.state_dir.join(format!("{name}.json"))
    }

    fn host(&self, name: &str) -> Option<&SshHost> {
        self.hosts.iter().find(|h| h.name == name)
    }

    /// Every record of this group.
    async fn records(&self) -> Result<Vec<Record>, FleetError> {
        let (state_dir, group) = (self.state_dir.clone(), self.group.clone());
        blocking(move || {
            let entries = match std::fs::read_dir(&state_dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
                Err(e) => return Err(io_err(&format!("reading {}", state_dir.display()), e)),
            };
            let mut out = vec![];
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().is_none_or(|e| e != "json") {
                    continue;
                }
                match read_record(&path) {
                    Ok(Some(r)) if r.group == group => out.push(r),
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "skipping an unreadable instance record")
                    }
                }
            }
            out.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(out)
        })
        .await
    }

    /// The state of one record (asks the host when the runner was started).
    async fn state(&self, r: &Record) -> State {
        if r.suspended {
            return State::Suspended;
        }
        if !r.started {
            let since = r.resumed_at.unwrap_or(r.created_at);
            return if crate::now_ms().saturating_sub(since) > self.create_timeout.as_millis() as i64 {
                State::TimedOut
            } else {
                State::Creating
            };
        }
        match self.host(&r.host) {
            Some(h) if self.runner_alive(h).await => State::Running,
            _ => State::TimedOut,
        }
    }

    /// Whether the runner named by the host's `runner.pid` is alive (`false` when the host does
    /// not answer).
    async fn runner_alive(&self, h: &SshHost) -> bool {
        let script = format!("cd {} && p=$(cat runner.pid) && {ALIVE_FN} && alive", remote_word(&h.remote_dir));
        matches!(self.ssh(h, &script, None, Duration::from_secs(30)).await, Ok(out) if out.status.success())
    }

    /// `ssh` with this group's options to `h`, running `script` (a POSIX shell command line).
    fn ssh_command(&self, h: &SshHost, script: &str) -> Command {
        let (host, port) = split_address(&h.address);
        let mut cmd = Command::new("ssh");
        self.common_args(&mut cmd, h);
        if let Some(port) = port {
            cmd.arg("-p").arg(port.to_string());
        }
        cmd.arg("-l").arg(&h.user).arg(host).arg(script);
        cmd.stdin(Stdio::null()).kill_on_drop(true);
        cmd
    }

    fn common_args(&self, cmd: &mut Command, h: &SshHost) {
        // ssh and scp need the agent socket and the home directory, never the server's secrets.
        cmd.env_clear().envs(crate::process::passed_env("AUTOGIT_SSH_"));
        let connect = self.connect_timeout.as_secs().max(1);
        cmd.args(["-o", "BatchMode=yes", "-o"]).arg(format!("ConnectTimeout={connect}")).args([
            "-o",
            "ServerAliveInterval=5",
            "-o",
            "ServerAliveCountMax=3",
        ]);
        if let Some(key) = &h.identity_file {
            cmd.arg("-i").arg(key).args(["-o", "IdentitiesOnly=yes"]);
        }
        for o in &self.ssh_options {
            cmd.arg("-o").arg(o);
        }
    }

    /// Runs `script` on `h`; `Err` when ssh could not be run or took longer than `limit`.
    async fn ssh(
        &self,
        h: &SshHost,
        script: &str,
        stdin: Option<&[u8]>,
        limit: Duration,
    ) -> Result<std::process::Output, FleetError> {
        let mut cmd = self.ssh_command(h, script);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        if stdin.is_some() {
            cmd.stdin(Stdio::piped());
        }
        let run = async {
            let mut child = cmd.spawn().map_err(|e| spawn_err("ssh", e))?;
            if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
                use tokio::io::AsyncWriteExt;
                pipe.write_all(data).await.map_err(|e| io_err("writing to ssh", e))?;
            }
            child.wait_with_output().await.map_err(|e| io_err("running ssh", e))
        };
        match tokio::time::timeout(limit, run).await {
            Ok(r) => r,
            Err(_) => Err(FleetError::Failed(format!("ssh to {} took longer than {limit:?}", h.name))),
        }
    }

    /// Copies the binary into `remote_dir/autogit` unless the remote one has the same sha256.
    async fn install(&self, h: &SshHost, local_sha: &str) -> Result<(), FleetError> {
        let dir = remote_word(&h.remote_dir);
        let check = format!("mkdir -p {dir} && chmod 700 {dir} && {{ sha256sum {dir}/autogit 2>/dev/null || true; }}");
        let out = self.ssh(h, &check, None, Duration::from_secs(60)).await?;
        if !out.status.success() {
            return Err(FleetError::Failed(format!(
                "preparing {} on {} failed ({}): {}",
                h.remote_dir,
                h.name,
                out.status,
                tail(&out.stderr)
            )));
        }
        let remote_sha = String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or("").to_string();
        if remote_sha == local_sha {
            tracing::debug!(host = %h.name, "autogit binary already up to date");
            return Ok(());
        }
        let (host, port) = split_address(&h.address);
        let host = if host.contains(':') { format!("[{host}]") } else { host.to_string() };
        let mut scp = Command::new("scp");
        scp.arg("-q");
        self.common_args(&mut scp, h);
        if let Some(port) = port {
            scp.arg("-P").arg(port.to_string());
        }
        let out = scp
            .arg(&self.autogit_bin)
            .arg(format!("{}@{host}:{}/autogit.new", h.user, scp_dir(&h.remote_dir)))
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(Duration::from_secs(600), out)
            .await
            .map_err(|_| FleetError::Failed(format!("copying autogit to {} took longer than 10 min", h.name)))?
            .map_err(|e| spawn_err("scp", e))?;
        if !out.status.success() {
            return Err(FleetError::Failed(format!(
                "copying autogit to {} failed ({}): {}",
                h.name,
                out.status,
                tail(&out.stderr)
            )));
        }
        let mv = format!("chmod 755 {dir}/autogit.new && mv -f {dir}/autogit.new {dir}/autogit");
        let out = self.ssh(h, &mv, None, Duration::from_secs(60)).await?;
        if !out.status.success() {
            return Err(FleetError::Failed(format!(
                "installing autogit on {} failed ({}): {}",
                h.name,
                out.status,
                tail(&out.stderr)
            )));
        }
        tracing::info!(host = %h.name, "autogit binary copied");
        Ok(())
    }

    /// Registers and starts the runner on `h` (stopping any leftover one first). The script goes
    /// to `sh -s` on ssh's stdin, so the runner token is not in the command line of the local
    /// `ssh` or of the remote shell.
    async fn start_runner(&self, h: &SshHost, l: &Launch) -> Result<(), FleetError> {
        let steps = (self.grace.as_millis() / 200).max(1);
        let script = start_script(&h.remote_dir, l, steps);
        let out = self.ssh(h, "sh -s", Some(script.as_bytes()), Duration::from_secs(300)).await?;
        if !out.status.success() {
            return Err(FleetError::Failed(format!(
                "starting the runner of {} on {} failed ({}): {}",
                l.name,
                h.name,
                out.status,
                tail(&out.stderr)
            )));
        }
        Ok(())
    }

    /// Stops the runner on `h`: `Ok(true)` stopped or none, `Ok(false)` the host did not answer.
    /// `keep_config` keeps its `runner.toml` (a suspended instance resumes from it).
    async fn stop_runner(&self, h: &SshHost, keep_config: bool) -> Result<bool, FleetError> {
        let steps = (self.grace.as_millis() / 200).max(1);
        let script = format!(
            "cd {dir} 2>/dev/null || exit 0\n\
             {ALIVE_FN}\n\
             {STOP_FN}\n\
             [ -f runner.pid ] || exit 0\n\
             p=$(cat runner.pid)\n\
             stop {steps} || exit 3\n\
             rm -f runner.pid {config}\n",
            dir = remote_word(&h.remote_dir),
            config = if keep_config { "" } else { "runner.toml" },
        );
        let limit = self.grace + self.connect_timeout + Duration::from_secs(30);
        let out = self.ssh(h, &script, None, limit).await?;
        match out.status.code() {
            Some(0) => Ok(true),
            Some(255) => Ok(false), // ssh itself failed: asleep or unreachable
            _ => Err(FleetError::Failed(format!(
                "stopping the runner on {} failed ({}): {}",
                h.name,
                out.status,
                tail(&out.stderr)
            ))),
        }
    }

    /// Takes host `h` for launch `l`: wakes it, installs and starts the runner. On failure the
    /// record is removed (the host is free again).
    async fn launch(&self, h: &SshHost, l: &Launch, local_sha: &str) -> Result<(), FleetError> {
        let path = self.record_path(&l.name);
        let mut record = Record {
            name: l.name.clone(),
            host: h.name.clone(),
            started: false,
            runner_id: l.runner_id,
            group: self.group.clone(),
            created_at: crate::now_ms(),
            labels: crate::instance_labels(&self.group, l),
            suspended: false,
            resumed_at: None,
        };
        let mut labels_host = record.labels.clone();
        labels_host.insert(HOST_LABEL.to_string(), h.name.clone());
        record.labels = labels_host;
        create_record(&path, &record)?;
        let mut reached_start = false;
        let result = async {
            self.wake(h).await?;
            self.wait_ready(h).await?;
            self.install(h, local_sha).await?;
            reached_start = true;
            self.start_runner(h, l).await?;
            record.started = true;
            write_record(&path, &record)
        }
        .await;
        if let Err(e) = &result {
            tracing::warn!(instance = %l.name, host = %h.name, error = %e, "launch failed; releasing the host");
            if reached_start && let Err(e) = self.stop_runner(h, false).await {
                tracing::warn!(host = %h.name, error = %e, "could not stop a half-started runner");
            }
            remove_file(&path)?;
        } else {
            tracing::info!(group = %self.group, instance = %l.name, host = %h.name, runner = l.runner_id.get(), "runner started on host");
        }
        result
    }

    /// Stops one instance, suspends its host, removes its record. `Ok` = gone.
    async fn delete_one(&self, id: &str) -> Result<(), FleetError> {
        if !crate::valid_name(id) {
            return Ok(());
        }
        let path = self.record_path(id);
        let record = match read_record(&path) {
            Ok(Some(r)) if r.group == self.group => r,
            Ok(_) => return Ok(()),
            Err(e) => return Err(FleetError::Failed(format!("{id}: {e}"))),
        };
        match self.host(&record.host) {
            None => {
                tracing::warn!(instance = id, host = %record.host, "host is no longer configured; dropping the record")
            }
            // A suspended instance's host is asleep: nothing to stop (a leftover runner is
            // stopped when the host is next used).
            Some(_) if record.suspended => {}
            Some(h) => {
                if self.stop_runner(h, false).await? {
                    self.run_suspend_command(h).await;
                } else {
                    tracing::warn!(
                        instance = id,
                        host = %h.name,
                        "host does not answer; releasing it (a leftover runner is stopped when it is next used)"
                    );
                }
            }
        }
        remove_file(&path)?;
        tracing::info!(group = %self.group, instance = id, "ssh instance deleted");
        Ok(())
    }
}

/// The label naming the host an instance runs on.
pub const HOST_LABEL: &str = "autogit.host";

#[async_trait::async_trait]
impl InstanceGroup for SshGroup {
    async fn init(&self) -> Result<ProviderInfo, FleetError> {
        self.check_config()?;
        for tool in ["ssh", "scp"] {
            if !on_path(tool) {
                return Err(FleetError::Config(format!("`{tool}` (OpenSSH client) not found on PATH")));
            }
        }
        std::fs::create_dir_all(&self.state_dir)
            .map_err(|e| FleetError::Config(format!("state directory {}: {e}", self.state_dir.display())))?;
        Ok(ProviderInfo {
            id: format!("ssh/{}", self.group),
            max_size: self.hosts.len(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            can_suspend: true,
        })
    }

    async fn update(&self) -> Result<Vec<Instance>, FleetError> {
        let records = self.records().await?;
        let states = futures_util::future::join_all(records.iter().map(|r| self.state(r))).await;
        Ok(records
            .into_iter()
            .zip(states)
            .map(|(r, state)| Instance {
                id: r.name,
                state,
                created_at: r.created_at,
                runner_id: r.labels.get(RUNNER_LABEL).and_then(|v| v.parse().ok()).or(Some(r.runner_id)),
                labels: r.labels,
            })
            .collect())
    }

    async fn increase(&self, launches: &[Launch]) -> Result<usize, FleetError> {
        crate::check_names(&self.group, launches)?;
        self.check_config()?;
        let records = self.records().await?;
        let taken: BTreeSet<&str> = records.iter().map(|r| r.host.as_str()).collect();
        let free: Vec<&SshHost> = self.hosts.iter().filter(|h| !taken.contains(h.name.as_str())).collect();
        let pairs: Vec<(&SshHost, &Launch)> = free.into_iter().zip(launches).collect();
        if pairs.is_empty() {
            return Ok(0);
        }
        std::fs::create_dir_all(&self.state_dir)
            .map_err(|e| io_err(&format!("creating {}", self.state_dir.display()), e))?;
        let local_sha = local_sha256(&self.autogit_bin).await?;
        let results = futures_util::future::join_all(pairs.iter().map(|(h, l)| self.launch(h, l, &local_sha))).await;
        crate::process::finish_increase(&self.group, results)
    }

    async fn decrease(&self, ids: &[String]) -> Result<Vec<String>, FleetError> {
        let results = futures_util::future::join_all(ids.iter().map(|id| self.delete_one(id))).await;
        crate::process::finish_decrease(&self.group, ids, results)
    }

    async fn suspend(&self, ids: &[String]) -> Result<Vec<String>, FleetError> {
        let results = futures_util::future::join_all(ids.iter().map(|id| self.suspend_one(id))).await;
        crate::process::finish_each(&self.group, "suspending an instance", ids, results)
    }

    async fn resume(&self, ids: &[String]) -> Result<Vec<String>, FleetError> {
        self.check_config()?;
        let local_sha = local_sha256(&self.autogit_bin).await?;
        let results = futures_util::future::join_all(ids.iter().map(|id| self.resume_one(id, &local_sha))).await;
        crate::process::finish_each(&self.group, "resuming an instance", ids, results)
    }

    async fn heartbeat(&self, id: &str) -> Result<bool, FleetError> {
        if !crate::valid_name(id) {
            return Ok(false);
        }
        match read_record(&self.record_path(id)) {
            Ok(Some(r)) if r.group == self.group && r.started => match self.host(&r.host) {
                Some(h) => Ok(self.runner_alive(h).await),
                None => Ok(false),
            },
            Ok(_) => Ok(false),
            Err(e) => Err(FleetError::Failed(format!("{id}: {e}"))),
        }
    }

    async fn shutdown(&self) -> Result<(), FleetError> {
        // Nothing is held: the runners live on their hosts.
        Ok(())
    }
}

mod host;
mod power;
mod scripts;
#[cfg(test)]
mod tests;
mod util;

use scripts::{ALIVE_FN, STOP_FN, start_script};

pub use host::SshHost;
pub use util::magic_packet;
use util::*;
