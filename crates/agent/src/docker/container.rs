//! What the engine is asked to give a job's containers: [`ContainerRules`] (privileges and
//! limits) and the GPUs the coordinator allocated. Pure: settings in, `HostConfig` out.

use autogit_gpu::handoff::ContainerGpus;
use bollard::models::{DeviceMapping, DeviceRequest, HostConfig};

/// The rules every container of a job runs under: the same boundary as the shell executor's
/// sandbox, drawn by the engine. Containers get no engine socket and no host directory except
/// the job's own working copy and variables (both fixed here, never from the job), no new
/// privileges through setuid binaries, and — unless an administrator enables `privileged` for
/// this runner — no privileged mode.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerRules {
    /// `--privileged` for job and service containers (an administrator's choice per runner).
    pub privileged: bool,
    /// Memory of each container, in bytes (swap included); 0: no limit.
    pub memory_bytes: i64,
    /// Processes of each container; 0: no limit.
    pub pids: i64,
}

impl ContainerRules {
    /// The host configuration a container of a job gets, given its network and bind mounts.
    pub fn host_config(&self, network: &str, binds: Vec<String>) -> HostConfig {
        HostConfig {
            binds: (!binds.is_empty()).then_some(binds),
            network_mode: Some(network.to_string()),
            privileged: Some(self.privileged),
            security_opt: (!self.privileged).then(|| vec!["no-new-privileges:true".to_string()]),
            memory: (self.memory_bytes > 0).then_some(self.memory_bytes),
            memory_swap: (self.memory_bytes > 0).then_some(self.memory_bytes),
            pids_limit: (self.pids > 0).then_some(self.pids),
            ..Default::default()
        }
    }
}

/// `base` plus the GPU settings of [`gpu_host_config`].
pub(super) fn merge_gpus(base: HostConfig, gpus: &ContainerGpus) -> HostConfig {
    let g = gpu_host_config(gpus);
    HostConfig { device_requests: g.device_requests, devices: g.devices, group_add: g.group_add, ..base }
}

/// The coordinator's allocation (`AUTOGIT_GPU_KEYS`) as container settings: NVIDIA GPUs by
/// device request with their UUIDs (what `--gpus device=<uuid>` does), AMD/Intel by their exact
/// device nodes. A job with no allocation gets no GPU at all.
pub(super) fn gpu_host_config(g: &ContainerGpus) -> HostConfig {
    let mut hc = HostConfig::default();
    if !g.nvidia_device_ids.is_empty() {
        hc.device_requests = Some(vec![DeviceRequest {
            driver: Some("nvidia".into()),
            device_ids: Some(g.nvidia_device_ids.clone()),
            capabilities: Some(vec![vec!["gpu".into()]]),
            ..Default::default()
        }]);
    }
    if !g.devices.is_empty() {
        hc.devices = Some(
            g.devices
                .iter()
                .map(|d| DeviceMapping {
                    path_on_host: Some(d.clone()),
                    path_in_container: Some(d.clone()),
                    cgroup_permissions: Some("rwm".into()),
                })
                .collect(),
        );
        hc.group_add = Some(g.group_add.clone());
    }
    hc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_are_unprivileged_and_limited_unless_the_administrator_says_otherwise() {
        let rules = ContainerRules { privileged: false, memory_bytes: 1 << 30, pids: 512 };
        let hc = rules.host_config("net", vec!["/host/b:/builds/b".into()]);
        assert_eq!(hc.privileged, Some(false));
        assert_eq!(hc.security_opt, Some(vec!["no-new-privileges:true".to_string()]));
        assert_eq!((hc.memory, hc.memory_swap, hc.pids_limit), (Some(1 << 30), Some(1 << 30), Some(512)));
        assert_eq!(hc.binds, Some(vec!["/host/b:/builds/b".to_string()]), "only the job's own directories");
        assert_eq!(hc.network_mode.as_deref(), Some("net"));
        let open = ContainerRules { privileged: true, ..ContainerRules::default() }.host_config("n", Vec::new());
        assert_eq!((open.privileged, open.security_opt, open.memory, open.binds), (Some(true), None, None, None));
        let merged = merge_gpus(
            rules.host_config("n", Vec::new()),
            &ContainerGpus { devices: vec!["/dev/kfd".into()], ..Default::default() },
        );
        assert_eq!(merged.privileged, Some(false), "GPU settings keep the rules");
        assert_eq!(merged.devices.map(|d| d.len()), Some(1));
    }

    #[test]
    fn gpu_settings_name_exactly_the_allocated_devices() {
        assert_eq!(gpu_host_config(&ContainerGpus::default()), HostConfig::default(), "no GPUs: nothing added");
        let g = ContainerGpus {
            nvidia_device_ids: vec!["GPU-1234".into()],
            devices: vec!["/dev/kfd".into(), "/dev/dri/renderD129".into()],
            group_add: vec!["video".into(), "render".into()],
        };
        let hc = gpu_host_config(&g);
        let req = &hc.device_requests.expect("device request")[0];
        assert_eq!(req.driver.as_deref(), Some("nvidia"));
        assert_eq!(req.device_ids.as_deref(), Some(&["GPU-1234".to_string()][..]));
        assert_eq!(req.count, None, "never `count: -1` (all GPUs)");
        let devices = hc.devices.expect("devices");
        assert_eq!(devices.len(), 2);
        assert_eq!(devices[1].path_on_host.as_deref(), Some("/dev/dri/renderD129"));
        assert_eq!(hc.group_add.expect("groups"), ["video", "render"]);
    }
}
