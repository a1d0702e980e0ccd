//! NVML, NVIDIA's management library, as an optional enrichment source (research: gpu.md §2.1).
//!
//! Two halves:
//! - [`query`] loads `libnvidia-ml.so.1` at run time (dlopen through `nvml-wrapper`, cargo
//!   feature `nvml`, on by default) and turns NVML's answers into plain [`NvmlGpu`] values. The
//!   binary never links the library: on a host without it, `query` returns `None` at once.
//! - [`enrich_from_nvml`] merges those values into a [`HostInventory`]. It is pure, so tests feed
//!   it hand-written [`NvmlGpu`]s.
//!
//! Precedence for a field several sources know: **NVML over nvidia-smi over procfs/sysfs**. NVML
//! values replace what the probe found (and `provenance` says [`Source::Nvml`]); a value NVML
//! does not know leaves the probe's in place. A UUID that NVML contradicts is replaced, with a
//! warning. MIG mode only NVML knows: a GPU whose pending mode differs from its current one is
//! [`GpuHealth::MigPending`] (unless its health is already worse).

use crate::model::*;
use crate::pci::PciAddress;

/// One physical GPU as NVML describes it. Every field NVML could not answer is `None`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NvmlGpu {
    /// As NVML prints it (`00000000:1B:00.0`); empty when NVML could not say.
    pub pci_bus_id: String,
    pub uuid: Option<String>,
    pub name: Option<String>,
    /// Bytes.
    pub memory_total: Option<u64>,
    /// CUDA compute capability (major, minor).
    pub cc: Option<(u8, u8)>,
    /// The host's driver version (`sys_driver_version`), the same for every GPU.
    pub driver: Option<String>,
    pub mig_current: Option<bool>,
    /// The MIG mode after the next GPU reset.
    pub mig_pending: Option<bool>,
    pub mig_instances: Vec<NvmlMig>,
}

/// One MIG device (a compute instance inside a GPU instance).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NvmlMig {
    /// `MIG-<uuid>` (drivers ≥ R470) or the older `MIG-GPU-<uuid>/<gi>/<ci>`.
    pub uuid: Option<String>,
    /// `1g.10gb`, from the MIG device's name.
    pub profile: Option<String>,
    pub memory_total: Option<u64>,
    /// GPU and compute instance ids. nvml-wrapper 0.13 has no safe call for them, so they are
    /// known only from the older UUID form ([`legacy_mig_ids`]).
    pub gi: Option<u32>,
    pub ci: Option<u32>,
}

/// What one [`query`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NvmlReport {
    pub gpus: Vec<NvmlGpu>,
    /// NVML errors other than "the library is not there".
    pub warnings: Vec<String>,
}

/// The MIG profile in a MIG device's name: `NVIDIA H100 80GB HBM3 MIG 1g.10gb` → `1g.10gb`.
pub fn mig_profile(name: &str) -> Option<String> {
    let (_, rest) = name.rsplit_once("MIG ")?;
    let profile = rest.split_whitespace().next()?;
    profile.contains('g').then(|| profile.to_string())
}

/// The GPU and compute instance ids of an older-format MIG UUID, `MIG-GPU-<uuid>/<gi>/<ci>`.
pub fn legacy_mig_ids(uuid: &str) -> Option<(u32, u32)> {
    let rest = uuid.strip_prefix("MIG-GPU-")?;
    let mut parts = rest.split('/');
    let (_gpu, gi, ci) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    Some((gi.parse().ok()?, ci.parse().ok()?))
}

