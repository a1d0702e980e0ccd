//! Test harness: starts the real `autogit` binary on port 0 with its own data directory (SQLite,
//! or a fresh PostgreSQL schema), and drives it with the real `git` CLI and real HTTP.
#![allow(dead_code)]

pub mod browser;
pub mod ci;
pub mod hook_listener;
pub mod job_api;
pub mod web_fixture;
pub mod webdriver;

use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::Duration;

pub const ROOT_PASSWORD: &str = "root-password-for-tests";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The backends to run a scenario on: SQLite always, PostgreSQL when configured.
pub fn backends() -> Vec<Backend> {
    let mut b = vec![Backend::Sqlite];
    if std::env::var("AUTOGIT_TEST_POSTGRES_URL").is_ok_and(|v| !v.is_empty()) {
        b.push(Backend::Postgres);
    } else {
        eprintln!("PostgreSQL variant not run: AUTOGIT_TEST_POSTGRES_URL not set");
    }
    b
}

pub struct Server {
    child: Child,
    pub url: String,
    pub data: tempfile::TempDir,
    pub database_url: Option<String>,
    schema: Option<String>,
    pub root_token: String,
    /// The SSH server's address, when the server was started with `AUTOGIT_SSH_LISTEN`.
    pub ssh_addr: Option<String>,
    pub stdout: mpsc::Receiver<String>,
    http: Client,
    env: Vec<(String, String)>,
    /// A command the server runs under (`unshare …`), with the server's own command line
    /// appended as its last arguments; empty to run it directly.
    wrapper: Vec<String>,
}

