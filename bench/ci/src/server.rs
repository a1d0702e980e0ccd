//! One `autogit serve` process under test (port 0, its own data directory; SQLite, or a fresh
//! PostgreSQL schema when `BENCH_CI_POSTGRES_URL` is set), plus the HTTP and git calls the
//! benchmarks need to set it up. Nothing here is timed.

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const ROOT_PASSWORD: &str = "bench-root-password-0123456789";

pub struct Server {
    child: Child,
    /// The server's `AUTOGIT_DATABASE_URL` (`None`: the embedded SQLite default).
    database: Option<String>,
    pub pid: u32,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    pub root_token: String,
    pub dir: tempfile::TempDir,
    bin: PathBuf,
    pub http: reqwest::Client,
}

/// Which database the servers use, for the report.
pub fn backend() -> &'static str {
    if std::env::var("BENCH_CI_POSTGRES_URL").is_ok_and(|u| !u.is_empty()) { "PostgreSQL" } else { "SQLite" }
}

/// A fresh schema in `BENCH_CI_POSTGRES_URL`'s database (created with `psql`), as the URL the
/// server gets; `None` without that variable.
async fn postgres_schema() -> Result<Option<String>> {
    let Some(base) = std::env::var("BENCH_CI_POSTGRES_URL").ok().filter(|u| !u.is_empty()) else { return Ok(None) };
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let schema = format!("bench_{}_{}", std::process::id(), N.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    let out = Command::new("psql")
        .args([base.as_str(), "-q", "-v", "ON_ERROR_STOP=1", "-c", &format!("CREATE SCHEMA {schema}")])
        .output()
        .await
        .context("psql")?;
    if !out.status.success() {
        bail!("creating schema {schema}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let sep = if base.contains('?') { '&' } else { '?' };
    Ok(Some(format!("{base}{sep}options=-c%20search_path%3D{schema}")))
}

fn database_env(cmd: &mut Command, url: Option<&str>) {
    match url {
        Some(u) => cmd.env("AUTOGIT_DATABASE_URL", u),
        None => cmd.env_remove("AUTOGIT_DATABASE_URL"),
    };
}

/// A client for many concurrent held requests: one connection per request in flight, no
/// global timeout shorter than a long poll (50 s).
pub fn client() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder().tcp_nodelay(true).timeout(Duration::from_secs(300)).build()?)
}

impl Server {
    /// Starts `bin serve` with the built-in runner set to `builtin` concurrent jobs (0 = off).
    pub async fn start(bin: &Path, work: &Path, builtin: u32) -> Result<Server> {
        let dir = tempfile::Builder::new().prefix("server-").tempdir_in(work).context("temp data dir")?;
        let data = dir.path().join("data");
        let log = std::fs::File::create(dir.path().join("server.log"))?;
        let database = postgres_schema().await?;
        let mut cmd = Command::new(bin);
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"]).arg(&data);
        database_env(&mut cmd, database.as_deref());
        cmd.env_remove("AUTOGIT_CI_LONG_POLL_SECONDS")
            .env("AUTOGIT_ROOT_PASSWORD", ROOT_PASSWORD)
            .env("AUTOGIT_CI_BUILTIN_RUNNER_CONCURRENT", builtin.to_string())
            // The always-on runner inside the server: pickup without an instance start.
            .env("AUTOGIT_CI_BUILTIN_RUNNER_MODE", "in-process")
            // Every simulated runner connects from loopback: BENCH_CI_RUNNERS may exceed the
            // per-address cap meant for real clients.
            .env("AUTOGIT_HTTP_MAX_CONNECTIONS_PER_ADDRESS", "0")
            .env("AUTOGIT_HTTP_MAX_CONNECTIONS", "100000")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .kill_on_drop(true);
        let mut child = cmd.spawn().with_context(|| format!("starting {}", bin.display()))?;
        let pid = child.id().ok_or_else(|| anyhow!("no pid"))?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("stdout not piped"))?;
        let mut lines = BufReader::new(stdout).lines();
        let url = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(rest) = line.split("listening on ").nth(1)
                    && let Some(url) = rest.split_whitespace().next()
                {
                    return Ok::<_, anyhow::Error>(url.to_string());
                }
            }
            bail!("autogit serve exited before printing its address (see {})", dir.path().display())
        })
        .await
        .context("waiting for `listening on`")??;
        // Keep draining stdout so that the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let mut server = Server {
            child,
            database,
            pid,
            url,
            root_token: String::new(),
            dir,
            bin: bin.to_path_buf(),
            http: client()?,
        };
        server.root_token = server.create_token().await?;
        Ok(server)
    }

    async fn create_token(&self) -> Result<String> {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--data-dir")
            .arg(self.dir.path().join("data"))
            .args(["admin", "token", "create", "--user", "root", "--name", "bench", "--scopes", "api"]);
        database_env(&mut cmd, self.database.as_deref());
        let out = cmd.output().await?;
        if !out.status.success() {
            bail!("admin token create: {}", String::from_utf8_lossy(&out.stderr));
        }
        let text = String::from_utf8(out.stdout)?;
        Ok(text.lines().last().unwrap_or_default().trim().to_string())
    }

    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v4{path}", self.url)
    }

    /// POSTs a form as root; returns the JSON body.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Result<Value> {
        let r = self.http.post(self.api(path)).header("PRIVATE-TOKEN", &self.root_token).form(form).send().await?;
        let status = r.status();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("POST {path}: {status} {body}");
        }
        Ok(body)
    }

    pub async fn get(&self, path: &str) -> Result<Value> {
        let r = self.http.get(self.api(path)).header("PRIVATE-TOKEN", &self.root_token).send().await?;
        let status = r.status();
        if !status.is_success() {
            bail!("GET {path}: {status}");
        }
        Ok(r.json().await?)
    }

    /// An instance runner that takes untagged jobs; returns its `glrt-` token.
    pub async fn create_runner(&self, name: &str) -> Result<String> {
        let v = self
            .post("/user/runners", &[("runner_type", "instance_type"), ("run_untagged", "true"), ("description", name)])
            .await?;
        v["token"].as_str().map(str::to_string).ok_or_else(|| anyhow!("no runner token in {v}"))
    }

    /// `root/<name>`; returns its id.
    pub async fn create_project(&self, name: &str) -> Result<i64> {
        let v = self.post("/projects", &[("name", name)]).await?;
        v["id"].as_i64().ok_or_else(|| anyhow!("no project id in {v}"))
    }

    pub fn git_url(&self, project: &str) -> String {
        let host = self.url.trim_start_matches("http://");
        format!("http://bench:{}@{host}/root/{project}.git", self.root_token)
    }

    /// `(queued jobs, held job requests)` from `/metrics`.
    pub async fn gauges(&self) -> Result<(i64, i64)> {
        let text = self.metrics().await?;
        match (metric(&text, "autogit_ci_queued_jobs"), metric(&text, "autogit_ci_waiting_requests")) {
            (Some(q), Some(w)) => Ok((q as i64, w as i64)),
            _ => bail!("/metrics lacks the CI gauges"),
        }
    }

    /// `autogit_git_processes_started` from `/metrics`; `None` from a build without it.
    pub async fn git_processes_started(&self) -> Result<Option<u64>> {
        Ok(metric(&self.metrics().await?, "autogit_git_processes_started").map(|v| v as u64))
    }

    async fn metrics(&self) -> Result<String> {
        Ok(self.http.get(format!("{}/metrics", self.url)).send().await?.text().await?)
    }

    /// Waits until `/metrics` shows `queued` jobs and `waiting` held requests (checked every ms).
    pub async fn wait_gauges(&self, queued: i64, waiting: i64, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        loop {
            let g = self.gauges().await?;
            if g == (queued, waiting) {
                return Ok(());
            }
            if start.elapsed() > timeout {
                bail!("timed out waiting for queued={queued} waiting={waiting}; last {g:?}");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// utime + stime of the server process, in clock ticks.
    pub fn cpu_ticks(&self) -> Result<u64> {
        proc_cpu_ticks(&format!("/proc/{}/stat", self.pid))
    }

    /// cutime + cstime: CPU of the server's children that it has waited for (the `git`
    /// processes it spawns), in clock ticks.
    /// CPU of the server's `git` children: the reaped ones (cutime + cstime) plus the ones
    /// still running (long-lived object readers), so a pooled process's work is counted too.
    pub fn children_cpu_ticks(&self) -> Result<u64> {
        let reaped = proc_fields(&format!("/proc/{}/stat", self.pid), 16, 17)?;
        let mut live = 0;
        for task in std::fs::read_dir(format!("/proc/{}/task", self.pid))?.flatten() {
            let Ok(children) = std::fs::read_to_string(task.path().join("children")) else { continue };
            for pid in children.split_whitespace() {
                let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                if comm.trim() == "git" {
                    let stat = format!("/proc/{pid}/stat");
                    live += proc_fields(&stat, 14, 15).unwrap_or(0) + proc_fields(&stat, 16, 17).unwrap_or(0);
                }
            }
        }
        Ok(reaped + live)
    }

    /// A field of `/proc/PID/status` in KiB (`VmRSS`, `VmHWM`).
    pub fn status_kib(&self, field: &str) -> Result<u64> {
        let text = std::fs::read_to_string(format!("/proc/{}/status", self.pid))?;
        text.lines()
            .find_map(|l| l.strip_prefix(field).and_then(|r| r.strip_prefix(':')))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| anyhow!("{field} missing from /proc/{}/status", self.pid))
    }

    pub async fn stop(mut self) -> Result<()> {
        self.child.kill().await.ok();
        Ok(())
    }
}

/// The value of an unlabelled metric in Prometheus text.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
}

