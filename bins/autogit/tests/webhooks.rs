//! Project webhooks end to end, against a real local HTTP receiver: the outbound policy (local and
//! metadata addresses refused until an administrator allows them), maintainers-only hooks whose
//! token and URL password never come back, GitLab's headers and push / tag push payloads for git
//! pushes and API writes, the branch filter, the delivery log with test and re-send, and a
//! receiver that is down (through a server restart) getting every event in order once it is back.
//! SQLite always, PostgreSQL when configured.

mod common;

use common::hook_listener::{HookListener, Received};
use common::{Backend, Server, backends, git_ok, work_repo};
use reqwest::Method;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

fn start(backend: Backend) -> Server {
    Server::start_with(backend, &[("AUTOGIT_WEBHOOKS_BACKOFF_SECONDS", "1")])
}

fn send(s: &Server, method: Method, path: &str, token: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let r = s.req(method, path, token).form(form).send().expect("request");
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

fn allow_local(s: &Server) {
    let form = [("allow_local_requests_from_web_hooks_and_services", "true")];
    let (st, body) = send(s, Method::PUT, "/application/settings", &s.root_token, &form);
    assert_eq!((st, &body["allow_local_requests_from_web_hooks_and_services"]), (200, &json!(true)), "{body}");
}

fn commit(work: &Path, file: &str) -> String {
    std::fs::write(work.join(file), file).expect("write");
    git_ok(work, &["add", "-A"]);
    git_ok(work, &["commit", "-q", "-m", &format!("add {file}")]);
    git_ok(work, &["rev-parse", "HEAD"])
}

fn next(l: &HookListener, what: &str) -> Received {
    l.next(WAIT).unwrap_or_else(|| panic!("no delivery for {what}"))
}

fn deliveries(backend: Backend) {
    let s = start(backend);
    let (pid, dev, maint) = s.team_project("hooks");
    let hooks = format!("/projects/{pid}/hooks");
    let listener = HookListener::start();

    // Local and metadata addresses are refused while the instance does not allow them.
    for url in [listener.url("/hook"), "http://169.254.169.254/latest".into(), "http://localhost:1/".into()] {
        let (st, body) = send(&s, Method::POST, &hooks, &maint, &[("url", &url)]);
        assert_eq!(st, 400, "{url}: {body}");
        let why = body["message"]["url"][0].as_str().unwrap_or_default();
        assert!(why.starts_with("is blocked: Requests to a "), "{url}: {body}");
    }
    let (st, _) = send(
        &s,
        Method::PUT,
        "/application/settings",
        &maint,
        &[("allow_local_requests_from_web_hooks_and_services", "true")],
    );
    assert_eq!(st, 403, "only administrators change where hooks may go");
    let (st, _) = send(
        &s,
        Method::PUT,
        "/application/settings",
        &s.root_token,
        &[("outbound_local_requests_allowlist", "not a host!")],
    );
    assert_eq!(st, 400);
    allow_local(&s);
    let (st, body) = send(&s, Method::POST, &hooks, &maint, &[("url", "http://169.254.169.254/latest")]);
    assert_eq!(st, 400, "metadata stays refused: {body}");

    // Maintainers only; the token and the URL's password never come back.
    let url = listener.url("/hook").replace("http://", "http://bot:pa55word@");
    let form = [("url", url.as_str()), ("token", "s3cret-token"), ("tag_push_events", "true"), ("name", "ci")];
    assert_eq!(send(&s, Method::POST, &hooks, &dev, &form).0, 403, "developers may not add hooks");
    let (st, hook) = send(&s, Method::POST, &hooks, &maint, &form);
    assert_eq!(st, 201, "{hook}");
    let shown = hook.to_string();
    assert!(!shown.contains("pa55word") && !shown.contains("s3cret-token"), "{shown}");
    assert!(hook["url"].as_str().is_some_and(|u| u.contains("bot:*****@")), "{hook}");
    assert_eq!((hook["push_events"].as_bool(), hook["tag_push_events"].as_bool()), (Some(true), Some(true)));
    assert_eq!(hook["alert_status"], "executable");
    let release_url = listener.url("/release");
    let filtered = [("url", release_url.as_str()), ("push_events_branch_filter", "release/*")];
    let (st, release_hook) = send(&s, Method::POST, &hooks, &maint, &filtered);
    assert_eq!(st, 201, "{release_hook}");
    assert_eq!(s.get(&hooks, &dev).status(), 403);
    assert_eq!(s.get(&hooks, "").status(), 404, "anonymous: the private project is hidden");
    let listed = s.get_json(&hooks, &maint);
    assert_eq!(listed.as_array().map(Vec::len), Some(2));
    assert!(!listed.to_string().contains("pa55word"));

    // A push: GitLab's headers and payload, to the hooks that want it.
    let (_t, work) = work_repo(1);
    let head = commit(&work, "b.txt");
    git_ok(&work, &["push", "-q", &s.git_url("hooks/app", &maint), "main"]);
    let got = next(&listener, "the push to main");
    assert_eq!((got.method.as_str(), got.path.as_str()), ("POST", "/hook"));
    assert_eq!(got.header("x-gitlab-event"), Some("Push Hook"));
    assert_eq!(got.header("x-gitlab-token"), Some("s3cret-token"));
    assert_eq!(got.header("x-gitlab-instance"), Some(s.url.as_str()));
    assert_eq!(got.header("content-type"), Some("application/json"));
    assert!(got.header("authorization").is_some_and(|a| a.starts_with("Basic ")), "credentials of the URL");
    let uuid = got.header("x-gitlab-webhook-uuid").expect("webhook uuid");
    assert_eq!(uuid.len(), 36);
    assert!(got.header("idempotency-key").is_some());
    let p = got.json();
    assert_eq!((p["object_kind"].as_str(), p["event_name"].as_str()), (Some("push"), Some("push")));
    assert_eq!((p["ref"].as_str(), p["after"].as_str()), (Some("refs/heads/main"), Some(head.as_str())));
    assert_eq!(p["before"], "0".repeat(40));
    assert_eq!((p["user_username"].as_str(), p["project_id"].as_i64()), (Some("hooks-maint"), Some(pid)));
    assert_eq!(p["project"]["path_with_namespace"], "hooks/app");
    assert_eq!(p["project"]["web_url"], format!("{}/hooks/app", s.url));
    assert_eq!((p["checkout_sha"].as_str(), p["ref_protected"].as_bool()), (Some(head.as_str()), Some(true)));
    assert_eq!(p["total_commits_count"], 2);
    assert_eq!(p["commits"][0]["id"], head.as_str());
    assert_eq!(p["commits"][0]["added"], json!(["b.txt"]));
    assert_eq!(p["commits"][0]["url"], format!("{}/hooks/app/-/commit/{head}", s.url));
    assert!(listener.next(Duration::from_millis(500)).is_none(), "the release hook filters main out");

    // A release branch reaches both hooks; a tag only the one that wants tags; an API write too.
    git_ok(&work, &["push", "-q", &s.git_url("hooks/app", &maint), "main:release/1"]);
    let mut paths = [next(&listener, "release/1").path, next(&listener, "release/1").path];
    paths.sort();
    assert_eq!(paths, ["/hook".to_string(), "/release".to_string()]);
    git_ok(&work, &["tag", "v1.0"]);
    git_ok(&work, &["push", "-q", &s.git_url("hooks/app", &maint), "v1.0"]);
    let tag = next(&listener, "the tag");
    assert_eq!(tag.header("x-gitlab-event"), Some("Tag Push Hook"));
    let t = tag.json();
    assert_eq!((t["object_kind"].as_str(), t["ref"].as_str()), (Some("tag_push"), Some("refs/tags/v1.0")));
    assert_eq!((t["commits"].as_array().map(Vec::len), t["total_commits_count"].as_i64()), (Some(0), Some(0)));
    let (st, _) = send(
        &s,
        Method::POST,
        &format!("/projects/{pid}/repository/branches"),
        &dev,
        &[("branch", "feature"), ("ref", "main")],
    );
    assert_eq!(st, 201);
    let api = next(&listener, "the API's branch");
    assert_eq!(
        (api.json()["ref"].as_str(), api.json()["user_username"].as_str()),
        (Some("refs/heads/feature"), Some("hooks-dev"))
    );
    assert!(listener.next(Duration::from_millis(300)).is_none(), "each event once");

    // The delivery log, test and re-send.
    let id = hook["id"].as_i64().expect("hook id");
    let log = s.get_json(&format!("{hooks}/{id}/events"), &maint);
    let log = log.as_array().expect("events");
    assert_eq!(log.len(), 4, "main, release/1, v1.0, feature");
    assert!(log.iter().all(|e| e["state"] == "delivered" && e["response_status"] == "200"), "{log:?}");
    assert_eq!(log[0]["request_data"]["ref"], "refs/heads/feature", "newest first");
    assert!(!Value::Array(log.clone()).to_string().contains("s3cret-token"), "no token in the log");
    listener.answer(500);
    let (st, body) = send(&s, Method::POST, &format!("{hooks}/{id}/test/push_events"), &maint, &[]);
    assert_eq!(st, 422, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| m.contains("500")), "{body}");
    let sample = next(&listener, "the test").json();
    assert_eq!((sample["object_kind"].as_str(), sample["ref"].as_str()), (Some("push"), Some("refs/heads/main")));
    listener.answer(200);
    let (st, body) = send(&s, Method::POST, &format!("{hooks}/{id}/test/push_events"), &maint, &[]);
    assert_eq!((st, body), (201, json!({"message": "201 Created"})));
    next(&listener, "the second test");
    assert_eq!(send(&s, Method::POST, &format!("{hooks}/{id}/test/nothing"), &maint, &[]).0, 400);
    let first = log.last().expect("the first delivery")["id"].as_i64().expect("id");
    let (st, _) = send(&s, Method::POST, &format!("{hooks}/{id}/events/{first}/resend"), &maint, &[]);
    assert_eq!(st, 201);
    let again = next(&listener, "the re-send");
    assert_eq!(again.json()["ref"], "refs/heads/main");
    assert_eq!(send(&s, Method::POST, &format!("{hooks}/{id}/events/{first}/resend"), &dev, &[]).0, 403);

    // Changed and deleted by maintainers; the URL shown back keeps the stored password.
    let (st, changed) = send(
        &s,
        Method::PUT,
        &format!("{hooks}/{id}"),
        &maint,
        &[("url", hook["url"].as_str().unwrap_or("")), ("push_events", "false")],
    );
    assert_eq!((st, changed["push_events"].as_bool()), (200, Some(false)), "{changed}");
    git_ok(&work, &["push", "-q", &s.git_url("hooks/app", &maint), "main:refs/heads/release/2"]);
    let only = next(&listener, "release/2");
    assert_eq!(only.path, "/release", "the first hook no longer wants pushes");
    assert_eq!(send(&s, Method::DELETE, &format!("{hooks}/{id}"), &dev, &[]).0, 403);
    assert_eq!(send(&s, Method::DELETE, &format!("{hooks}/{id}"), &maint, &[]).0, 204);
    assert_eq!(s.get(&format!("{hooks}/{id}"), &maint).status(), 404);
}

