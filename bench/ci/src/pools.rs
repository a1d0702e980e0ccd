//! (e) queued → running from zero instances: an autoscaled pool (`[[ci.pools]]`, `min_idle = 0`,
//! `max_instances = 1`, `idle_time_seconds = 1`) with no instance when a one-job pipeline is
//! created through the API, timed to the job's `running` and `success` (job polled every 5 ms);
//! baseline in the same run: the same pool with `min_idle = 1`, its one instance idle and held in
//! a long poll. For the process provider, and for the docker provider when its base image
//! (`bench/runner-image.sh`) is on the local engine.
//!
//! The pool configuration reaches `autogit serve` through `AUTOGIT_CONFIG`, set by a small
//! wrapper script used as the server binary (the server `exec`s from it, so its pid, and the
//! binary the pool runs as instances, are those of the real `autogit`).

use super::{Knobs, ONE_JOB_CI, Stats, env_usize, ms, progress, project_with_ci, ratio_text, save_raw, stats};
use crate::server::Server;
use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

/// The docker pool's image, built by `bench/runner-image.sh`.
pub const DOCKER_IMAGE: &str = "autogit-bench/runner-base:1";
const POLL: Duration = Duration::from_millis(5);
/// Longer than an instance's minimum life after a job (10 s) plus `idle_time_seconds`.
const SETTLE: Duration = Duration::from_secs(90);

struct Knob {
    n: usize,
    warmup: usize,
    providers: Vec<String>,
    image: String,
}

fn knobs() -> Result<Knob> {
    let quick = std::env::var("BENCH_QUICK").is_ok_and(|v| v == "1");
    let n = env_usize("BENCH_CI_POOL_N", if quick { 5 } else { 20 })?;
    if n == 0 {
        bail!("BENCH_CI_POOL_N must be positive");
    }
    let providers = std::env::var("BENCH_CI_POOL_PROVIDERS")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "process,docker".into())
        .split(',')
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>();
    if let Some(p) = providers.iter().find(|p| !matches!(p.as_str(), "process" | "docker")) {
        bail!("BENCH_CI_POOL_PROVIDERS: {p:?} is not process or docker");
    }
    Ok(Knob {
        n,
        warmup: env_usize("BENCH_CI_POOL_WARMUP", 1)?,
        providers,
        image: std::env::var("BENCH_CI_POOL_IMAGE").ok().filter(|v| !v.is_empty()).unwrap_or(DOCKER_IMAGE.into()),
    })
}

/// The pool section of a configuration file.
fn pool_toml(provider: &str, min_idle: u32, image: &str) -> String {
    let mut t = format!(
        "[[ci.pools]]\nname = \"bench\"\nprovider = \"{provider}\"\nmin_idle = {min_idle}\nmax_instances = 1\n\
         idle_time_seconds = 1\n"
    );
    if provider == "docker" {
        let _ = writeln!(t, "docker_image = \"{image}\"");
    }
    t
}

/// A server whose configuration holds one pool; the returned directory holds the configuration
/// and the wrapper and must outlive the server.
async fn start(k: &Knobs, toml: &str) -> Result<(Server, tempfile::TempDir)> {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::Builder::new().prefix("pool-").tempdir_in(&k.work).context("temp dir")?;
    let cfg = dir.path().join("autogit.toml");
    std::fs::write(&cfg, toml)?;
    let bin = std::fs::canonicalize(&k.bin).with_context(|| format!("{}", k.bin.display()))?;
    let wrapper = dir.path().join("autogit");
    let quote = |p: &Path| autogit_protocol::shell::quote(&p.display().to_string());
    std::fs::write(
        &wrapper,
        format!("#!/bin/sh\nAUTOGIT_CONFIG={} exec {} \"$@\"\n", quote(&std::fs::canonicalize(&cfg)?), quote(&bin)),
    )?;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755))?;
    let s = Server::start(&wrapper, &k.work, 0).await?;
    Ok((s, dir))
}

/// The pool's instances as `(count, states, scale_ups, scale_downs)`.
async fn instances(s: &Server) -> Result<(usize, Vec<String>, u64, u64)> {
    let p = s.get("/admin/ci/pools").await?;
    let list = p[0]["instances"].as_array().cloned().unwrap_or_default();
    Ok((
        list.len(),
        list.iter().map(|i| i["state"].as_str().unwrap_or("?").to_string()).collect(),
        p[0]["scale_ups"].as_u64().unwrap_or(0),
        p[0]["scale_downs"].as_u64().unwrap_or(0),
    ))
}

/// Stops the server with SIGTERM, so that it removes its idle instances (a SIGKILL would leave
/// them running), and waits up to 30 s for it to exit.
async fn stop(s: Server) -> Result<()> {
    let _ = std::process::Command::new("kill").args(["-TERM", &s.pid.to_string()]).status();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", s.pid)).unwrap_or_default();
        let state = stat.rsplit_once(')').and_then(|(_, r)| r.split_whitespace().next()).unwrap_or("X");
        if matches!(state, "Z" | "X") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    s.stop().await
}

