//! A real browser for the tests: headless Chromium driven through chromedriver's W3C WebDriver
//! HTTP API (scripts/test installs Debian's `chromium` and `chromium-driver`). Only what the
//! tests use: open a URL, find an element by CSS selector, click it or type into it, read the
//! URL and the page, run a script, size the window and take screenshots.

use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Chrome {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::blocking::Client,
}

impl Drop for Chrome {
    fn drop(&mut self) {
        let _ = self.http.delete(format!("{}/session/{}", self.base, self.session)).send();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Chrome {
    /// Starts chromedriver on a free port and a headless Chromium session.
    pub fn start() -> Chrome {
        let driver_bin = std::env::var("AUTOGIT_TEST_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        let driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{driver_bin} does not run ({e}): scripts/test installs chromium-driver"));
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(60)).build().expect("client");
        let deadline = Instant::now() + Duration::from_secs(20);
        while http.get(format!("{base}/status")).send().is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start on {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        let binary = std::env::var("AUTOGIT_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let caps = json!({"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
            "binary": binary,
            // Root in a container: no user namespaces for Chromium's own sandbox.
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        }}}});
        let r: Value =
            http.post(format!("{base}/session")).json(&caps).send().expect("new session").json().expect("json");
        let session = r["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {r}")).to_string();
        Chrome { driver, base, session, http }
    }

    fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut r = self.http.request(method, url);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let v: Value = r.send().expect("webdriver").json().expect("json");
        if v["value"].get("error").is_some() {
            panic!("webdriver {path}: {}", v["value"]);
        }
        v["value"].clone()
    }

    pub fn open(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })));
    }

    pub fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None).as_str().expect("url").to_string()
    }

    pub fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", None).as_str().expect("source").to_string()
    }

    /// Clicks the element `css` selects (waiting up to 10 s for it to appear).
    pub fn click(&self, css: &str) {
        let element = self.find(css);
        self.call(reqwest::Method::POST, &format!("/element/{element}/click"), Some(json!({})));
    }

    /// The element `css` selects, waiting up to 10 s for it to appear.
    fn find(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let url = format!("{}/session/{}/element", self.base, self.session);
            let v: Value = self
                .http
                .post(url)
                .json(&json!({"using": "css selector", "value": css}))
                .send()
                .expect("find")
                .json()
                .expect("json");
            if let Some(id) = v["value"]["element-6066-11e4-a52e-4f735466cecf"].as_str() {
                return id.to_string();
            }
            assert!(Instant::now() < deadline, "no element {css} on {}:\n{}", self.url(), self.source());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Types `text` into the input `css` selects.
    pub fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css);
        self.call(reqwest::Method::POST, &format!("/element/{element}/value"), Some(json!({ "text": text })));
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page; its return value.
    pub fn execute(&self, script: &str, args: Value) -> Value {
        self.call(reqwest::Method::POST, "/execute/sync", Some(json!({ "script": script, "args": args })))
    }

    /// Polls `script` until it returns `true`; panics after `timeout` with the page.
    pub fn wait_until(&self, what: &str, script: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.execute(script, json!([])) != Value::Bool(true) {
            assert!(Instant::now() < deadline, "{what} did not happen on {}:\n{}", self.url(), self.source());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sets the window's outer size.
    pub fn window_size(&self, width: u32, height: u32) {
        self.call(reqwest::Method::POST, "/window/rect", Some(json!({ "width": width, "height": height })));
    }

    /// Saves a PNG of the viewport to `path`.
    pub fn screenshot(&self, path: &std::path::Path) {
        use base64::Engine;
        let v = self.call(reqwest::Method::GET, "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD.decode(v.as_str().expect("base64")).expect("png");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot dir");
        }
        std::fs::write(path, png).expect("screenshot");
    }
}
