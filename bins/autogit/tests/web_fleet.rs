//! The administration pages over real HTTP: runners with their state, tags, executor and current
//! jobs, pause and resume by button (CSRF-checked), the GPU inventory with who holds each GPU,
//! the pools and the users; and that nobody but an administrator finds any of them.

mod common;

use autogit_gpu::{DetectedGpu, GpuKey, HostInventory, Vendor};
use common::ROOT_PASSWORD;
use common::browser::Browser;
use common::job_api::Ci;
use common::webdriver::Chrome;
use common::{Backend, Server};
use serde_json::{Value, json};
use std::time::Duration;

const HELD_OR_FREE: [&str; 2] =
    ["GPU-11111111-2222-3333-4444-555555555555", "GPU-66666666-7777-8888-9999-000000000000"];
const MODEL: &str = "NVIDIA H100 80GB HBM3";
const PASSWORD: &str = "a-long-password";

/// An inventory of two ready NVIDIA GPUs, as `autogit runner` reports it.
fn inventory() -> Value {
    let gpus = HELD_OR_FREE
        .iter()
        .enumerate()
        .map(|(i, uuid)| {
            let mut g = DetectedGpu::bare(Vendor::Nvidia, format!("0000:{:02x}:00.0", i + 1).parse().expect("pci"));
            g.key = GpuKey::Uuid((*uuid).to_string());
            g.uuid = Some((*uuid).to_string());
            g.product_name = Some(MODEL.into());
            g.memory_total_bytes = Some(80 << 30);
            g.kernel_driver = Some("nvidia".into());
            g
        })
        .collect();
    let inv = HostInventory { schema_version: 1, detector_version: "test".into(), gpus, warnings: Vec::new() };
    serde_json::to_value(inv).expect("inventory json")
}

/// A `jobs/request` as gitlab-runner sends it, with the GPU inventory in `info.config`.
fn request_with_gpus(ci: &Ci, token: &str) -> Value {
    let body = json!({"token": token, "info": {
        "name": "gitlab-runner", "version": "18.0.0", "platform": "linux", "architecture": "amd64", "executor": "shell",
        "features": {"variables": true, "artifacts": true, "upload_multiple_artifacts": true},
        "config": {"autogit_inventory": inventory(), "autogit_architectures": ["amd64"]},
    }});
    let r = ci.http.post(ci.url("/jobs/request")).json(&body).send().expect("jobs/request");
    assert_eq!(r.status().as_u16(), 201, "the GPU job is handed out");
    r.json().expect("job json")
}

fn signed_in<'a>(s: &'a Server, login: &str, password: &str) -> Browser<'a> {
    let mut b = Browser::new(s, "Chromium/156 (web fleet test)");
    let a = b.sign_in(login, password);
    assert_eq!(a.status, 302, "{login} signs in: {}", a.body);
    b
}

fn page(b: &mut Browser, path: &str) -> String {
    let a = b.get(path);
    assert_eq!(a.status, 200, "{path}: {}", a.body);
    let csp = a.headers["content-security-policy"].to_str().expect("csp");
    assert!(csp.contains("default-src 'none'") && !csp.contains("unsafe"), "{path}: {csp}");
    a.body
}

/// The table row of the page that carries `attr="value"`.
fn row<'a>(body: &'a str, attr: &str, value: &str) -> &'a str {
    let at = body.find(&format!("{attr}=\"{value}\"")).unwrap_or_else(|| panic!("a row {attr}={value}: {body}"));
    let rest = &body[at..];
    &rest[..rest.find("</tr>").expect("row end")]
}

/// A server with a GPU runner (two GPUs) running a one-GPU job: (ci, runner id, job page).
fn gpu_job_running() -> (Ci, i64, String) {
    let ci = Ci::start(Backend::Sqlite, &[]);
    let (runner, token) = ci.runner(&[("description", "gpu <box>"), ("tag_list", "cuda-box")]);
    let project = ci.project("fleet-gpu", "train:\n  tags: [gpu, nvidia]\n  script: [nvidia-smi]\n");
    ci.pipeline(project);
    let job = request_with_gpus(&ci, &token);
    let job_id = job["id"].as_i64().expect("job id");
    (ci, runner, format!("/root/fleet-gpu/-/jobs/{job_id}"))
}

