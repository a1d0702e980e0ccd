//! Protected branches end to end: the real git client over HTTP against the real server, on
//! SQLite and PostgreSQL. A new project's default branch is protected (maintainers push, nobody
//! force-pushes or deletes it); refused pushes show git's and GitLab's texts and change nothing;
//! wildcards; the API; protected variables reach only pipelines of protected refs whose user may
//! push there; repository-level hooks never run.

mod common;

use common::job_api::{Ci, variable};
use common::{Backend, Server, backends, git, git_ok, work_repo};
use reqwest::Method;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

const CI_FILE: &str = "job:\n  script: [echo hi]\n";

/// `git push` that must fail; returns its stderr.
fn push_refused(work: &Path, args: &[&str]) -> String {
    let out = git(work, &[&["push"], args].concat());
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "push {args:?} should be refused:\n{stderr}");
    stderr
}

fn assert_refused(stderr: &str, refspec: &str, message: &str) {
    let rejected = format!("! [remote rejected] {refspec} (pre-receive hook declined)");
    assert!(stderr.contains(&rejected), "git's rejection line {rejected:?} missing:\n{stderr}");
    let remote = format!("remote: GitLab: {message}");
    assert!(stderr.contains(&remote), "GitLab's message {remote:?} missing:\n{stderr}");
}

/// The server's value of a branch, or None.
fn server_ref(s: &Server, path: &str, branch: &str) -> Option<String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = git_ok(dir.path(), &["ls-remote", &s.git_url(path, &s.root_token), &format!("refs/heads/{branch}")]);
    out.split_whitespace().next().map(str::to_string)
}

fn count(s: &Server, path: &str) -> usize {
    s.get_json(path, &s.root_token).as_array().map_or(0, Vec::len)
}

fn commit(work: &Path, file: &str) -> String {
    std::fs::write(work.join(file), file).expect("write");
    git_ok(work, &["add", "-A"]);
    git_ok(work, &["commit", "-q", "-m", file]);
    git_ok(work, &["rev-parse", "HEAD"])
}

/// Waits until the push recording of `branch` at `sha` is visible (an event), so that everything
/// pushed before it has been recorded or refused too.
fn wait_for_event(s: &Server, pid: i64, branch: &str, sha: &str) {
    for _ in 0..200 {
        let events = s.get_json(&format!("/projects/{pid}/events?per_page=100"), &s.root_token);
        if events
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| e["push_data"]["ref"] == branch && e["push_data"]["commit_to"] == sha)
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no push event for {branch} at {sha}");
}

