//! Conformance checks: runner hardware inventories (upsert, lists, cascade on runner delete) and
//! GPU allocations (one per job, fenced removal, a max fence that never goes down, cascades).
//!
//! Inventory and allocation lists, and the max fence, span the whole database, which other runs
//! share: lists are filtered to this run's runners and jobs (their order is checked in full), and
//! the max fence is only ever compared from below. The suite pins that architectures and GPU keys
//! read back in the order given, and that the inventory text reads back byte for byte.

use super::ci_common::*;
use super::*;

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// This run's inventories, after checking that the whole list is by runner id.
async fn inventories_of(cx: &Cx<'_>, runners: &[RunnerId]) -> Vec<RunnerInventory> {
    let all = ok(cx.store.runner_inventories().await, "runner_inventories");
    assert!(all.windows(2).all(|w| w[0].runner_id < w[1].runner_id), "hardware: inventories are by runner id");
    all.into_iter().filter(|i| runners.contains(&i.runner_id)).collect()
}

/// This run's allocations, after checking that the whole list is by job id.
async fn allocations_of(cx: &Cx<'_>, jobs: &[JobId]) -> Vec<GpuAllocation> {
    let all = ok(cx.store.gpu_allocations().await, "gpu_allocations");
    assert!(all.windows(2).all(|w| w[0].job_id < w[1].job_id), "hardware: allocations are by job id");
    all.into_iter().filter(|a| jobs.contains(&a.job_id)).collect()
}

fn allocation(cx: &Cx<'_>, job_id: JobId, runner_id: RunnerId, fence: u64, gpus: &[&str], at: i64) -> GpuAllocation {
    GpuAllocation { job_id, runner_id, fence, gpus: strings(gpus), created_at: cx.at(at) }
}

async fn max_fence(cx: &Cx<'_>) -> u64 {
    ok(cx.store.max_gpu_fence().await, "max_gpu_fence")
}

pub(super) async fn ci_hardware_inventories(cx: &Cx<'_>) {
    let s = cx.store;
    let r1 = runner(cx, RunnerScope::Instance, &[]).await;
    let r2 = runner(cx, RunnerScope::Instance, &["gpu"]).await;
    let mine = [r1.id, r2.id];
    assert_eq!(ok(s.runner_inventory(r1.id).await, "runner_inventory"), None, "hardware: a new runner has none");
    assert_eq!(inventories_of(cx, &mine).await, vec![], "hardware: no inventories yet");

    // Opaque: spacing and non-ASCII text come back as given.
    let raw = r#"{ "gpus": [ {"uuid": "GPU-1", "product_name": "NVIDIA H100 80GB HBM3"} ], "note": "ünï" }"#;
    let archs = strings(&["arm64", "amd64", "riscv64"]);
    let inv1 = ok(s.set_runner_inventory(r1.id, raw, &archs, cx.at(800)).await, "set_runner_inventory");
    assert_eq!(
        inv1,
        RunnerInventory { runner_id: r1.id, inventory: raw.to_string(), architectures: archs, updated_at: cx.at(800) },
        "hardware: the inventory is stored as given (architectures in order) with updated_at = now"
    );
    assert_eq!(ok(s.runner_inventory(r1.id).await, "runner_inventory"), Some(inv1.clone()), "hardware: read back");
    let inv2 = ok(s.set_runner_inventory(r2.id, "{}", &[], cx.at(801)).await, "set_runner_inventory");
    assert_eq!(inv2.architectures, Vec::<String>::new(), "hardware: no architectures");
    assert_eq!(inventories_of(cx, &mine).await, vec![inv1.clone(), inv2.clone()], "hardware: listed by runner id");

    // A new report replaces the old one.
    let newer = ok(s.set_runner_inventory(r1.id, "{\"gpus\":[]}", &strings(&["amd64"]), cx.at(802)).await, "upsert");
    assert_eq!(
        newer,
        RunnerInventory {
            runner_id: r1.id,
            inventory: "{\"gpus\":[]}".to_string(),
            architectures: strings(&["amd64"]),
            updated_at: cx.at(802),
        },
        "hardware: an upsert replaces every field"
    );
    assert_eq!(ok(s.runner_inventory(r1.id).await, "runner_inventory"), Some(newer.clone()), "hardware: replaced");
    assert_eq!(inventories_of(cx, &mine).await, vec![newer.clone(), inv2], "hardware: still one per runner");

    expect_not_found(
        s.set_runner_inventory(RunnerId::new(MISSING), "{}", &[], cx.at(803)).await,
        "hardware: a missing runner",
    );
    assert_eq!(
        ok(s.runner_inventory(RunnerId::new(MISSING)).await, "runner_inventory"),
        None,
        "hardware: a missing runner has none"
    );

    // Deleting a runner removes its inventory.
    ok(s.delete_runner(r2.id).await, "delete_runner");
    assert_eq!(ok(s.runner_inventory(r2.id).await, "runner_inventory"), None, "cascade: the runner's inventory goes");
    assert_eq!(inventories_of(cx, &mine).await, vec![newer], "cascade: others' inventories stay");
}

