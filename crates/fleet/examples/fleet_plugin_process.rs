//! A reference plugin for the fleet plugin protocol (`docs/fleet-plugin-protocol.md`): it
//! manages local `autogit runner` processes, through [`ProcessGroup`], so it shows how the
//! protocol maps onto the [`InstanceGroup`] contract.
//!
//! Build: `cargo build -p autogit-fleet --examples` (`target/debug/examples/fleet_plugin_process`).
//! Configure a pool with it:
//! ```toml
//! [[ci.pools]]
//! name = "plugged"
//! provider = "plugin"
//! plugin_command = ["/path/to/fleet_plugin_process"]
//! plugin_config = { state_dir = "/var/lib/autogit/plugged", autogit_bin = "/usr/local/bin/autogit" }
//! ```
//! `plugin_config`: `state_dir` (required), `autogit_bin` (default: `autogit` on `PATH`),
//! `grace_seconds` (how long a runner may take to stop, default 10), `max_size` (default: the
//! coordinator's). Requests come one per line on stdin, answers go one per line to stdout;
//! diagnostics go to stderr, which the coordinator logs.

use autogit_fleet::process::ProcessGroup;
use autogit_fleet::{FleetError, InstanceGroup, Launch};
use serde::Deserialize;
use serde_json::{Value, json};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

const PROTOCOL: u64 = 1;

#[derive(Deserialize)]
struct Init {
    protocol: u64,
    group: String,
    #[serde(default = "unlimited")]
    max_size: usize,
    config: Config,
}

#[derive(Deserialize)]
struct Config {
    state_dir: PathBuf,
    autogit_bin: Option<PathBuf>,
    grace_seconds: Option<u64>,
    max_size: Option<usize>,
}

#[derive(Deserialize)]
struct WireLaunch {
    name: String,
    server_url: String,
    runner_token: String,
    runner_id: autogit_core::RunnerId,
    concurrent: usize,
    #[serde(default)]
    register_args: Vec<String>,
}

fn unlimited() -> usize {
    usize::MAX
}

/// A JSON-RPC error: (code, message).
type RpcError = (i64, String);

fn rpc(e: FleetError) -> RpcError {
    match e {
        FleetError::Unavailable(m) => (-32001, m),
        FleetError::Failed(m) => (-32002, m),
        FleetError::Config(m) => (-32003, m),
        FleetError::Unsupported(m) => (-32601, m),
    }
}

fn params<T: serde::de::DeserializeOwned>(v: &Value) -> Result<T, RpcError> {
    serde_json::from_value(v.clone()).map_err(|e| (-32602, format!("invalid params: {e}")))
}

/// `autogit` on `PATH`.
fn autogit_on_path() -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join("autogit")).find(|p| p.is_file())
}

async fn handle(group: &mut Option<ProcessGroup>, method: &str, p: &Value) -> Result<Value, RpcError> {
    if method == "init" {
        let init: Init = params(p)?;
        if init.protocol != PROTOCOL {
            return Err((
                -32003,
                format!("protocol {} is not supported (this plugin speaks {PROTOCOL})", init.protocol),
            ));
        }
        let bin = init.config.autogit_bin.or_else(autogit_on_path).ok_or((-32003, "no autogit on PATH".to_string()))?;
        let max = init.config.max_size.unwrap_or(init.max_size).min(init.max_size);
        let g = ProcessGroup::new(&init.group, bin, init.config.state_dir, max)
            .with_grace(Duration::from_secs(init.config.grace_seconds.unwrap_or(10)));
        let info = g.init().await.map_err(rpc)?;
        *group = Some(g);
        return Ok(json!({"id": format!("fleet_plugin_process/{}", init.group), "max_size": info.max_size,
            "version": info.version, "protocol": PROTOCOL}));
    }
    if method == "shutdown" {
        return Ok(json!({}));
    }
    let g = group.as_ref().ok_or((-32002, "init first".to_string()))?;
    match method {
        "update" => Ok(json!({"instances": g.update().await.map_err(rpc)?})),
        "increase" => {
            #[derive(Deserialize)]
            struct P {
                launches: Vec<WireLaunch>,
            }
            let launches: Vec<Launch> = params::<P>(p)?
                .launches
                .into_iter()
                .map(|l| Launch {
                    name: l.name,
                    server_url: l.server_url,
                    runner_token: l.runner_token,
                    runner_id: l.runner_id,
                    concurrent: l.concurrent,
                    register_args: l.register_args,
                })
                .collect();
            Ok(json!({"started": g.increase(&launches).await.map_err(rpc)?}))
        }
        "decrease" => {
            #[derive(Deserialize)]
            struct P {
                ids: Vec<String>,
            }
            Ok(json!({"deleted": g.decrease(&params::<P>(p)?.ids).await.map_err(rpc)?}))
        }
        "heartbeat" => {
            #[derive(Deserialize)]
            struct P {
                id: String,
            }
            Ok(json!({"healthy": g.heartbeat(&params::<P>(p)?.id).await.map_err(rpc)?}))
        }
        other => Err((-32601, format!("method {other:?} not found"))),
    }
}

#[tokio::main]
async fn main() {
    // stdin is read on a thread of its own (tokio's `io-std` is not enabled for this crate).
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            if line.is_err() || tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut group = None;
    while let Some(Ok(line)) = rx.recv().await {
        if line.trim().is_empty() {
            continue;
        }
        let (id, method, result) = match serde_json::from_str::<Value>(&line) {
            Ok(req) => {
                let method = req["method"].as_str().unwrap_or_default().to_string();
                let result = handle(&mut group, &method, &req["params"]).await;
                (req["id"].clone(), method, result)
            }
            Err(e) => (Value::Null, String::new(), Err((-32700, format!("parse error: {e}")))),
        };
        let answer = match result {
            Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
            Err((code, message)) => {
                eprintln!("{method}: error {code}: {message}");
                json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
            }
        };
        let mut out = std::io::stdout().lock();
        if writeln!(out, "{answer}").and_then(|()| out.flush()).is_err() || method == "shutdown" {
            break;
        }
    }
}
