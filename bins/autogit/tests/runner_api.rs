//! The runner job API under bad and borderline input, driven directly over HTTP (no runner
//! process): job hand-out and long polling, job updates, trace appends, artifacts, job-token git
//! access and CI files that must fail cleanly (the runner management endpoints are in
//! runner_management.rs). Statuses and headers are those gitlab-runner relies on (research:
//! gitlab-runner.md §1). Every scenario runs on SQLite and, when configured, PostgreSQL.

mod common;

use common::job_api::{CI, Ci, MAX_ARTIFACTS, header, variable};
use common::{backends, git};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

#[test]
fn job_hand_out_updates_traces_artifacts_and_job_tokens() {
    for backend in backends() {
        eprintln!("== {backend:?}");
        let max = MAX_ARTIFACTS.to_string();
        let ci = Ci::start(
            backend,
            &[
                ("AUTOGIT_CI_LONG_POLL_SECONDS", "1"),
                ("AUTOGIT_CI_MAX_ARTIFACTS_BYTES", max.as_str()),
                ("AUTOGIT_CI_MAX_TRACE_BYTES", "1024"),
            ],
        );
        hand_out_and_job_calls(&ci);
    }
}

fn hand_out_and_job_calls(ci: &Ci) {
    let s = &ci.s;
    let (runner_id, runner) = ci.runner(&[("description", "api runner")]);
    let (_, gpu_runner) = ci.runner(&[("tag_list", "gpu"), ("run_untagged", "false")]);

    // Nothing queued yet: 204 with the queue version, after the (short) hold.
    let r = ci.request(&runner);
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(header(&r, "X-GitLab-Last-Update").is_some_and(|v| !v.is_empty()), "204 carries X-GitLab-Last-Update");
    // Bad requests.
    assert_eq!(ci.request("glrt-not-a-runner").status(), StatusCode::FORBIDDEN, "unknown runner token");
    let r = ci
        .http
        .post(ci.url("/jobs/request"))
        .header("Content-Type", "application/json")
        .body("{\"token\": ")
        .send()
        .expect("request");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "malformed JSON");

    let project = ci.project("proj", CI);
    let pipeline = ci.pipeline(project);
    assert_eq!(pipeline["status"], "pending", "{pipeline}");

    // A runner whose tags do not match, and a paused runner, get nothing although jobs wait.
    let r = ci.request(&gpu_runner);
    assert_eq!(r.status(), StatusCode::NO_CONTENT, "untagged jobs are not for a tagged-only runner");
    assert!(header(&r, "X-GitLab-Last-Update").is_some());
    let paused = s
        .req(reqwest::Method::PUT, &format!("/runners/{runner_id}"), &s.root_token)
        .form(&[("paused", "true"), ("maximum_timeout", "900")])
        .send()
        .expect("PUT runner");
    assert_eq!(paused.status(), StatusCode::OK);
    let paused: Value = paused.json().expect("json");
    assert_eq!((paused["paused"].clone(), paused["active"].clone()), (json!(true), json!(false)), "{paused}");
    let r = ci.request(&runner);
    assert_eq!(r.status(), StatusCode::NO_CONTENT, "a paused runner gets no job");
    assert!(header(&r, "X-GitLab-Last-Update").is_some());
    let resumed = s
        .req(reqwest::Method::PUT, &format!("/runners/{runner_id}"), &s.root_token)
        .json(&json!({"active": true}))
        .send()
        .expect("PUT runner");
    assert_eq!(resumed.status(), StatusCode::OK);

    // The payload gitlab-runner needs.
    let a = ci.take(&runner);
    let b = ci.take(&runner);
    let r = ci.request(&runner);
    assert_eq!(r.status(), StatusCode::NO_CONTENT, "the second stage waits");
    let (a_id, a_tok) = (a["id"].as_i64().expect("id"), a["token"].as_str().expect("token").to_string());
    let (b_id, b_tok) = (b["id"].as_i64().expect("id"), b["token"].as_str().expect("token").to_string());
    for job in [&a, &b] {
        let token = job["token"].as_str().expect("token");
        assert!(token.starts_with("glcbt-"), "{token}");
        let jt = variable(job, "CI_JOB_TOKEN");
        assert_eq!((jt["value"].as_str(), jt["masked"].as_bool()), (Some(token), Some(true)), "{jt}");
        assert_eq!(variable(job, "CI_PROJECT_PATH")["value"], "root/proj");
        let repo = variable(job, "CI_REPOSITORY_URL")["value"].as_str().expect("CI_REPOSITORY_URL");
        assert!(repo.contains(&format!("gitlab-ci-token:{token}@")) && repo.ends_with("/root/proj.git"), "{repo}");
        let git_url = job["git_info"]["repo_url"].as_str().expect("repo_url");
        assert!(git_url.starts_with("http://") && git_url.contains("127.0.0.1:"), "absolute repo_url: {git_url}");
        assert_eq!(job["runner_info"]["timeout"], 900, "the runner's maximum_timeout caps the job's 3600 s");
        assert!(job["job_info"]["time_in_queue_seconds"].as_f64().is_some_and(|t| t >= 0.0), "{}", job["job_info"]);
        let steps = job["steps"].as_array().expect("steps");
        assert_eq!(steps[0]["name"], "script", "{steps:?}");
    }
    let by_name =
        |name: &str| if a["job_info"]["name"] == name { (a_id, a_tok.clone()) } else { (b_id, b_tok.clone()) };
    let (build_id, build_tok) = by_name("build");
    let (lint_id, lint_tok) = by_name("lint");
    assert_ne!(build_id, lint_id, "build and lint were handed out: {} {}", a["job_info"], b["job_info"]);
    let build = &if a_id == build_id { a.clone() } else { b.clone() };
    assert!(
        build["steps"][0]["script"].as_array().is_some_and(|s| s.contains(&json!("echo building"))),
        "{}",
        build["steps"]
    );

    // PUT /jobs/:id.
    assert_eq!(ci.update(a_id, "glcbt-forged", "running").status(), StatusCode::FORBIDDEN, "forged job token");
    assert_eq!(ci.update(b_id, &a_tok, "running").status(), StatusCode::FORBIDDEN, "another job's token");
    assert_eq!(ci.update(a_id, &a_tok, "exploded").status(), StatusCode::BAD_REQUEST, "unknown state");
    let r = ci.http.put(ci.url(&format!("/jobs/{a_id}"))).json(&json!({"token": a_tok})).send().expect("PUT");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "missing state");
    // Two-phase commit keep-alive; the token in the JOB-TOKEN header only.
    let r = ci
        .http
        .put(ci.url(&format!("/jobs/{a_id}")))
        .header("JOB-TOKEN", &a_tok)
        .json(&json!({"state": "pending"}))
        .send()
        .expect("PUT");
    assert_eq!(r.status(), StatusCode::OK, "pending keep-alive with the header token");
    let r = ci
        .http
        .put(ci.url(&format!("/jobs/{a_id}")))
        .header("JOB-TOKEN", &a_tok)
        .header("Content-Type", "application/json")
        .body("{nope")
        .send()
        .expect("PUT");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "malformed JSON");
    let r = ci.update(a_id, &a_tok, "running");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "Job-Status").as_deref(), Some("running"));
    assert!(header(&r, "X-GitLab-Trace-Update-Interval").is_some());

    // PATCH /jobs/:id/trace.
    assert_eq!(ci.patch(a_id, &a_tok, None, b"no range").status(), StatusCode::BAD_REQUEST, "missing Content-Range");
    assert_eq!(ci.patch(a_id, &a_tok, Some("junk"), b"x").status(), StatusCode::BAD_REQUEST, "bad Content-Range");
    assert_eq!(ci.patch(a_id, "glcbt-forged", Some("0-1"), b"xx").status(), StatusCode::FORBIDDEN, "forged token");
    let r = ci.patch(a_id, &a_tok, Some("0-5"), b"hello\n");
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(header(&r, "Range").as_deref(), Some("0-6"));
    assert_eq!(header(&r, "Job-Status").as_deref(), Some("running"));
    // Out of order: a later piece before the one in between.
    let r = ci.patch(a_id, &a_tok, Some("10-13"), b"late");
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(header(&r, "Range").as_deref(), Some("0-6"));
    // A resend that overlaps what is stored: refused, the runner resends from the size.
    let r = ci.patch(a_id, &a_tok, Some("0-9"), b"hello\nwor");
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(header(&r, "Range").as_deref(), Some("0-6"));
    // Content-Range ends are unreliable: only the start counts.
    let r = ci.patch(a_id, &a_tok, Some("6-6"), b"world\n");
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(header(&r, "Range").as_deref(), Some("0-12"));
    // Offsets far out, even at the edge of the integer range: a 416 like any other, and no harm
    // (a misplaced patch must not count against the trace limit and fail the job).
    for range in ["5000-5001", "9223372036854775807-9223372036854775807", "18446744073709551615-0"] {
        let r = ci.patch(a_id, &a_tok, Some(range), b"xx");
        assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE, "{range}");
        assert_eq!(header(&r, "Range").as_deref(), Some("0-12"), "{range}");
        assert_eq!(header(&r, "Job-Status").as_deref(), Some("running"), "{range}");
    }
    let r = ci.patch(a_id, &a_tok, Some("18446744073709551616-0"), b"xx");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "not a number");
    let shown = s.get(&format!("/projects/{project}/jobs/{a_id}/trace"), &s.root_token);
    assert_eq!(shown.status(), StatusCode::OK);
    assert_eq!(shown.text().expect("trace"), "hello\nworld\n", "nothing of the refused patches was stored");

    // Artifacts.
    let archive: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
    assert_eq!(ci.upload(build_id, "glcbt-forged", &archive).status(), StatusCode::FORBIDDEN, "forged token");
    assert_eq!(ci.upload(build_id, &lint_tok, &archive).status(), StatusCode::FORBIDDEN, "another job's token");
    let r = ci.upload_as(build_id, &build_tok, "archive", "artifact_format=zip", &archive);
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "no `file` field");
    let r = ci.upload_as(build_id, &build_tok, "file", "artifact_type=../../x", &archive);
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "a bad artifact type");
    let r = ci.upload_as(build_id, &build_tok, "file", "expire_in=soonish", &archive);
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "a bad expire_in");
    let build_shown = s.get_json(&format!("/projects/{project}/jobs/{build_id}"), &s.root_token);
    assert_eq!(build_shown["artifacts"], json!([]), "refused uploads leave no record: {build_shown}");
    let r = ci.upload(build_id, &build_tok, &archive);
    assert_eq!(r.status(), StatusCode::CREATED);
    let too_big = vec![b'x'; MAX_ARTIFACTS * 3];
    let r = ci.upload(lint_id, &lint_tok, &too_big);
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(ci.upload_cut_after(lint_id, &lint_tok, 600).is_err(), "the client sees its upload fail");
    let lint = s.get_json(&format!("/projects/{project}/jobs/{lint_id}"), &s.root_token);
    assert_eq!(lint["artifacts"], json!([]), "a refused upload leaves no record: {lint}");
    let blobs = s.data.path().join("artifacts");
    let temps = || std::fs::read_dir(blobs.join(".tmp")).map(Iterator::count).unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(10);
    while temps() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(temps(), 0, "an interrupted upload leaves no temporary file");
    assert!(!blobs.join(lint_id.to_string()).exists(), "…and no blob of the job");
    assert_eq!(lint["artifacts_file"], Value::Null);
    let build_shown = s.get_json(&format!("/projects/{project}/jobs/{build_id}"), &s.root_token);
    assert_eq!(build_shown["artifacts_file"]["size"], 1000, "{build_shown}");

    // Job-token git access: while the job runs, only its own project.
    let work = tempfile::tempdir().expect("tempdir");
    let host = s.url.trim_start_matches("http://");
    let job_url = format!("http://gitlab-ci-token:{a_tok}@{host}/root/proj.git");
    assert!(git(work.path(), &["clone", "-q", &job_url, "clone"]).status.success(), "the job clones its project");
    let clone = work.path().join("clone");
    common::git_ok(&clone, &["commit", "-q", "--allow-empty", "-m", "from a job"]);
    let pushed = git(&clone, &["push", "-q", "origin", "HEAD:refs/heads/from-job"]);
    assert!(!pushed.status.success(), "a job token cannot push");
    let other = s.post("/projects", &s.root_token, &[("name", "other"), ("visibility", "private")]);
    assert_eq!(other["visibility"], "private");
    assert!(ci.ls_remote("root/proj", &a_tok), "the job token reads its project");
    assert!(!ci.ls_remote("root/other", &a_tok), "…and no other");
    assert!(!ci.ls_remote("root/proj", "glcbt-forged"), "a forged job token reads nothing");

    // Finishing: the token stops working and tells the job's status.
    for (id, tok) in [(a_id, &a_tok), (b_id, &b_tok)] {
        let r = ci.update(id, tok, "success");
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, "Job-Status").as_deref(), Some("success"));
    }
    let r = ci.update(a_id, &a_tok, "running");
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "a finished job's token is dead");
    assert_eq!(header(&r, "Job-Status").as_deref(), Some("success"));
    let r = ci.patch(a_id, &a_tok, Some("12-13"), b"x\n");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(header(&r, "Job-Status").as_deref(), Some("success"));
    assert!(!ci.ls_remote("root/proj", &a_tok), "a finished job's token reads nothing");

    // The next stage downloads the artifacts with its own token.
    let c = ci.take(&runner);
    assert_eq!(c["job_info"]["name"], "test");
    let (c_id, c_tok) = (c["id"].as_i64().expect("id"), c["token"].as_str().expect("token").to_string());
    let dep = c["dependencies"]
        .as_array()
        .expect("dependencies")
        .iter()
        .find(|d| d["id"] == build_id)
        .unwrap_or_else(|| panic!("build among the dependencies: {}", c["dependencies"]))
        .clone();
    assert_eq!(dep["artifacts_file"]["size"], 1000, "{dep}");
    let r = ci.download(build_id, &c_tok);
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().expect("bytes").to_vec(), archive, "the same bytes");
    // Ranged downloads, as GitLab serves artifacts: 206 with Content-Range, 416 outside.
    for (range, part, content_range) in [
        ("bytes=10-19", &archive[10..20], "bytes 10-19/1000"),
        ("bytes=990-", &archive[990..], "bytes 990-999/1000"),
        ("bytes=-5", &archive[995..], "bytes 995-999/1000"),
        ("bytes=900-5000", &archive[900..], "bytes 900-999/1000"),
    ] {
        let r = ci.download_range(build_id, &c_tok, range);
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(header(&r, "Content-Range").as_deref(), Some(content_range), "{range}");
        assert_eq!(r.bytes().expect("bytes").to_vec(), part, "{range}");
    }
    for range in ["bytes=1000-", "bytes=2000-2001", "bytes=-0"] {
        let r = ci.download_range(build_id, &c_tok, range);
        assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE, "{range}");
        assert_eq!(header(&r, "Content-Range").as_deref(), Some("bytes */1000"), "{range}");
    }
    let r = ci.download_range(build_id, &c_tok, "bytes=0-1,5-6");
    assert_eq!(r.status(), StatusCode::OK, "several ranges: the whole artifact");
    assert_eq!(header(&r, "Accept-Ranges").as_deref(), Some("bytes"));
    let users = s.req(reqwest::Method::GET, &format!("/projects/{project}/jobs/{build_id}/artifacts"), &s.root_token);
    let r = users.header("Range", "bytes=0-0").send().expect("GET job artifacts");
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.bytes().expect("bytes").to_vec(), &archive[..1]);
    assert_eq!(ci.download(build_id, "glcbt-forged").status(), StatusCode::FORBIDDEN);
    assert_eq!(ci.download(build_id, &a_tok).status(), StatusCode::FORBIDDEN, "a finished job's token");

    // GET /runners/:id/jobs: what the runner ran, newest first.
    let r = s.get(&format!("/runners/{runner_id}/jobs"), &s.root_token);
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "X-Total").as_deref(), Some("3"));
    let jobs: Vec<Value> = r.json().expect("json");
    let ids: Vec<i64> = jobs.iter().map(|j| j["id"].as_i64().expect("id")).collect();
    let mut expected = vec![a_id, b_id, c_id];
    expected.sort_unstable_by(|x, y| y.cmp(x));
    assert_eq!(ids, expected);
    assert_eq!(jobs[0]["project"]["path_with_namespace"], "root/proj", "{}", jobs[0]);
    assert_eq!(jobs[0]["pipeline"]["id"], pipeline["id"]);
    let done: Vec<Value> = s
        .get_json(&format!("/runners/{runner_id}/jobs?status=success"), &s.root_token)
        .as_array()
        .cloned()
        .expect("list");
    assert_eq!(done.len(), 2);
    let paged = s.get(&format!("/runners/{runner_id}/jobs?per_page=1&page=2"), &s.root_token);
    assert_eq!(header(&paged, "X-Total").as_deref(), Some("3"));
    assert_eq!(header(&paged, "X-Page").as_deref(), Some("2"));
    assert_eq!(paged.json::<Vec<Value>>().expect("json").len(), 1);
    assert_eq!(s.get(&format!("/runners/{runner_id}/jobs?status=bogus"), &s.root_token).status(), 400);

    // A job canceled by a user: the runner is told so on its next call.
    let r = s.req(reqwest::Method::POST, &format!("/projects/{project}/jobs/{c_id}/cancel"), &s.root_token).send();
    assert_eq!(r.expect("cancel").status(), StatusCode::CREATED);
    let r = ci.update(c_id, &c_tok, "running");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(header(&r, "Job-Status").as_deref(), Some("canceled"));
    let r = ci.patch(c_id, &c_tok, Some("0-1"), b"x\n");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(header(&r, "Job-Status").as_deref(), Some("canceled"));
    let r = ci.update(c_id, &c_tok, "success");
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "a late success does not revive it");
    let shown = s.get_json(&format!("/projects/{project}/jobs/{c_id}"), &s.root_token);
    assert_eq!(shown["status"], "canceled");
    let pipeline = s.get_json(&format!("/projects/{project}/pipelines/{}", pipeline["id"]), &s.root_token);
    assert_eq!(pipeline["status"], "canceled", "{pipeline}");

    // Deleting the project removes its jobs' artifact blobs with it.
    let kept = s.data.path().join("artifacts").join(build_id.to_string());
    assert!(kept.exists(), "the build's artifact blobs are at {}", kept.display());
    let r = s.req(reqwest::Method::DELETE, &format!("/projects/{project}"), &s.root_token).send();
    assert!(r.expect("delete project").status().is_success());
    assert!(!kept.exists(), "blobs of a deleted project's jobs are removed");
}

