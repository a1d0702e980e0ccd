//! `autogit serve` as an operator sees it: first start, configuration, health, metrics, shutdown.

mod common;

use common::{Server, clone_in_flight, git_ok, work_repo};
use std::process::Command;

#[test]
fn first_start_writes_the_root_password_once() {
    let data = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_autogit"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .env_remove("AUTOGIT_ROOT_PASSWORD")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("starts");
    let file = data.path().join("initial_root_password");
    // Read stdout up to the "listening" line: by then the password has been printed.
    let mut stdout = String::new();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().expect("stdout")));
    for line in lines.by_ref() {
        let line = line.expect("line");
        stdout.push_str(&line);
        stdout.push('\n');
        if line.contains("listening on") {
            break;
        }
    }
    child.kill().ok();
    child.wait().ok();
    let password = std::fs::read_to_string(&file).expect("password file").trim().to_string();
    assert!(password.len() >= 20, "{password}");
    assert!(stdout.contains(&password), "the password is printed: {stdout}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&file).expect("meta").permissions().mode() & 0o777, 0o600);
    // The password works, and a second start neither changes nor rewrites it.
    let out = Command::new(env!("CARGO_BIN_EXE_autogit"))
        .args(["admin", "token", "create", "--user", "root", "--name", "x", "--data-dir"])
        .arg(data.path())
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn config_example_and_show_redact_secrets() {
    let out = Command::new(env!("CARGO_BIN_EXE_autogit")).args(["config", "example"]).output().expect("runs");
    assert!(out.status.success());
    let example = String::from_utf8_lossy(&out.stdout);
    assert!(example.contains("[database]") && example.contains("AUTOGIT_DATABASE_URL"));

    let out = Command::new(env!("CARGO_BIN_EXE_autogit"))
        .args(["config", "show"])
        .env("AUTOGIT_DATABASE_URL", "postgres://u:hunter2@db/autogit")
        .env("AUTOGIT_ROOT_PASSWORD", "sekrit-value")
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(!shown.contains("hunter2") && !shown.contains("sekrit"), "{shown}");
    assert!(shown.contains("[redacted]"));

    // A bad file and a bad variable are errors that name the problem.
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, "[git]\nmax_push_bytes = \"lots\"\n").expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_autogit"))
        .arg("--config")
        .arg(&cfg)
        .args(["config", "show"])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("max_push_bytes"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(env!("CARGO_BIN_EXE_autogit"))
        .args(["config", "show"])
        .env("AUTOGIT_LISTN", "x")
        .output()
        .expect("runs");
    assert!(String::from_utf8_lossy(&out.stderr).contains("AUTOGIT_LISTN"));
}

#[test]
fn health_readiness_and_metrics() {
    let s = Server::start();
    let http = reqwest::blocking::Client::new();
    assert_eq!(http.get(s.raw("/-/health")).send().expect("request").status(), 200);
    let r = http.get(s.raw("/-/readiness")).send().expect("request");
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<serde_json::Value>().expect("json")["status"], "ok");

    s.post("/projects", &s.root_token, &[("name", "m"), ("visibility", "public")]);
    let (_t, work) = work_repo(1);
    git_ok(&work, &["push", "-q", &s.git_url("root/m", &s.root_token), "main"]);
    let tmp = tempfile::tempdir().expect("tempdir");
    git_ok(tmp.path(), &["clone", "-q", &s.git_url("root/m", ""), "c"]);

    let mut metrics = String::new();
    for _ in 0..50 {
        metrics = http.get(s.raw("/metrics")).send().expect("request").text().expect("text");
        if metrics.contains("kind=\"upload_pack\",result=\"ok\"") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    for needle in [
        "autogit_http_requests_total{method=\"POST\",route=\"/api/v4/projects\",status=\"201\"} 1",
        "autogit_http_request_duration_seconds_bucket",
        "autogit_git_operations_total{kind=\"receive_pack\",result=\"ok\"} 1",
        "autogit_git_operations_total{kind=\"upload_pack\",result=\"ok\"}",
        "autogit_git_received_bytes_total{kind=\"receive_pack\"}",
        "autogit_git_sent_bytes_total{kind=\"upload_pack\"}",
    ] {
        assert!(metrics.contains(needle), "missing {needle} in\n{metrics}");
    }

    // Readiness fails when repository storage is unusable.
    let repos = s.data.path().join("repositories");
    std::fs::rename(&repos, s.data.path().join("moved")).expect("move");
    std::fs::write(&repos, "not a directory").expect("write");
    let r = http.get(s.raw("/-/readiness")).send().expect("request");
    assert_eq!(r.status(), 503);
}

#[test]
fn shutdown_lets_a_running_clone_finish() {
    let mut s = Server::start();
    // ~24 MB of incompressible data so the clone takes a moment. Only its first bytes are read,
    // so the transfer is provably in flight when SIGTERM arrives; then the rest is read and the
    // pack must have arrived whole.
    use std::io::Read;
    let (first, mut resp) = clone_in_flight(&s, 24_000_000);
    s.signal("TERM");
    let mut rest = Vec::new();
    resp.read_to_end(&mut rest).expect("the rest of the response");
    let status = s.wait();
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
    let total = first.len() + rest.len();
    assert!(total > 24_000_000, "whole pack received ({total} bytes)");
    assert!(first.windows(4).any(|w| w == b"PACK"), "a pack was being sent");
}

/// A data directory given relative to the working directory (as the README's `./autogit-data`
/// default is) still protects the default branch: the push hook is found whatever directory git
/// runs in.
#[test]
fn a_relative_data_directory_still_protects_the_default_branch() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_autogit"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", "data"])
        .current_dir(cwd.path())
        .env("AUTOGIT_ROOT_PASSWORD", common::ROOT_PASSWORD)
        .env("AUTOGIT_CI_BUILTIN_RUNNER_CONCURRENT", "0")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("starts");
    let mut url = String::new();
    for line in std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().expect("stdout"))) {
        let line = line.expect("line");
        if let Some(u) = line.split("listening on ").nth(1).and_then(|r| r.split_whitespace().next()) {
            url = u.to_string();
            break;
        }
    }
    let data = cwd.path().join("data");
    let autogit = |args: &[&str]| {
        let out =
            Command::new(env!("CARGO_BIN_EXE_autogit")).arg("--data-dir").arg(&data).args(args).output().expect("runs");
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default().trim().to_string()
    };
    let root = autogit(&["admin", "token", "create", "--user", "root", "--name", "t", "--scopes", "api"]);
    let http = reqwest::blocking::Client::new();
    let post = |path: &str, form: &[(&str, &str)]| -> serde_json::Value {
        let r =
            http.post(format!("{url}/api/v4{path}")).header("PRIVATE-TOKEN", &root).form(form).send().expect("request");
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().expect("json")
    };
    let dev = post(
        "/users",
        &[("username", "dev"), ("name", "dev"), ("email", "dev@example.com"), ("password", "a-long-password")],
    );
    let p = post("/projects", &[("name", "guarded")]);
    post(&format!("/projects/{}/members", p["id"]), &[("user_id", &dev["id"].to_string()), ("access_level", "30")]);
    let dev_token = autogit(&["admin", "token", "create", "--user", "dev", "--name", "t", "--scopes", "api"]);
    let (_t, work) = work_repo(1);
    let host = url.trim_start_matches("http://");
    let out = common::git(&work, &["push", &format!("http://dev:{dev_token}@{host}/root/guarded.git"), "main"]);
    child.kill().ok();
    child.wait().ok();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a developer's push to the default branch is refused: {stderr}");
    assert!(stderr.contains("pre-receive hook declined"), "{stderr}");
}
