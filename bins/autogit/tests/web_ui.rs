//! The web pages over real HTTP with a session cookie: what they show (and escape), the headers
//! every page and raw file carries, every page as every role against the API's answer for the
//! same thing, the CI buttons by role, and a crawl of every link of the site.

mod common;

use common::Backend;
use common::ROOT_PASSWORD;
use common::browser::Browser;
use common::web_fixture::{LOG, PASSWORD, Site, api_status, archive_files};
use std::collections::{BTreeSet, VecDeque};

fn signed_in<'a>(site: &'a Site, login: &str, password: &str) -> Browser<'a> {
    let mut b = Browser::new(&site.ci.s, "Chromium/156 (web ui test)");
    let a = b.sign_in(login, password);
    assert_eq!(a.status, 302, "{login} signs in: {}", a.body);
    b
}

fn assert_page_headers(path: &str, headers: &reqwest::header::HeaderMap) {
    let csp = headers["content-security-policy"].to_str().expect("csp");
    assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"), "{path}: {csp}");
    assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe"), "{path}: {csp}");
    assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
    assert_eq!(headers["x-frame-options"], "DENY", "{path}");
}

#[test]
fn pages_show_the_repository_and_its_ci_escaped() {
    let site = Site::build(Backend::Sqlite);
    let mut b = signed_in(&site, "maintainer", PASSWORD);
    let page = |b: &mut Browser, path: &str| {
        let a = b.get(path);
        assert_eq!(a.status, 200, "{path}: {}", a.body);
        assert_eq!(a.headers["content-type"], "text/html; charset=utf-8", "{path}");
        assert_page_headers(path, &a.headers);
        a.body
    };

    let home = page(&mut b, "/acme/secret");
    assert!(home.contains("<h1>Acme</h1>") && home.contains("<b>this</b>"), "README rendered:\n{home}");
    assert!(!home.contains("alert('readme')") && !home.contains("onerror"), "README sanitized:\n{home}");
    assert!(home.contains("href=\"/acme/secret/-/blob/main/docs/guide.md\""), "relative link:\n{home}");
    assert!(home.contains("src=\"/acme/secret/-/raw/main/docs/logo.png\""), "relative image:\n{home}");
    assert!(home.contains("/acme/secret.git"), "clone address");
    assert!(home.contains("Change &lt;b&gt;lib&lt;/b&gt; &amp; more"), "last commit, escaped:\n{home}");

    let tree = page(&mut b, "/acme/secret/-/tree/main/src");
    assert!(tree.contains(">main.rs</a>") && tree.contains(">deep</a>"), "{tree}");
    let tree = page(&mut b, "/acme/secret/-/tree/feature/x/src/deep");
    assert!(tree.contains(">lib.py</a>"), "a ref with a slash: {tree}");
    assert_eq!(b.get("/acme/secret/-/tree/nope/src").status, 404);
    assert_eq!(b.get("/acme/secret/-/tree/main/nothing-here").status, 404);

    // The first view may come before the highlighting (it has a time budget, then goes on in
    // the background): the lines are there, plain, with a note; a later view is highlighted.
    let mut blob = page(&mut b, "/acme/secret/-/blob/main/src/main.rs");
    for _ in 0..100 {
        if !blob.contains("still in progress") {
            break;
        }
        assert!(blob.contains("id=\"L10\"") && !blob.contains("<span class=\"h"), "plain meanwhile: {blob}");
        std::thread::sleep(std::time::Duration::from_millis(100));
        blob = page(&mut b, "/acme/secret/-/blob/main/src/main.rs");
    }
    assert!(
        blob.contains("<span class=\"h") && blob.contains("id=\"L10\"") && blob.contains("href=\"#L10\""),
        "{blob}"
    );
    assert!(blob.contains("&lt;7&gt;") && !blob.contains("\"<7>\""), "source escaped");
    let odd = page(&mut b, "/acme/secret/-/blob/main/docs/a%20file%20%231.txt");
    assert!(odd.contains("awkward name"), "{odd}");
    assert!(page(&mut b, "/acme/secret/-/blob/main/docs/logo.png").contains("This file is binary"));

    let raw = b.get("/acme/secret/-/raw/main/page.html");
    assert_eq!((raw.status, raw.headers["content-type"].to_str().expect("type")), (200, "text/plain; charset=utf-8"));
    assert!(raw.headers["content-security-policy"].to_str().expect("csp").starts_with("sandbox"));
    assert_eq!(raw.headers["x-content-type-options"], "nosniff");
    let png = b.get("/acme/secret/-/raw/main/docs/logo.png");
    assert_eq!(png.headers["content-type"], "image/png");
    let download = b.get("/acme/secret/-/raw/main/src/main.rs?inline=false");
    assert!(
        download.headers["content-disposition"].to_str().expect("cd").starts_with("attachment; filename=\"main.rs\"")
    );

    let commits = page(&mut b, "/acme/secret/-/commits/main");
    assert!(commits.contains("First commit") && commits.contains("Change &lt;b&gt;lib"), "{commits}");
    let history = page(&mut b, "/acme/secret/-/commits/main/src/deep");
    assert!(history.contains("Change &lt;b&gt;lib"), "{history}");
    let commit = page(&mut b, &format!("/acme/secret/-/commit/{}", site.head));
    assert!(commit.contains("1 file changed") && commit.contains("src/deep/lib.py"), "{commit}");
    assert!(commit.contains("<tr class=\"added\">") && commit.contains("    return 2"), "{commit}");
    let first = page(&mut b, &format!("/acme/secret/-/commit/{}", site.first));
    assert!(first.contains("change-added"), "a root commit adds its files: {first}");
    let branches = page(&mut b, "/acme/secret/-/branches");
    assert!(branches.contains(">main</strong>") && branches.contains(">feature/x</strong>"), "{branches}");
    assert!(page(&mut b, "/acme/secret/-/tags").contains("Release 1.0"));
    let compare = page(&mut b, &format!("/acme/secret/-/compare?from={}&to=main", site.first));
    assert!(compare.contains("1 commit") && compare.contains("lib.py"), "{compare}");
    let bad = page(&mut b, "/acme/secret/-/compare?from=..%2Fx&to=main");
    assert!(bad.contains("class=\"error\""), "{bad}");

    let pipelines = page(&mut b, "/acme/secret/-/pipelines");
    assert!(pipelines.contains(&format!("/acme/secret/-/pipelines/{}", site.pipeline)), "{pipelines}");
    let pipeline = page(&mut b, &format!("/acme/secret/-/pipelines/{}", site.pipeline));
    for job in ["build", "lint", "test", "deploy"] {
        assert!(pipeline.contains(job), "{job} in {pipeline}");
    }
    let dag = page(&mut b, &format!("/acme/secret/-/pipelines/{}/dag", site.pipeline));
    assert!(dag.contains("<svg") && dag.contains("class=\"edge\""), "needs graph: {dag}");
    let job = page(&mut b, &format!("/acme/secret/-/jobs/{}", site.job));
    assert!(job.contains("sgr-fg-1") && job.contains("red words"), "colours: {job}");
    assert!(job.contains("&lt;script&gt;alert(") && !job.contains("<script>alert("), "log escaped: {job}");
    assert!(
        job.contains("data-section=\"prepare\"") && !job.contains("data-section=\"prepare\" open"),
        "collapsed: {job}"
    );
    let raw_log = b.get(&format!("/acme/secret/-/jobs/{}/raw", site.job));
    assert_eq!(raw_log.headers["content-type"], "text/plain; charset=utf-8");
    assert!(raw_log.body.contains("<script>alert('log')</script>"), "the raw log is the log");
    let stream = b.get(&format!("/acme/secret/-/jobs/{}/trace_stream?offset=0", site.job));
    assert_eq!(stream.headers["content-type"], "text/event-stream");
    assert!(
        stream.body.contains("event: items") && stream.body.contains("event: end\ndata: success"),
        "{}",
        stream.body
    );
    // A reconnecting browser resumes after the last line it got (Last-Event-ID): nothing twice,
    // and the open section it was in is still known (its end comes through).
    let first_line = LOG.iter().position(|&b| b == b'\n').expect("a line") + 1;
    let resumed = b.get_with(
        &format!("/acme/secret/-/jobs/{}/trace_stream?offset=0", site.job),
        &[("Last-Event-ID", &first_line.to_string())],
    );
    assert!(!resumed.body.contains("Preparing") && resumed.body.contains("inside the section"), "{}", resumed.body);
    assert!(resumed.body.contains("[\"e\",\"prepare\",1700000003]"), "the section's end: {}", resumed.body);
    assert!(resumed.body.contains(&format!("id: {}", LOG.len())), "{}", resumed.body);

    // The stylesheet and script the pages name are served, cached for good.
    let css = home.split("rel=\"stylesheet\" href=\"").nth(1).and_then(|r| r.split('"').next()).expect("css link");
    let css = b.get(css);
    assert_eq!(
        (css.status, css.headers["cache-control"].to_str().expect("cc")),
        (200, "public, max-age=31536000, immutable")
    );
    assert!(css.body.contains(".hb{") && css.body.contains(".sgr-fg-1") && css.body.contains(".needs-graph"));
    assert_eq!(b.get("/-/assets/autogit-0000000000000000.css").status, 404);
}

