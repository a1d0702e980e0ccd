//! Webhooks, the pure parts: which addresses an outgoing hook request may connect to (GitLab's
//! "local requests" switches and allowlist), and a hook's health after a delivery (GitLab's
//! auto-disabling back-off). The delivery adapter asks [`check_address`] for every address a
//! host resolves to, at connect time, so a name that later resolves elsewhere (DNS rebinding) is
//! checked again.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Cloud metadata services: refused even when local requests are allowed, unless allowlisted.
const METADATA: [IpAddr; 2] =
    [IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)), IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254))];

/// One entry of `outbound_local_requests_allowlist`: an address, a CIDR block or a host name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowEntry {
    Net { addr: IpAddr, prefix: u8 },
    Host(String),
}

impl AllowEntry {
    /// `10.0.0.5`, `192.168.0.0/16`, `fd00::/8`, `hooks.lan`; `None` for anything else.
    pub fn parse(text: &str) -> Option<AllowEntry> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p.parse::<u8>().ok()?)),
            None => (text, None),
        };
        if let Ok(addr) = addr.parse::<IpAddr>() {
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let prefix = prefix.unwrap_or(max);
            return (prefix <= max).then_some(AllowEntry::Net { addr, prefix });
        }
        let host_ok = prefix.is_none()
            && !text.is_empty()
            && text.len() <= 253
            && text
                .split('.')
                .all(|l| !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
        host_ok.then(|| AllowEntry::Host(text.to_ascii_lowercase()))
    }

    fn allows(&self, host: &str, ip: IpAddr) -> bool {
        match self {
            AllowEntry::Host(h) => host.eq_ignore_ascii_case(h),
            AllowEntry::Net { addr, prefix } => in_net(ip, *addr, *prefix),
        }
    }
}

fn in_net(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix)) };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(prefix)) };
            u128::from(a) & mask == u128::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V4(_)) => a.to_ipv4_mapped().is_some_and(|v4| in_net(IpAddr::V4(v4), net, prefix)),
        _ => false,
    }
}

/// Where hook requests may go: GitLab's `allow_local_requests_from_web_hooks_and_services`
/// (or `…_from_system_hooks` for system hooks) and `outbound_local_requests_allowlist`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboundPolicy {
    pub allow_local: bool,
    pub allowlist: Vec<AllowEntry>,
}

/// What kind of local address a request was refused for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalKind {
    Loopback,
    Private,
    LinkLocal,
    Metadata,
    Unspecified,
    Multicast,
    Shared,
}

impl LocalKind {
    fn words(self) -> &'static str {
        match self {
            LocalKind::Loopback => "a loopback address",
            LocalKind::Private => "a private network address",
            LocalKind::LinkLocal => "a link-local address",
            LocalKind::Metadata => "a cloud metadata address",
            LocalKind::Unspecified => "an unspecified address",
            LocalKind::Multicast => "a multicast or broadcast address",
            LocalKind::Shared => "a shared (carrier-grade NAT) address",
        }
    }
}

/// Why a hook request may not connect to an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Requests to {kind_words} are not allowed ({host} resolves to {ip})")]
pub struct Blocked {
    pub host: String,
    pub ip: IpAddr,
    pub kind: LocalKind,
    kind_words: &'static str,
}

/// The local kind of an address, `None` for a public one. IPv4-mapped IPv6 addresses are judged
/// as the IPv4 address they carry.
pub fn local_kind(ip: IpAddr) -> Option<LocalKind> {
    if METADATA.contains(&ip) {
        return Some(LocalKind::Metadata);
    }
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            if v4.is_loopback() {
                Some(LocalKind::Loopback)
            } else if v4.is_private() {
                Some(LocalKind::Private)
            } else if v4.is_link_local() {
                Some(LocalKind::LinkLocal)
            } else if v4.is_unspecified() || a == 0 {
                Some(LocalKind::Unspecified)
            } else if v4.is_multicast() || v4.is_broadcast() || a >= 240 {
                Some(LocalKind::Multicast)
            } else if a == 100 && (64..128).contains(&b) {
                Some(LocalKind::Shared)
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return local_kind(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            if v6.is_loopback() {
                Some(LocalKind::Loopback)
            } else if v6.is_unspecified() {
                Some(LocalKind::Unspecified)
            } else if first & 0xfe00 == 0xfc00 {
                Some(LocalKind::Private)
            } else if first & 0xffc0 == 0xfe80 {
                Some(LocalKind::LinkLocal)
            } else if v6.is_multicast() {
                Some(LocalKind::Multicast)
            } else {
                None
            }
        }
    }
}

