//! The account pages over real HTTP with a session cookie: SSH keys (added from a key
//! `ssh-keygen` makes, seen by the API, deleted; refused with the reason and the values kept),
//! personal access tokens (the secret shown once, working against the API, revoked), the forms
//! that create projects and groups (as the API's use-cases decide, including a guest refused),
//! the CSRF check of every form, the sign-in redirect of anonymous browsers, the strict content
//! security policy of every page, and the header's new links at phone width in a real browser
//! (screenshots under the test's output directory, `target/tmp/ui-screenshots/account-*`).

mod common;

use common::browser::{Answer, Browser};
use common::webdriver::Chrome;
use common::{ROOT_PASSWORD, Server};
use serde_json::{Value, json};
use std::process::Command;
use std::time::Duration;

const PASSWORD: &str = "a-long-password";
const KEYS: &str = "/-/user_settings/ssh_keys";
const TOKENS: &str = "/-/user_settings/personal_access_tokens";
/// A date every use-case takes as "in the future".
const LATER: &str = "2099-12-31";

fn signed_in<'a>(s: &'a Server, login: &str, password: &str) -> Browser<'a> {
    let mut b = Browser::new(s, "Firefox/140.0 (web account test)");
    let a = b.sign_in(login, password);
    assert_eq!(a.status, 302, "{login} signs in: {}", a.body);
    b
}

/// The headers every page here must carry: the strict policy (scripts from this origin only,
/// nothing `unsafe`), no framing, and `no-store`.
fn assert_strict(path: &str, a: &Answer) {
    let csp = a.headers["content-security-policy"].to_str().expect("csp");
    assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"), "{path}: {csp}");
    assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe"), "{path}: {csp}");
    assert_eq!(a.headers["cache-control"], "no-store", "{path}");
    assert_eq!(a.headers["x-frame-options"], "DENY", "{path}");
}

/// A page that answers 200 with the strict headers; its body.
fn page(b: &mut Browser, path: &str) -> String {
    let a = b.get(path);
    assert_eq!(a.status, 200, "{path}: {}", a.body);
    assert_eq!(a.headers["content-type"], "text/html; charset=utf-8", "{path}");
    assert_strict(path, &a);
    a.body
}

/// The values of attribute `attr` (`data-key`, `data-token`…) on the page, in order.
fn attrs(body: &str, attr: &str) -> Vec<String> {
    let marker = format!("{attr}=\"");
    body.match_indices(&marker)
        .map(|(i, m)| {
            let rest = &body[i + m.len()..];
            rest[..rest.find('"').expect("closing quote")].to_string()
        })
        .collect()
}

/// The `value` of the `<option>` whose text is `label`.
fn option_value(body: &str, label: &str) -> String {
    let end = body.find(&format!("\">{label}</option>")).unwrap_or_else(|| panic!("option {label}:\n{body}"));
    let start = body[..end].rfind("value=\"").expect("value") + "value=\"".len();
    body[start..end].split('"').next().expect("value").to_string()
}

/// A fresh Ed25519 key pair made by `ssh-keygen` in `dir` (one per directory): (public key
/// line, SHA-256 fingerprint).
fn keygen(dir: &std::path::Path, comment: &str) -> (String, String) {
    let path = dir.join("id_ed25519");
    let public_path = dir.join("id_ed25519.pub");
    let out = Command::new("ssh-keygen")
        .args(["-t", "ed25519", "-N", "", "-q", "-C", comment, "-f"])
        .arg(&path)
        .output()
        .expect("ssh-keygen runs");
    assert!(out.status.success(), "ssh-keygen: {}", String::from_utf8_lossy(&out.stderr));
    let public = std::fs::read_to_string(&public_path).expect("public key").trim().to_string();
    let out = Command::new("ssh-keygen").args(["-l", "-E", "sha256", "-f"]).arg(public_path).output();
    let listed = String::from_utf8(out.expect("ssh-keygen -l runs").stdout).expect("utf8");
    let fingerprint = listed.split_whitespace().nth(1).expect("fingerprint").to_string();
    assert!(fingerprint.starts_with("SHA256:"), "{listed}");
    (public, fingerprint)
}

