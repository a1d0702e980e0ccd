//! The settings pages over real HTTP with a session cookie: a project's general settings, its
//! CI/CD variables (a masked value never reaches the browser) and its members, a group's
//! variables and members, who may see them (maintainers and up; everyone else a `404`), the CSRF
//! token on every form and the pages' security headers. Each change is checked through the API.
//! SQLite always, PostgreSQL when configured.

mod common;

use common::browser::{Answer, Browser};
use common::{Backend, Server, backends};
use serde_json::Value;

const PASSWORD: &str = "a-long-password";
/// A value that is fine to mask, and that must never appear in a page.
const SECRET: &str = "c2VjcmV0LWRlcGxveS10b2tlbg==";

fn check_all(f: impl Fn(Backend)) {
    for b in backends() {
        f(b);
    }
}

fn signed_in<'a>(s: &'a Server, login: &str) -> Browser<'a> {
    let mut b = Browser::new(s, "Firefox/140.0 (settings test)");
    let a = b.sign_in(login, PASSWORD);
    assert_eq!(a.status, 302, "{login} signs in: {}", a.body);
    b
}

fn assert_page_headers(path: &str, a: &Answer) {
    let csp = a.headers["content-security-policy"].to_str().expect("csp");
    assert!(csp.contains("default-src 'none'") && csp.contains("form-action 'self'"), "{path}: {csp}");
    assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe"), "{path}: {csp}");
    assert_eq!(a.headers["x-frame-options"], "DENY", "{path}");
    assert_eq!(a.headers["cache-control"], "no-store", "{path}");
}

/// A page that must answer 200, with its headers checked.
fn page(b: &mut Browser, path: &str) -> Answer {
    let a = b.get(path);
    assert_eq!(a.status, 200, "{path}: {}", a.body);
    assert_page_headers(path, &a);
    a
}

/// The world of a test: group `acme` (public) owned by alice, private project `acme/app`,
/// bob maintaining the project, carol developing it, dave and erin with no role.
struct World {
    s: Server,
    project: i64,
    group: i64,
    ids: std::collections::HashMap<&'static str, (i64, String)>,
}

impl World {
    fn build(backend: Backend) -> World {
        let s = Server::start_on(backend);
        let mut ids = std::collections::HashMap::new();
        for name in ["alice", "bob", "carol", "dave", "erin"] {
            ids.insert(name, s.user(name, "api"));
        }
        let alice = ids["alice"].1.clone();
        let g = s.post("/groups", &alice, &[("name", "Acme"), ("path", "acme"), ("visibility", "public")]);
        let group = g["id"].as_i64().expect("group id");
        let p = s.post(
            "/projects",
            &alice,
            &[("name", "app"), ("namespace_id", &group.to_string()), ("visibility", "private")],
        );
        let project = p["id"].as_i64().expect("project id");
        for (who, level) in [("bob", "40"), ("carol", "30")] {
            let id = ids[who].0.to_string();
            s.post(&format!("/projects/{project}/members"), &alice, &[("user_id", &id), ("access_level", level)]);
        }
        World { s, project, group, ids }
    }

    fn token(&self, who: &str) -> &str {
        &self.ids[who].1
    }

    fn id(&self, who: &str) -> i64 {
        self.ids[who].0
    }

    fn api(&self, path: &str, who: &str) -> (u16, Value) {
        let r = self.s.get(path, self.token(who));
        let status = r.status().as_u16();
        (status, r.json().unwrap_or(Value::Null))
    }
}

