//! CI coordinator benchmarks against a real `autogit serve` process (SQLite, loopback), driven
//! over HTTP by simulated runners:
//!
//! - (a) enqueue → handed to a waiting runner: pipelines created through the API one at a time,
//!   K runners held in `jobs/request`;
//! - (b) `git push` → first job running: a simulated runner in a long poll, and the built-in
//!   shell runner (job status polled every 5 ms);
//! - (c) dispatch throughput: 10,000 queued jobs drained by 100 simulated runners
//!   (`jobs/request` → `PUT /jobs/:id`), against the same runners doing `POST /runners/verify`;
//! - (d) server RSS with 100 runners holding a long poll, against the idle server;
//! - (e) queued → running from zero instances: an autoscaled pool (process provider, and docker
//!   when its base image is built) scaling up for a pipeline created through the API, against
//!   the same pool with one warm instance.
//!
//! Latency anchor for (a) and (b): GitLab Runner's documented default `check_interval` of 3 s.
//! It is not measured here. Prints a Markdown section for BENCHMARKS.md on stdout; progress
//! goes to stderr. See bench/README.md.

mod pools;
mod runner;
mod server;

use anyhow::{Context, Result, anyhow, bail};
use runner::{Got, Runner};
use server::{Server, Work};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// GitLab Runner's default `check_interval`: pickup by an idle runner without long polling is
/// uniform over 0–3 s, so mean 1.5 s and 99th percentile 2.97 s.
const ANCHOR_P50: f64 = 1500.0;
const ANCHOR_P99: f64 = 2970.0;

const ONE_JOB_CI: &str = "bench:\n  script:\n    - \"true\"\n";

struct Knobs {
    bin: PathBuf,
    build: String,
    work: PathBuf,
    pickup_runners: usize,
    pickup_n: usize,
    push_n: usize,
    warmup: usize,
    jobs: usize,
    jobs_per_pipeline: usize,
    runners: usize,
    /// Pipeline sizes of the sensitivity rows of (c), each with `scaling_jobs` jobs.
    scaling: Vec<usize>,
    scaling_jobs: usize,
    idle_wait: Duration,
    raw_dir: Option<PathBuf>,
}

fn env_usize(name: &str, default: usize) -> Result<usize> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v.parse().with_context(|| format!("{name}={v} is not a number")),
        _ => Ok(default),
    }
}

impl Knobs {
    fn from_env() -> Result<Knobs> {
        let quick = std::env::var("BENCH_QUICK").is_ok_and(|v| v == "1");
        let bin = PathBuf::from(std::env::var("AUTOGIT_BIN").unwrap_or_else(|_| "target/release/autogit".into()));
        let build = std::env::var("AUTOGIT_BUILD").ok().filter(|b| !b.is_empty()).unwrap_or_else(|| {
            let p = bin.to_string_lossy();
            if p.contains("/release/") || p.starts_with("release/") {
                "release".into()
            } else if p.contains("/debug/") || p.starts_with("debug/") {
                "debug".into()
            } else {
                "unknown (set AUTOGIT_BUILD)".into()
            }
        });
        let work = PathBuf::from(std::env::var("BENCH_TMPDIR").unwrap_or_else(|_| "bench/work".into()));
        let k = Knobs {
            bin,
            build,
            work,
            pickup_runners: env_usize("BENCH_CI_PICKUP_RUNNERS", 4)?,
            pickup_n: env_usize("BENCH_CI_PICKUP_N", if quick { 50 } else { 200 })?,
            push_n: env_usize("BENCH_CI_PUSH_N", if quick { 10 } else { 30 })?,
            warmup: env_usize("BENCH_CI_WARMUP", 5)?,
            jobs: env_usize("BENCH_CI_JOBS", if quick { 1000 } else { 10_000 })?,
            jobs_per_pipeline: env_usize("BENCH_CI_JOBS_PER_PIPELINE", 500)?,
            runners: env_usize("BENCH_CI_RUNNERS", 100)?,
            scaling: match std::env::var("BENCH_CI_SCALING") {
                Ok(v) => v
                    .split(',')
                    .filter(|p| !p.trim().is_empty())
                    .map(|p| p.trim().parse().with_context(|| format!("BENCH_CI_SCALING: {p}")))
                    .collect::<Result<_>>()?,
                Err(_) if quick => Vec::new(),
                Err(_) => vec![10, 100, 500, 1000],
            },
            scaling_jobs: env_usize("BENCH_CI_SCALING_JOBS", 1000)?,
            idle_wait: Duration::from_secs(env_usize("BENCH_IDLE_WAIT", 3)? as u64),
            raw_dir: std::env::var("BENCH_CI_RAW_DIR").ok().filter(|d| !d.is_empty()).map(PathBuf::from),
        };
        if k.jobs_per_pipeline == 0 || k.jobs_per_pipeline > 2000 || !k.jobs.is_multiple_of(k.jobs_per_pipeline) {
            bail!("BENCH_CI_JOBS_PER_PIPELINE must divide BENCH_CI_JOBS and be at most 2000 (MAX_JOBS)");
        }
        if k.scaling.iter().any(|&n| n == 0 || n > 2000 || !k.scaling_jobs.is_multiple_of(n)) {
            bail!("each BENCH_CI_SCALING size must divide BENCH_CI_SCALING_JOBS and be at most 2000");
        }
        if k.pickup_runners == 0 || k.runners == 0 {
            bail!("runner counts must be positive");
        }
        Ok(k)
    }
}

