//! Part (d): the server's memory with many runners holding a long poll.

use super::*;

pub(crate) async fn bench_memory(k: &Knobs, out: &mut String) -> Result<()> {
    progress("(d) RSS with held long polls");
    let cold = drop_from_page_cache(&k.bin);
    let s = Server::start(&k.bin, &k.work, 0).await?;
    let rs = runners(&s, k.runners, "hold").await?;
    // One call of each kind first, so that lazily built state is not counted as the holds' cost.
    rs[0].verify().await?;
    tokio::time::sleep(k.idle_wait).await;
    let idle = s.status_kib("VmRSS")?;
    let (idle_anon, idle_file) = (s.status_kib("RssAnon")?, s.status_kib("RssFile")?);
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
         {} held). {}\n",
        k.idle_wait.as_secs(),
        k.runners,
        k.runners,
        k.runners,
        if cold {
            "The server's executable was dropped from the page cache before the start (`dd iflag=nocache \
             count=0`), so that its code is mapped as on a cold start: how a file's cached pages came to be \
             (a fresh copy, or pages read back) changes how many the kernel maps at each fault, by about 2 MiB \
             of this server's RSS."
        } else {
            "The server's executable could not be dropped from the page cache (`dd iflag=nocache`): its mapped \
             code depends on how its cached pages came to be, by about 2 MiB."
        }
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
        "\nIdle: {:.1} MiB anonymous, {:.1} MiB file-backed (mostly the executable's code).\n\n{:.1} KiB per runner in all ((held − idle) ÷ {}): {:.1} KiB per open connection, {:.1} KiB more per \
         held request; VmHWM at that point {:.1} MiB.\n",
        mib(idle_anon),
        mib(idle_file),
        (held as f64 - idle as f64) / k.runners as f64,
        k.runners,
        (connected as f64 - idle as f64) / k.runners as f64,
        (held as f64 - connected as f64) / k.runners as f64,
        mib(hwm)
    );
    Ok(())
}

/// Drops the file's pages from the page cache (GNU `dd`'s `nocache`, which asks the kernel to
/// forget a file's clean pages); false when that failed.
fn drop_from_page_cache(path: &std::path::Path) -> bool {
    let mut arg = std::ffi::OsString::from("if=");
    arg.push(path);
    std::process::Command::new("dd")
        .arg(arg)
        .args(["iflag=nocache", "count=0", "status=none"])
        .status()
        .is_ok_and(|s| s.success())
}

// ---------------------------------------------------------------------------------------------