#[test]
fn pushes_reach_hooks_with_gitlabs_headers_and_payloads() {
    for b in backends() {
        deliveries(b);
    }
}

/// A receiver that is down while six pushes happen, and the server restarted meanwhile, gets the
/// six events in push order once it is back; the hook rests while it fails and recovers after.
#[test]
fn a_receiver_that_was_down_gets_every_event_in_order() {
    let mut s = start(Backend::Sqlite);
    allow_local(&s);
    let (pid, _dev, maint) = s.team_project("down");
    let mut listener = HookListener::start();
    let (st, hook) = send(&s, Method::POST, &format!("/projects/{pid}/hooks"), &maint, &[("url", &listener.url("/"))]);
    assert_eq!(st, 201, "{hook}");
    let id = hook["id"].as_i64().expect("id");
    listener.stop();
    let (_t, work) = work_repo(1);
    let mut pushed = Vec::new();
    for i in 0..6 {
        pushed.push(commit(&work, &format!("f{i}")));
        git_ok(&work, &["push", "-q", &s.git_url("down/app", &maint), "main"]);
    }
    // Failing: it retries the first event and rests longer each time.
    std::thread::sleep(Duration::from_secs(6));
    let rested = s.get_json(&format!("/projects/{pid}/hooks/{id}"), &maint);
    assert_eq!(rested["alert_status"], "temporarily_disabled", "{rested}");
    s.crash_and_restart();
    let listener = listener.restart();
    let mut afters = Vec::new();
    for n in 0..6 {
        let got = listener.next(Duration::from_secs(40)).unwrap_or_else(|| panic!("event {n} never arrived"));
        afters.push(got.json()["after"].as_str().expect("after").to_string());
    }
    assert_eq!(afters, pushed, "every event, in push order");
    assert!(listener.next(Duration::from_millis(500)).is_none(), "each once");
    let healthy = s.get_json(&format!("/projects/{pid}/hooks/{id}"), &maint);
    assert_eq!(healthy["alert_status"], "executable", "{healthy}");
}

