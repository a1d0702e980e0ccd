//! The plain-HTTP listener of a server that serves HTTPS: every request is answered
//! `308 Permanent Redirect` to the same path and query under the external `https://` URL (never to
//! the `Host` the client sent, so it cannot redirect anywhere else). At most `MAX_CONNECTIONS`
//! connections at once, each with a header-read timeout; no other work is done here.

use axum::body::Body;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

const MAX_CONNECTIONS: usize = 256;
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The `Location` of a request for `path_and_query` under `external_url` (no trailing `/`).
fn location(external_url: &str, path_and_query: &str) -> String {
    let path = if path_and_query.starts_with('/') { path_and_query } else { "/" };
    format!("{external_url}{path}")
}

pub async fn serve_redirect(listener: TcpListener, external_url: String, shutdown: CancellationToken) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let base = Arc::new(external_url);
    loop {
        let (tcp, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(x) => x,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => return,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else { continue };
        let base = base.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                let to = location(&base, req.uri().path_and_query().map_or("/", |p| p.as_str()));
                async move {
                    let resp = hyper::Response::builder()
                        .status(hyper::StatusCode::PERMANENT_REDIRECT)
                        .header(hyper::header::LOCATION, to)
                        .header(hyper::header::CONNECTION, "close")
                        .body(Body::empty())
                        .unwrap_or_default();
                    Ok::<_, Infallible>(resp)
                }
            });
            let mut builder = http1::Builder::new();
            builder.timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT).keep_alive(false);
            let _ = builder.serve_connection(TokioIo::new(tcp), service).await;
            drop(permit);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_location_keeps_path_and_query_under_the_external_url() {
        assert_eq!(location("https://git.example.com", "/a/b?x=1"), "https://git.example.com/a/b?x=1");
        assert_eq!(location("https://git.example.com", "http://evil.test/"), "https://git.example.com/");
    }
}
