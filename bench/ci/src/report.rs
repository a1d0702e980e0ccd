//! What the parts share for their report: percentiles, Markdown rows, raw sample files, and
//! facts about the machine and the build.

use super::*;

/// Percentiles of a sample in milliseconds (nearest rank).
pub(crate) struct Stats {
    pub(crate) n: usize,
    pub(crate) p50: f64,
    pub(crate) p99: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
}

pub(crate) fn stats(v: &[f64]) -> Stats {
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

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Signed `b - a` in ms.
pub(crate) fn signed_ms(a: Instant, b: Instant) -> f64 {
    if b >= a { ms(b - a) } else { -ms(a - b) }
}

/// A table row: n, p50, p99, min, max (ms) and, for latencies with an anchor, the ratios.
pub(crate) fn row(what: &str, s: &Stats, anchor: bool) -> String {
    let ratio = if anchor {
        format!(" | {} | {}", ratio_text(s.p50 / ANCHOR_P50), ratio_text(s.p99 / ANCHOR_P99))
    } else {
        " | — | —".to_string()
    };
    format!("| {what} | {} | {:.2} | {:.2} | {:.2} | {:.2}{ratio} |\n", s.n, s.p50, s.p99, s.min, s.max)
}

pub(crate) const LATENCY_HEADER: &str =
    "| measure | n | p50 | p99 | min | max | p50 ÷ 1.5 s | p99 ÷ 2.97 s |\n|---|---:|---:|---:|---:|---:|---:|---:|\n";

/// A small ratio with enough digits to be read (0.0031×, 0.21×, 1.04×).
pub(crate) fn ratio_text(r: f64) -> String {
    if r < 0.01 {
        format!("{r:.4}×")
    } else if r < 0.1 {
        format!("{r:.3}×")
    } else {
        format!("{r:.2}×")
    }
}

pub(crate) fn save_raw(k: &Knobs, name: &str, header: &str, rows: &[String]) -> Result<()> {
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

pub(crate) fn progress(msg: &str) {
    eprintln!("[bench-ci] {msg}");
}

pub(crate) fn machine() -> String {
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

pub(crate) fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

pub(crate) fn clock_ticks() -> u64 {
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

pub(crate) fn self_cpu_ticks() -> u64 {
    server::proc_cpu_ticks("/proc/self/stat").unwrap_or(0)
}

/// The commit the tree was at, and whether it had uncommitted changes (the binary was built from
/// the working tree).
pub(crate) fn source_revision() -> String {
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

pub(crate) async fn git_version() -> String {
    tokio::process::Command::new("git")
        .arg("--version")
        .output()
        .await
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}