pub(super) async fn ci_gpu_allocations(cx: &Cx<'_>) {
    let s = cx.store;
    let p = ci_project(cx, "ga").await;
    let new_jobs =
        [new_job("a", 0, JobStatus::Pending), new_job("b", 0, JobStatus::Pending), new_job("c", 0, JobStatus::Pending)];
    let (_, jobs) = pipeline_with(cx, &p, "main", &new_jobs, 820).await;
    let mine = job_ids(&jobs);
    let (a, b, c) = (mine[0], mine[1], mine[2]);
    let r = runner(cx, RunnerScope::Instance, &[]).await;
    let before = max_fence(cx).await;
    assert_eq!(allocations_of(cx, &mine).await, vec![], "hardware: new jobs hold no GPUs");

    // GPU keys keep their order: it is the order the job sees them in.
    let first = allocation(cx, a, r.id, before + 10, &["gpu-b", "gpu-a"], 821);
    ok(s.record_gpu_allocation(&first).await, "record_gpu_allocation");
    assert_eq!(allocations_of(cx, &mine).await, vec![first.clone()], "hardware: the allocation is stored as given");
    assert!(max_fence(cx).await >= first.fence, "hardware: recording raises the max fence to at least its fence");

    let again = allocation(cx, a, r.id, before + 11, &["gpu-c"], 822);
    expect_conflict(s.record_gpu_allocation(&again).await, "job", "hardware: a second allocation for one job");
    let orphan = allocation(cx, JobId::new(MISSING), r.id, before + 12, &["gpu-c"], 822);
    expect_not_found(s.record_gpu_allocation(&orphan).await, "hardware: an allocation for a missing job");
    let no_runner = allocation(cx, b, RunnerId::new(MISSING), before + 13, &["gpu-c"], 822);
    expect_not_found(s.record_gpu_allocation(&no_runner).await, "hardware: an allocation on a missing runner");
    let empty = allocation(cx, b, r.id, before + 14, &[], 822);
    expect_invalid(s.record_gpu_allocation(&empty).await, "hardware: an allocation of no GPU");
    assert_eq!(allocations_of(cx, &mine).await, vec![first.clone()], "hardware: failed records store nothing");

    let second = allocation(cx, b, r.id, before + 20, &["gpu-c"], 823);
    ok(s.record_gpu_allocation(&second).await, "record_gpu_allocation");
    // A lower fence than the max is stored, and leaves the max where it was.
    let low = allocation(cx, c, r.id, 1, &["gpu-d", "gpu-e"], 824);
    ok(s.record_gpu_allocation(&low).await, "record_gpu_allocation with a low fence");
    assert!(max_fence(cx).await >= second.fence, "hardware: a lower fence does not lower the max");
    let all = vec![first.clone(), second.clone(), low.clone()];
    assert_eq!(allocations_of(cx, &mine).await, all, "hardware: allocations by job id");

    // Removal is fenced: a stale release (another fence) leaves the allocation alone.
    assert!(
        !ok(s.remove_gpu_allocation(a, first.fence + 1).await, "remove"),
        "hardware: another fence removes nothing"
    );
    assert_eq!(allocations_of(cx, &mine).await, all, "hardware: a wrong fence keeps the allocation");
    assert!(ok(s.remove_gpu_allocation(a, first.fence).await, "remove"), "hardware: the matching fence removes it");
    assert!(!ok(s.remove_gpu_allocation(a, first.fence).await, "remove again"), "hardware: removing twice");
    assert!(!ok(s.remove_gpu_allocation(JobId::new(MISSING), 1).await, "remove"), "hardware: a missing job has none");
    assert_eq!(allocations_of(cx, &mine).await, vec![second.clone(), low.clone()], "hardware: the others stay");
    assert!(ok(s.remove_gpu_allocation(b, second.fence).await, "remove"), "hardware: removed");
    assert!(max_fence(cx).await >= second.fence, "hardware: removing allocations does not lower the max fence");

    // A job's GPUs may be allocated again once released.
    let next = allocation(cx, a, r.id, before + 30, &["gpu-a"], 825);
    ok(s.record_gpu_allocation(&next).await, "record_gpu_allocation after removal");
    assert_eq!(allocations_of(cx, &mine).await, vec![next.clone(), low], "hardware: a new allocation for the job");
    assert!(max_fence(cx).await >= next.fence, "hardware: the max fence keeps growing");
}

