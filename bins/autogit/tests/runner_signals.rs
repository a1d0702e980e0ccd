//! How `autogit runner run` stops, with real runner processes and a real server: gitlab-runner's
//! signals (SIGQUIT lets the running job finish; SIGTERM/SIGINT stops it, reports it failed with
//! `runner_system_failure` and exits; a second signal exits at once), and final states kept on
//! disk when the server is away, sent after both come back. Also the in-process built-in runner,
//! whose jobs a stopping server stops and reports.

mod common;

use common::ci::{RunnerProcess, latest_pipeline, push_ci, trace, wait_for};
use common::{Backend, Server, backends};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// The pipeline's jobs by name.
fn job(s: &Server, project: i64, name: &str) -> Value {
    let pid = latest_pipeline(s, project)["id"].as_i64().expect("pipeline");
    let jobs = s.get_json(&format!("/projects/{project}/pipelines/{pid}/jobs"), &s.root_token);
    jobs.as_array().and_then(|a| a.iter().find(|j| j["name"] == name).cloned()).unwrap_or(Value::Null)
}

fn wait_job(s: &Server, project: i64, name: &str, status: &str, timeout: Duration) -> Value {
    wait_for(&format!("job {name} {status}"), timeout, || {
        let j = job(s, project, name);
        if j["status"] == status { Ok(j) } else { Err(j.to_string()) }
    })
}

fn wait_trace(s: &Server, project: i64, id: i64, fragment: &str) {
    wait_for(&format!("{fragment:?} in the trace"), Duration::from_secs(30), || {
        let t = trace(s, project, id);
        if t.contains(fragment) { Ok(()) } else { Err(t) }
    });
}

/// Processes whose command line contains `marker` (a job's unique `sleep` argument): seen from
/// here whatever namespaces the job runs in.
fn processes_with(marker: &str) -> Vec<i32> {
    let mut pids = Vec::new();
    for e in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|p| p.parse::<i32>().ok()) else { continue };
        let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else { continue };
        if cmdline.windows(marker.len()).any(|w| w == marker.as_bytes()) {
            pids.push(pid);
        }
    }
    pids
}

