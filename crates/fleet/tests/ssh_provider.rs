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
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn run(cmd: &[&str]) -> Result<String, String> {
    let out =
        Command::new(cmd[0]).args(&cmd[1..]).stdin(Stdio::null()).output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!("{cmd:?} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr)))
    }
}

fn find_sshd() -> Option<PathBuf> {
    ["/usr/sbin/sshd", "/usr/bin/sshd", "/sbin/sshd"].iter().map(PathBuf::from).find(|p| p.exists())
}

/// The namespace, its sshd and its UDP listener; removed on drop.
struct Lab {
    ns: String,
    veth_host: String,
    children: Vec<Child>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        // Whatever still runs in the namespace was started by this test (the runner stand-in).
        if let Ok(pids) = run(&["ip", "netns", "pids", &self.ns]) {
            for pid in pids.split_whitespace() {
                let _ = run(&["kill", "-KILL", pid]);
            }
        }
        let _ = run(&["ip", "link", "del", &self.veth_host]);
        let _ = run(&["ip", "netns", "del", &self.ns]);
    }
}

fn pid_alive(pid: &str) -> bool {
    // A zombie (exited, not yet reaped) counts as gone.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')))
        .unwrap_or(false)
}

async fn wait_for(secs: u64, what: &str, mut check: impl FnMut() -> bool) {
    common::eventually(secs, what, || std::future::ready(check())).await;
}

