//! CI helpers for tests: real `autogit runner` processes registered against the test server,
//! and polling for pipeline and job states.

use super::Server;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A registered `autogit runner run` process; killed on drop.
pub struct RunnerProcess {
    child: Option<Child>,
    pub config: PathBuf,
    pub id: i64,
    _dir: tempfile::TempDir,
}

impl RunnerProcess {
    /// Creates an instance runner with these tags through the API, registers it with
    /// `autogit runner register`, and starts `autogit runner run`.
    pub fn start(s: &Server, tags: &[&str], concurrent: usize, extra: &[&str]) -> RunnerProcess {
        let mut r = RunnerProcess::register(s, tags, concurrent, extra);
        r.run();
        r
    }

    /// As [`RunnerProcess::start`], without starting `autogit runner run` (so that a test can
    /// change the configuration first, see [`RunnerProcess::configure`]).
    pub fn register(s: &Server, tags: &[&str], concurrent: usize, extra: &[&str]) -> RunnerProcess {
        let tag_list = tags.join(",");
        let untagged = if tags.is_empty() { "true" } else { "false" };
        let created = s.post(
            "/user/runners",
            &s.root_token,
            &[("runner_type", "instance_type"), ("tag_list", &tag_list), ("run_untagged", untagged)],
        );
        let token = created["token"].as_str().expect("runner token").to_string();
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("runner.toml");
        let out = Command::new(env!("CARGO_BIN_EXE_autogit"))
            .args(["runner", "register", "--url", &s.url, "--token", &token, "--concurrent", &concurrent.to_string()])
            .arg("--runner-config")
            .arg(&config)
            .arg("--builds-dir")
            .arg(dir.path().join("builds"))
            .args(extra)
            .output()
            .expect("register runs");
        assert!(out.status.success(), "register: {}", String::from_utf8_lossy(&out.stderr));
        RunnerProcess { child: None, config, id: created["id"].as_i64().expect("id"), _dir: dir }
    }

    /// Sets `[table] key = value` in the runner's configuration file (e.g. a timeout).
    pub fn configure(&self, table: &str, key: &str, value: i64) {
        let text = std::fs::read_to_string(&self.config).expect("runner config");
        let mut doc: toml::Table = toml::from_str(&text).expect("runner config is TOML");
        let t = doc.entry(table).or_insert_with(|| toml::Value::Table(Default::default()));
        t.as_table_mut().expect("a table").insert(key.to_string(), toml::Value::Integer(value));
        std::fs::write(&self.config, toml::to_string(&doc).expect("TOML")).expect("write runner config");
    }

    /// Where the runner keeps final states the server has not confirmed.
    pub fn pending_dir(&self) -> PathBuf {
        self.config.with_extension("pending")
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Sends a signal (e.g. "QUIT") to the runner process.
    pub fn signal(&self, sig: &str) {
        let pid = self.pid().to_string();
        let ok = Command::new("kill").args([&format!("-{sig}"), &pid]).status().expect("kill runs");
        assert!(ok.success(), "kill -{sig} {pid}");
    }

    /// Waits up to `timeout` for the runner to exit: its status, or `None` if it still runs.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        loop {
            let child = self.child.as_mut().expect("running");
            if let Some(status) = child.try_wait().expect("try_wait") {
                self.child = None;
                return Some(status);
            }
            if start.elapsed() >= timeout {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// (Re)starts `autogit runner run` with the registered configuration.
    pub fn run(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new(env!("CARGO_BIN_EXE_autogit"))
            .args(["runner", "run", "--runner-config"])
            .arg(&self.config)
            .env("RUST_LOG", "info")
            // Jobs' temporary files (scenario markers) live and die with this runner, so that
            // a later run on a reused port and pipeline id does not find them.
            .env("TMPDIR", self._dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("runner starts");
        self.child = Some(child);
    }

    /// SIGKILL: the runner vanishes mid-job without a word (its job processes too, as their
    /// process group is the runner's child's).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn builds_dir(&self) -> PathBuf {
        self._dir.path().join("builds")
    }
}

impl Drop for RunnerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Commits the files of `dir` as a new repository and pushes them to `root/<name>`, `main`.
pub fn push_dir(s: &Server, name: &str, dir: &Path) {
    super::git_ok(dir, &["init", "-q", "-b", "main"]);
    super::git_ok(dir, &["add", "-A"]);
    super::git_ok(dir, &["commit", "-q", "-m", "CI scenario"]);
    super::git_ok(dir, &["push", "-q", &s.git_url(&format!("root/{name}"), &s.root_token), "main"]);
}

/// Creates `root/<name>` and pushes the files of `dir` to `main`.
pub fn push_project(s: &Server, name: &str, dir: &Path) -> i64 {
    let p = s.post("/projects", &s.root_token, &[("name", name)]);
    let id = p["id"].as_i64().expect("project id");
    push_dir(s, name, dir);
    id
}

/// Creates `root/<name>` with only this `.gitlab-ci.yml` and pushes it; returns the project id.
pub fn push_ci(s: &Server, name: &str, ci: &str) -> i64 {
    let work = tempfile::tempdir().expect("tempdir");
    std::fs::write(work.path().join(".gitlab-ci.yml"), ci).expect("write .gitlab-ci.yml");
    push_project(s, name, work.path())
}

/// Polls `f` every 50 ms until it returns `Some`, or panics with `what` and the last state.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Result<T, String>) -> T {
    let start = Instant::now();
    let mut last = String::new();
    while start.elapsed() < timeout {
        match f() {
            Ok(v) => return v,
            Err(state) => last = state,
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out after {timeout:?} waiting for {what}; last state: {last}");
}

/// The newest pipeline of a project, once there is one.
pub fn latest_pipeline(s: &Server, project: i64) -> Value {
    wait_for("a pipeline", Duration::from_secs(30), || {
        let list = s.get_json(&format!("/projects/{project}/pipelines"), &s.root_token);
        list.as_array().and_then(|a| a.first().cloned()).ok_or_else(|| "no pipeline".to_string())
    })
}

/// An autoscaled pool as `GET /admin/ci/pools` shows it; `null` until the autoscaler has
/// published it.
pub fn pool(s: &Server, name: &str) -> Value {
    let all = s.get_json("/admin/ci/pools", &s.root_token);
    all.as_array().and_then(|a| a.iter().find(|p| p["name"] == name).cloned()).unwrap_or(Value::Null)
}

/// The trace of a job.
pub fn trace(s: &Server, project: i64, job: i64) -> String {
    s.get(&format!("/projects/{project}/jobs/{job}/trace"), &s.root_token).text().expect("trace")
}