#[test]
fn a_maintainer_manages_variables_and_a_masked_value_never_reaches_the_page() {
    check_all(|backend| {
        let w = World::build(backend);
        let (s, pid) = (&w.s, w.project);
        let mut b = signed_in(s, "bob");
        let home = page(&mut b, "/acme/app");
        assert!(home.body.contains("href=\"/acme/app/-/settings/general\""), "the Settings tab: {}", home.body);
        let form = page(&mut b, "/acme/app/-/settings/ci_cd");
        assert!(form.body.contains("action=\"/acme/app/-/settings/ci_cd/variables\""), "{}", form.body);
        let token = form.csrf();
        let add = "/acme/app/-/settings/ci_cd/variables";

        let r = b.post(
            add,
            &[
                ("authenticity_token", &token),
                ("key", "DEPLOY_TOKEN"),
                ("value", SECRET),
                ("variable_type", "env_var"),
                ("environment_scope", "*"),
                ("protected", "true"),
                ("masked", "true"),
                ("description", "Deploys <things>"),
            ],
        );
        assert_eq!(
            (r.status, r.location.as_deref()),
            (302, Some("/acme/app/-/settings/ci_cd?notice=added")),
            "{backend:?}: {}",
            r.body
        );
        let (status, v) = w.api(&format!("/projects/{pid}/variables/DEPLOY_TOKEN"), "bob");
        assert_eq!(status, 200, "{v}");
        assert_eq!(
            (v["value"].as_str(), v["masked"].as_bool(), v["protected"].as_bool()),
            (Some(SECRET), Some(true), Some(true))
        );
        assert_eq!(v["description"], "Deploys <things>");

        let listed = page(&mut b, "/acme/app/-/settings/ci_cd?notice=added");
        assert!(listed.body.contains("<code>DEPLOY_TOKEN</code>") && listed.body.contains("Added."), "{}", listed.body);
        assert!(listed.body.contains("Deploys &lt;things&gt;"), "escaped description");
        assert!(!listed.body.contains(SECRET) && !listed.body.contains("c2VjcmV0"), "a masked value is never sent");
        assert!(listed.body.contains("Leave empty to keep the current value."), "{}", listed.body);

        // Other fields change; an empty value keeps the value.
        let update = "/acme/app/-/settings/ci_cd/variables/DEPLOY_TOKEN/update";
        let r = b.post(
            update,
            &[
                ("authenticity_token", &token),
                ("filter_scope", "*"),
                ("value", ""),
                ("variable_type", "file"),
                ("environment_scope", "*"),
                ("masked", "true"),
                ("description", "deploys"),
            ],
        );
        assert_eq!(
            (r.status, r.location.as_deref()),
            (302, Some("/acme/app/-/settings/ci_cd?notice=updated")),
            "{}",
            r.body
        );
        let (_, v) = w.api(&format!("/projects/{pid}/variables/DEPLOY_TOKEN"), "bob");
        assert_eq!(v["value"], SECRET, "the value is kept: {v}");
        assert_eq!((v["protected"].as_bool(), v["variable_type"].as_str()), (Some(false), Some("file")), "{v}");
        assert_eq!(v["description"], "deploys");

        // The masking rules: the message and the entered fields, never the value to mask.
        let r = b
            .post(add, &[("authenticity_token", &token), ("key", "SHORT_ONE"), ("value", "x!y!z"), ("masked", "true")]);
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.body.contains("Value cannot be masked: it must be at least 8 characters long"), "{}", r.body);
        assert!(r.body.contains("value=\"SHORT_ONE\"") && !r.body.contains("x!y!z"), "{}", r.body);
        assert!(!r.body.contains(SECRET), "nor the other variables' values");
        assert_page_headers(add, &r);
        let r = b.post(
            add,
            &[("authenticity_token", &token), ("key", "SPACED"), ("value", "has spaces in it"), ("masked", "true")],
        );
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.body.contains("it may contain only the Base64 alphabet"), "{}", r.body);
        assert!(!r.body.contains("has spaces in it"), "{}", r.body);
        // Masking an existing variable checks its stored value.
        s.post(&format!("/projects/{pid}/variables"), w.token("bob"), &[("key", "PLAIN"), ("value", "visible value")]);
        let r = b.post(
            "/acme/app/-/settings/ci_cd/variables/PLAIN/update",
            &[
                ("authenticity_token", &token),
                ("filter_scope", "*"),
                ("value", ""),
                ("environment_scope", "*"),
                ("masked", "true"),
            ],
        );
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.body.contains("Base64") && r.body.contains(" open>"), "the edit form stays open: {}", r.body);
        // An unmasked value is shown to the maintainer.
        assert!(page(&mut b, "/acme/app/-/settings/ci_cd").body.contains("visible value"));
        let (_, list) = w.api(&format!("/projects/{pid}/variables"), "bob");
        assert_eq!(list.as_array().map(Vec::len), Some(2), "nothing refused was stored: {list}");

        let r = b.post(
            "/acme/app/-/settings/ci_cd/variables/DEPLOY_TOKEN/delete",
            &[("authenticity_token", &token), ("filter_scope", "*")],
        );
        assert_eq!((r.status, r.location.as_deref()), (302, Some("/acme/app/-/settings/ci_cd?notice=deleted")));
        assert_eq!(w.api(&format!("/projects/{pid}/variables/DEPLOY_TOKEN"), "bob").0, 404);
    });
}

