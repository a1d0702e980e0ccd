//! `/metrics`: bounded label values whatever clients send, and readable only from allowed
//! addresses or with the metrics token (404 otherwise, as for an unknown path).
//!
//! Loopback has a whole /8, so 127.0.0.1 and 127.0.0.2 are two client addresses on one host.
//! Neither check touches the store, so these run on SQLite only.

mod common;

use common::{Backend, Server};
use reqwest::Method;
use reqwest::blocking::Client;
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

const TOKEN: &str = "metrics-token-for-tests-0123456789";

fn client_from(addr: &str) -> Client {
    Client::builder()
        .local_address(addr.parse::<IpAddr>().expect("ip"))
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// The series of a scrape: every sample line with its value removed.
fn series(scrape: &str) -> BTreeSet<String> {
    scrape
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.rsplit_once(' ').map_or(l, |(name, _)| name).to_string())
        .collect()
}

#[test]
fn made_up_methods_and_paths_leave_metrics_the_same_size() {
    let s = Server::start();
    let http = client_from("127.0.0.1");
    let scrape = || http.get(s.raw("/metrics")).send().expect("scrape").text().expect("text");
    let targets = |i: usize| {
        [
            "/-/health".to_string(),
            "/api/v4/projects".to_string(),
            format!("/made-up-{i}"),
            format!("/api/v4/made-up-{i}"),
            format!("/ns-{i}/p-{i}.git/info/refs"),
            format!("/ns-{i}/p-{i}/git-upload-pack"),
            format!("/ns-{i}/p-{i}.git/../x-{i}"),
        ]
    };
    let send = |method: &str, path: &str| {
        let m = Method::from_bytes(method.as_bytes()).expect("method");
        let r = http.request(m, s.raw(path)).send().expect("request");
        assert!(r.status().is_client_error(), "{method} {path}: {}", r.status());
    };
    // One round creates each series a made-up request can reach (and /metrics' own).
    for (i, path) in targets(0).iter().enumerate() {
        send(&format!("WARMUP{i}"), path);
    }
    scrape();
    let before = scrape();
    for i in 0..10_000 {
        let paths = targets(i);
        send(&format!("MADEUP{i}"), &paths[i % paths.len()]);
    }
    let after = scrape();
    eprintln!("/metrics: {} bytes before, {} after 10,000 made-up requests", before.len(), after.len());
    assert!(!after.contains("MADEUP") && !after.contains("made-up-"), "a made-up value became a label");
    assert!(after.contains("method=\"other\""), "made-up methods are counted as other");
    assert_eq!(series(&before), series(&after), "the same series before and after");
    assert_eq!(before.lines().count(), after.lines().count());
    // Only counters' digits may grow: at most 5 more per line.
    assert!(after.len() <= before.len() + 5 * before.lines().count(), "{} → {}", before.len(), after.len());
}

#[test]
fn metrics_needs_an_allowed_address_or_the_token() {
    let s = Server::start_with(
        Backend::Sqlite,
        &[("AUTOGIT_METRICS_ALLOWED_ADDRESSES", "127.0.0.1/32"), ("AUTOGIT_METRICS_TOKEN", TOKEN)],
    );
    let allowed = client_from("127.0.0.1");
    let other = client_from("127.0.0.2");
    let get = |c: &Client, path: &str, auth: Option<(&str, &str)>| {
        let mut r = c.get(s.raw(path));
        if let Some((name, value)) = auth {
            r = r.header(name, value);
        }
        let r = r.send().expect("request");
        (r.status().as_u16(), r.text().expect("body"))
    };
    let bearer = format!("Bearer {TOKEN}");
    let (status, body) = get(&allowed, "/metrics", None);
    assert_eq!(status, 200, "allowed address");
    assert!(body.contains("autogit_ci_queued_jobs"), "{body}");
    let unknown_path = get(&other, "/no-such-page", None);
    assert_eq!(get(&other, "/metrics", None), unknown_path, "a non-allowed address sees an unknown path");
    assert_eq!(unknown_path.0, 404);
    // Another method gives the endpoint away no more than GET does (no 405 with `Allow`).
    for method in [reqwest::Method::POST, reqwest::Method::PUT, reqwest::Method::DELETE] {
        let r = other.request(method.clone(), s.raw("/metrics")).send().expect("request");
        assert_eq!((r.status().as_u16(), r.headers().get("allow")), (404, None), "{method} /metrics");
    }
    assert_eq!(get(&other, "/metrics", Some(("Authorization", &bearer))).0, 200, "bearer token");
    assert_eq!(get(&other, &format!("/metrics?token={TOKEN}"), None).0, 200, "token in the query");
    for (path, auth) in [
        ("/metrics", Some(("Authorization", "Bearer metrics-token-for-tests-012345678"))),
        ("/metrics", Some(("Authorization", "Bearer "))),
        ("/metrics?token=wrong", None),
        ("/metrics?token=", None),
        ("/metrics", Some(("X-Forwarded-For", "127.0.0.1"))),
        ("/metrics", Some(("X-Real-IP", "127.0.0.1"))),
        ("/metrics", Some(("PRIVATE-TOKEN", s.root_token.as_str()))),
    ] {
        assert_eq!(get(&other, path, auth).0, 404, "{path} {auth:?}");
    }

    // Defaults: all of loopback is allowed (a Prometheus on this host, bench/), no token.
    let d = Server::start();
    assert_eq!(other.get(d.raw("/metrics")).send().expect("request").status(), 200);
    assert_eq!(other.get(d.raw("/metrics?token=")).send().expect("request").status(), 200);
    // An empty allow list and no token: nobody.
    let none = Server::start_with(Backend::Sqlite, &[("AUTOGIT_METRICS_ALLOWED_ADDRESSES", "")]);
    assert_eq!(allowed.get(none.raw("/metrics")).send().expect("request").status(), 404);
    assert_eq!(allowed.get(none.raw("/metrics?token=")).send().expect("request").status(), 404);
}
