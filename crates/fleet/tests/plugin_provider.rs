//! The plugin provider: the protocol and its supervision against a stand-in plugin written in
//! Python (its behaviour is chosen by the ids and config it is sent), and the reference plugin
//! (`examples/fleet_plugin_process.rs`, built by `cargo build -p autogit-fleet --examples`)
//! driving the stand-in `autogit` of tests/common.
#![allow(clippy::unwrap_used)]

mod common;

use autogit_fleet::plugin::PluginGroup;
use autogit_fleet::{FleetError, InstanceGroup, State};
use common::{Reaper, launch, stand_in};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The stand-in plugin. argv[1] is a work directory where it logs each `init` (`inits.jsonl`,
/// with its pid) and each call (`calls.log`), and keeps its instances (`state.json`).
const PLUGIN: &str = r##"
import json, os, sys, time
work = sys.argv[1]
def path(n): return os.path.join(work, n)
def log(n, line):
    with open(path(n), "a") as f: f.write(line + "\n")
def load():
    try:
        with open(path("state.json")) as f: return json.load(f)
    except FileNotFoundError: return []
def save(s):
    with open(path("state.json"), "w") as f: json.dump(s, f)
def out(obj):
    sys.stdout.write(json.dumps(obj) + "\n"); sys.stdout.flush()
sys.stderr.write("stand-in plugin %d up\n" % os.getpid()); sys.stderr.flush()
group, config = None, {}
for line in sys.stdin:
    req = json.loads(line); rid = req["id"]; m = req["method"]; p = req.get("params") or {}
    log("calls.log", m + " " + str(p.get("id", "")))
    def ok(r): out({"jsonrpc": "2.0", "id": rid, "result": r})
    def err(c, msg): out({"jsonrpc": "2.0", "id": rid, "error": {"code": c, "message": msg}})
    if m == "init":
        group, config = p["group"], p["config"]
        log("inits.jsonl", json.dumps({"pid": os.getpid(), "params": p}))
        log("env.json", json.dumps(sorted(os.environ.keys())))
        if config.get("init_error") == "config": err(-32003, "bad credentials file"); continue
        if config.get("init_error") == "unavailable": err(-32001, "cloud down"); continue
        ok({"id": "py/" + group, "max_size": config.get("max_size", 10), "version": "test",
            "protocol": config.get("protocol", 1), "can_suspend": config.get("can_suspend", False)})
    elif m == "update":
        ok({"instances": load()})
    elif m == "increase":
        s = load()
        for l in p["launches"]:
            s.append({"id": l["name"], "state": "running", "created_at": int(time.time() * 1000),
                      "runner_id": l["runner_id"], "labels": {"autogit.group": group,
                      "autogit.runner": str(l["runner_id"]), "autogit.instance": l["name"],
                      "token": l["runner_token"]}})
        save(s); ok({"started": len(p["launches"])})
    elif m == "decrease":
        save([i for i in load() if i["id"] not in p["ids"]]); ok({"deleted": p["ids"]})
    elif m in ("suspend", "resume"):
        frm, to = ("running", "suspended") if m == "suspend" else ("suspended", "creating")
        s = load(); done = []
        for x in s:
            if x["id"] in p["ids"] and x["state"] in (frm, to):
                if x["state"] == frm or m == "suspend": done.append(x["id"])
                x["state"] = to
        save(s); ok({"suspended" if m == "suspend" else "resumed": done})
    elif m == "heartbeat":
        i = p["id"]
        if i == "crash": os._exit(3)
        elif i == "hang": time.sleep(3600)
        elif i == "auth-once" and not os.path.exists(path("auth-used")):
            open(path("auth-used"), "w").close(); err(-32001, "token expired")
        elif i == "auth-once": ok({"healthy": True})
        elif i == "auth-always": err(-32001, "token expired")
        elif i == "failed": err(-32002, "api said no")
        elif i == "noise":
            sys.stdout.write("not json\n"); out({"jsonrpc": "2.0", "id": 999999, "result": {}}); ok({"healthy": True})
        else: ok({"healthy": any(x["id"] == i for x in load())})
    elif m == "shutdown":
        ok({}); sys.exit(0)
    else:
        err(-32601, "method not found")
"##;

struct Stand {
    _tmp: tempfile::TempDir,
    work: PathBuf,
}

impl Stand {
    fn new() -> Stand {
        let tmp = tempfile::tempdir().unwrap();
        let work = tmp.path().to_path_buf();
        std::fs::write(work.join("plugin.py"), PLUGIN).unwrap();
        Stand { _tmp: tmp, work }
    }

    fn command(&self) -> Vec<String> {
        vec![python(), self.work.join("plugin.py").display().to_string(), self.work.display().to_string()]
    }

    fn group(&self, config: Value, max_size: usize) -> PluginGroup {
        PluginGroup::new("g", self.command(), config, max_size)
            .with_restart_backoff(Duration::from_millis(300), Duration::from_secs(2))
    }

    /// Every `init` the plugin received: (pid, params).
    fn inits(&self) -> Vec<(i32, Value)> {
        let text = std::fs::read_to_string(self.work.join("inits.jsonl")).unwrap_or_default();
        text.lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                (v["pid"].as_i64().unwrap() as i32, v["params"].clone())
            })
            .collect()
    }

    /// How many times the plugin received `line` ("method id").
    fn calls(&self, line: &str) -> usize {
        let text = std::fs::read_to_string(self.work.join("calls.log")).unwrap_or_default();
        text.lines().filter(|l| l.trim_end() == line).count()
    }
}

