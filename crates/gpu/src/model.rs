//! The inventory a runner reports: one [`DetectedGpu`] per GPU, each value with its source.
//! This JSON is the stable format of `autogit gpu detect --json`.

use crate::pci::PciAddress;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The inventory schema; bumped on incompatible changes.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Vendor {
    Nvidia,
    Amd,
    Intel,
}

/// The allocation key: the UUID when there is one, else the PCI address.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GpuKey {
    Uuid(String),
    Pci(PciAddress),
}

impl std::fmt::Display for GpuKey {
    /// The stable text form schedulers and logs use: the UUID, else `pci:<address>`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GpuKey::Uuid(u) => f.write_str(u),
            GpuKey::Pci(a) => write!(f, "pci:{a}"),
        }
    }
}

/// Where a value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    PciSysfs,
    NvidiaProc,
    NvidiaSmi,
    AmdgpuSysfs,
    KfdTopology,
    DrmSysfs,
    /// NVIDIA's management library, loaded at run time (`libnvidia-ml.so.1`).
    Nvml,
    /// `rocm-smi --json`, the fallback for AMD values sysfs lacks.
    RocmSmi,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "detail")]
pub enum GpuHealth {
    Ready,
    /// No kernel driver bound.
    NoDriver,
    /// Bound to a driver that cannot run jobs (e.g. `vfio-pci` for passthrough, `nouveau`).
    WrongDriver(String),
    /// The NVIDIA driver excludes it (`GPU Excluded: Yes`).
    Excluded,
    /// MIG mode change pending a GPU reset (NVML's current ≠ pending mode). Only NVML can tell:
    /// procfs has no MIG mode, so the sysfs/procfs probe never sets this.
    MigPending,
}

impl GpuHealth {
    pub fn is_ready(&self) -> bool {
        *self == GpuHealth::Ready
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Arch {
    Cuda { major: u8, minor: u8 },
    AmdGfx { target: String, version: u32 },
    Intel,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceNodes {
    /// Host paths only this GPU uses: `/dev/nvidia0`, `/dev/dri/renderD129`.
    pub exclusive: Vec<String>,
    /// Control nodes every job of the vendor needs: `/dev/nvidiactl`, `/dev/nvidia-uvm`, `/dev/kfd`.
    pub shared: Vec<String>,
    pub drm_card: Option<String>,
    pub drm_render: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PciIdentity {
    pub address: PciAddress,
    pub vendor_id: u16,
    pub device_id: u16,
    pub subsystem_vendor_id: Option<u16>,
    pub subsystem_device_id: Option<u16>,
    pub class_code: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigInstance {
    pub gi: u32,
    pub ci: Option<u32>,
    /// `/dev/nvidia-caps/nvidia-cap<N>` nodes the instance needs.
    pub cap_nodes: Vec<String>,
    /// `MIG-…`, what `CUDA_VISIBLE_DEVICES` takes (from NVML).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// The MIG profile, e.g. `1g.10gb` (from NVML).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_total_bytes: Option<u64>,
}

impl MigInstance {
    /// An instance as procfs shows it: ids and cap nodes, nothing NVML knows yet.
    pub fn new(gi: u32, ci: Option<u32>, cap_nodes: Vec<String>) -> Self {
        MigInstance { gi, ci, cap_nodes, uuid: None, profile: None, memory_total_bytes: None }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetectedGpu {
    pub key: GpuKey,
    pub vendor: Vendor,
    pub pci: PciIdentity,
    pub kernel_driver: Option<String>,
    pub driver_version: Option<String>,
    pub product_name: Option<String>,
    pub uuid: Option<String>,
    /// `None` when unknown — never 0.
    pub memory_total_bytes: Option<u64>,
    pub arch: Option<Arch>,
    /// SMs (NVIDIA) or CUs (AMD).
    pub multiprocessors: Option<u32>,
    pub integrated: bool,
    pub numa_node: Option<u16>,
    pub nodes: DeviceNodes,
    /// NVIDIA device minor (`/dev/nvidia<minor>`); informational, never a key.
    pub nvidia_minor: Option<u32>,
    pub mig_instances: Vec<MigInstance>,
    pub health: GpuHealth,
    /// Field name → where its value came from.
    pub provenance: BTreeMap<String, Source>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostInventory {
    pub schema_version: u32,
    pub detector_version: String,
    /// Sorted by PCI address.
    pub gpus: Vec<DetectedGpu>,
    pub warnings: Vec<String>,
}

impl DetectedGpu {
    /// A ready GPU of which only the vendor and PCI address are known, keyed by that address:
    /// the starting point for tests and simulations to fill in what they need.
    #[must_use]
    pub fn bare(vendor: Vendor, address: PciAddress) -> DetectedGpu {
        DetectedGpu {
            key: GpuKey::Pci(address),
            vendor,
            pci: PciIdentity {
                address,
                vendor_id: 0,
                device_id: 0,
                subsystem_vendor_id: None,
                subsystem_device_id: None,
                class_code: 0x030200,
            },
            kernel_driver: None,
            driver_version: None,
            product_name: None,
            uuid: None,
            memory_total_bytes: None,
            arch: None,
            multiprocessors: None,
            integrated: false,
            numa_node: None,
            nodes: DeviceNodes::default(),
            nvidia_minor: None,
            mig_instances: Vec::new(),
            health: GpuHealth::Ready,
            provenance: BTreeMap::new(),
        }
    }
}

/// A GPU with only its vendor and address known, for unit tests to fill in what they need.
#[cfg(test)]
pub(crate) fn test_gpu(vendor: Vendor, bdf: &str) -> DetectedGpu {
    DetectedGpu::bare(vendor, bdf.parse().expect("test address"))
}
