//! The docker provider for real: `autogit serve` scales pools of runner containers from zero,
//! each the real `autogit runner` in a glibc image made by `bench/runner-image.sh` — one pool
//! with the shell executor (the job runs in the runner's container), one `arm64` pool whose
//! runners use the docker executor on the same engine (the job runs in an arm64 container under
//! QEMU user emulation). Needs Docker and binfmt_misc (scripts/test sets them up; the test runs
//! the image scripts itself and fails saying why when it cannot).

mod common;

use common::ci::{latest_pipeline, pool, push_ci, trace, wait_for};
use common::{Backend, Server};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const RUNNER_IMAGE: &str = "autogit-test/runner-base:1";

fn script(path: &str, args: &[&str], env: &[(&str, &str)]) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new("bash").arg(root.join(path)).args(args).envs(env.iter().copied()).output().expect("bash");
    assert!(out.status.success(), "{path}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Containers of these pools, whatever state they are in.
fn containers(groups: &[&str]) -> Vec<String> {
    let mut ids = Vec::new();
    for g in groups {
        let out = Command::new("docker")
            .args(["ps", "-aq", "--filter", &format!("label=autogit.group={g}")])
            .output()
            .expect("docker ps");
        ids.extend(String::from_utf8_lossy(&out.stdout).lines().map(str::to_string));
    }
    ids
}

/// Removes the pools' containers and build directories however the test ends.
struct Cleanup(Vec<String>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let groups: Vec<&str> = self.0.iter().map(String::as_str).collect();
        let left = containers(&groups);
        if !left.is_empty() {
            let _ = Command::new("docker").args(["rm", "-f"]).args(&left).output();
        }
        for g in &self.0 {
            let _ = std::fs::remove_dir_all(Path::new("/tmp/autogit-pools").join(g));
        }
    }
}

#[test]
fn docker_pools_run_native_and_emulated_jobs_in_runner_containers() {
    script("bench/runner-image.sh", &[env!("CARGO_BIN_EXE_autogit")], &[("BENCH_RUNNER_IMAGE", RUNNER_IMAGE)]);
    script("scripts/qemu-test-images", &[], &[]);
    // Unique pool names: the containers are found by group label on a shared engine.
    let tag = std::process::id();
    let (native, arm) = (format!("box{tag}"), format!("boxarm{tag}"));
    let _cleanup = Cleanup(vec![native.clone(), arm.clone()]);
    let toml = format!(
        "[[ci.pools]]\nname = \"{native}\"\nprovider = \"docker\"\ndocker_image = \"{RUNNER_IMAGE}\"\n\
         max_instances = 1\nidle_time_seconds = 60\n\
         [[ci.pools]]\nname = \"{arm}\"\nprovider = \"docker\"\ndocker_image = \"{RUNNER_IMAGE}\"\n\
         architecture = \"arm64\"\ntags = [\"arm64\"]\nrun_untagged = false\nmax_instances = 1\nidle_time_seconds = 60\n\
         register_args = [\"--docker-image\", \"autogit-test/busybox-arm64:1\"]\n"
    );
    let cfg = tempfile::NamedTempFile::new().expect("config file");
    std::fs::write(cfg.path(), toml).expect("write config");
    let mut s = Server::start_with(Backend::Sqlite, &[("AUTOGIT_CONFIG", cfg.path().to_str().expect("utf8"))]);
    wait_for("the pools", Duration::from_secs(30), || {
        if pool(&s, &native).is_null() || pool(&s, &arm).is_null() { Err("not yet".into()) } else { Ok(()) }
    });
    assert!(containers(&[&native, &arm]).is_empty(), "nothing runs before there is work");

    // The runner image has bash but no `uname`: bash's $HOSTTYPE names the machine there.
    let ci = "native:\n  script:\n    - test -e /.dockerenv && echo in-a-container\n\
              \x20   - echo \"machine=$HOSTTYPE runner=$CI_RUNNER_DESCRIPTION\"\n\
              arm:\n  tags: [arm64]\n  script:\n    - test -e /.dockerenv && echo in-a-container\n\
              \x20   - echo \"machine=$(uname -m) runner=$CI_RUNNER_DESCRIPTION\"\n";
    let project = push_ci(&s, "docker-pools", ci);
    let pid = latest_pipeline(&s, project)["id"].as_i64().expect("pipeline");
    wait_for("both jobs in runner containers", Duration::from_secs(120), || {
        let p = s.get_json(&format!("/projects/{project}/pipelines/{pid}"), &s.root_token);
        match p["status"].as_str() {
            Some("success") => Ok(()),
            Some("failed") => {
                let jobs = s.get_json(&format!("/projects/{project}/pipelines/{pid}/jobs"), &s.root_token);
                let logs: Vec<String> = jobs
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|j| trace(&s, project, j["id"].as_i64().unwrap_or_default()))
                    .collect();
                panic!("pipeline failed: {logs:?}")
            }
            _ => Err(format!("{} {}", p["status"], s.get_json("/admin/ci/pools", &s.root_token))),
        }
    });
    let jobs = s.get_json(&format!("/projects/{project}/pipelines/{pid}/jobs"), &s.root_token);
    // bash's $HOSTTYPE is the machine name, as Rust's ARCH is for x86_64 and aarch64.
    let host_machine = std::env::consts::ARCH;
    for j in jobs.as_array().expect("jobs") {
        let log = trace(&s, project, j["id"].as_i64().expect("id"));
        let (want_pool, want_machine) = if j["name"] == "arm" { (&arm, "aarch64") } else { (&native, host_machine) };
        assert!(log.contains(&format!("machine={want_machine} runner=pool {want_pool}:")), "{}: {log}", j["name"]);
        assert!(log.contains("\nin-a-container"), "{}: {log}", j["name"]);
    }
    assert_eq!((pool(&s, &native)["scale_ups"].as_u64(), pool(&s, &arm)["scale_ups"].as_u64()), (Some(1), Some(1)));
    assert_eq!(containers(&[&native, &arm]).len(), 2, "one runner container per pool");

    // A graceful stop removes the idle instances: no container is left behind.
    s.signal("TERM");
    assert!(s.wait().success(), "autogit serve exits cleanly");
    assert_eq!(containers(&[&native, &arm]), Vec::<String>::new(), "containers left after shutdown");
    let shared = Path::new("/tmp/autogit-pools").join(&arm);
    let dirs: Vec<_> = std::fs::read_dir(&shared).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    assert!(dirs.is_empty(), "the instance removed its build directory: {dirs:?}");
}