#[test]
fn admins_see_the_runners_their_gpu_jobs_and_pause_them() {
    let (ci, runner, job_href) = gpu_job_running();
    let s = &ci.s;

    let mut b = signed_in(s, "root", ROOT_PASSWORD);
    let home = page(&mut b, "/");
    assert!(home.contains("href=\"/admin/runners\">Admin</a>"), "the admin link: {home}");

    let runners = page(&mut b, "/admin/runners");
    let r = row(&runners, "data-runner", &runner.to_string());
    assert!(r.contains("gpu &lt;box&gt;") && !r.contains("<box>"), "description, escaped: {r}");
    assert!(r.contains("state-online") && r.contains("> online</span>"), "online, in words: {r}");
    assert!(r.contains("<span class=\"badge\">cuda-box</span>"), "tags: {r}");
    assert!(r.contains("shell") && r.contains("18.0.0") && r.contains("linux") && r.contains("amd64"), "{r}");
    assert!(r.contains(&format!("href=\"{job_href}\"")), "the current job: {r}");
    assert!(r.contains("2 GPUs"), "{r}");
    for nav in ["/admin/gpus", "/admin/pools", "/admin/users"] {
        assert!(runners.contains(&format!("href=\"{nav}\"")), "sub-navigation to {nav}");
    }

    let detail = page(&mut b, &format!("/admin/runners/{runner}"));
    assert!(detail.contains(&format!("href=\"{job_href}\"")) && detail.contains(MODEL), "{detail}");
    assert!(detail.contains("Recent jobs") && detail.contains("train"), "{detail}");

    let gpus = page(&mut b, "/admin/gpus");
    let rows: Vec<&str> = HELD_OR_FREE.iter().map(|k| row(&gpus, "data-gpu", k)).collect();
    let held: Vec<&&str> = rows.iter().filter(|r| r.contains(&format!("href=\"{job_href}\""))).collect();
    assert_eq!(held.len(), 1, "one GPU is held by the job: {gpus}");
    assert!(rows.iter().any(|r| r.contains(">free</td>")), "the other is free: {gpus}");
    assert!(gpus.contains(MODEL) && gpus.contains("80.0 GiB"), "{gpus}");
    let totals = gpus.split("<table").nth(1).expect("the totals table");
    assert!(
        totals.contains("<td class=\"right\">2</td><td class=\"right\">1</td><td class=\"right\">1</td>"),
        "2 GPUs: 1 free, 1 held: {totals}"
    );

    // The job's own page names the GPUs it holds.
    let job_page = page(&mut b, &job_href);
    assert!(job_page.contains("GPUs held") && job_page.contains(MODEL), "{job_page}");

    // Pause and resume by button; without the CSRF token nothing changes.
    let pause = format!("/admin/runners/{runner}/pause");
    assert!(runners.contains(&format!("action=\"{pause}\"")), "a pause button: {runners}");
    assert_eq!(b.post(&pause, &[("back", "list")]).status, 422, "no CSRF token");
    assert_eq!(b.post(&pause, &[("authenticity_token", "forged")]).status, 422, "a wrong CSRF token");
    assert_eq!(s.get_json(&format!("/runners/{runner}"), &s.root_token)["paused"], false);
    let csrf = b.get("/admin/runners").csrf();
    let done = b.post(&pause, &[("authenticity_token", &csrf), ("back", "list")]);
    assert_eq!((done.status, done.location.as_deref()), (302, Some("/admin/runners")), "{}", done.body);
    assert_eq!(
        s.get_json(&format!("/runners/{runner}"), &s.root_token)["paused"],
        true,
        "paused through the API's rules"
    );
    let runners = page(&mut b, "/admin/runners");
    let r = row(&runners, "data-runner", &runner.to_string());
    assert!(r.contains("state-paused") && r.contains("paused") && r.contains("/resume\""), "{r}");
    let done = b.post(&format!("/admin/runners/{runner}/resume"), &[("authenticity_token", &csrf), ("back", "runner")]);
    let back = format!("/admin/runners/{runner}");
    assert_eq!((done.status, done.location.as_deref()), (302, Some(back.as_str())));
    assert_eq!(s.get_json(&format!("/runners/{runner}"), &s.root_token)["paused"], false);
    assert_eq!(b.post(&format!("/admin/runners/{runner}/explode"), &[("authenticity_token", &csrf)]).status, 404);
    assert_eq!(b.get("/admin/runners/999999").status, 404);
    assert_eq!(b.get("/admin/runners/nope").status, 404);
}

