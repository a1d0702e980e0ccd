//! Trace archiving through the real server, driven over the runner job API: a running job's log
//! reads from the database; once the job has finished (success, or canceled by a user) it is one
//! blob under `<data>/artifacts/traces/<project>/<job>.log`, its `job_traces` rows are gone and
//! it reads back byte for byte; a crash that left a finished job with its rows (blob written,
//! rows not yet removed) is finished after the restart; deleting the project removes its trace
//! blobs. Every scenario runs on SQLite and, when configured, PostgreSQL.

mod common;

use common::job_api::{CI, Ci, header};
use common::{Backend, Server, backends};
use reqwest::StatusCode;
use std::path::PathBuf;
use std::time::Duration;

/// (`trace_archived`, number of `job_traces` rows) of a job, as the database holds them.
fn stored(s: &Server, job: i64) -> (bool, i64) {
    let flag = s.db_rows(&format!("SELECT trace_archived FROM jobs WHERE id = {job}"));
    let rows = s.db_rows(&format!("SELECT COUNT(*) FROM job_traces WHERE job_id = {job}"));
    let archived = matches!(flag.first().map(String::as_str), Some("1" | "t" | "true"));
    (archived, rows.first().and_then(|n| n.parse().ok()).expect("a count"))
}

fn blob_path(s: &Server, project: i64, job: i64) -> PathBuf {
    s.data.path().join("artifacts").join("traces").join(project.to_string()).join(format!("{job}.log"))
}

fn shown(s: &Server, project: i64, job: i64) -> Vec<u8> {
    let r = s.get(&format!("/projects/{project}/jobs/{job}/trace"), &s.root_token);
    assert_eq!(r.status(), StatusCode::OK);
    let length = header(&r, "Content-Length");
    let bytes = r.bytes().expect("trace").to_vec();
    assert_eq!(length, Some(bytes.len().to_string()), "the length is announced");
    bytes
}

fn wait_archived(s: &Server, job: i64) {
    common::ci::wait_for("the trace archived", Duration::from_secs(30), || match stored(s, job) {
        (true, 0) => Ok(()),
        other => Err(format!("{other:?}")),
    });
}

/// A log with bytes that are not UTF-8 and a piece boundary in the middle of a line.
fn log_for(name: &str) -> Vec<Vec<u8>> {
    vec![
        format!("Running {name}\n$ echo one\none\n$ ec").into_bytes(),
        b"ho two\ntwo\n\x1b[32;1mok\x1b[0;m \xff\xfe\x00\n".to_vec(),
        format!("Job {name} done\n").into_bytes(),
    ]
}

/// Takes a job and sends its log in pieces; returns (id, token, the whole log).
fn run_with_log(ci: &Ci, runner: &str) -> (i64, String, Vec<u8>) {
    let job = ci.take(runner);
    let (id, token) = (job["id"].as_i64().expect("id"), job["token"].as_str().expect("token").to_string());
    let mut whole = Vec::new();
    for piece in log_for(job["job_info"]["name"].as_str().expect("name")) {
        let range = format!("{}-{}", whole.len(), whole.len() + piece.len() - 1);
        assert_eq!(ci.patch(id, &token, Some(&range), &piece).status(), StatusCode::ACCEPTED);
        whole.extend_from_slice(&piece);
    }
    (id, token, whole)
}

/// A crash between the blob and the rows, reproduced around the stopped server: the job's rows
/// are back and its flag is unset, while its blob stays.
fn undo_archiving(s: &Server, job: i64, log: &[u8]) {
    let hex: String = log.iter().map(|b| format!("{b:02x}")).collect();
    let data = if s.database_url.is_some() { format!("decode('{hex}', 'hex')") } else { format!("X'{hex}'") };
    s.db_rows(&format!("UPDATE jobs SET trace_archived = FALSE WHERE id = {job}"));
    s.db_rows(&format!("INSERT INTO job_traces (job_id, byte_offset, data) VALUES ({job}, 0, {data})"));
}

#[test]
fn finished_traces_move_into_blobs_and_read_back_the_same() {
    for backend in backends() {
        eprintln!("== {backend:?}");
        scenario(backend);
    }
}

fn scenario(backend: Backend) {
    let mut ci = Ci::start(backend, &[("AUTOGIT_CI_LONG_POLL_SECONDS", "1")]);
    let (_, runner) = ci.runner(&[]);
    let project = ci.project("logs", CI);
    ci.pipeline(project);

    // Running: the log is in the database, and read from there.
    let (build, build_token, build_log) = run_with_log(&ci, &runner);
    assert_eq!(shown(&ci.s, project, build), build_log, "a running job's log reads from the database");
    assert_eq!(stored(&ci.s, build), (false, 3), "one row per append, not archived");
    assert!(!blob_path(&ci.s, project, build).exists(), "no blob while the job runs");

    // Finished: one blob, no rows, the same bytes.
    assert_eq!(ci.update(build, &build_token, "success").status(), StatusCode::OK);
    wait_archived(&ci.s, build);
    assert_eq!(std::fs::read(blob_path(&ci.s, project, build)).expect("blob"), build_log, "the blob is the log");
    assert_eq!(shown(&ci.s, project, build), build_log, "the archived log reads back byte for byte");
    let r = ci.patch(build, &build_token, Some(&format!("{}-{}", build_log.len(), build_log.len())), b"x");
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "a finished job's log takes no more");
    assert_eq!(header(&r, "Job-Status").as_deref(), Some("success"));

    // A job canceled by a user while it runs is archived too.
    let (lint, _, lint_log) = run_with_log(&ci, &runner);
    let r = ci.s.req(reqwest::Method::POST, &format!("/projects/{project}/jobs/{lint}/cancel"), &ci.s.root_token);
    assert_eq!(r.send().expect("cancel").status(), StatusCode::CREATED);
    wait_archived(&ci.s, lint);
    assert_eq!(shown(&ci.s, project, lint), lint_log, "a canceled job's log reads back from its blob");

    // A crash between writing the blob and removing the rows: the sweep after the restart
    // archives the job again (same key), and nothing is lost or doubled.
    ci.s.crash();
    undo_archiving(&ci.s, build, &build_log);
    assert_eq!(stored(&ci.s, build), (false, 1), "the state a crash leaves");
    ci.s.restart();
    wait_archived(&ci.s, build);
    assert_eq!(std::fs::read(blob_path(&ci.s, project, build)).expect("blob"), build_log, "the same blob");
    assert_eq!(shown(&ci.s, project, build), build_log, "the log is whole after the crash");

    // Deleting the project removes its trace blobs.
    let r = ci.s.req(reqwest::Method::DELETE, &format!("/projects/{project}"), &ci.s.root_token);
    assert!(r.send().expect("delete").status().is_success());
    let traces = ci.s.data.path().join("artifacts").join("traces").join(project.to_string());
    common::ci::wait_for("the trace blobs removed", Duration::from_secs(30), || {
        if traces.exists() { Err(format!("{} still exists", traces.display())) } else { Ok(()) }
    });
}
