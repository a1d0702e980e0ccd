//! HTTPS served by `autogit serve` itself, with the real `curl`, `openssl` and `git`: the
//! certificate from the configured files, a renewed pair served without a restart, a broken
//! replacement refused (the previous pair kept), plain HTTP on the HTTPS port refused, and the
//! HTTP → HTTPS redirect listener; a runner with the internal CA whose job fetches over HTTPS.

mod common;

use common::{Backend, Server};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// A self-signed certificate for 127.0.0.1 with common name `cn`, written to `<name>.crt/.key`.
fn cert(dir: &Path, name: &str, cn: &str) {
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2"])
        .args(["-subj", &format!("/CN={cn}"), "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .arg("-keyout")
        .arg(dir.join(format!("{name}.key")))
        .arg("-out")
        .arg(dir.join(format!("{name}.crt")))
        .output()
        .expect("openssl runs");
    assert!(out.status.success(), "openssl: {}", String::from_utf8_lossy(&out.stderr));
}

/// The common name of the certificate the server presents (verified against `ca`).
fn served_cn(url: &str, ca: &Path) -> Option<String> {
    let out = Command::new("curl")
        .args(["-sv", "--cacert"])
        .arg(ca)
        .arg(format!("{url}/-/health"))
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    out.status
        .success()
        .then(|| text.lines().find_map(|l| l.trim().strip_prefix("*  subject: CN=").map(str::to_string)))
        .flatten()
}

#[test]
fn https_with_reloaded_certificates_and_the_redirect() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    cert(d, "first", "first");
    cert(d, "second", "second");
    std::fs::copy(d.join("first.crt"), d.join("tls.crt")).expect("copy");
    std::fs::copy(d.join("first.key"), d.join("tls.key")).expect("copy");
    let (crt, key) = (d.join("tls.crt"), d.join("tls.key"));
    let s = Server::start_with(
        Backend::Sqlite,
        &[
            ("AUTOGIT_TLS_CERT_FILE", crt.to_str().expect("utf8")),
            ("AUTOGIT_TLS_KEY_FILE", key.to_str().expect("utf8")),
            ("AUTOGIT_TLS_RELOAD_SECONDS", "1"),
            ("AUTOGIT_TLS_REDIRECT_LISTEN", "127.0.0.1:0"),
        ],
    );
    assert!(s.url.starts_with("https://127.0.0.1:"), "{}", s.url);
    let redirect = loop {
        let line = s.stdout.recv_timeout(Duration::from_secs(10)).expect("the redirect listener is printed");
        if let Some(rest) = line.strip_prefix("HTTP redirect on ") {
            break rest.split_whitespace().next().expect("address").to_string();
        }
    };
    assert_eq!(served_cn(&s.url, &d.join("first.crt")).as_deref(), Some("first"));

    // git over HTTPS, with the CA given to git.
    let project = Command::new("curl")
        .args(["-sf", "--cacert"])
        .arg(d.join("first.crt"))
        .args(["-H", &format!("PRIVATE-TOKEN: {}", s.root_token), "-d", "name=secure"])
        .arg(format!("{}/api/v4/projects", s.url))
        .output()
        .expect("curl");
    assert!(project.status.success(), "the API over HTTPS");
    let host = s.url.trim_start_matches("https://");
    let clone = Command::new("git")
        .args(["clone", "-q", &format!("https://root:{}@{host}/root/secure.git", s.root_token)])
        .arg(d.join("clone"))
        .env("GIT_SSL_CAINFO", d.join("first.crt"))
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .expect("git");
    assert!(clone.status.success(), "git clone over HTTPS: {}", String::from_utf8_lossy(&clone.stderr));

    // Plain HTTP on the HTTPS port gets no answer.
    let plain = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5"])
        .arg(format!("http://{host}/-/health"))
        .output()
        .expect("curl");
    assert_ne!(String::from_utf8_lossy(&plain.stdout), "200", "plain HTTP is not served on the HTTPS port");

    // A renewed pair is served without a restart.
    std::fs::copy(d.join("second.key"), &key).expect("copy");
    std::fs::copy(d.join("second.crt"), &crt).expect("copy");
    let deadline = Instant::now() + Duration::from_secs(15);
    while served_cn(&s.url, &d.join("second.crt")).as_deref() != Some("second") {
        assert!(Instant::now() < deadline, "the renewed certificate was not served");
        std::thread::sleep(Duration::from_millis(200));
    }
    // A broken replacement (first's certificate with second's key) is refused; second stays.
    std::fs::copy(d.join("first.crt"), &crt).expect("copy");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(served_cn(&s.url, &d.join("second.crt")).as_deref(), Some("second"), "the previous pair is kept");

    // The redirect listener sends every path to the HTTPS external URL.
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}"])
        .arg(format!("http://{redirect}/root/secure?x=1"))
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("308 {}/root/secure?x=1", s.url));
}

