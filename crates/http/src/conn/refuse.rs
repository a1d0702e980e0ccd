//! Refusing a connection over a cap: a fixed `503` written without reading the request, and a log
//! line rate-limited so that a flood of refusals does not become a flood of log lines.

use super::limits::Refusal;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// The bytes a refused client receives: a complete response, so that any HTTP client shows it.
pub(crate) fn response(why: Refusal) -> Vec<u8> {
    let body = match why {
        Refusal::PerAddress => "Too many connections from your address; try again later.\n",
        Refusal::Total => "The server has too many connections; try again later.\n",
    };
    format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nRetry-After: 10\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Answers and closes without waiting: the accept loop must never block on a refused client.
/// Only what fits the socket's empty send buffer is written (all of it, in practice); what the
/// client already sent is read and dropped first, so that closing sends a FIN after the answer
/// rather than a reset that could discard it.
pub(crate) fn refuse(stream: TcpStream, why: Refusal) {
    let Ok(stream) = stream.into_std() else { return };
    let mut scratch = [0u8; 4096];
    for _ in 0..16 {
        match (&stream).read(&mut scratch) {
            Ok(n) if n > 0 => continue,
            _ => break,
        }
    }
    let _ = std::io::Write::write(&mut (&stream), &response(why));
    let _ = stream.shutdown(std::net::Shutdown::Write);
}

/// Logs at most one line per `every`, counting the events it did not log.
pub(crate) struct RateLimitedLog {
    every: Duration,
    state: Mutex<LogState>,
}

#[derive(Default)]
struct LogState {
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimitedLog {
    pub(crate) fn new(every: Duration) -> Self {
        RateLimitedLog { every, state: Mutex::default() }
    }

    /// `Some(events not logged since the last line)` when a line is due at `now`.
    pub(crate) fn due(&self, now: Instant) -> Option<u64> {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match s.last {
            Some(last) if now.saturating_duration_since(last) < self.every => {
                s.suppressed += 1;
                None
            }
            _ => {
                s.last = Some(now);
                Some(std::mem::take(&mut s.suppressed))
            }
        }
    }
}

pub(crate) fn log_refusal(log: &RateLimitedLog, peer: SocketAddr, why: Refusal, max_total: usize, max_per: usize) {
    if let Some(suppressed) = log.due(Instant::now()) {
        let (cap, limit) = match why {
            Refusal::Total => ("http.max_connections", max_total),
            Refusal::PerAddress => ("http.max_connections_per_address", max_per),
        };
        tracing::warn!(
            peer = %peer.ip(),
            cap,
            limit,
            refused_since_last_line = suppressed,
            "connection refused with 503: too many connections"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_complete_http() {
        for why in [Refusal::Total, Refusal::PerAddress] {
            let bytes = response(why);
            let text = std::str::from_utf8(&bytes).expect("ascii");
            let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
            assert!(head.starts_with("HTTP/1.1 503 "), "{head}");
            assert!(head.contains("\r\nConnection: close"), "{head}");
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .and_then(|n| n.parse().ok())
                .expect("length");
            assert_eq!(len, body.len(), "Content-Length matches for {why:?}");
        }
    }

    #[test]
    fn the_log_is_rate_limited_and_counts_what_it_skipped() {
        let log = RateLimitedLog::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(log.due(t0), Some(0));
        for i in 1..=1000 {
            assert_eq!(log.due(t0 + Duration::from_millis(i)), None);
        }
        assert_eq!(log.due(t0 + Duration::from_secs(10)), Some(1000));
        assert_eq!(log.due(t0 + Duration::from_secs(11)), None);
    }
}
