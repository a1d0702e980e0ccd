//! Handing allocated GPUs to a job (research: gpu.md §4): the environment a shell job gets, and
//! what a container needs — NVIDIA by device request (UUIDs, as `--gpus device=<uuid>` does),
//! AMD and Intel by their exact device nodes. Only the allocated GPUs, never all. Pure.

use crate::model::{DetectedGpu, GpuKey, Vendor};
use serde::Serialize;

/// What the job is told it got, as JSON in `AUTOGIT_GPUS`.
#[derive(Debug, Serialize)]
struct Allocated<'a> {
    key: &'a GpuKey,
    vendor: Vendor,
    pci: String,
    product_name: Option<&'a str>,
    memory_total_bytes: Option<u64>,
    uuid: Option<&'a str>,
}

/// Environment for a job running directly on the host (shell executor). NVIDIA GPUs by UUID
/// (indices differ between tools); AMD by UUID when known, else by the job-relative index;
/// Intel by index relative to the render nodes the job sees.
pub fn shell_env(gpus: &[DetectedGpu]) -> Vec<(String, String)> {
    let mut env = Vec::new();
    let ids = |vendor: Vendor| -> Vec<String> {
        gpus.iter()
            .filter(|g| g.vendor == vendor)
            .enumerate()
            .map(|(i, g)| match (&g.uuid, vendor) {
                (Some(u), Vendor::Nvidia) => u.clone(),
                (Some(u), Vendor::Amd) => format!("GPU-{u}"),
                _ => i.to_string(),
            })
            .collect()
    };
    let nvidia = ids(Vendor::Nvidia);
    // An empty CUDA_VISIBLE_DEVICES hides every NVIDIA GPU: a job without NVIDIA GPUs must not
    // see the host's.
    env.push(("CUDA_VISIBLE_DEVICES".into(), nvidia.join(",")));
    env.push(("NVIDIA_VISIBLE_DEVICES".into(), if nvidia.is_empty() { "void".into() } else { nvidia.join(",") }));
    let amd = ids(Vendor::Amd);
    if !amd.is_empty() {
        // ROCm reads ROCR first; setting HIP/CUDA indices as well would double-filter.
        env.push(("ROCR_VISIBLE_DEVICES".into(), amd.join(",")));
    }
    let intel = ids(Vendor::Intel);
    if !intel.is_empty() {
        env.push(("ZE_AFFINITY_MASK".into(), intel.join(",")));
    }
    env.push(("AUTOGIT_GPUS".into(), allocated_json(gpus)));
    env
}

pub fn allocated_json(gpus: &[DetectedGpu]) -> String {
    let list: Vec<Allocated<'_>> = gpus
        .iter()
        .map(|g| Allocated {
            key: &g.key,
            vendor: g.vendor,
            pci: g.pci.address.to_string(),
            product_name: g.product_name.as_deref(),
            memory_total_bytes: g.memory_total_bytes,
            uuid: g.uuid.as_deref(),
        })
        .collect();
    serde_json::to_string(&list).unwrap_or_else(|_| "[]".into())
}

/// What a container needs for exactly these GPUs.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ContainerGpus {
    /// NVIDIA device request ids (UUIDs): the engine's `DeviceRequest{driver: nvidia, device_ids}`.
    pub nvidia_device_ids: Vec<String>,
    /// Host device nodes to pass through as they are (`/dev/kfd`, `/dev/dri/renderD129`).
    pub devices: Vec<String>,
    /// Groups the job needs for those nodes.
    pub group_add: Vec<String>,
}

pub fn container(gpus: &[DetectedGpu]) -> ContainerGpus {
    let mut c = ContainerGpus::default();
    for g in gpus {
        match g.vendor {
            Vendor::Nvidia => {
                if let Some(u) = &g.uuid {
                    c.nvidia_device_ids.push(u.clone());
                }
            }
            Vendor::Amd | Vendor::Intel => {
                for node in g.nodes.exclusive.iter().chain(&g.nodes.shared) {
                    if !c.devices.contains(node) {
                        c.devices.push(node.clone());
                    }
                }
                if !c.group_add.iter().any(|x| x == "render") {
                    c.group_add.extend(["video".to_string(), "render".to_string()]);
                }
            }
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;

    fn gpu(vendor: Vendor, bdf: &str, uuid: Option<&str>, exclusive: &[&str], shared: &[&str]) -> DetectedGpu {
        let base = test_gpu(vendor, bdf);
        DetectedGpu {
            key: uuid.map(|u| GpuKey::Uuid(u.into())).unwrap_or(base.key.clone()),
            uuid: uuid.map(str::to_string),
            nodes: DeviceNodes {
                exclusive: exclusive.iter().map(|s| s.to_string()).collect(),
                shared: shared.iter().map(|s| s.to_string()).collect(),
                drm_card: None,
                drm_render: None,
            },
            ..base
        }
    }

    #[test]
    fn shell_env_names_only_the_allocated_gpus() {
        let gpus = [
            gpu(Vendor::Nvidia, "0000:1b:00.0", Some("GPU-aaa"), &["/dev/nvidia1"], &["/dev/nvidiactl"]),
            gpu(Vendor::Nvidia, "0000:2c:00.0", Some("GPU-bbb"), &["/dev/nvidia0"], &["/dev/nvidiactl"]),
        ];
        let env = shell_env(&gpus);
        let get = |k: &str| env.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        assert_eq!(get("CUDA_VISIBLE_DEVICES"), Some("GPU-aaa,GPU-bbb"));
        assert_eq!(get("ROCR_VISIBLE_DEVICES"), None);
        let json: serde_json::Value = serde_json::from_str(get("AUTOGIT_GPUS").expect("json")).expect("valid");
        assert_eq!(json[1]["pci"], "0000:2c:00.0");
        // No GPUs: every NVIDIA GPU hidden.
        let none = shell_env(&[]);
        assert!(none.contains(&("CUDA_VISIBLE_DEVICES".into(), String::new())));
        assert!(none.contains(&("NVIDIA_VISIBLE_DEVICES".into(), "void".into())));
    }

    #[test]
    fn containers_get_exact_nodes() {
        let gpus = [
            gpu(Vendor::Amd, "0000:43:00.0", Some("1a2b"), &["/dev/dri/renderD129"], &["/dev/kfd"]),
            gpu(Vendor::Amd, "0000:63:00.0", None, &["/dev/dri/renderD130"], &["/dev/kfd"]),
            gpu(Vendor::Nvidia, "0000:1b:00.0", Some("GPU-aaa"), &["/dev/nvidia0"], &["/dev/nvidiactl"]),
        ];
        let c = container(&gpus);
        assert_eq!(c.nvidia_device_ids, ["GPU-aaa"]);
        assert_eq!(c.devices, ["/dev/dri/renderD129", "/dev/kfd", "/dev/dri/renderD130"]);
        assert_eq!(c.group_add, ["video", "render"]);
        let env = shell_env(&gpus[..2]);
        assert!(env.contains(&("ROCR_VISIBLE_DEVICES".into(), "GPU-1a2b,1".into())));
    }
}
