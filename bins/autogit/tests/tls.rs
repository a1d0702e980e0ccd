//! HTTPS served by `autogit serve` itself, with the real `curl`, `openssl` and `git`: the
//! certificate from the configured files, a renewed pair served without a restart, a broken
//! replacement refused (the previous pair kept), plain HTTP on the HTTPS port refused, and the
//! HTTP → HTTPS redirect listener.

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

#[test]
fn the_internal_ca_and_runners_with_client_certificates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let ca = d.join("ca");
    let s0 = Server::start();
    let run = |args: &[&str]| {
        let out = s0.autogit(args);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let ca_dir = ca.to_str().expect("utf8");
    let out = d.to_str().expect("utf8");
    run(&["ca", "init", "--dir", ca_dir]);
    assert!(!s0.autogit(&["ca", "init", "--dir", ca_dir]).status.success(), "a CA is never replaced");
    run(&["ca", "issue", "--dir", ca_dir, "--name", "server", "--ip", "127.0.0.1", "--out", out]);
    run(&["ca", "issue", "--dir", ca_dir, "--name", "runner-1", "--client", "--out", out]);
    drop(s0);

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
