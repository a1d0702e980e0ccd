//! The HTTP server's own accept loop: connection caps (in all and per client address, the total
//! fitted to the open-file limit), a header-read and an idle timeout per connection (the idle
//! one also bounds how long a request waits for a stalled client), and a
//! bounded graceful shutdown. Each connection is served by hyper's HTTP/1 server with the axum
//! router; the peer address reaches handlers as `ConnectInfo<SocketAddr>`.
//!
//! Who is trusted here: nobody. A client may open connections and send nothing, half a request
//! or one byte a second; what it can hold is bounded by the caps and the timeouts, and a refused
//! client costs one `accept` and one small write.

mod limits;
mod redirect;
mod refuse;
mod tls;
mod track;

pub use redirect::serve_redirect;
pub use tls::Tls;

use crate::state::AppState;
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use limits::{Admission, ConnectionLimits};
use refuse::RateLimitedLog;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;
use track::{ConnTrack, Timeouts, TrackedIo, WatchedBody};

/// Connection limits from the `[http]` configuration.
#[derive(Debug, Clone)]
pub struct ConnectionSettings {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    /// Lowered at start to half the open-file limit if that is smaller.
    pub max_connections: usize,
    /// 0 = no per-address cap.
    pub max_connections_per_address: usize,
    pub shutdown_timeout: Duration,
    /// HTTPS on this listener (the handshake must finish within the header-read timeout).
    pub tls: Option<std::sync::Arc<Tls>>,
}

/// While shutting down, a request whose head has begun gets this long to complete it (never more
/// than the header timeout): it would be served, but it must not hold the exit.
const SHUTDOWN_HEAD_GRACE: Duration = Duration::from_secs(1);
/// Background push recording gets at least this long after the connections are closed, even
/// when the deadline has passed: a push that finished just in time is still recorded.
const RECORDING_GRACE: Duration = Duration::from_secs(5);
/// Request heads larger than this are answered 431; it bounds the memory a half-sent request
/// holds (hyper's default bound is its ~400 KiB read buffer).
const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Kernel keep-alive probes find peers that vanished (a NAT entry dropped, a laptop closed)
/// during a long request, which no timeout of ours may cut.
const TCP_KEEPALIVE_IDLE: Duration = Duration::from_secs(60);
const TCP_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(15);
const LOG_EVERY: Duration = Duration::from_secs(10);

/// Serves until `shutdown` resolves, then stops accepting, lets requests in flight (streaming git
/// transfers included) finish until `shutdown_timeout`, closes what is still open, and waits a
/// bounded time for their background work (push recording).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let settings = state.config.connections.clone();
    let tasks = state.tasks.clone();
    let app = crate::router(state);
    let fd_limit = limits::open_file_limit();
    let max_total = limits::fit_to_fd_limit(settings.max_connections, fd_limit);
    if max_total < settings.max_connections {
        tracing::warn!(
            configured = settings.max_connections,
            effective = max_total,
            open_file_limit = fd_limit,
            "http.max_connections lowered to half the open-file limit; raise the limit (ulimit -n, LimitNOFILE=) to serve more"
        );
    }
    let limits = ConnectionLimits::new(max_total, settings.max_connections_per_address);
    let timeouts = Timeouts { header_read: settings.header_read_timeout, idle: settings.idle_timeout };
    let mut builder = http1::Builder::new();
    builder.header_read_timeout(None).max_header_size(MAX_HEADER_BYTES);
    let graceful = CancellationToken::new();
    let force = CancellationToken::new();
    let connections = TaskTracker::new();
    let refusals = RateLimitedLog::new(LOG_EVERY);
    let accept_errors = RateLimitedLog::new(LOG_EVERY);

    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(x) => x,
                Err(e) => {
                    on_accept_error(&e, &accept_errors).await;
                    continue;
                }
            },
        };
        let admission = match limits.try_admit(peer.ip()) {
            Ok(a) => a,
            Err(why) => {
                refuse::log_refusal(&refusals, peer, why, max_total, settings.max_connections_per_address);
                refuse::refuse(tcp, why);
                continue;
            }
        };
        configure(&tcp);
        let conn = Conn { peer, timeouts, graceful: graceful.clone(), force: force.clone(), _admission: admission };
        let (app, builder) = (app.clone(), builder.clone());
        match &settings.tls {
            None => connections.spawn(conn.serve(tcp, app, builder)),
            Some(tls) => connections.spawn(conn.serve_tls(tls.acceptor(), tcp, app, builder)),
        };
    }
    drop(listener);

    let deadline = Instant::now() + settings.shutdown_timeout;
    tracing::info!(
        open_connections = connections.len(),
        deadline_seconds = settings.shutdown_timeout.as_secs(),
        "stopped accepting; requests in flight may finish until the deadline"
    );
    graceful.cancel();
    connections.close();
    if tokio::time::timeout_at(deadline.into(), connections.wait()).await.is_err() {
        tracing::warn!(
            open_connections = connections.len(),
            "shutdown deadline reached: closing the connections still open"
        );
        force.cancel();
        connections.wait().await;
    }
    tasks.close();
    let recording_deadline = deadline.max(Instant::now() + RECORDING_GRACE);
    if tokio::time::timeout_at(recording_deadline.into(), tasks.wait()).await.is_err() {
        tracing::warn!(unfinished = tasks.len(), "stopping with background push recording unfinished");
    }
    Ok(())
}

