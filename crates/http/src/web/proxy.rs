//! Sign-in by a forward-auth proxy (Authelia behind Traefik): on browser routes only, a request
//! from a trusted proxy's address that carries the configured user header signs the browser in
//! (app `sso`: account, admin rights and group memberships at every sign-in) and sets the
//! session cookie; later requests of the same user ride on that session. Identity headers from
//! any other address are dropped and logged, never believed; `X-Forwarded-For` plays no part.

use super::{SESSION_COOKIE, cookie, set_cookie};
use crate::metrics_access::Network;
use crate::state::AppState;
use autogit_app::{Principal, SsoIdentity};
use autogit_core::log_throttle::LogThrottle;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::IpAddr;

/// What the HTTP layer needs of `[auth.proxy]`.
#[derive(Debug, Clone)]
pub struct ProxyAuth {
    /// Trusted proxies' networks: (address, prefix length).
    pub trusted: Vec<(IpAddr, u8)>,
    pub user_header: HeaderName,
    pub groups_header: HeaderName,
    pub email_header: HeaderName,
    pub name_header: HeaderName,
}

/// The longest identity header value believed; longer ones are refused.
const MAX_VALUE: usize = 1024;
/// The most groups taken from the groups header.
const MAX_GROUPS: usize = 256;

/// A browser signed in by the proxy for this request (read by the `Browser` extractor).
#[derive(Clone)]
pub(crate) struct ProxySession {
    pub who: Principal,
    pub secret: String,
}

impl ProxyAuth {
    /// `headers`: the user, groups, email and name headers' names.
    pub fn new(trusted: Vec<(IpAddr, u8)>, headers: [&str; 4]) -> Result<ProxyAuth, String> {
        let name = |n: &str| HeaderName::from_bytes(n.as_bytes()).map_err(|_| format!("{n:?} is not a header name"));
        Ok(ProxyAuth {
            trusted,
            user_header: name(headers[0])?,
            groups_header: name(headers[1])?,
            email_header: name(headers[2])?,
            name_header: name(headers[3])?,
        })
    }

    fn trusts(&self, peer: IpAddr) -> bool {
        let peer = peer.to_canonical();
        self.trusted.iter().any(|(net, prefix)| Network::new(*net, *prefix).contains(peer))
    }

    fn headers(&self) -> [&HeaderName; 4] {
        [&self.user_header, &self.groups_header, &self.email_header, &self.name_header]
    }
}

static UNTRUSTED_LOG: LogThrottle = LogThrottle::new();

pub(crate) async fn sign_in_by_proxy(State(s): State<AppState>, mut req: Request, next: Next) -> Response {
    let Some(cfg) = &s.config.proxy_auth else { return next.run(req).await };
    let peer = crate::conn::peer_ip(req.extensions());
    let trusted = peer.is_some_and(|p| cfg.trusts(p));
    if !trusted {
        if cfg.headers().iter().any(|h| req.headers().contains_key(*h)) {
            log_untrusted(peer);
            for h in cfg.headers() {
                req.headers_mut().remove(h);
            }
        }
        return next.run(req).await;
    }
    let Some(identity) = identity(cfg, req.headers()) else { return next.run(req).await };
    let identity = match identity {
        Ok(id) => id,
        Err(why) => return super::Page::error(autogit_app::AppError::Invalid("identity", why.into())).into_response(),
    };
    let peer = peer.unwrap_or(IpAddr::from([0, 0, 0, 0]));
    // The browser's own session, when it belongs to the user the proxy names.
    if let Some(secret) = cookie(req.headers(), SESSION_COOKIE).map(str::to_string)
        && let Ok(Some(who)) = s.app.system().session_principal(&secret, peer).await
        && who.user.as_ref().is_some_and(|u| u.username.eq_ignore_ascii_case(&identity.username))
    {
        req.extensions_mut().insert(ProxySession { who, secret });
        return next.run(req).await;
    }
    let user_agent = req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    match s.app.system().sso_sign_in(identity, peer, &user_agent).await {
        Ok((who, issued)) => {
            let secure = s.config.external_url.starts_with("https://");
            let cookie = set_cookie(SESSION_COOKIE, Some(&issued.secret), secure);
            req.extensions_mut().insert(ProxySession { who, secret: issued.secret });
            let mut res = next.run(req).await;
            res.headers_mut().append(header::SET_COOKIE, cookie);
            res
        }
        Err(e) => super::Page::error(e).into_response(),
    }
}

/// The identity in the headers: `None` without a user header (a path the proxy lets through
/// unauthenticated), an error for a malformed one.
fn identity(cfg: &ProxyAuth, h: &HeaderMap) -> Option<Result<SsoIdentity, &'static str>> {
    let text = |name: &HeaderName| -> Result<Option<String>, &'static str> {
        match h.get(name) {
            None => Ok(None),
            Some(v) if v.len() > MAX_VALUE => Err("an identity header is too long"),
            Some(v) => {
                let s = v.to_str().map_err(|_| "an identity header is not text")?.trim();
                Ok(Some(s.to_string()).filter(|s| !s.is_empty()))
            }
        }
    };
    let read = || -> Result<Option<SsoIdentity>, &'static str> {
        let Some(username) = text(&cfg.user_header)? else { return Ok(None) };
        let groups: Vec<String> = text(&cfg.groups_header)?
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .take(MAX_GROUPS)
            .map(str::to_string)
            .collect();
        Ok(Some(SsoIdentity { username, email: text(&cfg.email_header)?, name: text(&cfg.name_header)?, groups }))
    };
    read().transpose()
}

fn log_untrusted(peer: Option<IpAddr>) {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    if let Some(skipped) = UNTRUSTED_LOG.admit(now) {
        tracing::warn!(?peer, skipped, "identity headers from an address that is not a trusted proxy: ignored");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> ProxyAuth {
        ProxyAuth {
            trusted: vec![("10.0.0.0".parse().expect("ip"), 8), ("::1".parse().expect("ip"), 128)],
            user_header: HeaderName::from_static("remote-user"),
            groups_header: HeaderName::from_static("remote-groups"),
            email_header: HeaderName::from_static("remote-email"),
            name_header: HeaderName::from_static("remote-name"),
        }
    }

    #[test]
    fn only_the_peer_address_decides_trust() {
        let c = cfg();
        assert!(c.trusts("10.1.2.3".parse().expect("ip")));
        assert!(c.trusts("::ffff:10.1.2.3".parse().expect("ip")), "IPv4-mapped addresses are canonicalised");
        assert!(!c.trusts("11.0.0.1".parse().expect("ip")));
        assert!(c.trusts("::1".parse().expect("ip")));
    }

    #[test]
    fn identities_are_read_as_authelia_sends_them() {
        let c = cfg();
        let mut h = HeaderMap::new();
        assert!(identity(&c, &h).is_none(), "no user header: no identity");
        h.insert("remote-user", "alice".parse().expect("v"));
        h.insert("remote-groups", "admins, dev,,".parse().expect("v"));
        h.insert("remote-email", "".parse().expect("v"));
        let id = identity(&c, &h).expect("some").expect("ok");
        assert_eq!(
            (id.username.as_str(), id.groups.clone(), id.email.clone()),
            ("alice", vec!["admins".into(), "dev".into()], None)
        );
        h.insert("remote-user", "x".repeat(2000).parse().expect("v"));
        assert!(identity(&c, &h).expect("some").is_err(), "too long");
    }
}
