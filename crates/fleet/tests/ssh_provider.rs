//! The ssh provider against a real `sshd` in a network namespace (root needed).
//!
//! A veth pair joins this namespace (10.231.N.1/24) to a fresh one (10.231.N.2/24) that runs
//! `sshd` on port 2222 and a UDP listener on port 9 that records the first datagram it gets
//! (the Wake-on-LAN packet). The filesystem is shared, so the test looks at the "remote"
//! directory directly. Everything is torn down on drop, even when an assertion fails.
#![allow(clippy::unwrap_used)]

mod common;

use autogit_fleet::ssh::{SshGroup, SshHost, magic_packet};
use autogit_fleet::{InstanceGroup, State};
use common::netns::{Lab, pid_alive, run};
use std::process::{Command, Stdio};
use std::time::Duration;

async fn wait_for(secs: u64, what: &str, mut check: impl FnMut() -> bool) {
    common::eventually(secs, what, || std::future::ready(check())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wakes_starts_stops_suspends_and_resumes_a_host() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let mut lab = Lab::start(t);
    let (net, mac) = (lab.net, lab.mac.clone());
    // The Wake-on-LAN listener: writes the first datagram on port 9 to `wol.bin`.
    let wol = t.join("wol.bin");
    lab.wol_listener(&wol);

    let bin = common::stand_in(t);
    let remote = t.join("remote");
    let host = SshHost {
        name: "gpu-desktop".into(),
        address: lab.ssh_address(),
        user: "root".into(),
        identity_file: Some(lab.client_key()),
        mac: Some(mac.clone()),
        broadcast: Some(lab.broadcast()),
        power_on_command: None,
        suspend_command: Some(format!(
            "touch {}/suspended-$(cat {}/runner.id 2>/dev/null || echo x)",
            t.display(),
            t.display()
        )),
        remote_dir: remote.to_str().unwrap().to_string(),
    };
    std::fs::write(t.join("runner.id"), "ci-1").unwrap();
    let group = SshGroup::new("homelab", bin.clone(), t.join("state"), vec![host], Lab::ssh_options())
        .with_ready_timeout(Duration::from_secs(30))
        .with_connect_timeout(Duration::from_secs(2))
        .with_grace(Duration::from_secs(5));
    let info = group.init().await.unwrap();
    assert_eq!(info.max_size, 1);
    assert_eq!(info.id, "ssh/homelab");

    // increase: woken, copied, started.
    let started = group.increase(&[common::launch("ci-1", "glrt-abc", 7)]).await;
    let sshd_log = lab.sshd_log();
    assert_eq!(started.unwrap_or_else(|e| panic!("increase failed: {e}\nsshd log:\n{sshd_log}")), 1);
    wait_for(10, "the magic packet", || wol.exists()).await;
    assert_eq!(std::fs::read(&wol).unwrap(), magic_packet(&mac).unwrap().to_vec(), "the captured magic packet");
    assert_eq!(std::fs::read(remote.join("autogit")).unwrap(), std::fs::read(&bin).unwrap(), "the copied binary");
    let pid = std::fs::read_to_string(remote.join("runner.pid")).unwrap().trim().to_string();
    assert!(pid_alive(&pid), "the runner stand-in (pid {pid}) runs");
    let cfg = std::fs::read_to_string(remote.join("runner.toml")).unwrap();
    assert!(cfg.contains("glrt-abc") && cfg.contains("--concurrent 2"), "{cfg}");
    assert!(std::fs::read_to_string(t.join("state/ci-1.json")).unwrap().contains("gpu-desktop"));

    let instances = group.update().await.unwrap();
    assert_eq!(instances.len(), 1);
    assert_eq!(
        (instances[0].id.as_str(), instances[0].state, instances[0].runner_id),
        ("ci-1", State::Running, Some(autogit_core::RunnerId::new(7)))
    );
    assert!(group.heartbeat("ci-1").await.unwrap());
    assert!(!group.heartbeat("nope").await.unwrap());

    // One host, one instance: no room for a second.
    assert_eq!(group.increase(&[common::launch("ci-2", "glrt-def", 8)]).await.unwrap(), 0);

    // decrease: stopped, suspended, released.
    assert_eq!(group.decrease(&["ci-1".to_string()]).await.unwrap(), vec!["ci-1".to_string()]);
    wait_for(5, "the runner to be gone", || !pid_alive(&pid)).await;
    assert!(t.join("suspended-ci-1").exists(), "suspend_command ran");
    assert!(group.update().await.unwrap().is_empty());
    assert!(!group.heartbeat("ci-1").await.unwrap());
    assert_eq!(group.decrease(&["ci-1".to_string()]).await.unwrap(), vec!["ci-1".to_string()], "idempotent");

    // The host is free again; the binary is already there and is not copied again.
    let before = std::fs::metadata(remote.join("autogit")).unwrap().modified().unwrap();
    std::fs::write(t.join("runner.id"), "ci-3").unwrap();
    assert_eq!(group.increase(&[common::launch("ci-3", "glrt-ghi", 9)]).await.unwrap(), 1);
    assert_eq!(std::fs::metadata(remote.join("autogit")).unwrap().modified().unwrap(), before, "binary not re-copied");
    let pid3 = std::fs::read_to_string(remote.join("runner.pid")).unwrap().trim().to_string();
    assert!(pid_alive(&pid3));

    // An unreachable host (link down) shows its instance as timed out; decrease releases it.
    run(&["ip", "link", "set", &lab.veth_host, "down"]).unwrap();
    let instances = group.update().await.unwrap();
    assert_eq!(instances[0].state, State::TimedOut);
    run(&["ip", "link", "set", &lab.veth_host, "up"]).unwrap();
    wait_for(20, "the host to answer again", || {
        Command::new("ping")
            .args(["-c1", "-W1", &format!("10.231.{net}.2")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(true)
    })
    .await;
    assert_eq!(group.update().await.unwrap()[0].state, State::Running);

    // suspend: the runner stops and the host goes to sleep, but the instance stays (same id,
    // same runner, its registration kept on the host).
    let ci3 = vec!["ci-3".to_string()];
    std::fs::write(t.join("runner.id"), "ci-3-asleep").unwrap();
    assert!(info.can_suspend);
    assert_eq!(group.suspend(&ci3).await.unwrap(), ci3);
    wait_for(5, "the runner to stop for the suspend", || !pid_alive(&pid3)).await;
    assert!(t.join("suspended-ci-3-asleep").exists(), "suspend_command ran");
    assert!(remote.join("runner.toml").exists(), "the registration is kept");
    let instances = group.update().await.unwrap();
    assert_eq!(
        (instances[0].id.as_str(), instances[0].state, instances[0].runner_id),
        ("ci-3", State::Suspended, Some(autogit_core::RunnerId::new(9)))
    );
    assert!(!group.heartbeat("ci-3").await.unwrap());
    assert_eq!(group.suspend(&ci3).await.unwrap(), ci3, "suspending again is a no-op");
    assert_eq!(group.increase(&[common::launch("ci-4", "glrt-jkl", 10)]).await.unwrap(), 0, "a sleeping host is taken");

    // resume: woken again (a second magic packet), the same runner started from its registration.
    let wol2 = t.join("wol2.bin");
    lab.wol_listener(&wol2);
    let resumed = group.resume(&[ci3[0].clone(), "unknown".to_string()]).await;
    let sshd_log = lab.sshd_log();
    assert_eq!(resumed.unwrap_or_else(|e| panic!("resume failed: {e}\nsshd log:\n{sshd_log}")), ci3);
    wait_for(10, "the second magic packet", || wol2.exists()).await;
    assert_eq!(std::fs::read(&wol2).unwrap(), magic_packet(&mac).unwrap().to_vec());
    let pid3 = std::fs::read_to_string(remote.join("runner.pid")).unwrap().trim().to_string();
    assert!(pid_alive(&pid3), "the runner runs again");
    assert!(std::fs::read_to_string(remote.join("runner.toml")).unwrap().contains("glrt-ghi"), "same registration");
    assert_eq!(group.update().await.unwrap()[0].state, State::Running);
    assert!(group.resume(&ci3).await.unwrap().is_empty(), "resuming a running instance is ignored");

    std::fs::write(t.join("runner.id"), "ci-3").unwrap();
    assert_eq!(group.decrease(&ci3).await.unwrap(), ci3);
    wait_for(5, "the second runner to be gone", || !pid_alive(&pid3)).await;
    assert!(t.join("suspended-ci-3").exists());
    group.shutdown().await.unwrap();
    drop(lab);
}
