//! Autoscaling providers for AutoGit runners.
//!
//! [`InstanceGroup`] is the provider contract, modelled on GitLab's fleeting
//! `provider.InstanceGroup` (Init/Update/Increase/Decrease/Heartbeat/Shutdown) but with the
//! coordinator's knowledge built in: each instance is started with its own runner token, so an
//! instance *is* a runner and needs no connector (no SSH/WinRM `ConnectInfo`).
//!
//! Four providers:
//! - [`process::ProcessGroup`]: each instance is a local `autogit runner run` process, detached
//!   into its own process group, with its state in `<state_dir>/<name>/`.
//! - [`docker::DockerGroup`]: each instance is a container running `autogit runner` (the binary
//!   bind-mounted read-only), on the local engine or a remote one over TLS.
//! - [`plugin::PluginGroup`]: any external executable speaking the fleet plugin protocol
//!   (JSON-RPC 2.0 over its stdin/stdout, `docs/fleet-plugin-protocol.md`), supervised and
//!   restarted by the coordinator; `examples/fleet_plugin_process.rs` is a reference plugin.
//! - [`ssh::SshGroup`]: a static pool of known hosts (one instance each), woken by Wake-on-LAN
//!   or a power-on command, reached with the system OpenSSH client, suspended after use.
//!
//! The first two find what they created by its labels ([`GROUP_LABEL`], [`RUNNER_LABEL`],
//! [`INSTANCE_LABEL`]), so a restarted coordinator adopts the instances an earlier run left and
//! can reap orphans instead of leaking them; a plugin is expected to do the same.

pub mod contract;
pub mod docker;
pub mod plugin;
pub mod process;
mod record;
pub mod ssh;

pub use contract::{FleetError, Instance, InstanceGroup, Launch, ProviderInfo, State};

/// Label naming the group an instance belongs to: `autogit.group=<group>`.
pub const GROUP_LABEL: &str = "autogit.group";
/// Label naming the AutoGit runner id the instance runs as: `autogit.runner=<runner id>`.
pub const RUNNER_LABEL: &str = "autogit.runner";
/// Label naming the instance (its [`Launch::name`]): `autogit.instance=<name>`.
pub const INSTANCE_LABEL: &str = "autogit.instance";

/// The labels every instance of `group` started from `launch` carries.
pub fn instance_labels(group: &str, launch: &Launch) -> std::collections::BTreeMap<String, String> {
    [
        (GROUP_LABEL.to_string(), group.to_string()),
        (RUNNER_LABEL.to_string(), launch.runner_id.to_string()),
        (INSTANCE_LABEL.to_string(), launch.name.clone()),
    ]
    .into_iter()
    .collect()
}

/// Whether `name` is usable as a group or instance name: it becomes a directory name and part of
/// a container name, so `[A-Za-z0-9][A-Za-z0-9_.-]*`, at most 64 characters.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        && name.len() <= 64
}

/// Checks the group and every launch name up front (before anything is started).
pub(crate) fn check_names(group: &str, launches: &[Launch]) -> Result<(), FleetError> {
    if !valid_name(group) {
        return Err(FleetError::Config(format!("invalid group name {group:?} (use [A-Za-z0-9][A-Za-z0-9_.-]*)")));
    }
    for l in launches {
        if !valid_name(&l.name) {
            return Err(FleetError::Config(format!(
                "invalid instance name {:?} (use [A-Za-z0-9][A-Za-z0-9_.-]*)",
                l.name
            )));
        }
    }
    let mut names: Vec<&str> = launches.iter().map(|l| l.name.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(FleetError::Config(format!("instance name {:?} given twice", w[0])));
    }
    Ok(())
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_name("ci-1"));
        assert!(valid_name("a.b_c"));
        assert!(!valid_name(""));
        assert!(!valid_name("-x"));
        assert!(!valid_name("../x"));
        assert!(!valid_name("a/b"));
        assert!(!valid_name(&"a".repeat(65)));
    }

    #[test]
    fn duplicate_launch_names_are_refused() {
        let l = |n: &str| Launch {
            name: n.into(),
            server_url: String::new(),
            runner_token: String::new(),
            runner_id: autogit_core::RunnerId::new(1),
            concurrent: 1,
            register_args: vec![],
        };
        assert!(check_names("g", &[l("a"), l("b")]).is_ok());
        assert!(matches!(check_names("g", &[l("a"), l("a")]), Err(FleetError::Config(_))));
        assert!(matches!(check_names("g/x", &[]), Err(FleetError::Config(_))));
    }

    #[test]
    fn states_serialise_in_snake_case() {
        assert_eq!(serde_json::to_string(&State::TimedOut).ok().as_deref(), Some("\"timed_out\""));
    }
}