/// The interpreter itself, not a wrapper script (a version manager's shim sets variables of its
/// own, which would read as leaked into the plugin).
fn python() -> String {
    let out = std::process::Command::new("python3").args(["-c", "import sys; print(sys.executable)"]).output();
    out.ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "python3".into())
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| s.rsplit_once(')').is_some_and(|(_, r)| !r.trim_start().starts_with('Z')))
}

#[tokio::test]
async fn protocol_round_trip() {
    let s = Stand::new();
    let fleet = s.group(json!({"max_size": 10, "region": "eu"}), 3);
    let info = fleet.init().await.unwrap();
    assert_eq!((info.id.as_str(), info.max_size, info.version.as_str()), ("py/g", 3, "test"));
    let inits = s.inits();
    assert_eq!(inits.len(), 1);
    assert_eq!(
        inits[0].1,
        json!({"protocol": 1, "group": "g", "max_size": 3, "config": {"max_size": 10, "region": "eu"}})
    );
    // init again: the running plugin is not re-initialised.
    fleet.init().await.unwrap();
    assert!(fleet.update().await.unwrap().is_empty());

    assert_eq!(fleet.increase(&[launch("a", "glrt-aaa", 11), launch("b", "glrt-bbb", 12)]).await.unwrap(), 2);
    let list = fleet.update().await.unwrap();
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(
        (list[0].id.as_str(), list[0].state, list[0].runner_id),
        ("a", State::Running, Some(autogit_core::RunnerId::new(11)))
    );
    assert_eq!(list[1].labels["autogit.instance"], "b");
    assert_eq!(list[1].labels["token"], "glrt-bbb", "the launch reached the plugin whole");
    assert!(list[0].created_at > 1_600_000_000_000);

    // max_size 3: of two more launches only one is sent; an invalid name is refused up front.
    assert_eq!(fleet.increase(&[launch("c", "glrt-c", 13), launch("d", "glrt-d", 14)]).await.unwrap(), 1);
    assert_eq!(fleet.update().await.unwrap().len(), 3);
    assert!(matches!(fleet.increase(&[launch("../x", "glrt-x", 1)]).await, Err(FleetError::Config(_))));

    assert!(fleet.heartbeat("a").await.unwrap());
    assert!(!fleet.heartbeat("nope").await.unwrap());
    assert_eq!(fleet.decrease(&["a".into(), "zzz".into()]).await.unwrap(), vec!["a".to_string(), "zzz".to_string()]);
    assert_eq!(fleet.update().await.unwrap().len(), 2);

    // Errors and stray stdout lines; concurrent calls each get their own answer.
    assert!(matches!(fleet.heartbeat("failed").await, Err(FleetError::Failed(m)) if m.contains("api said no")));
    assert!(fleet.heartbeat("noise").await.unwrap());
    let ids = ["b", "c", "nope", "a", "b", "x", "c", "noise"];
    let answers = futures_util::future::join_all(ids.iter().map(|id| fleet.heartbeat(id))).await;
    let answers: Vec<bool> = answers.into_iter().map(Result::unwrap).collect();
    assert_eq!(answers, vec![true, true, false, false, true, false, true, true]);

    let pid = inits[0].0;
    fleet.shutdown().await.unwrap();
    assert_eq!(s.calls("shutdown"), 1);
    assert!(!alive(pid), "the plugin exited after shutdown");
    assert_eq!(s.inits().len(), 1, "one plugin process served every call");
}

