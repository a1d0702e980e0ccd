//! Placement and messages, case by case; lifecycles are in `tests_lifecycle`, random traffic in
//! `sim_tests`.

use autogit_gpu::model::{Arch, GpuHealth, GpuKey, Vendor};
use autogit_gpu::pci::PciAddress;

use super::*;

pub(super) const GB: u64 = 1_000_000_000;

/// A ready GPU at bus `bus`, keyed by PCI address, of an unknown model; tests fill in the rest.
pub(super) fn gpu(vendor: Vendor, bus: u8) -> DetectedGpu {
    DetectedGpu::bare(vendor, PciAddress { domain: 0, bus, device: 0, function: 0 })
}

/// An NVIDIA card of `gb` GB on NUMA node 0, keyed `GPU-<tag>-<bus>`; the model is its size.
pub(super) fn nv(tag: u64, bus: u8, gb: u64) -> DetectedGpu {
    let uuid = format!("GPU-{tag}-{bus:02x}");
    let mut g = gpu(Vendor::Nvidia, bus);
    g.key = GpuKey::Uuid(uuid.clone());
    g.uuid = Some(uuid);
    g.pci.device_id = gb as u16;
    g.product_name = Some(format!("NVIDIA {gb}GB"));
    g.memory_total_bytes = Some(gb * GB);
    g.arch = Some(Arch::Cuda { major: 8, minor: 0 });
    g.numa_node = Some(0);
    g
}

fn on_node(mut g: DetectedGpu, node: Option<u16>) -> DetectedGpu {
    g.numa_node = node;
    g
}

pub(super) fn req(s: &str) -> GpuRequest {
    GpuRequest::parse(s).expect("test request parses")
}

pub(super) fn pool(runners: &[(i64, Vec<DetectedGpu>)]) -> GpuPool {
    let mut p = GpuPool::new();
    for (r, gpus) in runners {
        assert!(p.set_inventory(RunnerId::new(*r), gpus.clone()).is_empty());
    }
    p
}

pub(super) fn never(e: Result<Allocation, GpuError>) -> String {
    match e {
        Err(GpuError::Never(m)) => m,
        other => panic!("expected Never, got {other:?}"),
    }
}

#[test]
fn keys_are_uuids_else_pci_addresses() {
    assert_eq!(gpu_key(&nv(1, 0x1b, 80)), "GPU-1-1b");
    assert_eq!(gpu_key(&gpu(Vendor::Amd, 0x1b)), "pci:0000:1b:00.0");
}

#[test]
fn best_fit_takes_the_smallest_adequate_gpu() {
    let mut p = pool(&[(1, vec![nv(1, 1, 80), nv(1, 2, 24), nv(1, 3, 40)])]);
    assert_eq!(p.allocate(RunnerId::new(1), JobId::new(10), &req("nvidia")).expect("fits").gpus, ["GPU-1-02"]);
    assert_eq!(
        p.allocate(RunnerId::new(1), JobId::new(11), &req("nvidia,mem>=30GB")).expect("fits").gpus,
        ["GPU-1-03"]
    );
    assert_eq!(p.allocate(RunnerId::new(1), JobId::new(12), &req("nvidia")).expect("fits").gpus, ["GPU-1-01"]);
    assert!(matches!(p.allocate(RunnerId::new(1), JobId::new(13), &req("nvidia")), Err(GpuError::NoFit(_))));
    assert_eq!(p.usage(), (3, 3));
}

#[test]
fn one_numa_node_is_preferred_over_less_memory_and_can_be_required() {
    let gpus = vec![on_node(nv(1, 1, 24), Some(0)), on_node(nv(1, 2, 24), Some(1)), on_node(nv(1, 3, 24), Some(1))];
    let mut p = pool(&[(1, gpus.clone())]);
    assert_eq!(
        p.allocate(RunnerId::new(1), JobId::new(1), &req("nvidia:2")).expect("fits").gpus,
        ["GPU-1-02", "GPU-1-03"]
    );
    let mut p = pool(&[(1, gpus.clone())]);
    assert_eq!(
        p.allocate(RunnerId::new(1), JobId::new(1), &req("nvidia:2,numa=ignore")).expect("fits").gpus,
        ["GPU-1-01", "GPU-1-02"]
    );
    // Mixed sizes without same_model: the one-node pair wins even though it has more memory.
    let mixed = vec![on_node(nv(1, 1, 24), Some(0)), on_node(nv(1, 2, 24), Some(1)), on_node(nv(1, 3, 80), Some(1))];
    let mut r = req("nvidia:2");
    r.same_model = false;
    let mut p = pool(&[(1, mixed)]);
    assert_eq!(p.allocate(RunnerId::new(1), JobId::new(1), &r).expect("fits").gpus, ["GPU-1-02", "GPU-1-03"]);
    // Required: node 1 holds the only pair; once one of it is taken, a spread pair is not offered.
    let mut p = pool(&[(1, gpus)]);
    assert!(p.allocate(RunnerId::new(1), JobId::new(1), &req("nvidia:2,numa=require")).is_ok());
    assert_eq!(p.allocate(RunnerId::new(1), JobId::new(2), &req("nvidia")).expect("fits").gpus, ["GPU-1-01"]);
    assert!(matches!(
        p.allocate(RunnerId::new(1), JobId::new(3), &req("nvidia:2,numa=require")),
        Err(GpuError::NoFit(_))
    ));
    let apart = vec![on_node(nv(2, 1, 24), Some(0)), on_node(nv(2, 2, 24), Some(1)), on_node(nv(2, 3, 24), None)];
    let mut p = pool(&[(2, apart)]);
    let m = never(p.allocate(RunnerId::new(2), JobId::new(1), &req("nvidia:2,numa=require")));
    assert!(m.contains("runner 2") && m.contains("no 2 on one known NUMA node"), "{m}");
    assert!(
        p.allocate(RunnerId::new(2), JobId::new(1), &req("nvidia:1,numa=require")).is_ok(),
        "one GPU is always on one node"
    );
    assert!(p.allocate(RunnerId::new(2), JobId::new(2), &req("nvidia:2")).is_ok(), "preferred, not required");
}