/// Percentiles of a sample in milliseconds (nearest rank).
struct Stats {
    n: usize,
    p50: f64,
    p99: f64,
    min: f64,
    max: f64,
}

fn stats(v: &[f64]) -> Stats {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let rank = |q: f64| {
        let i = ((q * s.len() as f64).ceil() as usize).clamp(1, s.len().max(1)) - 1;
        s.get(i).copied().unwrap_or(f64::NAN)
    };
    Stats {
        n: s.len(),
        p50: rank(0.50),
        p99: rank(0.99),
        min: s.first().copied().unwrap_or(f64::NAN),
        max: s.last().copied().unwrap_or(f64::NAN),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Signed `b - a` in ms.
fn signed_ms(a: Instant, b: Instant) -> f64 {
    if b >= a { ms(b - a) } else { -ms(a - b) }
}

/// A table row: n, p50, p99, min, max (ms) and, for latencies with an anchor, the ratios.
fn row(what: &str, s: &Stats, anchor: bool) -> String {
    let ratio = if anchor {
        format!(" | {} | {}", ratio_text(s.p50 / ANCHOR_P50), ratio_text(s.p99 / ANCHOR_P99))
    } else {
        " | — | —".to_string()
    };
    format!("| {what} | {} | {:.2} | {:.2} | {:.2} | {:.2}{ratio} |\n", s.n, s.p50, s.p99, s.min, s.max)
}

const LATENCY_HEADER: &str =
    "| measure | n | p50 | p99 | min | max | p50 ÷ 1.5 s | p99 ÷ 2.97 s |\n|---|---:|---:|---:|---:|---:|---:|---:|\n";

/// A small ratio with enough digits to be read (0.0031×, 0.21×, 1.04×).
fn ratio_text(r: f64) -> String {
    if r < 0.01 {
        format!("{r:.4}×")
    } else if r < 0.1 {
        format!("{r:.3}×")
    } else {
        format!("{r:.2}×")
    }
}

fn save_raw(k: &Knobs, name: &str, header: &str, rows: &[String]) -> Result<()> {
    if let Some(dir) = &k.raw_dir {
        std::fs::create_dir_all(dir)?;
        let mut text = format!("{header}\n");
        for r in rows {
            text.push_str(r);
            text.push('\n');
        }
        std::fs::write(dir.join(name), text)?;
    }
    Ok(())
}

fn progress(msg: &str) {
    eprintln!("[bench-ci] {msg}");
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, m)| m.trim().to_string()))
        .unwrap_or_else(|| "unknown CPU".into());
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next().and_then(|n| n.parse::<f64>().ok()))
        })
        .map(|kib| format!("{:.0} GiB RAM", kib / 1024.0 / 1024.0))
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cpus} CPUs ({model}), {mem}, Linux {}", kernel.trim())
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn clock_ticks() -> u64 {
    static HZ: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *HZ.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100)
    })
}

fn self_cpu_ticks() -> u64 {
    server::proc_cpu_ticks("/proc/self/stat").unwrap_or(0)
}

/// A project `root/<name>` whose `main` holds `ci` as `.gitlab-ci.yml` (pushed once; that push
/// creates a first pipeline).
async fn project_with_ci(s: &Server, name: &str, ci: &str) -> Result<(i64, Work)> {
    let id = s.create_project(name).await?;
    let work = Work::new(s.dir.path(), &format!("work-{name}"))?;
    work.write(".gitlab-ci.yml", ci)?;
    work.write("README.md", "benchmark\n")?;
    work.git(&["add", "-A"])?;
    work.git(&["commit", "-q", "-m", "CI"])?;
    work.push(&s.git_url(name)).await?;
    Ok((id, work))
}

/// A job handed to a simulated runner: its pipeline and when the `201` arrived. Sent after the
/// runner has reported the job successful, so the next sample starts with the job done.
struct Pickup {
    pipeline: i64,
    at: Instant,
}

