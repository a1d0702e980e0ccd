//! The enrichment sources on fixture hosts: `rocm-smi --json` output (fixtures/rocm_smi/, the
//! format of rocm-smi 6.x and the older lower-case keys) and NVML answers, merged into what the
//! sysfs/procfs probe found.

mod fixtures;

use autogit_gpu::nvml::{NvmlGpu, enrich_from_nvml};
use autogit_gpu::rocm_smi::{enrich_from_rocm_smi, wanted};
use autogit_gpu::*;
use fixtures::Host;

fn rocm_fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rocm_smi").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The mixed host, its first MI210 (0000:43:00.0) without VRAM size or FRU product name in sysfs.
fn host_missing_amd_values() -> Host {
    let h = Host::mixed();
    let d = h.root().join("sys/bus/pci/devices/0000:43:00.0");
    std::fs::remove_file(d.join("mem_info_vram_total")).expect("rm");
    std::fs::remove_file(d.join("product_name")).expect("rm");
    h
}

fn amd<'a>(inv: &'a HostInventory, bdf: &str) -> &'a DetectedGpu {
    inv.gpus.iter().find(|g| g.pci.address.to_string() == bdf).expect(bdf)
}

#[test]
fn rocm_smi_fills_what_sysfs_lacked_and_joins_by_bus_not_card_index() {
    let h = host_missing_amd_values();
    let mut inv = Detector::new(h.root()).detect();
    assert!(wanted(&inv), "an amdgpu GPU lacks memory and product");
    let untouched = amd(&inv, "0000:63:00.0").clone();
    enrich_from_rocm_smi(&mut inv, &rocm_fixture("mi210_x2.json"));
    assert!(inv.warnings.is_empty(), "{:?}", inv.warnings);
    let g = amd(&inv, "0000:43:00.0");
    assert_eq!(g.memory_total_bytes, Some(68_702_699_520));
    assert_eq!(g.product_name.as_deref(), Some("AMD Instinct MI210"));
    assert_eq!(g.provenance.get("memory_total_bytes"), Some(&Source::RocmSmi));
    assert_eq!(g.provenance.get("product_name"), Some(&Source::RocmSmi));
    assert_eq!(g.provenance.get("uuid"), Some(&Source::AmdgpuSysfs), "sysfs had it; rocm-smi agreed");
    assert_eq!(g.key, GpuKey::Uuid("1a2b3c4d5e6f7081".into()));
    assert_eq!(amd(&inv, "0000:63:00.0"), &untouched, "sysfs values are kept");
    assert!(!wanted(&inv));
}

#[test]
fn rocm_smi_disagreeing_with_sysfs_is_a_warning_and_sysfs_stays() {
    let h = Host::mixed();
    let mut inv = Detector::new(h.root()).detect();
    assert!(!wanted(&inv), "sysfs knew everything: no need to run rocm-smi");
    let text = rocm_fixture("mi210_x2.json").replace("0x8a9bacbdcedf0112", "0x1111").replacen("68702699520", "1", 1);
    enrich_from_rocm_smi(&mut inv, &text);
    let g = amd(&inv, "0000:63:00.0");
    assert_eq!(g.memory_total_bytes, Some(68_702_699_520));
    assert_eq!(g.uuid.as_deref(), Some("8a9bacbdcedf0112"));
    assert_eq!(inv.warnings.len(), 2, "{:?}", inv.warnings);
}

#[test]
fn partial_rocm_smi_output_fills_what_it_has() {
    let h = host_missing_amd_values();
    // The second MI210 lacks its VRAM size too; rocm-smi names it only by unique id.
    std::fs::remove_file(h.root().join("sys/bus/pci/devices/0000:63:00.0/mem_info_vram_total")).expect("rm");
    let mut inv = Detector::new(h.root()).detect();
    enrich_from_rocm_smi(&mut inv, &rocm_fixture("partial.json"));
    let first = amd(&inv, "0000:43:00.0");
    assert_eq!(first.product_name.as_deref(), Some("Aldebaran/MI200 [Instinct MI210]"), "older `Card series` spelling");
    assert_eq!(first.memory_total_bytes, None, "not in this output: still unknown");
    let second = amd(&inv, "0000:63:00.0");
    assert_eq!(second.memory_total_bytes, Some(68_702_699_520), "joined by unique id");
    assert_eq!(second.provenance.get("memory_total_bytes"), Some(&Source::RocmSmi));
    // card2 is empty: it names no GPU.
    assert_eq!(inv.warnings.len(), 1, "{:?}", inv.warnings);
    assert!(inv.warnings[0].contains("card2"), "{:?}", inv.warnings);
}

