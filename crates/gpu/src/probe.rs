//! The I/O edge of the detector: reads sysfs and procfs under a root (`/` on a host, a fixture
//! tree in tests). Symlinks are read with `read_link` + file name, never canonicalised, so a
//! fixture cannot point the detector outside its root. Device node paths are reported
//! host-absolute (`/dev/nvidia0`) whatever the root.

use crate::amd::{self, KfdNode};
use crate::model::*;
use crate::nvidia::{self, SmiGpu};
use crate::pci::{self, PciAddress};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

pub struct Detector {
    pub root: PathBuf,
    /// Output of `nvidia-smi --query-gpu=SMI_QUERY …`, when the caller could run it: memory
    /// size and compute capability are not in procfs.
    pub nvidia_smi: Option<String>,
}

impl Detector {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Detector { root: root.into(), nvidia_smi: None }
    }

    fn read(&self, rel: impl AsRef<Path>) -> Option<String> {
        fs::read_to_string(self.root.join(rel)).ok()
    }

    fn exists(&self, rel: &str) -> bool {
        self.root.join(rel).exists()
    }

    fn link_name(&self, rel: impl AsRef<Path>) -> Option<String> {
        fs::read_link(self.root.join(rel)).ok()?.file_name().map(|n| n.to_string_lossy().into_owned())
    }

    fn list(&self, rel: impl AsRef<Path>) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.root.join(rel))
            .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        names.sort();
        names
    }

    pub fn detect(&self) -> HostInventory {
        let mut warnings = Vec::new();
        let devices = "sys/bus/pci/devices";
        if !self.root.join(devices).is_dir() {
            warnings.push(format!("{} has no PCI sysfs ({devices}): no GPUs can be detected", self.root.display()));
        }
        let kfd = self.kfd_nodes();
        let nvidia_version = self.nvidia_driver_version();
        let (smi, smi_errors) = self.nvidia_smi.as_deref().map(nvidia::parse_smi).unwrap_or_default();
        warnings.extend(smi_errors);
        let mut gpus = Vec::new();
        for name in self.list(devices) {
            let dir = format!("{devices}/{name}");
            let Ok(address) = name.parse::<PciAddress>() else {
                warnings.push(format!("{dir}: not a PCI address"));
                continue;
            };
            let Some(class) = self.read(format!("{dir}/class")).as_deref().and_then(pci::parse_hex) else {
                warnings.push(format!("{address}: unreadable class"));
                continue;
            };
            if class >> 16 != pci::CLASS_DISPLAY {
                continue;
            }
            let hex16 = |f: &str| {
                self.read(format!("{dir}/{f}")).as_deref().and_then(pci::parse_hex).and_then(|v| u16::try_from(v).ok())
            };
            let (Some(vendor_id), Some(device_id)) = (hex16("vendor"), hex16("device")) else {
                warnings.push(format!("{address}: unreadable vendor or device id"));
                continue;
            };
            let vendor = match vendor_id {
                pci::VENDOR_NVIDIA => Vendor::Nvidia,
                pci::VENDOR_AMD => Vendor::Amd,
                pci::VENDOR_INTEL => Vendor::Intel,
                other => {
                    warnings
                        .push(format!("{address}: display device of vendor 0x{other:04x} ignored (not a compute GPU)"));
                    continue;
                }
            };
            let pci_id = PciIdentity {
                address,
                vendor_id,
                device_id,
                subsystem_vendor_id: hex16("subsystem_vendor"),
                subsystem_device_id: hex16("subsystem_device"),
                class_code: class,
            };
            let driver = self.link_name(format!("{dir}/driver"));
            let mut provenance = BTreeMap::from([("pci".to_string(), Source::PciSysfs)]);
            if driver.is_some() {
                provenance.insert("kernel_driver".into(), Source::PciSysfs);
            }
            let numa_node = self.read(format!("{dir}/numa_node")).as_deref().and_then(pci::parse_numa);
            if numa_node.is_some() {
                provenance.insert("numa_node".into(), Source::PciSysfs);
            }
            let mut gpu = DetectedGpu {
                key: GpuKey::Pci(address),
                vendor,
                pci: pci_id,
                kernel_driver: driver.clone(),
                driver_version: None,
                product_name: None,
                uuid: None,
                memory_total_bytes: None,
                arch: None,
                multiprocessors: None,
                integrated: false,
                numa_node,
                nodes: DeviceNodes::default(),
                nvidia_minor: None,
                mig_instances: Vec::new(),
                health: health(driver.as_deref(), vendor),
                provenance,
            };
            match vendor {
                Vendor::Nvidia => self.nvidia(&mut gpu, nvidia_version.as_deref(), &smi, &mut warnings),
                Vendor::Amd => self.amd(&mut gpu, &dir, &kfd),
                Vendor::Intel => self.intel(&mut gpu, &dir),
            }
            if let Some(uuid) = &gpu.uuid {
                gpu.key = GpuKey::Uuid(uuid.clone());
            }
            gpus.push(gpu);
        }
        gpus.sort_by_key(|g| g.pci.address);
        HostInventory {
            schema_version: SCHEMA_VERSION,
            detector_version: env!("CARGO_PKG_VERSION").into(),
            gpus,
            warnings,
        }
    }

    fn nvidia_driver_version(&self) -> Option<String> {
        self.read("proc/driver/nvidia/version")
            .as_deref()
            .and_then(nvidia::parse_version)
            .or_else(|| self.read("sys/module/nvidia/version").map(|v| v.trim().to_string()).filter(|v| !v.is_empty()))
    }

    fn nvidia(&self, gpu: &mut DetectedGpu, version: Option<&str>, smi: &[SmiGpu], warnings: &mut Vec<String>) {
        let address = gpu.pci.address;
        if gpu.kernel_driver.as_deref() == Some("nvidia") {
            gpu.driver_version = version.map(str::to_string);
            if gpu.driver_version.is_some() {
                gpu.provenance.insert("driver_version".into(), Source::NvidiaProc);
            }
        }
        match self.read(format!("proc/driver/nvidia/gpus/{address}/information")) {
            Some(text) => {
                let info = nvidia::parse_information(&text);
                if info.bus_location.is_some_and(|b| b != address) {
                    warnings.push(format!("{address}: /proc information names bus {:?}", info.bus_location));
                }
                credit(
                    gpu,
                    Source::NvidiaProc,
                    &[("product_name", info.model.is_some()), ("uuid", info.uuid.is_some())],
                );
                gpu.product_name = info.model;
                gpu.uuid = info.uuid;
                gpu.nvidia_minor = info.minor;
                if info.excluded {
                    gpu.health = GpuHealth::Excluded;
                }
            }
            None if gpu.kernel_driver.as_deref() == Some("nvidia") => {
                warnings.push(format!(
                    "{address}: no /proc/driver/nvidia information (masked in a container?): UUID unknown"
                ));
            }
            None => {}
        }
        if let Some(minor) = gpu.nvidia_minor {
            let node = format!("dev/nvidia{minor}");
            if self.exists(&node) {
                gpu.nodes.exclusive.push(format!("/{node}"));
            }
            gpu.mig_instances = self.mig(minor);
            if !gpu.mig_instances.is_empty() {
                gpu.provenance.insert("mig_instances".into(), Source::NvidiaProc);
            }
        }
        for shared in ["nvidiactl", "nvidia-uvm", "nvidia-uvm-tools"] {
            if self.exists(&format!("dev/{shared}")) {
                gpu.nodes.shared.push(format!("/dev/{shared}"));
            }
        }
        // Precedence for a field several sources know: NVML (merged later by
        // `nvml::enrich_from_nvml`) over nvidia-smi over procfs/sysfs.
        if let Some(s) = smi.iter().find(|s| s.bus == address) {
            if s.uuid.starts_with("GPU-") {
                if gpu.uuid.as_ref().is_some_and(|u| *u != s.uuid) {
                    warnings.push(format!(
                        "{address}: nvidia-smi names UUID {} but /proc says {:?}; using nvidia-smi's",
                        s.uuid, gpu.uuid
                    ));
                }
                gpu.uuid = Some(s.uuid.clone());
                gpu.provenance.insert("uuid".into(), Source::NvidiaSmi);
            }
            if !s.name.is_empty() {
                gpu.product_name = Some(s.name.clone());
                gpu.provenance.insert("product_name".into(), Source::NvidiaSmi);
            }
            if let Some(bytes) = s.memory_total_bytes.filter(|b| *b > 0) {
                gpu.memory_total_bytes = Some(bytes);
                gpu.provenance.insert("memory_total_bytes".into(), Source::NvidiaSmi);
            }
            if let Some((major, minor)) = s.compute_cap {
                gpu.arch = Some(Arch::Cuda { major, minor });
                gpu.provenance.insert("arch".into(), Source::NvidiaSmi);
            }
            if let Some(v) = &s.driver_version {
                gpu.driver_version = Some(v.clone());
                gpu.provenance.insert("driver_version".into(), Source::NvidiaSmi);
            }
        }
    }

    /// MIG instances from `/proc/driver/nvidia/capabilities/gpu<minor>/mig/gi*/[ci*/]access`.
    fn mig(&self, minor: u32) -> Vec<MigInstance> {
        let base = format!("proc/driver/nvidia/capabilities/gpu{minor}/mig");
        let cap = |rel: &str| {
            let text = self.read(rel)?;
            let n: u32 = text.lines().find_map(|l| l.strip_prefix("DeviceFileMinor:"))?.trim().parse().ok()?;
            Some(format!("/dev/nvidia-caps/nvidia-cap{n}"))
        };
        let mut out = Vec::new();
        for gi in self.list(&base).into_iter().filter_map(|n| n.strip_prefix("gi").and_then(|x| x.parse::<u32>().ok()))
        {
            let gi_dir = format!("{base}/gi{gi}");
            let gi_cap = cap(&format!("{gi_dir}/access"));
            let cis: Vec<u32> = self
                .list(&gi_dir)
                .into_iter()
                .filter_map(|n| n.strip_prefix("ci").and_then(|x| x.parse().ok()))
                .collect();
            if cis.is_empty() {
                out.push(MigInstance::new(gi, None, gi_cap.iter().cloned().collect()));
            }
            for ci in cis {
                let mut nodes: Vec<String> = gi_cap.iter().cloned().collect();
                nodes.extend(cap(&format!("{gi_dir}/ci{ci}/access")));
                out.push(MigInstance::new(gi, Some(ci), nodes));
            }
        }
        out
    }

    fn drm(&self, gpu: &mut DetectedGpu, dir: &str) {
        for entry in self.list(format!("{dir}/drm")) {
            if entry.starts_with("card") {
                gpu.nodes.drm_card = Some(entry);
            } else if entry.starts_with("renderD") {
                gpu.nodes.drm_render = Some(entry);
            }
        }
        if let Some(render) = &gpu.nodes.drm_render {
            gpu.nodes.exclusive.push(format!("/dev/dri/{render}"));
            gpu.provenance.insert("drm_render".into(), Source::DrmSysfs);
        }
    }

    fn kfd_nodes(&self) -> Vec<KfdNode> {
        let base = "sys/class/kfd/kfd/topology/nodes";
        self.list(base)
            .into_iter()
            .filter_map(|n| self.read(format!("{base}/{n}/properties")))
            .map(|t| amd::parse_properties(&t))
            .filter(KfdNode::is_gpu)
            .collect()
    }

    fn amd(&self, gpu: &mut DetectedGpu, dir: &str, kfd: &[KfdNode]) {
        let read = |f: &str| self.read(format!("{dir}/{f}")).map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        gpu.memory_total_bytes = read("mem_info_vram_total").and_then(|v| v.parse().ok()).filter(|v| *v > 0);
        gpu.uuid = read("unique_id").filter(|u| u.bytes().all(|b| b.is_ascii_hexdigit()));
        gpu.product_name = read("product_name");
        let known = [
            ("memory_total_bytes", gpu.memory_total_bytes.is_some()),
            ("uuid", gpu.uuid.is_some()),
            ("product_name", gpu.product_name.is_some()),
        ];
        credit(gpu, Source::AmdgpuSysfs, &known);
        self.drm(gpu, dir);
        let render_minor =
            gpu.nodes.drm_render.as_deref().and_then(|r| r.strip_prefix("renderD")).and_then(|n| n.parse().ok());
        if let Some(node) = kfd.iter().find(|n| render_minor.is_some() && n.drm_render_minor == render_minor) {
            gpu.arch = node.gfx_target_version.map(|v| Arch::AmdGfx { target: amd::gfx_target(v), version: v });
            gpu.multiprocessors = node.compute_units();
            gpu.provenance.insert("arch".into(), Source::KfdTopology);
        }
        if self.exists("dev/kfd") {
            gpu.nodes.shared.push("/dev/kfd".into());
        }
    }

    fn intel(&self, gpu: &mut DetectedGpu, dir: &str) {
        // Intel's integrated GPU sits at 00:02.0 on every platform; it has no dedicated memory.
        let a = gpu.pci.address;
        gpu.integrated = a.bus == 0 && a.device == 2;
        self.drm(gpu, dir);
        if let Some(card) = gpu.nodes.drm_card.clone() {
            let lmem =
                self.read(format!("{dir}/drm/{card}/lmem_total_bytes")).and_then(|v| v.trim().parse::<u64>().ok());
            if let Some(bytes) = lmem.filter(|b| *b > 0) {
                gpu.memory_total_bytes = Some(bytes);
                gpu.provenance.insert("memory_total_bytes".into(), Source::DrmSysfs);
            }
        }
        gpu.arch = Some(Arch::Intel);
    }
}

/// Records `source` as the origin of each field that is known.
fn credit(gpu: &mut DetectedGpu, source: Source, fields: &[(&str, bool)]) {
    for (field, known) in fields {
        if *known {
            gpu.provenance.insert((*field).to_string(), source);
        }
    }
}

fn health(driver: Option<&str>, vendor: Vendor) -> GpuHealth {
    let expected: &[&str] = match vendor {
        Vendor::Nvidia => &["nvidia"],
        Vendor::Amd => &["amdgpu"],
        Vendor::Intel => &["i915", "xe"],
    };
    match driver {
        None => GpuHealth::NoDriver,
        Some(d) if expected.contains(&d) => GpuHealth::Ready,
        Some(d) => GpuHealth::WrongDriver(d.to_string()),
    }
}
