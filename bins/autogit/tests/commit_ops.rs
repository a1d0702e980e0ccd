//! Comparing, diffing, archiving, cherry-picking and reverting through the API, each checked
//! against git itself: the diffs are git's hunks, the archives hold the commit's files, and the
//! picked and reverted commits leave the trees git would, or are refused with GitLab's error
//! codes and move nothing.

mod common;

use common::{Backend, Server, backends, git_ok, work_repo};
use reqwest::Method;
use serde_json::Value;
use std::path::Path;

fn post(s: &Server, path: &str, token: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let r = s.req(Method::POST, path, token).form(form).send().expect("request");
    (r.status().as_u16(), r.json().unwrap_or(Value::Null))
}

/// git's hunks of `file` in `args` (a `git diff`/`git show` command line), from the first `@@`.
fn git_hunks(work: &Path, args: &[&str], file: &str) -> String {
    let mut full: Vec<&str> = args.to_vec();
    full.extend(["--", file]);
    let out = git_ok(work, &full);
    let start = out.find("@@").expect("a hunk");
    // git_ok trims the output's last line end; the API's text keeps it.
    format!("{}\n", out[start..].trim_end())
}

fn check(backend: Backend) {
    let s = Server::start_on(backend);
    let pid = s.post("/projects", &s.root_token, &[("name", "ops")])["id"].to_string();
    let (_t, work) = work_repo(3);
    let url = s.git_url("root/ops", &s.root_token);
    git_ok(&work, &["push", "-q", &url, "main"]);
    let rev = |r: &str| git_ok(&work, &["rev-parse", r]).trim().to_string();
    let (c0, c1, c2) = (rev("HEAD~2"), rev("HEAD~1"), rev("HEAD"));
    let repo = format!("/projects/{pid}/repository");

    // Compare and a commit's diff: the commits in between and git's own hunks per file.
    let cmp = s.get_json(&format!("{repo}/compare?from={c0}&to=main"), &s.root_token);
    let ids: Vec<&str> = cmp["commits"].as_array().expect("commits").iter().filter_map(|c| c["id"].as_str()).collect();
    assert_eq!(ids, [c1.as_str(), c2.as_str()], "oldest first: {cmp}");
    assert_eq!(cmp["commit"]["id"], c2.as_str());
    assert_eq!(cmp["compare_timeout"], false);
    for d in cmp["diffs"].as_array().expect("diffs") {
        let file = d["new_path"].as_str().expect("path");
        let want = git_hunks(&work, &["diff", "--no-color", &format!("{c0}...{c2}")], file);
        assert_eq!(d["diff"].as_str(), Some(want.as_str()), "{file}");
    }
    assert_eq!(cmp["diffs"].as_array().map(Vec::len), Some(2), "README.md and src/lib.rs");
    let one = s.get_json(&format!("{repo}/commits/{c1}/diff"), &s.root_token);
    let readme = one.as_array().into_iter().flatten().find(|d| d["new_path"] == "README.md").expect("README diff");
    assert_eq!(
        readme["diff"].as_str(),
        Some(git_hunks(&work, &["show", "--no-color", "--format=", &c1], "README.md").as_str())
    );
    assert_eq!(s.get(&format!("{repo}/compare?from=nope&to=main"), &s.root_token).status().as_u16(), 404);
    assert_eq!(s.get(&format!("{repo}/compare?from=--all&to=main"), &s.root_token).status().as_u16(), 400);

    // Archives: what `git archive` of the commit holds, under GitLab's top directory.
    let out = tempfile::tempdir().expect("tempdir");
    for (route, list) in [
        ("archive", vec!["tar", "-tzf"]),
        ("archive.tar", vec!["tar", "-tf"]),
        ("archive.zip", vec!["python3", "-m", "zipfile", "-l"]),
    ] {
        let r = s.get(&format!("{repo}/{route}?sha={c1}"), &s.root_token);
        assert_eq!(r.status().as_u16(), 200, "{route}");
        let disposition = r.headers()["content-disposition"].to_str().expect("header").to_string();
        assert!(disposition.contains(&format!("ops-{c1}-{c1}")), "{disposition}");
        let file = out.path().join(route);
        std::fs::write(&file, r.bytes().expect("body")).expect("write");
        let listing = std::process::Command::new(list[0]).args(&list[1..]).arg(&file).output().expect("lister runs");
        let listing = String::from_utf8_lossy(&listing.stdout);
        assert!(
            listing.contains(&format!("ops-{c1}-{c1}/README.md")) && listing.contains("src/lib.rs"),
            "{route}: {listing}"
        );
    }
    let only = s.get(&format!("{repo}/archive.tar?sha=main&path=src"), &s.root_token).bytes().expect("body");
    let file = out.path().join("only.tar");
    std::fs::write(&file, only).expect("write");
    let names = std::process::Command::new("tar").arg("-tf").arg(&file).output().expect("tar");
    let names = String::from_utf8_lossy(&names.stdout);
    assert!(names.contains("src/lib.rs") && !names.contains("README.md"), "path limits the archive: {names}");
    assert_eq!(s.get(&format!("{repo}/archive.rar"), &s.root_token).status().as_u16(), 400);
    assert_eq!(s.get(&format!("{repo}/nonsense"), &s.root_token).status().as_u16(), 404);
    assert_eq!(s.get(&format!("{repo}/archive?sha=nope"), &s.root_token).status().as_u16(), 404);

    // Cherry-pick onto a branch started at c0: c1's change lands, authored as in c1.
    assert_eq!(post(&s, &format!("{repo}/branches"), &s.root_token, &[("branch", "side"), ("ref", &c0)]).0, 201);
    let (status, picked) = post(&s, &format!("{repo}/commits/{c1}/cherry_pick"), &s.root_token, &[("branch", "side")]);
    assert_eq!(status, 201, "{picked}");
    let picked_id = picked["id"].as_str().expect("id").to_string();
    assert_eq!(picked["parent_ids"][0], c0.as_str());
    assert!(
        picked["message"].as_str().is_some_and(|m| m.contains(&format!("(cherry picked from commit {c1})"))),
        "{picked}"
    );
    git_ok(&work, &["fetch", "-q", &url, "side"]);
    assert_eq!(
        git_ok(&work, &["rev-parse", &format!("{picked_id}^{{tree}}")]),
        git_ok(&work, &["rev-parse", &format!("{c1}^{{tree}}")]),
        "c0 + c1's change = c1's tree"
    );
    assert_eq!(
        git_ok(&work, &["log", "-1", "--format=%an %at", &picked_id]),
        git_ok(&work, &["log", "-1", "--format=%an %at", &c1])
    );
    // Again: nothing would change (error_code empty). c2 onto c0: conflict. Neither moves side.
    let (status, again) = post(&s, &format!("{repo}/commits/{c1}/cherry_pick"), &s.root_token, &[("branch", "side")]);
    assert_eq!((status, again["error_code"].as_str()), (400, Some("empty")), "{again}");
    assert_eq!(post(&s, &format!("{repo}/branches"), &s.root_token, &[("branch", "old"), ("ref", &c0)]).0, 201);
    let (status, conflict) = post(&s, &format!("{repo}/commits/{c2}/cherry_pick"), &s.root_token, &[("branch", "old")]);
    assert_eq!((status, conflict["error_code"].as_str()), (400, Some("conflict")), "{conflict}");
    assert!(
        conflict["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Sorry, we cannot cherry-pick this commit automatically."))
    );
    let refs = git_ok(&work, &["ls-remote", &url]);
    assert!(
        refs.contains(&format!("{picked_id}\trefs/heads/side")) && refs.contains(&format!("{c0}\trefs/heads/old")),
        "{refs}"
    );

    // Revert on the default branch (protected: the developer is refused; root may).
    let (dev_id, dev) = s.user("dev", "api");
    s.post(
        &format!("/projects/{pid}/members"),
        &s.root_token,
        &[("user_id", &dev_id.to_string()), ("access_level", "30")],
    );
    let (status, refused) = post(&s, &format!("{repo}/commits/{c2}/revert"), &dev, &[("branch", "main")]);
    assert_eq!(
        (status, refused["message"].as_str()),
        (400, Some("You are not allowed to push code to protected branches on this project."))
    );
    let (status, reverted) = post(&s, &format!("{repo}/commits/{c2}/revert"), &s.root_token, &[("branch", "main")]);
    assert_eq!(status, 201, "{reverted}");
    let title = git_ok(&work, &["log", "-1", "--format=%s", &c2]);
    assert_eq!(reverted["title"].as_str(), Some(format!("Revert \"{}\"", title.trim()).as_str()));
    let reverted_id = reverted["id"].as_str().expect("id").to_string();
    git_ok(&work, &["fetch", "-q", &url, "main"]);
    assert_eq!(
        git_ok(&work, &["rev-parse", &format!("{reverted_id}^{{tree}}")]),
        git_ok(&work, &["rev-parse", &format!("{c1}^{{tree}}")]),
        "reverting c2 on c2 gives c1's tree"
    );
    let pipelines = s.get_json(&format!("/projects/{pid}/events"), &s.root_token);
    assert!(
        pipelines.as_array().into_iter().flatten().any(|e| e["push_data"]["commit_to"] == reverted_id.as_str()),
        "a push event for the revert: {pipelines}"
    );
    assert_eq!(post(&s, &format!("{repo}/commits/nope/revert"), &s.root_token, &[("branch", "main")]).0, 404);
    assert_eq!(post(&s, &format!("{repo}/commits/{c2}/revert"), &s.root_token, &[("branch", "ghost")]).0, 404);
    assert_eq!(post(&s, &format!("{repo}/commits/{c2}/revert"), &s.root_token, &[]).0, 400);
}

#[test]
fn compare_diffs_archives_cherry_picks_and_reverts_agree_with_git() {
    for backend in backends() {
        check(backend);
    }
}
