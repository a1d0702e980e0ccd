//! A known host of an SSH pool, and the checks its configuration must pass before anything is
//! started on it.

use super::util::{broadcast_addr, magic_packet, split_address, valid_remote_dir};
use super::{DEFAULT_REMOTE_DIR, SshGroup};
use crate::FleetError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

/// One known host of an [`SshGroup`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshHost {
    /// Unique within the group; `[A-Za-z0-9][A-Za-z0-9_.-]*`.
    pub name: String,
    /// `host`, `host:port`, or `[v6addr]:port`; port 22 when none is given.
    pub address: String,
    pub user: String,
    /// Private key for `ssh -i`; the agent's or the default keys when `None`.
    #[serde(default)]
    pub identity_file: Option<PathBuf>,
    /// MAC address for Wake-on-LAN (`aa:bb:cc:dd:ee:ff` or `aa-bb-…`).
    #[serde(default)]
    pub mac: Option<String>,
    /// Where the magic packet is sent (`ip:port`, or `ip` for port 9); [`DEFAULT_BROADCAST`]
    /// when `None`.
    #[serde(default)]
    pub broadcast: Option<String>,
    /// Run locally (program and arguments) to power the host on, instead of Wake-on-LAN (e.g. a
    /// smart-plug or IPMI command). It gets `AUTOGIT_FLEET_HOST=<name>` and
    /// `AUTOGIT_FLEET_ADDRESS=<address>`.
    #[serde(default)]
    pub power_on_command: Option<Vec<String>>,
    /// A shell command run on the host over ssh after its runner stopped, e.g.
    /// `systemctl suspend`. Its exit status is ignored.
    #[serde(default)]
    pub suspend_command: Option<String>,
    /// The runner's directory on the host: `~/…`, absolute, or relative to the home directory;
    /// `[A-Za-z0-9_./~-]` only. [`DEFAULT_REMOTE_DIR`] by default.
    #[serde(default = "default_remote_dir")]
    pub remote_dir: String,
}

fn default_remote_dir() -> String {
    DEFAULT_REMOTE_DIR.to_string()
}

impl SshHost {
    /// A host with only the required fields set (no wake-up, no suspend, the default directory).
    pub fn new(name: &str, address: &str, user: &str) -> Self {
        SshHost {
            name: name.into(),
            address: address.into(),
            user: user.into(),
            identity_file: None,
            mac: None,
            broadcast: None,
            power_on_command: None,
            suspend_command: None,
            remote_dir: default_remote_dir(),
        }
    }
}

impl SshGroup {
    pub(super) fn check_config(&self) -> Result<(), FleetError> {
        crate::check_names(&self.group, &[])?;
        if self.hosts.is_empty() {
            return Err(FleetError::Config(format!("ssh group {} has no hosts", self.group)));
        }
        let mut names = BTreeSet::new();
        for h in &self.hosts {
            let what = |m: &str| FleetError::Config(format!("host {:?}: {m}", h.name));
            if !crate::valid_name(&h.name) {
                return Err(what("invalid name (use [A-Za-z0-9][A-Za-z0-9_.-]*)"));
            }
            if !names.insert(h.name.as_str()) {
                return Err(what("name given twice"));
            }
            let (host, _) = split_address(&h.address);
            if host.is_empty() || host.starts_with('-') || host.chars().any(|c| c.is_whitespace() || c == '@') {
                return Err(what(&format!("invalid address {:?}", h.address)));
            }
            if !h.address.starts_with('[')
                && h.address.matches(':').count() == 1
                && split_address(&h.address).1.is_none()
            {
                return Err(what(&format!("invalid port in {:?}", h.address)));
            }
            if h.user.is_empty()
                || !h.user.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
                || h.user.starts_with('-')
            {
                return Err(what(&format!("invalid user {:?}", h.user)));
            }
            if let Some(key) = &h.identity_file
                && let Err(e) = std::fs::metadata(key)
            {
                return Err(what(&format!("identity file {}: {e}", key.display())));
            }
            if let Some(mac) = &h.mac {
                magic_packet(mac).map_err(|e| what(&e.to_string()))?;
            }
            broadcast_addr(h.broadcast.as_deref()).map_err(|e| what(&e.to_string()))?;
            if h.power_on_command.as_ref().is_some_and(|c| c.is_empty()) {
                return Err(what("power_on_command is empty"));
            }
            if !valid_remote_dir(&h.remote_dir) {
                return Err(what(&format!(
                    "invalid remote_dir {:?} (use [A-Za-z0-9_./~-], ~ only first)",
                    h.remote_dir
                )));
            }
        }
        let meta = std::fs::metadata(&self.autogit_bin)
            .map_err(|e| FleetError::Config(format!("autogit binary {}: {e}", self.autogit_bin.display())))?;
        if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
            return Err(FleetError::Config(format!("{} is not an executable file", self.autogit_bin.display())));
        }
        Ok(())
    }
}
