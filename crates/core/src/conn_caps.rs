//! Connection caps of a server's listeners (HTTP, SSH): how many connections are open at once,
//! in all and per client address, with a guard that gives a place back when its connection ends.
//!
//! The client address is the socket's peer address, never a header: headers are the client's to
//! choose. IPv6 clients are counted by their /64 ([`address_block`]), the smallest block a
//! provider hands out, or one host could take a whole cap by rotating through its own addresses.
//! Pure: no I/O; the listeners decide what a refusal looks like on their wire.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `max_connections` connections are open.
    Total,
    /// `max_connections_per_address` connections are open from this client's address.
    PerAddress,
}

/// Counts of open connections; one per server.
pub struct ConnectionLimits {
    max_total: usize,
    /// 0 = no per-address cap.
    max_per_address: usize,
    open: Mutex<Open>,
}

#[derive(Default)]
struct Open {
    total: usize,
    /// Only addresses with at least one open connection, so its size is bounded by `total`.
    by_address: HashMap<IpAddr, usize>,
}

/// One admitted connection; dropping it gives its places back.
pub struct Admission {
    limits: Arc<ConnectionLimits>,
    key: IpAddr,
}

impl ConnectionLimits {
    pub fn new(max_total: usize, max_per_address: usize) -> Arc<Self> {
        Arc::new(ConnectionLimits { max_total: max_total.max(1), max_per_address, open: Mutex::default() })
    }

    /// Admits a connection from `peer` if both caps allow it.
    pub fn try_admit(self: &Arc<Self>, peer: IpAddr) -> Result<Admission, Refusal> {
        let key = address_block(peer);
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if open.total >= self.max_total {
            return Err(Refusal::Total);
        }
        let from_here = open.by_address.get(&key).copied().unwrap_or(0);
        if self.max_per_address > 0 && from_here >= self.max_per_address {
            return Err(Refusal::PerAddress);
        }
        open.total += 1;
        open.by_address.insert(key, from_here + 1);
        Ok(Admission { limits: self.clone(), key })
    }

    /// (open connections in all, distinct addresses with open connections).
    #[cfg(test)]
    pub fn counts(&self) -> (usize, usize) {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        (open.total, open.by_address.len())
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut open = self.limits.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.by_address.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.by_address.remove(&self.key);
            }
        }
    }
}

/// The block a client address is counted under: IPv4 (also IPv4-mapped IPv6) as is, IPv6 by
/// its /64. Password and key failures are counted per the same block.
pub fn address_block(peer: IpAddr) -> IpAddr {
    match peer.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn caps_count_per_address_and_in_all() {
        let limits = ConnectionLimits::new(4, 2);
        let a1 = limits.try_admit(ip("10.0.0.1")).expect("first");
        let a2 = limits.try_admit(ip("10.0.0.1")).expect("second");
        assert_eq!(limits.try_admit(ip("10.0.0.1")).err(), Some(Refusal::PerAddress));
        let b1 = limits.try_admit(ip("10.0.0.2")).expect("other address");
        let _b2 = limits.try_admit(ip("10.0.0.2")).expect("other address");
        assert_eq!(limits.try_admit(ip("10.0.0.3")).err(), Some(Refusal::Total), "global cap first");
        assert_eq!(limits.counts(), (4, 2));
        drop(a1);
        assert_eq!(limits.try_admit(ip("10.0.0.2")).err(), Some(Refusal::PerAddress));
        let a3 = limits.try_admit(ip("10.0.0.1")).expect("a place came back");
        drop((a2, a3, b1));
        assert_eq!(limits.counts(), (1, 1), "addresses without connections are forgotten");
    }

    #[test]
    fn no_per_address_cap_when_zero() {
        let limits = ConnectionLimits::new(3, 0);
        let held: Vec<_> = (0..3).map(|_| limits.try_admit(ip("10.0.0.1")).expect("admitted")).collect();
        assert_eq!(limits.try_admit(ip("10.0.0.1")).err(), Some(Refusal::Total));
        drop(held);
        assert_eq!(limits.counts(), (0, 0));
    }

    #[test]
    fn ipv6_counts_by_its_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(address_block(ip("2001:db8:1:2:aaaa::1")), address_block(ip("2001:db8:1:2:ffff::9")));
        assert_ne!(address_block(ip("2001:db8:1:2::1")), address_block(ip("2001:db8:1:3::1")));
        assert_eq!(address_block(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
        let limits = ConnectionLimits::new(10, 1);
        let _held = limits.try_admit(ip("2001:db8::1")).expect("admitted");
        assert_eq!(limits.try_admit(ip("2001:db8::2")).err(), Some(Refusal::PerAddress), "same /64");
        let _v4 = limits.try_admit(ip("192.0.2.7")).expect("admitted");
        assert_eq!(limits.try_admit(ip("::ffff:192.0.2.7")).err(), Some(Refusal::PerAddress), "same host");
    }
}