#[test]
fn ssh_keys_are_added_listed_refused_with_reasons_and_deleted() {
    let s = Server::start();
    let (_, alice_token) = s.user("alice", "api");
    s.user("eve", "api");
    let tmp = tempfile::tempdir().expect("tempdir");
    let (public, fingerprint) = keygen(tmp.path(), "alice-laptop");

    let mut anon = Browser::new(&s, "anonymous");
    let a = anon.get(KEYS);
    assert_eq!((a.status, a.location.as_deref()), (302, Some("/users/sign_in")), "anonymous is sent to sign in");
    assert_strict(KEYS, &a);
    let a = anon.post(KEYS, &[("title", "x"), ("key", &public)]);
    assert_eq!((a.status, a.location.as_deref()), (302, Some("/users/sign_in")));

    let mut b = signed_in(&s, "alice", PASSWORD);
    let body = page(&mut b, KEYS);
    assert!(body.contains("You have no SSH keys yet") && body.contains("href=\"/-/user_settings/ssh_keys\""), "{body}");
    let csrf = b.get(KEYS).csrf();

    // Without the session's CSRF token nothing is added.
    let refused = b.post(KEYS, &[("title", "Laptop"), ("key", &public)]);
    assert_eq!(refused.status, 422, "no CSRF token: {}", refused.body);
    let refused = b.post(KEYS, &[("title", "Laptop"), ("key", &public), ("authenticity_token", "forged")]);
    assert_eq!(refused.status, 422);
    let cross = b.post_with(
        KEYS,
        &[("title", "Laptop"), ("key", &public), ("authenticity_token", &csrf)],
        &[("Sec-Fetch-Site", "cross-site")],
    );
    assert_eq!(cross.status, 422, "a cross-site POST is refused");
    assert_eq!(s.get_json("/user/keys", &alice_token), json!([]), "nothing added");

    // Added, listed with its fingerprint, and the API sees it.
    let added = b
        .post(KEYS, &[("title", "Laptop <1>"), ("key", &public), ("expires_at", LATER), ("authenticity_token", &csrf)]);
    assert_eq!((added.status, added.location.as_deref()), (302, Some(KEYS)), "{}", added.body);
    let body = page(&mut b, KEYS);
    assert!(body.contains(&fingerprint), "fingerprint {fingerprint} listed:\n{body}");
    assert!(body.contains("Laptop &lt;1&gt;") && !body.contains("Laptop <1>"), "title escaped:\n{body}");
    assert!(body.contains("ssh-ed25519") && body.contains(LATER), "{body}");
    let ids = attrs(&body, "data-key");
    assert_eq!(ids.len(), 1, "{body}");
    let api = s.get_json("/user/keys", &alice_token);
    assert_eq!(api[0]["id"].to_string(), ids[0], "{api}");
    assert_eq!(api[0]["title"], "Laptop <1>");
    assert_eq!(api[0]["fingerprint_sha256"], fingerprint.trim_start_matches("SHA256:"));
    assert_eq!(api[0]["key"].as_str().map(|k| public.starts_with(k)), Some(true), "{api} vs {public}");

    // Refusals are shown on the form, with what was entered.
    let garbage =
        b.post(KEYS, &[("title", "Garbage title"), ("key", "ssh-ed25519 not-a-key"), ("authenticity_token", &csrf)]);
    assert_eq!(garbage.status, 400, "{}", garbage.body);
    assert_strict(KEYS, &garbage);
    assert!(garbage.body.contains("key is not a valid SSH public key"), "{}", garbage.body);
    assert!(
        garbage.body.contains("value=\"Garbage title\"") && garbage.body.contains(">ssh-ed25519 not-a-key</textarea>")
    );
    assert!(garbage.body.contains(&fingerprint), "the list is still there");
    let twice = b.post(KEYS, &[("title", "Again"), ("key", &public), ("authenticity_token", &csrf)]);
    assert_eq!(twice.status, 400);
    assert!(
        twice.body.contains("key has already been taken") && twice.body.contains("value=\"Again\""),
        "{}",
        twice.body
    );
    let long_title = "t".repeat(256);
    let long = b.post(KEYS, &[("title", &long_title), ("key", &public), ("authenticity_token", &csrf)]);
    assert_eq!(long.status, 400);
    assert!(long.body.contains("title is too long (maximum is 255 characters)"), "{}", long.body);
    let huge_key = format!("ssh-ed25519 {}", "A".repeat(20_000));
    let huge = b.post(KEYS, &[("title", "Huge"), ("key", &huge_key), ("authenticity_token", &csrf)]);
    assert_eq!(huge.status, 400);
    assert!(huge.body.contains("key is too long (maximum is 16384 bytes)"), "{}", &huge.body[..2000]);
    let past = b
        .post(KEYS, &[("title", "Old"), ("key", &public), ("expires_at", "2001-01-01"), ("authenticity_token", &csrf)]);
    assert!(past.status == 400 && past.body.contains("expires_at must be in the future"), "{}", past.body);
    let nodate =
        b.post(KEYS, &[("title", "Odd"), ("key", &public), ("expires_at", "soon"), ("authenticity_token", &csrf)]);
    assert!(nodate.status == 400 && nodate.body.contains("expires_at must be a date (YYYY-MM-DD)"), "{}", nodate.body);
    assert_eq!(s.get_json("/user/keys", &alice_token).as_array().map(Vec::len), Some(1), "no refusal added one");

    // Another user cannot delete it: it is not found for them.
    let mut eve = signed_in(&s, "eve", PASSWORD);
    let eve_csrf = eve.get(KEYS).csrf();
    let theirs = eve.post(&format!("{KEYS}/{}/delete", ids[0]), &[("authenticity_token", &eve_csrf)]);
    assert_eq!(theirs.status, 404, "{}", theirs.body);
    assert!(!theirs.body.contains(&fingerprint));
    assert_eq!(eve.post(&format!("{KEYS}/x1/delete"), &[("authenticity_token", &eve_csrf)]).status, 404);
    assert!(!page(&mut eve, KEYS).contains(&fingerprint), "eve's page lists eve's keys");
    assert_eq!(s.get_json("/user/keys", &alice_token).as_array().map(Vec::len), Some(1));

    // Deleted by its owner, with the token only.
    assert_eq!(b.post(&format!("{KEYS}/{}/delete", ids[0]), &[]).status, 422);
    let gone = b.post(&format!("{KEYS}/{}/delete", ids[0]), &[("authenticity_token", &csrf)]);
    assert_eq!((gone.status, gone.location.as_deref()), (302, Some(KEYS)));
    assert_eq!(s.get_json("/user/keys", &alice_token), json!([]));
    assert!(!page(&mut b, KEYS).contains(&fingerprint));
    assert_eq!(b.post(&format!("{KEYS}/{}/delete", ids[0]), &[("authenticity_token", &csrf)]).status, 404);
}

