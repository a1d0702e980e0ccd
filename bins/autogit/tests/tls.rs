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