/// python-gitlab's `project.hooks` and `gl.settings`.
#[test]
fn python_gitlab_hooks() {
    let s = start(Backend::Sqlite);
    common::run_python_gitlab("hooks.py", &[&s.url, &s.root_token]);
}

/// A hook's URL password and token are sealed in the database (in no database file as plain
/// text) and follow a key rotation: after `rotate-key --drop-old` the hook still sends both.
#[test]
fn hook_secrets_are_sealed_and_follow_rotation() {
    let s = start(Backend::Sqlite);
    allow_local(&s);
    let (pid, _dev, maint) = s.team_project("sealed");
    let listener = HookListener::start();
    let url = listener.url("/").replace("http://", "http://bot:url-pa55word-7@");
    let form = [("url", url.as_str()), ("token", "hook-t0ken-secret-7")];
    assert_eq!(send(&s, Method::POST, &format!("/projects/{pid}/hooks"), &maint, &form).0, 201);
    let in_files = |plain: &str| {
        ["autogit.db", "autogit.db-wal"].iter().any(|f| {
            let bytes = std::fs::read(s.data.path().join(f)).unwrap_or_default();
            bytes.windows(plain.len()).any(|w| w == plain.as_bytes())
        })
    };
    assert!(!in_files("url-pa55word-7") && !in_files("hook-t0ken-secret-7"), "sealed at rest");
    let stored = s.db_rows("SELECT url || ' ' || token FROM project_hooks");
    assert!(stored.iter().all(|r| r.starts_with("agsec:v1:") && r.contains(" agsec:v1:")), "{stored:?}");
    for args in [&["admin", "rotate-key"][..], &["admin", "rotate-key", "--drop-old"]] {
        let out = s.autogit(args);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let resealed = s.db_rows("SELECT url || ' ' || token FROM project_hooks");
    assert_ne!(resealed, stored, "re-sealed under the new key");
    let (_t, work) = work_repo(1);
    git_ok(&work, &["push", "-q", &s.git_url("sealed/app", &maint), "main"]);
    let got = next(&listener, "the push after the rotation");
    assert_eq!(got.header("x-gitlab-token"), Some("hook-t0ken-secret-7"));
    let basic = got.header("authorization").expect("basic auth").trim_start_matches("Basic ").to_string();
    assert_eq!(basic, "Ym90OnVybC1wYTU1d29yZC03", "bot:url-pa55word-7");
}

/// A push over SSH settles exactly as one over HTTP: its hook delivery names the SSH clone URL.
#[test]
fn ssh_pushes_reach_hooks_too() {
    use std::process::Command;
    let s = Server::start_with(Backend::Sqlite, &[("AUTOGIT_SSH_LISTEN", "127.0.0.1:0")]);
    allow_local(&s);
    let (pid, _dev, maint) = s.team_project("viassh");
    let listener = HookListener::start();
    assert_eq!(
        send(&s, Method::POST, &format!("/projects/{pid}/hooks"), &maint, &[("url", &listener.url("/"))]).0,
        201
    );
    let keys = tempfile::tempdir().expect("tempdir");
    let key = keys.path().join("k");
    let made = Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-f"]).arg(&key).output();
    assert!(made.expect("ssh-keygen").status.success());
    let public = std::fs::read_to_string(key.with_extension("pub")).expect("public key");
    assert_eq!(send(&s, Method::POST, "/user/keys", &maint, &[("title", "k"), ("key", public.trim())]).0, 201);
    let port = s.ssh_addr.as_deref().expect("ssh").rsplit(':').next().expect("port").to_string();
    let ssh = format!(
        "ssh -p {port} -i {} -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR",
        key.display()
    );
    let (_t, work) = work_repo(1);
    let url = format!("ssh://git@127.0.0.1:{port}/viassh/app.git");
    let out =
        Command::new("git").args(["push", "-q", &url, "main"]).current_dir(&work).env("GIT_SSH_COMMAND", &ssh).output();
    let out = out.expect("git push over ssh");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got = next(&listener, "the SSH push").json();
    assert_eq!(got["user_username"], "viassh-maint");
    assert_eq!(got["project"]["git_ssh_url"], format!("ssh://git@127.0.0.1:{port}/viassh/app.git"));
}