/// The secret in a page that shows a new token (the read-only input's value).
fn shown_secret(body: &str) -> Option<String> {
    let at = body.find("id=\"new-token\"")?;
    let rest = &body[at..];
    let v = rest.find("value=\"")? + "value=\"".len();
    Some(rest[v..v + rest[v..].find('"')?].to_string())
}

#[test]
fn a_token_is_shown_once_works_with_its_scopes_and_stops_when_revoked() {
    let s = Server::start();
    s.user("alice", "api");
    let mut b = signed_in(&s, "root", ROOT_PASSWORD);
    let body = page(&mut b, TOKENS);
    for scope in ["api", "read_api", "read_repository", "write_repository"] {
        assert!(body.contains(&format!("name=\"scopes\" value=\"{scope}\"")), "{scope} offered:\n{body}");
    }
    assert!(body.contains(">tests</td>"), "the harness's token is listed:\n{body}");
    let csrf = b.get(TOKENS).csrf();

    let no_csrf = b.post(TOKENS, &[("name", "x"), ("scopes", "api")]);
    assert_eq!(no_csrf.status, 422);
    assert!(!no_csrf.body.contains("glpat-"));

    // Refusals keep the values and show no secret.
    let refusals: [(&[(&str, &str)], &str); 5] = [
        (&[("name", "Deploy")], "scopes is missing"),
        (&[("name", "Deploy"), ("scopes", "sudo")], "&#39;sudo&#39; is not a valid scope"),
        (&[("name", "Deploy"), ("scopes", "api"), ("expires_at", "2001-01-01")], "expires_at must be in the future"),
        (&[("name", "Deploy"), ("scopes", "api"), ("expires_at", "next week")], "expires_at must be a date"),
        (&[("name", ""), ("scopes", "api")], "name is missing"),
    ];
    for (fields, words) in refusals {
        let mut form = fields.to_vec();
        form.push(("authenticity_token", &csrf));
        let a = b.post(TOKENS, &form);
        assert_eq!(a.status, 400, "{fields:?}: {}", a.body);
        assert!(a.body.contains(words), "{fields:?}: {words}:\n{}", a.body);
        assert!(shown_secret(&a.body).is_none() && !a.body.contains("glpat-"), "{fields:?}");
    }
    let long_name = "n".repeat(256);
    let a = b.post(TOKENS, &[("name", &long_name), ("scopes", "api"), ("authenticity_token", &csrf)]);
    assert!(a.status == 400 && a.body.contains("name is too long (maximum is 255 characters)"), "{}", a.body);
    let a =
        b.post(TOKENS, &[("name", "Kept"), ("scopes", "read_api"), ("scopes", "bogus"), ("authenticity_token", &csrf)]);
    assert!(a.body.contains("value=\"Kept\"") && a.body.contains("value=\"read_api\" checked"), "kept:\n{}", a.body);

    // Created: the secret is in this answer once, and nowhere else.
    let made = b.post(
        TOKENS,
        &[("name", "Deploy <ci>"), ("scopes", "read_api"), ("expires_at", LATER), ("authenticity_token", &csrf)],
    );
    assert_eq!(made.status, 200, "{}", made.body);
    assert_strict(TOKENS, &made);
    assert!(made.location.is_none() && made.headers.get("set-cookie").is_none(), "no redirect, no cookie");
    let secret = shown_secret(&made.body).unwrap_or_else(|| panic!("secret shown:\n{}", made.body));
    assert!(secret.starts_with("glpat-") && secret.len() > 30, "{secret}");
    assert_eq!(made.body.matches(&secret).count(), 1, "shown once");
    assert!(made.body.contains("it will not be shown again") && made.body.contains("readonly"), "{}", made.body);
    assert!(made.body.contains("Deploy &lt;ci&gt;"), "{}", made.body);

    // It works against the API, within its scope.
    let me = s.get("/user", &secret);
    assert_eq!(me.status(), 200);
    assert_eq!(me.json::<Value>().expect("json")["username"], "root");
    let write = s.req(reqwest::Method::POST, "/projects", &secret).form(&[("name", "nope")]).send().expect("post");
    assert_eq!(write.status(), 403, "read_api does not write");

    // The next page lists it without its secret.
    let body = page(&mut b, TOKENS);
    assert!(!body.contains(&secret) && shown_secret(&body).is_none(), "not shown again:\n{body}");
    assert!(body.contains("Deploy &lt;ci&gt;") && body.contains(LATER) && body.contains(">read_api</span>"), "{body}");
    let ids = attrs(&body, "data-token");
    assert_eq!(ids.len(), 2, "the harness's token and the new one: {body}");
    let id = ids.last().expect("new token").clone();
    let logged: Vec<String> = s.stdout.try_iter().filter(|l| l.contains(&secret)).collect();
    assert!(logged.is_empty(), "the secret is not logged: {logged:?}");

    // Another user cannot revoke it; its owner can, with the CSRF token.
    let mut alice = signed_in(&s, "alice", PASSWORD);
    let alice_body = page(&mut alice, TOKENS);
    assert!(!alice_body.contains("Deploy &lt;ci&gt;"), "alice sees only hers:\n{alice_body}");
    let alice_csrf = alice.get(TOKENS).csrf();
    let theirs = alice.post(&format!("{TOKENS}/{id}/revoke"), &[("authenticity_token", &alice_csrf)]);
    assert_eq!(theirs.status, 404, "{}", theirs.body);
    assert_eq!(s.get("/user", &secret).status(), 200);
    assert_eq!(b.post(&format!("{TOKENS}/{id}/revoke"), &[]).status, 422);
    assert_eq!(s.get("/user", &secret).status(), 200, "a refused revocation changes nothing");
    let revoked = b.post(&format!("{TOKENS}/{id}/revoke"), &[("authenticity_token", &csrf)]);
    assert_eq!((revoked.status, revoked.location.as_deref()), (302, Some(TOKENS)));
    assert_eq!(s.get("/user", &secret).status(), 401, "a revoked token opens nothing");
    let body = page(&mut b, TOKENS);
    assert!(body.contains("token-revoked"), "{body}");

    // A user who is no administrator creates her own token the same way; it is hers.
    let a = alice.post(TOKENS, &[("name", "Mine"), ("scopes", "read_api"), ("authenticity_token", &alice_csrf)]);
    assert_eq!(a.status, 200, "{}", a.body);
    let mine = shown_secret(&a.body).expect("secret shown");
    assert_eq!(s.get("/user", &mine).json::<Value>().expect("json")["username"], "alice");
}

