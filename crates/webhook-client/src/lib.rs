//! The hook transport: delivers one webhook attempt as an HTTP POST with reqwest.
//!
//! Who is trusted: the hook's URL is written by a project or group maintainer (or, for system
//! hooks, an administrator), so it may name anything, including the server's own network, a
//! database port or a cloud metadata service. The administrator's outbound policy decides which
//! local addresses such a request may reach ([`autogit_core::webhook::check_address`]).
//!
//! Why the check happens at connect time: checking the name before sending and letting the HTTP
//! client resolve it again would leave a window in which a receiver's DNS answers a public
//! address first and a local one second (DNS rebinding). Here reqwest's own resolver is replaced
//! by one that drops every refused address, so the addresses checked are exactly the addresses
//! connected to. reqwest does not resolve IP-literal hosts, so those are checked before sending.
//! Proxies are turned off for the same reason: a proxy would resolve the name itself, unchecked.

use async_trait::async_trait;
use autogit_app::webhooks::{
    HookFailure, HookRequest, HookResponse, HookTransport, MAX_RESPONSE_EXCERPT, MAX_RESPONSE_HEADERS,
};
use autogit_core::webhook::{OutboundPolicy, check_address};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::error::Error as StdError;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use url::{Host, Url};

/// Delivers hook requests over HTTP(S). The outbound policy and TLS verification live in the
/// client (its resolver, its certificate check), so one client is kept per combination in use:
/// building a client (loading the root certificates) costs more than a delivery, and a kept client
/// also keeps its connections to a receiver open between deliveries. A policy changed by the
/// administrator is another key, so no connection made under the old policy is reused.
#[derive(Debug, Default)]
pub struct HttpHookTransport {
    clients: Mutex<Vec<(OutboundPolicy, bool, reqwest::Client)>>,
}

/// Clients kept at most (the policy rarely changes; TLS verification is on or off).
const MAX_CLIENTS: usize = 4;

impl HttpHookTransport {
    pub fn new() -> HttpHookTransport {
        HttpHookTransport::default()
    }

    fn client(&self, policy: &OutboundPolicy, verify_tls: bool) -> Result<reqwest::Client, HookFailure> {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, _, c)) = clients.iter().find(|(p, v, _)| p == policy && *v == verify_tls) {
            return Ok(c.clone());
        }
        let client = reqwest::Client::builder()
            .dns_resolver(CheckedResolver { policy: Arc::new(policy.clone()) })
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .danger_accept_invalid_certs(!verify_tls)
            .build()
            .map_err(failure)?;
        if clients.len() >= MAX_CLIENTS {
            clients.remove(0);
        }
        clients.push((policy.clone(), verify_tls, client.clone()));
        Ok(client)
    }
}

#[async_trait]
impl HookTransport for HttpHookTransport {
    async fn post(&self, request: HookRequest) -> Result<HookResponse, HookFailure> {
        let url = target(&request.url)?;
        if let Some(ip) = literal_ip(&url) {
            check_address(&ip.to_string(), ip, &request.policy).map_err(|b| HookFailure::Blocked(b.to_string()))?;
        }
        // Kept only to scrub it from error texts; reqwest sends it as basic authentication.
        let password = url.password().filter(|p| !p.is_empty()).map(str::to_owned);
        // One deadline over everything (resolution, connect, TLS, sending, the answer and its
        // body), rather than reqwest's per-phase settings.
        let client = self.client(&request.policy, request.verify_tls).map_err(|f| redact(f, password.as_deref()))?;
        let outcome = tokio::time::timeout(request.timeout, exchange(client, url, request)).await;
        match outcome {
            Err(_elapsed) => Err(HookFailure::Timeout),
            Ok(result) => result.map_err(|failure| redact(failure, password.as_deref())),
        }
    }
}

