//! The day simulation: our [`decide`](super::decide) against GitLab-style `idle_count`-only
//! scaling on the same bursty trace. Prints Markdown tables with `--nocapture`:
//! `cargo test -p autogit-scheduler --release sim_ -- --nocapture`. Asserts correctness only
//! (every job runs, `max_instances` holds, no busy instance is removed), never timings.

use super::sim::Job;
use super::sim::{Contender, DAY, Report, SEC, day_trace, run};
use super::tests::{MIN, WED, policy};
use super::{PolicyWindow, PoolPolicy};

const SEED: u64 = 0x5EED_2026;
const TICK_MS: i64 = 5 * SEC;

fn base() -> PoolPolicy {
    PoolPolicy {
        name: "sim".into(),
        min_idle: 0,
        max_instances: 20,
        capacity_per_instance: 1,
        max_use_count: 0,
        idle_time_ms: 5 * MIN,
        scale_factor: 0.0,
        scale_factor_limit: 0,
        windows: vec![],
        ready_deadline_ms: 10 * MIN,
        can_suspend: false,
    }
}

fn contenders() -> Vec<Contender> {
    let working_hours = PolicyWindow {
        days: vec![0, 1, 2, 3, 4],
        from_minute: 8 * 60,
        to_minute: 18 * 60,
        min_idle: 3,
        idle_time_ms: None,
    };
    let ours = |label: &str, min_idle, windows| Contender {
        label: label.into(),
        policy: PoolPolicy { min_idle, windows, ..base() },
        sees_queue: true,
    };
    let gitlab = |idle_count: u32| Contender {
        label: format!("GitLab-style idle_count {idle_count}"),
        policy: PoolPolicy { min_idle: idle_count, ..base() },
        sees_queue: false,
    };
    vec![
        ours("ours: min_idle 1, 3 in Mon–Fri 08–18", 1, vec![working_hours]),
        ours("ours: min_idle 0 (scale to zero)", 0, vec![]),
        gitlab(2),
        gitlab(5),
        // The wait floor that max_instances alone imposes, at the highest cost.
        Contender {
            label: "reference: 20 always on".into(),
            policy: PoolPolicy { min_idle: 20, ..base() },
            sees_queue: false,
        },
    ]
}

fn table(boot_ms: i64, reports: &[Report]) -> String {
    let mut out = format!(
        "\nboot {} s, tick {} s, capacity_per_instance 1, max_instances 20, idle_time 5 min, {} jobs\n\n",
        boot_ms / SEC,
        TICK_MS / SEC,
        reports.first().map_or(0, |r| r.jobs)
    );
    out.push_str("| policy | instance-hours | busy share | mean wait (s) | median wait (s) | p95 wait (s) | max wait (s) | started ≤ 10 s | max instances | instances started |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in reports {
        out.push_str(&format!(
            "| {} | {:.1} | {:.0}% | {:.1} | {:.1} | {:.1} | {:.0} | {:.0}% | {} | {} |\n",
            r.label,
            r.instance_ms as f64 / 3_600_000.0,
            100.0 * r.busy_ms as f64 / r.instance_ms.max(1) as f64,
            r.mean_wait_s(),
            r.wait_percentile_s(50),
            r.wait_percentile_s(95),
            r.wait_percentile_s(100),
            r.started_within_pct(10 * SEC),
            r.max_live,
            r.started,
        ));
    }
    out
}

#[test]
fn sim_trace_is_deterministic_and_shaped_like_a_working_day() {
    let trace = day_trace(SEED);
    assert_eq!(trace, day_trace(SEED));
    assert!(trace.windows(2).all(|w| w[0].arrival <= w[1].arrival));
    let start = trace[0].arrival - trace[0].arrival.rem_euclid(DAY);
    let per_hour = |h: i64| trace.iter().filter(|j| (j.arrival - start) / (60 * MIN) == h).count();
    assert!(per_hour(3) < per_hour(9) && per_hour(12) < per_hour(11) && per_hour(12) < per_hour(14));
    assert!(trace.iter().all(|j| (MIN..=10 * MIN).contains(&j.duration)));
    let hours: Vec<String> = (0..24).map(|h| per_hour(h).to_string()).collect();
    println!("\narrivals per hour (UTC 00..23): {}", hours.join(" "));
}

#[test]
fn sim_day_every_policy_runs_every_job_within_max_instances() {
    let trace = day_trace(SEED);
    for boot_ms in [30 * SEC, 120 * SEC] {
        let reports: Vec<Report> = contenders().iter().map(|c| run(&trace, c, boot_ms, TICK_MS)).collect();
        for r in &reports {
            // `run` itself panics on a busy removal, on exceeding max_instances, or if the queue
            // never drains; here: every job started exactly once, never before it arrived.
            assert_eq!(r.waits.len(), trace.len(), "{}", r.label);
            assert!(r.waits.iter().all(|w| *w >= 0), "{}", r.label);
            assert!(r.max_live <= 20, "{}", r.label);
            assert_eq!(r.busy_ms, trace.iter().map(|j| j.duration).sum::<i64>(), "{}", r.label);
        }
        println!("{}", table(boot_ms, &reports));
    }
}

#[test]
fn sim_a_pool_at_max_instances_still_drains_a_burst() {
    // 200 jobs at once against 3 instances: all run, the cap holds throughout.
    let start = WED + 9 * 60 * MIN;
    let burst: Vec<_> = (0..200).map(|i| Job { arrival: start + i * 100, duration: (1 + i % 10) * MIN }).collect();
    let who = Contender { label: "tiny".into(), policy: PoolPolicy { max_instances: 3, ..policy() }, sees_queue: true };
    let r = run(&burst, &who, 30 * SEC, TICK_MS);
    assert_eq!(r.waits.len(), 200);
    assert_eq!(r.max_live, 3);
}
