//! Branches and tags written through the API, as python-gitlab and deploy tools call it: the
//! same access and protected-branch rules as a push (with GitLab's allowances for web and API
//! writes), the same push event and pipeline as a push, and bad input refused with nothing
//! written. Checked against the repository with real `git`.

mod common;

use common::{Backend, Server, backends, git_ok, work_repo};
use reqwest::Method;
use serde_json::Value;

const CI: &str = "build:\n  script: [\"true\"]\n";

struct Answer {
    status: u16,
    body: Value,
}

fn call(s: &Server, method: Method, path: &str, token: &str, form: &[(&str, &str)]) -> Answer {
    let r = s.req(method, path, token).form(form).send().expect("request");
    let status = r.status().as_u16();
    Answer { status, body: r.json().unwrap_or(Value::Null) }
}

fn refs(s: &Server, work: &std::path::Path) -> String {
    git_ok(work, &["ls-remote", &s.git_url("root/w", &s.root_token)])
}

fn check(backend: Backend) {
    let s = Server::start_on(backend);
    let project = s.post("/projects", &s.root_token, &[("name", "w")]);
    let pid = project["id"].to_string();
    let (_t, work) = work_repo(2);
    std::fs::write(work.join(".gitlab-ci.yml"), CI).expect("ci file");
    git_ok(&work, &["add", "-A"]);
    git_ok(&work, &["commit", "-q", "-m", "ci"]);
    git_ok(&work, &["push", "-q", &s.git_url("root/w", &s.root_token), "main"]);
    let head = git_ok(&work, &["rev-parse", "HEAD"]).trim().to_string();
    let mut tokens = Vec::new();
    let mut dev_id = 0;
    for (name, level) in [("rita", "20"), ("dev", "30"), ("mia", "40")] {
        let (uid, token) = s.user(name, "api");
        if name == "dev" {
            dev_id = uid;
        }
        s.post(
            &format!("/projects/{pid}/members"),
            &s.root_token,
            &[("user_id", &uid.to_string()), ("access_level", level)],
        );
        tokens.push(token);
    }
    let (reporter, dev, maintainer) = (&tokens[0], &tokens[1], &tokens[2]);
    let branches = format!("/projects/{pid}/repository/branches");
    let tags = format!("/projects/{pid}/repository/tags");

    // A developer creates a branch from a commit id: it exists in git, as a push would leave
    // it: a push event by the developer and a pipeline for the new branch.
    let made = call(&s, Method::POST, &branches, dev, &[("branch", "feature/a"), ("ref", &head)]);
    assert_eq!(made.status, 201, "{}", made.body);
    assert_eq!(
        (made.body["name"].as_str(), made.body["commit"]["id"].as_str()),
        (Some("feature/a"), Some(head.as_str()))
    );
    assert!(refs(&s, &work).contains(&format!("{head}\trefs/heads/feature/a")));
    let events = s.get_json(&format!("/projects/{pid}/events"), &s.root_token);
    let new_branch = events.as_array().into_iter().flatten().find(|e| e["push_data"]["ref"] == "feature/a");
    let new_branch = new_branch.unwrap_or_else(|| panic!("no push event for the branch: {events}"));
    assert_eq!(
        (new_branch["action_name"].as_str(), new_branch["author_id"].as_i64()),
        (Some("pushed new"), Some(dev_id)),
        "{new_branch}"
    );
    let pipelines = s.get_json(&format!("/projects/{pid}/pipelines?ref=feature/a"), &s.root_token);
    assert_eq!(pipelines.as_array().map(Vec::len), Some(1), "one pipeline for the new branch: {pipelines}");
    assert_eq!(pipelines[0]["sha"], head.as_str());

    // Refused, and nothing written: an existing branch, a reporter, bad names and revisions.
    let before = refs(&s, &work);
    let again = call(&s, Method::POST, &branches, dev, &[("branch", "feature/a"), ("ref", "main")]);
    assert_eq!((again.status, again.body["message"].as_str()), (400, Some("Branch already exists")), "{}", again.body);
    assert_eq!(call(&s, Method::POST, &branches, reporter, &[("branch", "r"), ("ref", "main")]).status, 403);
    let bad_name = call(&s, Method::POST, &branches, dev, &[("branch", "a..b"), ("ref", "main")]);
    assert!(
        bad_name.status == 400
            && bad_name.body["message"]["branch"][0].as_str().is_some_and(|m| m.contains("not a valid branch name")),
        "{}",
        bad_name.body
    );
    let bad_ref = call(&s, Method::POST, &branches, dev, &[("branch", "x"), ("ref", "--all")]);
    assert!(bad_ref.status == 400 && bad_ref.body["message"]["ref"][0].is_string(), "{}", bad_ref.body);
    assert_eq!(call(&s, Method::POST, &branches, dev, &[("branch", "x"), ("ref", "nope")]).status, 404);
    let missing = call(&s, Method::POST, &branches, dev, &[("ref", "main")]);
    assert_eq!((missing.status, missing.body["error"].as_str()), (400, Some("branch is missing")), "{}", missing.body);
    assert_eq!(refs(&s, &work), before, "no refused write moved a ref");

    // Protected branches: the push rules, with the web and API's allowances.
    let protect = |name: &str, push: &str, merge: &str| {
        s.post(
            &format!("/projects/{pid}/protected_branches"),
            &s.root_token,
            &[("name", name), ("push_access_level", push), ("merge_access_level", merge)],
        )
    };
    protect("release/*", "40", "30");
    protect("prod", "0", "40");
    let release = call(&s, Method::POST, &branches, dev, &[("branch", "release/1"), ("ref", "main")]);
    assert_eq!(release.status, 201, "allowed to merge there, so the API may create it: {}", release.body);
    let prod = call(&s, Method::POST, &branches, dev, &[("branch", "prod"), ("ref", "main")]);
    assert_eq!(
        (prod.status, prod.body["message"].as_str()),
        (400, Some("You are not allowed to create protected branches on this project.")),
        "{}",
        prod.body
    );
    let delete = |token: &str, name: &str| {
        call(&s, Method::DELETE, &format!("{branches}/{}", name.replace('/', "%2F")), token, &[])
    };
    let refused = delete(dev, "release/1");
    assert_eq!(refused.status, 400);
    assert!(
        refused.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("Only a project maintainer or owner can delete a protected branch")),
        "{}",
        refused.body
    );
    assert_eq!(delete(maintainer, "release/1").status, 204, "a maintainer deletes a protected branch through the API");
    let default = delete(maintainer, "main");
    assert_eq!(
        (default.status, default.body["message"].as_str()),
        (400, Some("The default branch of a project cannot be deleted."))
    );
    assert_eq!(delete(dev, "feature/a").status, 204);
    assert_eq!(delete(dev, "feature/a").status, 404);
    let now = refs(&s, &work);
    assert!(
        !now.contains("refs/heads/feature/a")
            && !now.contains("refs/heads/release/1")
            && now.contains("refs/heads/main"),
        "{now}"
    );
    let events = s.get_json(&format!("/projects/{pid}/events"), &s.root_token);
    assert!(
        events
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| e["push_data"]["ref"] == "feature/a" && e["action_name"] == "deleted"),
        "{events}"
    );

    // Tags: lightweight and annotated (tagged by the caller), refused twice, deleted.
    let light = call(&s, Method::POST, &tags, dev, &[("tag_name", "v1"), ("ref", "main")]);
    assert_eq!(
        (light.status, light.body["target"].as_str(), light.body["message"].clone()),
        (201, Some(head.as_str()), Value::Null),
        "{}",
        light.body
    );
    let annotated =
        call(&s, Method::POST, &tags, dev, &[("tag_name", "v2"), ("ref", &head), ("message", "Release 2\n\nnotes")]);
    assert_eq!(annotated.status, 201, "{}", annotated.body);
    assert_eq!(annotated.body["commit"]["id"], head.as_str());
    assert_ne!(annotated.body["target"], head.as_str(), "an annotated tag's target is its tag object");
    assert!(annotated.body["message"].as_str().is_some_and(|m| m.starts_with("Release 2")), "{}", annotated.body);
    git_ok(&work, &["fetch", "-q", &s.git_url("root/w", &s.root_token), "+refs/tags/*:refs/tags/*"]);
    let object = git_ok(&work, &["cat-file", "-p", "v2"]);
    assert!(object.contains(&format!("object {head}")) && object.contains("tag v2\ntagger dev <dev@"), "{object}");
    let twice = call(&s, Method::POST, &tags, dev, &[("tag_name", "v1"), ("ref", "main")]);
    assert_eq!((twice.status, twice.body["message"].as_str()), (400, Some("Tag v1 already exists")));
    assert_eq!(call(&s, Method::POST, &tags, reporter, &[("tag_name", "v3"), ("ref", "main")]).status, 403);
    assert_eq!(call(&s, Method::POST, &tags, dev, &[("tag_name", "bad tag"), ("ref", "main")]).status, 400);
    assert_eq!(s.get_json(&format!("{tags}/v2"), reporter)["name"], "v2", "a reporter reads one tag");
    assert_eq!(call(&s, Method::DELETE, &format!("{tags}/v1"), reporter, &[]).status, 403);
    assert_eq!(call(&s, Method::DELETE, &format!("{tags}/v1"), dev, &[]).status, 204);
    assert_eq!(call(&s, Method::GET, &format!("{tags}/v1"), dev, &[]).status, 404);
    assert!(!refs(&s, &work).contains("refs/tags/v1\n"));
    let tag_pipelines = s.get_json(&format!("/projects/{pid}/pipelines?ref=v2"), &s.root_token);
    assert_eq!(tag_pipelines.as_array().map(Vec::len), Some(1), "a new tag gets its pipeline: {tag_pipelines}");
}

#[test]
fn branches_and_tags_written_through_the_api_follow_the_push_rules_and_path() {
    for backend in backends() {
        check(backend);
    }
}

/// python-gitlab's `project.branches`, `project.tags`, `project.files` and `project.commits` writes.
#[test]
fn python_gitlab_writes_branches_tags_files_and_commits() {
    for backend in backends() {
        let s = Server::start_on(backend);
        s.post("/projects", &s.root_token, &[("name", "py")]);
        let (_t, work) = work_repo(1);
        git_ok(&work, &["push", "-q", &s.git_url("root/py", &s.root_token), "main"]);
        common::run_python_gitlab("repository_writes.py", &[&s.url, &s.root_token, "root/py"]);
    }
}
