//! The simulator's side of the story: a seeded PRNG, random hosts and requests, and placement
//! rules restated plainly (every subset tried) to compare the pool against.

use std::collections::HashSet;

use autogit_gpu::model::{Arch, GpuHealth, GpuKey, Vendor};
use autogit_gpu::request::{Cmp, GpuRequest, Numa};

use super::tests::{GB, gpu};
use super::{DetectedGpu, gpu_key};
use autogit_core::RunnerId;

/// xorshift64*: deterministic and dependency-free.
#[derive(Default)]
pub(super) struct Rng(pub u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0.max(1);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// What one hold is keyed by, restated: a UUID is global, a PCI address per runner.
pub(super) fn unit(runner: RunnerId, key: &str) -> String {
    if key.starts_with("pci:") { format!("{runner}/{key}") } else { key.to_owned() }
}

/// A GPU from a small catalogue; sometimes keyed by PCI address only, sometimes of unknown
/// memory or NUMA node, sometimes not ready.
pub(super) fn random_gpu(rng: &mut Rng, serial: &mut u64, bus: u8) -> DetectedGpu {
    let cuda = |major, minor| Some(Arch::Cuda { major, minor });
    let (vendor, device, name, memory, arch) = match rng.below(5) {
        0 => (Vendor::Nvidia, 0x27b8, "NVIDIA L4", Some(24 * GB), cuda(8, 9)),
        1 => (Vendor::Nvidia, 0x20b0, "NVIDIA A100-SXM4-40GB", Some(40 * GB + 1), cuda(8, 0)),
        2 => (Vendor::Nvidia, 0x2330, "NVIDIA H100 80GB HBM3", Some(85_520_809_984), cuda(9, 0)),
        3 => (
            Vendor::Amd,
            0x740f,
            "Instinct MI210",
            Some(68_702_699_520),
            Some(Arch::AmdGfx { target: "gfx90a".into(), version: 90010 }),
        ),
        _ => (Vendor::Intel, 0x56a0, "Intel Arc A770", None, Some(Arch::Intel)),
    };
    let mut g = gpu(vendor, bus);
    *serial += 1;
    if !rng.chance(20) {
        let uuid = format!("GPU-{serial:05}");
        g.key = GpuKey::Uuid(uuid.clone());
        g.uuid = Some(uuid);
    }
    g.pci.device_id = device;
    g.product_name = Some(name.into());
    g.memory_total_bytes = if rng.chance(10) { None } else { memory };
    g.arch = arch;
    g.numa_node = *rng.pick(&[None, Some(0), Some(0), Some(1), Some(1)]);
    g.health = match rng.below(20) {
        0 => GpuHealth::NoDriver,
        1 => GpuHealth::WrongDriver("vfio-pci".into()),
        2 => GpuHealth::Excluded,
        3 => GpuHealth::MigPending,
        _ => GpuHealth::Ready,
    };
    g
}

pub(super) fn random_inventory(rng: &mut Rng, serial: &mut u64) -> Vec<DetectedGpu> {
    (0..rng.below(9) as u8).map(|i| random_gpu(rng, serial, i + 1)).collect()
}

pub(super) fn random_request(rng: &mut Rng) -> GpuRequest {
    let mut r = GpuRequest {
        count: *rng.pick(&[1, 1, 1, 1, 2, 2, 3, 4, 8]),
        vendor: *rng.pick(&[
            None,
            None,
            Some(Vendor::Nvidia),
            Some(Vendor::Nvidia),
            Some(Vendor::Amd),
            Some(Vendor::Intel),
        ]),
        same_model: !rng.chance(30),
        numa: *rng.pick(&[Numa::Prefer, Numa::Require, Numa::Ignore]),
        ..GpuRequest::default()
    };
    if rng.chance(30) {
        let gb = *rng.pick(&[20, 40, 80]);
        r.memory = Some((Cmp::Ge, gb * GB, format!("{gb}GB")));
    }
    if matches!(r.vendor, None | Some(Vendor::Nvidia)) && rng.chance(10) {
        r.compute_capability = Some((Cmp::Ge, (9, 0)));
    }
    if rng.chance(5) {
        r.model = Some("*H100*".into());
    }
    if rng.chance(5) {
        r.arch = vec!["gfx90a".into()];
    }
    r
}

fn model(g: &DetectedGpu) -> (Vendor, u16, u16, Option<&str>) {
    (g.vendor, g.pci.vendor_id, g.pci.device_id, g.product_name.as_deref())
}

/// A set's (spread over NUMA nodes, total memory) if it satisfies the set-wide constraints.
pub(super) fn score(set: &[DetectedGpu], req: &GpuRequest) -> Option<(bool, u128)> {
    let n = set.len();
    if n > 1 && req.same_model && set.iter().any(|g| model(g) != model(&set[0])) {
        return None;
    }
    let one_node = set.iter().all(|g| g.numa_node == set[0].numa_node);
    if n > 1 && req.numa == Numa::Require && !(one_node && set[0].numa_node.is_some()) {
        return None;
    }
    let spread = n > 1 && req.numa != Numa::Ignore && !one_node;
    Some((spread, set.iter().map(|g| u128::from(g.memory_total_bytes.unwrap_or(u64::MAX))).sum()))
}

/// The best score over every `count`-subset of the runner's ready, qualifying GPUs not in
/// `held`; `None` when no subset fits.
pub(super) fn brute(
    runner: RunnerId,
    inv: &[DetectedGpu],
    req: &GpuRequest,
    held: &HashSet<String>,
) -> Option<(bool, u128)> {
    let c: Vec<&DetectedGpu> = inv
        .iter()
        .filter(|g| g.health.is_ready() && req.matches(g).is_ok() && !held.contains(&unit(runner, &gpu_key(g))))
        .collect();
    let n = req.count as usize;
    (0u32..1 << c.len())
        .filter(|mask| mask.count_ones() as usize == n)
        .filter_map(|mask| {
            let set: Vec<DetectedGpu> =
                c.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, g)| (*g).clone()).collect();
            score(&set, req)
        })
        .min()
}
