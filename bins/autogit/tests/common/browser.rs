//! A browser for the tests of browser routes: keeps the cookies the server sets (as a browser
//! does: by name, a `Max-Age=0` removes one), follows no redirect by itself, and reads the CSRF
//! token from the last page's forms.

use super::Server;
use reqwest::blocking::{Client, Response};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use std::collections::BTreeMap;

pub struct Browser<'a> {
    server: &'a Server,
    http: Client,
    pub cookies: BTreeMap<String, String>,
    /// Every `Set-Cookie` header seen, as sent (to check attributes).
    pub set_cookies: Vec<String>,
    pub user_agent: String,
}

/// What a page answered.
pub struct Answer {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
    pub headers: reqwest::header::HeaderMap,
}

impl Answer {
    /// The value of the first `authenticity_token` field on the page.
    pub fn csrf(&self) -> String {
        let at = self.body.find("name=\"authenticity_token\" value=\"").expect("the page has a CSRF field");
        let rest = &self.body[at + "name=\"authenticity_token\" value=\"".len()..];
        rest[..rest.find('"').expect("closing quote")].to_string()
    }
}

impl<'a> Browser<'a> {
    pub fn new(server: &'a Server, user_agent: &str) -> Browser<'a> {
        let http = Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        Browser { server, http, cookies: BTreeMap::new(), set_cookies: Vec::new(), user_agent: user_agent.to_string() }
    }

    pub fn get(&mut self, path: &str) -> Answer {
        let r = self.with_cookies(self.http.get(self.server.raw(path))).send().expect("GET");
        self.take(r)
    }

    pub fn get_with(&mut self, path: &str, headers: &[(&str, &str)]) -> Answer {
        let mut r = self.with_cookies(self.http.get(self.server.raw(path)));
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        let r = r.send().expect("GET");
        self.take(r)
    }

    pub fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Answer {
        self.post_with(path, form, &[])
    }

    pub fn post_with(&mut self, path: &str, form: &[(&str, &str)], headers: &[(&str, &str)]) -> Answer {
        let mut r = self.with_cookies(self.http.post(self.server.raw(path))).form(form);
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        let r = r.send().expect("POST");
        self.take(r)
    }

    /// Opens the sign-in form and submits it.
    pub fn sign_in(&mut self, login: &str, password: &str) -> Answer {
        let token = self.get("/users/sign_in").csrf();
        self.post(
            "/users/sign_in",
            &[("user[login]", login), ("user[password]", password), ("authenticity_token", &token)],
        )
    }

    /// Whether the browser is signed in: `/` shows a page rather than sending it to sign in.
    pub fn signed_in(&mut self) -> bool {
        let a = self.get("/");
        match a.status {
            200 => true,
            302 if a.location.as_deref() == Some("/users/sign_in") => false,
            other => panic!("GET / answered {other}: {}", a.body),
        }
    }

    pub fn session(&self) -> Option<&String> {
        self.cookies.get("_autogit_session")
    }

    fn with_cookies(&self, r: reqwest::blocking::RequestBuilder) -> reqwest::blocking::RequestBuilder {
        let r = r.header("User-Agent", &self.user_agent);
        if self.cookies.is_empty() {
            return r;
        }
        let jar: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        r.header(COOKIE, jar.join("; "))
    }

    fn take(&mut self, r: Response) -> Answer {
        for v in r.headers().get_all(SET_COOKIE) {
            let text = v.to_str().expect("cookie text").to_string();
            let (pair, attrs) = text.split_once(';').unwrap_or((&text, ""));
            let (name, value) = pair.split_once('=').expect("name=value");
            if attrs.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_string(), value.to_string());
            }
            self.set_cookies.push(text);
        }
        let status = r.status().as_u16();
        let location = r.headers().get(LOCATION).map(|l| l.to_str().expect("location").to_string());
        let headers = r.headers().clone();
        Answer { status, location, body: r.text().unwrap_or_default(), headers }
    }
}
