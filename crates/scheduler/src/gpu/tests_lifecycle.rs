//! The life of allocations: the two scenarios, fencing, drift, runner loss, restore,
//! and one GPU reported by two runners.

use autogit_gpu::model::Vendor;

use super::tests::{GB, gpu, nv, pool, req};
use super::*;

/// Issue scenario 1: two 1-GPU jobs, one host with one GPU.
#[test]
fn second_job_waits_until_the_first_releases() {
    let mut p = pool(&[(1, vec![nv(1, 1, 80)])]);
    let one = req("nvidia");
    let a = p.allocate(RunnerId::new(1), JobId::new(1), &one).expect("first job");
    assert!(!p.can_allocate(RunnerId::new(1), &one));
    let Err(GpuError::NoFit(m)) = p.allocate(RunnerId::new(1), JobId::new(2), &one) else {
        panic!("second job must wait")
    };
    assert!(m.contains("runner 1 has 0 free") && m.contains("job(s) 1"), "{m}");
    assert_eq!(p.explain_unsatisfiable(&one), None);
    assert_eq!(p.release(JobId::new(1), a.fence).expect("released"), ["GPU-1-01"]);
    let b = p.allocate(RunnerId::new(1), JobId::new(2), &one).expect("second job after release");
    assert_eq!(b.gpus, a.gpus);
    assert!(b.fence > a.fence);
}

/// Issue scenario 2: a 2-GPU job, hosts with 1 and 2 GPUs: it only ever lands on the 2-GPU one.
#[test]
fn a_two_gpu_job_lands_only_on_the_two_gpu_host() {
    let mut p = pool(&[(1, vec![nv(1, 1, 80)]), (2, vec![nv(2, 1, 80), nv(2, 2, 80)])]);
    let two = req("nvidia:2");
    for job in 0..5 {
        assert!(!p.can_allocate(RunnerId::new(1), &two));
        assert!(matches!(p.allocate(RunnerId::new(1), JobId::new(job), &two), Err(GpuError::Never(_))));
        let placed: Vec<Allocation> =
            [1, 2].iter().filter_map(|r| p.allocate(RunnerId::new(*r), JobId::new(job), &two).ok()).collect();
        assert_eq!(placed.len(), 1);
        assert_eq!((placed[0].runner.get(), placed[0].gpus.len()), (2, 2));
        assert!(matches!(p.allocate(RunnerId::new(2), JobId::new(job + 100), &two), Err(GpuError::NoFit(_))));
        p.release(JobId::new(job), placed[0].fence).expect("released");
    }
}

#[test]
fn fences_fence() {
    let mut p = pool(&[(1, vec![nv(1, 1, 80), nv(1, 2, 80)])]);
    let a = p.allocate(RunnerId::new(1), JobId::new(1), &req("nvidia")).expect("fits");
    assert_eq!(
        p.allocate(RunnerId::new(1), JobId::new(1), &req("nvidia")),
        Err(GpuError::AlreadyAllocated(JobId::new(1)))
    );
    assert_eq!(
        p.release(JobId::new(1), a.fence + 1),
        Err(GpuError::StaleFence { job: JobId::new(1), fence: a.fence + 1 })
    );
    assert_eq!(p.allocation_of(JobId::new(1)), Some(&a));
    p.release(JobId::new(1), a.fence).expect("released");
    assert_eq!(
        p.release(JobId::new(1), a.fence),
        Err(GpuError::StaleFence { job: JobId::new(1), fence: a.fence }),
        "idempotent refusal"
    );
    let b = p.allocate(RunnerId::new(1), JobId::new(1), &req("nvidia")).expect("again");
    assert!(b.fence > a.fence);
    assert!(p.release(JobId::new(1), a.fence).is_err(), "the old fence cannot free the new allocation");
    assert_eq!(
        p.allocate(RunnerId::new(9), JobId::new(2), &req("nvidia")),
        Err(GpuError::UnknownRunner(RunnerId::new(9)))
    );
    assert!(!p.can_allocate(RunnerId::new(9), &req("nvidia")));
}

#[test]
fn vanished_or_changed_gpus_drain() {
    let gpus = vec![nv(1, 1, 24), nv(1, 2, 24), nv(1, 3, 40)];
    let mut p = pool(&[(1, gpus.clone())]);
    let a = p.allocate(RunnerId::new(1), JobId::new(1), &req("nvidia:2")).expect("the 24 GB pair");
    let c = p.allocate(RunnerId::new(1), JobId::new(3), &req("nvidia")).expect("the 40 GB card");
    assert_eq!(p.set_inventory(RunnerId::new(1), gpus.clone()), Vec::<JobId>::new(), "same inventory: no drift");
    // GPU 2 vanishes; GPU 3 now reports another size.
    let changed = DetectedGpu { memory_total_bytes: Some(48 * GB), ..nv(1, 3, 40) };
    assert_eq!(
        p.set_inventory(RunnerId::new(1), vec![gpus[0].clone(), changed.clone()]),
        [JobId::new(1), JobId::new(3)]
    );
    assert_eq!(
        p.set_inventory(RunnerId::new(1), vec![gpus[0].clone(), changed.clone()]),
        [JobId::new(1), JobId::new(3)],
        "reported until released"
    );
    assert_eq!(p.allocation_of(JobId::new(1)), Some(&a), "kept until released");
    assert_eq!(p.usage(), (2, 3));
    assert_eq!(p.gpus_of(RunnerId::new(1), &a.gpus), [gpus[0].clone()]);
    p.release(JobId::new(1), a.fence).expect("released");
    p.release(JobId::new(3), c.fence).expect("released");
    assert_eq!(p.set_inventory(RunnerId::new(1), vec![gpus[0].clone(), changed.clone()]), Vec::<JobId>::new());
    // Only the latest inventory is offered: never the vanished GPU 2.
    let b = p.allocate(RunnerId::new(1), JobId::new(2), &req("nvidia,mem>=45GB")).expect("the new form of GPU 3");
    assert_eq!(p.gpus_of(RunnerId::new(1), &b.gpus), [changed]);
    assert!(matches!(p.allocate(RunnerId::new(1), JobId::new(4), &req("nvidia:2")), Err(GpuError::Never(_))));
}

