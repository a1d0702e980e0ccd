//! The `plugin` provider: any executable that speaks the fleet plugin protocol (JSON-RPC 2.0,
//! one JSON object per line on its stdin/stdout; see `docs/fleet-plugin-protocol.md`).
//!
//! # Process and calls
//! The plugin is started lazily, by the first call, and `init` is sent to it before anything
//! else. Its stderr is logged line by line (`tracing`, info level); its stdout carries answers
//! only (a line that is not the answer awaited is logged and skipped). Requests are
//! serialised: one is in flight at a time and the others wait their turn in arrival order, so
//! an `update` or `heartbeat` may queue behind a slow `increase` or `decrease` (the contract
//! lets them run concurrently; a plugin need not, and gets one request at a time). Each call
//! has a timeout (default 60 s, [`PluginGroup::with_call_timeout`]). Requests are never logged:
//! `increase` carries runner tokens.
//!
//! # Supervision
//! - The plugin exits, closes its stdout or does not answer in time: the call returns
//!   [`FleetError::Unavailable`], the process is killed, and the next call starts a fresh one
//!   and sends `init` again. Restarts are spaced by an exponential backoff (1 s doubling to 60 s,
//!   [`PluginGroup::with_restart_backoff`]); a call made before the next start is due returns
//!   `Unavailable` at once, without starting anything. The backoff is reset by the first call
//!   after `init` that succeeds.
//! - The plugin answers a call with error −32001 (unavailable, e.g. its cloud credentials
//!   expired): it is restarted once at once (a fresh `init` may renew them) and that call is
//!   retried once; a second −32001 is returned as `Unavailable`. Safe for `increase`, since an
//!   error means the plugin did nothing.
//! - `init` answered with a config error (−32003), an unknown protocol version or a malformed
//!   result: the process is stopped and never restarted; every call returns that
//!   [`FleetError::Config`] until the group is reconfigured (a new [`PluginGroup`]).
//! - A call abandoned half-way (its future dropped) leaves the pipe in an unknown state: the
//!   plugin is restarted (no backoff) before the next call.
//!
//! The provider also keeps [`InstanceGroup::increase`] within the configured `max_size` (an
//! `update` round trip first) and drops the plugin with the group (`kill_on_drop`); instances
//! live on, as with the other providers.

use crate::{FleetError, Instance, InstanceGroup, Launch, ProviderInfo, RUNNER_LABEL, State};
use autogit_core::RunnerId;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// The protocol version this provider speaks (`init`'s `protocol`).
pub const PROTOCOL_VERSION: u64 = 1;
/// JSON-RPC error code: unavailable, retry ([`FleetError::Unavailable`]).
pub const CODE_UNAVAILABLE: i64 = -32001;
/// JSON-RPC error code: this call failed ([`FleetError::Failed`]).
pub const CODE_FAILED: i64 = -32002;
/// JSON-RPC error code: will not work until reconfigured ([`FleetError::Config`]).
pub const CODE_CONFIG: i64 = -32003;

/// A group whose instances an external plugin manages (see the module documentation).
pub struct PluginGroup {
    group: String,
    command: Vec<String>,
    config: Value,
    max_size: usize,
    call_timeout: Duration,
    backoff_min: Duration,
    backoff_max: Duration,
    inner: tokio::sync::Mutex<Inner>,
}

struct Inner {
    proc: Option<Proc>,
    /// What the current process answered to `init`; `None` until it has.
    info: Option<ProviderInfo>,
    next_id: u64,
    /// Set while a request is in flight: still set at the next call = that one was abandoned.
    dirty: bool,
    /// The next restart is not started before this.
    restart_at: Option<Instant>,
    /// The delay after the next failure.
    backoff: Duration,
    /// `init` said the configuration is wrong: returned by every call, no restarts.
    config_error: Option<String>,
}

struct Proc {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
}

/// How one exchange failed: a plugin's JSON-RPC error, or anything else.
enum CallError {
    Rpc { code: i64, message: String },
    Fleet(FleetError),
}

impl From<FleetError> for CallError {
    fn from(e: FleetError) -> Self {
        CallError::Fleet(e)
    }
}

