//! The detector on fixture hosts: the mixed host of gpu.md §6b and the failure variants.

mod fixtures;

use autogit_gpu::*;
use fixtures::Host;

fn detect(h: &Host) -> HostInventory {
    Detector::new(h.root()).detect()
}

#[test]
fn mixed_host() {
    let h = Host::mixed();
    let inv = detect(&h);
    let addrs: Vec<String> = inv.gpus.iter().map(|g| g.pci.address.to_string()).collect();
    assert_eq!(addrs, ["0000:00:02.0", "0000:1b:00.0", "0000:43:00.0", "0000:63:00.0"], "sorted by PCI, NIC skipped");

    let intel = &inv.gpus[0];
    assert_eq!(intel.vendor, Vendor::Intel);
    assert!(intel.integrated);
    assert_eq!(intel.memory_total_bytes, None, "no dedicated memory: unknown, never 0");
    assert_eq!(intel.numa_node, None, "numa_node -1 is unknown");
    assert_eq!(intel.nodes.exclusive, ["/dev/dri/renderD128"]);
    assert_eq!(intel.key, GpuKey::Pci("0000:00:02.0".parse().expect("addr")));

    let h100 = &inv.gpus[1];
    assert_eq!(h100.key, GpuKey::Uuid("GPU-5f9a1c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b".into()));
    assert_eq!(h100.product_name.as_deref(), Some("NVIDIA H100 80GB HBM3"));
    assert_eq!(h100.driver_version.as_deref(), Some("550.54.15"));
    assert_eq!(h100.memory_total_bytes, None, "not in procfs; needs NVML or nvidia-smi");
    assert_eq!(h100.arch, None);
    assert_eq!(h100.nodes.exclusive, ["/dev/nvidia0"]);
    assert_eq!(h100.nodes.shared, ["/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"]);
    assert_eq!(h100.health, GpuHealth::Ready);
    assert_eq!(h100.provenance.get("uuid"), Some(&Source::NvidiaProc));

    let mi = &inv.gpus[3];
    assert_eq!(mi.key, GpuKey::Uuid("8a9bacbdcedf0112".into()));
    assert_eq!(mi.memory_total_bytes, Some(68_702_699_520));
    assert_eq!(mi.arch, Some(Arch::AmdGfx { target: "gfx90a".into(), version: 90010 }));
    assert_eq!(mi.multiprocessors, Some(104));
    assert_eq!(mi.numa_node, Some(1));
    assert_eq!(mi.nodes.exclusive, ["/dev/dri/renderD130"]);
    assert_eq!(mi.nodes.shared, ["/dev/kfd"]);
    assert_eq!(mi.provenance.get("arch"), Some(&Source::KfdTopology));
    assert!(inv.warnings.is_empty(), "{:?}", inv.warnings);

    // The JSON inventory round-trips.
    let json = serde_json::to_string(&inv).expect("json");
    let back: HostInventory = serde_json::from_str(&json).expect("parse back");
    assert_eq!(back, inv);
    let table = render::table(&inv);
    assert!(table.contains("NVIDIA H100 80GB HBM3") && table.contains("gfx90a") && table.contains("shared"), "{table}");
}

#[test]
fn nvidia_smi_enriches_memory_and_compute_capability() {
    let h = Host::mixed();
    let mut d = Detector::new(h.root());
    d.nvidia_smi = Some(
        "0, GPU-5f9a1c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b, 00000000:1B:00.0, 81559, 9.0, 550.54.15, NVIDIA H100 80GB HBM3\n"
            .into(),
    );
    let inv = d.detect();
    let h100 = inv.gpus.iter().find(|g| g.vendor == Vendor::Nvidia).expect("h100");
    assert_eq!(h100.memory_total_bytes, Some(81559 * 1_048_576));
    assert_eq!(h100.arch, Some(Arch::Cuda { major: 9, minor: 0 }));
    assert_eq!(h100.provenance.get("memory_total_bytes"), Some(&Source::NvidiaSmi));
}

#[test]
fn health_states() {
    let h = Host::new();
    h.pci("0000:01:00.0", "0x10de", "0x2330", "0x030200", "0", None);
    h.pci("0000:02:00.0", "0x10de", "0x2330", "0x030200", "0", Some("vfio-pci"));
    h.nvidia(
        "0000:03:00.0",
        "0x2330",
        "NVIDIA H100 80GB HBM3",
        "GPU-0000000a-0000-0000-0000-000000000000",
        0,
        "GPU Excluded:\t Yes",
    );
    h.nvidia(
        "0000:04:00.0",
        "0x2330",
        "NVIDIA H100 80GB HBM3",
        "GPU-0000000b-0000-0000-0000-000000000000",
        1,
        "Blacklisted: Yes",
    );
    let inv = detect(&h);
    let health: Vec<GpuHealth> = inv.gpus.iter().map(|g| g.health.clone()).collect();
    assert_eq!(
        health,
        [GpuHealth::NoDriver, GpuHealth::WrongDriver("vfio-pci".into()), GpuHealth::Excluded, GpuHealth::Excluded]
    );
    // Without a driver there is no UUID: the key is the PCI address.
    assert_eq!(inv.gpus[0].key, GpuKey::Pci("0000:01:00.0".parse().expect("addr")));
}

