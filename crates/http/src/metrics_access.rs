//! Who may read `/metrics`: clients whose socket address is in an allowed network, or that
//! present the metrics token (`Authorization: Bearer …` or `?token=…`). As in GitLab, everyone
//! else gets the same 404 as an unknown path. A forwarded-for header is never consulted: any
//! client can write one.

use axum::http::{HeaderMap, header};
use sha2::{Digest, Sha256};
use std::fmt;
use std::net::IpAddr;
use subtle::ConstantTimeEq;

/// An address block: the network's bits and how many of them count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    bits: u128,
    prefix: u8,
    v4: bool,
}

impl Network {
    /// `prefix` is clamped to the address's width; host bits below it are ignored.
    pub fn new(addr: IpAddr, prefix: u8) -> Self {
        let (bits, width, v4, prefix) = match (addr, addr.to_canonical()) {
            // ::ffff:a.b.c.d/104 is a.b.c.d/8: the mapping takes the top 96 bits.
            (IpAddr::V6(_), IpAddr::V4(a)) => (u128::from(u32::from(a)), 32, true, prefix.saturating_sub(96)),
            (_, IpAddr::V4(a)) => (u128::from(u32::from(a)), 32, true, prefix),
            (_, IpAddr::V6(a)) => (u128::from(a), 128, false, prefix),
        };
        let prefix = prefix.min(width);
        Network { bits: bits & mask(prefix, width), prefix, v4 }
    }

    pub fn contains(&self, addr: IpAddr) -> bool {
        let (bits, width, v4) = match addr.to_canonical() {
            IpAddr::V4(a) => (u128::from(u32::from(a)), 32, true),
            IpAddr::V6(a) => (u128::from(a), 128, false),
        };
        v4 == self.v4 && bits & mask(self.prefix, width) == self.bits
    }
}

/// The top `prefix` bits of a `width`-bit address.
fn mask(prefix: u8, width: u8) -> u128 {
    if prefix == 0 {
        return 0;
    }
    let all = if width == 128 { u128::MAX } else { (1u128 << width) - 1 };
    all & !((1u128 << (width - prefix)) - 1)
}

/// The `/metrics` allow list and token.
#[derive(Clone, Default)]
pub struct MetricsAccess {
    allowed: Vec<Network>,
    /// SHA-256 of the token: comparing fixed-size digests in constant time leaks neither the
    /// token's bytes nor its length.
    token_digest: Option<[u8; 32]>,
}

impl fmt::Debug for MetricsAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsAccess")
            .field("allowed", &self.allowed)
            .field("token", &if self.token_digest.is_some() { "[redacted]" } else { "none" })
            .finish()
    }
}

impl MetricsAccess {
    /// `token` empty: no token is accepted.
    pub fn new(allowed: &[(IpAddr, u8)], token: &str) -> Self {
        MetricsAccess {
            allowed: allowed.iter().map(|(a, p)| Network::new(*a, *p)).collect(),
            token_digest: (!token.is_empty()).then(|| digest(token)),
        }
    }