#[test]
fn general_settings_change_the_project_and_only_for_maintainers() {
    let w = World::build(Backend::Sqlite);
    let (s, pid) = (&w.s, w.project);
    let mut bob = signed_in(s, "bob");
    let form = page(&mut bob, "/acme/app/-/settings/general");
    assert!(
        form.body.contains("name=\"visibility\"") && form.body.contains("value=\"private\" selected"),
        "{}",
        form.body
    );
    let token = form.csrf();
    let general = "/acme/app/-/settings/general";
    let fields = |visibility: &'static str, ci: &'static str| {
        vec![
            ("name", "App <1>"),
            ("description", "The app"),
            ("visibility", visibility),
            ("default_branch", "main"),
            ("ci_config_path", ci),
        ]
    };
    let post = |b: &mut Browser, f: Vec<(&str, &str)>| {
        let mut all = vec![("authenticity_token", token.as_str())];
        all.extend(f);
        b.post(general, &all)
    };

    let bad = post(&mut bob, fields("internal", "/etc/ci.yml"));
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains("Ci config path must be a relative file path"), "{}", bad.body);
    assert!(bad.body.contains("value=\"App &lt;1&gt;\""), "the entered name again, escaped: {}", bad.body);
    assert_eq!(w.api(&format!("/projects/{pid}"), "bob").1["visibility"], "private", "nothing changed");

    let ok = post(&mut bob, fields("internal", "ci/pipeline.yml"));
    assert_eq!(
        (ok.status, ok.location.as_deref()),
        (302, Some("/acme/app/-/settings/general?notice=saved")),
        "{}",
        ok.body
    );
    let (_, p) = w.api(&format!("/projects/{pid}"), "bob");
    assert_eq!((p["visibility"].as_str(), p["name"].as_str()), (Some("internal"), Some("App <1>")), "{p}");
    assert_eq!(
        (p["description"].as_str(), p["ci_config_path"].as_str()),
        (Some("The app"), Some("ci/pipeline.yml")),
        "{p}"
    );
    assert!(page(&mut bob, "/acme/app/-/settings/general?notice=saved").body.contains("Saved."));

    // A developer: no tab, no pages, no changes.
    let mut carol = signed_in(s, "carol");
    let home = page(&mut carol, "/acme/app");
    assert!(!home.body.contains("/-/settings/general"), "no Settings tab for a developer");
    for path in [
        "/acme/app/-/settings/general",
        "/acme/app/-/settings/ci_cd",
        "/acme/app/-/project_members",
        "/acme/app/-/settings",
    ] {
        let a = carol.get(path);
        assert_eq!(a.status, 404, "{path} for a developer: {}", a.body);
        assert_page_headers(path, &a);
    }
    let token = carol.get("/").csrf();
    let mut f = vec![("authenticity_token", token.as_str())];
    f.extend(fields("public", ""));
    let r = carol.post(general, &f);
    assert!(matches!(r.status, 403 | 404), "a developer's change: {} {}", r.status, r.body);
    let r = carol.post(
        "/acme/app/-/settings/ci_cd/variables",
        &[("authenticity_token", token.as_str()), ("key", "K"), ("value", "v")],
    );
    assert!(matches!(r.status, 403 | 404), "a developer's variable: {}", r.status);
    let r = carol.post(
        "/acme/app/-/project_members",
        &[("authenticity_token", token.as_str()), ("username", "dave"), ("access_level", "50")],
    );
    assert!(matches!(r.status, 403 | 404), "a developer's member: {}", r.status);
    assert_eq!(w.api(&format!("/projects/{pid}"), "bob").1["visibility"], "internal");
    assert_eq!(w.api(&format!("/projects/{pid}/variables"), "bob").1.as_array().map(Vec::len), Some(0));

    // Outsiders and anonymous visitors: the internal project is not theirs to see, or its settings.
    let mut dave = signed_in(s, "dave");
    assert_eq!(dave.get("/acme/app/-/settings/general").status, 404, "a user without a role");
    let mut anon = Browser::new(s, "anonymous");
    assert_eq!(anon.get("/acme/app/-/settings/ci_cd").status, 404);
    let r = anon.post(general, &[("name", "x")]);
    assert!(matches!(r.status, 302 | 422), "anonymous: {}", r.status);
}