#[test]
fn a_jobs_artifacts_are_browsed_and_their_files_served_inert() {
    let site = Site::build(Backend::Sqlite);
    let s = &site.ci.s;
    let mut b = signed_in(&site, "reporter", PASSWORD);
    let base = format!("/acme/secret/-/jobs/{}", site.job);
    assert!(b.get(&base).body.contains(&format!("href=\"{base}/artifacts/browse\"")), "the job page links the browser");

    let top = b.get(&format!("{base}/artifacts/browse"));
    assert_eq!(top.status, 200, "{}", top.body);
    assert_page_headers("browse", &top.headers);
    for dir in ["a%20b", "big", "bin", "dist", "empty", "stored"] {
        assert!(top.body.contains(&format!("href=\"{base}/artifacts/browse/{dir}\"")), "{dir}: {}", top.body);
    }
    assert!(top.body.contains(&format!("href=\"{base}/artifacts/raw/report.txt\"")), "{}", top.body);
    assert!(top.body.contains("latest") && top.body.contains("symbolic link"), "the link is listed");
    assert!(!top.body.contains(&format!("{base}/artifacts/raw/latest")), "but not served");
    assert!(!top.body.contains("escape"), "an entry named outside the archive is left out");
    let awkward = b.get(&format!("{base}/artifacts/browse/a%20b"));
    assert!(awkward.body.contains(&format!("href=\"{base}/artifacts/raw/a%20b/%23x%3F.txt\"")), "{}", awkward.body);
    assert!(awkward.body.contains(&format!("href=\"{base}/artifacts/browse\"")), "the parent and crumbs link up");
    assert!(b.get(&format!("{base}/artifacts/browse/empty")).body.contains("This directory is empty."));
    for missing in
        ["browse/nothing", "browse/dis", "raw/latest", "raw/empty", "raw/dist", "raw/..%2Fescape.txt", "raw/nope"]
    {
        assert_eq!(b.get(&format!("{base}/artifacts/{missing}")).status, 404, "{missing}");
    }

    // Files: markup as inert text, binary and big files as downloads, all sandboxed.
    let html = b.get(&format!("{base}/artifacts/raw/dist/index.html"));
    assert_eq!(html.status, 200);
    assert_eq!(html.body, "<script>alert('artifact')</script><h1>site</h1>\n");
    assert_eq!(html.headers["content-type"], "text/plain; charset=utf-8");
    assert!(html.headers["content-security-policy"].to_str().expect("csp").starts_with("sandbox"));
    assert_eq!(html.headers["x-content-type-options"], "nosniff");
    assert!(html.headers.get("content-disposition").is_none(), "text is shown");
    let asked_download = b.get(&format!("{base}/artifacts/raw/dist/index.html?inline=false"));
    assert!(asked_download.headers["content-disposition"].to_str().expect("cd").starts_with("attachment"));
    for download in ["bin/tool", "big/zeros.txt"] {
        let a = b.get(&format!("{base}/artifacts/raw/{download}"));
        assert_eq!(a.status, 200, "{download}");
        assert_eq!(a.headers["content-type"], "application/octet-stream", "{download}");
        assert!(a.headers["content-disposition"].to_str().expect("cd").starts_with("attachment"), "{download}");
    }

    // The API's single-file download gives every file back byte for byte; the same rule as the
    // archive decides who may read it.
    for (name, bytes) in archive_files() {
        let path = format!(
            "/projects/{}/jobs/{}/artifacts/{}",
            site.secret_id,
            site.job,
            name.replace(' ', "%20").replace('#', "%23").replace('?', "%3F")
        );
        let r = s.get(&path, site.token("reporter"));
        assert_eq!(r.status().as_u16(), 200, "{name}");
        assert_eq!(r.headers()["content-type"], "application/octet-stream", "{name}");
        let got = r.bytes().expect("body");
        assert!(got.as_ref() == bytes.as_slice(), "{name}: {} bytes back of {}", got.len(), bytes.len());
        assert_eq!(s.get(&path, site.token("guest")).status().as_u16(), 403, "{name}: a guest may not read code");
        assert_eq!(s.get(&path, "").status().as_u16(), 404, "{name}: anonymous sees nothing");
    }
    let api = format!("/projects/{}/jobs/{}/artifacts", site.secret_id, site.job);
    for missing in ["latest", "empty", "dist", "..%2Fescape.txt", "nope"] {
        assert_eq!(s.get(&format!("{api}/{missing}"), site.token("reporter")).status().as_u16(), 404, "{missing}");
    }
}

