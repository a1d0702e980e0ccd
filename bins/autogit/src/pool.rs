//! `autogit pool list`: the autoscaled runner pools of a server, their instances (state, age,
//! jobs) and pending demand (`GET /api/v4/admin/ci/pools`).

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use serde_json::Value;

#[derive(Subcommand)]
pub enum PoolCommand {
    /// List pools and their instances.
    List {
        /// The AutoGit server URL.
        #[arg(long)]
        url: String,
        /// An administrator's personal access token.
        #[arg(long, env = "AUTOGIT_TOKEN")]
        token: String,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(command: PoolCommand) -> Result<()> {
    let PoolCommand::List { url, token, json } = command;
    let r = reqwest::blocking::Client::new()
        .get(format!("{}/api/v4/admin/ci/pools", url.trim_end_matches('/')))
        .header("PRIVATE-TOKEN", token)
        .send()
        .context("asking the server")?;
    let status = r.status();
    let body: Value = r.json().context("reading the answer")?;
    if !status.is_success() {
        bail!("the server answered {status}: {body}");
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(());
    }
    let pools = body.as_array().map(Vec::as_slice).unwrap_or_default();
    if pools.is_empty() {
        println!("no pools configured ([[ci.pools]] in the server configuration)");
    }
    for p in pools {
        println!(
            "pool {} ({}, {}{}) tags {} — {} pending, {} free slots, {} up / {} down{}",
            p["name"].as_str().unwrap_or_default(),
            p["provider"].as_str().unwrap_or_default(),
            p["architecture"].as_str().unwrap_or_default(),
            p["gpu"].as_str().map(|g| format!(", GPUs {g}")).unwrap_or_default(),
            p["tags"],
            p["pending_jobs"],
            p["free_slots"],
            p["scale_ups"],
            p["scale_downs"],
            p["last_error"].as_str().map(|e| format!(", last error: {e}")).unwrap_or_default()
        );
        for w in p["warnings"].as_array().map(Vec::as_slice).unwrap_or_default() {
            println!("  warning: {}", w.as_str().unwrap_or_default());
        }
        println!("  {:<28} {:<10} {:>7} {:>6} {:>5} {:>5}", "INSTANCE", "STATE", "RUNNER", "AGE", "BUSY", "JOBS");
        for i in p["instances"].as_array().map(Vec::as_slice).unwrap_or_default() {
            println!(
                "  {:<28} {:<10} {:>7} {:>5}s {:>5} {:>5}",
                i["id"].as_str().unwrap_or_default(),
                i["state"].as_str().unwrap_or_default(),
                i["runner_id"].as_i64().map(|r| r.to_string()).unwrap_or_else(|| "-".into()),
                i["age_seconds"],
                i["busy"],
                i["jobs_run"]
            );
        }
    }
    Ok(())
}