    /// Whether a request from `peer` (unknown: only a token can allow it) may read the metrics.
    pub fn permits(&self, peer: Option<IpAddr>, headers: &HeaderMap, query: Option<&str>) -> bool {
        if peer.is_some_and(|ip| self.allowed.iter().any(|n| n.contains(ip))) {
            return true;
        }
        let Some(want) = &self.token_digest else { return false };
        presented_tokens(headers, query).any(|t| bool::from(digest(&t).ct_eq(want)))
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Every token the request offers: the bearer token and each `token=` query parameter.
fn presented_tokens<'a>(headers: &'a HeaderMap, query: Option<&'a str>) -> impl Iterator<Item = String> + 'a {
    let bearer = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.strip_prefix("Bearer ").map(|t| t.trim().to_string()));
    let in_query = query
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.strip_prefix("token="))
        .map(|t| percent_encoding::percent_decode_str(&t.replace('+', " ")).decode_utf8_lossy().into_owned());
    bearer.chain(in_query).take(4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn net(s: &str, prefix: u8) -> Network {
        Network::new(ip(s), prefix)
    }

    #[test]
    fn networks_match_by_prefix() {
        assert!(net("127.0.0.0", 8).contains(ip("127.255.0.2")));
        assert!(!net("127.0.0.0", 8).contains(ip("128.0.0.1")));
        assert!(net("10.1.2.3", 8).contains(ip("10.200.0.1")), "host bits are ignored");
        assert!(net("192.168.1.5", 32).contains(ip("192.168.1.5")));
        assert!(!net("192.168.1.5", 32).contains(ip("192.168.1.6")));
        assert!(net("0.0.0.0", 0).contains(ip("203.0.113.9")));
        assert!(!net("0.0.0.0", 0).contains(ip("2001:db8::1")), "an IPv4 network holds no IPv6 address");
        assert!(net("::1", 128).contains(ip("::1")));
        assert!(!net("::1", 128).contains(ip("::2")));
        assert!(net("2001:db8::", 32).contains(ip("2001:db8:ffff::1")));
        assert!(!net("2001:db8::", 32).contains(ip("2001:db9::1")));
        assert!(net("::", 0).contains(ip("2001:db8::1")));
        assert!(!net("::", 0).contains(ip("127.0.0.1")));
    }

    #[test]
    fn ipv4_mapped_clients_match_ipv4_networks() {
        // A server listening on [::] sees IPv4 clients as ::ffff:a.b.c.d.
        assert!(net("127.0.0.0", 8).contains(ip("::ffff:127.0.0.1")));
        assert!(!net("127.0.0.0", 8).contains(ip("::ffff:10.0.0.1")));
        assert!(net("::ffff:10.0.0.0", 104).contains(ip("10.0.0.1")), "a mapped network is an IPv4 one");
        assert!(!net("::ffff:10.0.0.0", 104).contains(ip("11.0.0.1")));
    }

    #[test]
    fn address_or_token() {
        let access = MetricsAccess::new(&[(ip("127.0.0.0"), 8)], "the-metrics-token-0123");
        let none = HeaderMap::new();
        assert!(access.permits(Some(ip("127.0.0.1")), &none, None));
        assert!(!access.permits(Some(ip("10.0.0.1")), &none, None));
        assert!(!access.permits(None, &none, None), "an unknown peer needs the token");
        let mut bearer = HeaderMap::new();
        bearer.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer the-metrics-token-0123"));
        assert!(access.permits(Some(ip("10.0.0.1")), &bearer, None));
        assert!(access.permits(None, &none, Some("a=1&token=the-metrics-token-0123")));
        assert!(access.permits(None, &none, Some("token=the%2Dmetrics-token-0123")), "percent-decoded");
        let mut wrong = HeaderMap::new();
        wrong.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer the-metrics-token-012"));
        assert!(!access.permits(Some(ip("10.0.0.1")), &wrong, None));
        assert!(!access.permits(None, &none, Some("token=the-metrics-token-01234")));
        assert!(!access.permits(None, &none, Some("token=")));
        let mut basic = HeaderMap::new();
        basic.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic the-metrics-token-0123"));
        assert!(!access.permits(None, &basic, None), "only Bearer carries the token");
    }

    #[test]
    fn no_token_configured_accepts_none() {
        let access = MetricsAccess::new(&[], "");
        assert!(!access.permits(Some(ip("127.0.0.1")), &HeaderMap::new(), Some("token=")));
        let mut empty = HeaderMap::new();
        empty.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert!(!access.permits(None, &empty, None));
        assert!(!format!("{access:?}").contains("redacted"));
        let with = MetricsAccess::new(&[], "the-metrics-token-0123");
        assert!(!format!("{with:?}").contains("the-metrics"), "{with:?}");
    }
}