#[test]
fn members_are_added_changed_and_removed_and_a_group_keeps_an_owner() {
    check_all(|backend| {
        let w = World::build(backend);
        let (s, pid) = (&w.s, w.project);
        let mut alice = signed_in(s, "alice");
        let members = page(&mut alice, "/acme/app/-/project_members");
        assert!(members.body.contains("@bob") && members.body.contains("@carol"), "{}", members.body);
        assert!(
            members.body.contains("Inherited members") && members.body.contains("href=\"/groups/acme\""),
            "{}",
            members.body
        );
        let token = members.csrf();

        let r = alice.post(
            "/acme/app/-/project_members",
            &[("authenticity_token", &token), ("username", "dave"), ("access_level", "20")],
        );
        assert_eq!(
            (r.status, r.location.as_deref()),
            (302, Some("/acme/app/-/project_members?notice=added")),
            "{}",
            r.body
        );
        let dave = w.id("dave");
        let level = |who: &str| {
            let (status, m) = w.api(&format!("/projects/{pid}/members/{}", w.id(who)), "alice");
            (status == 200).then(|| m["access_level"].as_i64().unwrap_or(0))
        };
        assert_eq!(level("dave"), Some(20), "{backend:?}");
        let again = alice.post(
            "/acme/app/-/project_members",
            &[("authenticity_token", &token), ("username", "dave"), ("access_level", "30")],
        );
        assert_eq!(again.status, 409, "{}", again.body);
        assert!(again.body.contains("Member already exists"), "{}", again.body);
        let nobody = alice.post(
            "/acme/app/-/project_members",
            &[("authenticity_token", &token), ("username", "nobody-here"), ("access_level", "30")],
        );
        assert_eq!(nobody.status, 404, "{}", nobody.body);
        assert!(
            nobody.body.contains("User not found.") && nobody.body.contains("value=\"nobody-here\""),
            "{}",
            nobody.body
        );

        let r = alice.post(
            &format!("/acme/app/-/project_members/{dave}/update"),
            &[("authenticity_token", &token), ("access_level", "40")],
        );
        assert_eq!(r.status, 302, "{}", r.body);
        assert_eq!(level("dave"), Some(40));
        // A maintainer may not hand out Owner; the refusal is shown on the page.
        let mut bob = signed_in(s, "bob");
        let bob_token = page(&mut bob, "/acme/app/-/project_members").csrf();
        let r = bob.post(
            &format!("/acme/app/-/project_members/{dave}/update"),
            &[("authenticity_token", &bob_token), ("access_level", "50")],
        );
        assert_eq!(r.status, 403, "{}", r.body);
        assert!(r.body.contains("You are not allowed to do this.") && r.body.contains("@dave"), "{}", r.body);
        assert_eq!(level("dave"), Some(40));

        let r = alice.post(&format!("/acme/app/-/project_members/{dave}/delete"), &[("authenticity_token", &token)]);
        assert_eq!((r.status, r.location.as_deref()), (302, Some("/acme/app/-/project_members?notice=deleted")));
        assert_eq!(level("dave"), None);

        // The group's last owner stays.
        let gm = page(&mut alice, "/groups/acme/-/group_members");
        assert!(
            gm.body.contains("@alice") && gm.body.contains("action=\"/groups/acme/-/group_members\""),
            "{}",
            gm.body
        );
        let me = w.id("alice");
        let r = alice.post(&format!("/groups/acme/-/group_members/{me}/delete"), &[("authenticity_token", &token)]);
        assert_eq!(r.status, 403, "{}", r.body);
        assert!(r.body.contains("A group must keep at least one owner"), "{}", r.body);
        assert_page_headers("last owner", &r);
        let r = alice.post(
            &format!("/groups/acme/-/group_members/{me}/update"),
            &[("authenticity_token", &token), ("access_level", "40")],
        );
        assert_eq!(r.status, 403);
        assert!(r.body.contains("A group must keep at least one owner"), "{}", r.body);
        let (_, m) = w.api(&format!("/groups/{}/members/{me}", w.group), "alice");
        assert_eq!(m["access_level"], 50, "{m}");
    });
}