#[test]
fn a_held_request_gets_a_job_created_meanwhile() {
    for backend in backends() {
        eprintln!("== {backend:?}");
        let ci = Ci::start(backend, &[("AUTOGIT_CI_LONG_POLL_SECONDS", "10"), ("AUTOGIT_CI_MAX_TRACE_BYTES", "64")]);
        let (_, runner) = ci.runner(&[]);
        let project = ci.project("poll", "only:\n  script: [echo hi]\n");
        // Drain the push's pipeline, so that the queue is empty.
        let first = ci.take(&runner);
        let tok = first["token"].as_str().expect("token");
        assert_eq!(ci.update(first["id"].as_i64().expect("id"), tok, "success").status(), StatusCode::OK);

        let started = Instant::now();
        let waiting = ci.request_in_background(&runner);
        std::thread::sleep(Duration::from_millis(500));
        ci.s.post(&format!("/projects/{project}/pipeline"), &ci.s.root_token, &[("ref", "main")]);
        let (status, job) = waiting.join().expect("request thread");
        let took = started.elapsed();
        assert_eq!(status, StatusCode::CREATED, "the held request gets the new job");
        assert!(took < Duration::from_secs(5), "handed over within the hold, not after it: {took:?}");
        assert_eq!(job.expect("job")["job_info"]["name"], "only");

        // Pausing a runner answers its held request at once (no job); it gets none while paused.
        let (paused_id, paused_tok) = ci.runner(&[]);
        let started = Instant::now();
        let waiting = ci.request_in_background(&paused_tok);
        std::thread::sleep(Duration::from_millis(500));
        let r =
            ci.s.req(reqwest::Method::PUT, &format!("/runners/{paused_id}"), &ci.s.root_token)
                .form(&[("paused", "true")])
                .send()
                .expect("PUT runner");
        assert_eq!(r.status(), StatusCode::OK);
        let (status, _) = waiting.join().expect("request thread");
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert!(started.elapsed() < Duration::from_secs(5), "answered on the change: {:?}", started.elapsed());
        ci.s.post(&format!("/projects/{project}/pipeline"), &ci.s.root_token, &[("ref", "main")]);
        let started = Instant::now();
        let r = ci.request(&paused_tok);
        assert_eq!(r.status(), StatusCode::NO_CONTENT, "paused: no job although one is queued");
        assert!(started.elapsed() < Duration::from_secs(5), "a paused runner is not held: {:?}", started.elapsed());
        let job = ci.take(&runner);
        assert_eq!(job["job_info"]["name"], "only");

        // A log over the limit fails the job; the runner is told with 403 and `Job-Status`.
        let (id, tok) = (job["id"].as_i64().expect("id"), job["token"].as_str().expect("token"));
        assert_eq!(ci.patch(id, tok, Some("0-39"), &[b'a'; 40]).status(), StatusCode::ACCEPTED);
        let r = ci.patch(id, tok, Some("40-79"), &[b'b'; 40]);
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(header(&r, "Job-Status").as_deref(), Some("failed"));
        let shown = ci.s.get_json(&format!("/projects/{project}/jobs/{id}"), &ci.s.root_token);
        assert_eq!(
            (shown["status"].clone(), shown["failure_reason"].clone()),
            (json!("failed"), json!("trace_size_exceeded"))
        );
    }
}

