//! The job sandbox on this host, for real: bubblewrap, pasta, cgroups and the kernel. Each test
//! runs a hostile or greedy job through the same command chain the shell executor uses and
//! checks what the kernel let it do. They need what CI's machine has (root, or a delegated
//! cgroup; bubblewrap, passt, a usable /dev/net/tun): where the host lacks it, the probe's error
//! fails the test with the reason.

use autogit_agent::sandbox::{JobDirs, JobSandbox, Sandbox, SandboxConfig};
use autogit_agent::step::{StepEnd, run_group};
use std::net::TcpListener;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

struct Lab {
    _tmp: tempfile::TempDir,
    /// Stands in for the server's data directory: private, holding the runner's builds.
    data: PathBuf,
    sandbox: Sandbox,
    server: TcpListener,
}

/// `name` keeps concurrent tests' cgroups apart, as a runner's system id does on a real host.
async fn lab(name: &str, cfg: SandboxConfig) -> Lab {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    std::fs::create_dir_all(data.join("runner")).expect("mkdir");
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    std::fs::write(data.join("autogit.db"), "password hashes").expect("write");
    std::fs::write(data.join("runner/runner.toml"), "token = \"glrt-secret\"").expect("write");
    let server = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://127.0.0.1:{}", server.local_addr().expect("addr").port());
    let sandbox =
        Sandbox::probe(&cfg, &data.join("runner/sandbox"), name, &url).await.unwrap_or_else(|e| panic!("{e}"));
    Lab { _tmp: tmp, data, sandbox, server }
}

impl Lab {
    fn job(&self, slot: usize, project_rel: &str) -> JobSandbox {
        let project = self.data.join("runner/builds").join(slot.to_string()).join(project_rel);
        let dirs = JobDirs { project: project.clone(), tmp: project.with_extension("tmp"), rel: project_rel.into() };
        self.sandbox.prepare(slot, dirs, &[], Vec::new()).expect("prepare")
    }

    fn project(&self, slot: usize, project: &str) -> PathBuf {
        self.data.join("runner/builds").join(slot.to_string()).join(project)
    }
}

/// Runs `script` in bash in `job`, in `dir`; returns how it ended and what it printed.
async fn run(job: &mut JobSandbox, dir: &Path, script: &str, env: &[(&str, &str)]) -> (StepEnd, String) {
    let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    job.step_started();
    let (cmd, input) = job.command(&["bash".into(), "-c".into(), script.into()], dir, &env);
    let (tx, mut rx) = mpsc::channel(1024);
    let disk = autogit_agent::step::DiskWatch { dir: dir.to_path_buf(), limit: job.disk_limit() };
    let end = run_group(cmd, Some(input), Duration::from_secs(60), &tx, &CancellationToken::new(), Some(disk)).await;
    job.end_step();
    drop(tx);
    let mut out = Vec::new();
    while let Some(chunk) = rx.recv().await {
        out.extend(chunk);
    }
    (end, String::from_utf8_lossy(&out).into_owned())
}

#[tokio::test]
async fn a_job_sees_nothing_of_the_runner_or_the_host() {
    let lab = lab("isolation", SandboxConfig::default()).await;
    let mut job = lab.job(0, "group/app");
    let dir = lab.project(0, "group/app");
    let data = lab.data.display().to_string();
    let script = format!(
        r#"
        set -u
        for f in {data} {data}/autogit.db {data}/runner/runner.toml /root /var/lib /run; do
            if ls "$f" >/dev/null 2>&1; then echo "LEAK $f"; fi
        done
        echo "PWD=$PWD"
        [ "$(ls /home)" = autogit ] || echo "LEAK /home"
        [ -e /proc/1/cmdline ] && grep -q bwrap /proc/1/cmdline && echo "OWN-PID-NAMESPACE"
        [ "$(ls /proc | grep -c '^[0-9]')" -lt 20 ] && echo "FEW-PROCESSES"
        env | grep -q '^CARGO' && echo "LEAK host environment"
        echo "ID $(id -u) $(id -un) HOME=$HOME"
        echo "SECRET=$JOB_SECRET"
        echo made > made.txt
        echo "WROTE $(cat made.txt)"
        "#
    );
    let (end, out) = run(&mut job, &dir, &script, &[("JOB_SECRET", "s3cr3t")]).await;
    assert_eq!(end, StepEnd::Exited(0), "{out}");
    assert!(!out.contains("LEAK"), "{out}");
    assert!(out.contains("OWN-PID-NAMESPACE") && out.contains("FEW-PROCESSES"), "{out}");
    assert!(out.contains("ID 1000 autogit HOME=/home/autogit"), "{out}");
    assert!(out.contains("PWD=/builds/group/app"), "no host path inside: {out}");
    assert!(out.contains("SECRET=s3cr3t") && out.contains("WROTE made"), "{out}");
    // Outside, the file belongs to the job's own identity, never to the runner.
    let owner = std::fs::metadata(dir.join("made.txt")).expect("made.txt").uid();
    if nix::unistd::geteuid().is_root() {
        assert_eq!(owner, SandboxConfig::default().uid_base, "slot 0's uid");
    } else {
        assert_eq!(owner, nix::unistd::geteuid().as_raw());
    }
}

