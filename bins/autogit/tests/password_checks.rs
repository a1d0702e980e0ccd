//! Password checks on the real server: memory stays bounded under a burst of wrong Basic-auth
//! logins, failures lock the account (the right password included) until the lock ends, missing
//! and existing usernames take the same time, the client address is the TCP peer, and passwords
//! are accepted by git over HTTP only (the API takes tokens).

mod common;

use common::{Backend, Server, backends, git_ok, work_repo};
use reqwest::StatusCode;
use reqwest::blocking::Client;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

const PASSWORD: &str = "a-long-password";
const MIB: u64 = 1024 * 1024;

/// `VmRSS` and `VmHWM` of a process, in bytes.
fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("server status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or_else(|| panic!("{name} in /proc/{pid}/status"))
            * 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn client() -> Client {
    Client::builder().timeout(Duration::from_secs(120)).build().expect("client")
}

/// `GET <project>.git/info/refs?service=git-upload-pack` with HTTP Basic: (status, body, Retry-After).
fn info_refs(
    http: &Client,
    base: &str,
    project: &str,
    user: &str,
    password: &str,
) -> (StatusCode, String, Option<u64>) {
    let r = http
        .get(format!("{base}/{project}.git/info/refs?service=git-upload-pack"))
        .basic_auth(user, Some(password))
        .send()
        .expect("request");
    let status = r.status();
    let retry = r.headers().get("retry-after").and_then(|v| v.to_str().ok()?.parse().ok());
    (status, r.text().unwrap_or_default(), retry)
}

fn is_lock(body: &str) -> bool {
    body.contains("too many failed sign-in attempts")
}

/// Samples the server's RSS every 10 ms while it lives; returns the highest seen.
struct Sampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    fn start(pid: u32) -> Sampler {
        let (stop, peak) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
        let (s, p) = (stop.clone(), peak.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                p.fetch_max(memory(pid).0, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        Sampler { stop, peak, thread: Some(thread) }
    }

    fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().expect("sampler");
        }
        self.peak.load(Ordering::SeqCst)
    }
}

