//! What a runner's reported hardware means for matching: its GPU inventory (from
//! `info.config.autogit_inventory`) and the tags derived from it, so that GitLab-style
//! `tags: [gpu, nvidia]` jobs find GPU runners without hand-kept tags.

use autogit_gpu::{DetectedGpu, HostInventory, Vendor};
use autogit_protocol::RunnerInfo;

const INVENTORY_KEY: &str = "autogit_inventory";
const ARCHITECTURES_KEY: &str = "autogit_architectures";

/// The inventory a runner reported, if any (and if it parses: a malformed one is ignored and
/// logged, never trusted in part).
pub(crate) fn reported_inventory(info: &RunnerInfo) -> Option<HostInventory> {
    let v = info.config.get(INVENTORY_KEY)?;
    match serde_json::from_value(v.clone()) {
        Ok(inv) => Some(inv),
        Err(e) => {
            tracing::warn!(error = %e, "runner sent an unreadable GPU inventory; ignored");
            None
        }
    }
}

/// Architectures the runner runs (native first, then emulated), GitLab's names.
pub(crate) fn reported_architectures(info: &RunnerInfo) -> Vec<String> {
    info.config
        .get(ARCHITECTURES_KEY)
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

fn vendor_name(v: Vendor) -> &'static str {
    match v {
        Vendor::Nvidia => "nvidia",
        Vendor::Amd => "amd",
        Vendor::Intel => "intel",
    }
}

/// `NVIDIA H100 80GB HBM3` → `h100-80gb-hbm3`: lower case, the vendor word dropped, every run of
/// other characters one `-`.
pub(crate) fn model_slug(product: &str, vendor: Vendor) -> String {
    let lower = product.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty() && *w != vendor_name(vendor) && *w != "amd" && *w != "radeon" && *w != "instinct")
        .collect();
    words.join("-")
}

/// Tags a runner gets from its ready GPUs: `gpu`, the vendors, `gpu:<vendor>:<model>`, `cuda`
/// (NVIDIA driver), `rocm` (amdgpu with /dev/kfd), plus its architectures.
pub(crate) fn derived_tags(gpus: &[DetectedGpu], architectures: &[String]) -> Vec<String> {
    let mut tags: Vec<String> = architectures.to_vec();
    for g in gpus.iter().filter(|g| g.health.is_ready()) {
        tags.push("gpu".into());
        tags.push(vendor_name(g.vendor).into());
        if let Some(p) = &g.product_name {
            let slug = model_slug(p, g.vendor);
            if !slug.is_empty() {
                tags.push(format!("gpu:{}:{slug}", vendor_name(g.vendor)));
            }
        }
        match g.vendor {
            Vendor::Nvidia => tags.push("cuda".into()),
            Vendor::Amd if g.nodes.shared.iter().any(|n| n.ends_with("/kfd")) => tags.push("rocm".into()),
            _ => {}
        }
    }
    tags.sort();
    tags.dedup();
    tags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_slugs() {
        assert_eq!(model_slug("NVIDIA H100 80GB HBM3", Vendor::Nvidia), "h100-80gb-hbm3");
        assert_eq!(model_slug("AMD Instinct MI210", Vendor::Amd), "mi210");
        assert_eq!(model_slug("NVIDIA GeForce RTX 4090", Vendor::Nvidia), "geforce-rtx-4090");
    }

    #[test]
    fn no_gpus_no_gpu_tags() {
        assert_eq!(derived_tags(&[], &["amd64".into()]), vec!["amd64".to_string()]);
    }
}
