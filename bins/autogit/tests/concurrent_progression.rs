//! Progression under concurrent runners: eight simulated runners take and finish the jobs of one
//! multi-stage pipeline at once, so the coordinator's per-pipeline view (loaded once, then updated
//! job by job) meets claims and finishes racing each other, automatic retries (a new try of a
//! job) and a DAG job. Every job must run exactly once per try, no stage may start before the
//! previous one ended, and the pipeline must end `success`. Runs on SQLite and PostgreSQL.

mod common;

use common::backends;
use common::job_api::Ci;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CI: &str = "\
stages: [build, test, deploy]
build:
  stage: build
  parallel: 12
  script: [make]
test:
  stage: test
  parallel: 12
  script: [make test]
flaky:
  stage: test
  retry: 1
  script: [maybe]
dag:
  stage: deploy
  needs: ['build 1/12']
  script: [early]
deploy:
  stage: deploy
  script: [ship]
cleanup:
  stage: deploy
  when: always
  script: [tidy]
";

/// What the runners saw: job name → (attempts taken, first and last time taken).
type Seen = Arc<Mutex<HashMap<String, Vec<Instant>>>>;

#[test]
fn racing_runners_drive_a_pipeline_to_success() {
    for backend in backends() {
        eprintln!("== {backend:?}");
        let ci = Ci::start(backend, &[("AUTOGIT_CI_LONG_POLL_SECONDS", "1")]);
        let project = ci.project("race", CI);
        let seen: Seen = Arc::default();
        let done = Arc::new(AtomicBool::new(false));
        let runners: Vec<_> = (0..8)
            .map(|_| {
                let (_, token) = ci.runner(&[]);
                let api = Api { http: ci.http.clone(), base: ci.url("") };
                let (seen, done) = (seen.clone(), done.clone());
                std::thread::spawn(move || run(&api, &token, &seen, &done))
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(120);
        let pipeline = loop {
            let p = ci.pipeline(project);
            if matches!(p["status"].as_str(), Some("success" | "failed" | "canceled")) {
                break p;
            }
            assert!(Instant::now() < deadline, "pipeline did not finish: {p}");
            std::thread::sleep(Duration::from_millis(100));
        };
        done.store(true, Ordering::SeqCst);
        for r in runners {
            r.join().expect("runner thread");
        }
        assert_eq!(pipeline["status"], "success", "{pipeline}");
        let seen = seen.lock().expect("seen");
        for i in 1..=12 {
            assert_eq!(seen[&format!("build {i}/12")].len(), 1, "build {i} ran once");
            assert_eq!(seen[&format!("test {i}/12")].len(), 1, "test {i} ran once");
        }
        assert_eq!(seen["flaky"].len(), 2, "flaky failed once and was retried once");
        for name in ["dag", "deploy", "cleanup"] {
            assert_eq!(seen[name].len(), 1, "{name} ran once");
        }
        // Stage order: every test job was taken after the last build job finished being taken,
        // and deploy after the last test job (the DAG job only waits for its need).
        let last =
            |prefix: &str| seen.iter().filter(|(n, _)| n.starts_with(prefix)).flat_map(|(_, t)| t).max().copied();
        let first =
            |prefix: &str| seen.iter().filter(|(n, _)| n.starts_with(prefix)).flat_map(|(_, t)| t).min().copied();
        assert!(first("test ") > last("build "), "test started before build ended");
        assert!(first("deploy") > last("test ") && first("deploy") > last("flaky"), "deploy started early");
        let jobs = ci
            .s
            .get_json(&format!("/projects/{project}/pipelines/{}/jobs?per_page=100", pipeline["id"]), &ci.s.root_token);
        let jobs = jobs.as_array().expect("jobs");
        assert_eq!(jobs.len(), 12 + 12 + 1 + 3, "the latest try of each job: {jobs:?}");
        assert!(jobs.iter().all(|j| j["status"] == "success"), "every latest try succeeded: {jobs:?}");
    }
}

/// The runner job API as one runner thread calls it.
struct Api {
    http: reqwest::blocking::Client,
    base: String,
}

/// One simulated runner: take a job, report it (the first try of `flaky` fails), until told to
/// stop.
fn run(api: &Api, token: &str, seen: &Seen, done: &AtomicBool) {
    while !done.load(Ordering::SeqCst) {
        let body = json!({"token": token, "info": {"name": "gitlab-runner", "version": "18.0.0"}});
        let r = api.http.post(format!("{}/jobs/request", api.base)).json(&body).send().expect("jobs/request");
        if r.status() == StatusCode::NO_CONTENT {
            continue;
        }
        assert_eq!(r.status(), StatusCode::CREATED, "jobs/request");
        let job: Value = r.json().expect("job");
        let name = job["job_info"]["name"].as_str().expect("name").to_string();
        let tries = {
            let mut seen = seen.lock().expect("seen");
            let t = seen.entry(name.clone()).or_default();
            t.push(Instant::now());
            t.len()
        };
        let state = if name == "flaky" && tries == 1 { "failed" } else { "success" };
        let (id, tok) = (job["id"].as_i64().expect("id"), job["token"].as_str().expect("token"));
        let r = api
            .http
            .put(format!("{}/jobs/{id}", api.base))
            .json(&json!({"token": tok, "state": state}))
            .send()
            .expect("PUT job");
        assert_eq!(r.status(), StatusCode::OK, "PUT {name}");
    }
}
