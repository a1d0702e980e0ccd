//! The SSH server's refusals before the handshake (connection caps reached, address locked),
//! logged at most once a second. The caps are `autogit_core::conn_caps`, shared with HTTP.

use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, Ordering};

#[derive(Default)]
pub(crate) struct RefusalLog {
    last_ms: AtomicI64,
}

impl RefusalLog {
    pub(crate) fn log(&self, ip: IpAddr, why: &str) {
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        let last = self.last_ms.load(Ordering::Relaxed);
        if now - last >= 1_000 && self.last_ms.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
        {
            tracing::warn!(peer = %ip, why, "ssh connection refused");
        }
    }
}