#[derive(Deserialize)]
struct RpcError {
    code: i64,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct InitResult {
    id: String,
    max_size: usize,
    #[serde(default)]
    version: String,
    protocol: Option<u64>,
    /// Whether the plugin implements `suspend` and `resume`.
    #[serde(default)]
    can_suspend: bool,
}

#[derive(Deserialize)]
struct WireInstance {
    id: String,
    state: String,
    #[serde(default)]
    created_at: i64,
    #[serde(default)]
    runner_id: Option<RunnerId>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct UpdateResult {
    instances: Vec<WireInstance>,
}

#[derive(Deserialize)]
struct IncreaseResult {
    started: usize,
}

#[derive(Deserialize)]
struct DecreaseResult {
    deleted: Vec<String>,
}

#[derive(Deserialize)]
struct SuspendResult {
    suspended: Vec<String>,
}

#[derive(Deserialize)]
struct ResumeResult {
    resumed: Vec<String>,
}

#[derive(Deserialize)]
struct HeartbeatResult {
    healthy: bool,
}

impl PluginGroup {
    /// `command` is the program and its arguments; `config` is passed to the plugin in `init`.
    /// Nothing is started here: the first call starts the plugin.
    pub fn new(group: &str, command: Vec<String>, config: Value, max_size: usize) -> Self {
        PluginGroup {
            group: group.to_string(),
            command,
            config,
            max_size,
            call_timeout: Duration::from_secs(60),
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            inner: tokio::sync::Mutex::new(Inner {
                proc: None,
                info: None,
                next_id: 0,
                dirty: false,
                restart_at: None,
                backoff: Duration::from_secs(1),
                config_error: None,
            }),
        }
    }

    /// How long one call (`init` included) may wait for its answer. Default 60 s.
    pub fn with_call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// The delay before the first restart after a failure, doubled per failure up to `max`.
    /// Default 1 s and 60 s.
    pub fn with_restart_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.backoff_min = min;
        self.backoff_max = max.max(min);
        self.inner.get_mut().backoff = min;
        self
    }

    fn program(&self) -> &str {
        self.command.first().map(String::as_str).unwrap_or("")
    }

    /// Calls `method` with the supervision of the module documentation (one restart and retry
    /// on −32001).
    async fn call(&self, inner: &mut Inner, method: &str, params: &Value) -> Result<Value, FleetError> {
        self.ensure_ready(inner).await.map_err(|e| self.fleet_error("init", e))?;
        let result = match self.exchange(inner, method, params).await {
            Err(CallError::Rpc { code: CODE_UNAVAILABLE, message }) => {
                tracing::warn!(group = %self.group, method, error = %message,
                    "plugin answered unavailable; restarting it and retrying once");
                self.stop(inner, false).await;
                self.ensure_ready(inner).await.map_err(|e| self.fleet_error("init", e))?;
                self.exchange(inner, method, params).await
            }
            r => r,
        };
        let value = result.map_err(|e| self.fleet_error(method, e))?;
        inner.backoff = self.backoff_min;
        Ok(value)
    }