/// utime + stime (fields 14 and 15) of `/proc/…/stat`, in clock ticks.
pub fn proc_cpu_ticks(path: &str) -> Result<u64> {
    proc_fields(path, 14, 15)
}

/// The sum of fields `a` and `b` (1-based, as in proc(5)) of a `/proc/…/stat` file.
fn proc_fields(path: &str, a: usize, b: usize) -> Result<u64> {
    let text = std::fs::read_to_string(path)?;
    // The command name (field 2) may hold spaces; fields after it start past the last ')'.
    let rest = text.rsplit_once(')').map(|(_, r)| r).ok_or_else(|| anyhow!("bad {path}"))?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): field n is f[n - 3].
    let field =
        |n: usize| -> Result<u64> { f.get(n - 3).and_then(|v| v.parse().ok()).ok_or_else(|| anyhow!("bad {path}")) };
    Ok(field(a)? + field(b)?)
}

/// A git working copy with its own configuration (none of the user's settings apply).
pub struct Work {
    pub dir: PathBuf,
}

impl Work {
    pub fn new(parent: &Path, name: &str) -> Result<Work> {
        let dir = parent.join(name);
        std::fs::create_dir_all(&dir)?;
        let w = Work { dir };
        w.git(&["init", "-q", "-b", "main"])?;
        Ok(w)
    }

    /// A git command in this working copy, with a configuration of its own.
    pub fn std_git(&self) -> std::process::Command {
        let mut c = std::process::Command::new("git");
        c.current_dir(&self.dir)
            .env("HOME", &self.dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_AUTHOR_NAME", "Bench")
            .env("GIT_AUTHOR_EMAIL", "bench@example.com")
            .env("GIT_COMMITTER_NAME", "Bench")
            .env("GIT_COMMITTER_EMAIL", "bench@example.com")
            .stdin(Stdio::null());
        c
    }

    /// Runs git synchronously (set-up only, never timed).
    pub fn git(&self, args: &[&str]) -> Result<()> {
        let out = self.std_git().args(args).output().context("git runs")?;
        if !out.status.success() {
            bail!("git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(())
    }

    pub fn write(&self, name: &str, text: &str) -> Result<()> {
        std::fs::write(self.dir.join(name), text)?;
        Ok(())
    }

    /// `git push -q URL main`.
    pub async fn push(&self, url: &str) -> Result<()> {
        let mut c = self.std_git();
        c.args(["push", "-q", url, "main"]);
        let out = Command::from(c).output().await?;
        if !out.status.success() {
            bail!("git push: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(())
    }
}
