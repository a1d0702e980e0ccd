//! The HTTP client of the runner job API (research: gitlab-runner.md §1), with the status-code
//! meanings gitlab-runner gives them, so that AutoGit's runner behaves like the official one.

use autogit_protocol::*;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use reqwest::multipart::{Form, Part};
use std::path::Path;
use std::time::Duration;
use thiserror::Error;
use tokio::io::AsyncWriteExt;

#[derive(Debug, Error)]
pub enum ClientError {
    #[error("request to the server failed")]
    Http(#[from] reqwest::Error),
    /// The server refused the token (403): the runner is unregistered or its token revoked.
    #[error("the server refused the runner token")]
    Forbidden,
    #[error("unexpected response {status}: {body}")]
    Unexpected { status: u16, body: String },
    /// Reading an archive to upload, or writing one downloaded.
    #[error("archive file: {0}")]
    Io(#[from] std::io::Error),
    /// A TLS file of the runner's configuration that cannot be used.
    #[error("TLS: {0}")]
    Tls(String),
}

pub type Result<T> = std::result::Result<T, ClientError>;

/// The answer to `POST /jobs/request`.
#[derive(Debug)]
pub enum Poll {
    Job(Box<JobResponse>),
    /// No job; send `last_update` back on the next request.
    NoJob {
        last_update: Option<String>,
    },
    /// Another request took the job first (409), or the server is busy (503): ask again.
    Retry,
}

/// What the coordinator says about a job after an update or a trace patch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    Continue,
    /// `Job-Status: canceling`: stop the script, still run after_script.
    Cancel,
    /// `Job-Status: canceled|failed`, 403 or 404: stop and forget the job.
    Abort,
}

/// How the coordinator answered a job's final state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    /// 200: taken.
    Accepted,
    /// 403/404: the coordinator no longer knows the job token — the job was failed when its
    /// lease ran out, was canceled, or had finished already.
    Gone { status: u16 },
}

impl ClientError {
    /// Whether sending the same request again may succeed: the server was unreachable or busy,
    /// timed out, or failed (`5xx`, `408`, `429`, a `202` not final yet); not for another `4xx`.
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Http(_) | ClientError::Io(_) => true,
            ClientError::Forbidden | ClientError::Tls(_) => false,
            ClientError::Unexpected { status, .. } => *status >= 500 || matches!(status, 202 | 408 | 429),
        }
    }
}

/// The answer to `PATCH /jobs/:id/trace`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Patched {
    /// Accepted; the server now has `size` bytes.
    Accepted { state: JobState },
    /// The server has a different size: resend from `offset` (416 with `Range: 0-<offset>`).
    Resend { offset: u64, state: JobState },
}

/// The answer to `POST /jobs/:id/artifacts` (research §1.11).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadOutcome {
    /// 201.
    Created,
    /// 413: over the coordinator's size limit; sending it again cannot help.
    TooLarge,
    /// Any other status.
    Failed { status: u16, body: String },
}

pub struct Client {
    http: reqwest::Client,
    api: String,
    /// The longest one API call may take; a job request may be held longer (the long poll).
    request_timeout: Duration,
    /// The coordinator's `X-GitLab-Trace-Update-Interval`, in seconds: how often a running job
    /// must be heard of (its lease is a few of these long).
    update_interval: std::sync::atomic::AtomicU64,
}

