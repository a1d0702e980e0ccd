//! Browser sessions over real HTTP: the sign-in form with its CSRF token, the session cookie and
//! its attributes, what a session opens (browser routes) and what it does not (the API, git),
//! sign-out, revoking one session or all others, expiry, a blocked user, the bound per user, and
//! the sign-in page's share of the password limits. SQLite always, PostgreSQL when configured.

mod common;

use common::browser::Browser;
use common::{Backend, Server, backends};

const PASSWORD: &str = "a-long-password";

fn check_all(f: impl Fn(Backend)) {
    for b in backends() {
        f(b);
    }
}

#[test]
fn a_session_opens_browser_pages_and_nothing_else() {
    check_all(|backend| {
        let s = Server::start_on(backend);
        let (_, alice_token) = s.user("alice", "api");
        s.post("/projects", &alice_token, &[("name", "secret"), ("visibility", "private")]);
        let mut b = Browser::new(&s, "Firefox/140.0 (test)");

        let form = b.get("/users/sign_in");
        assert_eq!(form.status, 200, "{backend:?}: the sign-in page");
        assert!(form.body.contains("name=\"user[login]\"") && form.body.contains("name=\"user[password]\""));
        assert_eq!(form.headers["x-frame-options"], "DENY", "the sign-in page cannot be framed");
        let csrf_cookie = b.set_cookies.last().expect("a CSRF cookie").clone();
        assert!(csrf_cookie.starts_with("_autogit_csrf=") && csrf_cookie.contains("HttpOnly"), "{csrf_cookie}");
        assert!(
            csrf_cookie.contains("SameSite=Lax") && !csrf_cookie.contains("Secure"),
            "http: no Secure: {csrf_cookie}"
        );

        // The form's token must match its cookie; a cross-site post is refused even with it.
        let token = form.csrf();
        let bad = b.post(
            "/users/sign_in",
            &[("user[login]", "alice"), ("user[password]", PASSWORD), ("authenticity_token", "0")],
        );
        assert_eq!(bad.status, 422, "a wrong CSRF token: {}", bad.body);
        let fields = [("user[login]", "alice"), ("user[password]", PASSWORD), ("authenticity_token", token.as_str())];
        let cross = b.post_with("/users/sign_in", &fields, &[("Sec-Fetch-Site", "cross-site")]);
        assert_eq!(cross.status, 422, "a cross-site sign-in");
        assert!(b.session().is_none(), "no session after refused sign-ins");

        let wrong = b.post(
            "/users/sign_in",
            &[("user[login]", "alice"), ("user[password]", "nope"), ("authenticity_token", &token)],
        );
        assert_eq!(wrong.status, 401);
        assert!(wrong.body.contains("Invalid login or password."), "{}", wrong.body);

        // By email, in another case: the same account.
        let ok = b.post(
            "/users/sign_in",
            &[("user[login]", "ALICE@example.com"), ("user[password]", PASSWORD), ("authenticity_token", &token)],
        );
        assert_eq!((ok.status, ok.location.as_deref()), (302, Some("/")), "{}", ok.body);
        let cookie = b.set_cookies.iter().rev().find(|c| c.starts_with("_autogit_session=")).expect("a session cookie");
        for attr in ["HttpOnly", "SameSite=Lax", "Path=/"] {
            assert!(cookie.contains(attr), "session cookie lacks {attr}: {cookie}");
        }
        assert!(!cookie.contains("Secure"), "http external URL: no Secure");
        let home = b.get("/");
        assert_eq!(home.status, 200);
        assert!(home.body.contains("@alice"), "{}", home.body);
        assert_eq!(b.get("/users/sign_in").location.as_deref(), Some("/"), "signed in: the form sends home");

        // The cookie authenticates no API request and no git request.
        let secret = b.session().expect("session").clone();
        let http = reqwest::blocking::Client::new();
        let api =
            http.get(s.raw("/api/v4/user")).header("Cookie", format!("_autogit_session={secret}")).send().expect("api");
        assert_eq!(api.status(), 401, "the API takes tokens, not the session cookie");
        let git = http
            .get(s.raw("/alice/secret.git/info/refs?service=git-upload-pack"))
            .header("Cookie", format!("_autogit_session={secret}"))
            .send()
            .expect("git");
        assert_eq!(git.status(), 401, "git over HTTP takes tokens or Basic, not the session cookie");
        // And a token opens no browser page.
        let page = reqwest::blocking::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
            .get(s.raw("/"))
            .header("PRIVATE-TOKEN", &alice_token)
            .send()
            .expect("page");
        assert_eq!(page.status(), 302, "browser routes take the session cookie only");

        // The active sessions page, and sign-out with (only with) the session's token.
        let list = b.get("/-/user_settings/active_sessions");
        assert_eq!(list.status, 200);
        assert!(list.body.contains("127.0.0.1") && list.body.contains("Firefox/140.0 (test)"), "{}", list.body);
        assert!(list.body.contains("This is your current session"));
        let refused = b.post("/users/sign_out", &[("authenticity_token", &token)]);
        assert_eq!(refused.status, 422, "the sign-in form's token does not sign out");
        assert!(b.signed_in(), "a refused sign-out changes nothing");
        let csrf = b.get("/").csrf();
        let out = b.post("/users/sign_out", &[("authenticity_token", &csrf)]);
        assert_eq!((out.status, out.location.as_deref()), (302, Some("/users/sign_in")));
        assert!(b.session().is_none(), "sign-out clears the cookie");
        let mut replay = Browser::new(&s, "replay");
        replay.cookies.insert("_autogit_session".into(), secret);
        assert!(!replay.signed_in(), "{backend:?}: a signed-out session's cookie opens nothing");
    });
}

