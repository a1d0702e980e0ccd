//! The runner management endpoints over HTTP (`PUT /runners/:id`, `GET /runners/:id/jobs`,
//! `GET /runners`, legacy `POST /runners`) and the GPU telemetry a runner reports with a job's
//! final state. Every scenario runs on SQLite and, when configured, PostgreSQL.

mod common;

use common::job_api::{Ci, header};
use common::{Backend, backends};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[test]
fn runner_settings_lists_and_legacy_registration() {
    for backend in backends() {
        eprintln!("== {backend:?}");
        let ci = Ci::start(
            backend,
            &[("AUTOGIT_CI_LONG_POLL_SECONDS", "1"), ("AUTOGIT_CI_REGISTRATION_TOKEN", "GR1348941-test-registration")],
        );
        runner_management(&ci);
    }
    // Without a registration token the legacy flow is off.
    let ci = Ci::start(Backend::Sqlite, &[("AUTOGIT_CI_LONG_POLL_SECONDS", "1")]);
    let r = ci.http.post(ci.url("/runners")).json(&json!({"token": ""})).send().expect("register");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "a token is required");
    let r = ci.http.post(ci.url("/runners")).json(&json!({"token": "GR1348941anything"})).send().expect("register");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let body: Value = r.json().expect("json");
    assert!(body["message"].as_str().is_some_and(|m| m.contains("disabled")), "{body}");
}

