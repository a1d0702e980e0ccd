//! Pipeline scenarios: each directory under `tests/scenarios/` holds a repository (its
//! `.gitlab-ci.yml` and any other files) and `expect.toml`. The repository is pushed with real
//! `git` to a real server on port 0, a real `autogit runner` process runs the jobs with the shell
//! executor, and the expectations are checked phase by phase — on SQLite and on PostgreSQL.
//!
//! `expect.toml`:
//! - `[server]`: environment for the server (e.g. `AUTOGIT_CI_LEASE_TIMEOUT_SECONDS = "3"`).
//! - `[runner]`: `tags`, `concurrent`, `docker_image` (the docker executor; an `arm64` or
//!   `riscv64` image sets up QEMU user emulation), `sandbox` (shell jobs run in the job sandbox;
//!   the default — a scenario that keeps state on the runner host between tries sets it to
//!   false); `start = false` starts none.
//! - `[project]`: settings applied before the push (e.g. `ci_config_path`).
//! - `[[variables]]`: project CI/CD variables created before the push (`key`, `value`, `masked`…);
//!   `{data_dir}` and `{server_pid}` in a value become the server's.
//! - `[[phase]]`, in order: wait until `pipeline` (status) and every `jobs` entry (name →
//!   status of its latest try) hold, then check `logs` (name → fragments that must appear),
//!   `no_logs` (fragments that must not), `tries` (name → number of tries), `failure`
//!   (name → failure_reason), `absent` (jobs that must not exist), `yaml_errors` (fragments);
//!   then run `action`: `play JOB`, `cancel`, `cancel-job JOB`, `retry`, `retry-job JOB`,
//!   `kill-runner`, `start-runner`.

mod common;

use common::ci::{RunnerProcess, latest_pipeline, push_dir, trace, wait_for};
use common::{Backend, Server, backends};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, serde::Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct Expect {
    description: String,
    server: BTreeMap<String, String>,
    runner: Option<RunnerSpec>,
    /// Project settings applied (`PUT /projects/:id`) before the push, e.g. `ci_config_path`.
    project: BTreeMap<String, String>,
    variables: Vec<VariableSpec>,
    phase: Vec<Phase>,
}

#[derive(Debug, serde::Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RunnerSpec {
    tags: Vec<String>,
    concurrent: Option<usize>,
    start: Option<bool>,
    /// Use the docker executor with this default image (built by `scripts/docker-test-image`;
    /// an `arm64` or `riscv64` one, with QEMU emulation, by `scripts/qemu-test-images`).
    docker_image: Option<String>,
    /// Shell jobs in the job sandbox (default: yes).
    sandbox: Option<bool>,
}

#[derive(Debug, serde::Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct VariableSpec {
    key: String,
    value: String,
    masked: bool,
    protected: bool,
    variable_type: Option<String>,
}

#[derive(Debug, serde::Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct Phase {
    pipeline: Option<String>,
    jobs: BTreeMap<String, String>,
    logs: BTreeMap<String, Vec<String>>,
    no_logs: BTreeMap<String, Vec<String>>,
    tries: BTreeMap<String, usize>,
    failure: BTreeMap<String, String>,
    absent: Vec<String>,
    yaml_errors: Vec<String>,
    action: Option<String>,
}

fn scenario_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios").join(name)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read scenario") {
        let e = e.expect("entry");
        let name = e.file_name();
        if name == "expect.toml" {
            continue;
        }
        let (src, dst) = (e.path(), to.join(&name));
        if src.is_dir() { copy_dir(&src, &dst) } else { std::fs::copy(&src, &dst).map(|_| ()).expect("copy") }
    }
}

/// Latest try of each job, by name, and the number of tries.
fn jobs_by_name(s: &Server, project: i64, pipeline: i64) -> (BTreeMap<String, Value>, BTreeMap<String, usize>) {
    let all = s.get_json(
        &format!("/projects/{project}/pipelines/{pipeline}/jobs?include_retried=true&per_page=100"),
        &s.root_token,
    );
    let mut latest: BTreeMap<String, Value> = BTreeMap::new();
    let mut tries: BTreeMap<String, usize> = BTreeMap::new();
    for j in all.as_array().expect("jobs") {
        let name = j["name"].as_str().expect("name").to_string();
        *tries.entry(name.clone()).or_default() += 1;
        let newer = latest.get(&name).is_none_or(|old| old["id"].as_i64() < j["id"].as_i64());
        if newer {
            latest.insert(name, j.clone());
        }
    }
    (latest, tries)
}

