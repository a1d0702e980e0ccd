//! What this runner tells the coordinator about its hardware, in every job request: the GPU
//! inventory (`autogit gpu detect --json` format) and the CPU architectures it can run — native,
//! plus those it emulates through binfmt_misc QEMU handlers. Both ride in `info.config` under
//! AutoGit's own keys, which GitLab ignores.

use autogit_gpu::{Detector, HostInventory, Vendor, nvml, rocm_smi};
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `info.config` key of the GPU inventory (JSON of [`HostInventory`]).
pub const INVENTORY_KEY: &str = "autogit_inventory";
/// `info.config` key of the architectures (JSON array of GitLab's names: amd64, arm64, …).
pub const ARCHITECTURES_KEY: &str = "autogit_architectures";

/// How long a vendor tool may run before it is killed and ignored (`nvidia-smi` can hang on a
/// GPU that fell off the bus).
pub const TOOL_TIMEOUT: Duration = Duration::from_secs(20);

/// Detects the GPUs under `root` (`/` on a real host, a fixture tree in tests). Identity comes
/// from sysfs/procfs; on the real host only, the vendor sources fill in what those lack:
/// - NVIDIA GPUs found: NVML (loaded at run time; absent library = skipped) for memory size,
///   compute capability, driver version and MIG state; `nvidia-smi` only when NVML gave nothing.
/// - An amdgpu GPU without memory size or product name in sysfs: `rocm-smi --json`.
///
/// Precedence: NVML over nvidia-smi over procfs/sysfs (NVIDIA); sysfs over rocm-smi (AMD). With
/// neither installed this costs one failed dlopen (only when an NVIDIA GPU is present) and no
/// process start.
pub fn detect_gpus(root: &Path) -> HostInventory {
    let mut detector = Detector::new(root);
    let mut inv = detector.detect();
    if root != Path::new("/") {
        return inv;
    }
    if inv.gpus.iter().any(|g| g.vendor == Vendor::Nvidia) {
        let report = nvml::query();
        if report.as_ref().is_none_or(|r| r.gpus.is_empty()) {
            detector.nvidia_smi = nvidia_smi();
            if detector.nvidia_smi.is_some() {
                inv = detector.detect();
            }
        }
        if let Some(report) = report {
            inv.warnings.extend(report.warnings);
            nvml::enrich_from_nvml(&mut inv, &report.gpus);
        }
    }
    if rocm_smi::wanted(&inv)
        && let Some(text) = tool_output("rocm-smi", rocm_smi::ARGS, TOOL_TIMEOUT)
    {
        rocm_smi::enrich_from_rocm_smi(&mut inv, &text);
    }
    inv
}

fn nvidia_smi() -> Option<String> {
    let query = format!("--query-gpu={}", autogit_gpu::nvidia::SMI_QUERY);
    tool_output("nvidia-smi", &[query.as_str(), "--format=csv,noheader,nounits"], TOOL_TIMEOUT)
}

/// The standard output of a vendor tool that exited 0 within `timeout`; `None` when it is not
/// installed, failed, or was killed for running too long.
fn tool_output(program: &str, args: &[&str], timeout: Duration) -> Option<String> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut stdout = child.stdout.take()?;
    // Read while waiting, so that a large output cannot fill the pipe and stall the tool.
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stdout.read_to_end(&mut bytes);
        bytes
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    };
    let bytes = reader.join().ok()?;
    status.success().then(|| String::from_utf8_lossy(&bytes).into_owned())
}

/// GitLab's name of a Rust architecture.
pub fn gitlab_arch(rust_arch: &str) -> &str {
    match rust_arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

/// The native architecture, then every architecture an enabled `qemu-*` binfmt_misc handler
/// under `<root>/proc/sys/fs/binfmt_misc` runs.
pub fn architectures(root: &Path) -> Vec<String> {
    let mut out = vec![gitlab_arch(std::env::consts::ARCH).to_string()];
    let dir = root.join("proc/sys/fs/binfmt_misc");
    let Ok(entries) = std::fs::read_dir(&dir) else { return out };
    let mut emulated: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let qemu = name.strip_prefix("qemu-")?.to_string();
            let text = std::fs::read_to_string(e.path()).ok()?;
            text.lines().next().is_some_and(|l| l.trim() == "enabled").then(|| gitlab_arch(&qemu).to_string())
        })
        .collect();
    emulated.sort();
    emulated.dedup();
    let native = out[0].clone();
    out.extend(emulated.into_iter().filter(|a| *a != native));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn architectures_include_enabled_qemu_handlers_only() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("proc/sys/fs/binfmt_misc");
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("qemu-aarch64"), "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\n")
            .expect("write");
        std::fs::write(dir.join("qemu-riscv64"), "disabled\ninterpreter x\n").expect("write");
        std::fs::write(dir.join("status"), "enabled\n").expect("write");
        let archs = architectures(root.path());
        assert_eq!(archs[0], gitlab_arch(std::env::consts::ARCH));
        assert!(archs.contains(&"arm64".to_string()) || archs[0] == "arm64", "{archs:?}");
        assert!(!archs.contains(&"riscv64".to_string()), "disabled handlers do not count: {archs:?}");
        assert_eq!(architectures(Path::new("/nonexistent")).len(), 1);
    }

    #[test]
    fn an_empty_root_has_no_gpus() {
        let root = tempfile::tempdir().expect("tempdir");
        assert!(detect_gpus(root.path()).gpus.is_empty());
    }

    /// On the real root of a build machine (no NVIDIA library, no rocm-smi, often no GPU) the
    /// enrichment sources are skipped quietly and quickly.
    #[test]
    fn the_real_root_answers_quickly() {
        let started = Instant::now();
        let inv = detect_gpus(Path::new("/"));
        let took = started.elapsed();
        assert!(took < Duration::from_secs(10), "took {took:?}");
        assert_eq!(inv.schema_version, autogit_gpu::SCHEMA_VERSION);
        let nvml_installed = ["/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib", "/usr/local/nvidia/lib64"]
            .iter()
            .any(|d| Path::new(d).join("libnvidia-ml.so.1").exists());
        if !nvml_installed {
            assert!(!inv.warnings.iter().any(|w| w.contains("NVML")), "{:?}", inv.warnings);
        }
    }

    #[test]
    fn vendor_tools_that_are_missing_fail_or_hang_give_nothing() {
        let t = Duration::from_secs(5);
        assert_eq!(tool_output("autogit-no-such-tool", &[], t), None);
        assert_eq!(tool_output("sh", &["-c", "echo partial; exit 3"], t), None);
        assert_eq!(tool_output("sh", &["-c", "printf '{}'"], t).as_deref(), Some("{}"));
        let started = Instant::now();
        assert_eq!(tool_output("sleep", &["30"], Duration::from_millis(200)), None);
        assert!(started.elapsed() < Duration::from_secs(5), "killed at the deadline");
    }
}