/// Runs `curl` with `args`; (exit code, stdout).
fn curl(args: &[&str]) -> (i32, String) {
    let out = Command::new("curl").args(["-s", "--max-time", "10"]).args(args).output().expect("curl runs");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs the `autogit` CLI (the CA commands need no server).
fn cli(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_autogit")).args(args).output().expect("autogit runs")
}

/// An internal CA in `<d>/ca` and a server certificate it issued for 127.0.0.1 in
/// `<d>/server.crt` and `.key`; the CA's directory.
fn ca_and_server_certificate(d: &Path) -> std::path::PathBuf {
    let ca = d.join("ca");
    let (ca_dir, out) = (ca.to_str().expect("utf8"), d.to_str().expect("utf8"));
    for args in [
        vec!["ca", "init", "--dir", ca_dir],
        vec!["ca", "issue", "--dir", ca_dir, "--name", "server", "--ip", "127.0.0.1", "--out", out],
    ] {
        let done = cli(&args);
        assert!(done.status.success(), "{args:?}: {}", String::from_utf8_lossy(&done.stderr));
    }
    ca
}

#[test]
fn the_internal_ca_and_runners_with_client_certificates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let ca = ca_and_server_certificate(d);
    let ca_dir = ca.to_str().expect("utf8");
    let out = d.to_str().expect("utf8");
    assert!(!cli(&["ca", "init", "--dir", ca_dir]).status.success(), "a CA is never replaced");
    let issued = cli(&["ca", "issue", "--dir", ca_dir, "--name", "runner-1", "--client", "--out", out]);
    assert!(issued.status.success(), "{}", String::from_utf8_lossy(&issued.stderr));

    let (crt, key, ca_crt) = (d.join("server.crt"), d.join("server.key"), ca.join("ca.crt"));
    let s = Server::start_with(
        Backend::Sqlite,
        &[
            ("AUTOGIT_TLS_CERT_FILE", crt.to_str().expect("utf8")),
            ("AUTOGIT_TLS_KEY_FILE", key.to_str().expect("utf8")),
            ("AUTOGIT_TLS_CLIENT_CA_FILE", ca_crt.to_str().expect("utf8")),
            ("AUTOGIT_TLS_RUNNER_LISTEN", "127.0.0.1:0"),
            ("AUTOGIT_TLS_REQUIRE_RUNNER_CERTIFICATES", "true"),
        ],
    );
    let runner_url = loop {
        let line = s.stdout.recv_timeout(Duration::from_secs(10)).expect("the runner port is printed");
        if let Some(rest) = line.strip_prefix("Runner port on ") {
            break rest.split_whitespace().next().expect("url").to_string();
        }
    };
    let ca_arg = ca_crt.to_str().expect("utf8");
    let (cert_arg, key_arg) = (d.join("runner-1.crt"), d.join("runner-1.key"));
    let (cert_arg, key_arg) = (cert_arg.to_str().expect("utf8"), key_arg.to_str().expect("utf8"));

    // The CA's server certificate verifies; the runner port refuses a client without a
    // certificate in the handshake, and serves one with the runner's.
    assert_eq!(
        curl(&["-o", "/dev/null", "-w", "%{http_code}", "--cacert", ca_arg, &format!("{}/-/health", s.url)]).1,
        "200"
    );
    let (code, _) = curl(&["--cacert", ca_arg, &format!("{runner_url}/-/health")]);
    assert_ne!(code, 0, "no client certificate: the handshake fails");
    let with_cert = ["--cacert", ca_arg, "--cert", cert_arg, "--key", key_arg];
    let (code, body) =
        curl(&[&with_cert[..], &["-o", "/dev/null", "-w", "%{http_code}", &format!("{runner_url}/-/health")]].concat());
    assert_eq!((code, body.as_str()), (0, "200"), "the runner's certificate is accepted");
    // A certificate from another CA is refused too.
    let other = d.join("other");
    std::fs::create_dir(&other).expect("mkdir");
    cert(&other, "self", "runner-1");
    let forged = [
        "--cacert",
        ca_arg,
        "--cert",
        &format!("{}/self.crt", other.display()),
        "--key",
        &format!("{}/self.key", other.display()),
    ]
    .map(String::from);
    let forged: Vec<&str> = forged.iter().map(String::as_str).collect();
    assert_ne!(
        curl(&[&forged[..], &[&format!("{runner_url}/-/health")]].concat()).0,
        0,
        "a self-made certificate is refused"
    );

    // The main listener refuses the runner API, and still serves the user API.
    let (_, body) =
        curl(&["--cacert", ca_arg, "-X", "POST", "-d", "token=glrt-x", &format!("{}/api/v4/runners/verify", s.url)]);
    assert!(body.contains("runner port"), "{body}");
    let (_, body) = curl(&[
        "--cacert",
        ca_arg,
        "-H",
        &format!("PRIVATE-TOKEN: {}", s.root_token),
        &format!("{}/api/v4/runners", s.url),
    ]);
    assert!(body.starts_with('['), "the user API's runner list is not the runner API: {body}");

    // `autogit runner register` with gitlab-runner's TLS options, through the runner port.
    let (_, created) = curl(&[
        "--cacert",
        ca_arg,
        "-H",
        &format!("PRIVATE-TOKEN: {}", s.root_token),
        "-d",
        "runner_type=instance_type",
        &format!("{}/api/v4/user/runners", s.url),
    ]);
    let token = serde_json::from_str::<serde_json::Value>(&created).expect("json")["token"]
        .as_str()
        .expect("token")
        .to_string();
    let config = d.join("runner.toml");
    let register = |extra: &[&str]| {
        let mut args = vec![
            "runner",
            "register",
            "--url",
            runner_url.as_str(),
            "--token",
            token.as_str(),
            "--tls-ca-file",
            ca_arg,
        ];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--runner-config", config.to_str().expect("utf8"), "--builds-dir", out]);
        s.autogit(&args)
    };
    let refused = register(&[]);
    assert!(!refused.status.success(), "without its certificate the runner cannot register");
    let ok = register(&["--tls-cert-file", cert_arg, "--tls-key-file", key_arg]);
    assert!(ok.status.success(), "register over mutual TLS: {}", String::from_utf8_lossy(&ok.stderr));
    let saved = std::fs::read_to_string(&config).expect("runner config");
    for k in ["tls-ca-file", "tls-cert-file", "tls-key-file"] {
        assert!(saved.contains(k), "{k} kept in the runner's configuration: {saved}");
    }
}

