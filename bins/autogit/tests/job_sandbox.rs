//! The built-in runner of a default `autogit serve` runs jobs in the job sandbox: a project
//! member's job cannot read the data directory, other repositories, the database or the server's
//! environment, nor reach loopback services, while its own work (a clone through the server's
//! URL, an artifact) succeeds. Where the host cannot set the sandbox up, the built-in runner
//! does not start and `serve` says why.

mod common;

use common::ci::{latest_pipeline, push_dir, trace, wait_for};
use common::{Server, backends};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The attempts of the `sandbox_escape` scenario, run by the built-in runner instead.
fn escape_repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios/sandbox_escape");
    for f in [".gitlab-ci.yml", "escape.sh"] {
        std::fs::copy(scenario.join(f), dir.path().join(f)).expect("copy");
    }
    dir
}

#[test]
fn the_builtin_runner_keeps_jobs_away_from_the_server() {
    for backend in backends() {
        // Defaults, as after the README's first command: the built-in runner is a process pool.
        let s = Server::start_with(backend, &[("AUTOGIT_CI_BUILTIN_RUNNER_CONCURRENT", "2")]);
        let project = s.post("/projects", &s.root_token, &[("name", "escape")])["id"].as_i64().expect("id");
        for (key, value) in [("DATA_DIR", s.data.path().display().to_string()), ("SERVER_PID", s.pid().to_string())] {
            s.post(&format!("/projects/{project}/variables"), &s.root_token, &[("key", key), ("value", &value)]);
        }
        let repo = escape_repo();
        push_dir(&s, "escape", repo.path());
        let pid = latest_pipeline(&s, project)["id"].as_i64().expect("pipeline");
        let job = wait_for("the escape job to finish", Duration::from_secs(120), || {
            let jobs = s.get_json(&format!("/projects/{project}/pipelines/{pid}/jobs"), &s.root_token);
            let j = jobs[0].clone();
            if matches!(j["status"].as_str(), Some("success" | "failed")) { Ok(j) } else { Err(j.to_string()) }
        });
        let log = trace(&s, project, job["id"].as_i64().expect("job id"));
        assert_eq!(job["status"], "success", "{log}");
        assert!(!log.contains("LEAK"), "{log}");
        for blocked in
            ["data directory", "database file", "other repositories", "server environment", "loopback port 5432"]
        {
            assert!(log.contains(&format!("BLOCKED: {blocked}")), "{blocked}: {log}");
        }
        assert!(log.contains("shell executor, sandboxed") && log.contains("server reached through its URL"), "{log}");
        let artifacts = s.get(&format!("/projects/{project}/jobs/{}/artifacts", job["id"]), &s.root_token);
        assert!(artifacts.status().is_success(), "the job's own artifact was uploaded");
    }
}

/// `autogit serve` in a user namespace of its own where no further user namespace may be created
/// (as on a host with them disabled): it serves, says why the built-in runner is off and what to
/// do, and runs no job.
#[test]
fn serve_refuses_the_builtin_runner_where_there_is_no_sandbox() {
    let data = tempfile::tempdir().expect("tempdir");
    let script =
        "echo 0 > /proc/sys/user/max_user_namespaces && exec \"$0\" serve --listen 127.0.0.1:0 --data-dir \"$1\"";
    let mut child = Command::new("unshare")
        .args(["--user", "--map-root-user", "--", "sh", "-c", script, env!("CARGO_BIN_EXE_autogit")])
        .arg(data.path())
        .env("AUTOGIT_ROOT_PASSWORD", common::ROOT_PASSWORD)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("unshare runs");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut said = String::new();
    let mut url = None;
    let mut wait = Duration::from_secs(60);
    while let Ok(line) = rx.recv_timeout(wait) {
        if let Some(u) = line.split("listening on ").nth(1).and_then(|r| r.split_whitespace().next()) {
            url = Some(u.to_string());
        }
        said.push_str(&line);
        said.push('\n');
        if said.contains("NOT STARTED") && url.is_some() {
            // The rest of the message follows on its own lines.
            wait = Duration::from_secs(2);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(said.contains("NOT STARTED: the built-in runner"), "{said}");
    assert!(
        said.contains("user namespaces are disabled") && said.contains("user.max_user_namespaces"),
        "the reason: {said}"
    );
    assert!(
        said.contains("apt install bubblewrap passt") && said.contains("ci.builtin_runner_concurrent = 0"),
        "what to do: {said}"
    );
    assert!(url.is_some(), "the server serves anyway: {said}");
}