/// Each page and the API call that reads the same thing.
fn twins(site: &Site, project: i64, full: &str) -> Vec<(String, String)> {
    let (h, f) = (&site.head, &site.first);
    let mut v = vec![
        (format!("/{full}"), format!("/projects/{project}")),
        (format!("/{full}/-/tree/main"), format!("/projects/{project}/repository/tree")),
        (format!("/{full}/-/tree/main/src"), format!("/projects/{project}/repository/tree?path=src")),
        (format!("/{full}/-/blob/main/README.md"), format!("/projects/{project}/repository/files/README.md?ref=main")),
        (
            format!("/{full}/-/raw/main/README.md"),
            format!("/projects/{project}/repository/files/README.md/raw?ref=main"),
        ),
        (format!("/{full}/-/commits/main"), format!("/projects/{project}/repository/commits")),
        (format!("/{full}/-/commit/{h}"), format!("/projects/{project}/repository/commits/{h}")),
        (format!("/{full}/-/branches"), format!("/projects/{project}/repository/branches")),
        (format!("/{full}/-/tags"), format!("/projects/{project}/repository/tags")),
        (
            format!("/{full}/-/compare?from={f}&to=main"),
            format!("/projects/{project}/repository/commits?ref_name=main"),
        ),
        (format!("/{full}/-/pipelines"), format!("/projects/{project}/pipelines")),
    ];
    if project == site.secret_id {
        let (p, j) = (site.pipeline, site.job);
        v.push((format!("/{full}/-/pipelines/{p}"), format!("/projects/{project}/pipelines/{p}")));
        v.push((format!("/{full}/-/pipelines/{p}/dag"), format!("/projects/{project}/pipelines/{p}/jobs")));
        v.push((format!("/{full}/-/jobs/{j}"), format!("/projects/{project}/jobs/{j}")));
        v.push((format!("/{full}/-/jobs/{j}/raw"), format!("/projects/{project}/jobs/{j}/trace")));
        v.push((format!("/{full}/-/jobs/{j}/trace_stream"), format!("/projects/{project}/jobs/{j}/trace")));
        let archive = format!("/projects/{project}/jobs/{j}/artifacts");
        v.push((format!("/{full}/-/jobs/{j}/artifacts/download"), archive.clone()));
        v.push((format!("/{full}/-/jobs/{j}/artifacts/browse"), archive.clone()));
        v.push((format!("/{full}/-/jobs/{j}/artifacts/browse/dist/css"), archive.clone()));
        v.push((format!("/{full}/-/jobs/{j}/artifacts/raw/report.txt"), format!("{archive}/report.txt")));
    }
    v
}

