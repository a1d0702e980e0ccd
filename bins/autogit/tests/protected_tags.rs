//! Protected tags end to end, on SQLite and PostgreSQL: the real git client over HTTP and SSH
//! against the real server (creation limited to the rule's levels, protected tags never moved,
//! deleted only by maintainers and only through the API, a tag named as the default branch
//! refused; GitLab's texts on the client and no ref moved), the API and python-gitlab, and the
//! protected variables of a tag's pipeline.

mod common;

use common::job_api::{Ci, variable};
use common::{Backend, Server, backends, git, git_ok, work_repo};
use reqwest::Method;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;

/// Every tag of the server's repository as `(name, object id)`.
fn server_tags(s: &Server, path: &str) -> Vec<(String, String)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = git_ok(dir.path(), &["ls-remote", "--tags", &s.git_url(path, &s.root_token)]);
    let mut tags: Vec<(String, String)> = out
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(oid, name)| (name.trim_start_matches("refs/tags/").to_string(), oid.to_string()))
        .collect();
    tags.sort();
    tags
}

/// A push that must be refused with GitLab's `message`, leaving the server's tags as they were.
fn refused(s: &Server, work: &Path, url: &str, refspec: &str, message: &str) {
    let before = server_tags(s, "team/app");
    let out = git(work, &["push", url, refspec]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "push {refspec} was accepted");
    assert!(stderr.contains("(pre-receive hook declined)"), "git's rejection missing for {refspec}:\n{stderr}");
    assert!(stderr.contains(&format!("remote: GitLab: {message}")), "{message:?} missing for {refspec}:\n{stderr}");
    assert_eq!(server_tags(s, "team/app"), before, "a refused push of {refspec} moved a tag");
}

fn commit(work: &Path, file: &str) -> String {
    std::fs::write(work.join(file), file).expect("write");
    git_ok(work, &["add", "-A"]);
    git_ok(work, &["commit", "-q", "-m", file]);
    git_ok(work, &["rev-parse", "HEAD"])
}

fn pushes(backend: Backend) {
    let s = Server::start_with(backend, &[("AUTOGIT_SSH_LISTEN", "127.0.0.1:0")]);
    let (pid, dev, maint) = s.team_project("team");
    let (dev_url, maint_url) = (s.git_url("team/app", &dev), s.git_url("team/app", &maint));
    let (_t, work) = work_repo(1);
    let first = commit(&work, "one");
    git_ok(&work, &["push", "-q", &maint_url, "main"]);
    let second = commit(&work, "two");
    let rule = s.post(&format!("/projects/{pid}/protected_tags"), &maint, &[("name", "v*")]);
    assert_eq!(
        rule,
        json!({"name": "v*", "create_access_levels": [{"id": rule["create_access_levels"][0]["id"],
            "access_level": 40, "access_level_description": "Maintainers"}]}),
        "create_access_level defaults to Maintainers"
    );
    s.post(&format!("/projects/{pid}/protected_tags"), &maint, &[("name", "rc-*"), ("create_access_level", "30")]);

    git_ok(&work, &["tag", "v1.0", &first]);
    git_ok(&work, &["tag", "rc-1", &first]);
    git_ok(&work, &["tag", "-a", "-m", "annotated", "scratch", &first]);
    git_ok(&work, &["tag", "main", &first]);
    refused(&s, &work, &dev_url, "v1.0", "You are not allowed to create this tag as it is protected.");
    refused(&s, &work, &maint_url, "refs/tags/main", "You cannot use default branch name to create a tag");
    git_ok(&work, &["push", "-q", &dev_url, "rc-1", "scratch"]);
    git_ok(&work, &["push", "-q", &maint_url, "v1.0"]);
    assert_eq!(server_tags(&s, "team/app").iter().filter(|(n, _)| n == "v1.0").count(), 1, "the maintainer's tag");

    // Moved: never, by anyone, with or without --force.
    git_ok(&work, &["tag", "-f", "v1.0", &second]);
    git_ok(&work, &["push", "-q", &maint_url, "refs/heads/main"]);
    refused(&s, &work, &maint_url, "+refs/tags/v1.0", "Protected tags cannot be updated.");
    refused(&s, &work, &s.git_url("team/app", &s.root_token), "+refs/tags/v1.0", "Protected tags cannot be updated.");
    // Deleted: maintainers only, and only through the API.
    refused(
        &s,
        &work,
        &dev_url,
        ":refs/tags/v1.0",
        "You are not allowed to delete protected tags from this project. \
         Only a project maintainer or owner can delete a protected tag.",
    );
    refused(&s, &work, &maint_url, ":refs/tags/v1.0", "You can only delete protected tags using the web interface.");
    // Unprotected tags stay the developers' to move and delete.
    git_ok(&work, &["tag", "-f", "scratch", &second]);
    git_ok(&work, &["push", "-q", "--force", &dev_url, "refs/tags/scratch"]);
    git_ok(&work, &["push", "-q", &dev_url, ":refs/tags/scratch"]);

    // The API's writes follow the same rules, less "only through the web".
    let tags = format!("/projects/{pid}/repository/tags");
    let r = s.req(Method::POST, &tags, &dev).form(&[("tag_name", "v2.0"), ("ref", "main")]).send().expect("post");
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().expect("json")["message"],
        "You are not allowed to create this tag as it is protected."
    );
    let r = s.req(Method::POST, &tags, &maint).form(&[("tag_name", "main"), ("ref", "main")]).send().expect("post");
    assert_eq!(r.status(), 400, "a tag named as the default branch");
    let r = s.req(Method::DELETE, &format!("{tags}/v1.0"), &dev).send().expect("delete");
    assert_eq!(r.status(), 400, "a developer may not delete a protected tag through the API either");
    let r = s.req(Method::POST, &tags, &maint).form(&[("tag_name", "v2.0"), ("ref", "main")]).send().expect("post");
    assert_eq!(r.status(), 201, "{}", r.text().unwrap_or_default());
    let r = s.req(Method::DELETE, &format!("{tags}/v1.0"), &maint).send().expect("delete");
    assert_eq!(r.status(), 204, "a maintainer deletes a protected tag through the API");
    let names: Vec<String> = server_tags(&s, "team/app").into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["rc-1", "v2.0"]);

    // Over SSH the hook decides the same.
    ssh_pushes(&s, &dev, &work, &first);
}