/// Waits until `path` lists `n` items.
fn wait_count(s: &Server, path: &str, n: usize) {
    for _ in 0..200 {
        if count(s, path) >= n {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{path} never listed {n} items");
}

fn protect(s: &Server, pid: i64, form: &[(&str, &str)]) -> Value {
    s.post(&format!("/projects/{pid}/protected_branches"), &s.root_token, form)
}

fn unprotect(s: &Server, pid: i64, name: &str) {
    let r = s
        .req(Method::DELETE, &format!("/projects/{pid}/protected_branches/{name}"), &s.root_token)
        .send()
        .expect("delete");
    assert_eq!(r.status(), 204, "unprotect {name}");
}

fn pushes(backend: Backend) {
    let s = Server::start_on(backend);
    let (pid, dev, maint) = s.team_project("team");
    let path = "team/app";
    let (dev_url, maint_url) = (s.git_url(path, &dev), s.git_url(path, &maint));

    // The default branch of a new project is protected, GitLab's way.
    let listed = s.get_json(&format!("/projects/{pid}/protected_branches"), &dev);
    let want = json!([{"name": "main", "allow_force_push": false,
        "push_access_levels": [{"access_level": 40, "access_level_description": "Maintainers", "deploy_key_id": null}],
        "merge_access_levels": [{"access_level": 40, "access_level_description": "Maintainers"}]}]);
    let mut got = listed.clone();
    for b in got.as_array_mut().into_iter().flatten() {
        b.as_object_mut().expect("object").remove("id");
        for key in ["push_access_levels", "merge_access_levels"] {
            for a in b[key].as_array_mut().into_iter().flatten() {
                assert!(a["id"].as_i64().is_some(), "access levels have ids: {listed}");
                a.as_object_mut().expect("object").remove("id");
            }
        }
    }
    assert_eq!(got, want, "{listed}");

    let (_t, work) = work_repo(1);
    std::fs::write(work.join(".gitlab-ci.yml"), CI_FILE).expect("write");
    let first = commit(&work, "ci");
    // A developer cannot create the protected default branch; the maintainer can.
    let err = push_refused(&work, &[&dev_url, "main"]);
    assert_refused(&err, "main -> main", "You are not allowed to create protected branches on this project.");
    git_ok(&work, &["push", "-q", &maint_url, "main"]);
    wait_for_event(&s, pid, "main", &first);
    wait_count(&s, &format!("/projects/{pid}/pipelines"), 1);
    let pipelines = count(&s, &format!("/projects/{pid}/pipelines"));
    let events = count(&s, &format!("/projects/{pid}/events?per_page=100"));
    assert_eq!(pipelines, 1, "the maintainer's push made one pipeline");

    // A developer's push to main is refused with git's and GitLab's texts, and changes nothing.
    let dev_commit = commit(&work, "dev-change");
    let err = push_refused(&work, &[&dev_url, "main"]);
    assert_refused(&err, "main -> main", "You are not allowed to push code to protected branches on this project.");
    // Unprotected branches behave as before for developers: create, force, delete.
    git_ok(&work, &["push", "-q", &dev_url, "main:refs/heads/feature"]);
    wait_for_event(&s, pid, "feature", &dev_commit);
    wait_count(&s, &format!("/projects/{pid}/pipelines"), pipelines + 1);
    assert_eq!(server_ref(&s, path, "main").as_deref(), Some(first.as_str()), "main is unchanged");
    assert_eq!(count(&s, &format!("/projects/{pid}/events?per_page=100")), events + 1, "only feature's event");
    assert_eq!(count(&s, &format!("/projects/{pid}/pipelines")), pipelines + 1, "only feature's pipeline");
    git_ok(&work, &["push", "-q", "--force", &dev_url, &format!("{first}:refs/heads/feature")]);
    git_ok(&work, &["push", "-q", &dev_url, ":refs/heads/feature"]);
    assert_eq!(server_ref(&s, path, "feature"), None);

    // The maintainer fast-forwards main; a force push is refused until a rule allows it.
    git_ok(&work, &["push", "-q", &maint_url, "main"]);
    assert_eq!(server_ref(&s, path, "main").as_deref(), Some(dev_commit.as_str()));
    git_ok(&work, &["reset", "-q", "--hard", &first]);
    let rewritten = commit(&work, "rewritten");
    let err = push_refused(&work, &["--force", &maint_url, "main"]);
    assert_refused(
        &err,
        "main -> main",
        "You are not allowed to force push code to a protected branch on this project.",
    );
    assert_eq!(server_ref(&s, path, "main").as_deref(), Some(dev_commit.as_str()), "force push changed nothing");
    unprotect(&s, pid, "main");
    protect(&s, pid, &[("name", "main"), ("allow_force_push", "true")]);
    let err = push_refused(&work, &["--force", &dev_url, "main"]);
    assert_refused(&err, "main -> main", "You are not allowed to push code to protected branches on this project.");
    git_ok(&work, &["push", "-q", "--force", &maint_url, "main"]);
    assert_eq!(server_ref(&s, path, "main").as_deref(), Some(rewritten.as_str()), "allowed force push");

    // Deleting the default branch is refused, for everyone.
    for url in [&dev_url, &maint_url, &s.git_url(path, &s.root_token)] {
        let err = push_refused(&work, &[url, ":refs/heads/main"]);
        assert_refused(&err, "main", "The default branch of a project cannot be deleted.");
    }
    assert!(server_ref(&s, path, "main").is_some());

    // Wildcards: developers may push release branches, but not force-push or delete them.
    protect(&s, pid, &[("name", "release/*"), ("push_access_level", "30"), ("merge_access_level", "40")]);
    git_ok(&work, &["push", "-q", &dev_url, "HEAD:refs/heads/release/1.0"]);
    let next = commit(&work, "release-fix");
    git_ok(&work, &["push", "-q", &dev_url, "HEAD:refs/heads/release/1.0"]);
    let err = push_refused(&work, &["--force", &dev_url, &format!("{first}:refs/heads/release/1.0")]);
    assert_refused(
        &err,
        &format!("{first} -> release/1.0"),
        "You are not allowed to force push code to a protected branch",
    );
    let err = push_refused(&work, &[&dev_url, ":refs/heads/release/1.0"]);
    assert_refused(&err, "release/1.0", "You are not allowed to delete protected branches from this project.");
    let err = push_refused(&work, &[&maint_url, ":refs/heads/release/1.0"]);
    assert_refused(&err, "release/1.0", "You can only delete protected branches using the web interface.");
    assert_eq!(server_ref(&s, path, "release/1.0").as_deref(), Some(next.as_str()));
    protect(&s, pid, &[("name", "stable-*")]);
    let err = push_refused(&work, &[&dev_url, "HEAD:refs/heads/stable-2"]);
    assert_refused(&err, "HEAD -> stable-2", "You are not allowed to create protected branches on this project.");
    assert_eq!(server_ref(&s, path, "stable-2"), None);
    // A refused ref refuses the whole push (as GitLab's pre-receive does).
    let err = push_refused(&work, &[&dev_url, "HEAD:refs/heads/free", "HEAD:refs/heads/stable-3"]);
    assert!(err.contains("pre-receive hook declined"), "{err}");
    assert_eq!(server_ref(&s, path, "free"), None, "nothing of a refused push lands");

    // Repository-level hooks never run, whatever the repository says.
    let repo = repo_dir(&s, pid);
    let marker = s.data.path().join("planted-hook-ran");
    let planted = format!("#!/bin/sh\ntouch '{}'\nexit 0\n", marker.display());
    let elsewhere = s.data.path().join("planted-hooks");
    for dir in [repo.join("hooks"), elsewhere.clone()] {
        std::fs::create_dir_all(&dir).expect("mkdir");
        for hook in ["pre-receive", "update", "post-receive", "post-update", "reference-transaction"] {
            let f = dir.join(hook);
            std::fs::write(&f, &planted).expect("plant");
            std::fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
        }
    }
    git_ok(&repo, &["config", "core.hooksPath", &elsewhere.to_string_lossy()]);
    let err = push_refused(&work, &[&dev_url, "HEAD:main"]);
    assert_refused(&err, "HEAD -> main", "You are not allowed to push code to protected branches on this project.");
    git_ok(&work, &["push", "-q", &dev_url, "HEAD:refs/heads/other"]);
    assert!(!marker.exists(), "a hook planted in the repository ran");
}

/// The bare repository of a project: `@hashed/ab/cd/<sha256(id)>.git`.
fn repo_dir(s: &Server, pid: i64) -> std::path::PathBuf {
    let out = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().expect("stdin").write_all(pid.to_string().as_bytes())?;
            c.wait_with_output()
        });
    let out = out.expect("sha256sum");
    let h = String::from_utf8_lossy(&out.stdout).split_whitespace().next().expect("digest").to_string();
    s.data.path().join("repositories/@hashed").join(&h[0..2]).join(&h[2..4]).join(format!("{h}.git"))
}

