//! A "remote host" on this machine for the ssh provider's tests (root needed): a network
//! namespace joined to this one by a veth pair (10.231.N.1/24 here, 10.231.N.2/24 there), with
//! `sshd` on port 2222 accepting a fresh key, and UDP listeners on port 9 that capture the
//! Wake-on-LAN packets sent to the subnet's broadcast address. The filesystem is shared, so a
//! test looks at the "remote" directory directly. Everything is torn down on drop, even when an
//! assertion fails. Used by crates/fleet/tests/ssh_provider.rs and, through `#[path]`, by
//! bins/autogit/tests/ssh_pool.rs.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn run(cmd: &[&str]) -> Result<String, String> {
    let out =
        Command::new(cmd[0]).args(&cmd[1..]).stdin(Stdio::null()).output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!("{cmd:?} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr)))
    }
}

/// `sshd`, installed (Debian's openssh-server) when missing.
fn sshd() -> PathBuf {
    let find = || ["/usr/sbin/sshd", "/usr/bin/sshd", "/sbin/sshd"].iter().map(PathBuf::from).find(|p| p.exists());
    if let Some(p) = find() {
        return p;
    }
    let _ = run(&["apt-get", "update", "-qq"]);
    let _ = Command::new("apt-get")
        .args(["install", "-y", "-qq", "openssh-server", "openssh-client"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status();
    find().expect("sshd is missing and `apt-get install openssh-server` did not provide it")
}

/// Whether a process runs (a zombie counts as gone).
pub fn pid_alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')))
        .unwrap_or(false)
}

/// Polls `check` every 100 ms until it holds; panics after `secs`.
pub fn wait_until(secs: u64, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The namespace, its sshd and its listeners.
pub struct Lab {
    pub ns: String,
    pub veth_host: String,
    /// The third octet of the subnet.
    pub net: u32,
    /// The namespace side's MAC (the host to wake).
    pub mac: String,
    dir: PathBuf,
    children: Vec<Child>,
}

impl Lab {
    /// Sets the namespace up, with keys, config and logs in `dir`.
    pub fn start(dir: &Path) -> Lab {
        let sshd = sshd();
        let id = std::process::id();
        // A subnet no other lab on this machine uses (tests run in parallel processes).
        let used = run(&["ip", "-4", "addr"]).unwrap_or_default();
        let net = (0..200).map(|k| 20 + (id + k) % 200).find(|n| !used.contains(&format!("10.231.{n}.1/"))).unwrap();
        let mut lab = Lab {
            ns: format!("agssh{id}"),
            veth_host: format!("ags{id}h"),
            net,
            mac: String::new(),
            dir: dir.to_path_buf(),
            children: vec![],
        };
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
            panic!("cannot create the network namespace for the ssh tests (root and CAP_NET_ADMIN are required): {e}");
        }
        let link = run(&["ip", "-n", &lab.ns, "link", "show", "dev", &veth_ns]).unwrap();
        lab.mac = link
            .split_whitespace()
            .skip_while(|w| *w != "link/ether")
            .nth(1)
            .unwrap_or_else(|| panic!("no MAC in {link}"))
            .to_string();

        let t = dir.display();
        run(&["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", &format!("{t}/host_key")]).unwrap();
        run(&["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", &format!("{t}/client_key")]).unwrap();
        std::fs::copy(dir.join("client_key.pub"), dir.join("authorized_keys")).unwrap();
        std::fs::create_dir_all("/run/sshd").unwrap();
        let config = format!(
            "Port 2222\nListenAddress 10.231.{net}.2\nHostKey {t}/host_key\nPidFile {t}/sshd.pid\n\
             AuthorizedKeysFile {t}/authorized_keys\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nSubsystem sftp internal-sftp\nPubkeyAuthentication yes\n\
             PermitRootLogin prohibit-password\n"
        );
        std::fs::write(dir.join("sshd_config"), config).unwrap();
        let log = std::fs::File::create(dir.join("sshd.log")).unwrap();
        lab.children.push(
            Command::new("ip")
                .args(["netns", "exec", &lab.ns])
                .arg(&sshd)
                .args(["-D", "-e", "-f"])
                .arg(dir.join("sshd_config"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
        lab
    }

    /// This side's address (a server the remote runner reaches listens here).
    pub fn host_ip(&self) -> String {
        format!("10.231.{}.1", self.net)
    }

    /// sshd's `host:port`.
    pub fn ssh_address(&self) -> String {
        format!("10.231.{}.2:2222", self.net)
    }

    /// Where magic packets go.
    pub fn broadcast(&self) -> String {
        format!("10.231.{}.255:9", self.net)
    }

    pub fn client_key(&self) -> PathBuf {
        self.dir.join("client_key")
    }

    pub fn sshd_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
    }

    /// `-o` options for a host whose key is new on every run.
    pub fn ssh_options() -> Vec<String> {
        vec!["StrictHostKeyChecking=no".into(), "UserKnownHostsFile=/dev/null".into(), "LogLevel=ERROR".into()]
    }

    /// A UDP listener on port 9 in the namespace that writes the first datagram it gets to
    /// `out` (and exits); returns once it is bound.
    pub fn wol_listener(&mut self, out: &Path) {
        let listener = "import socket,sys\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
                        s.setsockopt(socket.SOL_SOCKET,socket.SO_BROADCAST,1)\ns.bind(('',9))\n\
                        open(sys.argv[1]+'.ready','w').close()\nd=s.recv(1024)\n\
                        open(sys.argv[1]+'.tmp','wb').write(d)\nimport os\nos.rename(sys.argv[1]+'.tmp',sys.argv[1])\n";
        self.children.push(
            Command::new("ip")
                .args(["netns", "exec", &self.ns, "python3", "-c", listener])
                .arg(out)
                .stdin(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let ready = PathBuf::from(format!("{}.ready", out.display()));
        wait_until(20, "the UDP listener to bind", || ready.exists());
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        // Whatever still runs in the namespace was started by the test (a runner).
        if let Ok(pids) = run(&["ip", "netns", "pids", &self.ns]) {
            for pid in pids.split_whitespace() {
                let _ = run(&["kill", "-KILL", pid]);
            }
        }
        let _ = run(&["ip", "link", "del", &self.veth_host]);
        let _ = run(&["ip", "netns", "del", &self.ns]);
    }
}
