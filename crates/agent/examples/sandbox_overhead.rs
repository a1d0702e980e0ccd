//! What the job sandbox costs a job: the time to run `true` through the whole sandbox chain
//! (cgroup, setpriv, pasta, bubblewrap, prlimit) against running it directly, in the same run.
//! A sandboxed job pays it once for its fetch and once per step.
//!
//! `cargo run --release -p autogit-agent --example sandbox_overhead [-- N]` (root, or a delegated
//! cgroup; bubblewrap and passt installed). Prints medians and p90s in milliseconds.

use autogit_agent::sandbox::{JobDirs, Sandbox, SandboxConfig};
use std::time::{Duration, Instant};

fn percentile(mut v: Vec<Duration>, p: f64) -> f64 {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i].as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(50);
    let tmp = tempfile::tempdir()?;
    let cfg = SandboxConfig::default();
    let sandbox = Sandbox::probe(&cfg, &tmp.path().join("runtime"), "overhead", "http://127.0.0.1:9").await?;
    let project = tmp.path().join("builds/0/group/project");
    let dirs = JobDirs { project: project.clone(), tmp: project.with_extension("tmp"), rel: "group/project".into() };
    let job = sandbox.prepare(0, dirs, &[], Vec::new())?;
    let (mut plain, mut boxed) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        // Interleaved, so that load from elsewhere hits both alike.
        let t = Instant::now();
        let out = tokio::process::Command::new("bash").args(["-c", "true"]).current_dir(&project).output().await?;
        plain.push(t.elapsed());
        assert!(out.status.success());
        let t = Instant::now();
        let (mut cmd, input) = job.command(&["bash".into(), "-c".into(), "true".into()], &project, &[]);
        let out = autogit_agent::step::output_with_input(&mut cmd, input).await?;
        boxed.push(t.elapsed());
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let (p50, s50) = (percentile(plain.clone(), 0.5), percentile(boxed.clone(), 0.5));
    let (p90, s90) = (percentile(plain, 0.9), percentile(boxed, 0.9));
    println!("runs: {n}");
    println!("bash -c true, direct:    p50 {p50:.2} ms, p90 {p90:.2} ms");
    println!("bash -c true, sandboxed: p50 {s50:.2} ms, p90 {s90:.2} ms");
    println!("sandbox overhead per process: p50 +{:.2} ms ({:.1}x)", s50 - p50, s50 / p50);
    Ok(())
}
