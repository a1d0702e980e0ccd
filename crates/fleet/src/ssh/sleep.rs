//! Suspend and resume for the SSH provider: a suspended instance keeps its host and its
//! registered runner (`runner.toml` stays on the host); its runner is stopped and the host's
//! `suspend_command` puts it to sleep. Resuming wakes the host, checks the installed binary and
//! starts `autogit runner run` again from that configuration: the same runner, no new
//! registration, and the host's build directories and caches are still there.

use super::scripts::resume_script;
use super::*;

impl SshGroup {
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

/// The ids done, logging the failures; `Err` only when none was done and one failed.
pub(super) fn finish(
    group: &str,
    call: &str,
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
                tracing::warn!(group, instance = %id, error = %e, "{call} failed");
                first.get_or_insert(e);
            }
        }
    }
    match first {
        Some(e) if done.is_empty() => Err(e),
        _ => Ok(done),
    }
}
