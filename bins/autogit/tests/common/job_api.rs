//! A client of the runner job API for tests that drive it over HTTP without a runner process
//! (runner_api.rs, runner_management.rs): a server with helpers to create runners, push CI
//! projects, take jobs and report on them as gitlab-runner does.

use super::ci::{push_project, wait_for};
use super::{Backend, Server, git};
use reqwest::StatusCode;
use reqwest::blocking::{Client, Response, multipart};
use serde_json::{Value, json};
use std::time::Duration;

/// Two jobs in the first stage (one keeps artifacts), one in the second.
pub const CI: &str = "\
stages: [build, test]
build:
  stage: build
  script: [echo building]
  artifacts:
    paths: [out/]
lint:
  stage: build
  script: [echo linting]
test:
  stage: test
  script: [echo testing]
";

/// An artifacts limit small enough to exceed in a test.
pub const MAX_ARTIFACTS: usize = 4096;

pub struct Ci {
    pub s: Server,
    pub http: Client,
}

impl Ci {
    pub fn start(backend: Backend, env: &[(&str, &str)]) -> Ci {
        let s = Server::start_with(backend, env);
        let http = Client::builder().timeout(Duration::from_secs(60)).build().expect("client");
        Ci { s, http }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/api/v4{path}", self.s.url)
    }

    /// A runner created by root through the API and verified with its token: (id, token).
    pub fn runner(&self, form: &[(&str, &str)]) -> (i64, String) {
        let mut form = form.to_vec();
        if !form.iter().any(|(k, _)| *k == "runner_type") {
            form.push(("runner_type", "instance_type"));
        }
        let created = self.s.post("/user/runners", &self.s.root_token, &form);
        let token = created["token"].as_str().expect("runner token").to_string();
        let r = self.http.post(self.url("/runners/verify")).json(&json!({"token": token})).send().expect("verify");
        assert_eq!(r.status(), StatusCode::OK, "verify");
        (created["id"].as_i64().expect("id"), token)
    }

    pub fn request(&self, token: &str) -> Response {
        request_job(&self.http, &self.url("/jobs/request"), token)
    }

    /// A `jobs/request` on another thread (the server handle stays here).
    pub fn request_in_background(&self, token: &str) -> std::thread::JoinHandle<(StatusCode, Option<Value>)> {
        let (http, url, token) = (self.http.clone(), self.url("/jobs/request"), token.to_string());
        std::thread::spawn(move || {
            let r = request_job(&http, &url, &token);
            (r.status(), r.json::<Value>().ok())
        })
    }

    /// Takes a job, asserting `201`.
    pub fn take(&self, token: &str) -> Value {
        let r = self.request(token);
        assert_eq!(r.status(), StatusCode::CREATED, "a job is handed out");
        r.json().expect("job json")
    }

    pub fn update(&self, id: i64, token: &str, state: &str) -> Response {
        self.http
            .put(self.url(&format!("/jobs/{id}")))
            .json(&json!({"token": token, "state": state}))
            .send()
            .expect("PUT job")
    }

    pub fn patch(&self, id: i64, token: &str, range: Option<&str>, body: &[u8]) -> Response {
        let mut r = self
            .http
            .patch(self.url(&format!("/jobs/{id}/trace")))
            .header("JOB-TOKEN", token)
            .header("Content-Type", "text/plain")
            .body(body.to_vec());
        if let Some(range) = range {
            r = r.header("Content-Range", range);
        }
        r.send().expect("PATCH trace")
    }

    /// Uploads as gitlab-runner does: multipart field `file`, chunked (length unknown).
    pub fn upload(&self, id: i64, token: &str, bytes: &[u8]) -> Response {
        self.upload_as(id, token, "file", "artifact_format=zip&artifact_type=archive", bytes)
    }

    pub fn upload_as(&self, id: i64, token: &str, field: &str, query: &str, bytes: &[u8]) -> Response {
        let part = multipart::Part::reader(std::io::Cursor::new(bytes.to_vec())).file_name("artifacts.zip");
        self.http
            .post(self.url(&format!("/jobs/{id}/artifacts?{query}")))
            .header("JOB-TOKEN", token)
            .multipart(multipart::Form::new().text("note", "x").part(field.to_string(), part))
            .send()
            .expect("POST artifacts")
    }

    /// An upload whose client goes away after `good` bytes of the file (its body fails there).
    pub fn upload_cut_after(&self, id: i64, token: &str, good: usize) -> reqwest::Result<Response> {
        let part = multipart::Part::reader(CutReader(good)).file_name("artifacts.zip");
        self.http
            .post(self.url(&format!("/jobs/{id}/artifacts?artifact_format=zip&artifact_type=archive")))
            .header("JOB-TOKEN", token)
            .multipart(multipart::Form::new().part("file", part))
            .send()
    }

    pub fn download_range(&self, id: i64, token: &str, range: &str) -> Response {
        self.http
            .get(self.url(&format!("/jobs/{id}/artifacts")))
            .header("JOB-TOKEN", token)
            .header("Range", range)
            .send()
            .expect("GET artifacts")
    }

    pub fn download(&self, id: i64, token: &str) -> Response {
        self.http
            .get(self.url(&format!("/jobs/{id}/artifacts")))
            .header("JOB-TOKEN", token)
            .send()
            .expect("GET artifacts")
    }

    /// A project `root/<name>` whose `main` holds `.gitlab-ci.yml` = `ci`.
    pub fn project(&self, name: &str, ci: &str) -> i64 {
        let work = tempfile::tempdir().expect("tempdir");
        std::fs::write(work.path().join(".gitlab-ci.yml"), ci).expect("write ci");
        push_project(&self.s, name, work.path())
    }

    /// The newest pipeline of a project, once it exists and has left `created`.
    pub fn pipeline(&self, project: i64) -> Value {
        wait_for("a pipeline", Duration::from_secs(30), || {
            let list = self.s.get_json(&format!("/projects/{project}/pipelines"), &self.s.root_token);
            match list.as_array().and_then(|a| a.first()) {
                Some(p) if p["status"] != "created" => {
                    Ok(self.s.get_json(&format!("/projects/{project}/pipelines/{}", p["id"]), &self.s.root_token))
                }
                other => Err(format!("{other:?}")),
            }
        })
    }

    pub fn ls_remote(&self, full_path: &str, job_token: &str) -> bool {
        let host = self.s.url.trim_start_matches("http://");
        let url = format!("http://gitlab-ci-token:{job_token}@{host}/{full_path}.git");
        let dir = tempfile::tempdir().expect("tempdir");
        git(dir.path(), &["ls-remote", &url]).status.success()
    }
}

fn request_job(http: &Client, url: &str, token: &str) -> Response {
    let body = json!({"token": token, "info": {"name": "gitlab-runner", "version": "18.0.0",
        "features": {"variables": true, "artifacts": true, "upload_multiple_artifacts": true}}});
    http.post(url).json(&body).send().expect("jobs/request")
}

pub fn header(r: &Response, name: &str) -> Option<String> {
    r.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

pub fn variable<'a>(job: &'a Value, key: &str) -> &'a Value {
    job["variables"]
        .as_array()
        .expect("variables")
        .iter()
        .find(|v| v["key"] == key)
        .unwrap_or_else(|| panic!("variable {key} in the payload"))
}

/// A body that yields its bytes, then fails (a client that is cut off).
struct CutReader(usize);

impl std::io::Read for CutReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.0 == 0 {
            return Err(std::io::Error::other("the upload is cut off"));
        }
        let n = buf.len().min(self.0);
        buf[..n].fill(b'z');
        self.0 -= n;
        Ok(n)
    }
}
