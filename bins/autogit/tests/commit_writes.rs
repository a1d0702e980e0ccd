//! Commits written through the API — `POST /repository/commits` with several actions and the
//! files API — checked with real `git`: the tree each commit leaves, the author, the parent,
//! protected branches, `last_commit_id` conflicts, and bad input refused with no ref moved.

mod common;

use common::{Backend, Server, backends, git_ok, work_repo};
use reqwest::Method;
use serde_json::{Value, json};

struct Answer {
    status: u16,
    body: Value,
}

fn send(s: &Server, method: Method, path: &str, token: &str, body: &Value) -> Answer {
    let r = s.req(method, path, token).json(body).send().expect("request");
    let status = r.status().as_u16();
    Answer { status, body: r.json().unwrap_or(Value::Null) }
}

fn check(backend: Backend) {
    let s = Server::start_on(backend);
    let pid = s.post("/projects", &s.root_token, &[("name", "c")])["id"].to_string();
    let (_t, work) = work_repo(2);
    std::fs::write(work.join(".gitlab-ci.yml"), "build:\n  script: [\"true\"]\n").expect("ci file");
    git_ok(&work, &["add", "-A"]);
    git_ok(&work, &["commit", "-q", "-m", "ci"]);
    let url = s.git_url("root/c", &s.root_token);
    git_ok(&work, &["push", "-q", &url, "main"]);
    let main = git_ok(&work, &["rev-parse", "HEAD"]).trim().to_string();
    let (dev_id, dev) = s.user("dev", "api");
    let (mia_id, maintainer) = s.user("mia", "api");
    for (uid, level) in [(dev_id, "30"), (mia_id, "40")] {
        s.post(
            &format!("/projects/{pid}/members"),
            &s.root_token,
            &[("user_id", &uid.to_string()), ("access_level", level)],
        );
    }
    let commits = format!("/projects/{pid}/repository/commits");
    let refs = || git_ok(&work, &["ls-remote", &url]);
    let actions = json!([
        {"action": "create", "file_path": "docs/new.md", "content": "hello\n"},
        {"action": "update", "file_path": "README.md", "content": "# changed\n"},
        {"action": "move", "previous_path": "src/lib.rs", "file_path": "src/core.rs"},
        {"action": "create", "file_path": "tool.sh", "content": "IyEvYmluL3NoCg==", "encoding": "base64", "execute_filemode": true},
    ]);

    // The default branch is protected: a developer's commit to it is refused, nothing moves.
    let before = refs();
    let refused =
        send(&s, Method::POST, &commits, &dev, &json!({"branch": "main", "commit_message": "x", "actions": actions}));
    assert_eq!(
        (refused.status, refused.body["message"].as_str()),
        (400, Some("You are not allowed to push code to protected branches on this project.")),
        "{}",
        refused.body
    );
    // On a new branch it lands: one commit on top of main with every action applied.
    let made = send(
        &s,
        Method::POST,
        &commits,
        &dev,
        &json!({"branch": "feature/api", "start_branch": "main", "commit_message": "API commit\n\nbody", "actions": actions}),
    );
    assert_eq!(made.status, 201, "{}", made.body);
    assert_eq!(
        (made.body["title"].as_str(), made.body["parent_ids"][0].as_str()),
        (Some("API commit"), Some(main.as_str()))
    );
    let id = made.body["id"].as_str().expect("id").to_string();
    git_ok(&work, &["fetch", "-q", &url, "feature/api"]);
    assert_eq!(git_ok(&work, &["rev-parse", "FETCH_HEAD"]).trim(), id);
    assert_eq!(git_ok(&work, &["show", &format!("{id}:docs/new.md")]).trim_end(), "hello");
    assert_eq!(git_ok(&work, &["cat-file", "-s", &format!("{id}:docs/new.md")]).trim(), "6", "bytes as sent");
    assert_eq!(git_ok(&work, &["show", &format!("{id}:README.md")]).trim_end(), "# changed");
    let tree = git_ok(&work, &["ls-tree", "-r", &id]);
    assert!(tree.contains("\tsrc/core.rs") && !tree.contains("\tsrc/lib.rs"), "moved: {tree}");
    assert!(tree.lines().any(|l| l.starts_with("100755 blob") && l.ends_with("\ttool.sh")), "executable: {tree}");
    assert_eq!(git_ok(&work, &["show", &format!("{id}:tool.sh")]).trim_end(), "#!/bin/sh", "base64 content");
    assert_eq!(git_ok(&work, &["log", "-1", "--format=%an|%cn", &id]).trim(), "dev|dev");
    let pipelines = s.get_json(&format!("/projects/{pid}/pipelines?ref=feature/api"), &s.root_token);
    assert_eq!(pipelines[0]["sha"], id.as_str(), "the commit's pipeline: {pipelines}");

    // The files API, one action each, with last_commit_id checks (maintainer on main).
    let files = format!("/projects/{pid}/repository/files");
    let created = send(
        &s,
        Method::POST,
        &format!("{files}/notes%2Fa.txt"),
        &maintainer,
        &json!({"branch": "main", "content": "one\n", "commit_message": "add a"}),
    );
    assert_eq!((created.status, created.body.clone()), (201, json!({"file_path": "notes/a.txt", "branch": "main"})));
    let seen = s.get_json(&format!("{files}/notes%2Fa.txt?ref=main"), &maintainer)["last_commit_id"]
        .as_str()
        .expect("last")
        .to_string();
    let again = send(
        &s,
        Method::POST,
        &format!("{files}/notes%2Fa.txt"),
        &maintainer,
        &json!({"branch": "main", "content": "x", "commit_message": "again"}),
    );
    assert_eq!((again.status, again.body["message"].as_str()), (400, Some("A file with this name already exists")));
    let stale = send(
        &s,
        Method::PUT,
        &format!("{files}/notes%2Fa.txt"),
        &maintainer,
        &json!({"branch": "main", "content": "two\n", "commit_message": "edit", "last_commit_id": main}),
    );
    assert_eq!(stale.status, 400);
    assert!(
        stale.body["message"].as_str().is_some_and(|m| m.contains("changed since you started editing")),
        "{}",
        stale.body
    );
    let updated = send(
        &s,
        Method::PUT,
        &format!("{files}/notes%2Fa.txt"),
        &maintainer,
        &json!({"branch": "main", "content": "two\n", "commit_message": "edit", "last_commit_id": seen}),
    );
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(s.get(&format!("{files}/notes%2Fa.txt/raw?ref=main"), &maintainer).text().expect("raw"), "two\n");
    let missing = send(
        &s,
        Method::PUT,
        &format!("{files}/nope.txt"),
        &maintainer,
        &json!({"branch": "main", "content": "x", "commit_message": "m"}),
    );
    assert_eq!((missing.status, missing.body["message"].as_str()), (400, Some("A file with this name doesn't exist")));
    assert_eq!(
        send(
            &s,
            Method::DELETE,
            &format!("{files}/notes%2Fa.txt"),
            &maintainer,
            &json!({"branch": "main", "commit_message": "rm"})
        )
        .status,
        204
    );
    assert_eq!(s.get(&format!("{files}/notes%2Fa.txt?ref=main"), &maintainer).status().as_u16(), 404);

    // Bad input: each refused with its reason, and no ref moved by any of them.
    let before = {
        let _ = before;
        refs()
    };
    let bad: &[(Value, &str)] = &[
        (json!({"branch": "main", "commit_message": "m", "actions": []}), "actions"),
        (json!({"branch": "main", "commit_message": "m", "actions": "x"}), "actions"),
        (
            json!({"branch": "main", "commit_message": "m", "actions": [{"action": "explode", "file_path": "a"}]}),
            "actions",
        ),
        (json!({"branch": "main", "commit_message": "m", "actions": [{"action": "create"}]}), "actions"),
        (
            json!({"branch": "main", "commit_message": "m", "actions": [{"action": "create", "file_path": "a", "content": "%%", "encoding": "base64"}]}),
            "actions",
        ),
        (
            json!({"branch": "a..b", "commit_message": "m", "actions": [{"action": "create", "file_path": "a"}]}),
            "branch",
        ),
        (json!({"branch": "main", "actions": [{"action": "create", "file_path": "a"}]}), "commit_message"),
    ];
    for (body, field) in bad {
        let a = send(&s, Method::POST, &commits, &maintainer, body);
        assert_eq!(a.status, 400, "{body}: {}", a.body);
        assert!(a.body.to_string().contains(field), "{body}: the answer names {field}: {}", a.body);
    }
    for path in ["../up.txt", "a/.git/config", "README.md/x", "/abs"] {
        let body = json!({"branch": "main", "commit_message": "m", "actions": [{"action": "create", "file_path": path, "content": "x"}]});
        let a = send(&s, Method::POST, &commits, &maintainer, &body);
        let message = a.body["message"].as_str().unwrap_or_default();
        assert!(
            a.status == 400 && message.contains("is not valid") && message.contains(path.trim_start_matches('/')),
            "{path}: {}",
            a.body
        );
    }
    let no_branch = send(
        &s,
        Method::POST,
        &commits,
        &maintainer,
        &json!({"branch": "ghost", "commit_message": "m", "actions": [{"action": "create", "file_path": "a", "content": "x"}]}),
    );
    assert!(
        no_branch.status == 400 && no_branch.body["message"].as_str().is_some_and(|m| m.contains("start_branch")),
        "{}",
        no_branch.body
    );
    let reporter_like = send(
        &s,
        Method::POST,
        &commits,
        "",
        &json!({"branch": "x", "commit_message": "m", "actions": [{"action": "create", "file_path": "a"}]}),
    );
    assert!([401, 404].contains(&reporter_like.status), "anonymous: {}", reporter_like.status);
    assert_eq!(refs(), before, "no refused write moved a ref");
}

#[test]
fn commits_and_file_writes_land_through_the_push_path() {
    for backend in backends() {
        check(backend);
    }
}