/// A runner registered with `--tls-ca-file` against a server whose certificate the internal CA
/// issued: its job fetches the sources over HTTPS trusting that CA, and the script finds the CA
/// in `CI_SERVER_TLS_CA_FILE` (gitlab-runner's variable), as a file.
#[test]
fn jobs_fetch_over_https_trusting_the_runners_ca() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let ca = ca_and_server_certificate(d);
    let (crt, key, ca_crt) = (d.join("server.crt"), d.join("server.key"), ca.join("ca.crt"));
    let s = Server::start_with(
        Backend::Sqlite,
        &[
            ("AUTOGIT_TLS_CERT_FILE", crt.to_str().expect("utf8")),
            ("AUTOGIT_TLS_KEY_FILE", key.to_str().expect("utf8")),
        ],
    );
    let ca_arg = ca_crt.to_str().expect("utf8");
    let token = format!("PRIVATE-TOKEN: {}", s.root_token);
    let api = |method: &str, path: &str, data: &[&str]| -> serde_json::Value {
        let url = format!("{}/api/v4{path}", s.url);
        let mut args = vec!["-f", "--cacert", ca_arg, "-H", &token, "-X", method];
        for kv in data {
            args.extend(["--data-urlencode", kv]);
        }
        args.push(&url);
        let (code, body) = curl(&args);
        assert_eq!(code, 0, "{method} {path}: {body}");
        serde_json::from_str(&body).unwrap_or(serde_json::Value::Null)
    };
    let project = api("POST", "/projects", &["name=ca-job"]);
    let project_id = project["id"].as_i64().expect("project id");

    // A job that reads the CA it was given, pushed over HTTPS.
    let work = d.join("work");
    std::fs::create_dir(&work).expect("work dir");
    std::fs::write(
        work.join(".gitlab-ci.yml"),
        "check:\n  script:\n    - test -f README\n    - grep -q 'BEGIN CERTIFICATE' \"$CI_SERVER_TLS_CA_FILE\"\n",
    )
    .expect("ci file");
    let host = s.url.trim_start_matches("https://");
    let remote = format!("https://root:{}@{host}/root/ca-job.git", s.root_token);
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(args)
            .current_dir(&work)
            .env("GIT_SSL_CAINFO", &ca_crt)
            .env("GIT_TERMINAL_PROMPT", "0")
            .output()
            .expect("git");
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    git(&["init", "-q", "-b", "main"]);

    // The runner on the host, then one whose jobs run in the job sandbox (where the fetch runs
    // inside the sandbox): registered and run over HTTPS with the CA, as gitlab-runner's options
    // name it.
    for (round, extra) in [(1, vec![]), (2, vec!["--sandbox"])] {
        let runner = api("POST", "/user/runners", &["runner_type=instance_type", "run_untagged=true"]);
        let runner_token = runner["token"].as_str().expect("runner token");
        let config = d.join(format!("runner-{round}.toml"));
        let register = Command::new(env!("CARGO_BIN_EXE_autogit"))
            .args(["runner", "register", "--url", &s.url, "--token", runner_token, "--tls-ca-file", ca_arg])
            .args(&extra)
            .arg("--runner-config")
            .arg(&config)
            .arg("--builds-dir")
            .arg(d.join(format!("builds-{round}")))
            .output()
            .expect("register runs");
        assert!(register.status.success(), "register: {}", String::from_utf8_lossy(&register.stderr));
        let mut runner = Command::new(env!("CARGO_BIN_EXE_autogit"))
            .args(["runner", "run", "--runner-config"])
            .arg(&config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("runner runs");
        std::fs::write(work.join("README"), format!("over https, round {round}\n")).expect("readme");
        git(&["add", "."]);
        git(&["-c", "user.name=t", "-c", "user.email=t@example.test", "commit", "-q", "-m", "ci"]);
        git(&["push", "-q", &remote, "main"]);
        let deadline = Instant::now() + Duration::from_secs(90);
        let pipeline = loop {
            let list = api("GET", &format!("/projects/{project_id}/pipelines?per_page=1"), &[]);
            let p = list.as_array().and_then(|l| l.first()).cloned().unwrap_or_default();
            let ours = p["id"].as_i64() >= Some(round);
            if ours && matches!(p["status"].as_str(), Some("success" | "failed" | "canceled")) {
                break p;
            }
            assert!(Instant::now() < deadline, "the pipeline did not finish: {p}");
            std::thread::sleep(Duration::from_millis(300));
        };
        let _ = runner.kill();
        let _ = runner.wait();
        if pipeline["status"] != "success" {
            let jobs = api("GET", &format!("/projects/{project_id}/pipelines/{}/jobs", pipeline["id"]), &[]);
            let job = jobs[0]["id"].as_i64().expect("job id");
            let url = format!("{}/api/v4/projects/{project_id}/jobs/{job}/trace", s.url);
            let (_, trace) = curl(&["--cacert", ca_arg, "-H", &token, &url]);
            panic!("round {round}: the job over HTTPS failed: {pipeline}\n{trace}");
        }
    }
}