/// Sends `f(i)` from `n` threads released at once; returns their results in order.
fn burst<T: Send + 'static>(n: usize, f: impl Fn(usize) -> T + Send + Sync + 'static) -> Vec<T> {
    let (barrier, f) = (Arc::new(Barrier::new(n)), Arc::new(f));
    let threads: Vec<_> = (0..n)
        .map(|i| {
            let (barrier, f) = (barrier.clone(), f.clone());
            std::thread::spawn(move || {
                barrier.wait();
                f(i)
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().expect("thread")).collect()
}

fn burst_of_wrong_logins(backend: Backend) {
    // Default limits (10 failures lock an account), with short locks so the test can wait one out.
    // The address limit is raised above the 212 failures this test makes from one address.
    let s = Server::start_with(
        backend,
        &[
            ("AUTOGIT_AUTH_ACCOUNT_LOCK_SECONDS", "3"),
            ("AUTOGIT_AUTH_ACCOUNT_MAX_LOCK_SECONDS", "6"),
            ("AUTOGIT_AUTH_ADDRESS_MAX_FAILURES", "500"),
            // 200 connections at once from one address: past the per-address connection cap,
            // which would answer some of them 503 before any password is seen.
            ("AUTOGIT_HTTP_MAX_CONNECTIONS_PER_ADDRESS", "0"),
        ],
    );
    let base = s.url.clone();
    let (_, token) = s.user("victim", "api");
    s.post("/projects", &token, &[("name", "p"), ("visibility", "private")]);
    let http = client();
    // Warm up what a first request initialises, then take the idle footprint.
    assert_eq!(info_refs(&http, &base, "victim/p", "victim", &token).0, StatusCode::OK);
    std::thread::sleep(Duration::from_millis(500));
    let (idle, _) = memory(s.pid());
    let sampler = Sampler::start(s.pid());

    // 1. 200 concurrent wrong passwords for one account.
    let server = base.clone();
    let answers = burst(200, move |i| {
        let (status, body, retry) = info_refs(&client(), &server, "victim/p", "victim", &format!("wrong-{i}"));
        (status, is_lock(&body), retry)
    });
    let unauthorized = answers.iter().filter(|a| a.0 == StatusCode::UNAUTHORIZED).count();
    let locked = answers.iter().filter(|a| a.0 == StatusCode::TOO_MANY_REQUESTS && a.1).count();
    let refused = answers.iter().filter(|a| a.0 == StatusCode::TOO_MANY_REQUESTS).count();
    eprintln!("burst: {unauthorized} × 401, {locked} × 429 locked, {} × 429 busy", refused - locked);
    assert_eq!(unauthorized + refused, 200, "only 401 and 429: {answers:?}");
    assert!(answers.iter().filter(|a| a.0 == StatusCode::TOO_MANY_REQUESTS).all(|a| a.2.is_some_and(|r| r >= 1)));
    // The 10th failure locks; a check already running in the other slot (2 by default) may
    // still add one.
    assert!((10..=11).contains(&unauthorized), "{unauthorized} passwords were checked");
    assert!(locked >= 1, "some attempts were refused by the lock");

    // 2. The right password is refused while the lock lasts, then works.
    let (status, body, retry) = info_refs(&http, &base, "victim/p", "victim", PASSWORD);
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(is_lock(&body), "{body}");
    let retry = retry.expect("Retry-After");
    assert!((1..=6).contains(&retry), "Retry-After {retry}");
    let locked_at = Instant::now();
    let opened = loop {
        let (status, body, retry) = info_refs(&http, &base, "victim/p", "victim", PASSWORD);
        if status == StatusCode::OK {
            break locked_at.elapsed();
        }
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        assert!(locked_at.elapsed() < Duration::from_secs(20), "the lock never ended");
        std::thread::sleep(Duration::from_millis(250.min(retry.unwrap_or(1) * 1000)));
    };
    assert!(opened >= Duration::from_millis(retry.saturating_sub(1) * 1000), "opened after {opened:?}");

    // 3. 200 concurrent wrong passwords, one username each, each retried until its password
    //    was checked: 200 argon2 computations (~3.7 GiB if they all ran at once).
    let server = base.clone();
    let statuses = burst(200, move |i| {
        let http = client();
        loop {
            let (status, body, _) = info_refs(&http, &server, "victim/p", &format!("user-{i}"), "wrong");
            if status != StatusCode::TOO_MANY_REQUESTS || is_lock(&body) {
                return status;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    assert!(statuses.iter().all(|s| *s == StatusCode::UNAUTHORIZED), "{statuses:?}");
    let during = sampler.finish();
    std::thread::sleep(Duration::from_millis(500));
    let (after, hwm) = memory(s.pid());
    eprintln!(
        "RSS idle {} MiB, peak sampled {} MiB, VmHWM {} MiB, after {} MiB",
        idle / MIB,
        during / MIB,
        hwm / MIB,
        after / MIB
    );
    for (what, v) in [("sampled peak", during), ("VmHWM", hwm), ("after", after)] {
        assert!(v <= idle + 64 * MIB, "{what} RSS {} MiB is more than 64 MiB above idle {} MiB", v / MIB, idle / MIB);
    }
    // The two argon2 areas kept while checks came (2 × 19 MiB) go once they stop (2 s).
    std::thread::sleep(Duration::from_millis(3_000));
    let (rested, _) = memory(s.pid());
    eprintln!("RSS 3 s after the last check {} MiB", rested / MIB);
    assert!(
        rested + 30 * MIB <= after,
        "the spare argon2 areas are freed when checks stop: {} MiB after, {} MiB rested",
        after / MIB,
        rested / MIB
    );
}

#[test]
fn a_burst_of_wrong_logins_keeps_memory_bounded_and_locks_the_account() {
    for b in backends() {
        burst_of_wrong_logins(b);
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn timing(backend: Backend) {
    let s = Server::start_with(
        backend,
        &[("AUTOGIT_AUTH_ACCOUNT_MAX_FAILURES", "0"), ("AUTOGIT_AUTH_ADDRESS_MAX_FAILURES", "0")],
    );
    let (_, token) = s.user("alice", "api");
    s.post("/projects", &token, &[("name", "p"), ("visibility", "public")]);
    let http = client();
    let time = |user: &str| {
        let started = Instant::now();
        let (status, body, _) = info_refs(&http, &s.url, "alice/p", user, "wrong-password");
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{user}: {body}");
        started.elapsed()
    };
    time("alice");
    time("nobody");
    // Up to three rounds of 60 interleaved pairs: a leak (a missing user answered without the
    // password hash, which is most of a check's time) shows in every round, while a burst of
    // load from the tests running beside this one can tip a single round over the bar.
    let mut gaps = Vec::new();
    for round in 0..3 {
        let (mut existing, mut missing) = (Vec::new(), Vec::new());
        for i in 0..60 {
            // Interleaved, so load from elsewhere falls on both alike.
            existing.push(time("alice"));
            missing.push(time(&format!("nobody-{round}-{i}")));
        }
        let (e, m) = (median(existing), median(missing));
        let gap = e.abs_diff(m).as_secs_f64() / e.max(m).as_secs_f64();
        eprintln!("wrong password: existing user median {e:?}, missing user median {m:?}, gap {:.1} %", gap * 100.0);
        if gap <= 0.20 {
            return;
        }
        gaps.push(format!("existing {e:?} vs missing {m:?}"));
    }
    panic!("usernames can be told apart by timing in every round: {}", gaps.join("; "));
}

#[test]
fn missing_and_existing_users_take_the_same_time() {
    for b in backends() {
        timing(b);
    }
}

fn git_takes_passwords_and_the_api_takes_tokens(backend: Backend) {
    let s = Server::start_on(backend);
    let (_, token) = s.user("dev", "api");
    s.post("/projects", &token, &[("name", "p"), ("visibility", "private")]);
    let http = client();
    let api = |method: reqwest::Method, path: &str, password: &str| {
        http.request(method, s.raw(&format!("/api/v4{path}"))).basic_auth("dev", Some(password)).send().expect("api")
    };
    for (method, path) in [(reqwest::Method::GET, "/user"), (reqwest::Method::POST, "/projects?name=q")] {
        let r = api(method.clone(), path, PASSWORD);
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{method} {path} with a password");
        let body: serde_json::Value = r.json().expect("json");
        let msg = body["message"].as_str().unwrap_or_default();
        assert!(msg.contains("personal access token") && msg.contains("git over HTTP"), "{body}");
    }
    let r = api(reqwest::Method::GET, "/user", &token);
    assert_eq!(r.status(), StatusCode::OK, "a personal access token in HTTP Basic");
    let me: serde_json::Value = r.json().expect("json");
    assert_eq!(me["username"], "dev");
    let r = api(reqwest::Method::POST, "/projects?name=q", &token);
    assert_eq!(r.status(), StatusCode::CREATED, "writes with a token in HTTP Basic");

    // git over HTTP takes the account password, for reads and writes.
    let (_t, work) = work_repo(1);
    let host = s.url.trim_start_matches("http://");
    let url = format!("http://dev:{PASSWORD}@{host}/dev/p.git");
    git_ok(&work, &["push", "-q", &url, "main"]);
    assert!(git_ok(&work, &["ls-remote", &url]).contains("refs/heads/main"));

    // Usernames are ASCII and matched without case. A name with other characters is nobody,
    // even where the database's lower() would fold it onto a user's (PostgreSQL: the Kelvin sign
    // U+212A onto `k`), which would sign in under a failure counter of its own.
    s.user("kate", "api");
    let (status, _, _) = info_refs(&http, &s.url, "dev/p", "KATE", PASSWORD);
    assert_eq!(status, StatusCode::NOT_FOUND, "{backend:?}: signed in (not a member: the project is hidden)");
    let (status, _, _) = info_refs(&http, &s.url, "dev/p", "\u{212A}ate", PASSWORD);
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{backend:?}: a non-ASCII name never signs in as kate");
}

#[test]
fn passwords_are_for_git_and_the_api_takes_tokens() {
    for b in backends() {
        git_takes_passwords_and_the_api_takes_tokens(b);
    }
}

#[test]
fn the_client_address_is_the_peer_not_a_forwarding_header() {
    let s = Server::start_with(Backend::Sqlite, &[("AUTOGIT_AUTH_ADDRESS_MAX_FAILURES", "3")]);
    let (_, token) = s.user("dev", "api");
    s.post("/projects", &token, &[("name", "p"), ("visibility", "public")]);
    let http = client();
    let send = |user: &str, password: &str, forwarded: &str| {
        http.get(s.raw("/dev/p.git/info/refs?service=git-upload-pack"))
            .basic_auth(user, Some(password))
            .header("X-Forwarded-For", forwarded)
            .header("X-Real-IP", forwarded)
            .send()
            .expect("request")
            .status()
    };
    for i in 0..3 {
        assert_eq!(send(&format!("guess-{i}"), "wrong", &format!("203.0.113.{i}")), StatusCode::UNAUTHORIZED);
    }
    // A fourth "client" by its headers is the same peer: the address is locked, for every user.
    assert_eq!(send("dev", PASSWORD, "198.51.100.7"), StatusCode::TOO_MANY_REQUESTS);
    // Tokens are not password checks and still work from a locked address.
    assert_eq!(send("dev", &token, "198.51.100.7"), StatusCode::OK);
}
