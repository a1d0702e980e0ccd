//! The web pages in a real browser (headless Chromium through chromedriver): sign in, browse
//! code and a diff, follow a running job's log live as the runner sends it (colours and
//! sections in the DOM), retry and cancel with the pages' buttons, and what an anonymous
//! browser sees. Screenshots of every page visited, at desktop and phone width, are saved
//! under the test's output directory (`target/tmp/ui-screenshots/`).

mod common;

use common::Backend;
use common::web_fixture::{PASSWORD, Site};
use common::webdriver::Chrome;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn shots() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots")
}

/// Screenshots of the current page at desktop and phone width.
fn snap(chrome: &Chrome, name: &str) {
    chrome.window_size(1280, 900);
    chrome.screenshot(&shots().join(format!("{name}-desktop.png")));
    chrome.window_size(390, 844);
    chrome.screenshot(&shots().join(format!("{name}-phone.png")));
    // A phone-width page has no horizontal scroll bar of its own.
    let wide = chrome.execute("return document.documentElement.scrollWidth > window.innerWidth + 1;", json!([]));
    assert_eq!(wide, Value::Bool(false), "{name} scrolls sideways at phone width");
    chrome.window_size(1280, 900);
}

fn text(chrome: &Chrome, css: &str) -> String {
    let v =
        chrome.execute("var e = document.querySelector(arguments[0]); return e ? e.textContent : null;", json!([css]));
    v.as_str().unwrap_or_else(|| panic!("no {css} on {}:\n{}", chrome.url(), chrome.source())).to_string()
}