/// Merges NVML's view into `inv`: each [`NvmlGpu`] joins the NVIDIA GPU at its PCI address, else
/// the one with its UUID; one that joins none is ignored with a warning.
pub fn enrich_from_nvml(inv: &mut HostInventory, gpus: &[NvmlGpu]) {
    let mut joined = vec![false; inv.gpus.len()];
    for n in gpus {
        let bus = n.pci_bus_id.parse::<PciAddress>().ok();
        let is_nvidia = |g: &DetectedGpu| g.vendor == Vendor::Nvidia;
        let by_bus = bus.and_then(|b| inv.gpus.iter().position(|g| is_nvidia(g) && g.pci.address == b));
        let by_uuid = || {
            let u = n.uuid.as_deref()?;
            inv.gpus.iter().position(|g| is_nvidia(g) && g.uuid.as_deref() == Some(u))
        };
        let Some(i) = by_bus.or_else(by_uuid) else {
            inv.warnings.push(format!(
                "NVML reports a GPU at bus {:?} (UUID {}) that PCI sysfs does not list: ignored",
                n.pci_bus_id,
                n.uuid.as_deref().unwrap_or("unknown")
            ));
            continue;
        };
        if joined[i] {
            inv.warnings.push(format!("NVML reports {} twice: the second entry is ignored", inv.gpus[i].pci.address));
            continue;
        }
        joined[i] = true;
        if by_bus.is_none() {
            inv.warnings.push(format!(
                "{}: NVML names bus {:?} for UUID {}; joined by UUID",
                inv.gpus[i].pci.address,
                n.pci_bus_id,
                n.uuid.as_deref().unwrap_or_default()
            ));
        }
        merge(&mut inv.gpus[i], n, &mut inv.warnings);
    }
    if !gpus.is_empty() {
        for (g, seen) in inv.gpus.iter().zip(&joined) {
            if !seen
                && g.vendor == Vendor::Nvidia
                && g.kernel_driver.as_deref() == Some("nvidia")
                && g.health.is_ready()
            {
                inv.warnings.push(format!("{}: bound to nvidia but NVML does not list it", g.pci.address));
            }
        }
    }
}

fn merge(g: &mut DetectedGpu, n: &NvmlGpu, warnings: &mut Vec<String>) {
    let address = g.pci.address;
    let set = |g: &mut DetectedGpu, field: &str| {
        g.provenance.insert(field.to_string(), Source::Nvml);
    };
    if let Some(uuid) = n.uuid.as_ref().filter(|u| u.starts_with("GPU-")) {
        if let Some(old) = g.uuid.as_ref().filter(|old| *old != uuid) {
            let from = g.provenance.get("uuid").map(|s| format!("{s:?}")).unwrap_or_default();
            warnings.push(format!("{address}: NVML names UUID {uuid} but {from} said {old}; using NVML's"));
        }
        g.uuid = Some(uuid.clone());
        g.key = GpuKey::Uuid(uuid.clone());
        set(g, "uuid");
    }
    if let Some(name) = n.name.as_ref().filter(|s| !s.trim().is_empty()) {
        g.product_name = Some(name.trim().to_string());
        set(g, "product_name");
    }
    if let Some(bytes) = n.memory_total.filter(|b| *b > 0) {
        g.memory_total_bytes = Some(bytes);
        set(g, "memory_total_bytes");
    }
    if let Some((major, minor)) = n.cc {
        g.arch = Some(Arch::Cuda { major, minor });
        set(g, "arch");
    }
    if let Some(v) = n.driver.as_ref().filter(|s| !s.trim().is_empty()) {
        g.driver_version = Some(v.trim().to_string());
        set(g, "driver_version");
    }
    if let (Some(current), Some(pending)) = (n.mig_current, n.mig_pending) {
        if current != pending {
            // Worse states (no driver, wrong driver, excluded) stay: they say more.
            if g.health.is_ready() {
                g.health = GpuHealth::MigPending;
                set(g, "health");
            }
        } else if g.health == GpuHealth::MigPending {
            // Only NVML sets MigPending; a newer NVML answer clears it.
            g.health = GpuHealth::Ready;
            set(g, "health");
        }
    }
    merge_mig(g, n, warnings);
}

