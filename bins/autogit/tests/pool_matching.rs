//! Which pool scales for which job, for real (process provider, `autogit serve`): a job two
//! pools could run starts one instance, not two; a `gpu:` job scales only the pool whose GPU
//! profile fits it; arm64 and riscv64 pools start instances whose jobs run in containers under
//! QEMU user emulation, selected by an `arch` matrix axis in `tags:`.

mod common;
#[path = "../../../crates/gpu/tests/fixtures/mod.rs"]
mod gpu_fixtures;

use common::ci::{latest_pipeline, pool, push_ci, trace, wait_for};
use common::{Server, backends};
use serde_json::Value;
use std::time::Duration;

fn with_config(backend: common::Backend, toml: &str) -> (Server, tempfile::NamedTempFile) {
    let cfg = tempfile::NamedTempFile::new().expect("config file");
    std::fs::write(cfg.path(), toml).expect("write config");
    let s = Server::start_with(backend, &[("AUTOGIT_CONFIG", cfg.path().to_str().expect("utf8"))]);
    (s, cfg)
}

fn wait_for_pools(s: &Server, names: &[&str]) {
    wait_for("the pools to appear", Duration::from_secs(30), || {
        let missing: Vec<&&str> = names.iter().filter(|n| pool(s, n).is_null()).collect();
        if missing.is_empty() { Ok(()) } else { Err(format!("missing {missing:?}")) }
    });
}

fn wait_success(s: &Server, project: i64, what: &str) -> i64 {
    let pid = latest_pipeline(s, project)["id"].as_i64().expect("pipeline");
    wait_for(what, Duration::from_secs(120), || {
        let p = s.get_json(&format!("/projects/{project}/pipelines/{pid}"), &s.root_token);
        match p["status"].as_str() {
            Some("success") => Ok(()),
            Some("failed" | "canceled") => panic!("{what}: pipeline {}", p["status"]),
            _ => Err(format!("{} {}", p["status"], s.get_json("/admin/ci/pools", &s.root_token))),
        }
    });
    pid
}

/// (job name, id, the pool its runner belonged to).
fn job_pools(s: &Server, project: i64, pipeline: i64) -> Vec<(String, i64, String)> {
    let jobs = s.get_json(&format!("/projects/{project}/pipelines/{pipeline}/jobs"), &s.root_token);
    jobs.as_array()
        .expect("jobs")
        .iter()
        .map(|j| {
            let runner = j["runner"]["id"].as_i64().expect("ran on a runner");
            // Pool runners are described "pool <name>: <instance>"; the record is gone once the
            // instance is removed, so read it while the instance is up (idle time is long here).
            let r = s.get_json(&format!("/runners/{runner}"), &s.root_token);
            let desc = r["description"].as_str().unwrap_or_default();
            let pool = desc.strip_prefix("pool ").and_then(|d| d.split(':').next()).unwrap_or_default();
            (j["name"].as_str().unwrap_or_default().to_string(), j["id"].as_i64().expect("id"), pool.to_string())
        })
        .collect()
}

#[test]
fn a_job_two_pools_could_run_starts_one_instance() {
    for backend in backends() {
        let pool_toml =
            |name: &str| format!("[[ci.pools]]\nname = \"{name}\"\nmax_instances = 2\nidle_time_seconds = 60\n");
        let (s, _cfg) = with_config(backend, &format!("{}{}", pool_toml("first"), pool_toml("second")));
        wait_for_pools(&s, &["first", "second"]);
        let project = push_ci(&s, "one-job", "only:\n  script: echo one job\n");
        let pid = wait_success(&s, project, "the job");
        // Give both loops time to act on anything they still see.
        std::thread::sleep(Duration::from_secs(2));
        let (first, second) = (pool(&s, "first"), pool(&s, "second"));
        assert_eq!(first["scale_ups"], 1, "the first pool in the configuration takes it: {first}");
        assert_eq!(second["scale_ups"], 0, "and the job is not counted twice: {second}");
        assert_eq!(job_pools(&s, project, pid)[0].2, "first");
    }
}

