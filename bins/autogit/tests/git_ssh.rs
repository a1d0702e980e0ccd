//! git over SSH with the real OpenSSH client and git: keys added through GitLab's key API,
//! clone and fetch with protocol v0 and v2, push (which starts a pipeline, as over HTTP), the
//! same authorization as HTTP, refused commands, `ssh -T`, `git archive --remote`, deploy keys,
//! and keys that are refused (invalid, weak, duplicate, unknown, deleted).

mod common;

use common::{Backend, Server, backends};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Key {
    private: PathBuf,
    public: String,
}

fn keygen(dir: &Path, name: &str, kind: &[&str]) -> Key {
    let private = dir.join(name);
    let out = Command::new("ssh-keygen")
        .args(kind)
        .args(["-q", "-N", "", "-C", name, "-f"])
        .arg(&private)
        .output()
        .expect("ssh-keygen runs");
    assert!(out.status.success(), "ssh-keygen: {}", String::from_utf8_lossy(&out.stderr));
    let public = std::fs::read_to_string(private.with_extension("pub")).expect("public key").trim().to_string();
    Key { private, public }
}

fn ssh_command(s: &Server, key: &Path) -> String {
    let port = s.ssh_addr.as_deref().expect("ssh server started").rsplit(':').next().expect("port").to_string();
    format!(
        "ssh -p {port} -i {} -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
         -o BatchMode=yes -o LogLevel=ERROR",
        key.display()
    )
}

fn git(dir: &Path, ssh: &str, args: &[&str]) -> Output {
    Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_SSH_COMMAND", ssh)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_AUTHOR_NAME", "T")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "T")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .expect("git runs")
}