    /// Starts the plugin and sends `init` unless it runs and was initialised.
    async fn ensure_ready(&self, inner: &mut Inner) -> Result<(), CallError> {
        if let Some(msg) = &inner.config_error {
            return Err(FleetError::Config(msg.clone()).into());
        }
        if inner.dirty {
            tracing::warn!(group = %self.group, "a plugin call was abandoned half-way; restarting the plugin");
            self.stop(inner, false).await;
        }
        if inner.proc.is_some() && inner.info.is_some() {
            return Ok(());
        }
        if let Some(at) = inner.restart_at
            && let Some(left) = at.checked_duration_since(Instant::now())
        {
            return Err(FleetError::Unavailable(format!(
                "plugin {} failed; restarting it in {} ms",
                self.program(),
                left.as_millis()
            ))
            .into());
        }
        if inner.proc.is_none() {
            crate::check_names(&self.group, &[])?;
            inner.proc = Some(self.spawn()?);
            inner.restart_at = None;
        }
        let params = json!({
            "protocol": PROTOCOL_VERSION,
            "group": self.group,
            "max_size": self.max_size,
            "config": self.config,
        });
        let answer = match self.exchange(inner, "init", &params).await {
            Ok(v) => serde_json::from_value::<InitResult>(v)
                .map_err(|e| format!("plugin {} answered init with an unexpected result: {e}", self.program())),
            Err(CallError::Rpc { code: CODE_CONFIG, message }) => Err(format!("plugin init: {message}")),
            Err(e) => {
                // Answered with an error that may pass (a plugin that did not answer is
                // stopped already): restart it later.
                if inner.proc.is_some() {
                    self.stop(inner, true).await;
                }
                return Err(e);
            }
        };
        let info = answer.and_then(|r| match r.protocol {
            Some(PROTOCOL_VERSION) => Ok(ProviderInfo {
                id: r.id,
                max_size: r.max_size.min(self.max_size),
                version: r.version,
                can_suspend: r.can_suspend,
            }),
            other => Err(format!(
                "plugin {} speaks protocol {}, not {PROTOCOL_VERSION}",
                self.program(),
                other.map_or("(none given)".to_string(), |v| v.to_string())
            )),
        });
        match info {
            Ok(info) => {
                tracing::info!(group = %self.group, plugin = %info.id, version = %info.version, "plugin initialised");
                inner.info = Some(info);
                Ok(())
            }
            Err(msg) => {
                tracing::error!(group = %self.group, error = %msg, "plugin configuration refused; not restarting it");
                self.stop(inner, false).await;
                inner.config_error = Some(msg.clone());
                Err(FleetError::Config(msg).into())
            }
        }
    }