/// May a hook request for `host` connect to `ip`? Public addresses always; local ones when the
/// policy allows local requests (cloud metadata never, then) or the allowlist names the host or
/// a block holding the address.
pub fn check_address(host: &str, ip: IpAddr, policy: &OutboundPolicy) -> Result<(), Blocked> {
    let Some(kind) = local_kind(ip) else { return Ok(()) };
    if policy.allowlist.iter().any(|e| e.allows(host, ip)) {
        return Ok(());
    }
    if policy.allow_local && kind != LocalKind::Metadata {
        return Ok(());
    }
    Err(Blocked { host: host.to_string(), ip, kind, kind_words: kind.words() })
}

/// A hook's health, GitLab's auto-disabling (`WebHooks::AutoDisabling`): failures in a row;
/// from the fourth, the hook rests for 1 minute × 2^(failures − 3), at most a day; after the
/// fortieth it is disabled until someone re-enables it. A success resets it.
///
/// GitLab drops the events of a resting hook; AutoGit keeps them in order and retries the first,
/// so its first three failures also pause the hook briefly (a sixtieth of the unit, at least a
/// second) instead of retrying the same delivery at once. The unit is a parameter (GitLab's is
/// 60 seconds) so tests can run the schedule fast.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HookHealth {
    pub recent_failures: u32,
    /// Unix seconds until which the hook is not called.
    pub disabled_until: Option<i64>,
    pub permanently_disabled: bool,
}

/// Failures in a row after which the hook rests.
pub const FAILURE_THRESHOLD: u32 = 3;
/// Failures in a row after which the hook stays disabled.
pub const EXCEEDED_FAILURE_THRESHOLD: u32 = 40;
/// A rest of the hook, in units, at most (a day of minutes).
const MAX_BACKOFF_UNITS: i64 = 24 * 60;

impl HookHealth {
    /// After a delivery at `now` (Unix seconds) that succeeded or not; `unit` is the rest's unit
    /// in seconds (GitLab: 60).
    pub fn after(self, success: bool, now: i64, unit: i64) -> HookHealth {
        if success {
            return HookHealth::default();
        }
        let unit = unit.max(1);
        let failures = self.recent_failures.saturating_add(1);
        if failures >= EXCEEDED_FAILURE_THRESHOLD {
            return HookHealth { recent_failures: failures, disabled_until: None, permanently_disabled: true };
        }
        let rest = if failures > FAILURE_THRESHOLD {
            let exp = (failures - FAILURE_THRESHOLD).min(20);
            (1i64 << exp).min(MAX_BACKOFF_UNITS) * unit
        } else {
            (unit / 60).max(1)
        };
        HookHealth { recent_failures: failures, disabled_until: Some(now + rest), permanently_disabled: false }
    }

    /// Whether the hook is called at `now`.
    pub fn executable(self, now: i64) -> bool {
        !self.permanently_disabled && self.disabled_until.is_none_or(|t| t <= now)
    }