#[test]
fn admin_pages_are_not_found_for_everyone_else() {
    let ci = Ci::start(Backend::Sqlite, &[]);
    let s = &ci.s;
    let (runner, _) = ci.runner(&[("description", "hidden")]);
    s.user("plain", "api");
    let detail = format!("/admin/runners/{runner}");
    let pages = ["/admin", "/admin/runners", detail.as_str(), "/admin/gpus", "/admin/pools", "/admin/users"];
    let pause = format!("/admin/runners/{runner}/pause");

    let mut anonymous = Browser::new(s, "anonymous");
    for p in pages {
        assert_eq!(anonymous.get(p).status, 404, "anonymous: {p}");
    }
    assert_eq!(anonymous.post(&pause, &[]).status, 404, "anonymous POST");
    assert_eq!(anonymous.get(&pause).status, 404, "a button's address is no page");

    let mut user = signed_in(s, "plain", PASSWORD);
    let home = page(&mut user, "/");
    assert!(!home.contains("/admin/runners"), "no admin link for a user: {home}");
    for p in pages {
        let a = user.get(p);
        assert_eq!(a.status, 404, "a user: {p}: {}", a.body);
    }
    let csrf = user.get("/").csrf();
    assert_eq!(user.post(&pause, &[("authenticity_token", &csrf)]).status, 404, "a user's POST");
    assert_eq!(s.get_json(&format!("/runners/{runner}"), &s.root_token)["paused"], false, "nothing changed");

    // The admin area itself opens for an administrator.
    let mut root = signed_in(s, "root", ROOT_PASSWORD);
    let a = root.get("/admin");
    assert_eq!((a.status, a.location.as_deref()), (302, Some("/admin/runners")));
}

#[test]
fn the_users_page_lists_and_searches_users() {
    let s = Server::start_on(Backend::Sqlite);
    s.user("alice-fleet", "api");
    s.user("bob-fleet", "api");
    let mut b = signed_in(&s, "root", ROOT_PASSWORD);
    let all = page(&mut b, "/admin/users");
    assert!(all.contains("name=\"search\" value=\"\""), "an empty search box: {all}");
    for u in ["root", "alice-fleet", "bob-fleet"] {
        assert!(all.contains(&format!("data-user=\"{u}\"")), "{u} listed: {all}");
    }
    assert!(all.contains("alice-fleet@example.com"), "emails: {all}");
    let r = row(&all, "data-user", "root");
    assert!(r.contains("admin") && r.contains("active"), "root is an active admin: {r}");
    let found = page(&mut b, "/admin/users?search=alice");
    assert!(found.contains("data-user=\"alice-fleet\"") && !found.contains("data-user=\"bob-fleet\""), "{found}");
    assert!(found.contains("value=\"alice\""), "the search box keeps the words: {found}");
    let none = page(&mut b, "/admin/users?search=nobody-at-all");
    assert!(none.contains("No user matches"), "{none}");
}

