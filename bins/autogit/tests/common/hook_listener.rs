//! A real HTTP receiver for webhook tests: a TCP listener on 127.0.0.1 that reads each request
//! (headers and a `Content-Length` body), hands it to the test, and answers with the status the
//! test sets. It can be stopped (connections are then refused) and started again on its port.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    /// Lower-case names.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }
}

pub struct HookListener {
    pub port: u16,
    rx: mpsc::Receiver<Received>,
    tx: mpsc::Sender<Received>,
    status: Arc<AtomicU16>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn read_request(stream: &mut TcpStream) -> Option<Received> {
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
    }
    let len: usize = headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some(Received { method, path, headers, body, at: Instant::now() })
}

impl HookListener {
    pub fn start() -> HookListener {
        let (tx, rx) = mpsc::channel();
        Self::serve(0, tx, rx)
    }

    fn serve(port: u16, tx: mpsc::Sender<Received>, rx: mpsc::Receiver<Received>) -> HookListener {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the hook listener");
        let port = listener.local_addr().expect("addr").port();
        let status = Arc::new(AtomicU16::new(200));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp, sender) = (status.clone(), stop.clone(), tx.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if sp.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(mut stream) = conn else { continue };
                let Some(req) = read_request(&mut stream) else { continue };
                let code = st.load(Ordering::SeqCst);
                let answer = format!(
                    "HTTP/1.1 {code} X\r\nContent-Length: 2\r\nX-Receiver: test\r\nConnection: close\r\n\r\nok"
                );
                let _ = stream.write_all(answer.as_bytes());
                let _ = sender.send(req);
            }
        });
        HookListener { port, rx, tx, status, stop, thread: Some(thread) }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The status every later request is answered with.
    pub fn answer(&self, code: u16) {
        self.status.store(code, Ordering::SeqCst);
    }

    /// The next request, waiting up to `wait`.
    pub fn next(&self, wait: Duration) -> Option<Received> {
        self.rx.recv_timeout(wait).ok()
    }

    /// Stops accepting: later connections are refused until [`HookListener::restart`].
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Accepts again on the same port; what arrives is read with the same [`HookListener::next`].
    pub fn restart(mut self) -> HookListener {
        self.stop();
        let (spare_tx, spare_rx) = mpsc::channel();
        let rx = std::mem::replace(&mut self.rx, spare_rx);
        let tx = std::mem::replace(&mut self.tx, spare_tx);
        Self::serve(self.port, tx, rx)
    }
}

impl Drop for HookListener {
    fn drop(&mut self) {
        self.stop();
    }
}
