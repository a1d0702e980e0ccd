//! Per-job GPU telemetry: peak memory and mean utilisation of the GPUs a job was given, sampled
//! by the runner while the job runs (through NVML, when it can be loaded) and reported with the
//! job's final state. The accumulation is pure; only [`Sampler`] talks to NVML.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One reading of one GPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuSample {
    pub uuid: String,
    pub memory_used_bytes: u64,
    /// Percent of time a kernel ran over NVML's last sample period.
    pub utilization_percent: u32,
}

/// What a job did with one GPU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuUsage {
    pub uuid: String,
    pub peak_memory_bytes: u64,
    pub mean_utilization_percent: f64,
    pub samples: u32,
}

/// Folds samples into per-GPU peak memory and mean utilisation.
#[derive(Debug, Default)]
pub struct UsageAccumulator {
    by_gpu: BTreeMap<String, (u64, u64, u32)>,
}

impl UsageAccumulator {
    pub fn add(&mut self, samples: &[GpuSample]) {
        for s in samples {
            let e = self.by_gpu.entry(s.uuid.clone()).or_default();
            e.0 = e.0.max(s.memory_used_bytes);
            e.1 += u64::from(s.utilization_percent.min(100));
            e.2 += 1;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.by_gpu.is_empty()
    }

    pub fn finish(&self) -> Vec<GpuUsage> {
        self.by_gpu
            .iter()
            .map(|(uuid, &(peak, sum, n))| GpuUsage {
                uuid: uuid.clone(),
                peak_memory_bytes: peak,
                mean_utilization_percent: if n == 0 { 0.0 } else { sum as f64 / f64::from(n) },
                samples: n,
            })
            .collect()
    }
}

/// Reads memory use and utilisation of GPUs by UUID. Open once per job: initialising NVML is
/// the expensive part, a reading is cheap.
pub struct Sampler {
    #[cfg(feature = "nvml")]
    nvml: nvml_wrapper::Nvml,
}

impl Sampler {
    /// `None` when NVML cannot be loaded (no NVIDIA driver, or built without `nvml`).
    #[cfg(feature = "nvml")]
    pub fn open() -> Option<Sampler> {
        nvml_wrapper::Nvml::init().ok().map(|nvml| Sampler { nvml })
    }

    #[cfg(not(feature = "nvml"))]
    pub fn open() -> Option<Sampler> {
        None
    }

    /// One reading of each GPU that answers; GPUs NVML does not know are left out.
    #[cfg(feature = "nvml")]
    pub fn sample(&self, uuids: &[String]) -> Vec<GpuSample> {
        uuids
            .iter()
            .filter_map(|u| {
                let d = self.nvml.device_by_uuid(u.as_str()).ok()?;
                let mem = d.memory_info().ok()?;
                let util = d.utilization_rates().ok()?;
                Some(GpuSample { uuid: u.clone(), memory_used_bytes: mem.used, utilization_percent: util.gpu })
            })
            .collect()
    }

    #[cfg(not(feature = "nvml"))]
    pub fn sample(&self, _uuids: &[String]) -> Vec<GpuSample> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(uuid: &str, mem: u64, util: u32) -> GpuSample {
        GpuSample { uuid: uuid.into(), memory_used_bytes: mem, utilization_percent: util }
    }

    #[test]
    fn peak_memory_and_mean_utilisation_per_gpu() {
        let mut acc = UsageAccumulator::default();
        assert!(acc.is_empty());
        acc.add(&[s("GPU-a", 100, 10), s("GPU-b", 5, 0)]);
        acc.add(&[s("GPU-a", 300, 50)]);
        acc.add(&[s("GPU-a", 200, 150)]); // clamped to 100
        let usage = acc.finish();
        assert_eq!(usage.len(), 2);
        assert_eq!(usage[0].uuid, "GPU-a");
        assert_eq!(usage[0].peak_memory_bytes, 300);
        assert!((usage[0].mean_utilization_percent - 160.0 / 3.0).abs() < 1e-9);
        assert_eq!(usage[0].samples, 3);
        assert_eq!((usage[1].peak_memory_bytes, usage[1].samples), (5, 1));
    }

    #[test]
    fn no_nvml_here_means_no_sampler() {
        // This machine has no NVIDIA driver; on one with it, `open` succeeds.
        if std::path::Path::new("/proc/driver/nvidia/version").exists() {
            return;
        }
        assert!(Sampler::open().is_none());
    }
}