#[test]
fn a_group_owner_manages_the_groups_variables_and_members() {
    let w = World::build(Backend::Sqlite);
    let (s, gid) = (&w.s, w.group);
    let mut alice = signed_in(s, "alice");
    let vars = page(&mut alice, "/groups/acme/-/settings/ci_cd");
    assert!(vars.body.contains("action=\"/groups/acme/-/settings/ci_cd/variables\""), "{}", vars.body);
    let token = vars.csrf();
    let r = alice.post(
        "/groups/acme/-/settings/ci_cd/variables",
        &[
            ("authenticity_token", &token),
            ("key", "GROUP_SECRET"),
            ("value", SECRET),
            ("masked", "true"),
            ("raw", "true"),
        ],
    );
    assert_eq!(
        (r.status, r.location.as_deref()),
        (302, Some("/groups/acme/-/settings/ci_cd?notice=added")),
        "{}",
        r.body
    );
    let (status, v) = w.api(&format!("/groups/{gid}/variables/GROUP_SECRET"), "alice");
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["value"].as_str(), v["masked"].as_bool(), v["raw"].as_bool()),
        (Some(SECRET), Some(true), Some(true))
    );
    let listed = page(&mut alice, "/groups/acme/-/settings/ci_cd");
    assert!(listed.body.contains("GROUP_SECRET") && !listed.body.contains(SECRET), "{}", listed.body);
    let r = alice.post(
        "/groups/acme/-/settings/ci_cd/variables/GROUP_SECRET/update",
        &[
            ("authenticity_token", &token),
            ("filter_scope", "*"),
            ("value", ""),
            ("environment_scope", "production"),
            ("masked", "true"),
        ],
    );
    assert_eq!(r.status, 302, "{}", r.body);
    let (_, v) = w.api(&format!("/groups/{gid}/variables/GROUP_SECRET"), "alice");
    assert_eq!((v["value"].as_str(), v["environment_scope"].as_str()), (Some(SECRET), Some("production")), "{v}");
    let r = alice.post(
        "/groups/acme/-/settings/ci_cd/variables/GROUP_SECRET/delete",
        &[("authenticity_token", &token), ("filter_scope", "production")],
    );
    assert_eq!(r.status, 302, "{}", r.body);
    assert_eq!(w.api(&format!("/groups/{gid}/variables"), "alice").1.as_array().map(Vec::len), Some(0));

    let r = alice.post(
        "/groups/acme/-/group_members",
        &[("authenticity_token", &token), ("username", "@erin"), ("access_level", "30")],
    );
    assert_eq!(
        (r.status, r.location.as_deref()),
        (302, Some("/groups/acme/-/group_members?notice=added")),
        "{}",
        r.body
    );
    let erin = w.id("erin");
    assert_eq!(w.api(&format!("/groups/{gid}/members/{erin}"), "alice").1["access_level"], 30);
    let members = page(&mut alice, "/groups/acme/-/group_members");
    assert!(members.body.contains("@erin"), "{}", members.body);

    // A group developer (erin) sees no group settings; the project's members page lists her as
    // inherited for its maintainers.
    let mut e = signed_in(s, "erin");
    for path in ["/groups/acme/-/settings/ci_cd", "/groups/acme/-/group_members"] {
        assert_eq!(e.get(path).status, 404, "{path} for a group developer");
    }
    let et = e.get("/").csrf();
    let r = e.post(
        "/groups/acme/-/group_members",
        &[("authenticity_token", &et), ("username", "dave"), ("access_level", "10")],
    );
    assert!(matches!(r.status, 403 | 404), "{}", r.status);
    let r =
        e.post("/groups/acme/-/settings/ci_cd/variables", &[("authenticity_token", &et), ("key", "K"), ("value", "v")]);
    assert!(matches!(r.status, 403 | 404), "{}", r.status);
    assert!(page(&mut alice, "/acme/app/-/project_members").body.contains("@erin"));
    let r = alice.post(&format!("/groups/acme/-/group_members/{erin}/delete"), &[("authenticity_token", &token)]);
    assert_eq!(r.status, 302, "{}", r.body);
    assert_eq!(w.api(&format!("/groups/{gid}/members/{erin}"), "alice").0, 404);
    assert_eq!(alice.get("/groups/nope/-/settings/ci_cd").status, 404);
    assert_eq!(alice.get("/groups/acme/-/settings/general").status, 404);
}

