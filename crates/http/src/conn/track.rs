//! What one connection is doing, for its time limits: idle (no request in flight), receiving the
//! head of a new request, or serving requests.
//!
//! hyper's own `header_read_timeout` is not used: it starts when the connection becomes idle,
//! not at the request's first byte, so it would also be the keep-alive timeout and the two
//! limits could not differ. Here a request is in flight from the moment hyper hands it to the
//! router until its response body has been given to hyper whole (or dropped), which covers a
//! held `jobs/request` and a streaming clone or push however quiet or long they are. A response
//! hyper still holds because the client does not read counts as in flight too: closing then
//! would cut the response's end.
//!
//! A request in flight is never cut for its length, only for a stalled client: when a handler
//! waits for request body bytes that do not come, or a response write waits for a client that
//! does not read, for longer than the idle timeout (nginx's `client_body_timeout` and
//! `send_timeout`). Otherwise a client that sends a head and then nothing would hold its
//! connection, and its place under the caps, for ever.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

/// The two time limits of a connection without a request in flight.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    /// From the first byte of a request to its complete head.
    pub header_read: Duration,
    /// With no request in flight and none begun; also the longest a request in flight may wait
    /// for the client (body bytes it does not send, response bytes it does not take).
    pub idle: Duration,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Phase {
    in_flight: usize,
    /// Since when the writes find the socket full: hyper holds response bytes the client has not
    /// taken.
    write_blocked: Option<Instant>,
    /// Since when a handler waits for request body bytes the client has not sent.
    body_wait: Option<Instant>,
    /// When the connection last had no request in flight (accepted, or a response finished).
    idle_since: Instant,
    /// When the first byte after `idle_since` arrived: a request head is being received.
    head_since: Option<Instant>,
}

impl Phase {
    pub(crate) fn new(now: Instant) -> Self {
        Phase { in_flight: 0, write_blocked: None, body_wait: None, idle_since: now, head_since: None }
    }

    /// When the connection must be closed if nothing changes; for a request in flight, only when
    /// it waits for a stalled client. While the server shuts down (since, grace), a request head
    /// gets at most `grace` more.
    pub(crate) fn deadline(&self, t: Timeouts, shutdown_since: Option<(Instant, Duration)>) -> Option<Instant> {
        if self.in_flight > 0 || self.write_blocked.is_some() {
            let stalled = match (self.write_blocked, self.body_wait) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            return stalled.map(|since| since + t.idle);
        }
        let normal = match self.head_since {
            Some(since) => since + t.header_read,
            None => self.idle_since + t.idle,
        };
        // hyper's graceful shutdown closes idle connections itself, once the last response is
        // flushed; a request head that began is what it would wait for.
        Some(match (shutdown_since, self.head_since) {
            (Some((since, grace)), Some(head)) => normal.min(since.max(head) + grace),
            _ => normal,
        })
    }

    fn started(&mut self) {
        self.in_flight += 1;
        self.head_since = None;
    }

    /// Returns whether the connection became idle.
    fn finished(&mut self, now: Instant) -> bool {
        self.in_flight = self.in_flight.saturating_sub(1);
        if self.in_flight == 0 {
            self.idle_since = now;
            self.head_since = None;
            self.body_wait = None;
            return self.write_blocked.is_none();
        }
        false
    }

    /// Returns whether a stall began (the deadline may have moved earlier).
    fn body_waiting(&mut self, waiting: bool, now: Instant) -> bool {
        match (waiting, self.body_wait) {
            (true, None) => {
                self.body_wait = Some(now);
                true
            }
            (false, _) => {
                self.body_wait = None;
                false
            }
            (true, Some(_)) => false,
        }
    }

    /// Returns whether the connection became idle (its last response bytes were taken).
    /// (Also when a stall began: the deadline may have moved earlier.)
    fn write_blocked(&mut self, blocked: bool, now: Instant) -> bool {
        let was = self.write_blocked.is_some();
        self.write_blocked = match (blocked, self.write_blocked) {
            (true, Some(since)) => Some(since),
            (true, None) => Some(now),
            (false, _) => None,
        };
        if was && !blocked && self.in_flight == 0 {
            self.idle_since = now;
            return true;
        }
        blocked && !was
    }