/// K simulated runners that hold `jobs/request`, report every job successful at once and
/// re-request. Stops when `stop` flips.
fn spawn_pickup_runners(runners: Vec<Runner>, tx: mpsc::UnboundedSender<Pickup>, stop: watch::Receiver<bool>) {
    for r in runners {
        let tx = tx.clone();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            loop {
                let got = tokio::select! {
                    g = r.request_job() => g,
                    _ = stop.changed() => return,
                };
                match got {
                    Ok(Got::Job(job, at)) => {
                        if let Err(e) = r.succeed(&job).await {
                            progress(&format!("PUT failed: {e:#}"));
                        }
                        if tx.send(Pickup { pipeline: job.job_info.pipeline_id, at }).is_err() {
                            return;
                        }
                    }
                    Ok(Got::NoJob) => {}
                    Err(e) => {
                        progress(&format!("jobs/request failed: {e:#}"));
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
    }
}

async fn runners(s: &Server, n: usize, prefix: &str) -> Result<Vec<Runner>> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let token = s.create_runner(&format!("{prefix}-{i}")).await?;
        out.push(Runner::new(server::client()?, s.api(""), token, &format!("{prefix}-{i}")));
    }
    Ok(out)
}

async fn recv_pickup(rx: &mut mpsc::UnboundedReceiver<Pickup>) -> Result<Pickup> {
    tokio::time::timeout(Duration::from_secs(60), rx.recv())
        .await
        .context("no job reached a runner within 60 s")?
        .ok_or_else(|| anyhow!("runners stopped"))
}

const SETTLE: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------
// (a) enqueue → handed to a waiting runner

async fn bench_pickup(k: &Knobs, out: &mut String) -> Result<()> {
    progress("(a) enqueue → waiting runner");
    let s = Server::start(&k.bin, &k.work, 0).await?;
    let (project, _work) = project_with_ci(&s, "pickup", ONE_JOB_CI).await?;
    let rs = runners(&s, k.pickup_runners, "pickup").await?;
    let floor_runner = Runner::new(server::client()?, s.api(""), rs[0].token.clone(), "floor");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = watch::channel(false);
    spawn_pickup_runners(rs, tx, stop_rx);
    // The pipeline of the set-up push goes first.
    recv_pickup(&mut rx).await?;

    let mut total = Vec::new();
    let mut post = Vec::new();
    let mut after_post = Vec::new();
    let mut before_response = 0;
    let mut raw = Vec::new();
    let path = format!("/projects/{project}/pipeline");
    let (mut own_ticks, mut git_ticks) = (0, 0);
    for i in 0..k.warmup + k.pickup_n {
        s.wait_gauges(0, k.pickup_runners as i64, SETTLE).await?;
        let mark = Mark::now(&s)?;
        let t0 = Instant::now();
        let v = s.post(&path, &[("ref", "main")]).await?;
        let t1 = Instant::now();
        let p = recv_pickup(&mut rx).await?;
        let pid = v["id"].as_i64().unwrap_or(-1);
        if p.pipeline != pid {
            bail!("runner got a job of pipeline {}, expected {pid}", p.pipeline);
        }
        if i < k.warmup {
            continue;
        }
        let cpu = mark.run(&s, 1)?;
        own_ticks += cpu.server_ticks;
        git_ticks += cpu.child_ticks;
        total.push(signed_ms(t0, p.at));
        post.push(ms(t1 - t0));
        after_post.push(signed_ms(t1, p.at));
        if p.at < t1 {
            before_response += 1;
        }
        raw.push(format!("{:.3},{:.3},{:.3}", signed_ms(t0, p.at), ms(t1 - t0), signed_ms(t1, p.at)));
    }
    save_raw(k, "pickup.csv", "total_ms,post_ms,after_post_ms", &raw)?;

    // Floor in the same run: the same kind of client doing an authenticated round trip.
    let mut floor = Vec::new();
    for _ in 0..k.pickup_n {
        let t0 = Instant::now();
        floor_runner.verify().await?;
        floor.push(ms(t0.elapsed()));
    }
    let _ = stop_tx.send(true);
    s.stop().await?;

    let t = stats(&total);
    let _ = writeln!(out, "### (a) Enqueue → job handed to a waiting runner\n");
    let _ = writeln!(
        out,
        "{} simulated runners each hold a `POST /api/v4/jobs/request`; the tool creates a one-job pipeline with \
         `POST /api/v4/projects/:id/pipeline` (`ref=main`), one at a time, and waits for the `201` of the runner \
         that gets the job (the runner then reports the job successful and asks again). Before each sample \
         `/metrics` must show all {} requests held and nothing queued. {} samples after {} warm-ups. Times in ms.\n",
        k.pickup_runners, k.pickup_runners, k.pickup_n, k.warmup
    );
    out.push_str(LATENCY_HEADER);
    out.push_str(&row("**API call start → `201` to the runner** (upper bound, includes pipeline creation)", &t, true));
    out.push_str(&row("pipeline `POST` round trip (creation, enqueue, response)", &stats(&post), false));
    out.push_str(&row("pipeline `POST` response → `201` (negative: `201` came first)", &stats(&after_post), false));
    out.push_str(&row("floor: `POST /runners/verify` round trip, same client", &stats(&floor), false));
    let _ = writeln!(
        out,
        "\nThe `201` reached the runner before the pipeline `POST` returned in {before_response} of {} samples. \
         Server CPU per sample (pipeline creation, hand-off and the runner's `PUT`): {:.1} ms of its own and \
         {:.1} ms in the `git` processes it spawned.\n",
        k.pickup_n,
        cpu_ms(own_ticks, k.pickup_n),
        cpu_ms(git_ticks, k.pickup_n)
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// (b) git push → first job running

/// Table rows and a note.
struct Part {
    rows: String,
    notes: String,
}

async fn bench_push_sim(k: &Knobs) -> Result<Part> {
    progress("(b) git push → simulated runner");
    let s = Server::start(&k.bin, &k.work, 0).await?;
    let (_project, work) = project_with_ci(&s, "push", ONE_JOB_CI).await?;
    let url = s.git_url("push");
    let rs = runners(&s, 1, "push").await?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = watch::channel(false);
    spawn_pickup_runners(rs, tx, stop_rx);
    recv_pickup(&mut rx).await?;

    let mut total = Vec::new();
    let mut push_wall = Vec::new();
    let mut raw = Vec::new();
    let mut before_exit = 0;
    let (mut own_ticks, mut git_ticks) = (0, 0);
    for i in 0..k.warmup + k.push_n {
        work.write("n.txt", &format!("{i}\n"))?;
        work.git(&["add", "n.txt"])?;
        work.git(&["commit", "-q", "-m", &format!("change {i}")])?;
        s.wait_gauges(0, 1, SETTLE).await?;
        let mark = Mark::now(&s)?;
        let mut cmd = work.std_git();
        cmd.args(["push", "-q", &url, "main"]);
        let t0 = Instant::now();
        let push = async {
            let o = tokio::process::Command::from(cmd).output().await;
            (o, Instant::now())
        };
        let ((o, t1), p) = tokio::join!(push, recv_pickup(&mut rx));
        let o = o?;
        if !o.status.success() {
            bail!("git push: {}", String::from_utf8_lossy(&o.stderr));
        }
        let p = p?;
        if i < k.warmup {
            continue;
        }
        let cpu = mark.run(&s, 1)?;
        own_ticks += cpu.server_ticks;
        git_ticks += cpu.child_ticks;
        total.push(signed_ms(t0, p.at));
        push_wall.push(ms(t1 - t0));
        if p.at < t1 {
            before_exit += 1;
        }
        raw.push(format!("{:.3},{:.3}", signed_ms(t0, p.at), ms(t1 - t0)));
    }
    save_raw(k, "push_sim.csv", "push_to_201_ms,push_wall_ms", &raw)?;
    let _ = stop_tx.send(true);
    s.stop().await?;

    let rows = row("**push start → `201` to a simulated runner** held in `jobs/request`", &stats(&total), true)
        + &row("`git push` wall time (same pushes; process start → exit)", &stats(&push_wall), false);
    let notes = format!(
        "The `201` came before `git push` exited in {before_exit} of {} samples. Server CPU per push (receive-pack, \
         pipeline creation, hand-off, the runner's `PUT`): {:.1} ms of its own and {:.1} ms in the `git` processes \
         it spawned (including `git receive-pack`).",
        k.push_n,
        cpu_ms(own_ticks, k.push_n),
        cpu_ms(git_ticks, k.push_n)
    );
    Ok(Part { rows, notes })
}

async fn bench_push_builtin(k: &Knobs) -> Result<Part> {
    progress("(b) git push → built-in runner");
    let s = Server::start(&k.bin, &k.work, 1).await?;
    let (project, work) = project_with_ci(&s, "builtin", ONE_JOB_CI).await?;
    let url = s.git_url("builtin");
    let jobs_path = format!("/projects/{project}/jobs?per_page=1");
    let newest = |v: serde_json::Value| -> (i64, String) {
        let j = &v[0];
        (j["id"].as_i64().unwrap_or(0), j["status"].as_str().unwrap_or("").to_string())
    };
    let mut total = Vec::new();
    let mut push_wall = Vec::new();
    let mut polls = Vec::new();
    let mut raw = Vec::new();
    for i in 0..k.warmup + k.push_n {
        // The previous job must be over and the runner back in its long poll.
        let start = Instant::now();
        let last_id = loop {
            let (id, status) = newest(s.get(&jobs_path).await?);
            if id > 0 && matches!(status.as_str(), "success" | "failed" | "canceled") {
                if status != "success" {
                    bail!("built-in runner job {id} ended {status}");
                }
                break id;
            }
            if start.elapsed() > SETTLE {
                bail!("job {id} still {status}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        work.write("n.txt", &format!("{i}\n"))?;
        work.git(&["add", "n.txt"])?;
        work.git(&["commit", "-q", "-m", &format!("change {i}")])?;
        s.wait_gauges(0, 1, SETTLE).await?;
        let mut cmd = work.std_git();
        cmd.args(["push", "-q", &url, "main"]);
        let t0 = Instant::now();
        let push = async {
            let o = tokio::process::Command::from(cmd).output().await;
            (o, Instant::now())
        };
        let watch = async {
            let mut tick = tokio::time::interval(Duration::from_millis(5));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut n = 0usize;
            loop {
                tick.tick().await;
                n += 1;
                let (id, status) = newest(s.get(&jobs_path).await?);
                if id > last_id && matches!(status.as_str(), "running" | "success" | "failed") {
                    return Ok::<_, anyhow::Error>((Instant::now(), n));
                }
                if t0.elapsed() > SETTLE {
                    bail!("no running job {SETTLE:?} after the push (newest {id} {status})");
                }
            }
        };
        let ((o, t1), seen) = tokio::join!(push, watch);
        let o = o?;
        if !o.status.success() {
            bail!("git push: {}", String::from_utf8_lossy(&o.stderr));
        }
        let (seen, n) = seen?;
        if i < k.warmup {
            continue;
        }
        total.push(ms(seen - t0));
        push_wall.push(ms(t1 - t0));
        polls.push(n as f64);
        raw.push(format!("{:.3},{:.3},{n}", ms(seen - t0), ms(t1 - t0)));
    }
    save_raw(k, "push_builtin.csv", "push_to_running_seen_ms,push_wall_ms,polls", &raw)?;
    s.stop().await?;
    let rows = row(
        "**push start → job `running` seen**, built-in shell runner (`AUTOGIT_CI_BUILTIN_RUNNER_CONCURRENT=1`), \
         `GET /projects/:id/jobs?per_page=1` every 5 ms",
        &stats(&total),
        true,
    ) + &row("`git push` wall time (built-in runner server)", &stats(&push_wall), false);
    let p = stats(&polls);
    let notes = format!(
        "Built-in runner rows: a separate server with the built-in runner on; the status is read by polling \
         (5 ms period, {:.0}–{:.0} polls per sample, median {:.0}), so they carry up to one period plus one API \
         round trip of observation delay. Before each push the previous job has succeeded and the built-in \
         runner's request is held again.",
        p.min, p.max, p.p50
    );
    Ok(Part { rows, notes })
}

// ---------------------------------------------------------------------------------------------
// (c) dispatch throughput

/// `jobs` jobs in one file: entries of `parallel: 100` (GitLab's `parallel` range is 2–200), so
/// the pipeline stays within `MAX_JOBS` (2,000).
fn many_jobs_ci(jobs: usize) -> String {
    let mut ci = String::new();
    let mut left = jobs;
    let mut i = 0;
    while left > 0 {
        let n = left.min(100);
        let _ = write!(ci, "job{i}:\n  script:\n    - \"true\"\n");
        if n >= 2 {
            let _ = writeln!(ci, "  parallel: {n}");
            left -= n;
        } else {
            left -= 1;
        }
        i += 1;
    }
    ci
}

struct Run {
    wall: Duration,
    /// utime + stime of the server process.
    server_ticks: u64,
    /// CPU of the `git` processes the server spawned and reaped meanwhile.
    child_ticks: u64,
    client_ticks: u64,
    ops: usize,
}

/// CPU counters at the start of a run.
struct Mark {
    server: u64,
    child: u64,
    client: u64,
    at: Instant,
}

impl Mark {
    fn now(s: &Server) -> Result<Mark> {
        Ok(Mark {
            server: s.cpu_ticks()?,
            child: s.children_cpu_ticks()?,
            client: self_cpu_ticks(),
            at: Instant::now(),
        })
    }

    fn run(&self, s: &Server, ops: usize) -> Result<Run> {
        Ok(Run {
            wall: self.at.elapsed(),
            server_ticks: s.cpu_ticks()? - self.server,
            child_ticks: s.children_cpu_ticks()? - self.child,
            client_ticks: self_cpu_ticks() - self.client,
            ops,
        })
    }
}

struct Dispatch {
    jobs: usize,
    per_pipeline: usize,
    create_wall: Duration,
    create: Run,
    base: Run,
    run: Run,
    request_ms: Vec<f64>,
    put_ms: Vec<f64>,
    not_done: usize,
    rss_kib: u64,
    hwm_kib: u64,
}

/// Queues `jobs` jobs in pipelines of `per_pipeline`, then times the verify baseline and the
/// dispatch with `k.runners` runners, on a fresh server.
async fn dispatch_once(k: &Knobs, jobs: usize, per_pipeline: usize) -> Result<Dispatch> {
    let s = Server::start(&k.bin, &k.work, 0).await?;
    let pipelines = jobs / per_pipeline;
    let ci = many_jobs_ci(per_pipeline);
    let mark = Mark::now(&s)?;
    let (project, _work) = project_with_ci(&s, "dispatch", &ci).await?;
    for _ in 1..pipelines {
        s.post(&format!("/projects/{project}/pipeline"), &[("ref", "main")]).await?;
    }
    s.wait_gauges(jobs as i64, 0, Duration::from_secs(1200)).await?;
    let create = mark.run(&s, jobs)?;
    let create_wall = create.wall;
    let rs: Vec<Arc<Runner>> = runners(&s, k.runners, "load").await?.into_iter().map(Arc::new).collect();
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Baseline: the same runners, as many round trips as jobs, `POST /runners/verify`.
    let base = {
        let next = Arc::new(AtomicUsize::new(0));
        let mark = Mark::now(&s)?;
        let mut set = tokio::task::JoinSet::new();
        for r in &rs {
            let (r, next) = (r.clone(), next.clone());
            set.spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < jobs {
                    r.verify().await?;
                }
                Ok::<_, anyhow::Error>(())
            });
        }
        while let Some(r) = set.join_next().await {
            r??;
        }
        mark.run(&s, jobs)?
    };

    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<()>();
    let finished = Arc::new(AtomicUsize::new(0));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mark = Mark::now(&s)?;
    let mut set = tokio::task::JoinSet::new();
    for r in &rs {
        let (r, finished, done_tx, mut stop) = (r.clone(), finished.clone(), done_tx.clone(), stop_rx.clone());
        set.spawn(async move {
            let mut lat = Vec::new();
            loop {
                let t = Instant::now();
                let got = tokio::select! {
                    g = r.request_job() => g?,
                    _ = stop.changed() => return Ok::<_, anyhow::Error>(lat),
                };
                let Got::Job(job, at) = got else { continue };
                let got_at = ms(at - t);
                let p = Instant::now();
                r.succeed(&job).await?;
                lat.push((got_at, ms(p.elapsed())));
                if finished.fetch_add(1, Ordering::Relaxed) + 1 == jobs {
                    let _ = done_tx.send(());
                }
            }
        });
    }
    drop(done_tx);
    tokio::time::timeout(Duration::from_secs(3600), done_rx.recv()).await.context("dispatch did not finish")?;
    let run = mark.run(&s, jobs)?;
    let _ = stop_tx.send(true);
    let mut request_ms = Vec::new();
    let mut put_ms = Vec::new();
    while let Some(r) = set.join_next().await {
        for (a, b) in r?? {
            request_ms.push(a);
            put_ms.push(b);
        }
    }
    let (queued, _) = s.gauges().await?;
    if queued != 0 {
        bail!("{queued} jobs still queued after {jobs} were finished");
    }
    let mut not_done = 0;
    for page in 1.. {
        let list = s.get(&format!("/projects/{project}/pipelines?per_page=100&page={page}")).await?;
        let Some(items) = list.as_array().filter(|a| !a.is_empty()) else { break };
        not_done += items.iter().filter(|p| p["status"] != "success").count();
    }
    let rss_kib = s.status_kib("VmRSS")?;
    let hwm_kib = s.status_kib("VmHWM")?;
    s.stop().await?;
    Ok(Dispatch { jobs, per_pipeline, create_wall, create, base, run, request_ms, put_ms, not_done, rss_kib, hwm_kib })
}

fn per_s(r: &Run) -> f64 {
    r.ops as f64 / r.wall.as_secs_f64()
}

fn cpu_ms(ticks: u64, ops: usize) -> f64 {
    ticks as f64 / clock_ticks() as f64 * 1000.0 / ops as f64
}

async fn bench_dispatch(k: &Knobs, out: &mut String) -> Result<()> {
    progress(&format!("(c) dispatch: {} jobs, {} per pipeline", k.jobs, k.jobs_per_pipeline));
    let d = dispatch_once(k, k.jobs, k.jobs_per_pipeline).await?;
    save_raw(
        k,
        "dispatch.csv",
        "request_to_201_ms,put_ms",
        &d.request_ms.iter().zip(&d.put_ms).map(|(a, b)| format!("{a:.3},{b:.3}")).collect::<Vec<_>>(),
    )?;
    let hz = clock_ticks();
    let _ = writeln!(out, "### (c) Dispatch throughput: {} queued jobs, {} runners\n", d.jobs, k.runners);
    let _ = writeln!(
        out,
        "{} jobs queued first ({} pipelines × {} jobs: `.gitlab-ci.yml` entries with `parallel: 100`, created \
         through the API with no runner; queueing took {:.1} s, {:.1} s of server CPU). Then {} simulated runners \
         (tokio tasks, one runner token and one connection each) loop `POST /jobs/request` → `PUT /jobs/:id` \
         `state=success` with the job token until the queue is empty. Baseline, same run, same server, same \
         tasks: {} `POST /runners/verify` calls in all. CPU from `/proc/PID/stat`: server = utime+stime, git \
         children = cutime+cstime of the `git` processes the server spawned and reaped ({hz} Hz ticks); the \
         client shares the {} CPUs with the server.\n",
        d.jobs,
        d.jobs / d.per_pipeline,
        d.per_pipeline,
        d.create_wall.as_secs_f64(),
        (d.create.server_ticks + d.create.child_ticks) as f64 / hz as f64,
        k.runners,
        d.jobs,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    let _ = writeln!(
        out,
        "| run | wall (s) | ops/s | server CPU ms / op | + git children ms / op | client CPU ms / op | server CPU % of wall |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
    for (name, r) in [
        ("baseline: `runners/verify` (1 round trip per op)", &d.base),
        ("**dispatch: request + PUT success (2 round trips per job)**", &d.run),
    ] {
        let _ = writeln!(
            out,
            "| {name} | {:.2} | {:.0} | {:.3} | {:.3} | {:.3} | {:.0}% |",
            r.wall.as_secs_f64(),
            per_s(r),
            cpu_ms(r.server_ticks, r.ops),
            cpu_ms(r.child_ticks, r.ops),
            cpu_ms(r.client_ticks, r.ops),
            r.server_ticks as f64 / hz as f64 / r.wall.as_secs_f64() * 100.0
        );
    }
    let q = stats(&d.request_ms);
    let p = stats(&d.put_ms);
    let _ = writeln!(
        out,
        "\n- **Dispatch rate: {:.0} jobs/s** = {} the baseline's rate of round trips ({} counting the job's two \
         round trips); server CPU per job (own + git children) {} the CPU of one verify round trip.",
        per_s(&d.run),
        ratio_text(per_s(&d.run) / per_s(&d.base)),
        ratio_text(per_s(&d.run) * 2.0 / per_s(&d.base)),
        ratio_text(
            cpu_ms(d.run.server_ticks + d.run.child_ticks, d.run.ops)
                / cpu_ms(d.base.server_ticks + d.base.child_ticks, d.base.ops)
        )
    );
    let _ = writeln!(
        out,
        "- Under this load: `jobs/request` → `201` p50 {:.1} ms, p99 {:.1} ms; `PUT` p50 {:.1} ms, p99 {:.1} ms \
         ({} jobs). Pipelines not `success` afterwards: {}. Server VmRSS after the run {:.1} MiB (VmHWM {:.1} \
         MiB).\n",
        q.p50,
        q.p99,
        p.p50,
        p.p99,
        q.n,
        d.not_done,
        d.rss_kib as f64 / 1024.0,
        d.hwm_kib as f64 / 1024.0
    );
    if !k.scaling.is_empty() {
        let jobs = k.scaling_jobs;
        let _ = writeln!(
            out,
            "Sensitivity to pipeline size, same procedure with {jobs} jobs per row (fresh server each):\n"
        );
        let _ = writeln!(
            out,
            "| jobs per pipeline | pipelines | dispatch jobs/s | ÷ verify rate | server CPU ms / job | + git children ms / job | `201` p50 (ms) |"
        );
        let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|");
        for &size in &k.scaling {
            progress(&format!("(c) sensitivity: {jobs} jobs, {size} per pipeline"));
            let d = dispatch_once(k, jobs, size).await?;
            let _ = writeln!(
                out,
                "| {size} | {} | {:.0} | {} | {:.2} | {:.2} | {:.1} |",
                jobs / size,
                per_s(&d.run),
                ratio_text(per_s(&d.run) / per_s(&d.base)),
                cpu_ms(d.run.server_ticks, d.run.ops),
                cpu_ms(d.run.child_ticks, d.run.ops),
                stats(&d.request_ms).p50
            );
        }
        out.push('\n');
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// (d) memory with held long polls

async fn bench_memory(k: &Knobs, out: &mut String) -> Result<()> {
    progress("(d) RSS with held long polls");
    let s = Server::start(&k.bin, &k.work, 0).await?;
    let rs = runners(&s, k.runners, "hold").await?;
    // One call of each kind first, so that lazily built state is not counted as the holds' cost.
    rs[0].verify().await?;
    tokio::time::sleep(k.idle_wait).await;
    let idle = s.status_kib("VmRSS")?;
    // Every runner opens its own connection with one `runners/verify`, one after another (no
    // concurrency peak), and keeps it open (keep-alive): the cost of the connections alone.
    for r in &rs {
        r.verify().await?;
    }
    tokio::time::sleep(k.idle_wait).await;
    let connected = s.status_kib("VmRSS")?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let (tx, _rx) = mpsc::unbounded_channel();
    spawn_pickup_runners(rs, tx, stop_rx);
    s.wait_gauges(0, k.runners as i64, SETTLE).await?;
    tokio::time::sleep(k.idle_wait).await;
    s.wait_gauges(0, k.runners as i64, SETTLE).await?;
    let held = s.status_kib("VmRSS")?;
    let hwm = s.status_kib("VmHWM")?;
    let _ = stop_tx.send(true);
    s.stop().await?;
    let mib = |kib: u64| kib as f64 / 1024.0;
    let _ = writeln!(out, "### (d) `autogit serve` memory with {} runners long-polling\n", k.runners);
    let _ = writeln!(
        out,
        "VmRSS from `/proc/PID/status`, each reading {} s after the step. Idle: a fresh server with {} runners \
         created and one `runners/verify`. Connected: each of the {} simulated runners (a client and connection \
         of its own) made one `runners/verify`, one after another, and keeps its connection open. Held: the same \
         runners, on the same connections, hold `POST /jobs/request` with nothing queued (`/metrics` shows all \
         {} held).\n",
        k.idle_wait.as_secs(),
        k.runners,
        k.runners,
        k.runners
    );
    let _ = writeln!(out, "| moment | VmRSS (MiB) | ÷ idle |");
    let _ = writeln!(out, "|---|---:|---:|");
    let _ = writeln!(out, "| idle | {:.1} | — |", mib(idle));
    let _ = writeln!(
        out,
        "| {} keep-alive connections open, no request | {:.1} | {} |",
        k.runners,
        mib(connected),
        ratio_text(connected as f64 / idle as f64)
    );
    let _ = writeln!(
        out,
        "| **{} requests held** | **{:.1}** | {} |",
        k.runners,
        mib(held),
        ratio_text(held as f64 / idle as f64)
    );
    let _ = writeln!(
        out,
        "\n{:.1} KiB per runner in all ((held − idle) ÷ {}): {:.1} KiB per open connection, {:.1} KiB more per \
         held request; VmHWM at that point {:.1} MiB.\n",
        (held as f64 - idle as f64) / k.runners as f64,
        k.runners,
        (connected as f64 - idle as f64) / k.runners as f64,
        (held as f64 - connected as f64) / k.runners as f64,
        mib(hwm)
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------

/// The commit the tree was at, and whether it had uncommitted changes (the binary was built from
/// the working tree).
fn source_revision() -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
    };
    match git(&["rev-parse", "--short", "HEAD"]) {
        Some(head) => {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.trim().is_empty());
            format!("source at commit {}{}", head.trim(), if dirty { " plus uncommitted changes" } else { "" })
        }
        None => "source revision unknown".into(),
    }
}

async fn git_version() -> String {
    tokio::process::Command::new("git")
        .arg("--version")
        .output()
        .await
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn only(name: &str) -> bool {
    match std::env::var("BENCH_CI_ONLY") {
        Ok(v) if !v.is_empty() => v.split(',').any(|p| p.trim() == name),
        _ => true,
    }
}

async fn run(k: &Knobs) -> Result<String> {
    if !k.bin.exists() {
        bail!("{} not found: build it (cargo build --release -p autogit) or set AUTOGIT_BIN", k.bin.display());
    }
    std::fs::create_dir_all(&k.work)?;
    let started = Instant::now();
    let date = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|d| d.trim().to_string())
        .unwrap_or_default();
    let load_start = loadavg();
    let mut body = String::new();
    if only("a") {
        bench_pickup(k, &mut body).await?;
    }
    if only("b") {
        let sim = bench_push_sim(k).await?;
        let builtin = bench_push_builtin(k).await?;
        let _ = writeln!(body, "### (b) `git push` → first job running on an idle runner\n");
        let _ = writeln!(
            body,
            "A new commit (one file changed) is pushed with the real `git push` (smart HTTP, token in the URL) to \
             a project whose `.gitlab-ci.yml` has one job. Before each push the runner is idle and held in a long \
             poll (`/metrics`). {} samples after {} warm-ups per row (with n = {}, p99 is the maximum). Times in \
             ms.\n",
            k.push_n, k.warmup, k.push_n
        );
        body.push_str(LATENCY_HEADER);
        body.push_str(&sim.rows);
        body.push_str(&builtin.rows);
        let _ = writeln!(body, "\n{}\n\n{}\n", sim.notes, builtin.notes);
    }
    if only("c") {
        bench_dispatch(k, &mut body).await?;
    }
    if only("d") {
        bench_memory(k, &mut body).await?;
    }
    if only("e") {
        pools::bench_pools(k, &mut body).await?;
    }
    let mut out = String::new();
    let _ = writeln!(out, "## CI coordinator\n");
    let _ = writeln!(
        out,
        "Generated by `bench/ci.sh` (the `autogit-bench-ci` tool) on {date}, {} mode, in {:.0} s.\n",
        if std::env::var("BENCH_QUICK").is_ok_and(|v| v == "1") { "quick" } else { "full" },
        started.elapsed().as_secs_f64()
    );
    let _ = writeln!(
        out,
        "- Machine: {}; load average (1/5/15 min) at start {load_start}, at end {}",
        machine(),
        loadavg()
    );
    let _ = writeln!(
        out,
        "- AutoGit: `{}`, build: **{}** ({}); benchmark tool build: {}; {}",
        k.bin.display(),
        k.build,
        source_revision(),
        if cfg!(debug_assertions) { "debug" } else { "release" },
        git_version().await
    );
    let _ = writeln!(
        out,
        "- Server: `autogit serve --listen 127.0.0.1:0`, a fresh data directory (ext4) and SQLite per part, default \
         settings (50 s long poll, log level info to a file), built-in runner off except where said. Clients: \
         reqwest over loopback, TCP_NODELAY, in one tokio process; runners are created with \
         `POST /api/v4/user/runners` (`instance_type`)."
    );
    let _ = writeln!(
        out,
        "- **Anchor for (a) and (b)** (documented, not measured here): GitLab Runner's default `check_interval` \
         is 3 s; an idle runner without long polling picks up a new job after a delay uniform over 0–3 s, i.e. \
         **1.5 s** mean (used for p50) and **2.97 s** p99 (research: gitlab-runner.md §6.1). Long polling in \
         Workhorse is effectively off by default (§6.2). Ratios below are ours ÷ that anchor.\n"
    );
    out.push_str(&body);
    Ok(out)
}

#[tokio::main]
async fn main() -> Result<()> {
    let k = Knobs::from_env()?;
    let section = run(&k).await?;
    print!("{section}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<f64> = (1..=200).map(f64::from).collect();
        let s = stats(&v);
        assert_eq!((s.p50, s.p99, s.min, s.max), (100.0, 198.0, 1.0, 200.0));
        let v: Vec<f64> = (1..=30).map(f64::from).collect();
        assert_eq!(stats(&v).p99, 30.0);
    }

    #[test]
    fn many_jobs_file_counts_its_jobs() {
        let ci = many_jobs_ci(500);
        assert_eq!(ci.matches("parallel: 100").count(), 5);
        let ci = many_jobs_ci(101);
        assert!(ci.contains("parallel: 100") && !ci.contains("parallel: 1\n"));
    }

    #[test]
    fn cpu_ticks_parse_proc_stat() {
        assert!(server::proc_cpu_ticks("/proc/self/stat").is_ok());
    }

    #[test]
    fn ratios_keep_small_values_readable() {
        assert_eq!(ratio_text(0.0031), "0.0031×");
        assert_eq!(ratio_text(1.04), "1.04×");
    }
}