#[test]
fn sessions_end_by_revocation_expiry_block_and_the_bound() {
    check_all(|backend| {
        let s = Server::start_with(backend, &[("AUTOGIT_AUTH_MAX_SESSIONS_PER_USER", "3")]);
        s.user("bob", "api");
        let mut browsers: Vec<Browser> = (0..3).map(|n| Browser::new(&s, &format!("browser {n}"))).collect();
        for b in &mut browsers {
            assert_eq!(b.sign_in("bob", PASSWORD).status, 302);
        }
        // Revoke one other session from the first browser.
        let page = browsers[0].get("/-/user_settings/active_sessions");
        let ids: Vec<String> = page
            .body
            .match_indices("data-session=\"")
            .map(|(i, m)| {
                let rest = &page.body[i + m.len()..];
                rest[..rest.find('"').expect("quote")].to_string()
            })
            .collect();
        assert_eq!(ids.len(), 3, "three sessions listed: {}", page.body);
        let last_id = s.db_rows("SELECT id FROM sessions WHERE user_agent = 'browser 2'")[0].clone();
        let csrf = page.csrf();
        let revoked = browsers[0]
            .post(&format!("/-/user_settings/active_sessions/{last_id}/revoke"), &[("authenticity_token", &csrf)]);
        assert_eq!(revoked.status, 302);
        assert!(!browsers[2].signed_in(), "{backend:?}: a revoked session is over");
        assert!(browsers[1].signed_in() && browsers[0].signed_in());
        // Another user cannot revoke bob's session.
        s.user("eve", "api");
        let mut eve = Browser::new(&s, "eve");
        eve.sign_in("eve", PASSWORD);
        let eve_csrf = eve.get("/").csrf();
        let bob_id = s.db_rows("SELECT id FROM sessions WHERE user_agent = 'browser 1'")[0].clone();
        let theirs = eve
            .post(&format!("/-/user_settings/active_sessions/{bob_id}/revoke"), &[("authenticity_token", &eve_csrf)]);
        assert_eq!(theirs.status, 404, "another user's session is not found");
        assert!(browsers[1].signed_in());

        // Sign out everywhere else.
        let csrf = browsers[0].get("/").csrf();
        assert_eq!(
            browsers[0].post("/-/user_settings/active_sessions/revoke_all", &[("authenticity_token", &csrf)]).status,
            302
        );
        assert!(!browsers[1].signed_in() && browsers[0].signed_in(), "every other session is over, this one stays");

        // The bound: a fourth sign-in ends the least recently active.
        for b in browsers.iter_mut().skip(1) {
            assert_eq!(b.sign_in("bob", PASSWORD).status, 302);
        }
        let mut fourth = Browser::new(&s, "browser 3");
        fourth.sign_in("bob", PASSWORD);
        let count =
            s.db_rows("SELECT COUNT(*) FROM sessions WHERE user_id = (SELECT id FROM users WHERE username = 'bob')");
        assert_eq!(count, vec!["3".to_string()], "at most three sessions");
        assert!(fourth.signed_in());

        // Expiry, then a blocked user.
        s.db_rows("UPDATE sessions SET expires_at = '2001-01-01T00:00:00+00:00' WHERE user_agent = 'browser 3'");
        assert!(!fourth.signed_in(), "{backend:?}: an expired session is over");
        let live = browsers.iter_mut().skip(1).filter_map(|b| b.signed_in().then_some(())).count();
        assert!(live >= 1, "other sessions still work");
        s.db_rows("UPDATE users SET state = 'blocked' WHERE username = 'bob'");
        assert!(browsers.iter_mut().all(|b| !b.signed_in()), "a blocked user's sessions are over");
    });
}

