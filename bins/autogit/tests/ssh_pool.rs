//! The ssh provider through `autogit serve` (root needed): a pool of one "sleeping desktop" — a
//! network namespace with sshd (crates/fleet/tests/common/netns.rs) — is woken with a
//! Wake-on-LAN packet when a job waits, gets the real `autogit` binary copied over and runs the
//! job; once idle the autoscaler suspends it (runner stopped, suspend command run, the instance
//! kept), and the next job resumes it: another magic packet, and the same runner, not a new one.

mod common;
#[path = "../../../crates/fleet/tests/common/netns.rs"]
mod netns;

use common::ci::{latest_pipeline, pool, push_ci, wait_for};
use common::{Backend, Server};
use netns::{Lab, pid_alive};
use std::path::Path;
use std::time::Duration;

/// Pushes a one-job project and waits for success; returns the job's runner id.
fn run_job(s: &Server, name: &str) -> i64 {
    let project = push_ci(s, name, &format!("{name}:\n  script: echo {name} ran on runner $CI_RUNNER_ID\n"));
    let pid = latest_pipeline(s, project)["id"].as_i64().expect("pipeline");
    // Waking includes copying the (debug, large) binary the first time.
    wait_for(&format!("{name} to succeed"), Duration::from_secs(180), || {
        let p = s.get_json(&format!("/projects/{project}/pipelines/{pid}"), &s.root_token);
        match p["status"].as_str() {
            Some("success") => Ok(()),
            Some("failed") => panic!("{name} failed: {}", pool(s, "desk")),
            _ => Err(format!("{} {}", p["status"], pool(s, "desk"))),
        }
    });
    let jobs = s.get_json(&format!("/projects/{project}/pipelines/{pid}/jobs"), &s.root_token);
    jobs[0]["runner"]["id"].as_i64().expect("runner")
}

fn is_magic_packet(path: &Path) -> bool {
    std::fs::read(path).is_ok_and(|p| p.len() == 102 && p[..6] == [0xFF; 6])
}

#[test]
fn an_ssh_pool_wakes_its_host_suspends_it_when_idle_and_resumes_the_same_runner() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let t = tmp.path();
    let mut lab = Lab::start(t);
    let first_wake = t.join("wol1.bin");
    lab.wol_listener(&first_wake);
    let (remote, asleep) = (t.join("remote"), t.join("asleep"));
    let options: Vec<String> = Lab::ssh_options().iter().map(|o| format!("{o:?}")).collect();
    let config = format!(
        "[[ci.pools]]\nname = \"desk\"\nprovider = \"ssh\"\nmax_instances = 1\nidle_time_seconds = 2\n\
         ssh_options = [{}]\n\
         [[ci.pools.ssh_hosts]]\nname = \"desk1\"\naddress = \"{}\"\nuser = \"root\"\nidentity_file = \"{}\"\n\
         mac = \"{}\"\nbroadcast = \"{}\"\nsuspend_command = \"touch {}\"\nremote_dir = \"{}\"\n",
        options.join(", "),
        lab.ssh_address(),
        lab.client_key().display(),
        lab.mac,
        lab.broadcast(),
        asleep.display(),
        remote.display()
    );
    let cfg = t.join("autogit.toml");
    std::fs::write(&cfg, config).expect("write config");
    // Listening on the veth address: the runner in the namespace reaches the server there, and
    // this test scrapes /metrics from that address too.
    let metrics_from = lab.host_ip();
    let mut s = Server::start_listening(
        Backend::Sqlite,
        &[("AUTOGIT_CONFIG", cfg.to_str().expect("utf8")), ("AUTOGIT_METRICS_ALLOWED_ADDRESSES", &metrics_from)],
        &format!("{}:0", lab.host_ip()),
    );

    let runner = run_job(&s, "first");
    assert!(is_magic_packet(&first_wake), "the host was woken");
    assert!(remote.join("autogit").exists() && remote.join("runner.toml").exists(), "installed and registered");
    // The pool view is published after each autoscaler step; the job may finish first.
    wait_for("the instance in the pool view", Duration::from_secs(10), || {
        let p = pool(&s, "desk");
        if p["instances"][0]["runner_id"].as_i64() == Some(runner) { Ok(()) } else { Err(p.to_string()) }
    });
    assert_eq!(pool(&s, "desk")["scale_ups"], 1);

    // Idle past idle_time (and the 10 s a just-used instance is kept): suspended, not removed.
    wait_for("the host to be suspended", Duration::from_secs(60), || {
        let p = pool(&s, "desk");
        if p["instances"][0]["state"] == "suspended" { Ok(()) } else { Err(p.to_string()) }
    });
    assert!(asleep.exists(), "the suspend command ran");
    let pid = std::fs::read_to_string(remote.join("runner.pid")).unwrap_or_default();
    assert!(pid.trim().is_empty() || !pid_alive(pid.trim()), "the runner was stopped");
    assert!(remote.join("runner.toml").exists(), "its registration is kept for the resume");
    let metrics = reqwest::blocking::get(s.raw("/metrics")).expect("metrics").text().expect("text");
    assert!(metrics.contains("autogit_pool_instances{pool=\"desk\",state=\"suspended\"} 1"), "{metrics}");
    assert!(
        metrics.contains("autogit_pool_provider_call_seconds_count{pool=\"desk\",call=\"suspend\",result=\"ok\"} 1"),
        "{metrics}"
    );

    // The next job wakes it again, into the same runner.
    let second_wake = t.join("wol2.bin");
    lab.wol_listener(&second_wake);
    assert_eq!(run_job(&s, "second"), runner, "the resumed host runs the same runner");
    assert!(is_magic_packet(&second_wake), "woken again");
    let p = pool(&s, "desk");
    assert_eq!((p["scale_ups"].as_u64(), p["scale_downs"].as_u64()), (Some(2), Some(1)), "{p}");
    let runners = s.get_json("/runners/all", &s.root_token);
    assert_eq!(runners.as_array().map(Vec::len), Some(1), "no second registration: {runners}");

    s.signal("TERM");
    assert!(s.wait().success(), "autogit serve exits cleanly");
    drop(lab);
}
