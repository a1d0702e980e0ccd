//! The HTTP client of the runner job API (research: gitlab-runner.md §1), with the status-code
//! meanings gitlab-runner gives them, so that AutoGit's runner behaves like the official one.

use autogit_protocol::*;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ClientError {
    #[error("request to the server failed")]
    Http(#[from] reqwest::Error),
    /// The server refused the token (403): the runner is unregistered or its token revoked.
    #[error("the server refused the runner token")]
    Forbidden,
    #[error("unexpected response {status}: {body}")]
    Unexpected { status: u16, body: String },
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

/// The answer to `PATCH /jobs/:id/trace`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Patched {
    /// Accepted; the server now has `size` bytes.
    Accepted { state: JobState },
    /// The server has a different size: resend from `offset` (416 with `Range: 0-<offset>`).
    Resend { offset: u64, state: JobState },
}

pub struct Client {
    http: reqwest::Client,
    api: String,
}

impl Client {
    pub fn new(url: &str) -> Result<Self> {
        let http =
            reqwest::Client::builder().user_agent(concat!("autogit-runner/", env!("CARGO_PKG_VERSION"))).build()?;
        Ok(Client { http, api: format!("{}/api/v4", url.trim_end_matches('/')) })
    }

    pub async fn register(&self, req: &RegisterRequest) -> Result<RunnerDetails> {
        let r = self.http.post(format!("{}/runners", self.api)).json(req).send().await?;
        match r.status() {
            StatusCode::CREATED => Ok(r.json().await?),
            StatusCode::FORBIDDEN => Err(ClientError::Forbidden),
            s => Err(unexpected(s, r).await),
        }
    }

    pub async fn verify(&self, req: &VerifyRequest) -> Result<RunnerDetails> {
        let r = self.http.post(format!("{}/runners/verify", self.api)).json(req).send().await?;
        match r.status() {
            StatusCode::OK => Ok(r.json().await?),
            StatusCode::FORBIDDEN => Err(ClientError::Forbidden),
            s => Err(unexpected(s, r).await),
        }
    }

    /// Asks for a job; the server may hold the request (long polling) until one is queued.
    pub async fn request_job(&self, req: &JobRequest) -> Result<Poll> {
        let r = self.http.post(format!("{}/jobs/request", self.api)).json(req).send().await?;
        match r.status() {
            StatusCode::CREATED => Ok(Poll::Job(Box::new(r.json().await?))),
            StatusCode::NO_CONTENT => Ok(Poll::NoJob { last_update: header(r.headers(), LAST_UPDATE_HEADER) }),
            StatusCode::CONFLICT | StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS => Ok(Poll::Retry),
            StatusCode::FORBIDDEN => Err(ClientError::Forbidden),
            s => Err(unexpected(s, r).await),
        }
    }

    pub async fn update_job(&self, id: i64, req: &UpdateJobRequest) -> Result<JobState> {
        let r = self
            .http
            .put(format!("{}/jobs/{id}", self.api))
            .header(JOB_TOKEN_HEADER, &req.token)
            .json(req)
            .send()
            .await?;
        let state = job_state(r.status(), r.headers());
        match r.status() {
            // 202: accepted but not final yet (trace still persisting): the caller retries.
            StatusCode::OK | StatusCode::ACCEPTED | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND => Ok(state),
            s => Err(unexpected(s, r).await),
        }
    }

    pub async fn patch_trace(&self, id: i64, token: &str, offset: u64, data: Vec<u8>) -> Result<Patched> {
        let end = offset + data.len() as u64;
        let r = self
            .http
            .patch(format!("{}/jobs/{id}/trace", self.api))
            .header(JOB_TOKEN_HEADER, token)
            .header("Content-Type", "text/plain")
            .header("Content-Range", format!("{offset}-{}", end.saturating_sub(1)))
            .body(data)
            .send()
            .await?;
        let state = job_state(r.status(), r.headers());
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
}
