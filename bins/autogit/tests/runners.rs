//! Runner creation and registration: a user creates a runner, `autogit runner register` verifies
//! its `glrt-` token against the real server and writes its configuration, and unregistering
//! revokes it.

mod common;

use common::Server;
use reqwest::Method;
use serde_json::Value;
use std::process::Command;

#[test]
fn create_register_and_unregister_a_runner() {
    let s = Server::start();
    // Only administrators create instance runners.
    let (_, user_t) = s.user("ursula", "api");
    let r = s
        .req(Method::POST, "/user/runners", &user_t)
        .form(&[("runner_type", "instance_type")])
        .send()
        .expect("request");
    assert_eq!(r.status(), 403);
    let created = s.post(
        "/user/runners",
        &s.root_token,
        &[("runner_type", "instance_type"), ("description", "lab box"), ("tag_list", "gpu,linux")],
    );
    let token = created["token"].as_str().expect("token").to_string();
    assert!(token.starts_with("glrt-"), "{token}");
    let id = created["id"].as_i64().expect("id");

    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("runner.toml");
    let register = |token: &str| {
        Command::new(env!("CARGO_BIN_EXE_autogit"))
            .args(["runner", "register", "--url", &s.url, "--token", token, "--runner-config"])
            .arg(&config)
            .arg("--builds-dir")
            .arg(dir.path().join("builds"))
            .output()
            .expect("runs")
    };
    let out = register(&token);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let written = std::fs::read_to_string(&config).expect("config written");
    assert!(written.contains(&format!("id = {id}")) && written.contains(&token), "{written}");

    let shown = s.get_json(&format!("/runners/{id}"), &s.root_token);
    assert_eq!(shown["description"], "lab box");
    assert_eq!(shown["tag_list"], serde_json::json!(["gpu", "linux"]));
    assert_eq!(shown["run_untagged"], false);
    assert_eq!(shown["status"], "online", "verify recorded contact: {shown}");
    assert_eq!(shown["executor"], "shell");
    assert_eq!(s.get(&format!("/runners/{id}"), &user_t).status(), 404, "others do not see instance runners");
    let all: Vec<Value> = s.get("/runners/all", &s.root_token).json().expect("json");
    assert_eq!(all.len(), 1);

    // The runner unregisters itself with its token; the token stops working.
    let http = reqwest::blocking::Client::new();
    let r = http
        .delete(format!("{}/api/v4/runners", s.url))
        .json(&serde_json::json!({"token": token}))
        .send()
        .expect("request");
    assert_eq!(r.status(), 204);
    let r = http
        .post(format!("{}/api/v4/runners/verify", s.url))
        .json(&serde_json::json!({"token": token}))
        .send()
        .expect("request");
    assert_eq!(r.status(), 403);
    let out = register(&token);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("refused the runner token"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