/// Joins NVML's MIG devices to the instances procfs listed (which carry the cap nodes a job
/// needs) by (GPU instance, compute instance) id. NVML gives those ids only in the older UUID
/// form, so otherwise the join is made only when it is unambiguous: one MIG device and one
/// compute instance still without a UUID. What cannot be joined is named in a warning, never
/// guessed.
fn merge_mig(g: &mut DetectedGpu, n: &NvmlGpu, warnings: &mut Vec<String>) {
    let address = g.pci.address;
    let fill = |inst: &mut MigInstance, m: &NvmlMig| {
        inst.uuid = m.uuid.clone().or(inst.uuid.take());
        inst.profile = m.profile.clone().or(inst.profile.take());
        inst.memory_total_bytes = m.memory_total.filter(|b| *b > 0).or(inst.memory_total_bytes);
    };
    let mut unjoined: Vec<&NvmlMig> = Vec::new();
    for m in &n.mig_instances {
        let ids = m.gi.map(|gi| (gi, m.ci)).or_else(|| {
            let (gi, ci) = legacy_mig_ids(m.uuid.as_deref()?)?;
            Some((gi, Some(ci)))
        });
        match ids {
            Some((gi, ci)) => match g.mig_instances.iter_mut().find(|i| i.gi == gi && i.ci == ci) {
                Some(inst) => fill(inst, m),
                None => {
                    let mut inst = MigInstance::new(gi, ci, Vec::new());
                    fill(&mut inst, m);
                    g.mig_instances.push(inst);
                }
            },
            None => unjoined.push(m),
        }
    }
    let open: Vec<usize> = (0..g.mig_instances.len())
        .filter(|&i| g.mig_instances[i].ci.is_some() && g.mig_instances[i].uuid.is_none())
        .collect();
    if let ([m], [i]) = (unjoined.as_slice(), open.as_slice()) {
        fill(&mut g.mig_instances[*i], m);
        unjoined.clear();
    }
    if !unjoined.is_empty() {
        let names: Vec<String> = unjoined
            .iter()
            .map(|m| {
                format!(
                    "{} ({})",
                    m.uuid.as_deref().unwrap_or("no UUID"),
                    m.profile.as_deref().unwrap_or("unknown profile")
                )
            })
            .collect();
        warnings.push(format!(
            "{address}: NVML lists MIG devices {} that cannot be matched to /proc GPU/compute instances (instance ids unknown)",
            names.join(", ")
        ));
    }
    if n.mig_instances.iter().any(|m| m.uuid.is_some() || m.profile.is_some()) {
        g.provenance.insert("mig_instances".into(), Source::Nvml);
    }
    g.mig_instances.sort_by_key(|i| (i.gi, i.ci));
    match n.mig_current {
        Some(false) if !g.mig_instances.is_empty() => warnings.push(format!(
            "{address}: NVML says MIG mode is disabled but /proc lists {} MIG instance(s)",
            g.mig_instances.len()
        )),
        Some(true) if g.mig_instances.is_empty() && n.mig_instances.is_empty() => warnings.push(format!(
            "{address}: MIG mode is enabled but no MIG instance exists: CUDA cannot use this GPU until one is created"
        )),
        _ => {}
    }
}

/// Asks NVML about every GPU. `None` when the library cannot be loaded (no NVIDIA driver
/// installed, or the crate was built without the `nvml` feature): that is normal and silent.
/// Any other NVML error becomes a warning in the report.
#[cfg(feature = "nvml")]
pub fn query() -> Option<NvmlReport> {
    live::query()
}

/// Built without the `nvml` feature: NVML is never asked.
#[cfg(not(feature = "nvml"))]
pub fn query() -> Option<NvmlReport> {
    None
}

#[cfg(feature = "nvml")]
mod live {
    use super::*;
    use nvml_wrapper::Nvml;
    use nvml_wrapper::error::NvmlError;
    use std::ffi::OsStr;

    /// Where driver containers and some sandboxes mount the library, off the loader's path
    /// (gpu.md §2.1); tried only after the default loader failed, and only if present.
    const FALLBACK_LIBS: &[&str] =
        &["/usr/local/nvidia/lib64/libnvidia-ml.so.1", "/usr/local/nvidia/lib/libnvidia-ml.so.1"];