#[test]
fn protected_branches_refuse_pushes_with_gitlabs_texts() {
    for b in backends() {
        pushes(b);
    }
}

fn api(backend: Backend) {
    let s = Server::start_on(backend);
    let (pid, dev, maint) = s.team_project("apis");
    let url = |rest: &str| format!("/projects/{pid}/protected_branches{rest}");
    // Maintainers manage; developers read but may not change.
    let created = s.post(
        &url(""),
        &maint,
        &[
            ("name", "release/*"),
            ("push_access_level", "30"),
            ("merge_access_level", "0"),
            ("allow_force_push", "true"),
        ],
    );
    assert_eq!(created["name"], "release/*");
    assert_eq!(created["push_access_levels"][0]["access_level_description"], "Developers + Maintainers");
    assert_eq!(created["merge_access_levels"][0]["access_level_description"], "No one");
    assert_eq!(created["allow_force_push"], true);
    let shown = s.get_json(&url("/release%2F%2A"), &dev);
    assert_eq!(shown, created, "show by the URL-encoded wildcard");
    for (form, status) in [
        (vec![("name", "release/*")], 409),
        (vec![("name", "x"), ("push_access_level", "20")], 400),
        (vec![("name", "x"), ("merge_access_level", "many")], 400),
        (vec![("name", "bad name")], 400),
        (vec![("name", "")], 400),
        (vec![("push_access_level", "40")], 400),
    ] {
        let r = s.req(Method::POST, &url(""), &maint).form(&form).send().expect("post");
        assert_eq!(r.status(), status, "{form:?}: {}", r.text().unwrap_or_default());
    }
    let r = s.req(Method::POST, &url(""), &dev).form(&[("name", "mine")]).send().expect("post");
    assert_eq!(r.status(), 403, "developers may not protect");
    let r = s.req(Method::DELETE, &url("/main"), &dev).send().expect("delete");
    assert_eq!(r.status(), 403, "developers may not unprotect");
    assert_eq!(s.get(&url("/nope"), &dev).status(), 404);
    let r = s.req(Method::DELETE, &url("/release%2F%2A"), &maint).send().expect("delete");
    assert_eq!(r.status(), 204);
    let r = s.req(Method::DELETE, &url("/release%2F%2A"), &maint).send().expect("delete");
    assert_eq!(r.status(), 404, "unprotect twice");
    let names: Vec<Value> =
        s.get_json(&url(""), &dev).as_array().expect("list").iter().map(|b| b["name"].clone()).collect();
    assert_eq!(names, vec![json!("main")]);
}

