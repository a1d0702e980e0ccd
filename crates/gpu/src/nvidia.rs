//! NVIDIA text formats: `/proc/driver/nvidia/version`, `/proc/driver/nvidia/gpus/<bdf>/information`
//! and `nvidia-smi --query-gpu … --format=csv,noheader,nounits` (the fallback when procfs is
//! masked, e.g. inside containers). Pure.

use crate::pci::PciAddress;

/// The fields of an `information` file that the detector uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Information {
    pub model: Option<String>,
    pub uuid: Option<String>,
    pub bus_location: Option<PciAddress>,
    pub minor: Option<u32>,
    /// `GPU Excluded: Yes` (older drivers: `Blacklisted: Yes`).
    pub excluded: bool,
}

/// Parses `key: value` lines split at the first `:`, as the driver's seq_printf writes them.
pub fn parse_information(text: &str) -> Information {
    let mut info = Information::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        match key.trim() {
            "Model" if !value.is_empty() => info.model = Some(value.to_string()),
            "GPU UUID" if value.starts_with("GPU-") => info.uuid = Some(value.to_string()),
            "Bus Location" => info.bus_location = value.parse().ok(),
            "Device Minor" => info.minor = value.parse().ok(),
            "GPU Excluded" | "Blacklisted" => info.excluded = value.eq_ignore_ascii_case("yes"),
            _ => {}
        }
    }
    info
}

/// The driver version from `/proc/driver/nvidia/version`: the first token like `550.54.15`.
pub fn parse_version(text: &str) -> Option<String> {
    let first = text.lines().next()?;
    first
        .split_whitespace()
        .find(|t| {
            let parts: Vec<&str> = t.split('.').collect();
            (2..=3).contains(&parts.len())
                && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(str::to_string)
}

/// The `nvidia-smi` query this detector uses; `name` goes last so that a comma in a product
/// name cannot shift the other fields.
pub const SMI_QUERY: &str = "index,uuid,pci.bus_id,memory.total,compute_cap,driver_version,name";

/// One line of [`SMI_QUERY`] output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmiGpu {
    pub index: u32,
    pub uuid: String,
    pub bus: PciAddress,
    /// MiB → bytes; `None` for `[N/A]`.
    pub memory_total_bytes: Option<u64>,
    pub compute_cap: Option<(u8, u8)>,
    pub driver_version: Option<String>,
    pub name: String,
}

/// Parses `nvidia-smi --query-gpu=SMI_QUERY --format=csv,noheader,nounits`; lines that do not
/// parse are returned as errors naming the line, not dropped silently.
pub fn parse_smi(text: &str) -> (Vec<SmiGpu>, Vec<String>) {
    let mut gpus = Vec::new();
    let mut errors = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.splitn(7, ", ").map(str::trim).collect();
        let known = |v: &str| !(v.is_empty() || v.starts_with('[') || v == "N/A");
        let parsed = (|| {
            if f.len() != 7 {
                return None;
            }
            let cc = f[4].split_once('.').and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)));
            Some(SmiGpu {
                index: f[0].parse().ok()?,
                uuid: f[1].to_string(),
                bus: f[2].parse().ok()?,
                memory_total_bytes: if known(f[3]) {
                    f[3].parse::<u64>().ok().map(|mib| mib * 1_048_576)
                } else {
                    None
                },
                compute_cap: if known(f[4]) { cc } else { None },
                driver_version: known(f[5]).then(|| f[5].to_string()),
                name: f[6].to_string(),
            })
        })();
        match parsed {
            Some(g) => gpus.push(g),
            None => errors.push(format!("nvidia-smi: cannot parse line {line:?}")),
        }
    }
    (gpus, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn information_file() {
        let text = "Model: \t\t NVIDIA H100 80GB HBM3\nIRQ:   \t\t 151\nGPU UUID: \t GPU-5f9a1c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b\nBus Location: \t 0000:1b:00.0\nDevice Minor: \t 3\nGPU Excluded:\t No\n";
        let i = parse_information(text);
        assert_eq!(i.model.as_deref(), Some("NVIDIA H100 80GB HBM3"));
        assert_eq!(i.uuid.as_deref(), Some("GPU-5f9a1c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"));
        assert_eq!(i.minor, Some(3));
        assert!(!i.excluded);
        assert!(parse_information("Blacklisted: Yes\n").excluded, "older drivers");
        assert_eq!(parse_information("garbage\n\0\0:"), Information::default());
    }

    #[test]
    fn versions() {
        assert_eq!(
            parse_version("NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  550.54.15  Release Build  (x)  date\nGCC version: 12.3.0").as_deref(),
            Some("550.54.15")
        );
        assert_eq!(
            parse_version("NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.129.03  Thu").as_deref(),
            Some("535.129.03")
        );
        assert_eq!(parse_version(""), None);
    }

    #[test]
    fn smi_lines() {
        let (g, e) = parse_smi(
            "0, GPU-abc, 00000000:1B:00.0, 81559, 9.0, 550.54.15, NVIDIA H100 80GB HBM3\n1, GPU-def, 00000000:2C:00.0, [N/A], [N/A], 550.54.15, Weird, Name, With Commas\nbroken line\n",
        );
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].memory_total_bytes, Some(81559 * 1_048_576));
        assert_eq!(g[0].compute_cap, Some((9, 0)));
        assert_eq!(g[0].bus.to_string(), "0000:1b:00.0");
        assert_eq!(g[1].memory_total_bytes, None, "unknown is None, never 0");
        assert_eq!(g[1].name, "Weird, Name, With Commas");
        assert_eq!(e.len(), 1);
    }
}
