//! OpenID Connect sign-in against a real provider process (PyPI `oidc-provider-mock`, installed
//! by scripts/test): the authorization code flow with PKCE and nonce through the sign-in page,
//! accounts created and linked, roles and group memberships re-evaluated at every sign-in,
//! required groups, linking by verified email with a second provider, and the refusals: a
//! replayed or wrong state, a code carrying another sign-in's nonce, an issuer that does not
//! match, a provider that says no, and the address lock after repeated bad callbacks. The
//! sign-in test runs on SQLite and, when configured, PostgreSQL; the last one drives headless
//! Chromium through the whole round trip.

mod common;

use common::browser::{Answer, Browser};
use common::{Backend, Server, backends};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

const SECRET: &str = "oidc-client-secret-for-tests";

/// A running provider; killed on drop.
struct Provider {
    child: Child,
    url: String,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Provider {
    /// Starts the provider on a free port with these users (their claims).
    fn start(users: &[Value]) -> Provider {
        let bin = std::env::var("AUTOGIT_TEST_OIDC_MOCK").unwrap_or_else(|_| "oidc-provider-mock".into());
        let mut cmd = Command::new(&bin);
        cmd.args(["-p", "0", "--require-nonce", "true"]);
        for u in users {
            cmd.args(["--user-claims", &u.to_string()]);
        }
        let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap_or_else(|e| {
            panic!("{bin} does not run ({e}): scripts/test installs oidc-provider-mock and sets AUTOGIT_TEST_OIDC_MOCK")
        });
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let url = loop {
            let line = lines.next().expect("the provider says where it listens").expect("line");
            if let Some(at) = line.find("running on ") {
                break line[at + "running on ".len()..].split_whitespace().next().expect("url").to_string();
            }
        };
        // Keep draining its log so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Provider { child, url }
    }

    /// Replaces a user's claims at run time.
    fn set_claims(&self, sub: &str, claims: Value) {
        let r = reqwest::blocking::Client::new()
            .put(format!("{}/users/{sub}", self.url))
            .json(&claims)
            .send()
            .expect("PUT user");
        assert!(r.status().is_success(), "set claims: {}", r.status());
    }

    /// The provider's consent page answered as `sub` (or denied): the redirect to the callback.
    fn authorize(&self, url: &str, sub: Option<&str>) -> String {
        let http = reqwest::blocking::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("c");
        let form: Vec<(&str, &str)> = match sub {
            Some(s) => vec![("sub", s)],
            None => vec![("action", "deny")],
        };
        let r = http.post(url).form(&form).send().expect("authorize");
        assert_eq!(r.status().as_u16(), 302, "authorize: {}", r.text().unwrap_or_default());
        r.headers()["location"].to_str().expect("location").to_string()
    }
}

/// `key=value` of a URL's query (percent-decoded).
fn query(url: &str, key: &str) -> Option<String> {
    let parsed = reqwest::Url::parse(url).expect("url");
    parsed.query_pairs().find(|(k, _)| k == key).map(|(_, v)| v.into_owned())
}

/// Starts a sign-in at `provider` from the sign-in page: the provider's authorization URL.
fn start(b: &mut Browser, provider: &str) -> Answer {
    let page = b.get("/users/sign_in");
    assert!(page.body.contains(&format!("action=\"/users/auth/{provider}\"")), "{}", page.body);
    let token = page.csrf();
    b.post(&format!("/users/auth/{provider}"), &[("authenticity_token", &token)])
}

/// The callback as the browser follows it (the path of the provider's redirect).
fn callback(b: &mut Browser, s: &Server, location: &str) -> Answer {
    let path = location.strip_prefix(&s.raw("")).unwrap_or_else(|| panic!("callback on this server: {location}"));
    b.get(path)
}

/// A whole sign-in as `sub`: the callback's answer.
fn sign_in(b: &mut Browser, s: &Server, idp: &Provider, provider: &str, sub: &str) -> Answer {
    let to_idp = start(b, provider);
    assert_eq!(to_idp.status, 302, "{}", to_idp.body);
    let back = idp.authorize(to_idp.location.as_deref().expect("location"), Some(sub));
    callback(b, s, &back)
}

fn user(s: &Server, username: &str) -> Option<Value> {
    let v = s.get_json(&format!("/users?username={username}"), &s.root_token);
    v.as_array().expect("list").first().cloned()
}

fn member_level(s: &Server, group: &str, user_id: i64) -> Option<i64> {
    let r = s.get(&format!("/groups/{group}/members/{user_id}"), &s.root_token);
    if r.status().as_u16() == 404 {
        return None;
    }
    r.json::<Value>().expect("json")["access_level"].as_i64()
}

fn config(dir: &std::path::Path, main: &Provider, second: &Provider, extra: &str) -> std::path::PathBuf {
    let p = dir.join("autogit.toml");
    let text = format!(
        r#"{extra}
[[auth.oidc]]
name = "mock"
label = "Mock IdP"
issuer = "{main}"
client_id = "autogit"
client_secret_env = "AUTOGIT_TEST_OIDC_SECRET"
scopes = ["openid", "profile", "email", "groups"]
auto_create_users = true
admin_groups = ["admins"]
required_groups = ["staff", "admins"]
external_groups = ["contractors"]
[[auth.oidc.group_mappings]]
claim = "dev"
group = "platform"
access_level = 30
[[auth.oidc.group_mappings]]
claim = "leads"
group = "solo"
access_level = 50

[[auth.oidc]]
name = "second"
issuer = "{second}"
client_id = "autogit"
client_secret_file = "{secret_file}"
client_auth_method = "post"
auto_link_by_email = true

[[auth.oidc]]
name = "wrong-issuer"
issuer = "{main}/"
client_id = "autogit"
client_secret_env = "AUTOGIT_TEST_OIDC_SECRET"
"#,
        main = main.url,
        second = second.url,
        secret_file = dir.join("secret").display(),
    );
    std::fs::write(dir.join("secret"), format!("{SECRET}\n")).expect("secret");
    std::fs::write(&p, text).expect("config");
    p
}

fn claims(sub: &str, email: &str, verified: bool, groups: &[&str]) -> Value {
    json!({"sub": sub, "preferred_username": sub, "email": email, "email_verified": verified, "name": format!("{sub} Example"), "groups": groups})
}

#[test]
fn sign_in_with_a_real_provider_creates_links_and_re_evaluates() {
    for backend in backends() {
        sign_in_on(backend);
    }
}

fn sign_in_on(backend: Backend) {
    let main = Provider::start(&[
        claims("alice", "alice@example.test", true, &["admins", "dev"]),
        claims("mallory", "mallory@example.test", true, &["visitors"]),
        claims("root", "someone@example.test", true, &["staff"]),
        claims("eve", "eve@example.test", true, &["staff", "contractors"]),
    ]);
    let second = Provider::start(&[
        claims("c-123", "carol@example.com", true, &[]),
        claims("d-456", "dave@example.com", false, &[]),
    ]);
    let work = tempfile::tempdir().expect("tempdir");
    let cfg = config(work.path(), &main, &second, "");
    let s = Server::start_with(
        backend,
        &[("AUTOGIT_CONFIG", cfg.to_str().expect("utf8")), ("AUTOGIT_TEST_OIDC_SECRET", SECRET)],
    );
    s.post("/groups", &s.root_token, &[("name", "platform"), ("path", "platform")]);

    // The sign-in page offers each provider; the start is a POST with the form's token.
    let mut b = Browser::new(&s, "Firefox/140.0 (oidc)");
    let page = b.get("/users/sign_in");
    assert!(page.body.contains("Sign in with Mock IdP") && page.body.contains("Sign in with second"), "{}", page.body);
    // Browsers apply the page's form-action to the start's redirect: the providers are allowed.
    let csp = page.headers["content-security-policy"].to_str().expect("csp").to_string();
    assert!(csp.contains(&format!("form-action 'self' {} {}", main.url, second.url)), "{csp}");
    let forged = b.post("/users/auth/mock", &[("authenticity_token", &"0".repeat(64))]);
    assert_eq!(forged.status, 422, "login CSRF: a start without the form's token");
    let unknown = b.post("/users/auth/nobody", &[("authenticity_token", &page.csrf())]);
    assert_eq!(unknown.status, 404);

    // The authorization request: code flow, PKCE S256, nonce, state, our callback.
    let to_idp = start(&mut b, "mock");
    let url = to_idp.location.clone().expect("redirect to the provider");
    assert!(url.starts_with(&format!("{}/oauth2/authorize?", main.url)), "{url}");
    assert_eq!(query(&url, "response_type").as_deref(), Some("code"));
    assert_eq!(query(&url, "code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(query(&url, "code_challenge").map(|c| c.len()), Some(43));
    assert!(query(&url, "nonce").is_some_and(|n| n.len() >= 32));
    assert_eq!(query(&url, "redirect_uri"), Some(s.raw("/users/auth/mock/callback")));
    assert_eq!(query(&url, "scope").as_deref(), Some("openid profile email groups"));
    let cookie =
        to_idp.headers.get_all("set-cookie").iter().map(|v| v.to_str().expect("text").to_string()).collect::<Vec<_>>();
    assert!(
        cookie.iter().any(|c| c.starts_with("_autogit_oidc=") && c.contains("HttpOnly") && c.contains("SameSite=Lax")),
        "{cookie:?}"
    );

    // Back with a code: a session, a new account linked to (issuer, sub), admin by group, the
    // mapped membership.
    let back = main.authorize(&url, Some("alice"));
    let signed = callback(&mut b, &s, &back);
    assert_eq!((signed.status, signed.location.as_deref()), (302, Some("/")), "{}", signed.body);
    assert!(!b.cookies.contains_key("_autogit_oidc"), "the attempt cookie is cleared");
    assert!(b.signed_in());
    let alice = user(&s, "alice").expect("account created");
    assert_eq!(alice["is_admin"], json!(true), "{alice}");
    assert_eq!(alice["email"], json!("alice@example.test"));
    let alice_id = alice["id"].as_i64().expect("id");
    assert_eq!(member_level(&s, "platform", alice_id), Some(30));

    // The same callback again: its attempt is gone (and a replay is counted as a failure).
    let mut replay = Browser::new(&s, "replay");
    replay.cookies = b.cookies.clone();
    let again = callback(&mut replay, &s, &back);
    assert_eq!(again.status, 400, "{}", again.body);
    assert!(again.body.contains("state"), "{}", again.body);

    // Groups change at the provider: the next sign-in takes admin and the membership away.
    main.set_claims("alice", claims("alice", "alice@example.test", true, &["staff"]));
    let mut b2 = Browser::new(&s, "second browser");
    assert_eq!(sign_in(&mut b2, &s, &main, "mock", "alice").status, 302);
    let alice = user(&s, "alice").expect("same account");
    assert_eq!((alice["id"].as_i64(), &alice["is_admin"]), (Some(alice_id), &json!(false)));
    assert_eq!(member_level(&s, "platform", alice_id), None);

    // A mapping made alice the Owner of `solo`; once she is its only Owner, losing the group at
    // the provider does not leave `solo` without one.
    s.post("/groups", &s.root_token, &[("name", "solo"), ("path", "solo")]);
    main.set_claims("alice", claims("alice", "alice@example.test", true, &["staff", "leads"]));
    assert_eq!(sign_in(&mut Browser::new(&s, "lead"), &s, &main, "mock", "alice").status, 302);
    assert_eq!(member_level(&s, "solo", alice_id), Some(50));
    let root_leaves = s.req(reqwest::Method::DELETE, "/groups/solo/members/1", &s.root_token).send().expect("delete");
    assert_eq!(root_leaves.status().as_u16(), 204);
    main.set_claims("alice", claims("alice", "alice@example.test", true, &["staff"]));
    assert_eq!(sign_in(&mut Browser::new(&s, "ex-lead"), &s, &main, "mock", "alice").status, 302);
    assert_eq!(member_level(&s, "solo", alice_id), Some(50), "the last owner stays");

    // Not in a required group: refused, and no account is made.
    let mut m = Browser::new(&s, "mallory");
    let refused = sign_in(&mut m, &s, &main, "mock", "mallory");
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("do not include"), "{}", refused.body);
    assert!(user(&s, "mallory").is_none());
    assert!(m.session().is_none());

    // A subject whose username is taken gets a numbered one, never the existing account.
    let mut r = Browser::new(&s, "root-at-idp");
    assert_eq!(sign_in(&mut r, &s, &main, "mock", "root").status, 302);
    let root1 = user(&s, "root1").expect("a numbered account");
    assert_eq!(root1["is_admin"], json!(false));

    // External by group: no internal project, no top-level group or personal project; the
    // next sign-in without the group lifts it.
    s.post("/projects", &s.root_token, &[("name", "inside"), ("visibility", "internal")]);
    s.post("/projects", &s.root_token, &[("name", "outside"), ("visibility", "public")]);
    let mut e = Browser::new(&s, "eve");
    assert_eq!(sign_in(&mut e, &s, &main, "mock", "eve").status, 302);
    assert_eq!(user(&s, "eve").expect("eve")["external"], json!(true));
    let eve = s.create_token("eve", "t", "api");
    let listed = s.get_json("/projects?per_page=100", &eve);
    let names: Vec<&str> = listed.as_array().expect("list").iter().filter_map(|p| p["path"].as_str()).collect();
    assert!(names.contains(&"outside") && !names.contains(&"inside"), "{names:?}");
    assert_eq!(s.get("/projects/root%2Finside", &eve).status().as_u16(), 404);
    let create = |path: &str, form: &[(&str, &str)]| {
        s.req(reqwest::Method::POST, path, &eve).form(form).send().expect("post").status().as_u16()
    };
    assert_eq!(create("/groups", &[("name", "eves"), ("path", "eves")]), 403);
    assert_eq!(create("/projects", &[("name", "mine")]), 403);
    main.set_claims("eve", claims("eve", "eve@example.test", true, &["staff"]));
    let mut e2 = Browser::new(&s, "eve again");
    assert_eq!(sign_in(&mut e2, &s, &main, "mock", "eve").status, 302);
    assert_eq!(s.get("/projects/root%2Finside", &eve).status().as_u16(), 200);
    assert_eq!(create("/projects", &[("name", "mine")]), 201);

    // The second provider links an existing account by its verified email only.
    let (carol_id, _) = s.user("carol", "api");
    let mut c = Browser::new(&s, "carol");
    let linked = sign_in(&mut c, &s, &second, "second", "c-123");
    assert_eq!(linked.status, 302, "{}", linked.body);
    let audit = s.get_json(&format!("/audit_events?entity_type=User&entity_id={carol_id}"), &s.root_token);
    let actions: Vec<&str> = audit.as_array().expect("list").iter().filter_map(|e| e["event_name"].as_str()).collect();
    assert!(actions.contains(&"user_identity_linked") && actions.contains(&"user_signed_in"), "{audit}");
    s.user("dave", "api");
    let mut d = Browser::new(&s, "dave");
    let unverified = sign_in(&mut d, &s, &second, "second", "d-456");
    assert_eq!(unverified.status, 403, "an unverified email links nothing: {}", unverified.body);
    assert!(unverified.body.contains("no AutoGit account is linked"), "{}", unverified.body);

    // The provider says no. An error that answers no sign-in of this browser is not shown: its
    // text would be that of whoever made the link.
    let mut n = Browser::new(&s, "denied");
    let to_idp = start(&mut n, "mock");
    let denial = main.authorize(to_idp.location.as_deref().expect("url"), None);
    let mut stranger = Browser::new(&s, "stranger");
    let foreign = callback(&mut stranger, &s, &denial);
    assert_eq!(foreign.status, 400, "{}", foreign.body);
    assert!(!foreign.body.contains("access_denied"), "{}", foreign.body);
    let denied = callback(&mut n, &s, &denial);
    assert_eq!(denied.status, 403, "{}", denied.body);
    assert!(denied.body.contains("access_denied"), "{}", denied.body);

    // An issuer that is not the one the provider names: discovery refuses it.
    let mut w = Browser::new(&s, "wrong issuer");
    let wrong = start(&mut w, "wrong-issuer");
    assert_eq!(wrong.status, 502, "{}", wrong.body);
    assert!(wrong.body.to_lowercase().contains("issuer"), "{}", wrong.body);

    // The secret never appears in an answer or the audit log.
    let all = s.get("/audit_events?per_page=100", &s.root_token).text().expect("text");
    assert!(!all.contains(SECRET));
}

#[test]
fn a_code_for_another_sign_in_or_state_is_refused_and_bad_callbacks_lock_the_address() {
    let main = Provider::start(&[claims("alice", "alice@example.test", true, &["staff"])]);
    let second = Provider::start(&[]);
    let work = tempfile::tempdir().expect("tempdir");
    let cfg = config(work.path(), &main, &second, "[auth.address]\nmax_failures = 3\n");
    let s = Server::start_with(
        Backend::Sqlite,
        &[("AUTOGIT_CONFIG", cfg.to_str().expect("utf8")), ("AUTOGIT_TEST_OIDC_SECRET", SECRET)],
    );

    // Browser A starts; the victim's code (with B's nonce) is delivered to A with A's own state:
    // the state matches A's attempt, the ID token's nonce does not.
    let mut a = Browser::new(&s, "attacker");
    let mut v = Browser::new(&s, "victim");
    let a_url = start(&mut a, "mock").location.expect("url");
    let v_url = start(&mut v, "mock").location.expect("url");
    let v_back = main.authorize(&v_url, Some("alice"));
    let code = query(&v_back, "code").expect("code");
    let injected =
        a.get(&format!("/users/auth/mock/callback?code={code}&state={}", query(&a_url, "state").expect("state")));
    assert_eq!(injected.status, 400, "{}", injected.body);
    assert!(injected.body.contains("nonce"), "{}", injected.body);
    assert!(a.session().is_none());

    // A wrong state: refused, and the attempt is spent, so the right one fails after it.
    let mut b = Browser::new(&s, "b");
    let url = start(&mut b, "mock").location.expect("url");
    let back = main.authorize(&url, Some("alice"));
    let code = query(&back, "code").expect("code");
    assert_eq!(b.get(&format!("/users/auth/mock/callback?code={code}&state=guess")).status, 400);
    b.cookies.insert("_autogit_oidc".into(), "x".repeat(40));
    assert_eq!(callback(&mut b, &s, &back).status, 400, "the attempt went with the first callback");
    // No code at all, or an oversized one.
    assert_eq!(b.get("/users/auth/mock/callback").status, 400);

    // Three bad callbacks from this address so far: the address is locked, even for a good one.
    let mut c = Browser::new(&s, "c");
    let locked = sign_in(&mut c, &s, &main, "mock", "alice");
    assert_eq!(locked.status, 429, "{}", locked.body);
    assert!(locked.headers.contains_key("retry-after"));
}

/// The whole round trip in headless Chromium, with the provider on another site (`localhost`
/// against AutoGit's `127.0.0.1`): the sign-in page's policy lets the start's redirect leave, the
/// attempt cookie comes back on the provider's cross-site redirect, and the browser ends signed in.
#[test]
fn a_real_browser_signs_in_through_the_provider() {
    let idp = Provider::start(&[claims("alice", "alice@example.test", true, &["staff"])]);
    let issuer = idp.url.replace("127.0.0.1", "localhost");
    let work = tempfile::tempdir().expect("tempdir");
    let cfg = work.path().join("autogit.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[auth.oidc]]\nname = \"mock\"\nlabel = \"Mock IdP\"\nissuer = \"{issuer}\"\nclient_id = \"autogit\"\n\
             client_secret_env = \"AUTOGIT_TEST_OIDC_SECRET\"\nauto_create_users = true\n"
        ),
    )
    .expect("config");
    let s = Server::start_with(
        Backend::Sqlite,
        &[("AUTOGIT_CONFIG", cfg.to_str().expect("utf8")), ("AUTOGIT_TEST_OIDC_SECRET", SECRET)],
    );
    let chrome = common::webdriver::Chrome::start();
    chrome.open(&s.raw("/users/sign_in"));
    chrome.click("form[action='/users/auth/mock'] button");
    // The provider's consent page, on the other site.
    chrome.click("button[name='sub'][value='alice']");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !(chrome.url() == s.raw("/") && chrome.source().contains("Your projects")) {
        assert!(std::time::Instant::now() < deadline, "not signed in at {}:\n{}", chrome.url(), chrome.source());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(chrome.source().contains("@alice"), "{}", chrome.source());
}
