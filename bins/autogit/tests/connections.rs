//! Connections that cannot pin the server: half-sent requests closed by the header timeout, idle
//! keep-alive connections by the idle timeout, caps per client address and in all (fitted to the
//! open-file limit) answered with a 503, and a SIGTERM'd server that stops by its deadline —
//! while requests in flight (held job requests, slow clones, slow pushes) are cut only when their
//! client stalls (a body that stops coming) for longer than the idle timeout.
//!
//! Loopback has a whole /8: attackers connect from 127.0.0.1, the health probe binds 127.0.0.2,
//! so the per-address cap of the first does not apply to the second.
//! Connection handling does not touch the store, so these run on SQLite only.

mod common;

use common::job_api::Ci;
use common::{Backend, Server, clone_in_flight};
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{IpAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const PROBE_ADDRESS: &str = "127.0.0.2";
const HALF_SENT: &[u8] = b"GET /-/health HTTP/1.1\r\nHost: autogit\r\nUser-Agent: half-sent\r\n";

/// What became of one half-sent request.
#[derive(Debug)]
enum Fate {
    /// Answered with these bytes (the 503 of a cap) before any timeout.
    Answered(String),
    /// Closed without an answer, this long after its bytes were sent.
    Closed(Duration),
    Open,
}

struct HalfOpen {
    sockets: Vec<(TcpStream, Instant)>,
    opening: Duration,
}

/// Opens `n` connections from 127.0.0.1 and sends each a request head that never ends.
fn half_open(addr: &str, n: usize) -> HalfOpen {
    let start = Instant::now();
    let mut sockets = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = TcpStream::connect(addr).expect("connect");
        // A refused connection may be closed before this write lands: that is an answer too.
        let _ = s.write_all(HALF_SENT);
        sockets.push((s, Instant::now()));
    }
    HalfOpen { sockets, opening: start.elapsed() }
}

impl HalfOpen {
    /// Watches every socket until each is answered or closed, or `limit` passes.
    fn fates(self, limit: Duration) -> Vec<Fate> {
        let mut fates: Vec<Fate> = self.sockets.iter().map(|_| Fate::Open).collect();
        for (s, _) in &self.sockets {
            s.set_nonblocking(true).expect("nonblocking");
        }
        let start = Instant::now();
        let mut buf = [0u8; 1024];
        while start.elapsed() < limit && fates.iter().any(|f| matches!(f, Fate::Open)) {
            for ((s, sent), fate) in self.sockets.iter().zip(fates.iter_mut()) {
                if !matches!(fate, Fate::Open) {
                    continue;
                }
                match (&mut &*s).read(&mut buf) {
                    Ok(0) => *fate = Fate::Closed(sent.elapsed()),
                    Ok(n) => *fate = Fate::Answered(String::from_utf8_lossy(&buf[..n]).into_owned()),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(_) => *fate = Fate::Closed(sent.elapsed()),
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        fates
    }
}

/// Polls `/-/health` every 50 ms over a fresh connection from 127.0.0.2 until stopped; returns
/// each answer's status and time.
struct HealthProbe {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<(Option<u16>, Duration)>>,
}

impl HealthProbe {
    fn start(url: &str) -> HealthProbe {
        let url = format!("{url}/-/health");
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let client = probe_client();
            let mut samples = Vec::new();
            while !stopped.load(Ordering::Relaxed) {
                let t = Instant::now();
                let status = client.get(&url).send().ok().map(|r| r.status().as_u16());
                samples.push((status, t.elapsed()));
                std::thread::sleep(Duration::from_millis(50).saturating_sub(t.elapsed()));
            }
            samples
        });
        HealthProbe { stop, thread }
    }

    fn finish(self) -> Vec<(Option<u16>, Duration)> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("probe thread")
    }
}

/// A client from 127.0.0.2 that opens a new connection for every request.
fn probe_client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .local_address(PROBE_ADDRESS.parse::<IpAddr>().expect("ip"))
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// Every probe answered 200 in under 100 ms (the bound).
fn assert_health_kept_answering(samples: &[(Option<u16>, Duration)]) {
    assert!(samples.len() >= 20, "too few health samples: {}", samples.len());
    let mut times: Vec<Duration> = samples.iter().map(|(_, d)| *d).collect();
    times.sort();
    let median = times[times.len() / 2];
    let max = times[times.len() - 1];
    eprintln!("health: {} samples, median {median:?}, max {max:?}", samples.len());
    let failed: Vec<_> = samples.iter().filter(|(s, _)| *s != Some(200)).collect();
    assert!(failed.is_empty(), "health probes not answered 200: {failed:?}");
    let slow: Vec<_> = samples.iter().filter(|(_, d)| *d >= Duration::from_millis(100)).collect();
    assert!(slow.is_empty(), "health answers of 100 ms or more: {slow:?} (median {median:?})");
}