    /// GitLab's `alert_status`: `executable`, `temporarily_disabled` (resting after its fourth
    /// failure or later) or `disabled`.
    pub fn alert_status(self, now: i64) -> &'static str {
        if self.permanently_disabled {
            "disabled"
        } else if self.recent_failures > FAILURE_THRESHOLD && !self.executable(now) {
            "temporarily_disabled"
        } else {
            "executable"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn local_addresses_are_refused_unless_allowed() {
        let refuse = OutboundPolicy::default();
        for (addr, kind) in [
            ("127.0.0.1", LocalKind::Loopback),
            ("127.8.9.10", LocalKind::Loopback),
            ("::1", LocalKind::Loopback),
            ("::ffff:127.0.0.1", LocalKind::Loopback),
            ("10.1.2.3", LocalKind::Private),
            ("172.16.0.1", LocalKind::Private),
            ("192.168.1.10", LocalKind::Private),
            ("fd12::1", LocalKind::Private),
            ("169.254.1.1", LocalKind::LinkLocal),
            ("fe80::1", LocalKind::LinkLocal),
            ("169.254.169.254", LocalKind::Metadata),
            ("fd00:ec2::254", LocalKind::Metadata),
            ("0.0.0.0", LocalKind::Unspecified),
            ("0.1.2.3", LocalKind::Unspecified),
            ("::", LocalKind::Unspecified),
            ("224.0.0.1", LocalKind::Multicast),
            ("255.255.255.255", LocalKind::Multicast),
            ("100.64.0.1", LocalKind::Shared),
        ] {
            let e = check_address("h", ip(addr), &refuse).expect_err(addr);
            assert_eq!(e.kind, kind, "{addr}");
        }
        for public in ["93.184.216.34", "1.1.1.1", "2606:4700::1111", "100.128.0.1", "172.32.0.1"] {
            assert_eq!(check_address("h", ip(public), &refuse), Ok(()), "{public}");
        }
        let local = OutboundPolicy { allow_local: true, allowlist: Vec::new() };
        assert_eq!(check_address("h", ip("127.0.0.1"), &local), Ok(()));
        assert_eq!(check_address("h", ip("10.0.0.1"), &local), Ok(()));
        assert!(check_address("h", ip("169.254.169.254"), &local).is_err(), "metadata stays refused");
    }

    #[test]
    fn the_allowlist_opens_hosts_addresses_and_blocks() {
        let entries = ["192.168.0.0/16", "10.0.0.5", "hooks.lan", "169.254.169.254", "fd00::/8"];
        let policy = OutboundPolicy {
            allow_local: false,
            allowlist: entries.iter().map(|e| AllowEntry::parse(e).expect(e)).collect(),
        };
        for (host, addr) in [("x", "192.168.7.7"), ("x", "10.0.0.5"), ("HOOKS.lan", "127.0.0.1"), ("x", "fd00::9")] {
            assert_eq!(check_address(host, ip(addr), &policy), Ok(()), "{host} {addr}");
        }
        assert_eq!(check_address("x", ip("169.254.169.254"), &policy), Ok(()), "named explicitly");
        for (host, addr) in [("x", "10.0.0.6"), ("other.lan", "127.0.0.1"), ("x", "172.16.0.1")] {
            assert!(check_address(host, ip(addr), &policy).is_err(), "{host} {addr}");
        }
        for bad in ["", "10.0.0.0/33", "::/129", "a b", "x/8", "-/1", "a..b"] {
            assert_eq!(AllowEntry::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_message_names_the_host_and_address() {
        let e = check_address("evil.example", ip("169.254.169.254"), &OutboundPolicy::default()).expect_err("refused");
        assert_eq!(
            e.to_string(),
            "Requests to a cloud metadata address are not allowed (evil.example resolves to 169.254.169.254)"
        );
    }

    #[test]
    fn hooks_rest_from_the_fourth_failure_and_stop_at_the_fortieth() {
        let now = 1_000_000;
        let mut h = HookHealth::default();
        for n in 1..=3 {
            h = h.after(false, now, 60);
            assert_eq!((h.recent_failures, h.disabled_until), (n, Some(now + 1)), "a one-second pause");
            assert_eq!(h.alert_status(now), "executable", "not resting before the fourth");
            assert!(h.executable(now + 1));
        }
        h = h.after(false, now, 60);
        assert_eq!(h.disabled_until, Some(now + 120), "1 min × 2^(4 − 3)");
        assert_eq!(h.alert_status(now), "temporarily_disabled");
        assert_eq!(h.alert_status(now + 120), "executable");
        h = h.after(false, now, 60);
        assert_eq!(h.disabled_until, Some(now + 240));
        for _ in 6..EXCEEDED_FAILURE_THRESHOLD {
            h = h.after(false, now, 60);
            assert!(h.disabled_until.is_some_and(|t| t <= now + 24 * 3600), "at most a day");
        }
        h = h.after(false, now, 60);
        assert!(h.permanently_disabled && !h.executable(i64::MAX));
        assert_eq!(h.alert_status(now), "disabled");
        assert_eq!(h.after(true, now, 60), HookHealth::default(), "a success resets it");
        let fast = HookHealth { recent_failures: 4, ..HookHealth::default() }.after(false, now, 1);
        assert_eq!(fast.disabled_until, Some(now + 4), "a one-second unit: 2^(5 − 3) seconds");
    }
}