    fn spawn(&self) -> Result<Proc, FleetError> {
        let Some((program, args)) = self.command.split_first() else {
            return Err(FleetError::Config("the plugin command is empty".into()));
        };
        let mut child = Command::new(program)
            .args(args)
            .env_clear()
            .envs(crate::process::passed_env("AUTOGIT_PLUGIN_"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                let msg = format!("starting plugin {program}: {e}");
                match e.kind() {
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => FleetError::Config(msg),
                    _ => FleetError::Unavailable(msg),
                }
            })?;
        let (Some(stdin), Some(stdout), Some(stderr)) = (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(FleetError::Unavailable(format!("plugin {program}: no pipes")));
        };
        let (group, pid) = (self.group.clone(), child.id());
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::info!(group = %group, pid, "plugin: {line}");
            }
        });
        tracing::info!(group = %self.group, program, pid, "plugin started");
        Ok(Proc { child, stdin, stdout: BufReader::new(stdout).lines() })
    }

    /// Sends one request and reads its answer. A broken pipe, an exit or a timeout stops the
    /// plugin (restart after backoff) and is `Unavailable`.
    async fn exchange(&self, inner: &mut Inner, method: &str, params: &Value) -> Result<Value, CallError> {
        inner.next_id += 1;
        let id = inner.next_id;
        let Some(proc) = inner.proc.as_mut() else {
            return Err(FleetError::Unavailable("the plugin is not running".into()).into());
        };
        let mut line = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string();
        line.push('\n');
        inner.dirty = true;
        let io = async {
            proc.stdin.write_all(line.as_bytes()).await?;
            proc.stdin.flush().await?;
            loop {
                let Some(line) = proc.stdout.next_line().await? else {
                    return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "it closed its stdout"));
                };
                match serde_json::from_str::<Value>(&line) {
                    Ok(v) if v.get("id").and_then(Value::as_u64) == Some(id) => return Ok(v),
                    _ => tracing::warn!(group = %self.group, method, line = %truncate(&line),
                        "skipping a plugin stdout line that is not the awaited answer"),
                }
            }
        };
        let outcome = tokio::time::timeout(self.call_timeout, io).await;
        inner.dirty = false;
        let mut answer = match outcome {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                // It may be exiting by itself: give it a moment, for its real exit status.
                if let Some(proc) = inner.proc.as_mut() {
                    let _ = tokio::time::timeout(Duration::from_millis(200), proc.child.wait()).await;
                }
                let status = self.stop(inner, true).await;
                let status = status.map(|s| format!(" ({s})")).unwrap_or_default();
                return Err(FleetError::Unavailable(format!(
                    "plugin {} failed during {method}{status}: {e}; it will be restarted",
                    self.program()
                ))
                .into());
            }
            Err(_) => {
                self.stop(inner, true).await;
                return Err(FleetError::Unavailable(format!(
                    "plugin {} did not answer {method} within {:?}; it will be restarted",
                    self.program(),
                    self.call_timeout
                ))
                .into());
            }
        };
        if let Some(err) = answer.get("error").filter(|e| !e.is_null()) {
            return Err(match serde_json::from_value::<RpcError>(err.clone()) {
                Ok(RpcError { code, message }) => CallError::Rpc { code, message },
                Err(e) => FleetError::Failed(format!("plugin {method}: malformed error object: {e}")).into(),
            });
        }
        Ok(answer.get_mut("result").map(Value::take).unwrap_or(Value::Null))
    }

    /// Kills the plugin (if any) and forgets its `init`. `failed`: the next start waits for the
    /// backoff, which then doubles. Returns the exit status when known.
    async fn stop(&self, inner: &mut Inner, failed: bool) -> Option<std::process::ExitStatus> {
        inner.info = None;
        inner.dirty = false;
        let status = match inner.proc.take() {
            Some(mut proc) => {
                drop(proc.stdin);
                match proc.child.try_wait() {
                    Ok(Some(status)) => Some(status),
                    _ => {
                        let _ = proc.child.start_kill();
                        tokio::time::timeout(Duration::from_secs(5), proc.child.wait()).await.ok().and_then(Result::ok)
                    }
                }
            }
            None => None,
        };
        // The backoff counts from the kill.
        let restart_in = failed.then_some(inner.backoff);
        inner.restart_at = restart_in.map(|d| Instant::now() + d);
        if failed {
            inner.backoff = (inner.backoff * 2).min(self.backoff_max);
        }
        tracing::warn!(group = %self.group, ?status, ?restart_in, "plugin stopped");
        status
    }

    fn fleet_error(&self, method: &str, e: CallError) -> FleetError {
        match e {
            CallError::Fleet(e) => e,
            CallError::Rpc { code, message } => {
                let msg = format!("plugin {method}: {message}");
                match code {
                    CODE_UNAVAILABLE => FleetError::Unavailable(msg),
                    // Also "method not found": this plugin cannot do what the group needs.
                    CODE_CONFIG | -32601 => FleetError::Config(msg),
                    _ => FleetError::Failed(msg),
                }
            }
        }
    }

    /// Suspend and resume go only to a plugin that said in `init` that it has them.
    async fn require_suspend(&self, inner: &mut Inner) -> Result<(), FleetError> {
        self.ensure_ready(inner).await.map_err(|e| self.fleet_error("init", e))?;
        match &inner.info {
            Some(info) if info.can_suspend => Ok(()),
            _ => Err(FleetError::Unsupported(format!("plugin of group {} cannot suspend instances", self.group))),
        }
    }

    async fn instances(&self, inner: &mut Inner) -> Result<Vec<Instance>, FleetError> {
        let r: UpdateResult = parse("update", self.call(inner, "update", &json!({})).await?)?;
        r.instances
            .into_iter()
            .map(|i| {
                let state = match i.state.as_str() {
                    "creating" => State::Creating,
                    "running" => State::Running,
                    "deleting" => State::Deleting,
                    "suspended" => State::Suspended,
                    "timed_out" => State::TimedOut,
                    other => {
                        return Err(FleetError::Failed(format!(
                            "plugin update: instance {}: unknown state {other:?}",
                            i.id
                        )));
                    }
                };
                let runner_id = i.runner_id.or_else(|| i.labels.get(RUNNER_LABEL).and_then(|v| v.parse().ok()));
                Ok(Instance { id: i.id, state, created_at: i.created_at, runner_id, labels: i.labels })
            })
            .collect()
    }
}

#[async_trait::async_trait]
impl InstanceGroup for PluginGroup {
    async fn init(&self) -> Result<ProviderInfo, FleetError> {
        let mut inner = self.inner.lock().await;
        self.ensure_ready(&mut inner).await.map_err(|e| self.fleet_error("init", e))?;
        inner.info.clone().ok_or_else(|| FleetError::Unavailable("the plugin is not initialised".into()))
    }

    async fn update(&self) -> Result<Vec<Instance>, FleetError> {
        let mut inner = self.inner.lock().await;
        self.instances(&mut inner).await
    }