fn addr_of(url: &str) -> String {
    url.trim_start_matches("http://").to_string()
}

#[test]
fn half_open_connections_cannot_starve_health() {
    let timeout = Duration::from_secs(3);
    let s = Server::start_with(
        Backend::Sqlite,
        &[
            ("AUTOGIT_HTTP_HEADER_READ_TIMEOUT_SECONDS", "3"),
            ("AUTOGIT_HTTP_MAX_CONNECTIONS", "400"),
            ("AUTOGIT_HTTP_MAX_CONNECTIONS_PER_ADDRESS", "200"),
        ],
    );
    let probe = HealthProbe::start(&s.url);
    std::thread::sleep(Duration::from_millis(300));
    let attack = half_open(&addr_of(&s.url), 1000);
    let opening = attack.opening;
    let fates = attack.fates(timeout + Duration::from_secs(5));
    let samples = probe.finish();

    let refused = fates.iter().filter(|f| matches!(f, Fate::Answered(_))).count();
    let closed: Vec<Duration> =
        fates.iter().filter_map(|f| if let Fate::Closed(d) = f { Some(*d) } else { None }).collect();
    let open = fates.iter().filter(|f| matches!(f, Fate::Open)).count();
    eprintln!("opening 1000 took {opening:?}: {refused} refused, {} closed, {open} open", closed.len());
    assert_eq!(open, 0, "every half-sent request was closed or refused");
    for f in &fates {
        if let Fate::Answered(text) = f {
            assert!(
                text.starts_with("HTTP/1.1 503 ")
                    && text.contains("Connection: close")
                    && text.ends_with("Too many connections from your address; try again later.\n"),
                "refusal: {text:?}"
            );
        }
    }
    // Places come back when the first ones time out, so exactly 200 are admitted only if all
    // connections were opened before that.
    if opening < timeout {
        assert_eq!(closed.len(), 200, "the per-address cap admits 200");
    } else {
        assert!(closed.len() >= 200, "{} admitted", closed.len());
    }
    let early = closed.iter().filter(|d| **d < timeout - Duration::from_millis(300)).count();
    assert_eq!(early, 0, "nothing closed before the header timeout: {closed:?}");
    let late = closed.iter().filter(|d| **d > timeout + Duration::from_secs(3)).count();
    assert_eq!(late, 0, "all closed by the header timeout: {closed:?}");
    assert_health_kept_answering(&samples);

    // The places are free again: the attacker's address is served.
    let r = reqwest::blocking::get(s.raw("/-/health")).expect("health");
    assert_eq!(r.status(), 200);
}

/// `autogit serve` under `prlimit --nofile=N:N`, with its stderr (the log) collected.
struct LimitedServer {
    child: Child,
    url: String,
    log: Arc<std::sync::Mutex<String>>,
    _data: tempfile::TempDir,
}

impl LimitedServer {
    fn start(nofile: u32, env: &[(&str, &str)]) -> LimitedServer {
        let data = tempfile::tempdir().expect("tempdir");
        let mut cmd = Command::new("prlimit");
        cmd.arg(format!("--nofile={nofile}:{nofile}"))
            .arg("--")
            .arg(env!("CARGO_BIN_EXE_autogit"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data.path())
            .env("AUTOGIT_ROOT_PASSWORD", common::ROOT_PASSWORD)
            .env("AUTOGIT_CI_BUILTIN_RUNNER_CONCURRENT", "0")
            .env("AUTOGIT_LOG_LEVEL", "info")
            .env("AUTOGIT_LOG_FORMAT", "json")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("prlimit runs autogit");
        let log = Arc::new(std::sync::Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("stderr");
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[autogit] {line}");
                sink.lock().expect("log").push_str(&(line + "\n"));
            }
        });
        let mut url = String::new();
        for line in BufReader::new(child.stdout.take().expect("stdout")).lines().map_while(Result::ok) {
            if let Some(u) = line.split("listening on ").nth(1).and_then(|r| r.split_whitespace().next()) {
                url = u.to_string();
                break;
            }
        }
        assert!(!url.is_empty(), "the server printed its address");
        LimitedServer { child, url, log, _data: data }
    }

    fn log(&self) -> String {
        self.log.lock().expect("log").clone()
    }
}

