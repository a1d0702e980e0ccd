//! Parts (a) and (b): how long a queued job or a push takes to reach a runner that waits in
//! `jobs/request` (simulated runners, and the built-in runner).

use super::*;

/// A job handed to a simulated runner: its pipeline and when the `201` arrived. Sent after the
/// runner has reported the job successful, so the next sample starts with the job done.
pub(crate) struct Pickup {
    pub(crate) pipeline: i64,
    pub(crate) at: Instant,
}

/// K simulated runners that hold `jobs/request`, report every job successful at once and
/// re-request. Stops when `stop` flips.
pub(crate) fn spawn_pickup_runners(
    runners: Vec<Runner>,
    tx: mpsc::UnboundedSender<Pickup>,
    stop: watch::Receiver<bool>,
) {
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

pub(crate) async fn runners(s: &Server, n: usize, prefix: &str) -> Result<Vec<Runner>> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let token = s.create_runner(&format!("{prefix}-{i}")).await?;
        out.push(Runner::new(server::client()?, s.api(""), token, &format!("{prefix}-{i}")));
    }
    Ok(out)
}

pub(crate) async fn recv_pickup(rx: &mut mpsc::UnboundedReceiver<Pickup>) -> Result<Pickup> {
    tokio::time::timeout(Duration::from_secs(60), rx.recv())
        .await
        .context("no job reached a runner within 60 s")?
        .ok_or_else(|| anyhow!("runners stopped"))
}

pub(crate) const SETTLE: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------
// (a) enqueue → handed to a waiting runner

pub(crate) async fn bench_pickup(k: &Knobs, out: &mut String) -> Result<()> {
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
    let mut spawned_from = None;
    for i in 0..k.warmup + k.pickup_n {
        s.wait_gauges(0, k.pickup_runners as i64, SETTLE).await?;
        if i == k.warmup {
            spawned_from = s.git_processes_started().await?;
        }
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
    let spawned = match (spawned_from, s.git_processes_started().await?) {
        (Some(a), Some(b)) => format!(
            "`git` processes the server started during the {} samples: {} ({:.2} per one-job pipeline).",
            k.pickup_n,
            b - a,
            (b - a) as f64 / k.pickup_n as f64
        ),
        _ => "This build does not report `git` processes started (`autogit_git_processes_started`).".into(),
    };

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
         {:.1} ms in its `git` child processes (those reaped and those still running, such as pooled object \
         readers). {spawned}\n",
        k.pickup_n,
        cpu_ms(own_ticks, k.pickup_n),
        cpu_ms(git_ticks, k.pickup_n)
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// (b) git push → first job running

/// Table rows and a note.
pub(crate) struct Part {
    pub(crate) rows: String,
    pub(crate) notes: String,
}

pub(crate) async fn bench_push_sim(k: &Knobs) -> Result<Part> {
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

pub(crate) async fn bench_push_builtin(k: &Knobs) -> Result<Part> {
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