    async fn increase(&self, launches: &[Launch]) -> Result<usize, FleetError> {
        crate::check_names(&self.group, launches)?;
        let mut inner = self.inner.lock().await;
        let room = self.max_size.saturating_sub(self.instances(&mut inner).await?.len());
        let launches = &launches[..launches.len().min(room)];
        if launches.is_empty() {
            return Ok(0);
        }
        let wire: Vec<Value> = launches
            .iter()
            .map(|l| {
                json!({
                    "name": l.name,
                    "server_url": l.server_url,
                    "runner_token": l.runner_token,
                    "runner_id": l.runner_id,
                    "concurrent": l.concurrent,
                    "register_args": l.register_args,
                })
            })
            .collect();
        let r: IncreaseResult =
            parse("increase", self.call(&mut inner, "increase", &json!({"launches": wire})).await?)?;
        Ok(r.started.min(launches.len()))
    }

    async fn decrease(&self, ids: &[String]) -> Result<Vec<String>, FleetError> {
        let mut inner = self.inner.lock().await;
        let r: DecreaseResult = parse("decrease", self.call(&mut inner, "decrease", &json!({"ids": ids})).await?)?;
        Ok(r.deleted.into_iter().filter(|d| ids.contains(d)).collect())
    }

    async fn suspend(&self, ids: &[String]) -> Result<Vec<String>, FleetError> {
        let mut inner = self.inner.lock().await;
        self.require_suspend(&mut inner).await?;
        let r: SuspendResult = parse("suspend", self.call(&mut inner, "suspend", &json!({"ids": ids})).await?)?;
        Ok(r.suspended.into_iter().filter(|d| ids.contains(d)).collect())
    }

    async fn resume(&self, ids: &[String]) -> Result<Vec<String>, FleetError> {
        let mut inner = self.inner.lock().await;
        self.require_suspend(&mut inner).await?;
        let r: ResumeResult = parse("resume", self.call(&mut inner, "resume", &json!({"ids": ids})).await?)?;
        Ok(r.resumed.into_iter().filter(|d| ids.contains(d)).collect())
    }

    async fn heartbeat(&self, id: &str) -> Result<bool, FleetError> {
        let mut inner = self.inner.lock().await;
        let r: HeartbeatResult = parse("heartbeat", self.call(&mut inner, "heartbeat", &json!({"id": id})).await?)?;
        Ok(r.healthy)
    }

    async fn shutdown(&self) -> Result<(), FleetError> {
        let mut inner = self.inner.lock().await;
        if inner.proc.is_none() || inner.info.is_none() || inner.dirty {
            self.stop(&mut inner, false).await;
            return Ok(());
        }
        let r = self.exchange(&mut inner, "shutdown", &json!({})).await;
        if let Some(proc) = inner.proc.as_mut() {
            // Give it a moment to exit by itself once its stdin closes.
            let _ = proc.stdin.shutdown().await;
            let _ = tokio::time::timeout(Duration::from_secs(5), proc.child.wait()).await;
        }
        self.stop(&mut inner, false).await;
        r.map(|_| ()).map_err(|e| self.fleet_error("shutdown", e))
    }
}

fn parse<T: serde::de::DeserializeOwned>(method: &str, v: Value) -> Result<T, FleetError> {
    serde_json::from_value(v)
        .map_err(|e| FleetError::Failed(format!("plugin answered {method} with an unexpected result: {e}")))
}

fn truncate(s: &str) -> String {
    match s.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_map_to_the_three_kinds() {
        let g = PluginGroup::new("g", vec!["x".into()], Value::Null, 1);
        let e = |code| g.fleet_error("m", CallError::Rpc { code, message: "boom".into() });
        assert!(matches!(e(CODE_UNAVAILABLE), FleetError::Unavailable(m) if m == "plugin m: boom"));
        assert!(matches!(e(CODE_FAILED), FleetError::Failed(_)));
        assert!(matches!(e(CODE_CONFIG), FleetError::Config(_)));
        assert!(matches!(e(-32601), FleetError::Config(_)));
        assert!(matches!(e(-32603), FleetError::Failed(_)));
    }

    #[test]
    fn truncate_keeps_short_lines() {
        assert_eq!(truncate("abc"), "abc");
        assert_eq!(truncate(&"x".repeat(300)).chars().count(), 201);
    }
}
