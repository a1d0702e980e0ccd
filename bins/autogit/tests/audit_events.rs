//! The audit log over real HTTP: sign-in, failed sign-in, sign-out, session revocation, token
//! creation and revocation, membership and visibility changes, runner registration and user
//! creation each leave one event with who, what, when and from where; none holds a secret;
//! only administrators read it, in GitLab's shape, also through python-gitlab.

mod common;

use common::browser::Browser;
use common::{Server, backends};
use serde_json::Value;

const PASSWORD: &str = "a-long-password";

#[test]
fn who_did_what_when_and_from_where_without_secrets() {
    for backend in backends() {
        let s = Server::start_on(backend);
        let (uid, user_token) = s.user("frank", "api");
        // A token created through the API (the CLI one above is the server owner's, unaudited).
        let made = s.post(
            &format!("/users/{uid}/personal_access_tokens"),
            &s.root_token,
            &[("name", "deploy"), ("scopes[]", "api")],
        );
        let secret = made["token"].as_str().expect("token secret").to_string();
        let token_id = made["id"].to_string();
        let r = s
            .req(reqwest::Method::DELETE, &format!("/personal_access_tokens/{token_id}"), &s.root_token)
            .send()
            .expect("revoke");
        assert_eq!(r.status(), 204);
        let p = s.post("/projects", &s.root_token, &[("name", "shared")]);
        let pid = p["id"].to_string();
        s.post(
            &format!("/projects/{pid}/members"),
            &s.root_token,
            &[("user_id", &uid.to_string()), ("access_level", "30")],
        );
        s.req(reqwest::Method::PUT, &format!("/projects/{pid}/members/{uid}"), &s.root_token)
            .form(&[("access_level", "40")])
            .send()
            .expect("update member");
        s.req(reqwest::Method::PUT, &format!("/projects/{pid}"), &s.root_token)
            .form(&[("visibility", "public")])
            .send()
            .expect("visibility");
        let runner = s.post(
            "/user/runners",
            &s.root_token,
            &[("runner_type", "project_type"), ("project_id", &pid), ("description", "gpu box")],
        );
        let runner_secret = runner["token"].as_str().expect("runner token").to_string();
        let mut b = Browser::new(&s, "audit");
        assert_eq!(b.sign_in("frank", "not-the-password").status, 401);
        assert_eq!(b.sign_in("frank", PASSWORD).status, 302);
        let session_secret = b.session().expect("session").clone();
        let csrf = b.get("/").csrf();
        assert_eq!(b.post("/-/user_settings/active_sessions/revoke_all", &[("authenticity_token", &csrf)]).status, 302);
        assert_eq!(b.post("/users/sign_out", &[("authenticity_token", &csrf)]).status, 302);

        let r = s.get("/audit_events?per_page=100", &s.root_token);
        assert_eq!(r.status(), 200);
        let text = r.text().expect("body");
        for secret in [PASSWORD, "not-the-password", &secret, &runner_secret, &session_secret, &user_token] {
            assert!(!text.contains(secret), "{backend:?}: the audit log holds a secret");
        }
        let events: Vec<Value> = serde_json::from_str(&text).expect("json");
        let find = |name: &str| -> Value {
            events
                .iter()
                .find(|e| e["event_name"] == name)
                .unwrap_or_else(|| panic!("{backend:?}: no {name} event in {text}"))
                .clone()
        };
        let signed_in = find("user_signed_in");
        assert_eq!((signed_in["author_id"].as_i64(), signed_in["entity_type"].as_str()), (Some(uid), Some("User")));
        assert_eq!(signed_in["details"]["ip_address"], "127.0.0.1");
        let failed = find("user_sign_in_failed");
        assert_eq!(failed["author_id"], -1, "nobody was signed in");
        assert_eq!(failed["details"]["author_name"], "frank", "the login as given");
        find("user_signed_out");
        find("user_sessions_revoked");
        let created = find("personal_access_token_created");
        assert_eq!(
            (created["entity_id"].as_i64(), &created["details"]["target_details"]),
            (Some(uid), &Value::from("deploy"))
        );
        assert_eq!(created["details"]["author_name"], "root");
        find("personal_access_token_revoked");
        find("user_created");
        let member = find("member_updated");
        assert_eq!(
            (&member["details"]["from"], &member["details"]["to"]),
            (&Value::from("developer"), &Value::from("maintainer"))
        );
        assert_eq!(member["details"]["target_details"], "frank");
        find("member_created");
        let vis = find("project_visibility_level_updated");
        assert_eq!((vis["entity_path"].as_str(), vis["details"]["entity_path"].as_str()), (None, Some("root/shared")));
        let reg = find("ci_runner_registered");
        assert_eq!(
            (reg["entity_type"].as_str(), reg["details"]["target_details"].as_str()),
            (Some("Project"), Some("gpu box"))
        );
        assert!(events.windows(2).all(|w| w[0]["id"].as_i64() > w[1]["id"].as_i64()), "newest first");

        // Filters, one event, and who may read.
        let mine = s.get_json(&format!("/audit_events?entity_type=User&entity_id={uid}"), &s.root_token);
        assert!(mine.as_array().expect("list").iter().all(|e| e["entity_id"].as_i64() == Some(uid)));
        let one = s.get_json(&format!("/audit_events/{}", vis["id"]), &s.root_token);
        assert_eq!(one, vis);
        assert_eq!(s.get("/audit_events?entity_type=Planet", &s.root_token).status(), 400);
        assert_eq!(s.get("/audit_events?created_after=yesterday", &s.root_token).status(), 400);
        let future = s.get_json("/audit_events?created_after=2999-01-01", &s.root_token);
        assert_eq!(future, Value::Array(vec![]));
        assert_eq!(s.get("/audit_events", &user_token).status(), 403);
        assert_eq!(s.get("/audit_events", "").status(), 401);
        assert_eq!(s.get("/audit_events/999999", &s.root_token).status(), 404);
    }
}

#[test]
fn python_gitlab_reads_the_audit_log() {
    let probe = std::process::Command::new("python3").args(["-c", "import gitlab"]).output().expect("python3 runs");
    assert!(probe.status.success(), "python-gitlab is not installed: run `python3 -m pip install python-gitlab`");
    let s = Server::start();
    let (_, user_token) = s.user("grace", "api");
    let out = std::process::Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/audit_events.py"))
        .args([&s.url, &s.root_token, &user_token])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "python-gitlab audit checks failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