#[test]
fn every_page_as_every_role_answers_as_the_api_does() {
    let site = Site::build(Backend::Sqlite);
    let s = &site.ci.s;
    type Actor<'a> = (&'a str, Option<(&'a str, &'a str)>, String);
    let actors: Vec<Actor> = {
        let mut a =
            vec![("anonymous", None, String::new()), ("admin", Some(("root", ROOT_PASSWORD)), s.root_token.clone())];
        for (role, _, token) in &site.users {
            a.push((role, Some((role, PASSWORD)), token.clone()));
        }
        a
    };
    let mut seen = 0;
    for (name, login, token) in &actors {
        let mut b = Browser::new(s, "matrix");
        if let Some((l, p)) = login {
            assert_eq!(b.sign_in(l, p).status, 302, "{name} signs in");
        }
        for (project, full) in [(site.secret_id, "acme/secret"), (site.site_id, "acme/site")] {
            for (page, api) in twins(&site, project, full) {
                let web = b.get(&page).status;
                let api = api_status(&site.ci, &api, token);
                let ok = |c: u16| (200..300).contains(&c);
                assert_eq!(ok(web), ok(api), "{name}: {page} answered {web}, the API {api}");
                if api == 404 {
                    assert_eq!(web, 404, "{name}: {page} hides what the API hides");
                }
                seen += 1;
            }
        }
        // What the private project shows each role, spelled out.
        let home = b.get("/acme/secret").status;
        let code = b.get("/acme/secret/-/tree/main").status;
        let expected = match *name {
            "anonymous" | "outsider" => (404, 404),
            // The project is visible to a guest, its code is not (403, as the API answers).
            "guest" => (200, 403),
            _ => (200, 200),
        };
        assert_eq!((home, code), expected, "{name}: project home and code of the private project");
    }
    assert!(seen > 150, "{seen} checks");
}