#[test]
fn projects_and_groups_are_created_through_the_forms_as_the_use_cases_allow() {
    let s = Server::start();
    let (alice_id, alice_token) = s.user("alice", "api");
    let guarded = s.post("/groups", &s.root_token, &[("name", "Guarded"), ("path", "guarded")]);
    s.post(
        &format!("/groups/{}/members", guarded["id"]),
        &s.root_token,
        &[("user_id", &alice_id.to_string()), ("access_level", "10")],
    );

    let mut anon = Browser::new(&s, "anonymous");
    for path in ["/projects/new", "/groups/new"] {
        let a = anon.get(path);
        assert_eq!((a.status, a.location.as_deref()), (302, Some("/users/sign_in")), "{path}");
    }
    let a = anon.post("/projects", &[("name", "x")]);
    assert_eq!((a.status, a.location.as_deref()), (302, Some("/users/sign_in")));
    let a = anon.post("/groups", &[("name", "x")]);
    assert_eq!((a.status, a.location.as_deref()), (302, Some("/users/sign_in")));

    let mut b = signed_in(&s, "alice", PASSWORD);
    let home = page(&mut b, "/");
    for link in ["/projects/new", "/groups/new", KEYS, TOKENS] {
        assert!(home.contains(&format!("href=\"{link}\"")), "the header links {link}");
    }

    // `/groups/new` is the form, not a group called "new".
    let form = page(&mut b, "/groups/new");
    assert!(form.contains("action=\"/groups\"") && form.contains("None: a top-level group"), "{form}");
    let csrf = b.get("/groups/new").csrf();
    assert_eq!(b.post("/groups", &[("name", "Team")]).status, 422, "no CSRF token");

    let made = b.post(
        "/groups",
        &[
            ("name", "Team Rocket"),
            ("path", "team-rocket"),
            ("visibility", "internal"),
            ("description", "We <3 trains"),
            ("authenticity_token", &csrf),
        ],
    );
    assert_eq!((made.status, made.location.as_deref()), (302, Some("/groups/team-rocket")), "{}", made.body);
    let group = page(&mut b, "/groups/team-rocket");
    assert!(group.contains("Team Rocket"), "{group}");
    let api = s.get_json("/groups/team-rocket", &alice_token);
    assert_eq!((api["visibility"].as_str(), api["description"].as_str()), (Some("internal"), Some("We <3 trains")));

    let bad = b.post("/groups", &[("name", "Bad"), ("path", "-bad path"), ("authenticity_token", &csrf)]);
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert_strict("/groups", &bad);
    assert!(bad.body.contains("class=\"error\"") && bad.body.contains("path"), "{}", bad.body);
    assert!(
        bad.body.contains("value=\"Bad\"") && bad.body.contains("value=\"-bad path\""),
        "values kept:\n{}",
        bad.body
    );
    let taken = b.post("/groups", &[("name", "Again"), ("path", "team-rocket"), ("authenticity_token", &csrf)]);
    assert!(taken.status == 400 && taken.body.contains("has already been taken"), "{}", taken.body);
    let nameless = b.post("/groups", &[("name", ""), ("authenticity_token", &csrf)]);
    assert!(nameless.status == 400 && nameless.body.contains("name is missing"), "{}", nameless.body);

    // A subgroup, under a parent the form offers.
    let form = page(&mut b, "/groups/new");
    let team = option_value(&form, "team-rocket");
    assert_eq!(team, api["id"].to_string());
    assert!(!form.contains(">guarded</option>"), "a guest may not create subgroups there:\n{form}");
    let sub = b.post("/groups", &[("name", "Sub"), ("parent_id", &team), ("authenticity_token", &csrf)]);
    assert_eq!((sub.status, sub.location.as_deref()), (302, Some("/groups/team-rocket/sub")), "{}", sub.body);
    assert!(page(&mut b, "/groups/team-rocket/sub").contains("Sub"));
    let pre = page(&mut b, &format!("/groups/new?parent_id={team}"));
    assert!(pre.contains(&format!("value=\"{team}\" selected")), "preselected:\n{pre}");

    // Projects: in a group, and in the personal namespace.
    let form = page(&mut b, "/projects/new");
    assert!(form.contains("alice (personal)") && form.contains(">team-rocket/sub</option>"), "{form}");
    assert!(!form.contains(">guarded</option>"), "a guest may not create projects there:\n{form}");
    let made = b.post(
        "/projects",
        &[("name", "My App"), ("namespace_id", &team), ("visibility", "private"), ("authenticity_token", &csrf)],
    );
    assert_eq!((made.status, made.location.as_deref()), (302, Some("/team-rocket/my-app")), "{}", made.body);
    assert!(page(&mut b, "/team-rocket/my-app").contains("My App"));
    let personal = b.post(
        "/projects",
        &[("name", "Notes"), ("path", "notes"), ("description", "mine"), ("authenticity_token", &csrf)],
    );
    assert_eq!((personal.status, personal.location.as_deref()), (302, Some("/alice/notes")), "{}", personal.body);
    assert!(page(&mut b, "/alice/notes").contains("Notes"));
    let api = s.get_json("/projects/alice%2Fnotes", &alice_token);
    assert_eq!((api["visibility"].as_str(), api["description"].as_str()), (Some("private"), Some("mine")));

    // Refusals: an invalid path, a taken one, a visibility over the group's, a guest's group.
    let bad = b.post("/projects", &[("name", "Bad"), ("path", "bad path!"), ("authenticity_token", &csrf)]);
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains("project path") && bad.body.contains("value=\"bad path!\""), "{}", bad.body);
    let taken = b.post("/projects", &[("name", "Notes"), ("path", "notes"), ("authenticity_token", &csrf)]);
    assert!(taken.status == 400 && taken.body.contains("has already been taken"), "{}", taken.body);
    let over = b.post(
        "/projects",
        &[("name", "Loud"), ("namespace_id", &team), ("visibility", "public"), ("authenticity_token", &csrf)],
    );
    assert!(over.status == 400 && over.body.contains("visibility"), "{}", over.body);
    assert!(over.body.contains(&format!("value=\"{team}\" selected")), "the namespace is kept:\n{}", over.body);
    let guest = b.post(
        "/projects",
        &[("name", "Sneaky"), ("namespace_id", &guarded["id"].to_string()), ("authenticity_token", &csrf)],
    );
    assert_eq!(guest.status, 403, "{}", guest.body);
    assert!(guest.body.contains("You are not allowed to do this.") && guest.body.contains("value=\"Sneaky\""));
    assert_eq!(s.get("/projects/guarded%2Fsneaky", &s.root_token).status(), 404, "nothing was created");
    let nowhere = b.post("/projects", &[("name", "Lost"), ("namespace_id", "999999"), ("authenticity_token", &csrf)]);
    assert_eq!(nowhere.status, 404, "{}", nowhere.body);
    let odd = b.post("/projects", &[("name", "Odd"), ("namespace_id", "abc"), ("authenticity_token", &csrf)]);
    assert!(odd.status == 400 && odd.body.contains("namespace_id is invalid"), "{}", odd.body);
    let long = "x".repeat(2001);
    let wordy = b.post("/projects", &[("name", "Wordy"), ("description", &long), ("authenticity_token", &csrf)]);
    assert!(wordy.status == 400 && wordy.body.contains("description is too long"), "{}", &wordy.body[..1500]);
    assert_eq!(b.post("/projects", &[("name", "Forged"), ("authenticity_token", "x")]).status, 422);
    assert_eq!(s.get("/projects/alice%2Fforged", &s.root_token).status(), 404);
}