impl Drop for LimitedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_low_descriptor_limit_keeps_health_answered() {
    // The case: 512 descriptors, where 600 half-sent requests made /-/health time out.
    let s = LimitedServer::start(512, &[("AUTOGIT_HTTP_HEADER_READ_TIMEOUT_SECONDS", "3")]);
    let probe = HealthProbe::start(&s.url);
    std::thread::sleep(Duration::from_millis(300));
    let fates = half_open(&addr_of(&s.url), 1000).fates(Duration::from_secs(8));
    let samples = probe.finish();
    assert!(fates.iter().all(|f| !matches!(f, Fate::Open)), "all closed or refused");
    assert_health_kept_answering(&samples);
    let log = s.log();
    assert!(log.contains("http.max_connections lowered") && log.contains("\"effective\":256"), "{log}");

    // Without a per-address cap the total cap (half of 512) is what holds: the rest is refused
    // with its 503, accept never runs out of descriptors, and the server serves again after.
    let s = LimitedServer::start(
        512,
        &[
            ("AUTOGIT_HTTP_HEADER_READ_TIMEOUT_SECONDS", "3"),
            ("AUTOGIT_HTTP_MAX_CONNECTIONS", "2000"),
            ("AUTOGIT_HTTP_MAX_CONNECTIONS_PER_ADDRESS", "0"),
        ],
    );
    let fates = half_open(&addr_of(&s.url), 1000).fates(Duration::from_secs(8));
    let answered: Vec<&String> =
        fates.iter().filter_map(|f| if let Fate::Answered(t) = f { Some(t) } else { None }).collect();
    assert!(answered.len() >= 1000 - 256 - 50, "{} refused", answered.len());
    assert!(answered.iter().all(|t| t.contains("The server has too many connections")), "{answered:?}");
    assert_eq!(fates.iter().filter(|f| matches!(f, Fate::Open)).count(), 0);
    let client = probe_client();
    let mut times: Vec<Duration> = (0..10)
        .map(|_| {
            let t = Instant::now();
            let r = client.get(format!("{}/-/health", s.url)).send().expect("health after the attack");
            assert_eq!(r.status(), 200);
            t.elapsed()
        })
        .collect();
    times.sort();
    assert!(times[5] < Duration::from_millis(100), "health after the attack: {times:?}");
    let log = s.log();
    assert!(!log.contains("cannot accept connections"), "accept ran out of descriptors:\n{log}");
    assert!(log.contains("connection refused with 503"), "{log}");
    let refusal_lines = log.matches("connection refused with 503").count();
    assert!(refusal_lines <= 2, "the refusal log is rate-limited: {refusal_lines} lines");
}

/// A raw request on its own connection.
fn send_raw(url: &str, bytes: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(addr_of(url)).expect("connect");
    s.write_all(bytes).expect("write");
    s
}

/// A push to `project` whose body stops after its first bytes: a request in flight whose client
/// sends nothing more.
fn stalled_push(s: &Server, project: &str) -> TcpStream {
    let head = format!(
        "POST /{project}.git/git-receive-pack HTTP/1.1\r\nHost: autogit\r\nPRIVATE-TOKEN: {}\r\n\
         Content-Type: application/x-git-receive-pack-request\r\nContent-Length: 100000\r\n\r\n0098",
        s.root_token
    );
    send_raw(&s.url, head.as_bytes())
}

/// Waits until the peer closes `s` (or `limit` passes); returns when.
fn closed_within(mut s: TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    s.set_read_timeout(Some(limit)).expect("timeout");
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Some(start.elapsed()),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => return None,
            Err(_) => return Some(start.elapsed()),
        }
    }
}

#[test]
fn sigterm_stops_by_the_deadline_despite_half_sent_and_slow_requests() {
    let mut s = Server::start_with(
        Backend::Sqlite,
        &[
            ("AUTOGIT_HTTP_SHUTDOWN_TIMEOUT_SECONDS", "3"),
            // Long enough that only the shutdown can end these connections.
            ("AUTOGIT_HTTP_HEADER_READ_TIMEOUT_SECONDS", "120"),
            ("AUTOGIT_HTTP_IDLE_TIMEOUT_SECONDS", "120"),
        ],
    );
    s.post("/projects", &s.root_token, &[("name", "p"), ("visibility", "private")]);
    let half_sent = send_raw(&s.url, HALF_SENT);
    // A push whose body stops after its first bytes: a request in flight that never ends.
    let slow_push = stalled_push(&s, "root/p");
    std::thread::sleep(Duration::from_millis(500));
    let watch = |sock: TcpStream| std::thread::spawn(move || closed_within(sock, Duration::from_secs(30)));
    let (half_sent, slow_push) = (watch(half_sent), watch(slow_push));

    let start = Instant::now();
    s.signal("TERM");
    let status = s.wait();
    let took = start.elapsed();
    assert!(status.success(), "exit status 0 after SIGTERM: {status:?}");
    let half_sent = half_sent.join().expect("thread").expect("the half-sent request was closed");
    let slow_push = slow_push.join().expect("thread").expect("the slow push was closed");
    eprintln!("stopped after {took:?}; half-sent closed after {half_sent:?}, slow push after {slow_push:?}");
    assert!(half_sent < Duration::from_millis(2500), "a half-sent head does not hold shutdown: {half_sent:?}");
    assert!(slow_push >= Duration::from_millis(2500), "the push in flight got the deadline: {slow_push:?}");
    assert!(took < Duration::from_secs(3 + 3), "stopped within the 3 s deadline and a margin: {took:?}");
}