/// Parses the hook URL: `http` or `https` with a host. Parse errors never echo the input, which
/// may hold a password.
fn target(text: &str) -> Result<Url, HookFailure> {
    let url = Url::parse(text).map_err(|e| HookFailure::InvalidUrl(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(HookFailure::InvalidUrl(format!("unsupported scheme `{}` (http or https only)", url.scheme())));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(HookFailure::InvalidUrl("the URL has no host".into()));
    }
    Ok(url)
}

/// The address of an IP-literal host. The URL parser already turned every IPv4 spelling
/// (`2130706433`, `0x7f.1`, `127.0.0.1.`) into a canonical address, so none slips past as a name.
fn literal_ip(url: &Url) -> Option<IpAddr> {
    match url.host()? {
        Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
        Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
        Host::Domain(_) => None,
    }
}

async fn exchange(client: reqwest::Client, url: Url, request: HookRequest) -> Result<HookResponse, HookFailure> {
    // reqwest moves the URL's user information into an `Authorization: Basic` header.
    let mut builder = client.post(url);
    for (name, value) in &request.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let mut response = builder.body(request.body).send().await.map_err(failure)?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .take(MAX_RESPONSE_HEADERS)
        .map(|(name, value)| (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
        .collect();
    // Read chunk by chunk and stop once the excerpt is full: a receiver answering gigabytes costs
    // no more than the excerpt. Dropping the response closes the connection on the rest.
    let mut body = Vec::new();
    while body.len() < MAX_RESPONSE_EXCERPT {
        match response.chunk().await.map_err(failure)? {
            Some(chunk) => body.extend_from_slice(&chunk),
            None => break,
        }
    }
    body.truncate(MAX_RESPONSE_EXCERPT);
    Ok(HookResponse { status, headers, body_excerpt: String::from_utf8_lossy(&body).into_owned() })
}

/// Resolution refused by the outbound policy; found again in reqwest's error chain.
#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl StdError for Refused {}

/// The system resolver, keeping only the addresses the policy allows.
struct CheckedResolver {
    policy: Arc<OutboundPolicy>,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = Arc::clone(&self.policy);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // Port 0: reqwest puts in the URL's port (or the scheme's) afterwards.
            let resolved = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let mut allowed: Vec<SocketAddr> = Vec::new();
            let mut refusal = None;
            for addr in resolved {
                match check_address(&host, addr.ip(), &policy) {
                    Ok(()) => allowed.push(addr),
                    Err(blocked) => {
                        refusal.get_or_insert_with(|| blocked.to_string());
                    }
                }
            }
            match refusal {
                Some(message) if allowed.is_empty() => Err(Box::new(Refused(message)) as _),
                _ => Ok(Box::new(allowed.into_iter()) as Addrs),
            }
        })
    }
}

/// Sorts a reqwest error into the port's failures. The URL is dropped from the text: it may hold
/// a password.
fn failure(err: reqwest::Error) -> HookFailure {
    let mut source: Option<&(dyn StdError + 'static)> = Some(&err);
    while let Some(e) = source {
        if let Some(refused) = e.downcast_ref::<Refused>() {
            return HookFailure::Blocked(refused.0.clone());
        }
        source = e.source();
    }
    if err.is_timeout() {
        return HookFailure::Timeout;
    }
    let err = err.without_url();
    // reqwest's own text is only "error sending request"; the causes say what went wrong.
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    HookFailure::Network(text)
}

/// Scrubs the URL's password from a failure's text, should any cause have quoted it.
fn redact(failure: HookFailure, password: Option<&str>) -> HookFailure {
    let Some(password) = password else { return failure };
    let scrub = |text: String| text.replace(password, "[REDACTED]");
    match failure {
        HookFailure::Blocked(t) => HookFailure::Blocked(scrub(t)),
        HookFailure::InvalidUrl(t) => HookFailure::InvalidUrl(scrub(t)),
        HookFailure::Network(t) => HookFailure::Network(scrub(t)),
        HookFailure::Timeout => HookFailure::Timeout,
    }
}