    /// Returns whether a request head began with these bytes.
    fn received(&mut self, now: Instant) -> bool {
        if self.in_flight == 0 && self.head_since.is_none() {
            self.head_since = Some(now);
            return true;
        }
        false
    }
}

/// Shared between the connection's task, its socket and its requests.
pub(crate) struct ConnTrack {
    phase: Mutex<Phase>,
    /// Wakes the connection's task when its deadline may have moved earlier.
    changed: Notify,
}

impl ConnTrack {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(ConnTrack { phase: Mutex::new(Phase::new(Instant::now())), changed: Notify::new() })
    }

    pub(crate) fn phase(&self) -> Phase {
        *self.phase.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) async fn changed(&self) {
        self.changed.notified().await;
    }

    /// Marks a request in flight until the returned guard is dropped.
    pub(crate) fn request(self: &Arc<Self>) -> InFlight {
        self.phase.lock().unwrap_or_else(PoisonError::into_inner).started();
        InFlight(self.clone())
    }

    fn write_blocked(&self, blocked: bool) {
        if self.phase.lock().unwrap_or_else(PoisonError::into_inner).write_blocked(blocked, Instant::now()) {
            self.changed.notify_one();
        }
    }

    fn body_waiting(&self, waiting: bool) {
        if self.phase.lock().unwrap_or_else(PoisonError::into_inner).body_waiting(waiting, Instant::now()) {
            self.changed.notify_one();
        }
    }

    fn received(&self) {
        if self.phase.lock().unwrap_or_else(PoisonError::into_inner).received(Instant::now()) {
            self.changed.notify_one();
        }
    }
}

/// A request in flight; held by its response body.
pub(crate) struct InFlight(Arc<ConnTrack>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.phase.lock().unwrap_or_else(PoisonError::into_inner).finished(Instant::now()) {
            self.0.changed.notify_one();
        }
    }
}

/// A request's body, telling the tracker while its handler waits for bytes from the client.
pub(crate) struct WatchedBody<B> {
    inner: B,
    track: Arc<ConnTrack>,
    waiting: bool,
}

impl<B> WatchedBody<B> {
    pub(crate) fn new(inner: B, track: Arc<ConnTrack>) -> Self {
        WatchedBody { inner, track, waiting: false }
    }
}

impl<B: hyper::body::Body + Unpin> hyper::body::Body for WatchedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let result = Pin::new(&mut self.inner).poll_frame(cx);
        let waiting = result.is_pending();
        if waiting != self.waiting {
            self.waiting = waiting;
            self.track.body_waiting(waiting);
        }
        result
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

impl<B> Drop for WatchedBody<B> {
    fn drop(&mut self) {
        if self.waiting {
            self.track.body_waiting(false);
        }
    }
}

/// The connection's socket, telling the tracker when bytes arrive and when writes wait for the
/// client.
pub(crate) struct TrackedIo<T> {
    inner: T,
    track: Arc<ConnTrack>,
    /// The tracker's view, kept here so that only changes take its lock.
    write_blocked: bool,
}

impl<T> TrackedIo<T> {
    pub(crate) fn new(inner: T, track: Arc<ConnTrack>) -> Self {
        TrackedIo { inner, track, write_blocked: false }
    }

    fn wrote<R>(&mut self, result: Poll<R>) -> Poll<R> {
        let blocked = result.is_pending();
        if blocked != self.write_blocked {
            self.write_blocked = blocked;
            self.track.write_blocked(blocked);
        }
        result
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for TrackedIo<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.track.received();
        }
        result
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TrackedIo<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.wrote(result)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let result = Pin::new(&mut self.inner).poll_flush(cx);
        self.wrote(result)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.wrote(result)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Timeouts = Timeouts { header_read: Duration::from_secs(5), idle: Duration::from_secs(60) };