/// Used until the coordinator says otherwise (gitlab-runner's `DefaultUpdateInterval`).
pub const DEFAULT_UPDATE_INTERVAL_SECS: u64 = 3;
/// gitlab-runner clamps the server's value to 15 minutes (`MaxUpdateInterval`).
const MAX_UPDATE_INTERVAL_SECS: u64 = 15 * 60;
/// The default of [`Client::with_timeout`].
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest a coordinator holds a job request (AutoGit's `ci.long_poll_seconds` maximum).
pub const MAX_LONG_POLL: Duration = Duration::from_secs(600);

impl Client {
    pub fn new(url: &str) -> Result<Self> {
        Self::with_timeout(url, DEFAULT_REQUEST_TIMEOUT)
    }

    /// A client whose calls give up after `request_timeout` (a job request after the longest
    /// long poll on top), so that a server that vanished without closing its connections (a
    /// host gone, a network cut) cannot hold the runner.
    pub fn with_timeout(url: &str, request_timeout: Duration) -> Result<Self> {
        Self::with_tls(url, request_timeout, &crate::config::TlsFiles::default())
    }

    /// As [`Client::with_timeout`], trusting `tls.ca_file` (else the system's roots) and, when
    /// given, presenting `tls.cert_file`/`tls.key_file` (mutual TLS).
    pub fn with_tls(url: &str, request_timeout: Duration, tls: &crate::config::TlsFiles) -> Result<Self> {
        // reqwest's rustls takes the process's provider when one is installed; ring, as the
        // server's (installing twice is refused harmlessly).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("autogit-runner/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(request_timeout.min(Duration::from_secs(10)))
            .tcp_keepalive(Duration::from_secs(30));
        let read =
            |p: &std::path::Path| std::fs::read(p).map_err(|e| ClientError::Tls(format!("{}: {e}", p.display())));
        if let Some(ca) = &tls.ca_file {
            let certs = reqwest::Certificate::from_pem_bundle(&read(ca)?)
                .map_err(|e| ClientError::Tls(format!("{}: {e}", ca.display())))?;
            builder = builder.tls_certs_only(certs);
        }
        match (&tls.cert_file, &tls.key_file) {
            (Some(cert), Some(key)) => {
                let mut pem = read(key)?;
                pem.extend_from_slice(&read(cert)?);
                let identity = reqwest::Identity::from_pem(&pem)
                    .map_err(|e| ClientError::Tls(format!("{} and {}: {e}", cert.display(), key.display())))?;
                builder = builder.identity(identity);
            }
            (None, None) => {}
            _ => return Err(ClientError::Tls("tls-cert-file and tls-key-file go together".into())),
        }
        let http = builder.build()?;
        Ok(Client {
            http,
            api: format!("{}/api/v4", url.trim_end_matches('/')),
            request_timeout,
            update_interval: std::sync::atomic::AtomicU64::new(DEFAULT_UPDATE_INTERVAL_SECS),
        })
    }

    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// How often a running job should be reported on, as the coordinator last asked.
    pub fn update_interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.update_interval.load(std::sync::atomic::Ordering::Relaxed))
    }

    fn note_interval(&self, h: &HeaderMap) {
        let secs = header(h, "X-GitLab-Trace-Update-Interval").and_then(|v| v.trim().parse::<u64>().ok());
        if let Some(secs) = secs {
            self.update_interval.store(secs.clamp(1, MAX_UPDATE_INTERVAL_SECS), std::sync::atomic::Ordering::Relaxed);
        }
    }

    pub async fn register(&self, req: &RegisterRequest) -> Result<RunnerDetails> {
        let r = self.http.post(format!("{}/runners", self.api)).timeout(self.request_timeout).json(req).send().await?;
        match r.status() {
            StatusCode::CREATED => Ok(r.json().await?),
            StatusCode::FORBIDDEN => Err(ClientError::Forbidden),
            s => Err(unexpected(s, r).await),
        }
    }

    pub async fn verify(&self, req: &VerifyRequest) -> Result<RunnerDetails> {
        let r = self
            .http
            .post(format!("{}/runners/verify", self.api))
            .timeout(self.request_timeout)
            .json(req)
            .send()
            .await?;
        match r.status() {
            StatusCode::OK => Ok(r.json().await?),
            StatusCode::FORBIDDEN => Err(ClientError::Forbidden),
            s => Err(unexpected(s, r).await),
        }
    }

    /// Asks for a job; the server may hold the request (long polling) until one is queued.
    pub async fn request_job(&self, req: &JobRequest) -> Result<Poll> {
        let r = self
            .http
            .post(format!("{}/jobs/request", self.api))
            .timeout(self.request_timeout + MAX_LONG_POLL)
            .json(req)
            .send()
            .await?;
        match r.status() {
            StatusCode::CREATED => Ok(Poll::Job(Box::new(r.json().await?))),
            StatusCode::NO_CONTENT => Ok(Poll::NoJob { last_update: header(r.headers(), LAST_UPDATE_HEADER) }),
            StatusCode::CONFLICT | StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS => Ok(Poll::Retry),
            StatusCode::FORBIDDEN => Err(ClientError::Forbidden),
            s => Err(unexpected(s, r).await),
        }
    }

    /// `PUT /jobs/:id` with the job's token.
    async fn put_job(&self, id: i64, req: &UpdateJobRequest) -> Result<reqwest::Response> {
        Ok(self
            .http
            .put(format!("{}/jobs/{id}", self.api))
            .timeout(self.request_timeout)
            .header(JOB_TOKEN_HEADER, &req.token)
            .json(req)
            .send()
            .await?)
    }

    pub async fn update_job(&self, id: i64, req: &UpdateJobRequest) -> Result<JobState> {
        let r = self.put_job(id, req).await?;
        let state = job_state(r.status(), r.headers());
        self.note_interval(r.headers());
        match r.status() {
            // 202: accepted but not final yet (trace still persisting): the caller retries.
            StatusCode::OK | StatusCode::ACCEPTED | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND => Ok(state),
            s => Err(unexpected(s, r).await),
        }
    }

    /// Sends a job's final state (`success` or `failed`). A `202` (accepted, not final yet) is an
    /// [`ClientError::Unexpected`] like a `5xx`: the caller sends the state again later.
    pub async fn finish_job(&self, id: i64, req: &UpdateJobRequest) -> Result<Finished> {
        let r = self.put_job(id, req).await?;
        match r.status() {
            StatusCode::OK => Ok(Finished::Accepted),
            s @ (StatusCode::FORBIDDEN | StatusCode::NOT_FOUND) => Ok(Finished::Gone { status: s.as_u16() }),
            s => Err(unexpected(s, r).await),
        }
    }

    pub async fn patch_trace(&self, id: i64, token: &str, offset: u64, data: Vec<u8>) -> Result<Patched> {
        let end = offset + data.len() as u64;
        let r = self
            .http
            .patch(format!("{}/jobs/{id}/trace", self.api))
            .timeout(self.request_timeout)
            .header(JOB_TOKEN_HEADER, token)
            .header("Content-Type", "text/plain")
            .header("Content-Range", format!("{offset}-{}", end.saturating_sub(1)))
            .body(data)
            .send()
            .await?;
        let state = job_state(r.status(), r.headers());
        self.note_interval(r.headers());
        match r.status() {
            StatusCode::ACCEPTED => Ok(Patched::Accepted { state }),
            StatusCode::RANGE_NOT_SATISFIABLE => {
                let offset = header(r.headers(), "Range").and_then(|v| range_end(&v)).unwrap_or(0);
                Ok(Patched::Resend { offset, state })
            }
            StatusCode::FORBIDDEN | StatusCode::NOT_FOUND => Ok(Patched::Accepted { state: JobState::Abort }),
            s => Err(unexpected(s, r).await),
        }
    }

    /// Uploads a job's artifacts archive as gitlab-runner does: `multipart/form-data` with one
    /// file field `file`, the format, type and expiry in the query string, `JOB-TOKEN`.
    pub async fn upload_artifacts(
        &self,
        id: i64,
        token: &str,
        query: &[(&str, String)],
        archive: &Path,
    ) -> Result<UploadOutcome> {
        let file = tokio::fs::File::open(archive).await?;
        let len = file.metadata().await?.len();
        let part = Part::stream_with_length(file, len).file_name("artifacts.zip").mime_str("application/zip")?;
        let r = self
            .http
            .post(format!("{}/jobs/{id}/artifacts", self.api))
            .header(JOB_TOKEN_HEADER, token)
            .query(query)
            .multipart(Form::new().part("file", part))
            .send()
            .await?;
        Ok(match r.status() {
            StatusCode::CREATED => UploadOutcome::Created,
            StatusCode::PAYLOAD_TOO_LARGE => UploadOutcome::TooLarge,
            s => {
                let body = r.text().await.unwrap_or_default();
                UploadOutcome::Failed { status: s.as_u16(), body: body.chars().take(500).collect() }
            }
        })
    }

    /// Downloads a dependency's artifacts archive (`GET /jobs/:id/artifacts`, research §1.12)
    /// into `dest`, with the dependency's `JOB-TOKEN`; returns its size. Anything but 200 is an
    /// error (redirects to object storage are followed by the HTTP client).
    pub async fn download_artifacts(&self, id: i64, token: &str, dest: &mut tokio::fs::File) -> Result<u64> {
        let mut r =
            self.http.get(format!("{}/jobs/{id}/artifacts", self.api)).header(JOB_TOKEN_HEADER, token).send().await?;
        if r.status() != StatusCode::OK {
            return Err(unexpected(r.status(), r).await);
        }
        let mut size = 0;
        while let Some(chunk) = r.chunk().await? {
            dest.write_all(&chunk).await?;
            size += chunk.len() as u64;
        }
        dest.flush().await?;
        Ok(size)
    }
}

