//! The authorization matrix over real HTTP: every role (plus no role, anonymous and admin) ×
//! every visibility × read (clone, and the same through the API: an archive and a commit's
//! statuses), write (push, and the same through the API: a tag created and deleted, a commit
//! status reported) and admin (edit settings, delete).
//! The expected table is written out by hand; the pure policy has its own matrix in
//! `autogit-core` — this one proves the transports and API apply it.

mod common;

use common::{Server, git_ok, work_repo};
use reqwest::Method;
use reqwest::blocking::Client;

/// What a check returned, reduced to allow/deny.
fn allowed(status: u16) -> bool {
    (200..300).contains(&status)
}

#[test]
fn every_role_times_every_visibility() {
    let s = Server::start();
    let http = Client::new();
    let g = s.post("/groups", &s.root_token, &[("name", "M"), ("path", "m"), ("visibility", "public")]);
    let gid = g["id"].to_string();
    let roles = [("guest", 10), ("reporter", 20), ("developer", 30), ("maintainer", 40), ("owner", 50)];
    let mut tokens = Vec::new();
    for (name, _) in roles {
        tokens.push(s.user(name, "api"));
    }
    let (_, norole) = s.user("norole", "api");

    // (actor, visibility) → [read, write, admin]
    let expected: &[(&str, &str, [bool; 3])] = &[
        ("anonymous", "private", [false, false, false]),
        ("anonymous", "internal", [false, false, false]),
        ("anonymous", "public", [true, false, false]),
        ("norole", "private", [false, false, false]),
        ("norole", "internal", [true, false, false]),
        ("norole", "public", [true, false, false]),
        ("guest", "private", [false, false, false]),
        ("guest", "internal", [true, false, false]),
        ("guest", "public", [true, false, false]),
        ("reporter", "private", [true, false, false]),
        ("reporter", "internal", [true, false, false]),
        ("reporter", "public", [true, false, false]),
        ("developer", "private", [true, true, false]),
        ("developer", "internal", [true, true, false]),
        ("developer", "public", [true, true, false]),
        ("maintainer", "private", [true, true, true]),
        ("maintainer", "internal", [true, true, true]),
        ("maintainer", "public", [true, true, true]),
        ("owner", "private", [true, true, true]),
        ("owner", "internal", [true, true, true]),
        ("owner", "public", [true, true, true]),
        ("admin", "private", [true, true, true]),
        ("admin", "internal", [true, true, true]),
        ("admin", "public", [true, true, true]),
    ];
    for vis in ["private", "internal", "public"] {
        let p = s.post("/projects", &s.root_token, &[("name", vis), ("namespace_id", &gid), ("visibility", vis)]);
        let pid = p["id"].to_string();
        let (_t, work) = work_repo(1);
        git_ok(&work, &["push", "-q", &s.git_url(&format!("m/{vis}"), &s.root_token), "main"]);
        for ((_, level), (uid, _)) in roles.iter().zip(&tokens) {
            s.post(
                &format!("/projects/{pid}/members"),
                &s.root_token,
                &[("user_id", &uid.to_string()), ("access_level", &level.to_string())],
            );
        }
    }
    let mut failures = Vec::new();
    for (actor, vis, want) in expected {
        let token = match *actor {
            "anonymous" => String::new(),
            "norole" => norole.clone(),
            "admin" => s.root_token.clone(),
            role => tokens[roles.iter().position(|(n, _)| n == &role).expect("role")].1.clone(),
        };
        let with_auth = |rb: reqwest::blocking::RequestBuilder| {
            if token.is_empty() { rb } else { rb.basic_auth("x", Some(&token)) }
        };
        let read = with_auth(http.get(s.raw(&format!("/m/{vis}.git/info/refs?service=git-upload-pack"))))
            .send()
            .expect("request")
            .status()
            .as_u16();
        let write = with_auth(http.get(s.raw(&format!("/m/{vis}.git/info/refs?service=git-receive-pack"))))
            .send()
            .expect("request")
            .status()
            .as_u16();
        let admin = s
            .req(Method::PUT, &format!("/projects/m%2F{vis}"), &token)
            .form(&[("description", format!("edited by {actor}"))])
            .send()
            .expect("request")
            .status()
            .as_u16();
        let api_read = s
            .req(Method::GET, &format!("/projects/m%2F{vis}/repository/archive.zip"), &token)
            .send()
            .expect("request")
            .status()
            .as_u16();
        if allowed(api_read) != want[0] {
            failures.push(format!("{actor} on {vis}: the API's archive answered {api_read}, git's clone {read}"));
        }
        let tags = format!("/projects/m%2F{vis}/repository/tags");
        let tag = format!("probe-{actor}");
        let api_write = s
            .req(Method::POST, &tags, &token)
            .form(&[("tag_name", tag.as_str()), ("ref", "main")])
            .send()
            .expect("request")
            .status()
            .as_u16();
        if allowed(api_write) {
            let gone = s.req(Method::DELETE, &format!("{tags}/{tag}"), &token).send().expect("request").status();
            assert_eq!(gone.as_u16(), 204, "{actor} on {vis} deletes the tag it made");
        }
        let got = [allowed(read), allowed(write), allowed(admin)];
        if got != *want {
            failures.push(format!("{actor} on {vis}: want {want:?}, got {got:?} (statuses {read}/{write}/{admin})"));
        }
        if allowed(api_write) != want[1] {
            failures.push(format!("{actor} on {vis}: the API's tag write answered {api_write}, git's push {write}"));
        }
        let statuses = format!("/projects/m%2F{vis}/repository/commits/main/statuses");
        let listed = s.req(Method::GET, &statuses, &token).send().expect("request").status().as_u16();
        if allowed(listed) != want[0] {
            failures.push(format!("{actor} on {vis}: a commit's statuses answered {listed}, git's clone {read}"));
        }
        let reported = s
            .req(Method::POST, &format!("/projects/m%2F{vis}/statuses/main"), &token)
            .form(&[("state", "success"), ("name", actor)])
            .send()
            .expect("request")
            .status()
            .as_u16();
        if allowed(reported) != want[1] {
            failures.push(format!("{actor} on {vis}: a status report answered {reported}, git's push {write}"));
        }
        // Denials never leak more than they should: a hidden project is 404/401, never 403.
        if !allowed(read) && !["guest"].contains(actor) && ![401, 404].contains(&read) {
            failures.push(format!("{actor} on {vis}: hidden project answered {read}"));
        }
    }
    // Owner-only: deleting. A maintainer cannot, an owner can.
    let maint = &tokens[3].1;
    let owner = &tokens[4].1;
    assert_eq!(s.req(Method::DELETE, "/projects/m%2Fpublic", maint).send().expect("request").status(), 403);
    assert_eq!(s.req(Method::DELETE, "/projects/m%2Fpublic", owner).send().expect("request").status(), 202);
    assert!(failures.is_empty(), "authorization matrix mismatches:\n{}", failures.join("\n"));
}