/// The header with the account links, and the account pages, fit a phone's width.
#[test]
fn account_pages_do_not_scroll_sideways_on_a_phone() {
    let s = Server::start();
    let (_, token) = s.user("alexandria-longname", "api");
    let tmp = tempfile::tempdir().expect("tempdir");
    let (public, _) = keygen(tmp.path(), "a-rather-long-comment-for-a-key@workstation.example.com");
    s.post("/user/keys", &token, &[("title", "A key with a long title, as people write them"), ("key", &public)]);
    let shots = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots");
    let chrome = Chrome::start();
    chrome.window_size(390, 844);
    chrome.open(&s.raw("/users/sign_in"));
    chrome.type_into("input[name='user[login]']", "alexandria-longname");
    chrome.type_into("input[name='user[password]']", PASSWORD);
    chrome.click("form[action='/users/sign_in'] button[type=submit]");
    chrome.wait_until("the dashboard", "return document.title.startsWith('Your projects');", Duration::from_secs(10));
    for path in ["/", KEYS, TOKENS, "/projects/new", "/groups/new"] {
        chrome.open(&s.raw(path));
        chrome.wait_until(path, "return document.readyState === 'complete';", Duration::from_secs(10));
        let name = match path.trim_start_matches("/-/").trim_matches('/') {
            "" => "home".to_string(),
            p => p.replace('/', "_"),
        };
        chrome.screenshot(&shots.join(format!("account-{name}-phone.png")));
        let wide = chrome.execute("return document.documentElement.scrollWidth > window.innerWidth + 1;", json!([]));
        let culprits = chrome.execute(
            "return Array.from(document.querySelectorAll('body *')).filter(e => e.getBoundingClientRect().right > \
             window.innerWidth + 1).slice(0, 8).map(e => e.tagName + '.' + e.className + ' ' + \
             Math.round(e.getBoundingClientRect().right));",
            json!([]),
        );
        assert_eq!(wide, Value::Bool(false), "{path} scrolls sideways at phone width: {culprits}");
        let links = chrome.execute("return document.querySelectorAll('.account a').length;", json!([]));
        assert!(links.as_u64().unwrap_or(0) >= 5, "{path}: the account links are there: {links}");
        chrome.window_size(1280, 900);
        chrome.screenshot(&shots.join(format!("account-{name}-desktop.png")));
        chrome.window_size(390, 844);
    }
}