#[test]
fn every_settings_form_needs_the_csrf_token() {
    let w = World::build(Backend::Sqlite);
    let mut alice = signed_in(&w.s, "alice");
    let token = alice.get("/").csrf();
    let posts: [(&str, Vec<(&str, &str)>); 15] = [
        ("/acme/app/-/hooks", vec![("url", "https://hooks.example.com/x")]),
        ("/acme/app/-/hooks/1/delete", vec![]),
        ("/acme/app/-/settings/general", vec![("name", "x"), ("visibility", "public")]),
        ("/acme/app/-/settings/repository/protected_branches", vec![("name", "x")]),
        ("/acme/app/-/settings/repository/protected_branches/delete", vec![("name", "main")]),
        ("/acme/app/-/settings/repository/protected_tags", vec![("name", "v*")]),
        ("/acme/app/-/settings/repository/protected_tags/delete", vec![("name", "v*")]),
        ("/acme/app/-/settings/ci_cd/variables", vec![("key", "K"), ("value", "v")]),
        ("/acme/app/-/settings/ci_cd/variables/K/update", vec![("value", "w")]),
        ("/acme/app/-/settings/ci_cd/variables/K/delete", vec![]),
        ("/acme/app/-/project_members", vec![("username", "dave"), ("access_level", "30")]),
        ("/acme/app/-/project_members/1/update", vec![("access_level", "10")]),
        ("/acme/app/-/project_members/1/delete", vec![]),
        ("/groups/acme/-/settings/ci_cd/variables", vec![("key", "K"), ("value", "v")]),
        ("/groups/acme/-/group_members", vec![("username", "dave"), ("access_level", "30")]),
    ];
    for (path, fields) in &posts {
        let r = alice.post(path, fields);
        assert_eq!(r.status, 422, "{path} without the token: {}", r.body);
        let mut forged = fields.clone();
        forged.push(("authenticity_token", "forged"));
        assert_eq!(alice.post(path, &forged).status, 422, "{path} with a forged token");
        let mut real = fields.clone();
        real.push(("authenticity_token", token.as_str()));
        let cross = alice.post_with(path, &real, &[("Sec-Fetch-Site", "cross-site")]);
        assert_eq!(cross.status, 422, "{path} cross-site");
        assert_page_headers(path, &cross);
    }
    let pid = w.project;
    assert_eq!(w.api(&format!("/projects/{pid}"), "alice").1["name"], "app", "nothing changed");
    assert_eq!(w.api(&format!("/projects/{pid}/variables"), "alice").1.as_array().map(Vec::len), Some(0));
    assert_eq!(w.api(&format!("/projects/{pid}/members/{}", w.id("dave")), "alice").0, 404);
    let branches = w.api(&format!("/projects/{pid}/protected_branches"), "alice").1;
    assert_eq!(branches.as_array().map(Vec::len), Some(1), "only main stays protected: {branches}");
    assert_eq!(w.api(&format!("/projects/{pid}/hooks"), "alice").1, serde_json::json!([]), "no hook added");
    assert_eq!(w.api(&format!("/projects/{pid}/protected_tags"), "alice").1, serde_json::json!([]));
}