#[tokio::test]
async fn the_network_reaches_the_server_port_and_no_other_loopback_service() {
    let lab = lab("network", SandboxConfig::default()).await;
    let other = TcpListener::bind("127.0.0.1:0").expect("bind");
    let server_port = lab.server.local_addr().expect("addr").port();
    let other_port = other.local_addr().expect("addr").port();
    let mut job = lab.job(0, "net");
    let script = format!(
        r#"
        if (exec 3<>/dev/tcp/127.0.0.1/{server_port}) 2>/dev/null; then echo SERVER-REACHED; fi
        if (exec 3<>/dev/tcp/127.0.0.1/{other_port}) 2>/dev/null; then echo LEAK-OTHER; fi
        if (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then echo LEAK-POSTGRES; fi
        if (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then echo LEAK-REDIS; fi
        grep -c nameserver /etc/resolv.conf
        "#
    );
    let (end, out) = run(&mut job, &lab.project(0, "net"), &script, &[]).await;
    assert_eq!(end, StepEnd::Exited(0), "{out}");
    assert!(out.contains("SERVER-REACHED"), "{out}");
    assert!(!out.contains("LEAK"), "{out}");
}

#[tokio::test]
async fn jobs_of_two_slots_cannot_see_each_other() {
    let lab = lab("slots", SandboxConfig::default()).await;
    let mut a = lab.job(0, "team/a");
    let _b = lab.job(1, "team/b");
    std::fs::write(lab.project(1, "team/b").join("secret.txt"), "b's").expect("write");
    let other = lab.project(1, "team/b");
    let sibling = lab.project(0, "team/a").with_file_name("c");
    std::fs::create_dir_all(&sibling).expect("mkdir");
    let script = format!(
        "cat {0}/secret.txt 2>/dev/null && echo LEAK-SLOT; ls {1} 2>/dev/null && echo LEAK-PROJECT; [ \"$(ls /builds/team)\" = a ] || echo LEAK-SIBLINGS; true",
        other.display(),
        sibling.display()
    );
    let (end, out) = run(&mut a, &lab.project(0, "team/a"), &script, &[]).await;
    assert_eq!(end, StepEnd::Exited(0), "{out}");
    assert!(!out.contains("LEAK"), "{out}");
}

#[tokio::test]
async fn limits_stop_a_fork_bomb_a_memory_hog_and_a_disk_filler() {
    let cfg = SandboxConfig { memory_mib: 64, max_processes: 32, disk_mib: 16, tmp_mib: 8, ..SandboxConfig::default() };
    let lab = lab("limits", cfg).await;
    let mut job = lab.job(0, "greedy");
    let dir = lab.project(0, "greedy");

    // dash stops at the first refused fork (bash would retry for seconds).
    let bomb = "sh -c 'i=0; while [ $i -lt 100 ]; do sleep 30 & i=$((i+1)); echo $i > count; done' 2>/dev/null; echo started=$(cat count)";
    let (end, out) = run(&mut job, &dir, bomb, &[]).await;
    assert_eq!(end, StepEnd::Exited(0), "{out}");
    let started: u32 = out.trim().rsplit('=').next().and_then(|n| n.trim().parse().ok()).unwrap_or(999);
    assert!(started < 32, "the process limit held: {out}");

    let (end, out) =
        run(&mut job, &dir, "head -c 300M /dev/zero | tail > /dev/null; echo hog=${PIPESTATUS[1]}", &[]).await;
    assert!(job.oom_killed(), "the memory limit killed the hog: {end:?} {out}");
    assert!(out.contains("hog=137"), "SIGKILL: {end:?} {out}");

    let (end, out) = run(&mut job, &dir, "dd if=/dev/zero of=big bs=1M count=64 2>/dev/null; echo dd=$?", &[]).await;
    assert!(out.contains("dd=153"), "SIGXFSZ: one file cannot pass the disk limit: {end:?} {out}");
    assert!(std::fs::metadata(dir.join("big")).map(|m| m.len()).unwrap_or(0) <= 16 << 20);
    std::fs::remove_file(dir.join("big")).ok();

    let (end, out) =
        run(&mut job, &dir, "for i in $(seq 30); do head -c 1M /dev/zero > f$i; done; sleep 20; echo done", &[]).await;
    assert!(matches!(&end, StepEnd::Limit(why) if why.contains("limit of 16 MiB")), "{end:?} {out}");

    let (end, out) = run(&mut job, &dir, "head -c 20M /dev/zero > /tmp/big && echo LEAK-TMP; true", &[]).await;
    assert_eq!(end, StepEnd::Exited(0), "{out}");
    assert!(!out.contains("LEAK"), "/tmp is size-capped: {out}");
}

#[tokio::test]
async fn nothing_a_step_started_survives_it() {
    let lab = lab("daemon", SandboxConfig::default()).await;
    let mut job = lab.job(0, "daemon");
    let marker = format!("autogit-daemon-{}", std::process::id());
    let script = format!("setsid sh -c 'exec -a {marker} sleep 300' & disown; echo started");
    let (end, out) = run(&mut job, &lab.project(0, "daemon"), &script, &[]).await;
    assert_eq!(end, StepEnd::Exited(0), "{out}");
    let alive = std::process::Command::new("pgrep").args(["-f", &marker]).output().expect("pgrep");
    assert!(alive.stdout.is_empty(), "a daemon outlived its step: {}", String::from_utf8_lossy(&alive.stdout));
}

#[tokio::test]
async fn hidden_paths_stay_hidden_below_read_only_ones() {
    // A toolchain directory the job may use, holding a key file and a configuration directory
    // that it must not read (as the server's configuration or key below /etc would).
    let shared = tempfile::tempdir().expect("tempdir");
    let tools = shared.path().join("tools");
    std::fs::create_dir_all(tools.join("conf")).expect("mkdir");
    std::fs::write(tools.join("tool.sh"), "echo tool-ran\n").expect("write");
    std::fs::write(tools.join("secrets.key"), "KEY-MATERIAL").expect("write");
    std::fs::write(tools.join("conf/server.toml"), "CONFIG-SECRET").expect("write");
    for (p, mode) in [(shared.path(), 0o755), (&tools, 0o755), (&tools.join("conf"), 0o755)] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }
    for f in ["tool.sh", "secrets.key", "conf/server.toml"] {
        std::fs::set_permissions(tools.join(f), std::fs::Permissions::from_mode(0o644)).expect("chmod");
    }
    let cfg = SandboxConfig {
        read_only_paths: vec![tools.clone()],
        hidden_paths: vec![tools.join("secrets.key"), tools.join("conf")],
        ..SandboxConfig::default()
    };
    let lab = lab("hidden", cfg).await;
    let mut job = lab.job(0, "uses-tools");
    let t = tools.display();
    let script = format!(
        "bash {t}/tool.sh; cat {t}/secrets.key {t}/conf/server.toml 2>&1; ls -A {t}/conf; echo written > {t}/new 2>/dev/null && echo LEAK-WRITE; true"
    );
    let (end, out) = run(&mut job, &lab.project(0, "uses-tools"), &script, &[]).await;
    assert_eq!(end, StepEnd::Exited(0), "{out}");
    assert!(out.contains("tool-ran"), "the read-only path is usable: {out}");
    assert!(!out.contains("KEY-MATERIAL") && !out.contains("CONFIG-SECRET") && !out.contains("LEAK"), "{out}");
}