fn ssh_pushes(s: &Server, dev: &str, work: &Path, first: &str) {
    let Some(addr) = s.ssh_addr.as_deref() else { panic!("the SSH server was not started") };
    let port = addr.rsplit(':').next().expect("port");
    let keys = tempfile::tempdir().expect("tempdir");
    let key = keys.path().join("dev");
    let made = Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-C", "dev", "-f"]).arg(&key).output();
    assert!(made.expect("ssh-keygen").status.success());
    let public = std::fs::read_to_string(key.with_extension("pub")).expect("public key");
    let r = s.req(Method::POST, "/user/keys", dev).form(&[("title", "dev"), ("key", public.trim())]).send();
    assert_eq!(r.expect("add key").status(), 201);
    let ssh = format!(
        "ssh -p {port} -i {} -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
         -o BatchMode=yes -o LogLevel=ERROR",
        key.display()
    );
    let url = format!("ssh://git@127.0.0.1:{port}/team/app.git");
    let before = server_tags(s, "team/app");
    git_ok(work, &["tag", "v3.0", first]);
    let push = |refspec: &str| {
        Command::new("git")
            .args(["push", &url, refspec])
            .current_dir(work)
            .env("GIT_SSH_COMMAND", &ssh)
            .output()
            .expect("git push over ssh")
    };
    let out = push("v3.0");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a developer created a protected tag over SSH");
    assert!(stderr.contains("remote: GitLab: You are not allowed to create this tag as it is protected."), "{stderr}");
    assert_eq!(server_tags(s, "team/app"), before);
    let out = push("rc-1:refs/tags/rc-2");
    assert!(out.status.success(), "rc-* is open to developers: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn protected_tags_refuse_pushes_and_api_writes_with_gitlabs_texts() {
    for b in backends() {
        pushes(b);
    }
}

fn api(backend: Backend) {
    let s = Server::start_on(backend);
    let (pid, dev, maint) = s.team_project("apis");
    let url = |rest: &str| format!("/projects/{pid}/protected_tags{rest}");
    let created = s.post(&url(""), &maint, &[("name", "release/*"), ("create_access_level", "0")]);
    assert_eq!(created["create_access_levels"][0]["access_level_description"], "No one");
    assert_eq!(s.get_json(&url("/release%2F%2A"), &dev), created, "shown by the URL-encoded wildcard to a developer");
    for (form, status) in [
        (vec![("name", "release/*")], 409),
        (vec![("name", "x"), ("create_access_level", "20")], 400),
        (vec![("name", "x"), ("create_access_level", "many")], 400),
        (vec![("name", "bad name")], 400),
        (vec![("name", "")], 400),
        (vec![("create_access_level", "40")], 400),
    ] {
        let r = s.req(Method::POST, &url(""), &maint).form(&form).send().expect("post");
        assert_eq!(r.status(), status, "{form:?}: {}", r.text().unwrap_or_default());
    }
    let r = s.req(Method::POST, &url(""), &dev).form(&[("name", "mine")]).send().expect("post");
    assert_eq!(r.status(), 403, "developers may not protect tags");
    assert_eq!(s.get(&url("/nope"), &dev).status(), 404);
    let r = s.req(Method::DELETE, &url("/release%2F%2A"), &dev).send().expect("delete");
    assert_eq!(r.status(), 403, "developers may not unprotect tags");
    let r = s.req(Method::DELETE, &url("/release%2F%2A"), &maint).send().expect("delete");
    assert_eq!(r.status(), 204);
    let r = s.req(Method::DELETE, &url("/release%2F%2A"), &maint).send().expect("delete");
    assert_eq!(r.status(), 404, "unprotect twice");
    assert_eq!(s.get_json(&url(""), &dev), json!([]));
}

#[test]
fn protected_tags_api() {
    for b in backends() {
        api(b);
    }
}

/// A pipeline of a protected tag created by a maintainer is protected (protected variables,
/// `CI_COMMIT_REF_PROTECTED`, `ref_protected` runners); one of an unprotected tag is not.
fn variables(backend: Backend) {
    let ci = Ci::start(backend, &[("AUTOGIT_CI_LONG_POLL_SECONDS", "1")]);
    let s = &ci.s;
    let (pid, dev, maint) = s.team_project("team");
    let form = [("key", "DEPLOY_SECRET"), ("value", "c2VjcmV0LXZhbHVl"), ("protected", "true"), ("masked", "true")];
    s.post(&format!("/projects/{pid}/variables"), &s.root_token, &form);
    s.post(&format!("/projects/{pid}/protected_tags"), &maint, &[("name", "v*")]);
    let (_t, work) = work_repo(1);
    std::fs::write(work.join(".gitlab-ci.yml"), "job:\n  script: [echo hi]\n  rules: [{if: $CI_COMMIT_TAG}]\n")
        .expect("write");
    commit(&work, "ci");
    git_ok(&work, &["push", "-q", &s.git_url("team/app", &maint), "main"]);
    let (_protected_runner, protected_token) = ci.runner(&[("access_level", "ref_protected")]);
    git_ok(&work, &["tag", "v1.0"]);
    git_ok(&work, &["push", "-q", &s.git_url("team/app", &maint), "v1.0"]);
    let job = ci.take(&protected_token);
    assert_eq!((job["git_info"]["ref"].as_str(), job["git_info"]["protected"].as_bool()), (Some("v1.0"), Some(true)));
    assert_eq!(variable(&job, "DEPLOY_SECRET")["value"], "c2VjcmV0LXZhbHVl");
    assert_eq!(variable(&job, "CI_COMMIT_REF_PROTECTED")["value"], "true");
    assert_eq!(ci.update(job["id"].as_i64().expect("id"), job["token"].as_str().expect("t"), "success").status(), 200);

    git_ok(&work, &["tag", "nightly"]);
    git_ok(&work, &["push", "-q", &s.git_url("team/app", &dev), "nightly"]);
    assert_eq!(ci.request(&protected_token).status(), 204, "a ref_protected runner takes no unprotected tag's job");
    let (_any, any_token) = ci.runner(&[]);
    let job = ci.take(&any_token);
    assert_eq!(
        (job["git_info"]["ref"].as_str(), job["git_info"]["protected"].as_bool()),
        (Some("nightly"), Some(false))
    );
    let keys: Vec<&str> = job["variables"].as_array().expect("vars").iter().filter_map(|v| v["key"].as_str()).collect();
    assert!(!keys.contains(&"DEPLOY_SECRET"), "a protected variable reached an unprotected tag: {keys:?}");
    assert_eq!(variable(&job, "CI_COMMIT_REF_PROTECTED")["value"], "false");
}

#[test]
fn protected_variables_follow_protected_tags() {
    for b in backends() {
        variables(b);
    }
}

/// python-gitlab's `project.protectedtags` against the server.
#[test]
fn python_gitlab_protected_tags() {
    for backend in backends() {
        let s = Server::start_on(backend);
        common::run_python_gitlab("protected_tags.py", &[&s.url, &s.root_token]);
    }
}