/// A connection that failed on its own (reset before it was accepted) is only skipped. Anything
/// else — above all running out of descriptors or kernel memory, which lasts until some are
/// freed — pauses the loop instead of spinning, and is logged without flooding the log.
async fn on_accept_error(e: &std::io::Error, log: &RateLimitedLog) {
    use std::io::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::ConnectionAborted
            | ErrorKind::ConnectionReset
            | ErrorKind::ConnectionRefused
            | ErrorKind::Interrupted
    ) {
        tracing::debug!(error = %e, "accept failed");
        return;
    }
    if let Some(suppressed) = log.due(Instant::now()) {
        tracing::error!(error = %e, failed_since_last_line = suppressed, "cannot accept connections; pausing");
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
}

fn configure(tcp: &TcpStream) {
    // Without TCP_NODELAY, small response writes (pkt-line negotiation, the last bytes of a pack)
    // wait for the peer's delayed ACK: ~40 ms per git round trip.
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(error = %e, "could not set TCP_NODELAY");
    }
    let keepalive = socket2::TcpKeepalive::new().with_time(TCP_KEEPALIVE_IDLE).with_interval(TCP_KEEPALIVE_INTERVAL);
    if let Err(e) = socket2::SockRef::from(tcp).set_tcp_keepalive(&keepalive) {
        tracing::debug!(error = %e, "could not enable TCP keep-alive");
    }
}

/// One admitted connection.
struct Conn {
    peer: SocketAddr,
    timeouts: Timeouts,
    graceful: CancellationToken,
    force: CancellationToken,
    /// Holds the connection's place under the caps until it is closed.
    _admission: Admission,
}

impl Conn {
    /// The TLS handshake first, within the header-read timeout (a client that opens a connection
    /// and never finishes it holds its place no longer than one that never sends a request).
    async fn serve_tls(
        self,
        acceptor: tokio_rustls::TlsAcceptor,
        tcp: TcpStream,
        app: Router,
        builder: http1::Builder,
    ) {
        let handshake = tokio::time::timeout(self.timeouts.header_read, acceptor.accept(tcp));
        let stream = tokio::select! {
            done = handshake => match done {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(peer = %self.peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(peer = %self.peer, "TLS handshake not finished in time");
                    return;
                }
            },
            () = self.force.cancelled() => return,
        };
        self.serve(stream, app, builder).await;
    }

    async fn serve<I>(self, tcp: I, app: Router, builder: http1::Builder)
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let track = ConnTrack::new();
        let io = TokioIo::new(TrackedIo::new(tcp, track.clone()));
        let peer = self.peer;
        let requests = track.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            let in_flight = requests.request();
            req.extensions_mut().insert(ConnectInfo(peer));
            let body_track = requests.clone();
            let call = app.clone().oneshot(req.map(move |b| Body::new(WatchedBody::new(b, body_track))));
            async move {
                let resp = call.await.unwrap_or_else(|never| match never {});
                // The request stays in flight until hyper has taken the whole body (or dropped it).
                Ok::<_, Infallible>(resp.map(move |body| {
                    Body::new(body.map_frame(move |frame| {
                        let _held = &in_flight;
                        frame
                    }))
                }))
            }
        });
        let conn = builder.serve_connection(io, service);
        tokio::pin!(conn);
        let mut shutdown_since = None;
        loop {
            let deadline = track.phase().deadline(self.timeouts, shutdown_since);
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(peer = %peer, error = %e, "connection ended with an error");
                    }
                    return;
                }
                () = track.changed() => {}
                () = sleep_until(deadline) => {
                    let now = Instant::now();
                    if track.phase().deadline(self.timeouts, shutdown_since).is_some_and(|d| d <= now) {
                        tracing::debug!(peer = %peer, "closing a connection whose request head or body did not come, or whose client did not read, in time");
                        return;
                    }
                }
                () = self.graceful.cancelled(), if shutdown_since.is_none() => {
                    shutdown_since = Some((Instant::now(), SHUTDOWN_HEAD_GRACE));
                    conn.as_mut().graceful_shutdown();
                }
                () = self.force.cancelled() => return,
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

/// The client address of a request: the connection's TCP peer that [`serve`] records, never a
/// forwarding header; `None` for a request that did not come through it.
pub(crate) fn peer_ip(extensions: &axum::http::Extensions) -> Option<std::net::IpAddr> {
    extensions.get::<ConnectInfo<std::net::SocketAddr>>().map(|ConnectInfo(a)| a.ip())
}

/// As [`peer_ip`], with one shared unknown address for a request without a peer.
pub(crate) fn peer_or_unknown(extensions: &axum::http::Extensions) -> std::net::IpAddr {
    peer_ip(extensions).unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
}