#[test]
fn sigterm_does_not_wait_for_a_half_sent_request() {
    let mut s = Server::start_with(
        Backend::Sqlite,
        &[("AUTOGIT_HTTP_SHUTDOWN_TIMEOUT_SECONDS", "60"), ("AUTOGIT_HTTP_HEADER_READ_TIMEOUT_SECONDS", "120")],
    );
    let _half_sent = send_raw(&s.url, HALF_SENT);
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    s.signal("TERM");
    let status = s.wait();
    assert!(status.success(), "{status:?}");
    assert!(start.elapsed() < Duration::from_secs(5), "not held until the 60 s deadline: {:?}", start.elapsed());
}

#[test]
fn timeouts_close_idle_slow_heads_and_stalled_bodies_but_not_long_requests() {
    let ci = Ci::start(
        Backend::Sqlite,
        &[
            ("AUTOGIT_HTTP_HEADER_READ_TIMEOUT_SECONDS", "1"),
            ("AUTOGIT_HTTP_IDLE_TIMEOUT_SECONDS", "2"),
            ("AUTOGIT_CI_LONG_POLL_SECONDS", "4"),
        ],
    );
    let s = &ci.s;

    // Keep-alive: after a complete exchange the connection is closed by the idle timeout.
    let mut keep_alive = send_raw(&s.url, b"GET /-/health HTTP/1.1\r\nHost: autogit\r\n\r\n");
    let mut head = [0u8; 512];
    let n = keep_alive.read(&mut head).expect("answer");
    assert!(head[..n].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&head[..n]));
    let idle = closed_within(keep_alive, Duration::from_secs(10)).expect("idle connection closed");
    assert!(idle >= Duration::from_millis(1700) && idle < Duration::from_secs(4), "idle close after {idle:?}");

    // A head trickled one byte at a time is cut by the header timeout (from its first byte).
    let mut slow = TcpStream::connect(addr_of(&s.url)).expect("connect");
    let start = Instant::now();
    let mut cut = None;
    for b in b"GET /-/health HTTP/1.1\r\nHost: autogit\r\nX-Slow: yes-indeed\r\n\r\n" {
        if slow.write_all(&[*b]).is_err() {
            cut = Some(start.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let cut = cut.or_else(|| closed_within(slow, Duration::from_secs(5)).map(|_| start.elapsed()));
    let cut = cut.expect("the slow head was cut");
    assert!(cut < Duration::from_secs(4), "slow head cut after {cut:?}");

    // A held job request outlives both timeouts.
    let (_, runner) = ci.runner(&[]);
    let start = Instant::now();
    let r = ci.request(&runner);
    assert_eq!(r.status(), 204, "the held request was answered, not cut");
    assert!(start.elapsed() >= Duration::from_millis(3500), "held for the long poll: {:?}", start.elapsed());

    // A request whose body stops coming is closed once it has waited the idle timeout for it:
    // a head is no licence to hold a connection.
    s.post("/projects", &s.root_token, &[("name", "stalled"), ("visibility", "private")]);
    let stalled = stalled_push(s, "root/stalled");
    let stalled = closed_within(stalled, Duration::from_secs(10)).expect("the stalled request was closed");
    assert!(
        stalled >= Duration::from_millis(1700) && stalled < Duration::from_secs(5),
        "a body that stops coming is cut after the idle timeout, not before: {stalled:?}"
    );

    // A clone whose client pauses mid-transfer (longer than the header timeout, shorter than the
    // idle one) still arrives whole.
    let (first, mut resp) = clone_in_flight(s, 4_000_000);
    std::thread::sleep(Duration::from_millis(1500));
    let mut rest = Vec::new();
    resp.read_to_end(&mut rest).expect("the rest of the pack");
    assert!(first.len() + rest.len() > 4_000_000, "whole pack: {} bytes", first.len() + rest.len());
}