#[test]
fn the_pools_page_shows_none_or_the_configured_pool() {
    let s = Server::start_on(Backend::Sqlite);
    let mut b = signed_in(&s, "root", ROOT_PASSWORD);
    assert!(page(&mut b, "/admin/pools").contains("No pools configured"));
    drop(b);
    drop(s);

    let cfg = tempfile::NamedTempFile::new().expect("config file");
    std::fs::write(
        cfg.path(),
        "[[ci.pools]]\nname = \"local\"\nprovider = \"process\"\nmin_idle = 0\nmax_instances = 2\nidle_time_seconds = 600\n",
    )
    .expect("write config");
    let s = Server::start_with(Backend::Sqlite, &[("AUTOGIT_CONFIG", cfg.path().to_str().expect("utf8"))]);
    common::ci::wait_for("the pool to appear", std::time::Duration::from_secs(20), || {
        let p = s.get_json("/admin/ci/pools", &s.root_token);
        if p[0]["name"] == "local" { Ok(()) } else { Err(p.to_string()) }
    });
    let mut b = signed_in(&s, "root", ROOT_PASSWORD);
    let pools = page(&mut b, "/admin/pools");
    assert!(pools.contains(">local <span class=\"badge\">process</span>"), "{pools}");
    assert!(pools.contains("No instances now.") && pools.contains("0 up, 0 down"), "{pools}");
}

/// The elements that stick out of the window on the right (to say why a page scrolls sideways).
const WIDER_THAN_THE_WINDOW: &str = "return Array.from(document.querySelectorAll('body *')) \
    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1) \
    .map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right)).join(' | ');";

/// The admin pages in a real browser: usable at phone width (no sideways scroll; wide tables
/// scroll inside themselves), and the pause button works from the page. Screenshots go to
/// `target/tmp/ui-screenshots/admin-*`.
#[test]
fn the_admin_pages_fit_a_phone_and_their_buttons_work_in_a_browser() {
    let (ci, runner, job_href) = gpu_job_running();
    let s = &ci.s;
    s.user("someone", "api");
    let chrome = Chrome::start();
    chrome.window_size(1280, 900);
    chrome.open(&s.raw("/users/sign_in"));
    chrome.type_into("input[name='user[login]']", "root");
    chrome.type_into("input[name='user[password]']", ROOT_PASSWORD);
    chrome.click("form[action='/users/sign_in'] button[type=submit]");
    chrome.wait_until("the dashboard", "return document.title.startsWith('Your projects');", Duration::from_secs(10));
    chrome.click("nav.site a[href='/admin/runners']");
    chrome.wait_until("the runners page", "return document.title.startsWith('Runners');", Duration::from_secs(10));
    let shots = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots");
    let pages = [
        ("runners", "/admin/runners".to_string()),
        ("runner", format!("/admin/runners/{runner}")),
        ("gpus", "/admin/gpus".to_string()),
        ("pools", "/admin/pools".to_string()),
        ("users", "/admin/users".to_string()),
    ];
    for (name, path) in &pages {
        chrome.open(&s.raw(path));
        chrome.window_size(1280, 900);
        chrome.screenshot(&shots.join(format!("admin-{name}-desktop.png")));
        chrome.window_size(390, 844);
        chrome.screenshot(&shots.join(format!("admin-{name}-phone.png")));
        let wide = chrome.execute("return document.documentElement.scrollWidth > window.innerWidth + 1;", json!([]));
        let culprits = chrome.execute(WIDER_THAN_THE_WINDOW, json!([]));
        assert_eq!(wide, Value::Bool(false), "{path} scrolls sideways at phone width: {culprits}");
        chrome.window_size(1280, 900);
    }
    chrome.open(&s.raw("/admin/gpus"));
    let held = chrome.execute(
        "return Array.from(document.querySelectorAll('tr[data-gpu] a')).map(a => a.getAttribute('href')).join(' ');",
        json!([]),
    );
    assert!(held.as_str().is_some_and(|h| h.contains(&job_href)), "{held}");

    chrome.open(&s.raw("/admin/runners"));
    chrome.click(&format!("form[action='/admin/runners/{runner}/pause'] button"));
    chrome.wait_until(
        "the runner to show paused",
        &format!("return !!document.querySelector(\"tr[data-runner='{runner}'] .state-paused\");"),
        Duration::from_secs(10),
    );
    assert_eq!(s.get_json(&format!("/runners/{runner}"), &s.root_token)["paused"], true);
}