#[test]
fn protected_branches_api() {
    for b in backends() {
        api(b);
    }
}

/// Protected variables: in a pipeline of the protected default branch pushed by a maintainer, not
/// in one of an unprotected branch; a developer may not run a pipeline of the protected branch.
fn variables(backend: Backend) {
    let ci = Ci::start(backend, &[("AUTOGIT_CI_LONG_POLL_SECONDS", "1")]);
    let s = &ci.s;
    let (pid, dev, maint) = s.team_project("vars");
    for (key, protected) in [("DEPLOY_SECRET", "true"), ("PLAIN_SETTING", "false")] {
        s.post(
            &format!("/projects/{pid}/variables"),
            &s.root_token,
            &[("key", key), ("value", "c2VjcmV0LXZhbHVl"), ("protected", protected), ("masked", "true")],
        );
    }
    let (_protected_runner, protected_token) = ci.runner(&[("access_level", "ref_protected")]);
    let (_t, work) = work_repo(1);
    std::fs::write(work.join(".gitlab-ci.yml"), CI_FILE).expect("write");
    commit(&work, "ci");
    git_ok(&work, &["push", "-q", &s.git_url("vars/app", &maint), "main"]);
    let job = ci.take(&protected_token);
    assert_eq!(job["git_info"]["ref"], "main");
    assert_eq!(job["git_info"]["protected"], true, "the job of a protected branch is protected");
    assert_eq!(variable(&job, "DEPLOY_SECRET")["value"], "c2VjcmV0LXZhbHVl");
    assert_eq!(variable(&job, "CI_COMMIT_REF_PROTECTED")["value"], "true");
    let main_job = job["id"].as_i64().expect("job id");
    assert_eq!(ci.update(main_job, job["token"].as_str().expect("token"), "failed").status(), 200);
    // Rerunning a protected ref's job under its protected variables needs the right to push there.
    for action in ["retry", "cancel", "play"] {
        let r = s.req(Method::POST, &format!("/projects/{pid}/jobs/{main_job}/{action}"), &dev).send().expect("post");
        assert_eq!(r.status(), 403, "a developer may not {action} a job of the protected branch");
    }
    let pipeline = ci.pipeline(pid)["id"].as_i64().expect("pipeline id");
    let r = s.req(Method::POST, &format!("/projects/{pid}/pipelines/{pipeline}/retry"), &dev).send().expect("post");
    assert_eq!(r.status(), 403, "a developer may not retry the pipeline of the protected branch");
    let r = s.req(Method::POST, &format!("/projects/{pid}/jobs/{main_job}/retry"), &maint).send().expect("post");
    assert_eq!(r.status(), 201, "a maintainer may: {}", r.text().unwrap_or_default());
    let retried = ci.take(&protected_token);
    assert_eq!(retried["git_info"]["protected"], true);
    assert_eq!(
        ci.update(retried["id"].as_i64().expect("id"), retried["token"].as_str().expect("t"), "success").status(),
        200
    );

    git_ok(&work, &["push", "-q", &s.git_url("vars/app", &dev), "main:refs/heads/feature"]);
    let r = ci.request(&protected_token);
    assert_eq!(r.status(), 204, "a ref_protected runner takes no job of an unprotected branch");
    let (_any, any_token) = ci.runner(&[]);
    let job = ci.take(&any_token);
    assert_eq!(job["git_info"]["ref"], "feature");
    assert_eq!(job["git_info"]["protected"], false);
    let keys: Vec<&str> =
        job["variables"].as_array().expect("variables").iter().filter_map(|v| v["key"].as_str()).collect();
    assert!(!keys.contains(&"DEPLOY_SECRET"), "a protected variable reached an unprotected branch: {keys:?}");
    assert!(keys.contains(&"PLAIN_SETTING"));
    assert_eq!(variable(&job, "CI_COMMIT_REF_PROTECTED")["value"], "false");
    let feature_job = job["id"].as_i64().expect("job id");
    assert_eq!(ci.update(feature_job, job["token"].as_str().expect("token"), "failed").status(), 200);
    let r = s.req(Method::POST, &format!("/projects/{pid}/jobs/{feature_job}/retry"), &dev).send().expect("post");
    assert_eq!(r.status(), 201, "a developer retries the jobs of an unprotected branch");

    let r =
        s.req(Method::POST, &format!("/projects/{pid}/pipeline"), &dev).form(&[("ref", "main")]).send().expect("post");
    assert_eq!(r.status(), 400, "a developer may not run a pipeline of a protected branch");
    assert!(r.text().unwrap_or_default().contains("Insufficient permissions for protected ref"));
}