#[test]
fn a_lost_runner_drops_its_allocations() {
    let mut p = pool(&[(1, vec![nv(1, 1, 24), nv(1, 2, 24)]), (2, vec![nv(2, 1, 24)])]);
    let a = p.allocate(RunnerId::new(1), JobId::new(1), &req("nvidia")).expect("fits");
    let b = p.allocate(RunnerId::new(1), JobId::new(2), &req("nvidia")).expect("fits");
    p.allocate(RunnerId::new(2), JobId::new(3), &req("nvidia")).expect("fits");
    assert_eq!(p.remove_runner(RunnerId::new(1)), [JobId::new(1), JobId::new(2)]);
    assert_eq!(p.remove_runner(RunnerId::new(1)), Vec::<JobId>::new());
    assert_eq!(p.release(JobId::new(1), a.fence), Err(GpuError::StaleFence { job: JobId::new(1), fence: a.fence }));
    assert_eq!(p.release(JobId::new(2), b.fence), Err(GpuError::StaleFence { job: JobId::new(2), fence: b.fence }));
    assert_eq!(p.usage(), (1, 1));
    assert_eq!(
        p.allocate(RunnerId::new(1), JobId::new(4), &req("nvidia")),
        Err(GpuError::UnknownRunner(RunnerId::new(1)))
    );
}

#[test]
fn restore_reinstalls_persisted_allocations() {
    let gpus = vec![nv(1, 2, 24), nv(1, 1, 24)];
    let mut before = pool(&[(1, gpus.clone())]);
    let a = before.allocate(RunnerId::new(1), JobId::new(1), &req("nvidia:2")).expect("fits");
    assert_eq!(a.gpus, ["GPU-1-01", "GPU-1-02"], "bus order");
    let mut p = GpuPool::new();
    assert_eq!(p.restore(a.clone()), Err(GpuError::UnknownRunner(RunnerId::new(1))));
    p.set_inventory(RunnerId::new(1), gpus);
    p.restore(a.clone()).expect("restored");
    assert_eq!(p.allocation_of(JobId::new(1)), Some(&a));
    assert_eq!(p.restore(a.clone()), Err(GpuError::AlreadyAllocated(JobId::new(1))));
    let held = Allocation { job: JobId::new(2), gpus: vec!["GPU-1-02".into()], ..a.clone() };
    assert!(matches!(p.restore(held), Err(GpuError::NoFit(m)) if m.contains("held by job 1")));
    let unknown = Allocation { job: JobId::new(2), gpus: vec!["GPU-9-09".into()], ..a.clone() };
    assert!(matches!(p.restore(unknown), Err(GpuError::Never(m)) if m.contains("GPU-9-09")));
    p.release(JobId::new(1), a.fence).expect("restored fence releases");
    let twice = Allocation { job: JobId::new(2), gpus: vec!["GPU-1-01".into(), "GPU-1-01".into()], ..a.clone() };
    assert!(matches!(p.restore(twice), Err(GpuError::Never(_))));
    assert_eq!(p.usage(), (2, 0), "a refused restore installs nothing");
    assert!(p.allocate(RunnerId::new(1), JobId::new(3), &req("nvidia")).expect("fits").fence > a.fence);
    p.raise_fence_floor(1000);
    assert_eq!(p.allocate(RunnerId::new(1), JobId::new(4), &req("nvidia")).expect("fits").fence, 1001);
}

#[test]
fn one_gpu_reported_by_two_runners_is_held_once() {
    let shared = nv(5, 1, 80);
    let mut p = pool(&[(1, vec![shared.clone()]), (2, vec![shared, gpu(Vendor::Nvidia, 1)])]);
    p.allocate(RunnerId::new(1), JobId::new(1), &req("nvidia")).expect("fits");
    let b = p.allocate(RunnerId::new(2), JobId::new(2), &req("nvidia")).expect("the other GPU");
    assert_eq!(b.gpus, ["pci:0000:01:00.0"]);
    assert!(matches!(p.allocate(RunnerId::new(2), JobId::new(3), &req("nvidia")), Err(GpuError::NoFit(_))));
    // A PCI address is per host: runner 1 may have its own 0000:01:00.0.
    p.set_inventory(RunnerId::new(1), vec![nv(5, 1, 80), gpu(Vendor::Nvidia, 1)]);
    assert_eq!(p.allocate(RunnerId::new(1), JobId::new(3), &req("nvidia")).expect("fits").gpus, ["pci:0000:01:00.0"]);
}