#[test]
fn bad_ci_files_fail_their_pipeline_cleanly() {
    for backend in backends() {
        eprintln!("== {backend:?}");
        let ci = Ci::start(backend, &[("AUTOGIT_CI_LONG_POLL_SECONDS", "1")]);
        let mut bomb = String::from(".l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for i in 1..10 {
            let prev = format!("*l{}", i - 1);
            bomb.push_str(&format!(".l{i}: &l{i} [{}]\n", [prev.as_str(); 10].join(", ")));
        }
        bomb.push_str("job:\n  script: [echo hi]\n  variables:\n    X: *l9\n");
        let values: Vec<String> = (0..100).map(|i| format!("v{i}")).collect();
        let matrix = format!(
            "job:\n  script: [echo hi]\n  parallel:\n    matrix:\n      - A: [{0}]\n        B: [{0}]\n",
            values.join(", ")
        );
        let rules = "job:\n  script: [echo hi]\n  rules:\n    - if: '$CI_COMMIT_BRANCH == (\"main\"'\n";
        let mut huge = String::with_capacity(11 << 20);
        huge.push_str("job:\n  script: [echo hi]\n");
        while huge.len() < 11_000_000 {
            huge.push_str("# padding padding padding padding padding padding padding padding padding\n");
        }
        let cases: [(&str, &str, &[&str]); 4] = [
            ("bomb", &bomb, &["alias"]),
            ("matrix", &matrix, &["parallel:matrix", "200"]),
            ("rules", rules, &["invalid expression", "missing `)`"]),
            ("huge", &huge, &["bytes", "too large"]),
        ];
        for (name, text, fragments) in cases {
            let started = Instant::now();
            let project = ci.project(name, text);
            let p = ci.pipeline(project);
            eprintln!("{name}: {:?} {}", started.elapsed(), p["yaml_errors"]);
            assert_eq!(p["status"], "failed", "{name}: {p}");
            let errors = p["yaml_errors"].as_str().unwrap_or_else(|| panic!("{name}: yaml_errors in {p}"));
            for f in fragments {
                assert!(errors.contains(f), "{name}: yaml_errors should name {f:?}: {errors}");
            }
            let jobs = ci.s.get_json(&format!("/projects/{project}/jobs"), &ci.s.root_token);
            assert_eq!(jobs, json!([]), "{name}: no jobs");
            let health = ci.http.get(format!("{}/-/health", ci.s.url)).send().expect("health");
            assert_eq!(health.status(), StatusCode::OK, "{name}: the server stays healthy");
        }
    }
}
