//! The NVML merge, fed hand-written answers (no NVML library on a build machine).

use super::*;

const UUID: &str = "GPU-5f9a1c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b";
const H100_BYTES: u64 = 81559 * 1_048_576;

fn inventory(gpus: Vec<DetectedGpu>) -> HostInventory {
    HostInventory { schema_version: SCHEMA_VERSION, detector_version: "test".into(), gpus, warnings: Vec::new() }
}

/// An nvidia-bound H100 as the probe leaves it without NVML: UUID and name from procfs.
fn h100(bdf: &str) -> DetectedGpu {
    let mut g = test_gpu(Vendor::Nvidia, bdf);
    g.kernel_driver = Some("nvidia".into());
    g.uuid = Some(UUID.into());
    g.key = GpuKey::Uuid(UUID.into());
    g.product_name = Some("NVIDIA H100 80GB HBM3".into());
    g.driver_version = Some("550.54.15".into());
    for f in ["uuid", "product_name", "driver_version"] {
        g.provenance.insert(f.into(), Source::NvidiaProc);
    }
    g
}

fn answer(bus: &str) -> NvmlGpu {
    NvmlGpu {
        pci_bus_id: bus.into(),
        uuid: Some(UUID.into()),
        name: Some("NVIDIA H100 80GB HBM3".into()),
        memory_total: Some(H100_BYTES),
        cc: Some((9, 0)),
        driver: Some("580.159.04".into()),
        mig_current: Some(false),
        mig_pending: Some(false),
        mig_instances: Vec::new(),
    }
}

#[test]
fn fills_fields_and_records_nvml_as_their_source() {
    let mut g = test_gpu(Vendor::Nvidia, "0000:1b:00.0");
    g.kernel_driver = Some("nvidia".into());
    let mut inv = inventory(vec![g]);
    enrich_from_nvml(&mut inv, &[answer("00000000:1B:00.0")]);
    let g = &inv.gpus[0];
    assert_eq!(g.uuid.as_deref(), Some(UUID));
    assert_eq!(g.key, GpuKey::Uuid(UUID.into()), "the key follows the UUID");
    assert_eq!(g.product_name.as_deref(), Some("NVIDIA H100 80GB HBM3"));
    assert_eq!(g.memory_total_bytes, Some(H100_BYTES));
    assert_eq!(g.arch, Some(Arch::Cuda { major: 9, minor: 0 }));
    assert_eq!(g.driver_version.as_deref(), Some("580.159.04"));
    for f in ["uuid", "product_name", "memory_total_bytes", "arch", "driver_version"] {
        assert_eq!(g.provenance.get(f), Some(&Source::Nvml), "{f}");
    }
    assert_eq!(g.health, GpuHealth::Ready);
    assert!(inv.warnings.is_empty(), "{:?}", inv.warnings);
}

#[test]
fn nvml_wins_over_nvidia_smi_and_procfs_but_unknown_values_keep_theirs() {
    let mut g = h100("0000:1b:00.0");
    g.product_name = Some("Graphics Device".into()); // procfs on a driver older than the card
    g.memory_total_bytes = Some(80 * 1024 * 1_048_576);
    g.provenance.insert("memory_total_bytes".into(), Source::NvidiaSmi);
    g.arch = Some(Arch::Cuda { major: 9, minor: 0 });
    g.provenance.insert("arch".into(), Source::NvidiaSmi);
    let mut inv = inventory(vec![g]);
    let n = NvmlGpu {
        memory_total: Some(H100_BYTES),
        cc: None,                  // e.g. FailedToLoadSymbol on an old driver
        driver: Some("  ".into()), // blank is unknown
        ..answer("00000000:1b:00.0")
    };
    enrich_from_nvml(&mut inv, &[n]);
    let g = &inv.gpus[0];
    assert_eq!(g.product_name.as_deref(), Some("NVIDIA H100 80GB HBM3"));
    assert_eq!(g.provenance.get("product_name"), Some(&Source::Nvml));
    assert_eq!(g.memory_total_bytes, Some(H100_BYTES), "NVML over nvidia-smi");
    assert_eq!(g.provenance.get("memory_total_bytes"), Some(&Source::Nvml));
    assert_eq!(g.arch, Some(Arch::Cuda { major: 9, minor: 0 }), "NVML did not know it: nvidia-smi's stays");
    assert_eq!(g.provenance.get("arch"), Some(&Source::NvidiaSmi));
    assert_eq!(g.driver_version.as_deref(), Some("550.54.15"));
    assert_eq!(g.provenance.get("driver_version"), Some(&Source::NvidiaProc));
    assert!(inv.warnings.is_empty(), "{:?}", inv.warnings);
}