/// The server's environment holds its secrets; a plugin sees only the common settings and the
/// `AUTOGIT_PLUGIN_*` variables meant for it. (The test process's own environment — cargo's and
/// the harness's variables — stands in for the server's.)
#[tokio::test]
async fn a_plugin_never_sees_the_servers_environment() {
    assert!(std::env::vars().any(|(k, _)| k.starts_with("CARGO_")), "the test runs under cargo");
    let s = Stand::new();
    let fleet = s.group(json!({}), 3);
    fleet.init().await.unwrap();
    let env = std::fs::read_to_string(s.work.join("env.json")).unwrap();
    let keys: Vec<String> = serde_json::from_str(env.lines().next().unwrap()).unwrap();
    assert!(keys.contains(&"PATH".to_string()), "{keys:?}");
    const COMMON: &[&str] =
        &["PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "RUST_LOG", "RUST_BACKTRACE", "USER", "LOGNAME"];
    let leaked: Vec<&String> = keys
        .iter()
        .filter(|k| {
            !COMMON.contains(&k.as_str())
                && !k.starts_with("AUTOGIT_PLUGIN_")
                && !k.contains("PROXY")
                && !k.contains("proxy")
        })
        .filter(|k| !k.starts_with("SSL_CERT_") && !k.starts_with("DOCKER_") && *k != "SSH_AUTH_SOCK")
        // Python sets this one itself at start-up.
        .filter(|k| *k != "LC_CTYPE")
        .collect();
    assert!(leaked.is_empty(), "the server's environment reached the plugin: {leaked:?}");
    fleet.shutdown().await.unwrap();
}

#[tokio::test]
async fn suspend_and_resume_reach_a_plugin_that_offers_them_only() {
    let s = Stand::new();
    let plain = s.group(json!({}), 3);
    assert!(!plain.init().await.unwrap().can_suspend);
    assert!(matches!(plain.suspend(&["a".into()]).await, Err(FleetError::Unsupported(_))));
    assert!(matches!(plain.resume(&["a".into()]).await, Err(FleetError::Unsupported(_))));
    assert_eq!(s.calls("suspend "), 0, "not sent to a plugin that did not offer it");
    plain.shutdown().await.unwrap();

    let s = Stand::new();
    let fleet = s.group(json!({"can_suspend": true}), 3);
    assert!(fleet.init().await.unwrap().can_suspend);
    assert_eq!(fleet.increase(&[launch("a", "glrt-aaa", 11), launch("b", "glrt-bbb", 12)]).await.unwrap(), 2);
    let ids = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(fleet.suspend(&ids(&["a", "zzz"])).await.unwrap(), ids(&["a"]));
    let list = fleet.update().await.unwrap();
    assert_eq!((list[0].state, list[1].state), (State::Suspended, State::Running));
    assert_eq!(fleet.suspend(&ids(&["a"])).await.unwrap(), ids(&["a"]), "already suspended counts as done");
    assert_eq!(fleet.resume(&ids(&["a", "b"])).await.unwrap(), ids(&["a"]), "b was not suspended");
    assert_eq!(fleet.update().await.unwrap()[0].state, State::Creating);
    fleet.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_crash_mid_call_restarts_the_plugin_after_a_backoff() {
    let s = Stand::new();
    // Backoff 500 ms, 1 s, 2 s …: every "still waiting" check below has ≥ 500 ms of slack.
    let fleet = s.group(json!({}), 5).with_restart_backoff(Duration::from_millis(500), Duration::from_secs(4));
    fleet.increase(&[launch("a", "glrt-a", 1)]).await.unwrap();
    let first = s.inits()[0].0;

    let e = fleet.heartbeat("crash").await.unwrap_err();
    assert!(matches!(&e, FleetError::Unavailable(m) if m.contains("exit status: 3")), "{e:?}");
    // Within the backoff: Unavailable at once, nothing started.
    assert!(matches!(fleet.update().await, Err(FleetError::Unavailable(m)) if m.contains("restarting it in")));
    assert_eq!(s.inits().len(), 1);

    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(fleet.heartbeat("a").await.unwrap(), "the restarted plugin answers");
    let inits = s.inits();
    assert_eq!(inits.len(), 2, "init was sent again");
    assert_ne!(inits[1].0, first);
    assert!(!alive(first));

    // The backoff doubles while failures repeat (500 ms, then 1 s) …
    assert!(fleet.heartbeat("crash").await.is_err());
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(fleet.heartbeat("crash").await.is_err());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(matches!(fleet.update().await, Err(FleetError::Unavailable(m)) if m.contains("restarting it in")));
    tokio::time::sleep(Duration::from_millis(800)).await;
    // … and resets after a call that works.
    assert_eq!(fleet.update().await.unwrap().len(), 1);
    assert!(fleet.heartbeat("crash").await.is_err());
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(fleet.update().await.unwrap().len(), 1);
    assert_eq!(s.inits().len(), 5);
}

#[tokio::test]
async fn a_call_that_times_out_kills_and_restarts_the_plugin() {
    let s = Stand::new();
    let fleet = s.group(json!({}), 5).with_call_timeout(Duration::from_millis(700));
    fleet.init().await.unwrap();
    let first = s.inits()[0].0;
    let t = Instant::now();
    let e = fleet.heartbeat("hang").await.unwrap_err();
    assert!(matches!(&e, FleetError::Unavailable(m) if m.contains("did not answer heartbeat")), "{e:?}");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert!(!alive(first), "the hung plugin was killed");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(!fleet.heartbeat("a").await.unwrap());
    assert_eq!(s.inits().len(), 2);
}

#[tokio::test]
async fn a_config_error_from_init_is_not_retried_in_a_loop() {
    let s = Stand::new();
    let fleet = s.group(json!({"init_error": "config"}), 5);
    assert!(matches!(fleet.init().await, Err(FleetError::Config(m)) if m.contains("bad credentials file")));
    for _ in 0..3 {
        assert!(matches!(fleet.update().await, Err(FleetError::Config(_))));
        assert!(matches!(fleet.heartbeat("a").await, Err(FleetError::Config(_))));
        tokio::time::sleep(Duration::from_millis(350)).await;
    }
    assert!(matches!(fleet.init().await, Err(FleetError::Config(_))));
    assert_eq!(s.inits().len(), 1, "started once");
    assert!(!alive(s.inits()[0].0));

    // Another protocol version is a config error too.
    let s = Stand::new();
    let fleet = s.group(json!({"protocol": 2}), 5);
    assert!(matches!(fleet.init().await, Err(FleetError::Config(m)) if m.contains("protocol 2")));
    assert!(matches!(fleet.update().await, Err(FleetError::Config(_))));
    assert_eq!(s.inits().len(), 1);

    // A missing program.
    let fleet = PluginGroup::new("g", vec!["/nonexistent/fleet-plugin".into()], json!({}), 5);
    assert!(matches!(fleet.init().await, Err(FleetError::Config(_))));
    let fleet = PluginGroup::new("g", vec![], json!({}), 5);
    assert!(matches!(fleet.update().await, Err(FleetError::Config(_))));
}

#[tokio::test]
async fn an_unavailable_init_backs_off() {
    let s = Stand::new();
    let fleet = s.group(json!({"init_error": "unavailable"}), 5);
    assert!(matches!(fleet.init().await, Err(FleetError::Unavailable(m)) if m.contains("cloud down")));
    assert!(matches!(fleet.update().await, Err(FleetError::Unavailable(m)) if m.contains("restarting it in")));
    assert_eq!(s.inits().len(), 1);
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert!(fleet.update().await.is_err());
    assert_eq!(s.inits().len(), 2, "retried after the backoff");
}

#[tokio::test]
async fn an_unavailable_answer_restarts_the_plugin_once_and_retries_once() {
    let s = Stand::new();
    let fleet = s.group(json!({}), 5);
    fleet.init().await.unwrap();
    // Expired once: restart, init, retry, success.
    assert!(fleet.heartbeat("auth-once").await.unwrap());
    assert_eq!((s.inits().len(), s.calls("heartbeat auth-once")), (2, 2));
    assert!(!alive(s.inits()[0].0));
    // Expired for good: one restart and one retry only, then Unavailable.
    assert!(
        matches!(fleet.heartbeat("auth-always").await, Err(FleetError::Unavailable(m)) if m.contains("token expired"))
    );
    assert_eq!((s.inits().len(), s.calls("heartbeat auth-always")), (3, 2));
    // The plugin still answers, so the next call needs no restart.
    assert!(!fleet.heartbeat("x").await.unwrap());
    assert_eq!(s.inits().len(), 3);
}

/// `target/<profile>/examples/fleet_plugin_process`, next to this test's `deps/` directory.
fn reference_plugin() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let profile_dir: &Path = exe.parent()?.parent()?;
    Some(profile_dir.join("examples").join("fleet_plugin_process")).filter(|p| p.is_file())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_plugin_runs_runner_processes() {
    let Some(plugin) = reference_plugin() else {
        eprintln!("SKIPPED: build the reference plugin first (cargo build -p autogit-fleet --examples)");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let bin = stand_in(tmp.path());
    let state = tmp.path().join("state");
    let _reaper = Reaper(state.clone());
    let config = json!({"state_dir": state, "autogit_bin": bin, "grace_seconds": 5});
    let fleet = PluginGroup::new("ci", vec![plugin.display().to_string()], config, 2);

    let info = fleet.init().await.unwrap();
    assert_eq!((info.id.as_str(), info.max_size), ("fleet_plugin_process/ci", 2));
    assert!(fleet.update().await.unwrap().is_empty());
    assert_eq!(fleet.increase(&[launch("a", "glrt-aaa", 11)]).await.unwrap(), 1);
    let list = fleet.update().await.unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(
        (list[0].id.as_str(), list[0].state, list[0].runner_id),
        ("a", State::Running, Some(autogit_core::RunnerId::new(11)))
    );
    assert_eq!(list[0].labels["autogit.group"], "ci");
    assert!(fleet.heartbeat("a").await.unwrap());
    assert!(std::fs::read_to_string(state.join("a/runner.toml")).unwrap().contains("glrt-aaa"));
    // A bad token: the plugin's increase fails and says why.
    assert!(matches!(fleet.increase(&[launch("b", "bad", 12)]).await, Err(FleetError::Failed(m)) if m.contains("403")));

    assert_eq!(fleet.decrease(&["a".into()]).await.unwrap(), vec!["a".to_string()]);
    assert!(fleet.update().await.unwrap().is_empty());
    assert!(!state.join("a").exists());
    fleet.shutdown().await.unwrap();
}
