//! API v4 over real HTTP: shapes, pagination headers, errors and the authorization rules.

mod common;

use common::{Server, backends};
use reqwest::Method;
use serde_json::Value;

#[test]
fn authentication_errors_have_gitlab_bodies() {
    let s = Server::start();
    let r = s.get("/user", "");
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().expect("json")["message"], "401 Unauthorized");
    assert_eq!(s.get("/user", "glpat-not-a-token").status(), 401);
    // Bearer works like PRIVATE-TOKEN.
    let r = s.req(Method::GET, "/user", "").bearer_auth(&s.root_token).send().expect("request");
    assert_eq!(r.json::<Value>().expect("json")["username"], "root");
    // A read_api token can read but not write.
    let ro = s.create_token("root", "ro", "read_api");
    assert_eq!(s.get("/user", &ro).status(), 200);
    let r = s.req(Method::POST, "/projects", &ro).form(&[("name", "x")]).send().expect("request");
    assert_eq!(r.status(), 403);
    assert_eq!(r.json::<Value>().expect("json")["error"], "insufficient_scope");
    // A git-only token cannot use the API at all.
    let git_only = s.create_token("root", "git", "read_repository");
    assert_eq!(s.get("/user", &git_only).status(), 403);
    // Unknown routes are JSON 404s.
    let r = s.get("/nonexistent", &s.root_token);
    assert_eq!(r.status(), 404);
}

#[test]
fn pagination_headers_match_gitlab() {
    for b in backends() {
        let s = Server::start_on(b);
        for i in 0..5 {
            s.post("/projects", &s.root_token, &[("name", &format!("proj{i}"))]);
        }
        let r = s.get("/projects?per_page=2&page=2&search=proj", &s.root_token);
        assert_eq!(r.status(), 200);
        let h = r.headers().clone();
        assert_eq!(h["x-total"], "5");
        assert_eq!(h["x-total-pages"], "3");
        assert_eq!(h["x-page"], "2");
        assert_eq!(h["x-per-page"], "2");
        assert_eq!(h["x-next-page"], "3");
        assert_eq!(h["x-prev-page"], "1");
        let link = h["link"].to_str().expect("ascii");
        assert!(link.contains("search=proj&page=3&per_page=2>; rel=\"next\""), "{link}");
        let items: Vec<Value> = r.json().expect("json");
        let names: Vec<&str> = items.iter().map(|p| p["path"].as_str().unwrap_or("")).collect();
        assert_eq!(names, ["proj2", "proj3"]);
        // per_page is capped at 100, as in GitLab.
        let r = s.get("/projects?per_page=1000", &s.root_token);
        assert_eq!(r.headers()["x-per-page"], "100");
        assert_eq!(s.get("/projects?page=0", &s.root_token).status(), 400);
    }
}

#[test]
fn validation_errors_name_the_field_and_create_nothing() {
    let s = Server::start();
    let long_name = "x".repeat(300);
    let bad = [
        (vec![("name", "ok"), ("path", "../etc")], "path"),
        (vec![("name", "ok"), ("path", "x.git")], "path"),
        (vec![("name", "ok"), ("path", "info")], "path"),
        (vec![("name", "ok"), ("visibility", "secret")], "visibility"),
        (vec![("name", "ok"), ("default_branch", "a..b")], "default_branch"),
        (vec![("name", long_name.as_str())], "name"),
        (vec![("name", "ok"), ("namespace_id", "abc")], "namespace_id"),
    ];
    for (form, field) in bad {
        let r = s.req(Method::POST, "/projects", &s.root_token).form(&form).send().expect("request");
        assert_eq!(r.status(), 400, "{form:?}");
        let v: Value = r.json().expect("json");
        assert!(v["message"][field].is_array(), "{form:?} → {v}");
    }
    let r =
        s.req(Method::POST, "/projects", &s.root_token).form(&[("description", "no name")]).send().expect("request");
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().expect("json")["error"], "name or path is missing");
    // None of those created anything.
    assert_eq!(s.get("/projects", &s.root_token).headers()["x-total"], "0");
    // Duplicates conflict (case-insensitively) and leave the first intact.
    s.post("/projects", &s.root_token, &[("name", "Dup")]);
    let r = s
        .req(Method::POST, "/projects", &s.root_token)
        .form(&[("name", "x"), ("path", "DUP")])
        .send()
        .expect("request");
    assert!(r.status() == 400 || r.status() == 409, "{}", r.status());
    assert_eq!(s.get("/projects", &s.root_token).headers()["x-total"], "1");
    // Reserved and invalid user and group names.
    for (path, form) in [
        ("/groups", vec![("name", "API"), ("path", "api")]),
        ("/groups", vec![("name", "dots"), ("path", "a..b")]),
        ("/users", vec![("username", "admin"), ("name", "A"), ("email", "a@example.com")]),
        ("/users", vec![("username", "ok-user"), ("name", "A"), ("email", "not-an-email")]),
        ("/users", vec![("username", "ok-user"), ("name", "A"), ("email", "a@example.com"), ("password", "short")]),
    ] {
        let r = s.req(Method::POST, path, &s.root_token).form(&form).send().expect("request");
        assert_eq!(r.status(), 400, "{path} {form:?}");
    }
    // An oversized body is refused.
    let big = "x".repeat(2 << 20);
    let r = s.req(Method::POST, "/projects", &s.root_token).form(&[("name", big.as_str())]).send().expect("request");
    assert_eq!(r.status(), 400);
}

