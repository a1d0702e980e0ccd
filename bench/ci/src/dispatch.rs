//! Part (c): dispatch throughput, thousands of queued jobs drained by simulated runners.

use super::*;

/// `jobs` jobs in one file: entries of `parallel: 100` (GitLab's `parallel` range is 2–200), so
/// the pipeline stays within `MAX_JOBS` (2,000).
pub(crate) fn many_jobs_ci(jobs: usize) -> String {
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

pub(crate) struct Run {
    pub(crate) wall: Duration,
    /// utime + stime of the server process.
    pub(crate) server_ticks: u64,
    /// CPU of the `git` processes the server spawned and reaped meanwhile.
    pub(crate) child_ticks: u64,
    pub(crate) client_ticks: u64,
    pub(crate) ops: usize,
}

/// CPU counters at the start of a run.
pub(crate) struct Mark {
    pub(crate) server: u64,
    pub(crate) child: u64,
    pub(crate) client: u64,
    pub(crate) at: Instant,
}

impl Mark {
    pub(crate) fn now(s: &Server) -> Result<Mark> {
        Ok(Mark {
            server: s.cpu_ticks()?,
            child: s.children_cpu_ticks()?,
            client: self_cpu_ticks(),
            at: Instant::now(),
        })
    }

    pub(crate) fn run(&self, s: &Server, ops: usize) -> Result<Run> {
        Ok(Run {
            wall: self.at.elapsed(),
            server_ticks: s.cpu_ticks()? - self.server,
            child_ticks: s.children_cpu_ticks()? - self.child,
            client_ticks: self_cpu_ticks() - self.client,
            ops,
        })
    }
}

pub(crate) struct Dispatch {
    pub(crate) jobs: usize,
    pub(crate) per_pipeline: usize,
    pub(crate) create_wall: Duration,
    pub(crate) create: Run,
    pub(crate) base: Run,
    pub(crate) run: Run,
    pub(crate) request_ms: Vec<f64>,
    pub(crate) put_ms: Vec<f64>,
    pub(crate) not_done: usize,
    pub(crate) rss_kib: u64,
    pub(crate) hwm_kib: u64,
}

/// Queues `jobs` jobs in pipelines of `per_pipeline`, then times the verify baseline and the
/// dispatch with `k.runners` runners, on a fresh server.
pub(crate) async fn dispatch_once(k: &Knobs, jobs: usize, per_pipeline: usize) -> Result<Dispatch> {
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

pub(crate) fn per_s(r: &Run) -> f64 {
    r.ops as f64 / r.wall.as_secs_f64()
}

pub(crate) fn cpu_ms(ticks: u64, ops: usize) -> f64 {
    ticks as f64 / clock_ticks() as f64 * 1000.0 / ops as f64
}

pub(crate) async fn bench_dispatch(k: &Knobs, out: &mut String) -> Result<()> {
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