    #[test]
    fn idle_then_head_then_in_flight() {
        let t0 = Instant::now();
        let mut p = Phase::new(t0);
        assert_eq!(p.deadline(T, None), Some(t0 + T.idle), "a new connection is idle");
        let t1 = t0 + Duration::from_secs(10);
        assert!(p.received(t1));
        assert_eq!(p.deadline(T, None), Some(t1 + T.header_read), "the head timer starts at the first byte");
        assert!(!p.received(t1 + Duration::from_secs(1)), "later bytes do not restart it");
        assert_eq!(p.deadline(T, None), Some(t1 + T.header_read));
        p.started();
        assert_eq!(p.deadline(T, None), None, "nothing cuts a request in flight");
        assert!(!p.received(t1 + Duration::from_secs(2)), "body bytes are not a new head");
        let t2 = t1 + Duration::from_secs(500);
        assert!(p.finished(t2));
        assert_eq!(p.deadline(T, None), Some(t2 + T.idle), "keep-alive: idle again from the response's end");
    }

    #[test]
    fn a_response_the_client_has_not_taken_keeps_it_in_flight() {
        let t0 = Instant::now();
        let mut p = Phase::new(t0);
        p.started();
        assert!(p.write_blocked(true, t0), "a stall began");
        assert!(!p.finished(t0), "the body ended but hyper still holds its last bytes");
        assert_eq!(p.deadline(T, None), Some(t0 + T.idle), "until the client stalls too long");
        let t1 = t0 + Duration::from_secs(30);
        assert!(p.write_blocked(false, t1));
        assert_eq!(p.deadline(T, None), Some(t1 + T.idle), "idle from when the client took them");
    }

    #[test]
    fn a_request_in_flight_is_cut_only_when_the_client_stalls() {
        let t0 = Instant::now();
        let mut p = Phase::new(t0);
        p.started();
        assert_eq!(p.deadline(T, None), None, "a long request that makes progress is never cut");
        let t1 = t0 + Duration::from_secs(400);
        assert!(p.body_waiting(true, t1));
        assert!(!p.body_waiting(true, t1 + Duration::from_secs(5)), "still the same wait");
        assert_eq!(p.deadline(T, None), Some(t1 + T.idle), "a body that does not come");
        assert!(!p.body_waiting(false, t1 + Duration::from_secs(30)));
        assert_eq!(p.deadline(T, None), None, "the bytes came");
        let t2 = t1 + Duration::from_secs(100);
        assert!(p.write_blocked(true, t2));
        assert!(!p.write_blocked(true, t2 + Duration::from_secs(5)), "still the same stall");
        assert_eq!(p.deadline(T, None), Some(t2 + T.idle), "a response the client does not take");
        assert!(!p.write_blocked(false, t2 + Duration::from_secs(10)));
        assert_eq!(p.deadline(T, None), None);
    }

    #[test]
    fn pipelined_requests_keep_it_in_flight() {
        let t0 = Instant::now();
        let mut p = Phase::new(t0);
        p.started();
        p.started();
        assert!(!p.finished(t0));
        assert_eq!(p.deadline(T, None), None);
        assert!(p.finished(t0));
        assert!(p.deadline(T, None).is_some());
    }

    #[test]
    fn shutdown_shortens_a_pending_head_but_not_a_request() {
        let t0 = Instant::now();
        let grace = Duration::from_secs(1);
        let mut p = Phase::new(t0);
        p.received(t0);
        let stop = t0 + Duration::from_secs(2);
        assert_eq!(p.deadline(T, Some((stop, grace))), Some(stop + grace));
        let mut q = Phase::new(t0);
        q.received(t0);
        assert_eq!(
            q.deadline(T, Some((t0 + Duration::from_millis(4500), grace))),
            Some(t0 + T.header_read),
            "never later than the header timeout"
        );
        q.started();
        assert_eq!(q.deadline(T, Some((stop, grace))), None, "in-flight requests get the shutdown deadline");
    }
}
