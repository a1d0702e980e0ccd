//! `autogit gpu detect`: what the GPU Detector finds on this machine (or under a fixture root).

use anyhow::{Context, Result};
use clap::Subcommand;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum GpuCommand {
    /// Detect the GPUs of this host.
    Detect {
        /// Read sysfs, procfs and /dev under this directory instead of `/` (fixtures, chroots).
        #[arg(long, default_value = "/")]
        root: PathBuf,
        /// Print the inventory as JSON (the stable format runners report).
        #[arg(long)]
        json: bool,
    },
    /// Show the fleet: every runner's GPUs and which job holds each (`GET /api/v4/runners/gpus`).
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

pub fn run(command: GpuCommand) -> Result<()> {
    match command {
        GpuCommand::Detect { root, json } => {
            // On the real host NVML (or nvidia-smi) and rocm-smi fill in what sysfs lacks.
            let inventory = autogit_agent::inventory::detect_gpus(&root);
            if json {
                println!("{}", serde_json::to_string_pretty(&inventory).context("encoding the inventory")?);
            } else {
                print!("{}", autogit_gpu::render::table(&inventory));
            }
            Ok(())
        }
        GpuCommand::List { url, token, json } => list(&url, &token, json),
    }
}

fn list(url: &str, token: &str, json: bool) -> Result<()> {
    let r = reqwest::blocking::Client::new()
        .get(format!("{}/api/v4/runners/gpus", url.trim_end_matches('/')))
        .header("PRIVATE-TOKEN", token)
        .send()
        .context("asking the server")?;
    let status = r.status();
    let body: serde_json::Value = r.json().context("reading the answer")?;
    if !status.is_success() {
        anyhow::bail!("the server answered {status}: {body}");
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(());
    }
    for runner in body.as_array().map(Vec::as_slice).unwrap_or_default() {
        let archs: Vec<&str> =
            runner["architectures"].as_array().into_iter().flatten().filter_map(|a| a.as_str()).collect();
        println!(
            "runner {} {:?} ({}) architectures: {}",
            runner["id"],
            runner["description"].as_str().unwrap_or_default(),
            runner["status"].as_str().unwrap_or("unknown"),
            if archs.is_empty() { "unknown".to_string() } else { archs.join(", ") }
        );
        let inv: autogit_gpu::HostInventory = match serde_json::from_value(runner["inventory"].clone()) {
            Ok(inv) => inv,
            Err(_) => {
                println!("  (no GPU inventory reported)\n");
                continue;
            }
        };
        print!("{}", autogit_gpu::render::table(&inv));
        for a in runner["allocations"].as_array().into_iter().flatten() {
            println!("  job {} holds {}", a["job_id"], a["gpus"]);
        }
        println!();
    }
    Ok(())
}