/// Polls every 20 ms until the pool has `want` instances, all `running`, nothing is queued and,
/// with `held`, `/metrics` shows that many held job requests. (From zero the held-requests gauge
/// is not checked: the long poll of a removed instance stays counted until it times out.)
async fn wait_pool(s: &Server, want: usize, held: Option<i64>) -> Result<()> {
    let start = Instant::now();
    loop {
        let (n, states, ups, downs) = instances(s).await?;
        let (queued, waiting) = s.gauges().await?;
        // From zero: every instance started so far has been removed again.
        let drained = held.is_some() || downs >= ups;
        if n == want
            && drained
            && states.iter().all(|st| st == "running")
            && queued == 0
            && held.is_none_or(|h| h == waiting)
        {
            return Ok(());
        }
        if start.elapsed() > SETTLE {
            bail!(
                "pool: want {want} instances and {held:?} held requests; have {states:?}, gauges {:?}",
                s.gauges().await?
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One sample: API call start → `running` and → `success`, and whether `running` was seen by a
/// poll (not skipped over).
struct Sample {
    running: f64,
    success: f64,
    seen_running: bool,
}

async fn one(s: &Server, project: i64) -> Result<Sample> {
    let t0 = Instant::now();
    let v = s.post(&format!("/projects/{project}/pipeline"), &[("ref", "main")]).await?;
    let pid = v["id"].as_i64().ok_or_else(|| anyhow!("no pipeline id in {v}"))?;
    let jobs = s.get(&format!("/projects/{project}/pipelines/{pid}/jobs")).await?;
    let jid = jobs[0]["id"].as_i64().ok_or_else(|| anyhow!("no job in pipeline {pid}: {jobs}"))?;
    let path = format!("/projects/{project}/jobs/{jid}");
    let mut running = None;
    let mut seen_running = false;
    loop {
        let j: Value = s.get(&path).await?;
        let now = Instant::now();
        match j["status"].as_str().unwrap_or("") {
            "running" if running.is_none() => {
                running = Some(now);
                seen_running = true;
            }
            "success" => {
                let r = running.unwrap_or(now);
                return Ok(Sample { running: ms(r - t0), success: ms(now - t0), seen_running });
            }
            st @ ("failed" | "canceled" | "skipped") => bail!("job {jid} ended {st}: {j}"),
            _ => {}
        }
        if t0.elapsed() > SETTLE {
            bail!("job {jid} still {} after {SETTLE:?}", j["status"]);
        }
        tokio::time::sleep(POLL).await;
    }
}

struct Series {
    running: Vec<f64>,
    success: Vec<f64>,
    skipped_running: usize,
    scale_ups: u64,
}

/// `n` samples (after `warmup`) with the pool at zero instances (`cold`) or one idle instance.
async fn series(k: &Knobs, kn: &Knob, provider: &str, cold: bool) -> Result<Series> {
    let label = if cold { "from zero" } else { "warm instance" };
    progress(&format!("(e) {provider} pool, {label}: {} samples", kn.n));
    let (s, _dir) = start(k, &pool_toml(provider, if cold { 0 } else { 1 }, &kn.image)).await?;
    let name = format!("pool-{provider}-{}", if cold { "cold" } else { "warm" });
    let (project, _work) = project_with_ci(&s, &name, ONE_JOB_CI).await?;
    // The pipeline of the set-up push runs first (and starts the pool's first instance).
    let start = Instant::now();
    loop {
        let list = s.get(&format!("/projects/{project}/pipelines?per_page=1")).await?;
        match list[0]["status"].as_str() {
            Some("success") => break,
            Some(st @ ("failed" | "canceled")) => {
                bail!("set-up pipeline {st}: see {} and its server.log", s.dir.path().display())
            }
            _ if start.elapsed() > SETTLE => bail!("set-up pipeline not done: {list}"),
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    let mut out = Series { running: Vec::new(), success: Vec::new(), skipped_running: 0, scale_ups: 0 };
    let before = s.get("/admin/ci/pools").await?[0]["scale_ups"].as_u64().unwrap_or(0);
    for i in 0..kn.warmup + kn.n {
        if cold {
            wait_pool(&s, 0, None).await?;
        } else {
            wait_pool(&s, 1, Some(1)).await?;
        }
        if cold {
            progress(&format!("(e) {provider} from zero: sample {}", i + 1));
        }
        let x = one(&s, project).await.with_context(|| format!("server data in {}", s.dir.path().display()))?;
        if i < kn.warmup {
            continue;
        }
        out.running.push(x.running);
        out.success.push(x.success);
        out.skipped_running += usize::from(!x.seen_running);
    }
    let after = s.get("/admin/ci/pools").await?[0]["scale_ups"].as_u64().unwrap_or(0);
    out.scale_ups = after - before;
    stop(s).await?;
    Ok(out)
}

fn docker_image_present(image: &str) -> std::result::Result<(), String> {
    match std::process::Command::new("docker").args(["image", "inspect", "--format", "{{.Id}}", image]).output() {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(format!("`docker image inspect {image}` failed: {}", String::from_utf8_lossy(&o.stderr).trim())),
        Err(e) => Err(format!("no docker CLI: {e}")),
    }
}

fn cells(s: &Stats) -> String {
    format!("{} | {:.0} | {:.0} | {:.0} | {:.0}", s.n, s.p50, s.p99, s.min, s.max)
}

pub async fn bench_pools(k: &Knobs, out: &mut String) -> Result<()> {
    let kn = knobs()?;
    let mut rows = String::new();
    let mut notes = Vec::new();
    let mut raw = Vec::new();
    for provider in &kn.providers {
        if provider == "docker"
            && let Err(why) = docker_image_present(&kn.image)
        {
            progress(&format!("(e) docker pool skipped: {why}"));
            notes.push(format!("Docker provider not measured: {why} (build it with `bench/runner-image.sh`)."));
            continue;
        }
        let cold = series(k, &kn, provider, true).await?;
        let warm = series(k, &kn, provider, false).await?;
        let target = if provider == "docker" { 3000.0 } else { 1000.0 };
        for (what, c, w) in
            [("→ `running`", &cold.running, &warm.running), ("→ `success`", &cold.success, &warm.success)]
        {
            let (cs, ws) = (stats(c), stats(w));
            let _ = writeln!(
                rows,
                "| {provider} | API call {what} | {} | {} | {} | {} |",
                cells(&cs),
                cells(&ws),
                ratio_text(cs.p50 / ws.p50),
                ratio_text(cs.p99 / ws.p99)
            );
        }
        let c = stats(&cold.running);
        notes.push(format!(
            "{provider}: from zero, `running` p50 {:.0} ms / p99 {:.0} ms against the target {:.0} s ({}); {} \
             instance starts in {} cold samples (incl. warm-up); `running` fell between two polls in {} cold and \
             {} warm samples (then counted at `success`).",
            c.p50,
            c.p99,
            target / 1000.0,
            if c.p99 < target {
                "met at p99"
            } else if c.p50 < target {
                "met at p50 only"
            } else {
                "missed"
            },
            cold.scale_ups,
            kn.n + kn.warmup,
            cold.skipped_running,
            warm.skipped_running
        ));
        for (kind, sr) in [("cold", &cold), ("warm", &warm)] {
            for (r, s) in sr.running.iter().zip(&sr.success) {
                raw.push(format!("{provider},{kind},{r:.3},{s:.3}"));
            }
        }
    }
    save_raw(k, "pools.csv", "provider,kind,running_ms,success_ms", &raw)?;
    let _ = writeln!(out, "### (e) Queued → running from zero instances (autoscaled pool)\n");
    let _ = writeln!(
        out,
        "`autogit serve` with the built-in runner off and one pool (`[[ci.pools]]`: `max_instances = 1`, \
         `idle_time_seconds = 1`, `capacity_per_instance = 1`). **From zero**: `min_idle = 0`; before each sample \
         the pool has no instance (`GET /api/v4/admin/ci/pools`) and nothing is queued. **Warm** (baseline, same \
         run, a fresh server): `min_idle = 1`, its one instance idle and held in `jobs/request` (`/metrics`). \
         Each sample creates a one-job pipeline (`script: true`, shell executor) with \
         `POST /api/v4/projects/:id/pipeline` and polls `GET /projects/:id/jobs/:id` every 5 ms: times from \
         just before the `POST` to the first poll that shows `running`, and to `success`. {} samples per row \
         after {} warm-up (with n < 100, p99 is the maximum). Times in ms; ratios = from zero ÷ warm.\n",
        kn.n, kn.warmup
    );
    let _ = writeln!(
        out,
        "| provider | measure | from zero: n | p50 | p99 | min | max | warm: n | p50 | p99 | min | max | p50 ÷ warm | p99 ÷ warm |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    out.push_str(&rows);
    out.push('\n');
    for n in notes {
        let _ = writeln!(out, "- {n}");
    }
    out.push('\n');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_config_names_the_image_only_for_docker() {
        let t = pool_toml("process", 0, DOCKER_IMAGE);
        assert!(t.contains("min_idle = 0") && t.contains("idle_time_seconds = 1") && !t.contains("docker_image"));
        assert!(pool_toml("docker", 1, DOCKER_IMAGE).contains("docker_image = \"autogit-bench/runner-base:1\""));
    }
}