/// `/metrics` is not a project resource: no role or token of a user opens it (an administrator's
/// neither, as in GitLab). Only the client's address (127.0.0.1 here) or the metrics token does.
#[test]
fn metrics_depends_on_the_address_or_its_token_never_on_the_user() {
    let metrics_token = "metrics-token-for-the-matrix-0123";
    let s = Server::start_with(
        common::Backend::Sqlite,
        &[("AUTOGIT_METRICS_ALLOWED_ADDRESSES", "127.0.0.1"), ("AUTOGIT_METRICS_TOKEN", metrics_token)],
    );
    let (_, user) = s.user("someone", "api");
    let from = |addr: &str| {
        Client::builder().local_address(addr.parse::<std::net::IpAddr>().expect("ip")).build().expect("client")
    };
    let (inside, outside) = (from("127.0.0.1"), from("127.0.0.2"));
    // (actor, credentials header) → [from the allowed address, from another]
    type Header<'a> = Option<(&'a str, String)>;
    let cases: &[(&str, Header, [bool; 2])] = &[
        ("anonymous", None, [true, false]),
        ("user", Some(("PRIVATE-TOKEN", user.clone())), [true, false]),
        ("user bearer", Some(("Authorization", format!("Bearer {user}"))), [true, false]),
        ("admin", Some(("PRIVATE-TOKEN", s.root_token.clone())), [true, false]),
        ("admin bearer", Some(("Authorization", format!("Bearer {}", s.root_token))), [true, false]),
        ("metrics token", Some(("Authorization", format!("Bearer {metrics_token}"))), [true, true]),
    ];
    let mut failures = Vec::new();
    for (actor, creds, want) in cases {
        let mut got = [false; 2];
        for (i, client) in [&inside, &outside].into_iter().enumerate() {
            let mut r = client.get(s.raw("/metrics"));
            if let Some((name, value)) = creds {
                r = r.header(*name, value);
            }
            let status = r.send().expect("request").status().as_u16();
            got[i] = allowed(status);
            if !got[i] && status != 404 {
                failures.push(format!("{actor}: denied with {status}, not 404"));
            }
        }
        if got != *want {
            failures.push(format!("{actor}: want {want:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "/metrics matrix mismatches:\n{}", failures.join("\n"));
}

/// Protected branches and tags (`/projects/:id/protected_branches[/:name]`,
/// `/protected_tags[/:name]`): reading follows read access to the code, creating and deleting
/// needs Maintainer, as in GitLab. Hidden projects answer 404.
#[test]
fn protected_ref_routes() {
    let s = Server::start();
    let g = s.post("/groups", &s.root_token, &[("name", "P"), ("path", "p"), ("visibility", "public")]);
    let gid = g["id"].to_string();
    let roles = [("guest", 10), ("reporter", 20), ("developer", 30), ("maintainer", 40), ("owner", 50)];
    let tokens: Vec<(i64, String)> = roles.iter().map(|(name, _)| s.user(&format!("pb-{name}"), "api")).collect();
    let (_, norole) = s.user("pb-norole", "api");
    for vis in ["private", "internal", "public"] {
        let p = s.post("/projects", &s.root_token, &[("name", vis), ("namespace_id", &gid), ("visibility", vis)]);
        s.post(&format!("/projects/{}/protected_tags", p["id"]), &s.root_token, &[("name", "main")]);
        for ((_, level), (uid, _)) in roles.iter().zip(&tokens) {
            s.post(
                &format!("/projects/{}/members", p["id"]),
                &s.root_token,
                &[("user_id", &uid.to_string()), ("access_level", &level.to_string())],
            );
        }
    }
    // (actor, visibility) → [list, show, create, delete]
    let expected: &[(&str, &str, [bool; 4])] = &[
        ("anonymous", "private", [false, false, false, false]),
        ("anonymous", "internal", [false, false, false, false]),
        ("anonymous", "public", [true, true, false, false]),
        ("norole", "private", [false, false, false, false]),
        ("norole", "internal", [true, true, false, false]),
        ("norole", "public", [true, true, false, false]),
        ("guest", "private", [false, false, false, false]),
        ("guest", "internal", [true, true, false, false]),
        ("guest", "public", [true, true, false, false]),
        ("reporter", "private", [true, true, false, false]),
        ("reporter", "public", [true, true, false, false]),
        ("developer", "private", [true, true, false, false]),
        ("developer", "public", [true, true, false, false]),
        ("maintainer", "private", [true, true, true, true]),
        ("maintainer", "internal", [true, true, true, true]),
        ("owner", "private", [true, true, true, true]),
        ("admin", "private", [true, true, true, true]),
        ("admin", "public", [true, true, true, true]),
    ];
    let mut failures = Vec::new();
    let cases =
        ["protected_branches", "protected_tags"].into_iter().flat_map(|kind| expected.iter().map(move |c| (kind, c)));
    for (i, (kind, (actor, vis, want))) in cases.enumerate() {
        let token = match *actor {
            "anonymous" => String::new(),
            "norole" => norole.clone(),
            "admin" => s.root_token.clone(),
            role => tokens[roles.iter().position(|(n, _)| n == &role).expect("role")].1.clone(),
        };
        let base = format!("/projects/p%2F{vis}/{kind}");
        let rule = format!("rule-{i}");
        // The rule to delete exists whoever asks, so a refusal is about the actor.
        s.post(&base, &s.root_token, &[("name", &format!("{rule}-d"))]);
        let statuses = [
            s.req(Method::GET, &base, &token).send().expect("list").status().as_u16(),
            s.req(Method::GET, &format!("{base}/main"), &token).send().expect("show").status().as_u16(),
            s.req(Method::POST, &base, &token)
                .form(&[("name", rule.as_str())])
                .send()
                .expect("create")
                .status()
                .as_u16(),
            s.req(Method::DELETE, &format!("{base}/{rule}-d"), &token).send().expect("delete").status().as_u16(),
        ];
        let got = statuses.map(allowed);
        if got != *want {
            failures.push(format!("{kind}: {actor} on {vis}: want {want:?}, got {got:?} (statuses {statuses:?})"));
        }
        let hidden = !want[0];
        if hidden && *actor != "guest" && statuses.iter().any(|st| ![401, 404].contains(st)) {
            failures.push(format!("{kind}: {actor} on {vis}: a hidden project answered {statuses:?}"));
        }
    }
    assert!(failures.is_empty(), "protected ref authorization mismatches:\n{}", failures.join("\n"));
}

/// The identity routes: the audit log is for administrators (by token; a session cookie opens no
/// API route), browser routes for a session only (a token opens none), and every browser POST
/// needs the session's CSRF token; SSH keys are one's own (administrators: anyone's), deploy
/// keys need Maintainer on a project one can see; OpenID Connect starts need the sign-in form's
/// token.
#[test]
fn identity_routes() {
    use common::browser::Browser;
    let s = Server::start();
    let (_, user) = s.user("idm-user", "api");
    let mut root = Browser::new(&s, "matrix");
    assert_eq!(root.sign_in("root", common::ROOT_PASSWORD).status, 302);
    let session = root.session().expect("session").clone();
    let no_redirects = Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let cookie = format!("_autogit_session={session}");
    s.post("/projects", &s.root_token, &[("name", "dk"), ("visibility", "private")]);
    // (route, credentials) → status
    let cases: &[(Method, &str, &str, u16)] = &[
        (Method::GET, "/api/v4/audit_events", "", 401),
        (Method::GET, "/api/v4/audit_events", "user", 403),
        (Method::GET, "/api/v4/audit_events", "admin", 200),
        (Method::GET, "/api/v4/audit_events", "cookie", 401),
        (Method::GET, "/api/v4/audit_events/1", "user", 403),
        (Method::GET, "/", "", 302),
        (Method::GET, "/", "admin", 302),
        (Method::GET, "/", "cookie", 200),
        (Method::GET, "/-/user_settings/active_sessions", "", 302),
        (Method::GET, "/-/user_settings/active_sessions", "user", 302),
        (Method::GET, "/-/user_settings/active_sessions", "cookie", 200),
        (Method::POST, "/-/user_settings/active_sessions/revoke_all", "", 302),
        (Method::POST, "/-/user_settings/active_sessions/revoke_all", "admin", 302),
        (Method::POST, "/-/user_settings/active_sessions/revoke_all", "cookie", 422),
        (Method::POST, "/-/user_settings/active_sessions/1/revoke", "cookie", 422),
        (Method::POST, "/users/sign_out", "cookie", 422),
        (Method::POST, "/users/sign_in", "", 422),
        // OpenID Connect: a start needs the sign-in form's token whatever else is sent; a
        // callback takes no credentials (none is configured on this server).
        (Method::POST, "/users/auth/openid_connect", "", 422),
        (Method::POST, "/users/auth/openid_connect", "admin", 422),
        (Method::POST, "/users/auth/openid_connect", "cookie", 422),
        (Method::GET, "/users/auth/openid_connect/callback?code=x&state=y", "", 404),
        (Method::GET, "/users/auth/openid_connect/callback?code=x&state=y", "cookie", 404),
        (Method::GET, "/users/auth/openid_connect/callback", "admin", 400),
        (Method::GET, "/api/v4/user/keys", "", 401),
        (Method::GET, "/api/v4/user/keys", "user", 200),
        (Method::GET, "/api/v4/user/keys", "cookie", 401),
        (Method::POST, "/api/v4/users/1/keys", "user", 403),
        (Method::DELETE, "/api/v4/users/1/keys/1", "user", 403),
        (Method::GET, "/api/v4/keys/1", "user", 403),
        (Method::GET, "/api/v4/keys?fingerprint=SHA256:x", "user", 403),
        (Method::GET, "/api/v4/keys?fingerprint=SHA256:x", "admin", 404),
        (Method::GET, "/api/v4/projects/root%2Fdk/deploy_keys", "", 404),
        (Method::GET, "/api/v4/projects/root%2Fdk/deploy_keys", "user", 404),
        (Method::POST, "/api/v4/projects/root%2Fdk/deploy_keys", "user", 404),
        (Method::GET, "/api/v4/projects/root%2Fdk/deploy_keys", "admin", 200),
    ];
    let mut failures = Vec::new();
    for (method, path, creds, want) in cases {
        let mut r = no_redirects.request(method.clone(), s.raw(path));
        r = match *creds {
            "user" => r.header("PRIVATE-TOKEN", &user),
            "admin" => r.header("PRIVATE-TOKEN", &s.root_token),
            "cookie" => r.header("Cookie", &cookie),
            _ => r,
        };
        if *method == Method::POST && path.starts_with("/api/") {
            r = r.form(&[
                ("title", "k"),
                ("key", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH4MGlj9OV9UGIaU25hDoGsGcvYozowlYl1Uq641DVNy"),
            ]);
        } else if *method == Method::POST {
            r = r.form(&[("user[login]", "root"), ("user[password]", common::ROOT_PASSWORD)]);
        }
        let got = r.send().expect("request").status().as_u16();
        if got != *want {
            failures.push(format!("{method} {path} with {creds:?}: want {want}, got {got}"));
        }
    }
    assert!(failures.is_empty(), "identity route mismatches:\n{}", failures.join("\n"));
    assert!(root.signed_in(), "no refused request ended the session");
}

/// Project hooks (`/projects/:id/hooks[/:hook_id[/events|/test/:trigger]]`) are for maintainers
/// and up; `/application/settings` for administrators. A project the caller may not see is 404.
#[test]
fn hook_and_settings_routes() {
    let s = Server::start();
    let g = s.post("/groups", &s.root_token, &[("name", "H"), ("path", "h"), ("visibility", "public")]);
    let roles = [("guest", 10), ("reporter", 20), ("developer", 30), ("maintainer", 40), ("owner", 50)];
    let tokens: Vec<(i64, String)> = roles.iter().map(|(name, _)| s.user(&format!("wh-{name}"), "api")).collect();
    let (_, norole) = s.user("wh-norole", "api");
    let mut hooks = Vec::new();
    for vis in ["private", "public"] {
        let p = s.post(
            "/projects",
            &s.root_token,
            &[("name", vis), ("namespace_id", &g["id"].to_string()), ("visibility", vis)],
        );
        for ((_, level), (uid, _)) in roles.iter().zip(&tokens) {
            let form = [("user_id", uid.to_string()), ("access_level", level.to_string())];
            s.req(Method::POST, &format!("/projects/{}/members", p["id"]), &s.root_token)
                .form(&form)
                .send()
                .expect("member");
        }
        let hook =
            s.post(&format!("/projects/{}/hooks", p["id"]), &s.root_token, &[("url", "https://hooks.example.com/x")]);
        hooks.push((vis, hook["id"].as_i64().expect("hook id")));
    }
    let mut failures = Vec::new();
    let actors = ["anonymous", "norole", "guest", "reporter", "developer", "maintainer", "owner", "admin"];
    for (vis, hook) in &hooks {
        for actor in actors {
            let token = match actor {
                "anonymous" => String::new(),
                "norole" => norole.clone(),
                "admin" => s.root_token.clone(),
                role => tokens[roles.iter().position(|(n, _)| *n == role).expect("role")].1.clone(),
            };
            let base = format!("/projects/h%2F{vis}/hooks");
            let statuses = [
                s.req(Method::GET, &base, &token).send().expect("list").status().as_u16(),
                s.req(Method::GET, &format!("{base}/{hook}"), &token).send().expect("show").status().as_u16(),
                s.req(Method::GET, &format!("{base}/{hook}/events"), &token).send().expect("events").status().as_u16(),
                s.req(Method::POST, &base, &token)
                    .form(&[("url", "https://hooks.example.com/new")])
                    .send()
                    .expect("create")
                    .status()
                    .as_u16(),
            ];
            let want = matches!(actor, "maintainer" | "owner" | "admin");
            if statuses.iter().any(|st| allowed(*st) != want) {
                failures.push(format!("{actor} on {vis}: want {want}, got {statuses:?}"));
            }
            let hidden = *vis == "private" && matches!(actor, "anonymous" | "norole");
            if hidden && statuses.iter().any(|st| ![401, 404].contains(st)) {
                failures.push(format!("{actor} on {vis}: a hidden project answered {statuses:?}"));
            }
            if *vis == "public" {
                let settings = s.req(Method::GET, "/application/settings", &token).send().expect("settings").status();
                if allowed(settings.as_u16()) != (actor == "admin") {
                    failures.push(format!("{actor}: /application/settings answered {settings}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "hook authorization mismatches:\n{}", failures.join("\n"));
}