#[test]
fn ci_buttons_act_for_those_who_may_push_to_the_ref_and_need_the_csrf_token() {
    let site = Site::build(Backend::Sqlite);
    let retry = format!("/acme/secret/-/jobs/{}/retry", site.job);
    for role in ["guest", "reporter", "outsider"] {
        let mut b = signed_in(&site, role, PASSWORD);
        let token = b.get("/").csrf();
        let r = b.post(&retry, &[("authenticity_token", &token)]);
        assert!(matches!(r.status, 403 | 404), "{role} may not retry: {} {}", r.status, r.body);
    }
    // `main` is protected (the default branch): its jobs are for those who may push there.
    let mut dev = signed_in(&site, "developer", PASSWORD);
    let page = dev.get(&format!("/acme/secret/-/jobs/{}", site.job));
    assert!(!page.body.contains("/retry\""), "no retry button for a developer on a protected ref");
    let token = page.csrf();
    assert_eq!(dev.post(&retry, &[("authenticity_token", &token)]).status, 403, "a developer on a protected ref");
    let mut dev = signed_in(&site, "maintainer", PASSWORD);
    assert_eq!(dev.post(&retry, &[("authenticity_token", "forged")]).status, 422, "without the token");
    let page = dev.get(&format!("/acme/secret/-/jobs/{}", site.job));
    assert!(page.body.contains(&format!("action=\"/acme/secret/-/jobs/{}/retry\"", site.job)), "{}", page.body);
    let token = page.csrf();
    let r = dev.post(&retry, &[("authenticity_token", &token)]);
    assert_eq!(r.status, 302, "{}", r.body);
    let new_job = r.location.expect("to the new job");
    assert!(new_job.starts_with("/acme/secret/-/jobs/") && !new_job.ends_with(&format!("/{}", site.job)), "{new_job}");
    let cancel = format!("{new_job}/cancel");
    assert_eq!(dev.post(&cancel, &[("authenticity_token", &token)]).status, 302);
    let shown = dev.get(&new_job);
    assert!(shown.body.contains("status-canceled"), "{}", shown.body);
}

/// Every `href` of a page (entities undone), same-site only.
fn links(body: &str) -> Vec<String> {
    body.split("href=\"")
        .skip(1)
        .filter_map(|r| r.split('"').next())
        .map(|h| h.replace("&#x2f;", "/").replace("&amp;", "&").replace("&quot;", "\"").replace("&#x27;", "'"))
        .filter(|h| h.starts_with('/') && !h.starts_with("//"))
        .map(|h| h.split('#').next().unwrap_or("").to_string())
        .filter(|h| !h.is_empty())
        .collect()
}

#[test]
fn a_crawl_of_the_site_finds_no_broken_link() {
    let site = Site::build(Backend::Sqlite);
    for (who, login) in [("admin", Some(("root", ROOT_PASSWORD))), ("anonymous", None)] {
        let mut b = Browser::new(&site.ci.s, "crawler");
        if let Some((l, p)) = login {
            assert_eq!(b.sign_in(l, p).status, 302);
        }
        let start = if login.is_some() { "/" } else { "/explore/projects" };
        let mut queue = VecDeque::from([start.to_string()]);
        let mut seen = BTreeSet::from([start.to_string()]);
        let mut pages = 0;
        while let Some(path) = queue.pop_front() {
            let a = b.get(&path);
            assert!(matches!(a.status, 200 | 302), "{who}: {path} answered {}: {}", a.status, a.body);
            pages += 1;
            let html = a.headers.get("content-type").is_some_and(|t| t.to_str().unwrap_or("").starts_with("text/html"));
            if a.status != 200 || !html {
                continue;
            }
            for l in links(&a.body) {
                if seen.len() < 400 && seen.insert(l.clone()) {
                    queue.push_back(l);
                }
            }
        }
        assert!(pages > if login.is_some() { 40 } else { 20 }, "{who}: only {pages} pages crawled: {seen:?}");
    }
}