#[test]
fn a_gpu_job_scales_only_the_pool_whose_gpu_profile_fits() {
    for backend in backends() {
        let host = gpu_fixtures::Host::mixed();
        let root = host.root();
        let toml = format!(
            "[[ci.pools]]\nname = \"cpu\"\nmax_instances = 2\nidle_time_seconds = 60\n\
             [[ci.pools]]\nname = \"small-gpu\"\nmax_instances = 2\nidle_time_seconds = 60\n\
             gpu = {{ count = 1, vendor = \"nvidia\", model = \"NVIDIA A10\", memory_mib = 23028 }}\n\
             [[ci.pools]]\nname = \"h100\"\nmax_instances = 1\nidle_time_seconds = 60\n\
             register_args = [\"--gpu-root\", \"{}\"]\n\
             gpu = {{ count = 1, vendor = \"nvidia\", model = \"NVIDIA H100 80GB HBM3\", memory_mib = 81559 }}\n",
            root.display()
        );
        let (s, _cfg) = with_config(backend, &toml);
        wait_for_pools(&s, &["cpu", "small-gpu", "h100"]);
        let h100 = pool(&s, "h100");
        let tags: Vec<&str> = h100["tags"].as_array().expect("tags").iter().filter_map(Value::as_str).collect();
        assert!(tags.contains(&"gpu:nvidia:h100-80gb-hbm3") && tags.contains(&"cuda"), "derived tags: {h100}");
        let ci = "train:\n  gpu:\n    vendor: nvidia\n    model: \"*H100*\"\n  script: echo \"trained on [$NVIDIA_VISIBLE_DEVICES]\"\n";
        let project = push_ci(&s, "train", ci);
        let pid = wait_success(&s, project, "the GPU job");
        std::thread::sleep(Duration::from_secs(2));
        assert_eq!(pool(&s, "h100")["scale_ups"], 1, "{}", pool(&s, "h100"));
        assert_eq!(pool(&s, "cpu")["scale_ups"], 0, "no GPU profile, no GPU jobs: {}", pool(&s, "cpu"));
        assert_eq!(pool(&s, "small-gpu")["scale_ups"], 0, "an A10 is not an H100: {}", pool(&s, "small-gpu"));
        let placed = job_pools(&s, project, pid);
        assert_eq!(placed[0].2, "h100", "{placed:?}");
        let log = trace(&s, project, placed[0].1);
        assert!(log.contains("trained on [GPU-5f9a1c2e"), "the H100 was handed to the job: {log}");
        let metrics = reqwest::blocking::get(s.raw("/metrics")).expect("metrics").text().expect("text");
        assert!(metrics.contains("autogit_ci_queue_wait_seconds_count{pool=\"h100\",tags=\"\"} 1"), "{metrics}");
        // The fixture H100 has no memory size without NVML, while the profile promises 81559 MiB:
        // the pool view says that memory-asking jobs would not be placed there.
        let warnings = pool(&s, "h100")["warnings"].to_string();
        assert!(warnings.contains("81559 MiB") && warnings.contains("unknown memory"), "{warnings}");
    }
}

/// Needs Docker, binfmt_misc and the busybox images of `scripts/qemu-test-images` (which
/// `scripts/test` runs; the test runs it too, and fails saying why when it cannot).
#[test]
fn arm64_and_riscv64_pools_scale_from_zero_and_run_their_jobs_emulated() {
    let setup = std::process::Command::new("bash")
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/qemu-test-images"))
        .output()
        .expect("bash");
    assert!(setup.status.success(), "QEMU test images: {}", String::from_utf8_lossy(&setup.stderr));
    for backend in backends() {
        let arch_pool = |name: &str, arch: &str| {
            format!(
                "[[ci.pools]]\nname = \"{name}\"\narchitecture = \"{arch}\"\ntags = [\"{arch}\"]\nrun_untagged = false\n\
                 max_instances = 1\nidle_time_seconds = 60\n\
                 register_args = [\"--docker-image\", \"autogit-test/busybox-{arch}:1\"]\n"
            )
        };
        let toml = format!(
            "[[ci.pools]]\nname = \"native\"\nmax_instances = 1\nidle_time_seconds = 60\n{}{}",
            arch_pool("arm", "arm64"),
            arch_pool("riscv", "riscv64")
        );
        let (s, _cfg) = with_config(backend, &toml);
        wait_for_pools(&s, &["native", "arm", "riscv"]);
        assert_eq!(pool(&s, "arm")["architecture"], "arm64");
        let ci = "uname:\n  parallel:\n    matrix:\n      - ARCH: [arm64, riscv64]\n  tags: [$ARCH]\n  \
                  script:\n    - echo \"machine=$(uname -m) arch=$ARCH\"\n";
        let project = push_ci(&s, "multiarch", ci);
        let pid = wait_success(&s, project, "the emulated jobs");
        let placed = job_pools(&s, project, pid);
        assert_eq!(placed.len(), 2, "{placed:?}");
        for (name, id, pool_name) in &placed {
            let log = trace(&s, project, *id);
            let (want_pool, want_machine) =
                if name.contains("arm64") { ("arm", "machine=aarch64") } else { ("riscv", "machine=riscv64") };
            assert_eq!(pool_name, want_pool, "{name}");
            assert!(log.contains(want_machine), "{name}: {log}");
        }
        for p in ["arm", "riscv"] {
            assert_eq!(pool(&s, p)["scale_ups"], 1, "{}", pool(&s, p));
        }
        assert_eq!(pool(&s, "native")["scale_ups"], 0, "untagged pools do not take arch-tagged jobs");
    }
}