#[test]
fn protected_variables_follow_protected_branches() {
    for b in backends() {
        variables(b);
    }
}

/// A change to what decides a job's variables applies to the next job handed out (the
/// coordinator keeps a pipeline's job context only while the store's context generation says
/// nothing in it changed): between two jobs of one pipeline, unprotecting its branch takes the
/// protected variables from the second job, a changed or new variable (project or group) reaches
/// it; protecting a branch gives nothing to a job created unprotected.
fn settings_between_jobs(backend: Backend) {
    let ci = Ci::start(backend, &[("AUTOGIT_CI_LONG_POLL_SECONDS", "1")]);
    let s = &ci.s;
    let (pid, _dev, maint) = s.team_project("between");
    let gid = s.get_json("/groups/between", &s.root_token)["id"].as_i64().expect("group id");
    let vars = format!("/projects/{pid}/variables");
    s.post(&vars, &s.root_token, &[("key", "DEPLOY_SECRET"), ("value", "secret-1"), ("protected", "true")]);
    s.post(&vars, &s.root_token, &[("key", "SETTING"), ("value", "one")]);
    let (_runner, token) = ci.runner(&[]);
    let (_t, work) = work_repo(1);
    std::fs::write(work.join(".gitlab-ci.yml"), "a:\n  script: [echo a]\nb:\n  script: [echo b]\n").expect("write");
    commit(&work, "ci");
    git_ok(&work, &["push", "-q", &s.git_url("between/app", &maint), "main"]);
    let take_done = || {
        let job = ci.take(&token);
        let id = job["id"].as_i64().expect("job id");
        assert_eq!(ci.update(id, job["token"].as_str().expect("token"), "success").status(), 200);
        job
    };
    let value = |job: &Value, key: &str| variable(job, key)["value"].as_str().map(str::to_string);
    let has = |job: &Value, key: &str| job["variables"].as_array().expect("vars").iter().any(|v| v["key"] == key);

    let first = take_done();
    assert_eq!(first["git_info"]["protected"], true);
    assert_eq!(value(&first, "DEPLOY_SECRET").as_deref(), Some("secret-1"));
    assert_eq!(value(&first, "SETTING").as_deref(), Some("one"));
    assert!(!has(&first, "GROUP_NEW"));
    unprotect(s, pid, "main");
    let r = s.req(Method::PUT, &format!("{vars}/SETTING"), &s.root_token).form(&[("value", "two")]).send();
    assert_eq!(r.expect("put").status(), 200);
    s.post(&format!("/groups/{gid}/variables"), &s.root_token, &[("key", "GROUP_NEW"), ("value", "g")]);
    let second = take_done();
    assert_eq!(second["job_info"]["pipeline_id"], first["job_info"]["pipeline_id"], "two jobs of one pipeline");
    assert_eq!(second["git_info"]["protected"], false, "main is no longer protected");
    assert!(!has(&second, "DEPLOY_SECRET"), "no protected variable once the branch is unprotected");
    assert_eq!(value(&second, "CI_COMMIT_REF_PROTECTED").as_deref(), Some("false"));
    assert_eq!(value(&second, "SETTING").as_deref(), Some("two"), "the changed value");
    assert_eq!(value(&second, "GROUP_NEW").as_deref(), Some("g"), "the new group variable");

    git_ok(&work, &["push", "-q", &s.git_url("between/app", &maint), "main:refs/heads/feature"]);
    let third = take_done();
    assert_eq!(
        (third["git_info"]["ref"].as_str(), third["git_info"]["protected"].as_bool()),
        (Some("feature"), Some(false))
    );
    protect(s, pid, &[("name", "feature")]);
    let fourth = take_done();
    assert_eq!(fourth["git_info"]["ref"], "feature");
    assert_eq!(fourth["git_info"]["protected"], false, "a job created unprotected never becomes protected");
    assert!(!has(&fourth, "DEPLOY_SECRET"));
}