fn header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

/// `Range: 0-<size>` → size.
pub fn range_end(v: &str) -> Option<u64> {
    v.trim().split_once('-').and_then(|(_, end)| end.trim().parse().ok())
}

/// GitLab's runner: 403/404 or `Job-Status: canceled|failed` abort; `canceling` cancels.
pub fn job_state(status: StatusCode, h: &HeaderMap) -> JobState {
    if status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND {
        return JobState::Abort;
    }
    match header(h, JOB_STATUS_HEADER).as_deref() {
        Some("canceled") | Some("failed") => JobState::Abort,
        Some("canceling") => JobState::Cancel,
        _ => JobState::Continue,
    }
}

async fn unexpected(status: StatusCode, r: reqwest::Response) -> ClientError {
    let body = r.text().await.unwrap_or_default();
    ClientError::Unexpected { status: status.as_u16(), body: body.chars().take(500).collect() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn job_status_mapping() {
        let mut h = HeaderMap::new();
        assert_eq!(job_state(StatusCode::OK, &h), JobState::Continue);
        h.insert(JOB_STATUS_HEADER, HeaderValue::from_static("canceling"));
        assert_eq!(job_state(StatusCode::OK, &h), JobState::Cancel);
        h.insert(JOB_STATUS_HEADER, HeaderValue::from_static("canceled"));
        assert_eq!(job_state(StatusCode::ACCEPTED, &h), JobState::Abort);
        assert_eq!(job_state(StatusCode::NOT_FOUND, &HeaderMap::new()), JobState::Abort);
        assert_eq!(range_end("0-1234"), Some(1234));
        assert_eq!(range_end("garbage"), None);
    }

    /// One raw HTTP/1.1 request, body included (by `Content-Length` or chunked).
    async fn read_request(s: &mut tokio::net::TcpStream) -> String {
        use tokio::io::AsyncReadExt;
        let mut buf = Vec::new();
        loop {
            let mut chunk = [0u8; 4096];
            let n = s.read(&mut chunk).await.expect("read");
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf).to_string();
            let Some((head, body)) = text.split_once("\r\n\r\n") else { continue };
            let head = head.to_ascii_lowercase();
            let length = head.lines().find_map(|l| l.strip_prefix("content-length: ")?.parse::<usize>().ok());
            let done = match length {
                Some(len) => body.len() >= len,
                None => !head.contains("chunked") || body.ends_with("0\r\n\r\n"),
            };
            if done || n == 0 {
                return text;
            }
        }
    }

    #[tokio::test]
    async fn artifact_requests_have_gitlab_runners_shape() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let server = tokio::spawn(async move {
            let mut requests = Vec::new();
            for (status, body) in [("201 Created", "201"), ("413 Payload Too Large", ""), ("200 OK", "PK-zip")] {
                let (mut s, _) = listener.accept().await.expect("accept");
                requests.push(read_request(&mut s).await);
                let r =
                    format!("HTTP/1.1 {status}\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}", body.len());
                s.write_all(r.as_bytes()).await.expect("write");
            }
            requests
        });
        let client = Client::new(&url).expect("client");
        let dir = tempfile::tempdir().expect("tempdir");
        let archive = dir.path().join("a.zip");
        std::fs::write(&archive, "zip bytes").expect("write");
        let query = [("artifact_format", "zip".to_string()), ("artifact_type", "archive".to_string())];
        let query = [&query[..], &[("expire_in", "1 week".to_string())]].concat();
        assert_eq!(client.upload_artifacts(5, "glcbt-t", &query, &archive).await.expect("up"), UploadOutcome::Created);
        assert_eq!(client.upload_artifacts(5, "glcbt-t", &query, &archive).await.expect("up"), UploadOutcome::TooLarge);
        let mut dest = tokio::fs::File::create(dir.path().join("dep.zip")).await.expect("create");
        assert_eq!(client.download_artifacts(4, "glcbt-dep", &mut dest).await.expect("down"), 6);
        let requests = server.await.expect("server");
        let up = &requests[0];
        assert!(
            up.starts_with("POST /api/v4/jobs/5/artifacts?artifact_format=zip&artifact_type=archive&expire_in=1+week "),
            "{up}"
        );
        let lower = up.to_ascii_lowercase();
        assert!(
            lower.contains("job-token: glcbt-t\r\n") && lower.contains("content-type: multipart/form-data"),
            "{up}"
        );
        assert!(up.contains("Content-Disposition: form-data; name=\"file\"; filename=\"artifacts.zip\""), "{up}");
        assert!(up.contains("zip bytes") && up.matches("Content-Disposition").count() == 1, "{up}");
        let down = &requests[2];
        assert!(down.starts_with("GET /api/v4/jobs/4/artifacts "), "{down}");
        assert!(down.to_ascii_lowercase().contains("job-token: glcbt-dep\r\n"), "{down}");
        assert_eq!(std::fs::read_to_string(dir.path().join("dep.zip")).expect("read"), "PK-zip");
    }
}
