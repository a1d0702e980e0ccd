//! git over smart HTTP, end to end: the real server, the real git CLI.

mod common;

use common::{Backend, Server, backends, git, git_ok, work_repo};
use serde_json::Value;

fn create_project(s: &Server, token: &str, form: &[(&str, &str)]) -> Value {
    s.post("/projects", token, form)
}

fn clone_and_check(url: &str, protocol: &str) {
    let tmp = tempfile::tempdir().expect("tempdir");
    git_ok(tmp.path(), &["-c", &format!("protocol.version={protocol}"), "clone", "-q", url, "c"]);
    let readme = std::fs::read_to_string(tmp.path().join("c/README.md")).expect("README cloned");
    assert!(readme.contains("revision"), "{readme}");
}

fn round_trip(backend: Backend) {
    let s = Server::start_on(backend);
    let p = create_project(&s, &s.root_token, &[("name", "Round Trip")]);
    assert_eq!(p["path_with_namespace"], "root/round-trip");
    assert_eq!(p["empty_repo"], true);
    let url = s.git_url("root/round-trip", &s.root_token);

    let (_t, work) = work_repo(3);
    git_ok(&work, &["-c", "protocol.version=2", "push", "-q", &url, "main"]);
    git_ok(&work, &["tag", "-a", "v1.0", "-m", "release 1.0"]);
    git_ok(&work, &["-c", "protocol.version=0", "push", "-q", &url, "v1.0"]);

    for protocol in ["0", "1", "2"] {
        clone_and_check(&url, protocol);
    }

    // Fetch after a new commit, in a clone made before it.
    let tmp = tempfile::tempdir().expect("tempdir");
    git_ok(tmp.path(), &["clone", "-q", &url, "c"]);
    std::fs::write(work.join("new.txt"), "new").expect("write");
    git_ok(&work, &["add", "new.txt"]);
    git_ok(&work, &["commit", "-q", "-m", "add new.txt"]);
    git_ok(&work, &["push", "-q", &url, "main"]);
    for protocol in ["0", "2"] {
        git_ok(&tmp.path().join("c"), &["-c", &format!("protocol.version={protocol}"), "fetch", "-q", "origin"]);
    }
    let head = git_ok(&work, &["rev-parse", "HEAD"]);
    assert_eq!(git_ok(&tmp.path().join("c"), &["rev-parse", "origin/main"]), head);

    // Delete a branch.
    git_ok(&work, &["push", "-q", &url, "main:refs/heads/tmp"]);
    git_ok(&work, &["push", "-q", &url, ":refs/heads/tmp"]);

    // Every applied ref update was recorded as a push event, newest first.
    let events = wait_for_events(&s, "root%2Fround-trip", 5);
    let refs: Vec<&str> = events.iter().map(|e| e["push_data"]["ref"].as_str().unwrap_or("")).collect();
    assert_eq!(refs, ["tmp", "tmp", "main", "v1.0", "main"], "{events:#?}");
    assert_eq!(events[0]["push_data"]["action"], "removed");
    assert_eq!(events[2]["push_data"]["commit_to"], head.as_str());
    assert_eq!(events[4]["push_data"]["action"], "created");
    assert_eq!(events[3]["push_data"]["ref_type"], "tag");
    assert!(events[0]["author_id"].as_i64().is_some());

    let p = s.get_json("/projects/root%2Fround-trip", &s.root_token);
    assert_eq!(p["empty_repo"], false);
}