#[test]
fn same_model_is_enforced_unless_turned_off() {
    let mut p = pool(&[(1, vec![nv(1, 1, 24), nv(1, 2, 40)])]);
    let m = never(p.allocate(RunnerId::new(1), JobId::new(1), &req("nvidia:2")));
    assert!(m.contains("no 2 of one model"), "{m}");
    let mut r = req("nvidia:2");
    r.same_model = false;
    assert_eq!(p.allocate(RunnerId::new(1), JobId::new(1), &r).expect("fits").gpus.len(), 2);
}

#[test]
fn gpus_that_are_not_ready_are_never_allocated() {
    let bad =
        [GpuHealth::NoDriver, GpuHealth::WrongDriver("vfio-pci".into()), GpuHealth::Excluded, GpuHealth::MigPending];
    let mut gpus: Vec<DetectedGpu> =
        bad.iter().enumerate().map(|(i, h)| DetectedGpu { health: h.clone(), ..nv(1, i as u8, 24) }).collect();
    gpus.push(nv(1, 9, 80));
    let mut p = pool(&[(1, gpus)]);
    assert_eq!(p.usage(), (1, 0));
    assert_eq!(p.allocate(RunnerId::new(1), JobId::new(1), &req("any")).expect("the ready one").gpus, ["GPU-1-09"]);
    assert!(matches!(p.allocate(RunnerId::new(1), JobId::new(2), &req("any")), Err(GpuError::NoFit(_))));
    let m = never(p.allocate(RunnerId::new(1), JobId::new(2), &req("any:2")));
    assert!(m.contains("1 of its 5 GPUs qualify") && m.contains("GPU-1-00: not ready: no driver bound"), "{m}");
    assert!(m.contains("bound to vfio-pci") && m.contains("and 1 more"), "{m}");
}

#[test]
fn unknown_attributes_fail_closed_naming_attribute_and_runner() {
    let mut g = nv(1, 1, 80);
    g.memory_total_bytes = None;
    let mut p = pool(&[(7, vec![g])]);
    assert!(!p.can_allocate(RunnerId::new(7), &req("nvidia,mem>=40GB")));
    let m = never(p.allocate(RunnerId::new(7), JobId::new(1), &req("nvidia,mem>=40GB")));
    assert!(m.contains("runner 7") && m.contains("GPU-1-01: memory size unknown"), "{m}");
    let m = never(p.allocate(RunnerId::new(7), JobId::new(1), &req("nvidia,model=*H100*")));
    assert!(m.contains("model \"NVIDIA 80GB\" does not match"), "{m}");
    assert!(p.allocate(RunnerId::new(7), JobId::new(1), &req("nvidia")).is_ok());
}

#[test]
fn explanations_name_the_request_and_the_closest_runner() {
    let p = pool(&[(1, vec![nv(1, 1, 24), nv(1, 2, 24)]), (2, vec![nv(2, 1, 24)]), (3, vec![])]);
    let m = p.explain_unsatisfiable(&req("nvidia:2,mem>=40GB")).expect("unsatisfiable");
    assert!(m.starts_with("no runner has 2× NVIDIA ≥ 40GB; closest: runner 1, where 0 of its 2 GPUs qualify"), "{m}");
    assert!(m.contains("GPU-1-01: memory 24000000000 bytes is not ≥ 40GB"), "{m}");
    let m = p.explain_unsatisfiable(&req("nvidia:3")).expect("unsatisfiable");
    assert_eq!(m, "no runner has 3× NVIDIA; closest: runner 1, where 2 of its 2 GPUs qualify");
    let m = p.explain_unsatisfiable(&req("amd:2,numa=require")).expect("unsatisfiable");
    assert!(m.starts_with("no runner has 2× AMD on one NUMA node"), "{m}");
    let mut invalid = req("nvidia");
    invalid.count = 0;
    assert!(p.explain_unsatisfiable(&invalid).expect("invalid").contains("at least 1 GPU"));
    assert_eq!(
        GpuPool::new().explain_unsatisfiable(&req("any")).expect("empty"),
        "no runner has 1× GPU: no runner has reported GPUs"
    );
    // Busy is not unsatisfiable.
    let mut p = p;
    p.allocate(RunnerId::new(1), JobId::new(1), &req("nvidia:2")).expect("fits");
    assert_eq!(p.explain_unsatisfiable(&req("nvidia:2")), None);
}