#[test]
fn visibility_and_roles_through_the_api() {
    let s = Server::start();
    let (alice, alice_t) = s.user("alice", "api");
    let (_bob, bob_t) = s.user("bob", "api");
    let g = s.post("/groups", &s.root_token, &[("name", "G"), ("path", "g"), ("visibility", "internal")]);
    let gid = g["id"].to_string();
    s.post("/projects", &s.root_token, &[("name", "priv"), ("namespace_id", &gid)]);
    s.post("/projects", &s.root_token, &[("name", "int"), ("namespace_id", &gid), ("visibility", "internal")]);
    // Anonymous sees nothing private or internal.
    assert_eq!(s.get("/projects/g%2Fint", "").status(), 404);
    assert_eq!(s.get("/projects", "").headers()["x-total"], "0");
    // Bob (no role) sees internal, not private.
    assert_eq!(s.get("/projects/g%2Fint", &bob_t).status(), 200);
    assert_eq!(s.get("/projects/g%2Fpriv", &bob_t).status(), 404);
    assert_eq!(s.get("/projects", &bob_t).headers()["x-total"], "1");
    // Alice, maintainer of the group, sees both and can edit but not delete.
    s.post(
        &format!("/groups/{gid}/members"),
        &s.root_token,
        &[("user_id", &alice.to_string()), ("access_level", "40")],
    );
    assert_eq!(s.get("/projects?membership=true", &alice_t).headers()["x-total"], "2");
    let r =
        s.req(Method::PUT, "/projects/g%2Fpriv", &alice_t).form(&[("description", "edited")]).send().expect("request");
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().expect("json")["description"], "edited");
    let r = s.req(Method::DELETE, "/projects/g%2Fpriv", &alice_t).send().expect("request");
    assert_eq!(r.status(), 403);
    // A maintainer may not grant Owner; the owner may.
    let (carol, _) = s.user("carol", "api");
    let r = s
        .req(Method::POST, &format!("/groups/{gid}/members"), &alice_t)
        .form(&[("user_id", carol.to_string().as_str()), ("access_level", "50")])
        .send()
        .expect("request");
    assert_eq!(r.status(), 403);
    // The last owner cannot be removed.
    let root_id = s.get_json("/user", &s.root_token)["id"].to_string();
    let r = s.req(Method::DELETE, &format!("/groups/{gid}/members/{root_id}"), &s.root_token).send().expect("request");
    assert_eq!(r.status(), 403);
    // Renaming a project keeps its repository (hashed storage) and changes its path.
    let r =
        s.req(Method::PUT, "/projects/g%2Fint", &s.root_token).form(&[("path", "renamed")]).send().expect("request");
    assert_eq!(r.json::<Value>().expect("json")["path_with_namespace"], "g/renamed");
    assert_eq!(s.get("/projects/g%2Fint", &s.root_token).status(), 404);
    // Users: non-admins cannot create users or tokens for others.
    let r = s
        .req(Method::POST, "/users", &bob_t)
        .form(&[("username", "eve"), ("name", "E"), ("email", "e@x.io")])
        .send()
        .expect("request");
    assert_eq!(r.status(), 403);
    let r = s
        .req(Method::POST, &format!("/users/{alice}/personal_access_tokens"), &bob_t)
        .form(&[("name", "x"), ("scopes[]", "api")])
        .send()
        .expect("request");
    assert_eq!(r.status(), 403);
}

#[test]
fn deleting_a_project_removes_its_repository() {
    let s = Server::start();
    let p = s.post("/projects", &s.root_token, &[("name", "gone")]);
    let repos = s.data.path().join("repositories");
    let count = || walk_git_dirs(&repos);
    assert_eq!(count(), 1, "one hashed repository on disk");
    let id = p["id"].to_string();
    let r = s.req(Method::DELETE, &format!("/projects/{id}"), &s.root_token).send().expect("request");
    assert_eq!(r.status(), 202);
    assert_eq!(count(), 0);
}

fn walk_git_dirs(dir: &std::path::Path) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else { return 0 };
    rd.filter_map(Result::ok)
        .map(|e| {
            let p = e.path();
            let name = e.file_name().to_string_lossy().to_string();
            if name == "@trash" {
                0
            } else if name.ends_with(".git") {
                1
            } else if p.is_dir() {
                walk_git_dirs(&p)
            } else {
                0
            }
        })
        .sum()
}