/// A UDP listener on port 9 in namespace `ns` that writes the first datagram it gets to `out`
/// (and exits); returns once it is bound.
async fn wol_listener(ns: &str, out: &std::path::Path) -> std::process::Child {
    let listener = "import socket,sys\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
                    s.setsockopt(socket.SOL_SOCKET,socket.SO_BROADCAST,1)\ns.bind(('',9))\n\
                    open(sys.argv[1]+'.ready','w').close()\nd=s.recv(1024)\n\
                    open(sys.argv[1]+'.tmp','wb').write(d)\nimport os\nos.rename(sys.argv[1]+'.tmp',sys.argv[1])\n";
    let child = Command::new("ip")
        .args(["netns", "exec", ns, "python3", "-c", listener])
        .arg(out)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let ready = out.with_extension("bin.ready");
    wait_for(20, "the UDP listener to bind", || ready.exists()).await;
    child
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wakes_starts_stops_suspends_and_resumes_a_host() {
    let sshd = match find_sshd() {
        Some(p) => p,
        None => {
            let _ = run(&["apt-get", "update", "-qq"]);
            let _ = Command::new("apt-get")
                .args(["install", "-y", "-qq", "openssh-server", "openssh-client"])
                .env("DEBIAN_FRONTEND", "noninteractive")
                .status();
            find_sshd().expect("sshd is missing and `apt-get install openssh-server` did not provide it")
        }
    };
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let id = std::process::id();
    let net = 20 + id % 200;
    let mut lab = Lab { ns: format!("agssh{id}"), veth_host: format!("ags{id}h"), children: vec![] };
    let veth_ns = format!("ags{id}n");
    let setup = || -> Result<(), String> {
        run(&["ip", "netns", "add", &lab.ns])?;
        run(&["ip", "link", "add", &lab.veth_host, "type", "veth", "peer", "name", &veth_ns])?;
        run(&["ip", "link", "set", &veth_ns, "netns", &lab.ns])?;
        run(&["ip", "addr", "add", &format!("10.231.{net}.1/24"), "dev", &lab.veth_host])?;
        run(&["ip", "link", "set", &lab.veth_host, "up"])?;
        run(&["ip", "-n", &lab.ns, "addr", "add", &format!("10.231.{net}.2/24"), "dev", &veth_ns])?;
        run(&["ip", "-n", &lab.ns, "link", "set", &veth_ns, "up"])?;
        run(&["ip", "-n", &lab.ns, "link", "set", "lo", "up"])?;
        Ok(())
    };
    if let Err(e) = setup() {
        panic!(
            "cannot create the network namespace for the ssh provider test (root and CAP_NET_ADMIN are required): {e}"
        );
    }
    let link = run(&["ip", "-n", &lab.ns, "link", "show", "dev", &veth_ns]).unwrap();
    let mac = link
        .split_whitespace()
        .skip_while(|w| *w != "link/ether")
        .nth(1)
        .unwrap_or_else(|| panic!("no MAC in {link}"))
        .to_string();

    // Keys and sshd.
    run(&["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", t.join("host_key").to_str().unwrap()]).unwrap();
    run(&["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", t.join("client_key").to_str().unwrap()]).unwrap();
    std::fs::copy(t.join("client_key.pub"), t.join("authorized_keys")).unwrap();
    std::fs::create_dir_all("/run/sshd").unwrap();
    let config = format!(
        "Port 2222\nListenAddress 10.231.{net}.2\nHostKey {t}/host_key\nPidFile {t}/sshd.pid\n\
         AuthorizedKeysFile {t}/authorized_keys\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n\
         KbdInteractiveAuthentication no\nSubsystem sftp internal-sftp\nPubkeyAuthentication yes\nPermitRootLogin prohibit-password\n",
        t = t.display()
    );
    std::fs::write(t.join("sshd_config"), config).unwrap();
    let log = std::fs::File::create(t.join("sshd.log")).unwrap();
    lab.children.push(
        Command::new("ip")
            .args(["netns", "exec", &lab.ns])
            .arg(&sshd)
            .args(["-D", "-e", "-f"])
            .arg(t.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    // The Wake-on-LAN listener: writes the first datagram on port 9 to `wol.bin`.
    let wol = t.join("wol.bin");
    lab.children.push(wol_listener(&lab.ns, &wol).await);

    let bin = common::stand_in(t);
    let remote = t.join("remote");
    let host = SshHost {
        name: "gpu-desktop".into(),
        address: format!("10.231.{net}.2:2222"),
        user: "root".into(),
        identity_file: Some(t.join("client_key")),
        mac: Some(mac.clone()),
        broadcast: Some(format!("10.231.{net}.255:9")),
        power_on_command: None,
        suspend_command: Some(format!(
            "touch {}/suspended-$(cat {}/runner.id 2>/dev/null || echo x)",
            t.display(),
            t.display()
        )),
        remote_dir: remote.to_str().unwrap().to_string(),
    };
    std::fs::write(t.join("runner.id"), "ci-1").unwrap();
    let group = SshGroup::new(
        "homelab",
        bin.clone(),
        t.join("state"),
        vec![host],
        vec!["StrictHostKeyChecking=no".into(), "UserKnownHostsFile=/dev/null".into(), "LogLevel=ERROR".into()],
    )
    .with_ready_timeout(Duration::from_secs(30))
    .with_connect_timeout(Duration::from_secs(2))
    .with_grace(Duration::from_secs(5));
    let info = group.init().await.unwrap();
    assert_eq!(info.max_size, 1);
    assert_eq!(info.id, "ssh/homelab");

    // increase: woken, copied, started.
    let started = group.increase(&[common::launch("ci-1", "glrt-abc", 7)]).await;
    let sshd_log = std::fs::read_to_string(t.join("sshd.log")).unwrap_or_default();
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
        ("ci-1", State::Running, Some(7))
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
        ("ci-3", State::Suspended, Some(9))
    );
    assert!(!group.heartbeat("ci-3").await.unwrap());
    assert_eq!(group.suspend(&ci3).await.unwrap(), ci3, "suspending again is a no-op");
    assert_eq!(group.increase(&[common::launch("ci-4", "glrt-jkl", 10)]).await.unwrap(), 0, "a sleeping host is taken");

    // resume: woken again (a second magic packet), the same runner started from its registration.
    let wol2 = t.join("wol2.bin");
    lab.children.push(wol_listener(&lab.ns, &wol2).await);
    let resumed = group.resume(&[ci3[0].clone(), "unknown".to_string()]).await;
    let sshd_log = std::fs::read_to_string(t.join("sshd.log")).unwrap_or_default();
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
