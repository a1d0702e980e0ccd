//! GPU scheduling decisions per second: 1,000 runners × 8 GPUs, 10,000 queued GPU jobs with mixed
//! requests; each decision walks the runners in order as the coordinator does
//! (`can_allocate`, then `allocate`). `cargo bench -p autogit-scheduler --bench gpu`.

use std::collections::{BTreeMap, VecDeque};

use autogit_core::{JobId, RunnerId};
use autogit_gpu::model::{Arch, DetectedGpu, DeviceNodes, GpuHealth, GpuKey, PciIdentity, Vendor};
use autogit_gpu::pci::PciAddress;
use autogit_scheduler::gpu::{GpuPool, GpuRequest};
use divan::counter::ItemsCount;
use divan::{Bencher, black_box};

const RUNNERS: u64 = 1_000;
const JOBS: u64 = 10_000;
const GB: u64 = 1_000_000_000;

fn main() {
    divan::main();
}

fn gpu(runner: u64, slot: u8, vendor: Vendor, device_id: u16, name: &str, mem: u64, arch: Arch) -> DetectedGpu {
    let address = PciAddress { domain: 0, bus: 0x10 + slot, device: 0, function: 0 };
    DetectedGpu {
        key: GpuKey::Uuid(format!("GPU-{runner:08x}-{slot:04x}")),
        vendor,
        pci: PciIdentity {
            address,
            vendor_id: 0,
            device_id,
            subsystem_vendor_id: None,
            subsystem_device_id: None,
            class_code: 0x030200,
        },
        kernel_driver: None,
        driver_version: None,
        product_name: Some(name.into()),
        uuid: None,
        memory_total_bytes: Some(mem),
        arch: Some(arch),
        multiprocessors: None,
        integrated: false,
        numa_node: Some(u16::from(slot / 4)),
        nodes: DeviceNodes::default(),
        nvidia_minor: None,
        mig_instances: Vec::new(),
        health: GpuHealth::Ready,
        provenance: BTreeMap::new(),
    }
}

/// Four host kinds: 8× 24 GB L4, 8× H100 80GB, 8× MI210, 4× A100 40GB + 4× A100 80GB.
fn inventory(runner: u64) -> Vec<DetectedGpu> {
    let cuda = |major, minor| Arch::Cuda { major, minor };
    (0..8u8)
        .map(|s| match runner % 4 {
            0 => gpu(runner, s, Vendor::Nvidia, 0x27b8, "NVIDIA L4", 24 * GB, cuda(8, 9)),
            1 => gpu(runner, s, Vendor::Nvidia, 0x2330, "NVIDIA H100 80GB HBM3", 85_520_809_984, cuda(9, 0)),
            2 => gpu(
                runner,
                s,
                Vendor::Amd,
                0x740f,
                "Instinct MI210",
                68_702_699_520,
                Arch::AmdGfx { target: "gfx90a".into(), version: 90010 },
            ),
            _ if s < 4 => gpu(runner, s, Vendor::Nvidia, 0x20b0, "NVIDIA A100-SXM4-40GB", 40 * GB + 5, cuda(8, 0)),
            _ => gpu(runner, s, Vendor::Nvidia, 0x20b2, "NVIDIA A100-SXM4-80GB", 80 * GB + 5, cuda(8, 0)),
        })
        .collect()
}

fn requests() -> Vec<GpuRequest> {
    [
        "any",
        "nvidia",
        "nvidia:2,mem>=40GB",
        "nvidia:4,numa=require",
        "nvidia:8,model=*H100*",
        "amd",
        "amd:2,arch=gfx90a",
        "nvidia,mem>=80GB,cc>=9.0",
        "nvidia:2,mem>=40GB,numa=ignore",
        "intel",
    ]
    .iter()
    .map(|s| GpuRequest::parse(s).expect("bench request parses"))
    .collect()
}

/// The bench numbers runners and jobs with `u64` counters; ids are `i64` underneath.
fn runner_id(k: u64) -> RunnerId {
    RunnerId::new(i64::try_from(k).expect("bench counters stay small"))
}

fn job_id(k: u64) -> JobId {
    JobId::new(i64::try_from(k).expect("bench counters stay small"))
}

fn filled_pool() -> GpuPool {
    let mut pool = GpuPool::new();
    for r in 0..RUNNERS {
        pool.set_inventory(runner_id(r), inventory(r));
    }
    pool
}

/// One decision: the first runner, in id order, that can take the job now.
fn place(pool: &mut GpuPool, job: u64, req: &GpuRequest) -> Option<u64> {
    for r in 0..RUNNERS {
        if pool.can_allocate(runner_id(r), req) {
            return pool.allocate(runner_id(r), job_id(job), req).ok().map(|a| a.fence);
        }
    }
    None
}

/// 10,000 queued jobs against an empty fleet: the first ~3,000 fill it (25,000 GPUs asked of
/// 8,000), the rest each walk all 1,000 runners and find nothing. Pool build not timed.
#[divan::bench(sample_count = 5)]
fn queue_10k_from_empty(bencher: Bencher) {
    let reqs = requests();
    bencher.counter(ItemsCount::new(JOBS)).with_inputs(filled_pool).bench_local_values(|mut pool| {
        let mut placed = 0u64;
        for job in 0..JOBS {
            placed += u64::from(place(&mut pool, job, &reqs[job as usize % reqs.len()]).is_some());
        }
        black_box((placed, pool.usage()))
    });
}

/// Steady state on a busy fleet: the oldest running job finishes, then the next queued job is
/// placed (a release plus one decision per iteration).
#[divan::bench]
fn steady_state_decision(bencher: Bencher) {
    let reqs = requests();
    let mut pool = filled_pool();
    let mut running: VecDeque<(u64, u64)> = VecDeque::new();
    let mut job = 0u64;
    while job < JOBS {
        if let Some(fence) = place(&mut pool, job, &reqs[job as usize % reqs.len()]) {
            running.push_back((job, fence));
        }
        job += 1;
    }
    bencher.counter(ItemsCount::new(1usize)).bench_local(|| {
        if let Some((j, fence)) = running.pop_front() {
            let _ = pool.release(job_id(j), fence);
        }
        if let Some(fence) = place(&mut pool, job, &reqs[job as usize % reqs.len()]) {
            running.push_back((job, fence));
        }
        job += 1;
    });
}

/// A request no runner can ever meet: the explanation walks every GPU.
#[divan::bench(sample_count = 20)]
fn explain_unsatisfiable(bencher: Bencher) {
    let pool = filled_pool();
    let req = GpuRequest::parse("nvidia:2,mem>=100GB").expect("parses");
    bencher.bench_local(|| black_box(pool.explain_unsatisfiable(&req)));
}