#[test]
fn settings_changed_between_jobs_apply_to_the_next_job() {
    for b in backends() {
        settings_between_jobs(b);
    }
}

/// python-gitlab's `project.protectedbranches` against the server.
#[test]
fn python_gitlab_protected_branches() {
    for backend in backends() {
        let s = Server::start_on(backend);
        common::run_python_gitlab("protected_branches.py", &[&s.url, &s.root_token]);
    }
}

/// The hook fails closed: without its policy, with a policy or an update line it does not
/// understand, it declines; with a policy it decides. The hook directories are owner-only.
#[test]
fn the_hook_fails_closed_and_its_directories_are_owner_only() {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let run = |policy: Option<&str>, stdin: &str| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_autogit"));
        cmd.args(["hook", "pre-receive"]).env_remove("AUTOGIT_PUSH_POLICY");
        if let Some(p) = policy {
            cmd.env("AUTOGIT_PUSH_POLICY", p);
        }
        let mut child =
            cmd.stdin(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().expect("hook runs");
        // The hook may refuse before it reads its input: a broken pipe is fine.
        let _ = child.stdin.take().expect("stdin").write_all(stdin.as_bytes());
        let out = child.wait_with_output().expect("wait");
        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (a, b) = ("a".repeat(40), "b".repeat(40));
    let zero = "0".repeat(40);
    let policy = "autogit-push-policy 1\npusher 30 0\ndefault main\nrule 0 40 40 main\n";
    let create_main = format!("{zero} {a} refs/heads/main\n");
    let (ok, err) = run(None, &create_main);
    assert!(!ok && err.starts_with("GitLab: The push policy is missing"), "{err}");
    let (ok, err) = run(Some("autogit-push-policy 9\n"), &create_main);
    assert!(!ok && err.starts_with("GitLab: The push could not be checked"), "{err}");
    for bad in ["garbage\n", "x y refs/heads/main\n", &format!("{a} {b}\n")] {
        let (ok, err) = run(Some(policy), bad);
        assert!(!ok && err.contains("could not be checked"), "{bad:?}: {err}");
    }
    let (ok, err) = run(Some(policy), &create_main);
    assert!(!ok && err.contains("You are not allowed to create protected branches"), "{err}");
    let (ok, _) = run(Some(policy), &format!("{zero} {a} refs/heads/feature\n{a} {zero} refs/tags/v1\n"));
    assert!(ok, "unprotected refs pass");
    // Objects the ancestry check cannot find fail it, and so the push.
    let (ok, err) = run(Some(policy.replace("pusher 30", "pusher 40").as_str()), &format!("{a} {b} refs/heads/main\n"));
    assert!(!ok && err.contains("could not be checked"), "{err}");

    let s = Server::start();
    let hooks = s.data.path().join("git-hooks");
    for dir in [hooks.clone(), hooks.join("none"), hooks.join("policy")] {
        let mode = std::fs::metadata(&dir).expect("hook dir").permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{}", dir.display());
    }
    let hook = std::fs::metadata(hooks.join("policy/pre-receive")).expect("hook").permissions().mode() & 0o777;
    assert_eq!(hook, 0o500);
    assert!(std::fs::read_dir(hooks.join("none")).expect("none").next().is_none());
}
