//! The transport against real local listeners: what reaches the wire, and what never does.

use autogit_app::webhooks::{HookFailure, HookRequest, HookResponse, HookTransport, MAX_RESPONSE_EXCERPT};
use autogit_core::webhook::{AllowEntry, OutboundPolicy};
use autogit_webhook_client::HttpHookTransport;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

const LOCAL: OutboundPolicy = OutboundPolicy { allow_local: true, allowlist: Vec::new() };

fn request(url: &str, policy: OutboundPolicy) -> HookRequest {
    HookRequest {
        url: url.to_owned(),
        headers: vec![("X-Gitlab-Event".into(), "Push Hook".into()), ("X-Gitlab-Token".into(), "tok".into())],
        body: b"{\"object_kind\":\"push\"}".to_vec(),
        verify_tls: true,
        policy,
        timeout: Duration::from_secs(5),
    }
}

async fn post(req: HookRequest) -> Result<HookResponse, HookFailure> {
    HttpHookTransport::new().post(req).await
}

async fn listener() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = l.local_addr().expect("addr").port();
    (l, port)
}

/// Asserts nothing connected to the listener (connections wait in the backlog until accepted).
async fn assert_untouched(l: &TcpListener) {
    let accepted = tokio::time::timeout(Duration::from_millis(200), l.accept()).await;
    assert!(accepted.is_err(), "the listener must not have been connected to");
}

/// What the server read: method, path, lower-cased headers, body.
#[derive(Debug)]
struct Seen {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

async fn read_request(stream: &mut TcpStream) -> Seen {
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.expect("read");
        assert!(n > 0, "connection closed mid-head");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).expect("utf-8 head");
    let mut lines = head.split("\r\n");
    let mut first = lines.next().expect("request line").split(' ');
    let (method, path) = (first.next().expect("method").to_owned(), first.next().expect("path").to_owned());
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize =
        headers.iter().find(|(n, _)| n == "content-length").map_or(0, |(_, v)| v.parse().expect("length"));
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.expect("read body");
        assert!(n > 0, "connection closed mid-body");
        body.extend_from_slice(&chunk[..n]);
    }
    Seen { method, path, headers, body }
}

/// Accepts one connection, reads the request, writes `answer` and closes.
fn serve_once(l: TcpListener, answer: Vec<u8>) -> JoinHandle<Seen> {
    tokio::spawn(async move {
        let (mut stream, _) = l.accept().await.expect("accept");
        let seen = read_request(&mut stream).await;
        // The client may hang up once it has read enough; that is not the server's failure.
        let _ = stream.write_all(&answer).await;
        let _ = stream.shutdown().await;
        seen
    })
}

#[tokio::test]
async fn local_addresses_are_refused_by_default_and_never_connected_to() {
    let (l, port) = listener().await;
    for url in [format!("http://127.0.0.1:{port}/"), format!("http://[::ffff:127.0.0.1]:{port}/")] {
        match post(request(&url, OutboundPolicy::default())).await {
            Err(HookFailure::Blocked(m)) => assert!(m.contains("loopback"), "{m}"),
            other => panic!("{url}: {other:?}"),
        }
    }
    assert_untouched(&l).await;
    // The name path: refused by the resolver, so reqwest never has an address to connect to.
    match post(request(&format!("http://localhost:{port}/"), OutboundPolicy::default())).await {
        Err(HookFailure::Blocked(m)) => assert!(m.contains("localhost resolves to"), "{m}"),
        other => panic!("localhost: {other:?}"),
    }
    assert_untouched(&l).await;
}

#[tokio::test]
async fn an_allowed_post_arrives_whole_and_the_answer_comes_back() {
    let (l, port) = listener().await;
    let answer =
        b"HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nX-Answer: yes\r\nContent-Length: 5\r\n\r\nhello".to_vec();
    let server = serve_once(l, answer);
    let response = post(request(&format!("http://localhost:{port}/hooks/in?x=1"), LOCAL)).await.expect("answer");
    let seen = server.await.expect("server");
    assert_eq!((seen.method.as_str(), seen.path.as_str()), ("POST", "/hooks/in?x=1"));
    assert_eq!(seen.header("x-gitlab-event"), Some("Push Hook"));
    assert_eq!(seen.header("x-gitlab-token"), Some("tok"));
    assert_eq!(seen.body, b"{\"object_kind\":\"push\"}");
    assert_eq!(response.status, 201);
    assert!(response.headers.contains(&("x-answer".into(), "yes".into())), "{:?}", response.headers);
    assert!(response.headers.contains(&("content-type".into(), "text/plain".into())));
    assert_eq!(response.body_excerpt, "hello");
}

#[tokio::test]
async fn metadata_stays_refused_and_the_allowlist_opens_an_address() {
    match post(request("http://169.254.169.254/latest/meta-data/", LOCAL)).await {
        Err(HookFailure::Blocked(m)) => assert!(m.contains("cloud metadata"), "{m}"),
        other => panic!("{other:?}"),
    }
    let (l, port) = listener().await;
    let server = serve_once(l, b"HTTP/1.1 204 No Content\r\n\r\n".to_vec());
    let policy = OutboundPolicy { allow_local: false, allowlist: vec![AllowEntry::parse("127.0.0.1").expect("entry")] };
    let response = post(request(&format!("http://127.0.0.1:{port}/"), policy)).await.expect("answer");
    assert_eq!(response.status, 204);
    assert_eq!(server.await.expect("server").method, "POST");
}