#[test]
fn garbage_rocm_smi_values_are_warnings_never_values() {
    let h = host_missing_amd_values();
    let before = Detector::new(h.root()).detect();
    let mut inv = before.clone();
    enrich_from_rocm_smi(&mut inv, &rocm_fixture("garbage.json"));
    assert_eq!(inv.gpus, before.gpus, "nothing made up");
    // card0: VRAM, Unique ID and PCI Bus unreadable, then it names no GPU; card1 not an object;
    // card2: VRAM unreadable (its bus joins, its unique id 0 is "unsupported").
    assert_eq!(inv.warnings.len(), 6, "{:#?}", inv.warnings);
    for needle in ["\"lots\"", "\"0xZZZZ\"", "\"bogus\"", "card1 is not an object", "\"-5\""] {
        assert!(inv.warnings.iter().any(|w| w.contains(needle)), "{needle}: {:#?}", inv.warnings);
    }
}

#[test]
fn rocm_smi_text_that_is_not_json_is_one_warning() {
    let h = host_missing_amd_values();
    let before = Detector::new(h.root()).detect();
    for text in [rocm_fixture("not_json.txt"), String::new(), "{\"card0\": {".into()] {
        let mut inv = before.clone();
        enrich_from_rocm_smi(&mut inv, &text);
        assert_eq!(inv.gpus, before.gpus);
        assert_eq!(inv.warnings.len(), 1, "{:?}", inv.warnings);
        assert!(inv.warnings[0].contains("not a JSON object"), "{:?}", inv.warnings);
    }
}

#[test]
fn nvml_on_top_of_the_probe_and_nvidia_smi() {
    let h = Host::mixed();
    let mut d = Detector::new(h.root());
    d.nvidia_smi = Some(
        "0, GPU-5f9a1c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b, 00000000:1B:00.0, 81559, 9.0, 550.54.15, NVIDIA H100 80GB HBM3\n"
            .into(),
    );
    let mut inv = d.detect();
    let h100 = inv.gpus.iter().find(|g| g.vendor == Vendor::Nvidia).expect("h100");
    assert_eq!(h100.provenance.get("arch"), Some(&Source::NvidiaSmi));
    assert_eq!(h100.provenance.get("driver_version"), Some(&Source::NvidiaSmi), "nvidia-smi over procfs");
    enrich_from_nvml(
        &mut inv,
        &[NvmlGpu {
            pci_bus_id: "00000000:1B:00.0".into(),
            uuid: Some("GPU-5f9a1c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b".into()),
            memory_total: Some(85_520_809_984),
            mig_current: Some(false),
            mig_pending: Some(true),
            ..Default::default()
        }],
    );
    let h100 = inv.gpus.iter().find(|g| g.vendor == Vendor::Nvidia).expect("h100");
    assert_eq!(h100.memory_total_bytes, Some(85_520_809_984));
    assert_eq!(h100.provenance.get("memory_total_bytes"), Some(&Source::Nvml));
    assert_eq!(h100.provenance.get("arch"), Some(&Source::NvidiaSmi), "NVML did not answer it");
    assert_eq!(h100.health, GpuHealth::MigPending);
    assert!(render::table(&inv).contains("MIG pending"));
    assert!(inv.warnings.is_empty(), "{:?}", inv.warnings);
    let json = serde_json::to_string(&inv).expect("json");
    assert!(json.contains("\"nvml\"") && json.contains("\"nvidia_smi\""), "{json}");
    assert_eq!(serde_json::from_str::<HostInventory>(&json).expect("back"), inv);
}
