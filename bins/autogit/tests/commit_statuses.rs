//! External commit statuses over real HTTP, on SQLite and PostgreSQL: a tool reports on a commit
//! (`POST /projects/:id/statuses/:sha`) as GitLab's state machine allows, the live status changes
//! in place and a finished one is followed by a new one, lists give the newest of each ref and
//! name (`all` the history), a report without a ref names the branch that holds the commit; bad
//! reports are refused naming the field; the commit page shows the statuses as inert text and
//! http(s) links; python-gitlab's `commit.statuses`.

mod common;

use common::browser::Browser;
use common::{Backend, Server, backends, git_ok, work_repo};
use reqwest::Method;
use serde_json::Value;

/// A private group project with a pushed `main` (two commits) and a `feature` branch one commit
/// ahead; (developer token, reporter token, main's sha, main's parent sha, feature's sha).
fn project(s: &Server) -> (String, String, String, String, String) {
    let g = s.post("/groups", &s.root_token, &[("name", "tools"), ("path", "tools")]);
    let p = s.post(
        "/projects",
        &s.root_token,
        &[("name", "app"), ("namespace_id", &g["id"].to_string()), ("visibility", "private")],
    );
    let mut tokens = Vec::new();
    for (name, level) in [("dev", "30"), ("rep", "20")] {
        let (uid, token) = s.user(name, "api");
        let form = [("user_id", uid.to_string()), ("access_level", level.to_string())];
        let r = s.req(Method::POST, &format!("/projects/{}/members", p["id"]), &s.root_token).form(&form).send();
        assert_eq!(r.expect("member").status(), 201);
        tokens.push(token);
    }
    let (_t, work) = work_repo(2);
    let parent = git_ok(&work, &["rev-parse", "HEAD~1"]);
    let main = git_ok(&work, &["rev-parse", "HEAD"]);
    git_ok(&work, &["push", "-q", &s.git_url("tools/app", &s.root_token), "main"]);
    git_ok(&work, &["checkout", "-q", "-b", "feature"]);
    std::fs::write(work.join("feature.txt"), "f").expect("write");
    git_ok(&work, &["add", "-A"]);
    git_ok(&work, &["commit", "-q", "-m", "feature"]);
    let feature = git_ok(&work, &["rev-parse", "HEAD"]);
    git_ok(&work, &["push", "-q", &s.git_url("tools/app", &s.root_token), "feature"]);
    let rep = tokens.pop().expect("reporter");
    (tokens.pop().expect("developer"), rep, main, parent, feature)
}