/// Kills what a failed test leaves of a job (by pid; the marker names only this test's jobs).
struct Strays(&'static str);
impl Drop for Strays {
    fn drop(&mut self) {
        for pid in processes_with(self.0) {
            let _ = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status();
        }
    }
}

fn kept_files(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries.flatten().map(|e| e.file_name().to_string_lossy().to_string()).filter(|n| !n.starts_with('.')).collect()
}

#[test]
fn sigquit_lets_the_running_job_finish_and_takes_no_other() {
    for backend in backends() {
        let s = Server::start_on(backend);
        let mut r = RunnerProcess::start(&s, &[], 1, &[]);
        let project = push_ci(
            &s,
            "quit",
            "stages: [a, b]\nslow:\n  stage: a\n  script:\n    - echo slow job started\n    - sleep 3\n    - echo finished after SIGQUIT\nnext:\n  stage: b\n  script: echo next ran\n",
        );
        let slow = wait_job(&s, project, "slow", "running", Duration::from_secs(30));
        wait_trace(&s, project, slow["id"].as_i64().expect("id"), "slow job started");
        let quit_at = Instant::now();
        r.signal("QUIT");
        let status = r.wait_exit(Duration::from_secs(30)).expect("the runner exits after its job");
        let waited = quit_at.elapsed();
        assert!(status.success(), "a graceful stop exits 0: {status}");
        // It waited for the job: reported before the runner exited.
        let slow = job(&s, project, "slow");
        assert_eq!(slow["status"], "success", "{slow} (runner exited after {waited:?})");
        assert!(trace(&s, project, slow["id"].as_i64().expect("id")).contains("finished after SIGQUIT"));
        // No new job after SIGQUIT: the next stage's job waits for another runner.
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(job(&s, project, "next")["status"], "pending");
        assert!(kept_files(&r.pending_dir()).is_empty(), "nothing left to send");
    }
}

#[test]
fn sigterm_kills_the_running_job_reports_it_failed_and_exits() {
    const MARKER: &str = "7731.25";
    let _strays = Strays(MARKER);
    for backend in backends() {
        let s = Server::start_on(backend);
        let mut r = RunnerProcess::start(&s, &[], 1, &[]);
        let ci = format!("stuck:\n  script:\n    - echo stuck job started\n    - sleep {MARKER}\n    - echo never\n");
        let project = push_ci(&s, "term", &ci);
        let stuck = wait_job(&s, project, "stuck", "running", Duration::from_secs(30));
        let id = stuck["id"].as_i64().expect("id");
        wait_trace(&s, project, id, "stuck job started");
        assert!(!processes_with(MARKER).is_empty(), "the job's sleep runs");
        let term_at = Instant::now();
        r.signal("TERM");
        let status = r.wait_exit(Duration::from_secs(10)).expect("the runner exits within seconds");
        let took = term_at.elapsed();
        eprintln!("SIGTERM → runner exited in {took:?}");
        assert!(status.success(), "every job was stopped and reported in time: {status}");
        let stuck = job(&s, project, "stuck");
        assert_eq!(stuck["status"], "failed", "reported before the runner exited: {stuck}");
        assert_eq!(stuck["failure_reason"], "runner_system_failure", "{stuck}");
        let t = trace(&s, project, id);
        assert!(t.contains("aborted: terminated") && !t.contains("never"), "{t}");
        wait_for("the job's processes gone", Duration::from_secs(5), || {
            let left = processes_with(MARKER);
            if left.is_empty() { Ok(()) } else { Err(format!("{left:?}")) }
        });
        assert!(kept_files(&r.pending_dir()).is_empty(), "delivered, nothing kept");
    }
}

#[test]
fn a_second_signal_exits_at_once_and_the_kept_state_is_sent_after_a_restart() {
    const MARKER: &str = "7731.5";
    let _strays = Strays(MARKER);
    for backend in backends() {
        let s = Server::start_on(backend);
        let mut r = RunnerProcess::start(&s, &[], 1, &[]);
        let ci = format!("held:\n  script:\n    - echo held job started\n    - sleep {MARKER}\n");
        let project = push_ci(&s, "twice", &ci);
        let held = wait_job(&s, project, "held", "running", Duration::from_secs(30));
        let id = held["id"].as_i64().expect("id");
        wait_trace(&s, project, id, "held job started");
        // A server that stopped answering without closing its connections: the abort's report
        // would wait for its timeout; the second signal does not.
        s.signal("STOP");
        let term_at = Instant::now();
        r.signal("TERM");
        std::thread::sleep(Duration::from_millis(300));
        r.signal("INT");
        let status = r.wait_exit(Duration::from_secs(10)).expect("the runner exits");
        let took = term_at.elapsed();
        s.signal("CONT");
        eprintln!("SIGTERM, SIGINT → runner exited in {took:?}");
        assert!(took < Duration::from_secs(3), "a second signal exits at once, not after a timeout: {took:?}");
        assert_eq!(status.code(), Some(1), "an exit at once is not a clean stop");
        let file = r.pending_dir().join(format!("{id}.json"));
        let kept = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{} kept: {e}", file.display()));
        assert!(kept.contains("runner_system_failure"), "{kept}");
        assert_eq!(std::fs::metadata(&file).expect("metadata").permissions().mode() & 0o777, 0o600);
        assert_eq!(job(&s, project, "held")["status"], "running", "nothing reached the server");
        wait_for("the job's processes gone", Duration::from_secs(5), || {
            let left = processes_with(MARKER);
            if left.is_empty() { Ok(()) } else { Err(format!("{left:?}")) }
        });

        r.run();
        let held = wait_job(&s, project, "held", "failed", Duration::from_secs(30));
        assert_eq!(held["failure_reason"], "runner_system_failure", "{held}");
        assert!(trace(&s, project, id).contains("aborted: terminated"));
        wait_for("the kept file removed", Duration::from_secs(10), || {
            if file.exists() { Err("still there".into()) } else { Ok(()) }
        });
    }
}

/// What a job runs where a stop does not reach it (its `after_script` runs to its own timeout)
/// still dies when the runner exits at once.
#[test]
fn exiting_at_once_takes_the_jobs_processes_along() {
    const MARKER: &str = "7731.75";
    let _strays = Strays(MARKER);
    let s = Server::start_on(Backend::Sqlite);
    let mut r = RunnerProcess::start(&s, &[], 1, &[]);
    let ci =
        format!("cleanup:\n  script: [exit 3]\n  after_script:\n    - echo cleanup started\n    - sleep {MARKER}\n");
    let project = push_ci(&s, "cleanup", &ci);
    let held = wait_job(&s, project, "cleanup", "running", Duration::from_secs(30));
    wait_trace(&s, project, held["id"].as_i64().expect("id"), "cleanup started");
    r.signal("TERM");
    std::thread::sleep(Duration::from_millis(300));
    assert!(!processes_with(MARKER).is_empty(), "a stop does not end an after_script");
    r.signal("INT");
    let status = r.wait_exit(Duration::from_secs(10)).expect("the runner exits");
    assert_eq!(status.code(), Some(1), "an exit at once");
    wait_for("the after_script's processes gone", Duration::from_secs(5), || {
        let left = processes_with(MARKER);
        if left.is_empty() { Ok(()) } else { Err(format!("{left:?}")) }
    });
}

/// The docker executor's containers are no process of the runner: exiting at once removes them.
#[test]
fn exiting_at_once_removes_the_jobs_containers() {
    const MARKER: &str = "7731.875";
    const IMAGE: &str = "autogit-test/busybox:2";
    let _strays = Strays(MARKER);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/docker-test-image");
    let out = std::process::Command::new("bash").args([script, IMAGE]).output().expect("bash");
    assert!(
        out.status.success(),
        "test image (needs Docker; run ./scripts/test): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = Server::start_on(Backend::Sqlite);
    let mut r = RunnerProcess::start(&s, &[], 1, &["--docker-image", IMAGE]);
    let ci =
        format!("cleanup:\n  script: [exit 3]\n  after_script:\n    - echo cleanup started\n    - sleep {MARKER}\n");
    let project = push_ci(&s, "containers", &ci);
    let held = wait_job(&s, project, "cleanup", "running", Duration::from_secs(60));
    wait_trace(&s, project, held["id"].as_i64().expect("id"), "cleanup started");
    let system_id = std::fs::read_to_string(&r.config).expect("runner config");
    let system_id = system_id
        .lines()
        .find_map(|l| l.strip_prefix("system_id = ").map(|v| v.trim_matches('"').to_string()))
        .expect("system_id in the runner configuration");
    let containers = || {
        let out = std::process::Command::new("docker")
            .args(["ps", "-aq", "--filter", &format!("label=autogit.runner={system_id}")])
            .output()
            .expect("docker ps");
        String::from_utf8_lossy(&out.stdout).lines().count()
    };
    assert!(containers() > 0, "the job's container runs");
    r.signal("TERM");
    std::thread::sleep(Duration::from_millis(300));
    r.signal("INT");
    let status = r.wait_exit(Duration::from_secs(15)).expect("the runner exits");
    assert_eq!(status.code(), Some(1), "an exit at once");
    assert_eq!(containers(), 0, "no container of the runner's jobs is left");
    wait_for("the after_script's processes gone", Duration::from_secs(5), || {
        let left = processes_with(MARKER);
        if left.is_empty() { Ok(()) } else { Err(format!("{left:?}")) }
    });
}

#[test]
fn a_final_state_the_crashed_server_missed_is_sent_after_both_restart() {
    for backend in backends() {
        // A short lease: the server stays down longer than it, so only the lease renewal at
        // start lets the job's own report count.
        let mut s = Server::start_with(backend, &[("AUTOGIT_CI_LEASE_TIMEOUT_SECONDS", "3")]);
        let mut r = RunnerProcess::register(&s, &[], 1, &[]);
        r.configure("timeouts", "request_seconds", 2);
        r.configure("timeouts", "pending_retry_seconds", 1);
        r.run();
        let project = push_ci(
            &s,
            "crash",
            "late:\n  script:\n    - echo late job started\n    - sleep 3\n    - echo finished while the server was away\n",
        );
        let late = wait_job(&s, project, "late", "running", Duration::from_secs(30));
        let id = late["id"].as_i64().expect("id");
        wait_trace(&s, project, id, "late job started");
        s.crash();
        let file = r.pending_dir().join(format!("{id}.json"));
        wait_for("the final state kept", Duration::from_secs(20), || {
            std::fs::read_to_string(&file)
                .map_err(|e| e.to_string())
                .and_then(|t| if t.contains("\"success\"") { Ok(()) } else { Err(t) })
        });
        assert_eq!(std::fs::metadata(&file).expect("metadata").permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(r.pending_dir()).expect("dir").permissions().mode() & 0o777, 0o700);
        let term_at = Instant::now();
        r.signal("TERM");
        let status = r.wait_exit(Duration::from_secs(10)).expect("the runner exits while its server is gone");
        eprintln!("SIGTERM with the server gone → runner exited in {:?}", term_at.elapsed());
        assert!(status.success(), "{status}");
        assert!(file.exists(), "the state is still kept");
        // Past the lease the server gave before it crashed.
        std::thread::sleep(Duration::from_secs(4));

        s.restart();
        r.run();
        let late = wait_job(&s, project, "late", "success", Duration::from_secs(30));
        assert!(late["failure_reason"].is_null(), "{late}");
        let pid = latest_pipeline(&s, project)["id"].as_i64().expect("pipeline");
        wait_for("the pipeline to succeed", Duration::from_secs(10), || {
            let p = s.get_json(&format!("/projects/{project}/pipelines/{pid}"), &s.root_token);
            if p["status"] == "success" { Ok(()) } else { Err(p["status"].to_string()) }
        });
        assert!(trace(&s, project, id).contains("finished while the server was away"), "the trace tail was sent");
        wait_for("the kept file removed", Duration::from_secs(10), || {
            if file.exists() { Err("still there".into()) } else { Ok(()) }
        });
    }
}

#[test]
fn a_stopping_server_stops_and_reports_its_in_process_runners_jobs() {
    const MARKER: &str = "7731.75";
    let _strays = Strays(MARKER);
    for backend in backends() {
        let mut s = Server::start_with(
            backend,
            &[("AUTOGIT_CI_BUILTIN_RUNNER_CONCURRENT", "1"), ("AUTOGIT_CI_BUILTIN_RUNNER_MODE", "in-process")],
        );
        let ci = format!("inside:\n  script:\n    - echo inside job started\n    - sleep {MARKER}\n");
        let project = push_ci(&s, "inproc", &ci);
        let inside = wait_job(&s, project, "inside", "running", Duration::from_secs(30));
        let id = inside["id"].as_i64().expect("id");
        wait_trace(&s, project, id, "inside job started");
        let term_at = Instant::now();
        s.signal("TERM");
        let status = s.wait();
        eprintln!("server SIGTERM with a running in-process job → exited in {:?}", term_at.elapsed());
        assert!(status.success(), "{status}");
        assert!(term_at.elapsed() < Duration::from_secs(15));
        wait_for("the job's processes gone", Duration::from_secs(5), || {
            let left = processes_with(MARKER);
            if left.is_empty() { Ok(()) } else { Err(format!("{left:?}")) }
        });
        s.restart();
        let inside = job(&s, project, "inside");
        assert_eq!(inside["status"], "failed", "reported before the server stopped: {inside}");
        assert_eq!(inside["failure_reason"], "runner_system_failure", "{inside}");
        assert!(trace(&s, project, id).contains("aborted: terminated"));
    }
}
