//! Power management for the SSH provider: waking a host (Wake-on-LAN or its power-on command)
//! and waiting for SSH, and suspend and resume. A suspended instance keeps its host and its
//! registered runner (`runner.toml` stays on the host); its runner is stopped and the host's
//! `suspend_command` puts it to sleep. Resuming wakes the host, checks the installed binary and
//! starts `autogit runner run` again from that configuration: the same runner, no new
//! registration, and the host's build directories and caches are still there.

use super::scripts::resume_script;
use super::*;

impl SshGroup {
    /// Wakes `h`: the power-on command, else a magic packet, else nothing (always on).
    pub(super) async fn wake(&self, h: &SshHost) -> Result<(), FleetError> {
        if let Some(argv) = &h.power_on_command {
            let (prog, args) = argv.split_first().ok_or_else(|| FleetError::Config("empty power_on_command".into()))?;
            let out = Command::new(prog)
                .args(args)
                .env_clear()
                .envs(crate::process::passed_env("AUTOGIT_FLEET_"))
                .env("AUTOGIT_FLEET_HOST", &h.name)
                .env("AUTOGIT_FLEET_ADDRESS", &h.address)
                .stdin(Stdio::null())
                .kill_on_drop(true)
                .output();
            let out = tokio::time::timeout(Duration::from_secs(120), out)
                .await
                .map_err(|_| FleetError::Failed(format!("power_on_command for {} took longer than 120 s", h.name)))?
                .map_err(|e| spawn_err(prog, e))?;
            if !out.status.success() {
                return Err(FleetError::Failed(format!(
                    "power_on_command for {} failed ({}): {}",
                    h.name,
                    out.status,
                    tail(&out.stderr)
                )));
            }
            tracing::info!(host = %h.name, "power_on_command ran");
        } else if let Some(mac) = &h.mac {
            let packet = magic_packet(mac)?;
            let target = broadcast_addr(h.broadcast.as_deref())?;
            blocking(move || {
                let socket = std::net::UdpSocket::bind("0.0.0.0:0").map_err(|e| io_err("binding a UDP socket", e))?;
                socket.set_broadcast(true).map_err(|e| io_err("enabling UDP broadcast", e))?;
                // UDP may drop one; three copies is what most WoL tools send.
                for _ in 0..3 {
                    socket
                        .send_to(&packet, target)
                        .map_err(|e| io_err(&format!("sending the magic packet to {target}"), e))?;
                }
                Ok(())
            })
            .await?;
            tracing::info!(host = %h.name, %target, "Wake-on-LAN packet sent");
        }
        Ok(())
    }

    /// Retries `ssh … true` until it succeeds or the ready timeout passes.
    pub(super) async fn wait_ready(&self, h: &SshHost) -> Result<(), FleetError> {
        let deadline = Instant::now() + self.ready_timeout;
        let mut last;
        loop {
            let limit = self.connect_timeout + Duration::from_secs(10);
            match self.ssh(h, "true", None, limit).await {
                Ok(out) if out.status.success() => return Ok(()),
                Ok(out) => last = tail(&out.stderr),
                Err(FleetError::Config(e)) => return Err(FleetError::Config(e)),
                Err(e) => last = e.to_string(),
            }
            if Instant::now() >= deadline {
                return Err(FleetError::Failed(format!(
                    "host {} did not answer ssh within {:?}: {last}",
                    h.name, self.ready_timeout
                )));
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    /// Runs the host's `suspend_command`, if any. Its outcome is only logged: the connection
    /// usually drops as the host goes to sleep.
    pub(super) async fn run_suspend_command(&self, h: &SshHost) {
        if let Some(cmd) = &h.suspend_command {
            match self.ssh(h, cmd, None, self.connect_timeout + Duration::from_secs(30)).await {
                Ok(out) => tracing::info!(host = %h.name, status = %out.status, "suspend_command ran"),
                Err(e) => tracing::info!(host = %h.name, error = %e, "suspend_command did not finish"),
            }
        }
    }

    /// `Ok(true)`: suspended now or already; `Ok(false)`: unknown, still creating, or its host
    /// did not answer (so its runner may still run: decrease it instead).
    pub(super) async fn suspend_one(&self, id: &str) -> Result<bool, FleetError> {
        if !crate::valid_name(id) {
            return Ok(false);
        }
        let path = self.record_path(id);
        let mut record = match read_record(&path) {
            Ok(Some(r)) if r.group == self.group => r,
            Ok(_) => return Ok(false),
            Err(e) => return Err(FleetError::Failed(format!("{id}: {e}"))),
        };
        if record.suspended {
            return Ok(true);
        }
        if !record.started {
            return Ok(false);
        }
        let Some(h) = self.host(&record.host) else { return Ok(false) };
        if !self.stop_runner(h, true).await? {
            tracing::warn!(instance = id, host = %h.name, "host does not answer; not suspended");
            return Ok(false);
        }
        record.suspended = true;
        record.started = false;
        write_record(&path, &record)?;
        self.run_suspend_command(h).await;
        tracing::info!(group = %self.group, instance = id, host = %h.name, "ssh instance suspended");
        Ok(true)
    }

    /// `Ok(true)`: resumed (its runner runs again); `Ok(false)`: not a suspended instance of this
    /// group. On failure the instance is left reported as timed out, for the caller to decrease.
    pub(super) async fn resume_one(&self, id: &str, local_sha: &str) -> Result<bool, FleetError> {
        if !crate::valid_name(id) {
            return Ok(false);
        }
        let path = self.record_path(id);
        let mut record = match read_record(&path) {
            Ok(Some(r)) if r.group == self.group && r.suspended => r,
            Ok(_) => return Ok(false),
            Err(e) => return Err(FleetError::Failed(format!("{id}: {e}"))),
        };
        let Some(h) = self.host(&record.host).cloned() else {
            return Err(FleetError::Config(format!("{id}: host {:?} is no longer configured", record.host)));
        };
        record.suspended = false;
        record.started = false;
        record.resumed_at = Some(crate::now_ms());
        write_record(&path, &record)?;
        let result = async {
            self.wake(&h).await?;
            self.wait_ready(&h).await?;
            self.install(&h, local_sha).await?;
            let steps = (self.grace.as_millis() / 200).max(1);
            let script = resume_script(&h.remote_dir, steps);
            let out = self.ssh(&h, "sh -s", Some(script.as_bytes()), Duration::from_secs(120)).await?;
            if !out.status.success() {
                return Err(FleetError::Failed(format!(
                    "restarting the runner of {id} on {} failed ({}): {}",
                    h.name,
                    out.status,
                    tail(&out.stderr)
                )));
            }
            Ok(())
        }
        .await;
        match result {
            Ok(()) => {
                record.started = true;
                write_record(&path, &record)?;
                tracing::info!(group = %self.group, instance = id, host = %h.name, "ssh instance resumed");
                Ok(true)
            }
            Err(e) => {
                // Timed out from now on: the coordinator decreases it and the host is free again.
                record.resumed_at = Some(0);
                write_record(&path, &record)?;
                Err(e)
            }
        }
    }
}