#[tokio::test]
async fn redirects_are_answers_not_followed() {
    let (target, target_port) = listener().await;
    let (l, port) = listener().await;
    let answer =
        format!("HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:{target_port}/\r\nContent-Length: 0\r\n\r\n");
    let server = serve_once(l, answer.into_bytes());
    let response = post(request(&format!("http://127.0.0.1:{port}/"), LOCAL)).await.expect("answer");
    server.await.expect("server");
    assert_eq!(response.status, 302);
    assert!(response.headers.iter().any(|(n, _)| n == "location"));
    assert_untouched(&target).await;
}

#[tokio::test]
async fn a_silent_receiver_times_out() {
    let (l, port) = listener().await;
    let server = tokio::spawn(async move {
        let (stream, _) = l.accept().await.expect("accept");
        tokio::time::sleep(Duration::from_secs(10)).await;
        drop(stream);
    });
    let mut req = request(&format!("http://127.0.0.1:{port}/"), LOCAL);
    req.timeout = Duration::from_millis(300);
    let started = Instant::now();
    assert_eq!(post(req).await, Err(HookFailure::Timeout));
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(250) && took < Duration::from_secs(2), "{took:?}");
    server.abort();
}

#[tokio::test]
async fn a_long_answer_is_cut_to_the_excerpt() {
    let (l, port) = listener().await;
    let body = "a".repeat(100_000);
    let answer = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len());
    let server = serve_once(l, answer.into_bytes());
    let response = post(request(&format!("http://127.0.0.1:{port}/"), LOCAL)).await.expect("answer");
    assert_eq!(response.body_excerpt.len(), MAX_RESPONSE_EXCERPT);
    assert!(response.body_excerpt.bytes().all(|b| b == b'a'));
    server.await.expect("server");
}

#[tokio::test]
async fn only_http_urls_with_a_host_are_accepted() {
    for url in ["ftp://x/", "not a url", "file:///etc/passwd", "ftp://user:s3cret@x/"] {
        match post(request(url, LOCAL)).await {
            Err(HookFailure::InvalidUrl(m)) => assert!(!m.contains("s3cret"), "{m}"),
            other => panic!("{url}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn credentials_in_the_url_are_sent_as_basic_auth_and_never_shown() {
    let (l, port) = listener().await;
    let server = serve_once(l, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec());
    let response = post(request(&format!("http://user:s3cret@127.0.0.1:{port}/"), LOCAL)).await.expect("answer");
    assert_eq!(response.status, 200);
    let seen = server.await.expect("server");
    assert_eq!(seen.header("authorization"), Some("Basic dXNlcjpzM2NyZXQ="), "base64 of user:s3cret");

    // A closed port: connection refused, and the text names neither the URL nor the password.
    let (closed, closed_port) = listener().await;
    drop(closed);
    for url in
        [format!("http://user:s3cret@127.0.0.1:{closed_port}/"), format!("http://user:s3cret@localhost:{closed_port}/")]
    {
        match post(request(&url, LOCAL)).await {
            Err(HookFailure::Network(m)) => assert!(!m.contains("s3cret") && !m.contains("user:"), "{m}"),
            other => panic!("{url}: {other:?}"),
        }
    }
    match post(request(&format!("http://user:s3cret@127.0.0.1:{closed_port}/"), OutboundPolicy::default())).await {
        Err(HookFailure::Blocked(m)) => assert!(!m.contains("s3cret"), "{m}"),
        other => panic!("{other:?}"),
    }
}

/// An HTTPS receiver with a self-signed certificate for 127.0.0.1: refused while the hook verifies
/// certificates (no request reaches it), delivered when `enable_ssl_verification` is off.
#[tokio::test]
async fn a_wrong_certificate_fails_unless_verification_is_off() {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let key = rcgen::KeyPair::generate().expect("key");
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("params");
    let cert = params.self_signed(&key).expect("self-signed");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let (l, port) = listener().await;
    let requests = Arc::new(AtomicUsize::new(0));
    let seen = requests.clone();
    let server = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = l.accept().await else { return };
            // A refused handshake ends here; only a completed one reads a request.
            let Ok(mut tls) = acceptor.accept(tcp).await else { continue };
            let mut buf = vec![0u8; 4096];
            let n = tls.read(&mut buf).await.unwrap_or(0);
            if n > 0 {
                seen.fetch_add(1, Ordering::SeqCst);
                let _ = tls.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok").await;
                let _ = tls.shutdown().await;
            }
        }
    });
    let url = format!("https://127.0.0.1:{port}/hook");
    let refused = post(request(&url, LOCAL)).await;
    assert!(matches!(refused, Err(HookFailure::Network(_))), "{refused:?}");
    assert_eq!(requests.load(Ordering::SeqCst), 0, "nothing was sent over an unverified connection");
    let unverified = HookRequest { verify_tls: false, ..request(&url, LOCAL) };
    let answer = post(unverified).await.expect("delivered without verification");
    assert_eq!(answer.status, 200);
    assert_eq!(requests.load(Ordering::SeqCst), 1);
    server.abort();
}
