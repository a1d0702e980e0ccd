//! Connection caps: how many connections are served at once, in all and per client address, and
//! the file-descriptor budget the global cap must fit in.
//!
//! The client address is the socket's peer address, never a header: headers are the client's to
//! choose. IPv6 clients are counted by their /64, the smallest block a provider hands out, or one
//! host could take a whole cap by rotating through its own addresses.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// `max_connections` connections are open.
    Total,
    /// `max_connections_per_address` connections are open from this client's address.
    PerAddress,
}

/// Counts of open connections; one per server.
pub(crate) struct ConnectionLimits {
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
pub(crate) struct Admission {
    limits: Arc<ConnectionLimits>,
    key: IpAddr,
}

impl ConnectionLimits {
    pub(crate) fn new(max_total: usize, max_per_address: usize) -> Arc<Self> {
        Arc::new(ConnectionLimits { max_total: max_total.max(1), max_per_address, open: Mutex::default() })
    }

    /// Admits a connection from `peer` if both caps allow it.
    pub(crate) fn try_admit(self: &Arc<Self>, peer: IpAddr) -> Result<Admission, Refusal> {
        let key = address_key(peer);
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
    pub(crate) fn counts(&self) -> (usize, usize) {
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

/// The key a peer is counted under: IPv4 (also IPv4-mapped IPv6) as is, IPv6 by its /64.
pub(crate) fn address_key(peer: IpAddr) -> IpAddr {
    match peer.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
        v4 => v4,
    }
}

/// The global cap that fits the open-file limit: half of the descriptors, the other half left
/// for the database, repository reads and the pipes of git children (three per git request).
pub(crate) fn fit_to_fd_limit(configured: usize, open_file_limit: Option<u64>) -> usize {
    match open_file_limit {
        Some(limit) => {
            let half = usize::try_from(limit / 2).unwrap_or(usize::MAX);
            configured.min(half).max(1)
        }
        None => configured.max(1),
    }
}

/// The soft `RLIMIT_NOFILE` of this process (what `accept` fails against with EMFILE).
pub(crate) fn open_file_limit() -> Option<u64> {
    use nix::sys::resource::{Resource, getrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, _hard)) if soft != nix::sys::resource::RLIM_INFINITY => Some(soft),
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(error = %e, "could not read the open-file limit; connections are capped by configuration only");
            None
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
        assert_eq!(address_key(ip("2001:db8:1:2:aaaa::1")), address_key(ip("2001:db8:1:2:ffff::9")));
        assert_ne!(address_key(ip("2001:db8:1:2::1")), address_key(ip("2001:db8:1:3::1")));
        assert_eq!(address_key(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
        let limits = ConnectionLimits::new(10, 1);
        let _held = limits.try_admit(ip("2001:db8::1")).expect("admitted");
        assert_eq!(limits.try_admit(ip("2001:db8::2")).err(), Some(Refusal::PerAddress), "same /64");
        let _v4 = limits.try_admit(ip("192.0.2.7")).expect("admitted");
        assert_eq!(limits.try_admit(ip("::ffff:192.0.2.7")).err(), Some(Refusal::PerAddress), "same host");
    }

    #[test]
    fn the_global_cap_fits_half_the_descriptors() {
        assert_eq!(fit_to_fd_limit(512, Some(1024)), 512);
        assert_eq!(fit_to_fd_limit(512, Some(512)), 256);
        assert_eq!(fit_to_fd_limit(5000, Some(20_000)), 5000);
        assert_eq!(fit_to_fd_limit(512, Some(1)), 1, "never zero");
        assert_eq!(fit_to_fd_limit(512, None), 512);
    }
}
