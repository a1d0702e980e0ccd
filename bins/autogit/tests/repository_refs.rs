//! Refs and revisions given to the repository API are checked before git sees them: reflog and
//! upstream syntax (`@{u}`, `main@{upstream}`, `HEAD@{1}`), options (`--all`), ranges and
//! `rev:path` expressions are a 400 naming the parameter, on every endpoint that takes one.

mod common;

use common::{Backend, Server, backends, git_ok, work_repo};
use reqwest::StatusCode;
use serde_json::Value;

const BAD: &[&str] = &[
    "@{u}",
    "main@{upstream}",
    "main@{u}",
    "HEAD@{1}",
    "main@{-1}",
    "@{-1}",
    "main@{yesterday}",
    "--all",
    "-n",
    "main..HEAD",
    "main...HEAD",
    "main:README.md",
    ":/commit",
    "HEAD^{/commit}",
];

/// Every byte but unreserved ones percent-encoded, for path segments.
fn segment(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Asserts a 400 whose body names `param`, and returns the message.
fn expect_bad(s: &Server, path: &str, query: &[(&str, &str)], param: &str) -> String {
    let r = s.req(reqwest::Method::GET, path, &s.root_token).query(query).send().expect("request");
    let status = r.status();
    let body: Value = r.json().unwrap_or(Value::Null);
    assert_eq!(status, StatusCode::BAD_REQUEST, "GET {path} {query:?}: {body}");
    let msg = body["message"][param][0].as_str().unwrap_or_else(|| panic!("GET {path} {query:?}: {body}"));
    msg.to_string()
}

fn check(backend: Backend) {
    let s = Server::start_on(backend);
    s.post("/projects", &s.root_token, &[("name", "refs")]);
    let (_t, work) = work_repo(3);
    git_ok(&work, &["push", "-q", &s.git_url("root/refs", &s.root_token), "main"]);
    let p = "/projects/root%2Frefs/repository";

    for bad in BAD {
        let msg = expect_bad(&s, &format!("{p}/tree"), &[("ref", bad)], "ref");
        assert!(msg.contains("is not a valid ref"), "{msg}");
        expect_bad(&s, &format!("{p}/tree"), &[("ref_name", bad)], "ref_name");
        expect_bad(&s, &format!("{p}/files/README.md"), &[("ref", bad)], "ref");
        expect_bad(&s, &format!("{p}/files/README.md/raw"), &[("ref", bad)], "ref");
        expect_bad(&s, &format!("{p}/files/README.md/raw"), &[("ref_name", bad)], "ref_name");
        expect_bad(&s, &format!("{p}/commits"), &[("ref_name", bad)], "ref_name");
        expect_bad(&s, &format!("{p}/commits/{}", segment(bad)), &[], "sha");
        let msg = expect_bad(&s, &format!("{p}/branches/{}", segment(bad)), &[], "branch");
        assert!(msg.contains("is not a valid branch name"), "{msg}");
    }

    // What is valid still works, and a valid name that does not exist is a 404.
    for good in ["main", "HEAD", "HEAD~1", "main^"] {
        let tree = s.req(reqwest::Method::GET, &format!("{p}/tree"), &s.root_token).query(&[("ref", good)]).send();
        assert_eq!(tree.expect("request").status(), StatusCode::OK, "tree at {good}");
        let commit = s.get(&format!("{p}/commits/{}", segment(good)), &s.root_token);
        assert_eq!(commit.status(), StatusCode::OK, "commit {good}");
    }
    assert_eq!(s.get(&format!("{p}/branches/main"), &s.root_token).status(), StatusCode::OK);
    assert_eq!(s.get(&format!("{p}/branches/nope"), &s.root_token).status(), StatusCode::NOT_FOUND);
    let raw = s.req(reqwest::Method::GET, &format!("{p}/files/README.md/raw"), &s.root_token).query(&[("ref", "main")]);
    assert_eq!(raw.send().expect("request").status(), StatusCode::OK);

    // A pipeline for a ref with reflog syntax is refused, not a server error.
    let r = s
        .req(reqwest::Method::POST, "/projects/root%2Frefs/pipeline", &s.root_token)
        .query(&[("ref", "main@{u}")])
        .send()
        .expect("request");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // A project the caller may not see is still a 404, whatever the ref.
    let (_, stranger) = s.user("stranger", "api");
    s.post("/projects", &s.root_token, &[("name", "hidden"), ("visibility", "private")]);
    let hidden = s
        .req(reqwest::Method::GET, "/projects/root%2Fhidden/repository/tree", &stranger)
        .query(&[("ref", "@{u}")])
        .send()
        .expect("request");
    assert_eq!(hidden.status(), StatusCode::NOT_FOUND);
}

#[test]
fn reflog_upstream_and_option_refs_are_a_400_naming_the_parameter() {
    for backend in backends() {
        check(backend);
    }
}