#[test]
fn a_browser_signs_in_browses_code_and_follows_a_live_job_log() {
    let site = Site::build(Backend::Sqlite);
    let s = &site.ci.s;
    let chrome = Chrome::start();
    chrome.window_size(1280, 900);

    chrome.open(&s.raw("/users/sign_in"));
    chrome.type_into("input[name='user[login]']", "maintainer");
    chrome.type_into("input[name='user[password]']", PASSWORD);
    chrome.click("form[action='/users/sign_in'] button[type=submit]");
    chrome.wait_until("the dashboard", "return document.title.startsWith('Your projects');", Duration::from_secs(10));
    assert!(text(&chrome, ".account").contains("@maintainer"));
    snap(&chrome, "dashboard");

    chrome.open(&s.raw("/acme/secret"));
    assert_eq!(text(&chrome, ".readme h1"), "Acme");
    snap(&chrome, "project");
    chrome.click("a[href='/acme/secret/-/tree/main/src']");
    chrome.click("a[href='/acme/secret/-/blob/main/src/main.rs']");
    // A file's first view may be plain while its highlighting finishes; a reload shows it.
    let count = "return document.querySelectorAll('table.code span[class]').length;";
    let mut spans = chrome.execute(count, json!([]));
    for _ in 0..100 {
        if spans.as_u64().unwrap_or(0) > 10 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        chrome.open(&s.raw("/acme/secret/-/blob/main/src/main.rs"));
        spans = chrome.execute(count, json!([]));
    }
    assert!(spans.as_u64().unwrap_or(0) > 10, "highlighted: {spans}");
    snap(&chrome, "blob");
    chrome.open(&s.raw("/acme/secret/-/blob/main/src/main.rs#L5-7"));
    let marked =
        chrome.execute("return Array.from(document.querySelectorAll('tr.hl')).map(r => r.id).join(',');", json!([]));
    assert_eq!(marked, json!("L5,L6,L7"), "the line range is highlighted");

    chrome.open(&s.raw(&format!("/acme/secret/-/commit/{}", site.head)));
    assert_eq!(chrome.execute("return document.querySelectorAll('tr.added').length;", json!([])), json!(1));
    snap(&chrome, "commit");
    chrome.open(&s.raw(&format!("/acme/secret/-/pipelines/{}", site.pipeline)));
    snap(&chrome, "pipeline");
    chrome.click("a[href$='/dag']");
    assert!(
        chrome.execute("return document.querySelectorAll('svg.needs-graph a').length;", json!([])).as_u64() >= Some(4)
    );
    snap(&chrome, "pipeline-needs");

    // A new pipeline; the runner takes a job and the browser watches its log.
    let created = s.post(&format!("/projects/{}/pipeline", site.secret_id), &s.root_token, &[("ref", "main")]);
    assert!(created["id"].is_i64(), "{created}");
    let job = site.ci.take(&site.runner_token);
    let (id, token) = (job["id"].as_i64().expect("id"), job["token"].as_str().expect("token").to_string());
    chrome.open(&s.raw(&format!("/acme/secret/-/jobs/{id}")));
    chrome.wait_until(
        "the stream to open",
        "return document.querySelector('[data-live-state]').textContent === 'Live';",
        Duration::from_secs(10),
    );
    let mut sent = 0usize;
    let mut latencies = Vec::new();
    for i in 0..5 {
        let line = format!("\x1b[31mlive line {i}\x1b[0m\n");
        let at = Instant::now();
        let r = site.ci.patch(id, &token, Some(&format!("{sent}-")), line.as_bytes());
        assert_eq!(r.status(), 202, "trace patch");
        sent += line.len();
        chrome.wait_until(
            "the line in the DOM",
            &format!("return Array.from(document.querySelectorAll('#log .log-text .sgr-fg-1')).some(e => e.textContent === 'live line {i}');"),
            Duration::from_secs(10),
        );
        latencies.push(at.elapsed());
    }
    eprintln!("trace PATCH → line in the DOM: {latencies:?}");
    let section = b"\x1b[0Ksection_start:1700000000:tests\r\x1b[0KRunning tests\ninside\n\x1b[0Ksection_end:1700000002:tests\r\x1b[0K\n";
    assert_eq!(site.ci.patch(id, &token, Some(&format!("{sent}-")), section).status(), 202);
    chrome.wait_until(
        "the section",
        "var d = document.querySelector('#log details[data-section=\"tests\"]'); return !!d && d.open && !!d.querySelector('.log-duration');",
        Duration::from_secs(10),
    );
    assert_eq!(text(&chrome, "#log details[data-section='tests'] .log-duration"), "00:02");
    let numbers = chrome.execute(
        "return Array.from(document.querySelectorAll('#log .log-ln')).map(a => a.textContent).join(',');",
        json!([]),
    );
    assert_eq!(numbers, json!("1,2,3,4,5,6,7"), "lines are numbered on");
    snap(&chrome, "job-live");
    assert_eq!(site.ci.update(id, &token, "success").status(), 200);
    chrome.wait_until(
        "the end",
        "return document.querySelector('[data-live-state]').textContent === 'Finished: success';",
        Duration::from_secs(10),
    );

    // The page's own buttons: retry the finished job, then cancel the retry.
    chrome.open(&s.raw(&format!("/acme/secret/-/jobs/{id}")));
    chrome.click(&format!("form[action='/acme/secret/-/jobs/{id}/retry'] button"));
    chrome.wait_until(
        "the new job's page",
        &format!("return !location.pathname.endsWith('/jobs/{id}');"),
        Duration::from_secs(10),
    );
    let retried = chrome.url();
    assert!(retried.contains("/acme/secret/-/jobs/"), "{retried}");
    chrome.click("form[action$='/cancel'] button");
    chrome.wait_until("canceled", "return !!document.querySelector('h1 .status-canceled');", Duration::from_secs(10));
    snap(&chrome, "job-canceled");

    // Sign out; an anonymous browser sees the public project and not the private one.
    chrome.click("form[action='/users/sign_out'] button");
    // The sign-out's own navigation must land before the next page is opened.
    chrome.wait_until(
        "signed out",
        "return !document.querySelector('form[action=\"/users/sign_out\"]');",
        Duration::from_secs(10),
    );
    chrome.open(&s.raw("/acme/site"));
    assert_eq!(text(&chrome, ".readme h1"), "Acme");
    chrome.open(&s.raw("/acme/secret"));
    assert!(
        text(&chrome, "main").contains("Page not found") || text(&chrome, "main").contains("Project not found"),
        "{}",
        chrome.source()
    );
    snap(&chrome, "anonymous-private");
    chrome.open(&s.raw("/explore/projects"));
    let listed = text(&chrome, "main");
    assert!(listed.contains("acme/site") && !listed.contains("acme/secret"), "{listed}");
    snap(&chrome, "explore");
}
