//! GPU scheduling end to end: real `autogit runner` processes report the GPUs of fixture host
//! trees (the detector reads them like sysfs/procfs), the coordinator derives their tags and
//! books whole GPUs exclusively, and jobs get exactly the GPUs they were given.

mod common;
#[path = "../../../crates/gpu/tests/fixtures/mod.rs"]
mod gpu_fixtures;

use common::ci::{RunnerProcess, latest_pipeline, push_ci, trace, wait_for};
use common::{Server, backends};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

const H100: &str = "GPU-5f9a1c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b";

fn jobs(s: &Server, project: i64, pipeline: i64) -> Vec<Value> {
    let v = s.get_json(&format!("/projects/{project}/pipelines/{pipeline}/jobs"), &s.root_token);
    v.as_array().expect("jobs").clone()
}

fn by_name<'a>(jobs: &'a [Value], name: &str) -> &'a Value {
    jobs.iter().find(|j| j["name"] == name).unwrap_or_else(|| panic!("no job {name}"))
}

fn gpu_runner(s: &Server, root: &Path, concurrent: usize) -> RunnerProcess {
    RunnerProcess::start(s, &[], concurrent, &["--gpu-root", root.to_str().expect("utf8")])
}

#[test]
fn one_gpu_two_jobs_run_one_after_the_other_with_exactly_that_gpu() {
    for backend in backends() {
        let s = Server::start_on(backend);
        let host = gpu_fixtures::Host::mixed();
        // Two slots, but one NVIDIA GPU: the GPU, not the slots, must serialise the jobs.
        let _runner = gpu_runner(&s, &host.root(), 2);
        let ci = r#"
first:
  tags: [gpu, nvidia]
  script:
    - echo "cuda=$CUDA_VISIBLE_DEVICES keys=$AUTOGIT_GPU_KEYS"
    - sleep 2
second:
  tags: [gpu, nvidia]
  script:
    - echo "cuda=$CUDA_VISIBLE_DEVICES"
    - sleep 2
plain:
  script:
    - echo "plain sees cuda=[$CUDA_VISIBLE_DEVICES] nvidia=$NVIDIA_VISIBLE_DEVICES"
"#;
        let project = push_ci(&s, "gpu-serial", ci);
        let pid = latest_pipeline(&s, project)["id"].as_i64().expect("id");
        wait_for("GPU pipeline to finish", Duration::from_secs(60), || {
            let p = s.get_json(&format!("/projects/{project}/pipelines/{pid}"), &s.root_token);
            if p["status"] == "success" { Ok(()) } else { Err(format!("{}", p["status"])) }
        });
        let js = jobs(&s, project, pid);
        let (a, b) = (by_name(&js, "first"), by_name(&js, "second"));
        let (first, second) = if a["started_at"].as_str() < b["started_at"].as_str() { (a, b) } else { (b, a) };
        assert!(
            first["finished_at"].as_str() <= second["started_at"].as_str(),
            "the second GPU job started before the first released the GPU: {first} / {second}"
        );
        for j in [a, b] {
            let log = trace(&s, project, j["id"].as_i64().expect("id"));
            assert!(log.contains(&format!("cuda={H100}")), "the job sees exactly the allocated GPU:\n{log}");
            assert_eq!(j["gpu_request"], "nvidia:1");
        }
        let plain = trace(&s, project, by_name(&js, "plain")["id"].as_i64().expect("id"));
        assert!(plain.contains("plain sees cuda=[] nvidia=void"), "a job without GPUs sees none:\n{plain}");

        // The fleet view shows the runner's GPUs and its derived tags.
        let fleet = s.get_json("/runners/gpus", &s.root_token);
        let inv = &fleet[0]["inventory"]["gpus"];
        assert_eq!(inv.as_array().map(Vec::len), Some(4), "H100, 2× MI210, Intel iGPU: {fleet}");
        let runner_id = fleet[0]["id"].as_i64().expect("runner id");
        let detail = s.get_json(&format!("/runners/{runner_id}"), &s.root_token);
        assert_eq!(detail["gpus"].as_array().map(Vec::len), Some(4), "runner detail lists its GPUs: {detail}");
        assert!(detail["architectures"].as_array().is_some_and(|a| !a.is_empty()), "{detail}");
        let out = s.autogit(&["gpu", "list", "--url", &s.url, "--token", &s.root_token]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && text.contains("NVIDIA H100 80GB HBM3"), "{text}");
    }
}

#[test]
fn a_two_gpu_job_waits_for_a_host_that_has_them_and_says_why() {
    for backend in backends() {
        let s = Server::start_on(backend);
        let empty = tempfile::tempdir().expect("tempdir");
        // A runner without GPUs takes untagged jobs, but never this one.
        let _plain = gpu_runner(&s, empty.path(), 1);
        let ci = r#"
train:
  gpu:
    count: 2
    vendor: amd
    memory: ">=60GiB"
  script:
    - echo "rocr=$ROCR_VISIBLE_DEVICES"
"#;
        let project = push_ci(&s, "gpu-wait", ci);
        let pid = latest_pipeline(&s, project)["id"].as_i64().expect("id");
        let job = wait_for("the job to say why it waits", Duration::from_secs(30), || {
            let js = jobs(&s, project, pid);
            let j = by_name(&js, "train").clone();
            if j["status"] == "pending" && j["pending_reason"].is_string() { Ok(j) } else { Err(j.to_string()) }
        });
        let reason = job["pending_reason"].as_str().expect("reason");
        assert!(reason.contains("no runner has 2× AMD"), "{reason}");
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(
            by_name(&jobs(&s, project, pid), "train")["status"],
            "pending",
            "the GPU-less runner must not take it"
        );

        let host = gpu_fixtures::Host::mixed();
        let _gpu = gpu_runner(&s, &host.root(), 1);
        wait_for("the 2-GPU job to run on the right host", Duration::from_secs(60), || {
            let p = s.get_json(&format!("/projects/{project}/pipelines/{pid}"), &s.root_token);
            if p["status"] == "success" { Ok(()) } else { Err(format!("{}", p["status"])) }
        });
        let id = by_name(&jobs(&s, project, pid), "train")["id"].as_i64().expect("id");
        let log = trace(&s, project, id);
        assert!(log.contains("rocr=GPU-1a2b3c4d5e6f7081,GPU-8a9bacbdcedf0112"), "both MI210s, by UUID:\n{log}");
    }
}

#[test]
fn registration_reports_the_gpus_before_any_job_request() {
    let s = Server::start();
    let host = gpu_fixtures::Host::mixed();
    let created = s.post("/user/runners", &s.root_token, &[("runner_type", "instance_type")]);
    let token = created["token"].as_str().expect("token");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_autogit"))
        .args(["runner", "register", "--url", &s.url, "--token", token, "--gpu-root"])
        .arg(host.root())
        .arg("--runner-config")
        .arg(dir.path().join("r.toml"))
        .output()
        .expect("register");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let detail = s.get_json(&format!("/runners/{}", created["id"]), &s.root_token);
    assert_eq!(detail["gpus"].as_array().map(Vec::len), Some(4), "{detail}");
}
