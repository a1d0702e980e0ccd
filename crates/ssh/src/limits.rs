//! Connection caps of the SSH server: in all and per client address (IPv6 by /64), each slot
//! given back when its connection ends; refusals logged at most once a second.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

pub(crate) struct Limits {
    max: usize,
    per_address: usize,
    open: Mutex<Open>,
    last_log_ms: AtomicI64,
}

#[derive(Default)]
struct Open {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

/// One admitted connection; dropping it frees its place.
pub(crate) struct Slot {
    limits: Arc<Limits>,
    key: IpAddr,
}

/// The address a cap counts: IPv4 as is, IPv6 by its /64.
fn block(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(a) => {
            let mut s = a.segments();
            s[4..].fill(0);
            IpAddr::V6(s.into())
        }
        v4 => v4,
    }
}

impl Limits {
    pub(crate) fn new(max: usize, per_address: usize) -> Limits {
        Limits { max, per_address, open: Mutex::default(), last_log_ms: AtomicI64::new(0) }
    }

    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let key = block(ip);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let mine = open.by_address.get(&key).copied().unwrap_or(0);
        if open.total >= self.max || (self.per_address > 0 && mine >= self.per_address) {
            return None;
        }
        open.total += 1;
        open.by_address.insert(key, mine + 1);
        Some(Slot { limits: self.clone(), key })
    }

    pub(crate) fn log_refusal(&self, ip: IpAddr, why: &str) {
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        let last = self.last_log_ms.load(Ordering::Relaxed);
        if now - last >= 1_000
            && self.last_log_ms.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
        {
            tracing::warn!(peer = %ip, why, "ssh connection refused");
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.limits.open.lock().unwrap_or_else(|e| e.into_inner());
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.by_address.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.by_address.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_in_all_and_per_address_free_on_drop() {
        let l = Arc::new(Limits::new(3, 2));
        let a: IpAddr = "10.0.0.1".parse().expect("ip");
        let b: IpAddr = "10.0.0.2".parse().expect("ip");
        let (s1, s2) = (l.admit(a).expect("first"), l.admit(a).expect("second"));
        assert!(l.admit(a).is_none(), "per-address cap");
        let s3 = l.admit(b).expect("other address");
        assert!(l.admit("10.0.0.3".parse().expect("ip")).is_none(), "total cap");
        drop(s1);
        assert!(l.admit(a).is_some(), "a dropped slot frees its place");
        drop((s2, s3));
    }

    #[test]
    fn ipv6_counts_by_64() {
        let l = Arc::new(Limits::new(10, 1));
        let _s = l.admit("2001:db8:1:2::1".parse().expect("ip")).expect("first");
        assert!(l.admit("2001:db8:1:2:ffff::9".parse().expect("ip")).is_none(), "same /64");
        assert!(l.admit("2001:db8:1:3::1".parse().expect("ip")).is_some(), "another /64");
    }
}
