//! AMD formats: KFD topology `properties` files (`name value` lines). Pure.

use std::collections::BTreeMap;

/// One KFD topology node, joined to a GPU by `drm_render_minor`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KfdNode {
    pub simd_count: u32,
    pub simd_per_cu: Option<u32>,
    pub gfx_target_version: Option<u32>,
    pub drm_render_minor: Option<u32>,
}

pub fn parse_properties(text: &str) -> KfdNode {
    let map: BTreeMap<&str, u64> = text
        .lines()
        .filter_map(|l| {
            let (k, v) = l.trim().split_once(' ')?;
            Some((k, v.trim().parse().ok()?))
        })
        .collect();
    let get = |k: &str| map.get(k).and_then(|v| u32::try_from(*v).ok());
    KfdNode {
        simd_count: get("simd_count").unwrap_or(0),
        simd_per_cu: get("simd_per_cu").filter(|n| *n > 0),
        gfx_target_version: get("gfx_target_version").filter(|n| *n > 0),
        drm_render_minor: get("drm_render_minor").filter(|n| *n > 0),
    }
}

impl KfdNode {
    /// CPU nodes have no SIMDs.
    pub fn is_gpu(&self) -> bool {
        self.simd_count > 0
    }

    pub fn compute_units(&self) -> Option<u32> {
        self.simd_per_cu.map(|per| self.simd_count / per)
    }
}

/// `gfx_target_version` 90010 → `gfx90a`: `gfx{v/10000}{(v/100)%100}{v%100 in hex}`.
pub fn gfx_target(v: u32) -> String {
    format!("gfx{}{}{:x}", v / 10000, (v / 100) % 100, v % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mi210_node() {
        let n = parse_properties(
            "cpu_cores_count 0\nsimd_count 416\nsimd_per_cu 4\ngfx_target_version 90010\ndrm_render_minor 129\n",
        );
        assert!(n.is_gpu());
        assert_eq!(n.compute_units(), Some(104));
        assert_eq!(n.drm_render_minor, Some(129));
        assert_eq!(gfx_target(90010), "gfx90a");
        assert_eq!(gfx_target(110000), "gfx1100");
        assert_eq!(gfx_target(90402), "gfx942");
        assert!(!parse_properties("simd_count 0\n").is_gpu());
        assert_eq!(parse_properties("garbage\nsimd_count x\n"), KfdNode::default());
    }
}