fn ok(o: Output, what: &str) -> String {
    assert!(o.status.success(), "{what}: {}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn add_key(s: &Server, token: &str, title: &str, key: &str) -> reqwest::blocking::Response {
    s.req(reqwest::Method::POST, "/user/keys", token).form(&[("title", title), ("key", key)]).send().expect("request")
}

fn start(backend: Backend) -> Server {
    Server::start_with(backend, &[("AUTOGIT_SSH_LISTEN", "127.0.0.1:0")])
}

#[test]
fn clone_fetch_and_push_over_ssh() {
    for backend in backends() {
        let s = start(backend);
        let work = tempfile::tempdir().expect("tempdir");
        let w = work.path();
        let (_, alice) = s.user("alice", "api");
        let (_, bob) = s.user("bob", "api");
        let ka = keygen(w, "alice_key", &["-t", "ed25519"]);
        let kb = keygen(w, "bob_key", &["-t", "rsa", "-b", "3072"]);
        let r = add_key(&s, &alice, "laptop", &ka.public);
        assert_eq!(r.status(), 201, "{backend:?}");
        let added: Value = r.json().expect("json");
        let fingerprint = String::from_utf8(
            Command::new("ssh-keygen")
                .arg("-lf")
                .arg(ka.private.with_extension("pub"))
                .output()
                .expect("keygen")
                .stdout,
        )
        .expect("utf8");
        assert!(
            fingerprint.contains(&format!("SHA256:{}", added["fingerprint_sha256"].as_str().expect("fp"))),
            "fingerprint as OpenSSH prints it: {fingerprint} vs {added}"
        );
        assert_eq!(add_key(&s, &bob, "bob", &kb.public).status(), 201, "an RSA 3072 key");
        let dup = add_key(&s, &bob, "again", &ka.public);
        assert_eq!(dup.status(), 400, "another user's key is refused");
        assert!(dup.text().expect("body").contains("has already been taken"));
        let listed = s.get_json("/user/keys", &alice);
        assert_eq!(listed.as_array().map(Vec::len), Some(1));

        let p = s.post("/projects", &alice, &[("name", "proj"), ("visibility", "private")]);
        let url = p["ssh_url_to_repo"].as_str().expect("ssh_url_to_repo").to_string();
        assert!(url.starts_with("ssh://git@127.0.0.1:") && url.ends_with("/alice/proj.git"), "{url}");
        let (sa, sb) = (ssh_command(&s, &ka.private), ssh_command(&s, &kb.private));

        // Push a first commit, with a pipeline definition: the push starts a pipeline.
        let src = w.join("src");
        std::fs::create_dir(&src).expect("mkdir");
        ok(git(&src, &sa, &["init", "-q", "-b", "main"]), "init");
        std::fs::write(src.join(".gitlab-ci.yml"), "job:\n  script: [\"true\"]\n").expect("write");
        std::fs::write(src.join("README"), "hello over ssh\n").expect("write");
        ok(git(&src, &sa, &["add", "."]), "add");
        ok(git(&src, &sa, &["commit", "-qm", "first"]), "commit");
        ok(git(&src, &sa, &["push", "-q", &url, "main"]), "push over ssh");
        let pipelines = s.get_json(&format!("/projects/{}/pipelines", p["id"]), &alice);
        assert_eq!(
            pipelines.as_array().map(Vec::len),
            Some(1),
            "{backend:?}: the SSH push started a pipeline: {pipelines}"
        );
        ok(git(&src, &sa, &["push", "-q", &url, "main"]), "an up-to-date push");

        // Clone with protocol v2 and v0; fetch a later push.
        for (n, version) in ["2", "0"].iter().enumerate() {
            let dest = format!("clone{n}");
            ok(git(w, &sa, &["-c", &format!("protocol.version={version}"), "clone", "-q", &url, &dest]), "clone");
            assert_eq!(std::fs::read_to_string(w.join(&dest).join("README")).expect("README"), "hello over ssh\n");
        }
        std::fs::write(src.join("README"), "second\n").expect("write");
        ok(git(&src, &sa, &["commit", "-qam", "second"]), "commit");
        ok(git(&src, &sa, &["push", "-q", &url, "main"]), "second push");
        ok(git(&w.join("clone0"), &sa, &["pull", "-q", "origin", "main"]), "fetch over ssh");
        assert_eq!(std::fs::read_to_string(w.join("clone0").join("README")).expect("README"), "second\n");
        ok(git(&src, &sa, &["push", "-q", &url, "main:feature"]), "a new branch");
        let branches = s.get_json(&format!("/projects/{}/repository/branches", p["id"]), &alice);
        assert_eq!(branches.as_array().map(Vec::len), Some(2), "{branches}");

        // The same authorization as HTTP: bob cannot see alice's private project.
        let denied = git(w, &sb, &["clone", "-q", &url, "bobs"]);
        assert!(!denied.status.success());
        assert!(
            String::from_utf8_lossy(&denied.stderr).contains("could not be found or you don't have permission"),
            "{}",
            String::from_utf8_lossy(&denied.stderr)
        );
        let archive = git(w, &sb, &["archive", "--remote", &url, "main"]);
        assert!(!archive.status.success(), "git-upload-archive on a private repo is refused to a stranger");
        let mine = git(w, &sa, &["archive", "--format=tar", "--remote", &url, "main"]);
        assert!(
            mine.status.success() && mine.stdout.len() > 512,
            "the owner archives: {}",
            String::from_utf8_lossy(&mine.stderr)
        );
        // Reporter can read, not push.
        s.post(
            &format!("/projects/{}/members", p["id"]),
            &alice,
            &[("user_id", &s.get_json("/user", &bob)["id"].to_string()), ("access_level", "20")],
        );
        ok(git(w, &sb, &["clone", "-q", &url, "bobs"]), "a reporter clones");
        let push = git(&w.join("bobs"), &sb, &["push", "-q", "origin", "HEAD:main"]);
        assert!(
            !push.status.success() && String::from_utf8_lossy(&push.stderr).contains("not allowed to push"),
            "{}",
            String::from_utf8_lossy(&push.stderr)
        );

        // Commands other than git's, and the greeting.
        let port = s.ssh_addr.as_deref().expect("ssh").rsplit(':').next().expect("port").to_string();
        let run = |cmd: Option<&str>| {
            let mut c = Command::new("ssh");
            c.args(["-T", "-p", &port, "-i"]).arg(&ka.private).args([
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "BatchMode=yes",
                "-o",
                "LogLevel=ERROR",
                "git@127.0.0.1",
            ]);
            if let Some(cmd) = cmd {
                c.arg(cmd);
            }
            c.output().expect("ssh runs")
        };
        let hello = run(None);
        assert!(
            hello.status.success() && String::from_utf8_lossy(&hello.stderr).contains("Welcome to AutoGit, @alice!"),
            "{hello:?}"
        );
        let shell = run(Some("rm -rf /"));
        assert!(
            !shell.status.success()
                && String::from_utf8_lossy(&shell.stderr).contains("only git clone, fetch and push"),
            "{shell:?}"
        );
        let traversal = run(Some("git-upload-pack '/alice/../root/x.git'"));
        assert!(
            !traversal.status.success()
                && String::from_utf8_lossy(&traversal.stderr).contains("invalid repository path"),
            "{traversal:?}"
        );

        // An unknown key, then a deleted one.
        let stranger = keygen(w, "stranger", &["-t", "ed25519"]);
        let unknown = git(w, &ssh_command(&s, &stranger.private), &["ls-remote", &url]);
        assert!(
            String::from_utf8_lossy(&unknown.stderr).contains("Permission denied (publickey)"),
            "{}",
            String::from_utf8_lossy(&unknown.stderr)
        );
        let id = added["id"].to_string();
        assert_eq!(
            s.req(reqwest::Method::DELETE, &format!("/user/keys/{id}"), &alice).send().expect("delete").status(),
            204
        );
        assert!(!git(w, &sa, &["ls-remote", &url]).status.success(), "{backend:?}: a deleted key opens nothing");
    }
}

#[test]
fn deploy_keys_open_one_project_read_only_or_read_write() {
    let s = start(Backend::Sqlite);
    let work = tempfile::tempdir().expect("tempdir");
    let w = work.path();
    let (_, alice) = s.user("dana", "api");
    let a = s.post("/projects", &alice, &[("name", "app"), ("visibility", "private")]);
    let other = s.post("/projects", &alice, &[("name", "other"), ("visibility", "private")]);
    let ro = keygen(w, "ro_key", &["-t", "ed25519"]);
    let rw = keygen(w, "rw_key", &["-t", "ecdsa", "-b", "256"]);
    let base = format!("/projects/{}/deploy_keys", a["id"]);
    let created = s.post(&base, &alice, &[("title", "ci read"), ("key", &ro.public)]);
    assert_eq!(created["can_push"], false);
    let created_rw = s.post(&base, &alice, &[("title", "deployer"), ("key", &rw.public), ("can_push", "true")]);
    assert_eq!(created_rw["can_push"], true);
    assert_eq!(s.get_json(&base, &alice).as_array().map(Vec::len), Some(2));
    // The owner's first push, over HTTP.
    let src = w.join("src");
    std::fs::create_dir(&src).expect("mkdir");
    ok(git(&src, "ssh", &["init", "-q", "-b", "main"]), "init");
    std::fs::write(src.join("f"), "1\n").expect("write");
    ok(git(&src, "ssh", &["add", "."]), "add");
    ok(git(&src, "ssh", &["commit", "-qm", "one"]), "commit");
    ok(git(&src, "ssh", &["push", "-q", &s.git_url("dana/app", &alice), "main"]), "push over http");

    let url = a["ssh_url_to_repo"].as_str().expect("ssh url").to_string();
    let other_url = other["ssh_url_to_repo"].as_str().expect("ssh url").to_string();
    let (sro, srw) = (ssh_command(&s, &ro.private), ssh_command(&s, &rw.private));
    ok(git(w, &sro, &["clone", "-q", &url, "ro"]), "a read-only deploy key clones");
    let push = git(&w.join("ro"), &sro, &["push", "-q", "origin", "HEAD:other-branch"]);
    assert!(
        !push.status.success() && String::from_utf8_lossy(&push.stderr).contains("does not allow pushing"),
        "{}",
        String::from_utf8_lossy(&push.stderr)
    );
    assert!(!git(w, &sro, &["ls-remote", &other_url]).status.success(), "a deploy key opens its project only");
    ok(git(w, &srw, &["clone", "-q", &url, "rw"]), "clone");
    std::fs::write(w.join("rw").join("f"), "2\n").expect("write");
    ok(git(&w.join("rw"), &srw, &["commit", "-qam", "two"]), "commit");
    ok(git(&w.join("rw"), &srw, &["push", "-q", "origin", "HEAD:release"]), "a read-write deploy key pushes");
    // An administrator who is no member of the project adds a deploy key: it opens the project.
    let admin_key = keygen(w, "admin_dk", &["-t", "ed25519"]);
    s.post(&base, &s.root_token, &[("title", "by admin"), ("key", &admin_key.public)]);
    ok(git(w, &ssh_command(&s, &admin_key.private), &["ls-remote", &url]), "an administrator's deploy key reads");
    assert!(
        !git(w, &ssh_command(&s, &admin_key.private), &["ls-remote", &other_url]).status.success(),
        "and only its project"
    );
    // A deploy key cannot be added as a user's key too (one fingerprint, one identity).
    assert_eq!(add_key(&s, &alice, "dup", &ro.public).status(), 400);
    // Deleting it closes the door.
    let id = created["id"].to_string();
    assert_eq!(s.req(reqwest::Method::DELETE, &format!("{base}/{id}"), &alice).send().expect("delete").status(), 204);
    assert!(!git(w, &sro, &["ls-remote", &url]).status.success());
}

#[test]
fn invalid_and_weak_keys_are_refused_with_the_reason() {
    let s = start(Backend::Sqlite);
    let work = tempfile::tempdir().expect("tempdir");
    let (_, tok) = s.user("erin", "api");
    let weak = keygen(work.path(), "weak", &["-t", "rsa", "-b", "1024"]);
    let cases: &[(&str, &str)] = &[
        ("", "key is missing"),
        ("ssh-ed25519 AAAA", "not a valid SSH public key"),
        ("not a key at all", "not a valid SSH public key"),
        (&weak.public, "at least 2048"),
    ];
    for (key, why) in cases {
        let r = s
            .req(reqwest::Method::POST, "/user/keys", &tok)
            .form(&[("title", "t"), ("key", key)])
            .send()
            .expect("request");
        assert_eq!(r.status(), 400, "{key:?}");
        let body = r.text().expect("body");
        assert!(body.contains(why), "{key:?}: {body}");
    }
    let good = keygen(work.path(), "good", &["-t", "ed25519"]);
    let untitled = s
        .req(reqwest::Method::POST, "/user/keys", &tok)
        .form(&[("key", good.public.as_str())])
        .send()
        .expect("request");
    assert_eq!(untitled.status(), 400, "a title is required");
    assert_eq!(s.get_json("/user/keys", &tok), Value::Array(vec![]), "nothing was stored");
}

#[test]
fn python_gitlab_manages_keys() {
    let probe = Command::new("python3").args(["-c", "import gitlab"]).output().expect("python3 runs");
    assert!(probe.status.success(), "python-gitlab is not installed: run `python3 -m pip install python-gitlab`");
    let s = start(Backend::Sqlite);
    let work = tempfile::tempdir().expect("tempdir");
    let (_, tok) = s.user("fiona", "api");
    let (k, d) = (keygen(work.path(), "k", &["-t", "ed25519"]), keygen(work.path(), "d", &["-t", "ed25519"]));
    let out = Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/ssh_keys.py"))
        .args([s.url.as_str(), tok.as_str(), k.public.as_str(), d.public.as_str()])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "python-gitlab key checks failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn connection_floods_and_key_guessing_are_limited_per_address() {
    let s = Server::start_with(
        Backend::Sqlite,
        &[
            ("AUTOGIT_SSH_LISTEN", "127.0.0.1:0"),
            ("AUTOGIT_SSH_MAX_CONNECTIONS_PER_ADDRESS", "2"),
            ("AUTOGIT_AUTH_ADDRESS_MAX_FAILURES", "3"),
        ],
    );
    let work = tempfile::tempdir().expect("tempdir");
    let w = work.path();
    let (_, tok) = s.user("gina", "api");
    let key = keygen(w, "gina_key", &["-t", "ed25519"]);
    assert_eq!(add_key(&s, &tok, "k", &key.public).status(), 201);
    let addr = s.ssh_addr.clone().expect("ssh");
    let banner = |stream: &mut std::net::TcpStream| -> bool {
        use std::io::Read;
        stream.set_read_timeout(Some(std::time::Duration::from_secs(5))).expect("timeout");
        let mut buf = [0u8; 64];
        matches!(stream.read(&mut buf), Ok(n) if n > 0 && buf.starts_with(b"SSH-2.0-"))
    };
    // Two idle connections from one address are served; the third is closed before the banner.
    let mut a = std::net::TcpStream::connect(&addr).expect("connect");
    let mut b = std::net::TcpStream::connect(&addr).expect("connect");
    assert!(banner(&mut a) && banner(&mut b), "two connections get the server's banner");
    let mut c = std::net::TcpStream::connect(&addr).expect("connect");
    assert!(!banner(&mut c), "the third connection from the address is closed at once");
    drop((a, b, c));
    std::thread::sleep(std::time::Duration::from_millis(300));

    // Connections that end without authenticating count against the address: the two idle ones
    // above made two failures, a key nobody has makes the third, and the address is locked.
    let stranger = keygen(w, "stranger", &["-t", "ed25519"]);
    let p = s.post("/projects", &tok, &[("name", "lim")]);
    let url = p["ssh_url_to_repo"].as_str().expect("ssh url").to_string();
    let before = git(w, &ssh_command(&s, &key.private), &["ls-remote", &url]);
    assert!(before.status.success(), "two failures do not lock: {}", String::from_utf8_lossy(&before.stderr));
    let out = git(w, &ssh_command(&s, &stranger.private), &["ls-remote", &url]);
    assert!(!out.status.success());
    std::thread::sleep(std::time::Duration::from_millis(300));
    let locked = git(w, &ssh_command(&s, &key.private), &["ls-remote", &url]);
    assert!(!locked.status.success(), "locked: even a valid key is refused from the address");
    let mut d = std::net::TcpStream::connect(&addr).expect("connect");
    assert!(!banner(&mut d), "a locked address's connections are closed before the handshake");
    // HTTP from the same address is limited by the same lock for passwords, not for tokens.
    assert_eq!(s.get("/user", &tok).status(), 200, "tokens still work");
}