#[test]
fn a_contradicting_uuid_is_replaced_with_a_warning() {
    let mut inv = inventory(vec![h100("0000:1b:00.0")]);
    let other = "GPU-00000000-1111-2222-3333-444444444444";
    enrich_from_nvml(&mut inv, &[NvmlGpu { uuid: Some(other.into()), ..answer("00000000:1B:00.0") }]);
    assert_eq!(inv.gpus[0].key, GpuKey::Uuid(other.into()));
    assert_eq!(inv.warnings.len(), 1, "{:?}", inv.warnings);
    assert!(inv.warnings[0].contains(UUID) && inv.warnings[0].contains("NvidiaProc"), "{:?}", inv.warnings);
}

#[test]
fn unknown_bus_ids_are_ignored_with_a_warning_and_uuids_join_the_rest() {
    let mut amd = test_gpu(Vendor::Amd, "0000:2c:00.0");
    amd.kernel_driver = Some("amdgpu".into());
    let before = inventory(vec![h100("0000:1b:00.0"), amd]);

    // A bus no GPU has, an unknown UUID: nothing changes but a warning.
    let mut inv = before.clone();
    let stray = NvmlGpu { uuid: Some("GPU-ffffffff-0000-0000-0000-000000000000".into()), ..answer("00000000:9A:00.0") };
    enrich_from_nvml(&mut inv, &[stray]);
    assert_eq!(inv.gpus, before.gpus);
    assert_eq!(inv.warnings.len(), 2, "{:?}", inv.warnings);
    assert!(inv.warnings[0].contains("00000000:9A:00.0"), "{:?}", inv.warnings);
    assert!(inv.warnings[1].contains("NVML does not list it"), "the H100 went unanswered: {:?}", inv.warnings);

    // The AMD GPU's bus is not an NVIDIA GPU's: no join across vendors.
    let mut inv = before.clone();
    enrich_from_nvml(&mut inv, &[NvmlGpu { uuid: None, ..answer("00000000:2C:00.0") }]);
    assert_eq!(inv.gpus, before.gpus);

    // A bus that does not parse (or differs, as in some VMs), a known UUID: joined by UUID.
    let mut inv = before.clone();
    enrich_from_nvml(&mut inv, &[answer("garbage")]);
    assert_eq!(inv.gpus[0].memory_total_bytes, Some(H100_BYTES));
    assert_eq!(inv.warnings.len(), 1, "{:?}", inv.warnings);
    assert!(inv.warnings[0].contains("joined by UUID"), "{:?}", inv.warnings);

    // The same GPU twice: the second answer is ignored.
    let mut inv = before.clone();
    enrich_from_nvml(
        &mut inv,
        &[answer("00000000:1B:00.0"), NvmlGpu { memory_total: Some(1), ..answer("00000000:1B:00.0") }],
    );
    assert_eq!(inv.gpus[0].memory_total_bytes, Some(H100_BYTES));
    assert!(inv.warnings.iter().any(|w| w.contains("twice")), "{:?}", inv.warnings);

    // No answer at all (NVML has no GPUs): no noise.
    let mut inv = before.clone();
    enrich_from_nvml(&mut inv, &[]);
    assert_eq!(inv, before);
}