fn run_scenario(name: &str) {
    let dir = scenario_dir(name);
    let text = std::fs::read_to_string(dir.join("expect.toml")).expect("expect.toml");
    let expect: Expect = toml::from_str(&text).unwrap_or_else(|e| panic!("{name}/expect.toml: {e}"));
    for backend in backends() {
        eprintln!("== scenario {name} on {backend:?}: {}", expect.description);
        run_on(name, &dir, &expect, backend);
    }
}

fn run_on(name: &str, dir: &Path, expect: &Expect, backend: Backend) {
    let env: Vec<(&str, &str)> = expect.server.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let s = Server::start_with(backend, &env);
    let spec = expect.runner.as_ref();
    let tags: Vec<&str> = spec.map(|r| r.tags.iter().map(String::as_str).collect()).unwrap_or_default();
    let mut extra: Vec<String> = Vec::new();
    if let Some(image) = spec.and_then(|r| r.docker_image.as_ref()) {
        let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts");
        let mut build = std::process::Command::new("bash");
        if image.contains("arm64") || image.contains("riscv64") {
            build.arg(scripts.join("qemu-test-images"));
        } else {
            build.arg(scripts.join("docker-test-image")).arg(image);
        }
        let out = build.output().expect("bash");
        assert!(
            out.status.success(),
            "test image (needs Docker; run ./scripts/test): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        extra = vec!["--docker-image".into(), image.clone()];
    } else if spec.and_then(|r| r.sandbox) != Some(false) {
        extra = vec!["--sandbox".into()];
    }
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let mut runner = (spec.and_then(|r| r.start) != Some(false))
        .then(|| RunnerProcess::start(&s, &tags, spec.and_then(|r| r.concurrent).unwrap_or(2), &extra));
    let work = tempfile::tempdir().expect("tempdir");
    copy_dir(dir, work.path());
    let project_name = name.replace('_', "-");
    // Variables must exist before the push creates the pipeline: create the project first.
    let p = s.post("/projects", &s.root_token, &[("name", &project_name)]);
    let project = p["id"].as_i64().expect("project id");
    if !expect.project.is_empty() {
        let form: Vec<(&str, &str)> = expect.project.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let r = s.req(reqwest::Method::PUT, &format!("/projects/{project}"), &s.root_token).form(&form).send();
        assert!(r.expect("request").status().is_success(), "project settings {form:?}");
    }
    for v in &expect.variables {
        let value = v
            .value
            .replace("{data_dir}", &s.data.path().display().to_string())
            .replace("{server_pid}", &s.pid().to_string());
        let mut form = vec![
            ("key", v.key.clone()),
            ("value", value),
            ("masked", v.masked.to_string()),
            ("protected", v.protected.to_string()),
        ];
        if let Some(t) = &v.variable_type {
            form.push(("variable_type", t.clone()));
        }
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        s.post(&format!("/projects/{project}/variables"), &s.root_token, &form);
    }
    push_dir(&s, &project_name, work.path());
    let pipeline = latest_pipeline(&s, project);
    let pid = pipeline["id"].as_i64().expect("pipeline id");
    for (i, phase) in expect.phase.iter().enumerate() {
        let what = format!("{name} phase {} on {backend:?}", i + 1);
        let (jobs, tries) = wait_for(&what, Duration::from_secs(90), || {
            let p = s.get_json(&format!("/projects/{project}/pipelines/{pid}"), &s.root_token);
            let (jobs, tries) = jobs_by_name(&s, project, pid);
            let states: BTreeMap<&String, &Value> = jobs.iter().map(|(k, v)| (k, &v["status"])).collect();
            let state = format!("pipeline {} jobs {states:?}", p["status"]);
            if phase.pipeline.as_ref().is_some_and(|want| p["status"] != want.as_str()) {
                return Err(state);
            }
            for (job, want) in &phase.jobs {
                if jobs.get(job).is_none_or(|j| j["status"] != want.as_str()) {
                    return Err(state);
                }
            }
            // Logs arrive a moment after the status changes: wait for them too.
            for (job, frags) in &phase.logs {
                let Some(id) = jobs.get(job).and_then(|j| j["id"].as_i64()) else { return Err(state) };
                let log = trace(&s, project, id);
                if let Some(f) = frags.iter().find(|f| !log.contains(f.as_str())) {
                    return Err(format!("{state}; log of {job} lacks {f:?} so far:\n{log}"));
                }
            }
            for (job, n) in &phase.tries {
                if tries.get(job) != Some(n) {
                    return Err(format!("{state} tries {tries:?}"));
                }
            }
            Ok((jobs, tries))
        });
        let _ = tries;
        for job in &phase.absent {
            assert!(!jobs.contains_key(job), "{what}: job {job} must not exist");
        }
        for (job, reason) in &phase.failure {
            assert_eq!(jobs[job]["failure_reason"], reason.as_str(), "{what}: failure reason of {job}");
        }
        if !phase.yaml_errors.is_empty() {
            let p = s.get_json(&format!("/projects/{project}/pipelines/{pid}"), &s.root_token);
            let errors = p["yaml_errors"].as_str().unwrap_or_default().to_string();
            for frag in &phase.yaml_errors {
                assert!(errors.contains(frag.as_str()), "{what}: yaml_errors lacks {frag:?}:\n{errors}");
            }
        }
        for (job, frags) in &phase.logs {
            let id = jobs.get(job).unwrap_or_else(|| panic!("{what}: no job {job}"))["id"].as_i64().expect("id");
            let log = trace(&s, project, id);
            for frag in frags {
                assert!(log.contains(frag.as_str()), "{what}: log of {job} lacks {frag:?}:\n{log}");
            }
        }
        for (job, frags) in &phase.no_logs {
            let id = jobs[job]["id"].as_i64().expect("id");
            let log = trace(&s, project, id);
            for frag in frags {
                assert!(!log.contains(frag.as_str()), "{what}: log of {job} must not contain {frag:?}:\n{log}");
            }
        }
        if let Some(action) = &phase.action {
            act(&s, project, pid, &jobs, action, &mut runner);
        }
    }
}

fn act(
    s: &Server,
    project: i64,
    pid: i64,
    jobs: &BTreeMap<String, Value>,
    action: &str,
    runner: &mut Option<RunnerProcess>,
) {
    let (verb, arg) = action.split_once(' ').unwrap_or((action, ""));
    let job = |n: &str| jobs.get(n).unwrap_or_else(|| panic!("no job {n}"))["id"].as_i64().expect("id");
    match verb {
        "play" => {
            s.post(&format!("/projects/{project}/jobs/{}/play", job(arg)), &s.root_token, &[]);
        }
        "cancel" => {
            s.post(&format!("/projects/{project}/pipelines/{pid}/cancel"), &s.root_token, &[]);
        }
        "cancel-job" => {
            s.post(&format!("/projects/{project}/jobs/{}/cancel", job(arg)), &s.root_token, &[]);
        }
        "retry" => {
            s.post(&format!("/projects/{project}/pipelines/{pid}/retry"), &s.root_token, &[]);
        }
        "retry-job" => {
            s.post(&format!("/projects/{project}/jobs/{}/retry", job(arg)), &s.root_token, &[]);
        }
        "kill-runner" => runner.as_mut().expect("a runner").kill(),
        "start-runner" => runner.as_mut().expect("a runner").run(),
        other => panic!("unknown action {other:?}"),
    }
}

macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        $(#[test] fn $name() { run_scenario(stringify!($name)); })*

        /// Every scenario directory has a test above, so none is silently skipped.
        #[test]
        fn every_scenario_directory_is_run() {
            let listed = [$(stringify!($name)),*];
            for e in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios")).expect("dir") {
                let n = e.expect("entry").file_name().to_string_lossy().into_owned();
                assert!(listed.contains(&n.as_str()), "scenario {n} is not listed in pipeline_scenarios.rs");
            }
        }
    };
}

scenarios!(
    sandbox_escape,
    stages,
    needs_dag,
    rules_workflow,
    matrix,
    manual,
    retry,
    allow_failure,
    artifacts,
    cache,
    config_path,
    delayed,
    docker,
    timeout,
    cancel,
    runner_killed,
    yaml_error,
    variables,
    qemu_arm64,
    qemu_riscv64,
);