/// Starts `autogit serve` over `data`; returns the child, its stdout lines and its URL.
// The child is returned to `Server`, which kills and waits for it on drop.
#[allow(clippy::zombie_processes)]
fn spawn(
    data: &Path,
    database_url: Option<&str>,
    env: &[(String, String)],
    listen: &str,
    wrapper: &[String],
) -> (Child, mpsc::Receiver<String>, String, Option<String>) {
    let mut cmd = match wrapper.split_first() {
        Some((program, args)) => {
            let mut c = Command::new(program);
            c.args(args).arg(env!("CARGO_BIN_EXE_autogit"));
            c
        }
        None => Command::new(env!("CARGO_BIN_EXE_autogit")),
    };
    cmd.args(["serve", "--listen", listen, "--data-dir"])
        .arg(data)
        .env("AUTOGIT_ROOT_PASSWORD", ROOT_PASSWORD)
        .env("AUTOGIT_LOG_LEVEL", "info,autogit=debug")
        // Tests that want the built-in runner turn it on; the others see no runner at all.
        .env("AUTOGIT_CI_BUILTIN_RUNNER_CONCURRENT", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(u) = database_url {
        cmd.env("AUTOGIT_DATABASE_URL", u);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("autogit starts");
    let stdout = child.stdout.take().expect("stdout piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("[autogit] {line}");
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut ssh = None;
    loop {
        let line = rx.recv_timeout(Duration::from_secs(60)).expect("server prints its address");
        if let Some(addr) = line.strip_prefix("SSH server on ").and_then(|r| r.split_whitespace().next()) {
            ssh = Some(addr.to_string());
        }
        if let Some(url) = line.split("listening on ").nth(1).and_then(|r| r.split_whitespace().next()) {
            return (child, rx, url.to_string(), ssh);
        }
    }
}

static SCHEMA_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A fresh schema per server, so runs never see each other's rows; dropped with the server.
fn postgres_schema_url() -> (String, String) {
    let base = std::env::var("AUTOGIT_TEST_POSTGRES_URL").expect("AUTOGIT_TEST_POSTGRES_URL");
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let schema = format!("it_{}_{}_{}", std::process::id(), SCHEMA_COUNTER.fetch_add(1, Ordering::SeqCst), nanos);
    let out = Command::new("psql")
        .args([base.as_str(), "-q", "-v", "ON_ERROR_STOP=1", "-c", &format!("CREATE SCHEMA {schema}")])
        .output()
        .expect("psql runs");
    assert!(out.status.success(), "creating schema: {}", String::from_utf8_lossy(&out.stderr));
    let sep = if base.contains('?') { '&' } else { '?' };
    (format!("{base}{sep}options=-c%20search_path%3D{schema}"), schema)
}

impl Server {
    pub fn start() -> Server {
        Server::start_on(Backend::Sqlite)
    }

    pub fn start_on(backend: Backend) -> Server {
        Server::start_with(backend, &[])
    }

    pub fn start_with(backend: Backend, env: &[(&str, &str)]) -> Server {
        Server::start_listening(backend, env, "127.0.0.1:0")
    }

    /// As [`Server::start_with`], listening on `listen` (e.g. an address that another network
    /// namespace reaches; its URL is then also the runners' server URL).
    pub fn start_listening(backend: Backend, env: &[(&str, &str)], listen: &str) -> Server {
        Server::start_wrapped(backend, env, listen, |_| Vec::new())
    }

    /// As [`Server::start_listening`], with the server run under the command `wrapper` returns
    /// for its data directory (e.g. `unshare --mount … sh -c '…; exec "$@"' sh`); the server's
    /// command line is appended to it. The wrapper must `exec` it, so that the child is the
    /// server itself.
    pub fn start_wrapped(
        backend: Backend,
        env: &[(&str, &str)],
        listen: &str,
        wrapper: impl FnOnce(&Path) -> Vec<String>,
    ) -> Server {
        let data = tempfile::tempdir().expect("tempdir");
        // Owner-only, as AutoGit creates a data directory itself (it only warns about a looser
        // one it finds, which tests of file modes would otherwise see).
        std::fs::set_permissions(data.path(), std::os::unix::fs::PermissionsExt::from_mode(0o700)).expect("chmod");
        let wrapper = wrapper(data.path());
        let (database_url, schema) = match backend {
            Backend::Postgres => {
                let (url, schema) = postgres_schema_url();
                (Some(url), Some(schema))
            }
            Backend::Sqlite => (None, None),
        };
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let (child, rx, url, ssh_addr) = spawn(data.path(), database_url.as_deref(), &env, listen, &wrapper);
        let mut server = Server {
            child,
            url,
            data,
            database_url,
            schema,
            root_token: String::new(),
            ssh_addr,
            stdout: rx,
            http: Client::builder().timeout(Duration::from_secs(60)).build().expect("client"),
            env,
            wrapper,
        };
        server.root_token = server.create_token("root", "tests", "api");
        server
    }

    /// SIGKILLs the server (no shutdown at all, as a crash) and starts it again on the same
    /// address, data directory and database.
    pub fn crash_and_restart(&mut self) {
        self.crash();
        self.restart();
    }

    /// SIGKILLs the server (a crash) and reaps it; [`Server::restart`] brings it back.
    pub fn crash(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the server again (after [`Server::crash`] or an exit) on the same address, data
    /// directory and database.
    pub fn restart(&mut self) {
        let listen = self.url.trim_start_matches("http://").to_string();
        let (child, rx, url, ssh_addr) =
            spawn(self.data.path(), self.database_url.as_deref(), &self.env, &listen, &self.wrapper);
        self.child = child;
        self.ssh_addr = ssh_addr;
        self.stdout = rx;
        self.url = url;
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The rows `sql` gives from this server's database, one line each, read around the server
    /// with the database's own client (`sqlite3`, or `psql` in this test's schema). Statements
    /// that change rows work too (their rows, if any, are returned).
    pub fn db_rows(&self, sql: &str) -> Vec<String> {
        let out = match &self.database_url {
            Some(url) => Command::new("psql").args([url.as_str(), "-qAt", "-v", "ON_ERROR_STOP=1", "-c", sql]).output(),
            None => Command::new("sqlite3").arg(self.data.path().join("autogit.db")).arg(sql).output(),
        }
        .expect("sqlite3 (or psql) is installed: the test reads the database around the server");
        assert!(out.status.success(), "{sql}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("utf8").lines().map(str::to_string).collect()
    }

    /// Runs `autogit <args>` against this server's data directory / database.
    pub fn autogit(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_autogit"));
        cmd.arg("--data-dir").arg(self.data.path()).args(args);
        if let Some(u) = &self.database_url {
            cmd.env("AUTOGIT_DATABASE_URL", u);
        }
        cmd.output().expect("autogit runs")
    }

    pub fn create_token(&self, user: &str, name: &str, scopes: &str) -> String {
        let out = self.autogit(&["admin", "token", "create", "--user", user, "--name", name, "--scopes", scopes]);
        assert!(out.status.success(), "token create: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("utf8").lines().last().expect("token line").trim().to_string()
    }

    /// Creates a user with a token of the given scopes; returns (id, token).
    pub fn user(&self, username: &str, scopes: &str) -> (i64, String) {
        let v = self.post(
            "/users",
            &self.root_token,
            &[
                ("username", username),
                ("name", username),
                ("email", &format!("{username}@example.com")),
                ("password", "a-long-password"),
            ],
        );
        let id = v["id"].as_i64().unwrap_or_else(|| panic!("user created: {v}"));
        (id, self.create_token(username, "t", scopes))
    }

    /// A project `app` in a new group `name`, with a developer `<name>-dev` and a maintainer
    /// `<name>-maint`: (project id, developer token, maintainer token).
    pub fn team_project(&self, name: &str) -> (i64, String, String) {
        let g = self.post("/groups", &self.root_token, &[("name", name), ("path", name)]);
        let p = self.post("/projects", &self.root_token, &[("name", "app"), ("namespace_id", &g["id"].to_string())]);
        let pid = p["id"].as_i64().expect("project id");
        let mut tokens = Vec::new();
        for (role, level) in [("dev", "30"), ("maint", "40")] {
            let (uid, token) = self.user(&format!("{name}-{role}"), "api");
            let form = [("user_id", uid.to_string()), ("access_level", level.to_string())];
            let r = self.req(reqwest::Method::POST, &format!("/projects/{pid}/members"), &self.root_token).form(&form);
            assert_eq!(r.send().expect("member").status(), 201, "{name}-{role} joins");
            tokens.push(token);
        }
        let maint = tokens.pop().expect("maintainer");
        (pid, tokens.pop().expect("developer"), maint)
    }

    pub fn req(&self, method: reqwest::Method, path: &str, token: &str) -> RequestBuilder {
        let r = self.http.request(method, format!("{}/api/v4{path}", self.url));
        if token.is_empty() { r } else { r.header("PRIVATE-TOKEN", token) }
    }

    pub fn get(&self, path: &str, token: &str) -> Response {
        self.req(reqwest::Method::GET, path, token).send().expect("request")
    }

    pub fn get_json(&self, path: &str, token: &str) -> Value {
        let r = self.get(path, token);
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().expect("json")
    }

    /// POSTs a form and returns the JSON, asserting success.
    pub fn post(&self, path: &str, token: &str, form: &[(&str, &str)]) -> Value {
        let r = self.req(reqwest::Method::POST, path, token).form(form).send().expect("request");
        let status = r.status();
        let v: Value = r.json().unwrap_or(Value::Null);
        assert!(status.is_success(), "POST {path} {form:?}: {status} {v}");
        v
    }

    pub fn raw(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// The URL of a repository with credentials embedded (or anonymous when `token` is empty).
    pub fn git_url(&self, full_path: &str, token: &str) -> String {
        let host = self.url.trim_start_matches("http://");
        if token.is_empty() {
            format!("http://{host}/{full_path}.git")
        } else {
            format!("http://u:{token}@{host}/{full_path}.git")
        }
    }

    /// Sends a signal (e.g. "TERM") without waiting.
    pub fn signal(&self, sig: &str) {
        Command::new("kill").args([&format!("-{sig}"), &self.child.id().to_string()]).status().expect("kill");
    }

    pub fn wait(&mut self) -> std::process::ExitStatus {
        self.child.wait().expect("wait")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Pool instances run detached (they must outlive a coordinator crash): end every
        // process that works under this server's data directory.
        let _ = Command::new("pkill").arg("-KILL").arg("-f").arg(self.data.path()).status();
        if let (Some(schema), Ok(base)) = (&self.schema, std::env::var("AUTOGIT_TEST_POSTGRES_URL")) {
            let _ = Command::new("psql")
                .args([base.as_str(), "-q", "-c", &format!("DROP SCHEMA {schema} CASCADE")])
                .output();
        }
    }
}

/// A `git` invocation isolated from the user's configuration.
pub fn git(dir: &Path, args: &[&str]) -> Output {
    Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .env("GIT_AUTHOR_NAME", "Tester")
        .env("GIT_AUTHOR_EMAIL", "tester@example.com")
        .env("GIT_COMMITTER_NAME", "Tester")
        .env("GIT_COMMITTER_EMAIL", "tester@example.com")
        .output()
        .expect("git runs")
}

/// Runs `tests/python/<script>` with python-gitlab and `args`; fails the test with the script's
/// stderr when it fails (or with the install instruction when python-gitlab is missing).
pub fn run_python_gitlab(script: &str, args: &[&str]) {
    let probe = Command::new("python3").args(["-c", "import gitlab"]).output().expect("python3 runs");
    assert!(probe.status.success(), "python-gitlab is not installed: run `python3 -m pip install python-gitlab`");
    let out = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python").join(script))
        .args(args)
        .output()
        .expect("python3 runs");
    println!("{}", String::from_utf8_lossy(&out.stdout));
    assert!(out.status.success(), "{script} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

pub fn git_ok(dir: &Path, args: &[&str]) -> String {
    let out = git(dir, args);
    assert!(out.status.success(), "git {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A clone provably in flight: a public project `root/big` holding `bytes` of random
/// (incompressible) data, a fetch of it started by hand, and its first 4096 bytes read. Returns
/// them and the response, whose rest the caller reads.
pub fn clone_in_flight(s: &Server, bytes: usize) -> (Vec<u8>, Response) {
    use std::io::Read;
    s.post("/projects", &s.root_token, &[("name", "big"), ("visibility", "public")]);
    let (_t, work) = work_repo(1);
    let mut blob = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom").expect("urandom").read_exact(&mut blob).expect("random");
    std::fs::write(work.join("blob.bin"), blob).expect("write");
    git_ok(&work, &["add", "blob.bin"]);
    git_ok(&work, &["commit", "-q", "-m", "blob"]);
    git_ok(&work, &["push", "-q", &s.git_url("root/big", &s.root_token), "main"]);
    let head = git_ok(&work, &["rev-parse", "HEAD"]);
    let want = format!("want {head} ofs-delta\n");
    let body = format!("{:04x}{want}0000{:04x}done\n", want.len() + 4, "done\n".len() + 4);
    let mut resp = Client::new()
        .post(s.raw("/root/big.git/git-upload-pack"))
        .header("Content-Type", "application/x-git-upload-pack-request")
        .body(body)
        .send()
        .expect("request");
    assert_eq!(resp.status(), 200);
    let mut first = vec![0u8; 4096];
    resp.read_exact(&mut first).expect("first bytes");
    (first, resp)
}

/// A working copy with `n` commits on `main`, README.md and src/lib.rs.
pub fn work_repo(n: usize) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("work");
    std::fs::create_dir_all(dir.join("src")).expect("mkdir");
    git_ok(&dir, &["init", "-q", "-b", "main"]);
    for i in 0..n {
        std::fs::write(dir.join("README.md"), format!("# hello\n\nrevision {i}\n")).expect("write");
        std::fs::write(dir.join("src/lib.rs"), format!("pub fn v() -> u32 {{ {i} }}\n")).expect("write");
        git_ok(&dir, &["add", "-A"]);
        git_ok(&dir, &["commit", "-q", "-m", &format!("commit {i}\n\nbody of {i}")]);
    }
    (tmp, dir)
}