#[test]
fn the_sign_in_page_shares_the_password_limits_and_https_cookies_are_secure() {
    let s = Server::start_with(
        Backend::Sqlite,
        &[("AUTOGIT_AUTH_ACCOUNT_MAX_FAILURES", "3"), ("AUTOGIT_EXTERNAL_URL", "https://git.example.test")],
    );
    s.user("carol", "api");
    s.user("dave", "api");
    let mut b = Browser::new(&s, "limits");
    for _ in 0..3 {
        assert_eq!(b.sign_in("carol", "wrong").status, 401);
    }
    let locked = b.sign_in("carol", PASSWORD);
    assert_eq!(locked.status, 429, "locked: even the right password is refused: {}", locked.body);
    assert!(locked.headers.get("retry-after").is_some() && locked.body.contains("Too many failed sign-in attempts"));
    // git over HTTP with the password is locked too: one limit for both doors.
    let git = reqwest::blocking::Client::new()
        .get(s.raw("/carol/none.git/info/refs?service=git-upload-pack"))
        .basic_auth("carol", Some(PASSWORD))
        .send()
        .expect("git");
    assert_eq!(git.status(), 429, "the lock applies to git over HTTP as well");
    let mut other = Browser::new(&s, "other");
    assert_eq!(other.sign_in("dave", PASSWORD).status, 302, "another account still signs in");
    let cookie = other.set_cookies.iter().find(|c| c.starts_with("_autogit_session=")).expect("session cookie");
    assert!(cookie.contains("; Secure"), "https external URL: Secure cookie: {cookie}");

    // Bad forms: missing fields, too long, unreadable.
    let token = b.get("/users/sign_in").csrf();
    assert_eq!(b.post("/users/sign_in", &[("authenticity_token", &token)]).status, 400);
    let long = "x".repeat(2000);
    let a =
        b.post("/users/sign_in", &[("user[login]", "dave"), ("user[password]", &long), ("authenticity_token", &token)]);
    assert_eq!(a.status, 400, "an over-long password is refused before hashing: {}", a.body);
    let login_html = b.post(
        "/users/sign_in",
        &[("user[login]", "<script>x</script>"), ("user[password]", "p"), ("authenticity_token", &token)],
    );
    assert!(!login_html.body.contains("<script>x"), "the login is escaped when shown again");
}