/// Settings → Repository: a maintainer protects a branch and a tag with their levels, sees them
/// listed, gets a refusal shown on the form it came from, and unprotects both; a developer sees no
/// page and changes nothing. Each change is checked through the API.
#[test]
fn protected_branches_and_tags_are_managed_from_the_repository_settings() {
    check_all(|backend| {
        let w = World::build(backend);
        let (s, pid) = (&w.s, w.project);
        let path = "/acme/app/-/settings/repository";
        let mut bob = signed_in(s, "bob");
        let form = page(&mut bob, path);
        assert!(form.body.contains("<code>main</code>") && form.body.contains("No protected tags."), "{}", form.body);
        let token = form.csrf();
        let post = |b: &mut Browser, to: &str, f: &[(&str, &str)]| {
            let mut all = vec![("authenticity_token", token.as_str())];
            all.extend_from_slice(f);
            b.post(&format!("{path}/{to}"), &all)
        };
        let fields = [("name", "release/*"), ("push_access_level", "30"), ("merge_access_level", "0")];
        let done = post(&mut bob, "protected_branches", &[&fields[..], &[("allow_force_push", "true")]].concat());
        assert_eq!(
            (done.status, done.location.as_deref()),
            (302, Some("/acme/app/-/settings/repository?notice=added"))
        );
        let done = post(&mut bob, "protected_tags", &[("name", "v*"), ("create_access_level", "30")]);
        assert_eq!(done.status, 302, "{}", done.body);
        let (_, b) = w.api(&format!("/projects/{pid}/protected_branches/release%2F%2A"), "bob");
        assert_eq!(b["push_access_levels"][0]["access_level"], 30, "{b}");
        assert_eq!(
            (b["merge_access_levels"][0]["access_level"].as_i64(), b["allow_force_push"].as_bool()),
            (Some(0), Some(true))
        );
        let (_, t) = w.api(&format!("/projects/{pid}/protected_tags/v%2A"), "bob");
        assert_eq!(t["create_access_levels"][0]["access_level_description"], "Developers + Maintainers", "{t}");
        let listed = page(&mut bob, &format!("{path}?notice=added"));
        assert!(listed.body.contains("<code>release/*</code>") && listed.body.contains("<code>v*</code>"));
        assert!(listed.body.contains("Added."));

        // Refusals are shown on the form they came from, with what was entered.
        let dup = post(&mut bob, "protected_tags", &[("name", "v*")]);
        assert_eq!(dup.status, 409, "{}", dup.body);
        assert!(dup.body.contains("already exists"), "{}", dup.body);
        let bad = post(&mut bob, "protected_branches", &[("name", "bad name"), ("push_access_level", "20")]);
        assert_eq!(bad.status, 400, "{}", bad.body);
        assert!(bad.body.contains("value=\"bad name\""), "the entered name again");
        assert_eq!(post(&mut bob, "nothing", &[]).status, 404);

        // A developer: no page, no change.
        let mut carol = signed_in(s, "carol");
        assert_eq!(carol.get(path).status, 404);
        let theirs = carol.get("/").csrf();
        let r = carol
            .post(&format!("{path}/protected_tags/delete"), &[("authenticity_token", theirs.as_str()), ("name", "v*")]);
        assert!(matches!(r.status, 403 | 404), "a developer's change: {}", r.status);
        assert_eq!(w.api(&format!("/projects/{pid}/protected_tags/v%2A"), "bob").0, 200, "still protected");

        for (to, name) in [("protected_branches/delete", "release/*"), ("protected_tags/delete", "v*")] {
            let done = post(&mut bob, to, &[("name", name)]);
            assert_eq!(
                (done.status, done.location.as_deref()),
                (302, Some("/acme/app/-/settings/repository?notice=deleted"))
            );
        }
        assert_eq!(w.api(&format!("/projects/{pid}/protected_tags"), "bob").1, serde_json::json!([]));
        let gone = post(&mut bob, "protected_tags/delete", &[("name", "v*")]);
        assert_eq!(gone.status, 404, "unprotecting twice: {}", gone.body);
    });
}