/// Push events are written after receive-pack exits, a moment after the client sees success.
fn wait_for_events(s: &Server, project: &str, n: usize) -> Vec<Value> {
    for _ in 0..100 {
        let v = s.get_json(&format!("/projects/{project}/events"), &s.root_token);
        let list = v.as_array().cloned().unwrap_or_default();
        if list.len() >= n {
            return list;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("fewer than {n} push events recorded");
}

#[test]
fn clone_push_fetch_on_every_backend() {
    for b in backends() {
        round_trip(b);
    }
}

#[test]
fn anonymous_access_follows_visibility() {
    let s = Server::start();
    create_project(&s, &s.root_token, &[("name", "pub"), ("visibility", "public")]);
    create_project(&s, &s.root_token, &[("name", "priv")]);
    let (_t, work) = work_repo(1);
    for p in ["pub", "priv"] {
        git_ok(&work, &["push", "-q", &s.git_url(&format!("root/{p}"), &s.root_token), "main"]);
    }
    clone_and_check(&s.git_url("root/pub", ""), "2");
    clone_and_check(&s.git_url("root/pub", ""), "0");

    // Private: anonymous gets a 401 challenge so that git can ask for credentials.
    let r = reqwest::blocking::get(s.raw("/root/priv.git/info/refs?service=git-upload-pack")).expect("request");
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"].to_str().expect("ascii").starts_with("Basic"));
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = git(tmp.path(), &["clone", &s.git_url("root/priv", ""), "c"]);
    assert!(!out.status.success());
    // Anonymous push to a public project is refused too.
    let out = git(&work, &["push", &s.git_url("root/pub", ""), "main:refs/heads/x"]);
    assert!(!out.status.success());
}

#[test]
fn roles_decide_read_and_write() {
    let s = Server::start();
    let g = s.post("/groups", &s.root_token, &[("name", "Team"), ("path", "team")]);
    let gid = g["id"].to_string();
    let proj = create_project(&s, &s.root_token, &[("name", "app"), ("namespace_id", &gid)]);
    let pid = proj["id"].to_string();
    let (_t, work) = work_repo(1);
    git_ok(&work, &["push", "-q", &s.git_url("team/app", &s.root_token), "main"]);

    let (guest, guest_t) = s.user("gina", "api");
    let (rep, rep_t) = s.user("remy", "api");
    let (dev, dev_t) = s.user("dora", "api");
    let (_out, out_t) = s.user("otto", "api");
    s.post(
        &format!("/projects/{pid}/members"),
        &s.root_token,
        &[("user_id", &guest.to_string()), ("access_level", "10")],
    );
    s.post(
        &format!("/projects/{pid}/members"),
        &s.root_token,
        &[("user_id", &rep.to_string()), ("access_level", "20")],
    );
    // Developer through the group: roles are inherited downward.
    s.post(&format!("/groups/{gid}/members"), &s.root_token, &[("user_id", &dev.to_string()), ("access_level", "30")]);

    let tmp = tempfile::tempdir().expect("tempdir");
    // Guest on a private project: sees it, cannot read code.
    let out = git(tmp.path(), &["clone", &s.git_url("team/app", &guest_t), "g"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not allowed to download code"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Non-member: the project does not exist for them.
    let out = git(tmp.path(), &["clone", &s.git_url("team/app", &out_t), "o"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("could not be found"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Reporter reads, cannot push.
    git_ok(tmp.path(), &["clone", "-q", &s.git_url("team/app", &rep_t), "r"]);
    let out = git(&work, &["push", &s.git_url("team/app", &rep_t), "main:refs/heads/rep"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not allowed to push"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Developer pushes.
    git_ok(&work, &["push", "-q", &s.git_url("team/app", &dev_t), "main:refs/heads/dev"]);
}

#[test]
fn credentials_are_checked() {
    let s = Server::start();
    create_project(&s, &s.root_token, &[("name", "p"), ("visibility", "public")]);
    let (_t, work) = work_repo(1);
    let url = s.git_url("root/p", &s.root_token);
    git_ok(&work, &["push", "-q", &url, "main"]);

    // A wrong token is an error, never a silent downgrade to anonymous (even on a public
    // project; git itself first tries without credentials, so check the raw request).
    let r = reqwest::blocking::Client::new()
        .get(s.raw("/root/p.git/info/refs?service=git-upload-pack"))
        .basic_auth("root", Some("glpat-wrong"))
        .send()
        .expect("request");
    assert_eq!(r.status(), 401);
    s.post("/projects", &s.root_token, &[("name", "closed")]);
    git_ok(&work, &["push", "-q", &s.git_url("root/closed", &s.root_token), "main"]);
    let out = git(&work, &["ls-remote", &s.git_url("root/closed", "glpat-wrong")]);
    assert!(!out.status.success());
    // Password works for Basic auth too.
    let host = s.url.trim_start_matches("http://");
    git_ok(&work, &["ls-remote", &format!("http://root:{}@{host}/root/p.git", common::ROOT_PASSWORD)]);
    // read_repository can clone but not push; write_repository can push.
    let read = s.create_token("root", "ro", "read_repository");
    git_ok(&work, &["ls-remote", &s.git_url("root/p", &read)]);
    let out = git(&work, &["push", &s.git_url("root/p", &read), "main:refs/heads/ro"]);
    assert!(!out.status.success());
    let write = s.create_token("root", "rw", "write_repository");
    git_ok(&work, &["push", "-q", &s.git_url("root/p", &write), "main:refs/heads/rw"]);
    // A read_api token is not for git.
    let api_ro = s.create_token("root", "api-ro", "read_api");
    let out = git(&work, &["push", &s.git_url("root/p", &api_ro), "main:refs/heads/x"]);
    assert!(!out.status.success());
    // Revoked tokens stop working.
    let tokens = s.get_json("/personal_access_tokens?per_page=100", &s.root_token);
    let rw_id = tokens.as_array().expect("list").iter().find(|t| t["name"] == "rw").expect("rw token")["id"].clone();
    let r = s
        .req(reqwest::Method::DELETE, &format!("/personal_access_tokens/{rw_id}"), &s.root_token)
        .send()
        .expect("delete");
    assert_eq!(r.status(), 204);
    let out = git(&work, &["push", &s.git_url("root/p", &write), "main:refs/heads/rw2"]);
    assert!(!out.status.success());
}

#[test]
fn push_to_missing_project_says_so() {
    let s = Server::start();
    let (_t, work) = work_repo(1);
    let out = git(&work, &["push", &s.git_url("root/nope", &s.root_token), "main"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("could not be found") && err.contains("create it first"), "{err}");
    // Nothing was created by the attempt.
    assert_eq!(s.get("/projects/root%2Fnope", &s.root_token).status(), 404);
}

#[test]
fn malformed_git_requests_are_rejected() {
    let s = Server::start();
    create_project(&s, &s.root_token, &[("name", "p"), ("visibility", "public")]);
    let http = reqwest::blocking::Client::new();
    // Sent raw: HTTP clients would normalise `..` away before it reached the server.
    for bad in [
        "/root/../root/p.git/info/refs?service=git-upload-pack",
        "/root/%2e%2e/p.git/info/refs?service=git-upload-pack",
        "/root/%2E%2E%2Froot/p.git/info/refs?service=git-upload-pack",
        "/root//p.git/info/refs?service=git-upload-pack",
        "/root/./p.git/info/refs?service=git-upload-pack",
        "/root/p.git/objects/info/packs",
        "/root/p.git/HEAD",
    ] {
        let status = raw_get(&s, bad);
        assert!(status == 404 || status == 400, "{bad}: {status}");
    }
    let r = http.get(s.raw("/root/p.git/info/refs")).send().expect("request");
    assert_eq!(r.status(), 400, "dumb HTTP is not served");
    let r = http.get(s.raw("/root/p.git/info/refs?service=git-frobnicate")).send().expect("request");
    assert_eq!(r.status(), 400);
    let r = http
        .get(s.raw("/root/p.git/info/refs?service=git-upload-pack"))
        .header("Git-Protocol", "version=2 evil")
        .send()
        .expect("request");
    assert_eq!(r.status(), 400, "Git-Protocol is validated");
    // A malformed pkt-line stream to receive-pack: a clear 400, no ref changes.
    let r = http
        .post(s.raw("/root/p.git/git-receive-pack"))
        .basic_auth("root", Some(&s.root_token))
        .header("Content-Type", "application/x-git-receive-pack-request")
        .body("zzzz not a pkt-line")
        .send()
        .expect("request");
    assert_eq!(r.status(), 400);
    let body = r.text().expect("text");
    assert!(body.contains("pkt-line") || body.contains("malformed"), "{body}");
    let branches = s.get_json("/projects/root%2Fp/repository/branches", &s.root_token);
    assert_eq!(branches.as_array().map(Vec::len), Some(0));
    // Wrong content type for an RPC.
    let r = http
        .post(s.raw("/root/p.git/git-upload-pack"))
        .header("Content-Type", "text/plain")
        .body("0000")
        .send()
        .expect("request");
    assert_eq!(r.status(), 415);
}

#[test]
fn gzip_request_bodies_are_accepted() {
    use std::io::Write;
    let s = Server::start();
    create_project(&s, &s.root_token, &[("name", "p"), ("visibility", "public")]);
    let (_t, work) = work_repo(2);
    git_ok(&work, &["push", "-q", &s.git_url("root/p", &s.root_token), "main"]);
    let head = git_ok(&work, &["rev-parse", "HEAD"]);
    // A v0 upload-pack request (want + done), gzip-compressed, as git sends large negotiations.
    let want = format!("want {head} ofs-delta\n");
    let body = format!("{:04x}{want}0000{:04x}done\n", want.len() + 4, "done\n".len() + 4);
    let mut gz = flate2_free_gzip(body.as_bytes());
    gz.flush().expect("flush");
    let r = reqwest::blocking::Client::new()
        .post(s.raw("/root/p.git/git-upload-pack"))
        .header("Content-Type", "application/x-git-upload-pack-request")
        .header("Content-Encoding", "gzip")
        .body(gz.into_inner())
        .send()
        .expect("request");
    assert_eq!(r.status(), 200);
    let bytes = r.bytes().expect("body");
    assert!(bytes.windows(4).any(|w| w == b"PACK"), "a pack comes back");
}

/// A GET sent byte for byte, returning the status code.
fn raw_get(s: &Server, path: &str) -> u16 {
    use std::io::{Read, Write};
    let host = s.url.trim_start_matches("http://");
    let mut c = std::net::TcpStream::connect(host).expect("connect");
    write!(c, "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").expect("write");
    let mut resp = String::new();
    c.read_to_string(&mut resp).expect("read");
    resp.split_whitespace().nth(1).and_then(|x| x.parse().ok()).expect("status line")
}

/// gzip without another dependency: `gzip -c` does it.
fn flate2_free_gzip(data: &[u8]) -> std::io::Cursor<Vec<u8>> {
    use std::io::Write;
    let mut child = std::process::Command::new("gzip")
        .arg("-c")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("gzip");
    child.stdin.take().expect("stdin").write_all(data).expect("write");
    let out = child.wait_with_output().expect("gzip output");
    std::io::Cursor::new(out.stdout)
}

#[test]
fn pushes_over_the_size_limit_are_refused_whole() {
    let s = Server::start_with(Backend::Sqlite, &[("AUTOGIT_GIT_MAX_PUSH_BYTES", "200000")]);
    create_project(&s, &s.root_token, &[("name", "small")]);
    let (_t, work) = work_repo(1);
    let url = s.git_url("root/small", &s.root_token);
    git_ok(&work, &["push", "-q", &url, "main"]);
    let mut blob = vec![0u8; 1_000_000];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom").expect("urandom"), &mut blob).expect("random");
    std::fs::write(work.join("big.bin"), blob).expect("write");
    git_ok(&work, &["add", "big.bin"]);
    git_ok(&work, &["commit", "-q", "-m", "big"]);
    let out = git(&work, &["push", &url, "main:refs/heads/big"]);
    assert!(!out.status.success(), "an oversized push fails");
    // Nothing of it landed.
    let branches = s.get_json("/projects/root%2Fsmall/repository/branches", &s.root_token);
    let names: Vec<&str> = branches.as_array().expect("list").iter().filter_map(|b| b["name"].as_str()).collect();
    assert_eq!(names, ["main"]);
}