fn runner_management(ci: &Ci) {
    let s = &ci.s;
    let put = |id: i64, token: &str, body: Value| {
        s.req(reqwest::Method::PUT, &format!("/runners/{id}"), token).json(&body).send().expect("PUT runner")
    };

    // Legacy registration: 201 with a glrt- token that works; 403 for a wrong token.
    let reg = json!({"token": "GR1348941-test-registration", "description": "legacy box", "tag_list": "docker, linux",
        "run_untagged": false, "locked": true, "access_level": "ref_protected", "maximum_timeout": 7200,
        "paused": false, "info": {"version": "18.1.0", "platform": "linux", "architecture": "amd64"}});
    let r = ci.http.post(ci.url("/runners")).json(&reg).send().expect("register");
    assert_eq!(r.status(), StatusCode::CREATED);
    let details: Value = r.json().expect("json");
    let token = details["token"].as_str().expect("token");
    assert!(token.starts_with("glrt-"), "{details}");
    assert_eq!(details["token_expires_at"], Value::Null);
    let legacy_id = details["id"].as_i64().expect("id");
    let shown = s.get_json(&format!("/runners/{legacy_id}"), &s.root_token);
    assert_eq!(shown["runner_type"], "instance_type");
    assert_eq!(shown["tag_list"], json!(["docker", "linux"]));
    assert_eq!((shown["locked"].clone(), shown["access_level"].clone()), (json!(true), json!("ref_protected")));
    assert_eq!(shown["maximum_timeout"], 7200);
    assert_eq!(shown["version"], "18.1.0");
    let r = ci.http.post(ci.url("/runners/verify")).json(&json!({"token": token})).send().expect("verify");
    assert_eq!(r.status(), StatusCode::OK);
    let array_tags = json!({"token": "GR1348941-test-registration", "tag_list": ["a", "b"]});
    let r = ci.http.post(ci.url("/runners")).json(&array_tags).send().expect("register");
    assert_eq!(r.status(), StatusCode::CREATED, "tag_list as an array");
    let wrong = json!({"token": "GR1348941-test-registratioN"});
    assert_eq!(ci.http.post(ci.url("/runners")).json(&wrong).send().expect("x").status(), StatusCode::FORBIDDEN);
    // `autogit runner register` with the registration token.
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("runner.toml");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_autogit"))
        .args(["runner", "register", "--url", &s.url, "--token", "GR1348941-test-registration", "--runner-config"])
        .arg(&config)
        .arg("--builds-dir")
        .arg(dir.path().join("builds"))
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(std::fs::read_to_string(&config).expect("config").contains("glrt-"));

    // PUT /runners/:id: every field, validation, permissions.
    let (alice_id, alice) = s.user("alice", "api");
    let (_, bob) = s.user("bob", "api");
    let p = s.post("/projects", &s.root_token, &[("name", "team"), ("visibility", "private")]);
    let pid = p["id"].as_i64().expect("project id");
    s.post(
        &format!("/projects/{pid}/members"),
        &s.root_token,
        &[("user_id", &alice_id.to_string()), ("access_level", "40")],
    );
    let created = s.post(
        "/user/runners",
        &alice,
        &[("runner_type", "project_type"), ("project_id", &pid.to_string()), ("tag_list", "x")],
    );
    let rid = created["id"].as_i64().expect("runner id");
    let r = put(
        rid,
        &alice,
        json!({"description": "renamed", "tag_list": ["b", "a", "a"], "run_untagged": true, "locked": true,
            "access_level": "ref_protected", "maximum_timeout": 900, "paused": true}),
    );
    assert_eq!(r.status(), StatusCode::OK, "a maintainer updates the project's runner");
    let v: Value = r.json().expect("json");
    assert_eq!(v["description"], "renamed");
    assert_eq!(v["tag_list"], json!(["a", "b"]));
    assert_eq!(
        (v["run_untagged"].clone(), v["locked"].clone(), v["paused"].clone(), v["active"].clone()),
        (json!(true), json!(true), json!(true), json!(false))
    );
    assert_eq!((v["access_level"].clone(), v["maximum_timeout"].clone()), (json!("ref_protected"), json!(900)));
    let v: Value = put(rid, &alice, json!({"maximum_timeout": null, "active": true})).json().expect("json");
    assert_eq!((v["maximum_timeout"].clone(), v["paused"].clone()), (Value::Null, json!(false)), "{v}");
    assert_eq!(v["description"], "renamed", "fields not given stay");
    assert_eq!(put(rid, &alice, json!({"maximum_timeout": 599})).status(), StatusCode::BAD_REQUEST);
    assert_eq!(put(rid, &alice, json!({"access_level": "everyone"})).status(), StatusCode::BAD_REQUEST);
    assert_eq!(put(rid, &alice, json!({"paused": true, "active": true})).status(), StatusCode::BAD_REQUEST);
    assert_eq!(put(rid, &alice, json!({"tag_list": ["a,b"]})).status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        put(rid, &alice, json!({"tag_list": [], "run_untagged": false})).status(),
        StatusCode::BAD_REQUEST,
        "a runner must be able to take something"
    );
    assert_eq!(put(rid, &bob, json!({"description": "mine"})).status(), StatusCode::NOT_FOUND, "a stranger");
    assert_eq!(put(legacy_id, &alice, json!({"description": "mine"})).status(), StatusCode::NOT_FOUND);
    assert_eq!(put(999_999, &s.root_token, json!({"description": "x"})).status(), StatusCode::NOT_FOUND);
    assert_eq!(put(legacy_id, &s.root_token, json!({"description": "admin's"})).status(), StatusCode::OK);
    assert_eq!(s.get(&format!("/runners/{rid}/jobs"), &alice).status(), StatusCode::OK);
    assert_eq!(s.get(&format!("/runners/{rid}/jobs"), &bob).status(), StatusCode::NOT_FOUND);
    assert_eq!(s.get(&format!("/runners/{legacy_id}/jobs"), &alice).status(), StatusCode::NOT_FOUND);

    // GET /runners: what the user maintains (administrators: all), with filters.
    let ids = |path: &str, token: &str| -> Vec<i64> {
        let v = s.get_json(path, token);
        v.as_array().expect("list").iter().map(|r| r["id"].as_i64().expect("id")).collect()
    };
    assert_eq!(ids("/runners", &alice), vec![rid]);
    assert_eq!(ids("/runners", &bob), Vec::<i64>::new());
    assert_eq!(ids("/runners?type=instance_type", &alice), Vec::<i64>::new());
    assert_eq!(ids("/runners?type=project_type", &s.root_token), vec![rid]);
    assert_eq!(ids("/runners?tag_list=a", &alice), vec![rid]);
    assert_eq!(ids("/runners?tag_list=zzz", &alice), Vec::<i64>::new());
    assert_eq!(ids("/runners?paused=true", &alice), Vec::<i64>::new());
    assert_eq!(ids("/runners?paused=false", &alice), vec![rid]);
    assert!(ids("/runners", &s.root_token).contains(&legacy_id));
    assert_eq!(ids("/runners/all?type=project_type", &s.root_token), vec![rid]);
    assert_eq!(s.get("/runners?type=shared", &alice).status(), StatusCode::BAD_REQUEST);
    assert_eq!(s.get("/runners/all", &alice).status(), StatusCode::FORBIDDEN);
    assert_eq!(s.get("/runners", "").status(), StatusCode::UNAUTHORIZED);
    let r = s.get("/runners?per_page=1", &s.root_token);
    let total: usize = header(&r, "X-Total").expect("X-Total").parse().expect("number");
    assert!(total >= 4, "{total}");
    assert_eq!(r.json::<Vec<Value>>().expect("json").len(), 1);
}