#[test]
fn a_pending_mig_mode_makes_the_gpu_not_allocatable() {
    let mut inv = inventory(vec![h100("0000:1b:00.0"), h100("0000:2c:00.0")]);
    inv.gpus[1].uuid = None;
    inv.gpus[1].health = GpuHealth::Excluded;
    let pending = |bus: &str| NvmlGpu { uuid: None, mig_current: Some(false), mig_pending: Some(true), ..answer(bus) };
    enrich_from_nvml(&mut inv, &[pending("00000000:1B:00.0"), pending("00000000:2C:00.0")]);
    assert_eq!(inv.gpus[0].health, GpuHealth::MigPending);
    assert!(!inv.gpus[0].health.is_ready());
    assert_eq!(inv.gpus[0].provenance.get("health"), Some(&Source::Nvml));
    assert_eq!(inv.gpus[1].health, GpuHealth::Excluded, "a worse state stays");

    // The reset happened: NVML's next answer clears it.
    enrich_from_nvml(&mut inv, &[NvmlGpu { uuid: None, ..answer("00000000:1B:00.0") }]);
    assert_eq!(inv.gpus[0].health, GpuHealth::Ready);

    // Unknown MIG mode (NotSupported on GPUs without MIG) changes nothing.
    let mut inv = inventory(vec![h100("0000:1b:00.0")]);
    enrich_from_nvml(&mut inv, &[NvmlGpu { mig_current: None, mig_pending: None, ..answer("00000000:1B:00.0") }]);
    assert_eq!(inv.gpus[0].health, GpuHealth::Ready);
    assert!(!inv.gpus[0].provenance.contains_key("health"));
}

fn mig(uuid: &str, profile: &str, gib: u64) -> NvmlMig {
    NvmlMig {
        uuid: Some(uuid.into()),
        profile: Some(profile.into()),
        memory_total: Some(gib << 30),
        gi: None,
        ci: None,
    }
}

#[test]
fn mig_instances_join_procfs_by_ids_or_when_unambiguous() {
    // procfs: GI 1 with CI 0, GI 2 without compute instances.
    let mut g = h100("0000:1b:00.0");
    g.mig_instances = vec![
        MigInstance::new(
            1,
            Some(0),
            vec!["/dev/nvidia-caps/nvidia-cap21".into(), "/dev/nvidia-caps/nvidia-cap22".into()],
        ),
        MigInstance::new(2, None, vec!["/dev/nvidia-caps/nvidia-cap30".into()]),
    ];
    let mut inv = inventory(vec![g]);
    let n = NvmlGpu {
        mig_current: Some(true),
        mig_pending: Some(true),
        mig_instances: vec![mig("MIG-c1a2b3c4-0000-5000-8000-000000000001", "1g.10gb", 10)],
        ..answer("00000000:1B:00.0")
    };
    enrich_from_nvml(&mut inv, &[n]);
    let g = &inv.gpus[0];
    assert_eq!(g.health, GpuHealth::Ready, "MIG on and settled is not pending");
    assert_eq!(g.mig_instances.len(), 2);
    let ci = &g.mig_instances[0];
    assert_eq!((ci.gi, ci.ci), (1, Some(0)));
    assert_eq!(
        ci.uuid.as_deref(),
        Some("MIG-c1a2b3c4-0000-5000-8000-000000000001"),
        "one device, one compute instance"
    );
    assert_eq!(ci.profile.as_deref(), Some("1g.10gb"));
    assert_eq!(ci.memory_total_bytes, Some(10 << 30));
    assert_eq!(ci.cap_nodes.len(), 2, "procfs's cap nodes stay");
    assert_eq!(g.mig_instances[1].uuid, None, "a GPU instance without compute instances is no MIG device");
    assert_eq!(g.provenance.get("mig_instances"), Some(&Source::Nvml));
    assert!(inv.warnings.is_empty(), "{:?}", inv.warnings);

    // Older drivers put the ids in the UUID; procfs masked (a container): NVML's list stands.
    let mut inv = inventory(vec![h100("0000:1b:00.0")]);
    let n = NvmlGpu {
        mig_current: Some(true),
        mig_pending: Some(true),
        mig_instances: vec![
            mig(&format!("{}/2/0", UUID.replace("GPU-", "MIG-GPU-")), "3g.40gb", 40),
            mig(&format!("{}/1/0", UUID.replace("GPU-", "MIG-GPU-")), "3g.40gb", 40),
        ],
        ..answer("00000000:1B:00.0")
    };
    enrich_from_nvml(&mut inv, &[n]);
    let ids: Vec<(u32, Option<u32>)> = inv.gpus[0].mig_instances.iter().map(|i| (i.gi, i.ci)).collect();
    assert_eq!(ids, [(1, Some(0)), (2, Some(0))], "listed in instance order");
    assert!(
        inv.gpus[0].mig_instances.iter().all(|i| i.profile.as_deref() == Some("3g.40gb") && i.cap_nodes.is_empty())
    );
    assert!(inv.warnings.is_empty(), "{:?}", inv.warnings);
}