#[test]
fn keys_do_not_depend_on_minors() {
    let h = Host::new();
    // Minors deliberately in reverse PCI order.
    h.nvidia(
        "0000:1b:00.0",
        "0x2330",
        "NVIDIA H100 80GB HBM3",
        "GPU-aaaaaaaa-0000-0000-0000-000000000000",
        1,
        "GPU Excluded:\t No",
    );
    h.nvidia(
        "0000:2c:00.0",
        "0x2330",
        "NVIDIA H100 80GB HBM3",
        "GPU-bbbbbbbb-0000-0000-0000-000000000000",
        0,
        "GPU Excluded:\t No",
    );
    let inv = detect(&h);
    assert_eq!(inv.gpus[0].key, GpuKey::Uuid("GPU-aaaaaaaa-0000-0000-0000-000000000000".into()));
    assert_eq!(inv.gpus[0].nodes.exclusive, ["/dev/nvidia1"], "node follows the minor, key follows the UUID");
    assert_eq!(inv.gpus[1].nodes.exclusive, ["/dev/nvidia0"]);
}

#[test]
fn h100_with_mig_instances() {
    let h = Host::new();
    h.nvidia(
        "0000:1b:00.0",
        "0x2330",
        "NVIDIA H100 80GB HBM3",
        "GPU-5f9a1c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b",
        0,
        "GPU Excluded:\t No",
    );
    let base = "proc/driver/nvidia/capabilities/gpu0/mig";
    h.write(&format!("{base}/gi1/access"), "DeviceFileMinor: 21\nDeviceFileMode: 292");
    h.write(&format!("{base}/gi1/ci0/access"), "DeviceFileMinor: 22\nDeviceFileMode: 292");
    h.write(&format!("{base}/gi2/access"), "DeviceFileMinor: 30\nDeviceFileMode: 292");
    let inv = detect(&h);
    let mig = &inv.gpus[0].mig_instances;
    assert_eq!(mig.len(), 2);
    assert_eq!(mig[0].gi, 1);
    assert_eq!(mig[0].ci, Some(0));
    assert_eq!(mig[0].cap_nodes, ["/dev/nvidia-caps/nvidia-cap21", "/dev/nvidia-caps/nvidia-cap22"]);
    assert_eq!(mig[1].ci, None);
}

#[test]
fn bmc_vga_and_garbage_are_reported_not_guessed() {
    let h = Host::new();
    h.pci("0000:05:00.0", "0x1a03", "0x2000", "0x030000", "0", Some("ast"));
    h.write("sys/bus/pci/devices/0000:06:00.0/class", "0xnothex");
    h.write("sys/bus/pci/devices/0000:07:00.0/class", "0x030200");
    h.write("sys/bus/pci/devices/0000:07:00.0/vendor", "");
    h.mkdir("sys/bus/pci/devices/not-a-bdf");
    h.pci("0000:08:00.0", "0x1002", "0x744c", "0x030000", "garbage", Some("amdgpu"));
    h.write("sys/bus/pci/devices/0000:08:00.0/mem_info_vram_total", "0");
    h.write("sys/bus/pci/devices/0000:08:00.0/unique_id", "not hex!");
    let inv = detect(&h);
    assert_eq!(inv.gpus.len(), 1, "only the AMD consumer card is a GPU");
    let amd = &inv.gpus[0];
    assert_eq!(amd.memory_total_bytes, None, "a 0 VRAM reading is unknown, not 0");
    assert_eq!(amd.uuid, None);
    assert_eq!(amd.product_name, None);
    assert_eq!(amd.numa_node, None);
    assert_eq!(amd.key, GpuKey::Pci("0000:08:00.0".parse().expect("addr")));
    assert_eq!(inv.warnings.len(), 4, "{:?}", inv.warnings);
    assert!(inv.warnings.iter().any(|w| w.contains("0x1a03")));
}

#[test]
fn empty_root_is_zero_gpus_and_a_warning() {
    let h = Host::new();
    let inv = detect(&h);
    assert!(inv.gpus.is_empty());
    assert_eq!(inv.warnings.len(), 1);
    assert!(render::table(&inv).contains("(no GPUs found)"));
}

#[test]
fn intel_discrete_memory_from_lmem() {
    let h = Host::new();
    h.pci("0000:03:00.0", "0x8086", "0x56a0", "0x030000", "0", Some("i915"));
    h.drm("0000:03:00.0", 1, 129);
    h.write("sys/bus/pci/devices/0000:03:00.0/drm/card1/lmem_total_bytes", "17163091968");
    let inv = detect(&h);
    assert!(!inv.gpus[0].integrated);
    assert_eq!(inv.gpus[0].memory_total_bytes, Some(17_163_091_968));
}