/// The runner's GPU telemetry sent with the final state is kept and shown with the job.
#[test]
fn gpu_telemetry_reported_with_the_final_state_is_shown_with_the_job() {
    for backend in backends() {
        let ci = Ci::start(backend, &[("AUTOGIT_CI_LONG_POLL_SECONDS", "1")]);
        let (_, runner) = ci.runner(&[]);
        let project = ci.project("telemetry", "train:\n  script: echo training\n");
        ci.pipeline(project);
        let job = ci.take(&runner);
        let (id, token) = (job["id"].as_i64().expect("id"), job["token"].as_str().expect("token").to_string());
        assert_eq!(ci.update(id, &token, "running").status(), StatusCode::OK);
        let usage = json!([{"uuid": "GPU-5f9a", "peak_memory_bytes": 123456789, "mean_utilization_percent": 87.5, "samples": 12}]);
        let r = ci
            .http
            .put(ci.url(&format!("/jobs/{id}")))
            .json(&json!({"token": token, "state": "success", "autogit_gpu_usage": usage}))
            .send()
            .expect("PUT job");
        assert_eq!(r.status(), StatusCode::OK);
        let shown = ci.s.get_json(&format!("/projects/{project}/jobs/{id}"), &ci.s.root_token);
        assert_eq!(shown["status"], "success");
        assert_eq!(shown["gpu_usage"], usage, "{shown}");
    }
}

/// A runner's contacts show in the API at once, while the stored contact time is written only
/// when it is older than the write interval or the runner reports something new about itself
/// (ADR 0012): a crash loses at most the contacts of that interval, never the first one.
#[test]
fn runner_contacts_show_at_once_and_are_stored_at_intervals() {
    for backend in backends() {
        eprintln!("== {backend:?}");
        let mut ci = Ci::start(backend, &[("AUTOGIT_CI_LONG_POLL_SECONDS", "1")]);
        let (id, token) = ci.runner(&[]);
        let shown = |ci: &Ci| ci.s.get_json(&format!("/runners/{id}"), &ci.s.root_token);
        let contacted = |ci: &Ci| shown(ci)["contacted_at"].as_str().expect("contacted_at").to_string();
        let verify = |ci: &Ci, info: Value| {
            let r = ci.http.post(ci.url("/runners/verify")).json(&json!({"token": token, "info": info})).send();
            assert_eq!(r.expect("verify").status(), StatusCode::OK);
        };
        // The first job request reports the runner's version: news, written with the contact.
        assert_eq!(ci.request(&token).status(), StatusCode::NO_CONTENT);
        let stored = contacted(&ci);
        std::thread::sleep(std::time::Duration::from_millis(1100));
        verify(&ci, json!({}));
        let second = contacted(&ci);
        assert!(second > stored, "the API shows the latest contact: {stored} then {second}");
        let all = ci.s.get_json("/runners/all", &ci.s.root_token);
        let listed = all.as_array().and_then(|a| a.iter().find(|r| r["id"] == id)).expect("listed");
        assert_eq!(listed["contacted_at"], second, "lists show it too");
        // A request for a job that reports nothing new is a contact as well.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert_eq!(ci.request(&token).status(), StatusCode::NO_CONTENT);
        let third = contacted(&ci);
        assert!(third > second, "{second} then {third}");

        // Within the interval nothing more was written: after a crash the stored contact shows.
        ci.s.crash_and_restart();
        assert_eq!(contacted(&ci), stored, "the stored contact is the last one written");
        assert_eq!(shown(&ci)["status"], "online");

        // Something new about the runner is written at once, with the contact.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        verify(&ci, json!({"version": "18.1.0", "executor": "docker"}));
        let reported = contacted(&ci);
        ci.s.crash_and_restart();
        let after = shown(&ci);
        assert_eq!(after["contacted_at"], reported, "a contact that reports news is stored");
        assert_eq!((after["version"].as_str(), after["executor"].as_str()), (Some("18.1.0"), Some("docker")));
    }
}
