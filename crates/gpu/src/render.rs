//! The human table of `autogit gpu detect`.

use crate::model::*;

fn gib(bytes: Option<u64>) -> String {
    bytes.map(|b| format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64)).unwrap_or_else(|| "?".into())
}

pub fn table(inv: &HostInventory) -> String {
    let mut rows =
        vec![["PCI", "VENDOR", "PRODUCT", "MEMORY", "ARCH", "DRIVER", "HEALTH", "KEY"].map(String::from).to_vec()];
    for g in &inv.gpus {
        let arch = match &g.arch {
            Some(Arch::Cuda { major, minor }) => format!("sm {major}.{minor}"),
            Some(Arch::AmdGfx { target, .. }) => target.clone(),
            Some(Arch::Intel) => "intel".into(),
            None => "?".into(),
        };
        let memory =
            if g.integrated && g.memory_total_bytes.is_none() { "shared".into() } else { gib(g.memory_total_bytes) };
        let health = match &g.health {
            GpuHealth::Ready => "ready".to_string(),
            GpuHealth::NoDriver => "no driver".into(),
            GpuHealth::WrongDriver(d) => format!("wrong driver ({d})"),
            GpuHealth::Excluded => "excluded".into(),
            GpuHealth::MigPending => "MIG pending".into(),
        };
        let driver = match (&g.kernel_driver, &g.driver_version) {
            (Some(d), Some(v)) => format!("{d} {v}"),
            (Some(d), None) => d.clone(),
            _ => "-".into(),
        };
        let key = match &g.key {
            GpuKey::Uuid(u) => u.clone(),
            GpuKey::Pci(a) => a.to_string(),
        };
        let vendor = match g.vendor {
            Vendor::Nvidia => "nvidia",
            Vendor::Amd => "amd",
            Vendor::Intel => "intel",
        };
        rows.push(vec![
            g.pci.address.to_string(),
            vendor.into(),
            g.product_name.clone().unwrap_or("?".into()),
            memory,
            arch,
            driver,
            health,
            key,
        ]);
    }
    let widths: Vec<usize> = (0..8).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for r in &rows {
        let line: Vec<String> = r.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    if inv.gpus.is_empty() {
        out.push_str("(no GPUs found)\n");
    }
    for w in &inv.warnings {
        out.push_str(&format!("warning: {w}\n"));
    }
    out
}