pub(super) async fn ci_hardware_cascades(cx: &Cx<'_>) {
    let s = cx.store;
    let p = ci_project(cx, "gc").await;
    let keep = ci_project(cx, "gk").await;
    let (_, jobs) = pipeline_with(cx, &p, "main", &[new_job("a", 0, JobStatus::Pending)], 840).await;
    let (_, kept_jobs) = pipeline_with(
        cx,
        &keep,
        "main",
        &[new_job("a", 0, JobStatus::Pending), new_job("b", 0, JobStatus::Pending)],
        840,
    )
    .await;
    let (j, k1, k2) = (jobs[0].id, kept_jobs[0].id, kept_jobs[1].id);
    let mine = [j, k1, k2];
    let r = runner(cx, RunnerScope::Instance, &[]).await;
    let gone_runner = runner(cx, RunnerScope::Instance, &[]).await;
    let fence = max_fence(cx).await + 10;
    let on_j = allocation(cx, j, r.id, fence, &["gpu-a"], 841);
    let on_k1 = allocation(cx, k1, r.id, fence + 1, &["gpu-b"], 841);
    let on_k2 = allocation(cx, k2, gone_runner.id, fence + 2, &["gpu-a"], 841);
    for a in [&on_j, &on_k1, &on_k2] {
        ok(s.record_gpu_allocation(a).await, "record_gpu_allocation");
    }
    ok(s.set_runner_inventory(gone_runner.id, "{}", &[], cx.at(841)).await, "set_runner_inventory");

    // Deleting a project removes its jobs' allocations.
    ok(s.delete_project(p.id).await, "delete_project");
    let left = allocations_of(cx, &mine).await;
    assert_eq!(left, vec![on_k1.clone(), on_k2.clone()], "cascade: a deleted job's allocation goes");
    assert!(!ok(s.remove_gpu_allocation(j, fence).await, "remove"), "cascade: ... and cannot be removed again");

    // Deleting a runner removes the allocations on its GPUs, and its inventory.
    ok(s.delete_runner(gone_runner.id).await, "delete_runner");
    assert_eq!(allocations_of(cx, &mine).await, vec![on_k1], "cascade: a deleted runner's allocations go");
    let inventory = ok(s.runner_inventory(gone_runner.id).await, "runner_inventory");
    assert_eq!(inventory, None, "cascade: a deleted runner's inventory goes");
    assert!(max_fence(cx).await >= fence + 2, "cascade: deletes do not lower the max fence");
}
