//! `autogit gpu detect` on a fixture root: table and JSON.

use std::process::Command;

#[test]
fn detect_reads_under_the_given_root() {
    let root = tempfile::tempdir().expect("tempdir");
    let w = |rel: &str, v: &str| {
        let p = root.path().join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, format!("{v}\n")).expect("write");
    };
    let d = "sys/bus/pci/devices/0000:43:00.0";
    w(&format!("{d}/vendor"), "0x1002");
    w(&format!("{d}/device"), "0x740f");
    w(&format!("{d}/class"), "0x038000");
    w(&format!("{d}/numa_node"), "0");
    w(&format!("{d}/mem_info_vram_total"), "68702699520");
    w(&format!("{d}/product_name"), "Instinct MI210");
    std::fs::create_dir_all(root.path().join("sys/bus/pci/drivers/amdgpu")).expect("mkdir");
    std::os::unix::fs::symlink("../../../../bus/pci/drivers/amdgpu", root.path().join(format!("{d}/driver")))
        .expect("link");

    let out = Command::new(env!("CARGO_BIN_EXE_autogit"))
        .args(["gpu", "detect", "--root"])
        .arg(root.path())
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("0000:43:00.0") && table.contains("Instinct MI210") && table.contains("64.0 GiB"),
        "{table}"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_autogit"))
        .args(["gpu", "detect", "--json", "--root"])
        .arg(root.path())
        .output()
        .expect("runs");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["gpus"][0]["vendor"], "amd");
    assert_eq!(v["gpus"][0]["memory_total_bytes"], 68_702_699_520u64);
    assert_eq!(v["gpus"][0]["key"]["pci"], "0000:43:00.0");
    assert_eq!(v["gpus"][0]["health"]["state"], "ready");
    assert_eq!(v["gpus"][0]["provenance"]["memory_total_bytes"], "amdgpu_sysfs");
}