    pub(super) fn query() -> Option<NvmlReport> {
        let mut report = NvmlReport::default();
        let nvml = match init() {
            Ok(n) => n,
            Err(None) => return None,
            Err(Some(e)) => {
                report.warnings.push(format!("NVML: cannot initialise: {e}"));
                return Some(report);
            }
        };
        let driver = answer(nvml.sys_driver_version(), "driver version", &mut report.warnings);
        let count = match nvml.device_count() {
            Ok(c) => c,
            Err(e) => {
                report.warnings.push(format!("NVML: cannot count devices: {e}"));
                return Some(report);
            }
        };
        for index in 0..count {
            match nvml.device_by_index(index) {
                Ok(d) => report.gpus.push(gpu(&d, index, driver.clone(), &mut report.warnings)),
                Err(e) => report.warnings.push(format!("NVML device {index}: {e}")),
            }
        }
        Some(report)
    }

    /// `Err(None)`: the library is not there (silent); `Err(Some(_))`: it is, and failed.
    fn init() -> Result<Nvml, Option<NvmlError>> {
        match Nvml::init() {
            Ok(n) => Ok(n),
            // LibraryNotFound: a stub library (the CUDA toolkit's) without the real one behind it.
            Err(NvmlError::LibloadingError(_) | NvmlError::LibraryNotFound) => {
                for lib in FALLBACK_LIBS.iter().filter(|p| std::path::Path::new(p).exists()) {
                    match Nvml::builder().lib_path(OsStr::new(lib)).init() {
                        Ok(n) => return Ok(n),
                        Err(NvmlError::LibloadingError(_) | NvmlError::LibraryNotFound) => continue,
                        Err(e) => return Err(Some(e)),
                    }
                }
                Err(None)
            }
            Err(e) => Err(Some(e)),
        }
    }

    /// A field's value; `NotSupported` (and `NotFound`) is an ordinary "unknown", anything else
    /// also a warning naming the field.
    fn answer<T>(r: Result<T, NvmlError>, what: &str, warnings: &mut Vec<String>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(NvmlError::NotSupported | NvmlError::NotFound) => None,
            Err(e) => {
                warnings.push(format!("NVML: {what}: {e}"));
                None
            }
        }
    }

    fn gpu(d: &nvml_wrapper::Device<'_>, index: u32, driver: Option<String>, w: &mut Vec<String>) -> NvmlGpu {
        let pci_bus_id =
            answer(d.pci_info(), &format!("device {index} PCI info"), w).map(|p| p.bus_id).unwrap_or_default();
        let at = if pci_bus_id.is_empty() { format!("device {index}") } else { pci_bus_id.clone() };
        let cc = answer(d.cuda_compute_capability(), &format!("{at} compute capability"), w).and_then(|c| {
            let cc = u8::try_from(c.major).ok().zip(u8::try_from(c.minor).ok());
            if cc.is_none() {
                w.push(format!("NVML: {at} compute capability {}.{} is out of range", c.major, c.minor));
            }
            cc
        });
        let mig = answer(d.mig_mode(), &format!("{at} MIG mode"), w);
        let mut out = NvmlGpu {
            uuid: answer(d.uuid(), &format!("{at} UUID"), w),
            name: answer(d.name(), &format!("{at} name"), w),
            memory_total: answer(d.memory_info(), &format!("{at} memory"), w).map(|m| m.total),
            cc,
            driver,
            mig_current: mig.as_ref().map(|m| m.current != 0),
            mig_pending: mig.as_ref().map(|m| m.pending != 0),
            mig_instances: Vec::new(),
            pci_bus_id,
        };
        if out.mig_current == Some(true) {
            let max = answer(d.mig_device_count(), &format!("{at} MIG device count"), w).unwrap_or(0);
            for i in 0..max {
                // Empty slots answer NotFound.
                let Some(m) = answer(d.mig_device_by_index(i), &format!("{at} MIG device {i}"), w) else { continue };
                let uuid = answer(m.uuid(), &format!("{at} MIG device {i} UUID"), w);
                let ids = uuid.as_deref().and_then(legacy_mig_ids);
                out.mig_instances.push(NvmlMig {
                    profile: answer(m.name(), &format!("{at} MIG device {i} name"), w).as_deref().and_then(mig_profile),
                    memory_total: answer(m.memory_info(), &format!("{at} MIG device {i} memory"), w).map(|m| m.total),
                    gi: ids.map(|(gi, _)| gi),
                    ci: ids.map(|(_, ci)| ci),
                    uuid,
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
