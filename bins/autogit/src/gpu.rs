//! `autogit gpu detect`: what the GPU Detector finds on this machine (or under a fixture root).

use anyhow::{Context, Result};
use autogit_gpu::Detector;
use clap::Subcommand;
use std::path::PathBuf;
use std::process::Command;

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
}

pub fn run(command: GpuCommand) -> Result<()> {
    match command {
        GpuCommand::Detect { root, json } => {
            let mut detector = Detector::new(&root);
            // Memory size and compute capability are not in procfs: ask nvidia-smi when it is
            // there and the root is the real host. Its absence is normal (no NVIDIA GPU).
            if root == std::path::Path::new("/") {
                detector.nvidia_smi = nvidia_smi();
            }
            let inventory = detector.detect();
            if json {
                println!("{}", serde_json::to_string_pretty(&inventory).context("encoding the inventory")?);
            } else {
                print!("{}", autogit_gpu::render::table(&inventory));
            }
            Ok(())
        }
    }
}

fn nvidia_smi() -> Option<String> {
    let query = format!("--query-gpu={}", autogit_gpu::nvidia::SMI_QUERY);
    let out = Command::new("nvidia-smi").args([query.as_str(), "--format=csv,noheader,nounits"]).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}