#[test]
fn ambiguous_mig_devices_are_named_not_guessed() {
    let mut g = h100("0000:1b:00.0");
    g.mig_instances = vec![MigInstance::new(1, Some(0), vec![]), MigInstance::new(2, Some(0), vec![])];
    let mut inv = inventory(vec![g]);
    let n = NvmlGpu {
        mig_current: Some(true),
        mig_pending: Some(true),
        mig_instances: vec![mig("MIG-aaaa", "3g.40gb", 40), mig("MIG-bbbb", "3g.40gb", 40)],
        ..answer("00000000:1B:00.0")
    };
    enrich_from_nvml(&mut inv, &[n]);
    assert!(inv.gpus[0].mig_instances.iter().all(|i| i.uuid.is_none()));
    assert_eq!(inv.warnings.len(), 1, "{:?}", inv.warnings);
    assert!(
        inv.warnings[0].contains("MIG-aaaa (3g.40gb)") && inv.warnings[0].contains("MIG-bbbb"),
        "{:?}",
        inv.warnings
    );
}

#[test]
fn mig_mode_and_procfs_disagreeing_is_reported() {
    // Enabled with no instance anywhere: CUDA cannot use it.
    let mut inv = inventory(vec![h100("0000:1b:00.0")]);
    enrich_from_nvml(
        &mut inv,
        &[NvmlGpu { mig_current: Some(true), mig_pending: Some(true), ..answer("00000000:1B:00.0") }],
    );
    assert_eq!(inv.warnings.len(), 1);
    assert!(inv.warnings[0].contains("no MIG instance"), "{:?}", inv.warnings);

    // Disabled, yet procfs lists instances (stale capabilities).
    let mut g = h100("0000:1b:00.0");
    g.mig_instances = vec![MigInstance::new(1, Some(0), vec![])];
    let mut inv = inventory(vec![g]);
    enrich_from_nvml(&mut inv, &[answer("00000000:1B:00.0")]);
    assert_eq!(inv.warnings.len(), 1);
    assert!(inv.warnings[0].contains("disabled"), "{:?}", inv.warnings);
}

#[test]
fn mig_names_and_old_uuids() {
    assert_eq!(mig_profile("NVIDIA H100 80GB HBM3 MIG 1g.10gb").as_deref(), Some("1g.10gb"));
    assert_eq!(mig_profile("NVIDIA A100-SXM4-40GB MIG 1c.2g.10gb").as_deref(), Some("1c.2g.10gb"));
    assert_eq!(mig_profile("NVIDIA H100 80GB HBM3 MIG 1g.10gb+me").as_deref(), Some("1g.10gb+me"));
    assert_eq!(mig_profile("NVIDIA H100 80GB HBM3"), None);
    assert_eq!(mig_profile("MIG "), None);
    assert_eq!(legacy_mig_ids("MIG-GPU-5f9a1c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b/7/0"), Some((7, 0)));
    assert_eq!(legacy_mig_ids("MIG-c1a2b3c4-0000-5000-8000-000000000001"), None);
    assert_eq!(legacy_mig_ids("MIG-GPU-x/1/2/3"), None);
    assert_eq!(legacy_mig_ids("MIG-GPU-x/one/0"), None);
}

#[test]
fn nvml_fields_in_mig_instances_do_not_change_the_json_of_procfs_ones() {
    let plain = MigInstance::new(1, Some(0), vec!["/dev/nvidia-caps/nvidia-cap21".into()]);
    let json = serde_json::to_string(&plain).expect("json");
    assert_eq!(json, r#"{"gi":1,"ci":0,"cap_nodes":["/dev/nvidia-caps/nvidia-cap21"]}"#);
    let back: MigInstance = serde_json::from_str(&json).expect("parse");
    assert_eq!(back, plain);
    let full = MigInstance { uuid: Some("MIG-x".into()), profile: Some("1g.10gb".into()), ..plain };
    let back: MigInstance = serde_json::from_str(&serde_json::to_string(&full).expect("json")).expect("parse");
    assert_eq!(back, full);
}

#[test]
fn query_on_a_host_without_the_library_is_silent_and_quick() {
    let started = std::time::Instant::now();
    let report = query();
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    let installed = ["/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib", "/usr/local/nvidia/lib64"]
        .iter()
        .any(|d| std::path::Path::new(d).join("libnvidia-ml.so.1").exists());
    if !installed {
        assert_eq!(report, None, "no library: no answer, no warning");
    }
}