fn report(s: &Server, token: &str, sha: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let r = s.req(Method::POST, &format!("/projects/tools%2Fapp/statuses/{sha}"), token).form(form).send();
    let r = r.expect("post");
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

fn statuses(s: &Server, token: &str, sha: &str, query: &str) -> Vec<Value> {
    let v = s.get_json(&format!("/projects/tools%2Fapp/repository/commits/{sha}/statuses{query}"), token);
    v.as_array().cloned().unwrap_or_else(|| panic!("a list: {v}"))
}

fn reports(backend: Backend) {
    let s = Server::start_on(backend);
    let (dev, rep, main, parent, feature) = project(&s);

    let url = "https://ci.example.com/builds/1";
    let (st, pending) = report(&s, &dev, &main, &[("state", "pending"), ("name", "deploy"), ("target_url", url)]);
    assert_eq!(st, 201, "{pending}");
    assert_eq!(
        (pending["status"].as_str(), pending["name"].as_str(), pending["ref"].as_str(), pending["sha"].as_str()),
        (Some("pending"), Some("deploy"), Some("main"), Some(main.as_str())),
        "a report without a ref names the default branch, which holds the commit: {pending}"
    );
    assert_eq!(pending["author"]["username"], "dev");
    assert_eq!((pending["target_url"].as_str(), pending["started_at"].is_null()), (Some(url), true));
    let id = pending["id"].clone();

    let (st, running) = report(&s, &dev, &main, &[("state", "running"), ("name", "deploy"), ("coverage", "81.5")]);
    assert_eq!((st, &running["id"], running["status"].as_str()), (201, &id, Some("running")), "moved in place");
    assert!(running["started_at"].is_string() && running["finished_at"].is_null(), "{running}");
    assert_eq!((running["coverage"].as_f64(), running["target_url"].as_str()), (Some(81.5), Some(url)), "kept");
    let (st, twice) = report(&s, &dev, &main, &[("state", "running"), ("name", "deploy")]);
    assert_eq!(st, 400, "{twice}");
    assert_eq!(
        twice["message"],
        "Cannot transition status via :run from :running (Reason(s): Status cannot transition via \"run\")"
    );
    let (_, done) = report(&s, &dev, &main, &[("state", "success"), ("name", "deploy"), ("description", "deployed")]);
    assert_eq!((&done["id"], done["status"].as_str()), (&id, Some("success")));
    assert!(done["finished_at"].is_string(), "{done}");
    let (st, again) = report(&s, &dev, &main, &[("state", "failed"), ("context", "deploy")]);
    assert_eq!(st, 201);
    assert_ne!(again["id"], id, "a finished status is followed by a new one");
    let (_, default) = report(&s, &dev, &main, &[("state", "success"), ("ref", "release/1")]);
    assert_eq!((default["name"].as_str(), default["ref"].as_str()), (Some("default"), Some("release/1")));
    let (_, on_feature) = report(&s, &dev, &feature, &[("state", "skipped")]);
    assert_eq!(on_feature["ref"], "feature", "the only branch that holds the commit");
    let (_, by_ref) = report(&s, &dev, "feature", &[("state", "success"), ("name", "lint")]);
    assert_eq!(by_ref["sha"], feature.as_str(), "a ref names its commit");

    let latest = statuses(&s, &rep, &main, "");
    let lines: Vec<(&str, &str, &str)> = latest
        .iter()
        .map(|c| {
            (c["ref"].as_str().unwrap_or(""), c["name"].as_str().unwrap_or(""), c["status"].as_str().unwrap_or(""))
        })
        .collect();
    assert_eq!(lines, [("main", "deploy", "failed"), ("release/1", "default", "success")], "the newest of each line");
    assert_eq!(statuses(&s, &rep, &main, "?all=true").len(), 3, "with the history");
    assert_eq!(statuses(&s, &rep, &main, "?ref=release/1").len(), 1);
    assert_eq!(statuses(&s, &rep, &main, "?name=deploy&all=1").len(), 2);
    assert!(statuses(&s, &rep, &parent, "").is_empty(), "per commit");

    // Bad reports: refused naming the field, nothing recorded.
    for (form, want) in [
        (vec![("state", "passed")], "state"),
        (vec![("state", "created")], "state"),
        (vec![], "state"),
        (vec![("state", "success"), ("target_url", "javascript:alert(1)")], "target_url"),
        (vec![("state", "success"), ("target_url", "/relative")], "target_url"),
        (vec![("state", "success"), ("coverage", "lots")], "coverage"),
        (vec![("state", "success"), ("ref", "a..b")], "ref"),
        (vec![("state", "success"), ("name", "two\nlines")], "name"),
    ] {
        let (st, body) = report(&s, &dev, &main, &form);
        assert_eq!(st, 400, "{form:?}: {body}");
        assert!(body.to_string().contains(want), "{form:?} names {want}: {body}");
    }
    let long = "n".repeat(256);
    assert_eq!(report(&s, &dev, &main, &[("state", "success"), ("name", &long)]).0, 400);
    assert_eq!(report(&s, &dev, &"0".repeat(40), &[("state", "success")]).0, 404, "an unknown commit");
    assert_eq!(report(&s, &dev, "--output=x", &[("state", "success")]).0, 400, "an option is no revision");
    assert_eq!(report(&s, &rep, &main, &[("state", "success")]).0, 403, "reporters read, developers report");
    assert_eq!(report(&s, "", &main, &[("state", "success")]).0, 404, "anonymous: a private project is hidden");
    assert_eq!(statuses(&s, &rep, &main, "?all=true").len(), 3, "no refused report was recorded");
    let r = s.get(&format!("/projects/tools%2Fapp/repository/commits/{}/statuses", "0".repeat(40)), &rep);
    assert_eq!(r.status(), 404);

    // The commit page lists the statuses, their words as text and their URL as a link.
    let (_, _) = report(
        &s,
        &dev,
        &parent,
        &[("state", "failed"), ("name", "<b>scan</b>"), ("description", "<script>x()</script>")],
    );
    let (_, _) = report(
        &s,
        &dev,
        &parent,
        &[("state", "success"), ("name", "argo"), ("target_url", "https://argo.example/app")],
    );
    let mut browser = Browser::new(&s, "Firefox/140.0 (statuses test)");
    assert_eq!(browser.sign_in("rep", "a-long-password").status, 302);
    let page = browser.get(&format!("/tools/app/-/commit/{parent}"));
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("External statuses"), "{}", page.body);
    assert!(page.body.contains("&lt;b&gt;scan&lt;/b&gt;") && !page.body.contains("<b>scan</b>"), "the name is text");
    assert!(page.body.contains("&lt;script&gt;") && !page.body.contains("<script>x()"), "the description is text");
    assert!(page.body.contains("href=\"https://argo.example/app\""), "the URL is a link");
}

#[test]
fn tools_report_commit_statuses_as_gitlabs_state_machine_allows() {
    for b in backends() {
        reports(b);
    }
}

/// python-gitlab's `project.commits.get(sha).statuses`.
#[test]
fn python_gitlab_commit_statuses() {
    let s = Server::start();
    common::run_python_gitlab("commit_statuses.py", &[&s.url, &s.root_token]);
}
