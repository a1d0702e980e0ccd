//! Auto-cancel of redundant pipelines: a new push to a branch cancels the older pipeline of that
//! branch when the jobs it has started are all `interruptible`, and leaves it alone otherwise.

mod common;

use common::ci::{RunnerProcess, wait_for};
use common::{Server, backends, git_ok};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

fn commit_and_push(s: &Server, dir: &Path, ci: &str, msg: &str) {
    std::fs::write(dir.join(".gitlab-ci.yml"), ci).expect("write");
    git_ok(dir, &["add", "-A"]);
    git_ok(dir, &["commit", "-q", "-m", msg]);
    git_ok(dir, &["push", "-q", &s.git_url("root/redundant", &s.root_token), "main"]);
}

fn pipelines(s: &Server, project: i64) -> Vec<Value> {
    let v = s.get_json(&format!("/projects/{project}/pipelines"), &s.root_token);
    let mut list = v.as_array().expect("list").clone();
    list.sort_by_key(|p| p["id"].as_i64());
    list
}

fn wait_status(s: &Server, project: i64, index: usize, status: &str) {
    wait_for(&format!("pipeline {index} {status}"), Duration::from_secs(60), || {
        let list = pipelines(s, project);
        match list.get(index) {
            Some(p) if p["status"] == status => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
}

#[test]
fn a_newer_push_cancels_an_interruptible_pipeline_but_not_a_protected_one() {
    for backend in backends() {
        let s = Server::start_on(backend);
        let _runner = RunnerProcess::start(&s, &[], 2, &[]);
        let p = s.post("/projects", &s.root_token, &[("name", "redundant")]);
        let project = p["id"].as_i64().expect("id");
        let work = tempfile::tempdir().expect("tempdir");
        git_ok(work.path(), &["init", "-q", "-b", "main"]);
        let interruptible = "test:\n  interruptible: true\n  script:\n    - echo started\n    - sleep 30\n";
        commit_and_push(&s, work.path(), interruptible, "one");
        wait_status(&s, project, 0, "running");
        commit_and_push(&s, work.path(), "quick:\n  script: echo quick\n", "two");
        wait_status(&s, project, 0, "canceled");
        wait_status(&s, project, 1, "success");

        // A started job that is not interruptible keeps its pipeline alive.
        let deploy = "deploy:\n  interruptible: false\n  script:\n    - echo deploying\n    - sleep 3\n";
        commit_and_push(&s, work.path(), deploy, "three");
        wait_status(&s, project, 2, "running");
        commit_and_push(&s, work.path(), "quick:\n  script: echo quick again\n", "four");
        wait_status(&s, project, 3, "success");
        wait_status(&s, project, 2, "success");
    }
}