/// Settings → Webhooks: a maintainer adds a hook (a refused URL is shown on the form with what was
/// entered), tests it against a real receiver, reads its deliveries and re-sends one, then deletes
/// it; the token never reaches a page; a developer sees no page. Checked through the API.
#[test]
fn webhooks_are_managed_and_their_deliveries_read_from_the_settings() {
    use common::hook_listener::HookListener;
    let w = World::build(Backend::Sqlite);
    let (s, pid) = (&w.s, w.project);
    // A commit to test with, pushed before any hook exists.
    let (_t, work) = common::work_repo(1);
    common::git_ok(&work, &["push", "-q", &s.git_url("acme/app", w.token("alice")), "main"]);
    let mut alice = signed_in(s, "alice");
    let token = alice.get("/").csrf();
    let post = |b: &mut Browser, to: &str, f: &[(&str, &str)]| {
        let mut all = vec![("authenticity_token", token.as_str())];
        all.extend_from_slice(f);
        b.post(to, &all)
    };
    let listener = HookListener::start();
    let url = listener.url("/hook");
    let fields = [("url", url.as_str()), ("token", "page-t0ken-secret"), ("push_events", "true")];
    let refused = post(&mut alice, "/acme/app/-/hooks", &fields);
    assert_eq!(refused.status, 400, "a loopback receiver before an administrator allows it: {}", refused.body);
    let port = format!("127.0.0.1:{}", listener.port);
    assert!(refused.body.contains("is blocked") && refused.body.contains(&port), "{}", refused.body);
    let settings = [("allow_local_requests_from_web_hooks_and_services", "true")];
    let r = s.req(reqwest::Method::PUT, "/application/settings", &s.root_token).form(&settings).send();
    assert_eq!(r.expect("settings").status(), 200);
    let added = post(&mut alice, "/acme/app/-/hooks", &fields);
    assert_eq!(
        (added.status, added.location.as_deref()),
        (302, Some("/acme/app/-/hooks?notice=added")),
        "{}",
        added.body
    );
    let (_, hooks) = w.api(&format!("/projects/{pid}/hooks"), "alice");
    let id = hooks[0]["id"].as_i64().expect("hook id");
    let list = page(&mut alice, "/acme/app/-/hooks");
    assert!(list.body.contains(&port) && !list.body.contains("page-t0ken-secret"), "{}", list.body);

    let tested = post(&mut alice, &format!("/acme/app/-/hooks/{id}/test"), &[]);
    assert_eq!(tested.status, 302, "{}", tested.body);
    let got = listener.next(std::time::Duration::from_secs(10)).expect("the test delivery");
    assert_eq!(got.header("x-gitlab-token"), Some("page-t0ken-secret"));
    let logs = page(&mut alice, &format!("/acme/app/-/hooks/{id}/hook_logs"));
    assert!(logs.body.contains("delivered") && logs.body.contains("push_hooks"), "{}", logs.body);
    assert!(!logs.body.contains("page-t0ken-secret"), "no token in the log page");
    let (_, events) = w.api(&format!("/projects/{pid}/hooks/{id}/events"), "alice");
    let first = events[0]["id"].as_i64().expect("event id");
    let resent = post(&mut alice, &format!("/acme/app/-/hooks/{id}/hook_logs/{first}/retry"), &[]);
    assert_eq!(resent.status, 302);
    assert!(listener.next(std::time::Duration::from_secs(10)).is_some(), "the re-send arrives");

    let mut carol = signed_in(s, "carol");
    assert_eq!(carol.get("/acme/app/-/hooks").status, 404, "developers see no webhooks");
    assert_eq!(carol.get(&format!("/acme/app/-/hooks/{id}/hook_logs")).status, 404);
    let deleted = post(&mut alice, &format!("/acme/app/-/hooks/{id}/delete"), &[]);
    assert_eq!((deleted.status, deleted.location.as_deref()), (302, Some("/acme/app/-/hooks?notice=deleted")));
    assert_eq!(w.api(&format!("/projects/{pid}/hooks"), "alice").1, serde_json::json!([]));
    assert_eq!(alice.get("/acme/app/-/hooks/nope/hook_logs").status, 404);
}
