//! A simulated runner: the three runner-API calls gitlab-runner makes, and nothing else (no
//! executor, no trace). Each call is one HTTP round trip to the server under test.

use anyhow::{Result, bail};
use autogit_protocol::{JobRequest, JobResponse, ReportedState, RunnerInfo, UpdateJobRequest, VerifyRequest};
use reqwest::{Client, StatusCode};
use std::time::Instant;

pub struct Runner {
    pub http: Client,
    /// `http://127.0.0.1:PORT/api/v4`
    pub api: String,
    pub token: String,
    info: RunnerInfo,
}

/// The answer to one `POST /jobs/request`.
pub enum Got {
    /// The job, and when the `201` head arrived (before its body was read).
    Job(Box<JobResponse>, Instant),
    NoJob,
}

impl Runner {
    pub fn new(http: Client, api: String, token: String, name: &str) -> Runner {
        let info = RunnerInfo {
            name: name.to_string(),
            version: "17.11.0".into(),
            revision: "bench".into(),
            platform: "linux".into(),
            architecture: "amd64".into(),
            executor: "shell".into(),
            shell: "bash".into(),
            ..RunnerInfo::default()
        };
        Runner { http, api, token, info }
    }

    /// `POST /jobs/request`: held by the server until a job comes or the long poll ends.
    pub async fn request_job(&self) -> Result<Got> {
        let req = JobRequest {
            token: self.token.clone(),
            system_id: Some(format!("s_bench{}", &self.token[self.token.len().saturating_sub(8)..])),
            last_update: None,
            info: self.info.clone(),
            session: None,
        };
        let r = self.http.post(format!("{}/jobs/request", self.api)).json(&req).send().await?;
        let at = Instant::now();
        match r.status() {
            StatusCode::CREATED => Ok(Got::Job(Box::new(r.json().await?), at)),
            StatusCode::NO_CONTENT => Ok(Got::NoJob),
            s => bail!("jobs/request: {s} {}", r.text().await.unwrap_or_default()),
        }
    }

    /// `PUT /jobs/:id` with `state=success` and the job token.
    pub async fn succeed(&self, job: &JobResponse) -> Result<()> {
        let req = UpdateJobRequest {
            token: job.token.clone(),
            state: ReportedState::Success,
            failure_reason: None,
            exit_code: Some(0),
            checksum: None,
            output: None,
            info: self.info.clone(),
            gpu_usage: None,
        };
        let r = self.http.put(format!("{}/jobs/{}", self.api, job.id)).json(&req).send().await?;
        if r.status() != StatusCode::OK {
            bail!("PUT /jobs/{}: {}", job.id, r.status());
        }
        Ok(())
    }

    /// `POST /runners/verify`: an authenticated round trip that schedules nothing.
    pub async fn verify(&self) -> Result<()> {
        let req = VerifyRequest { token: self.token.clone(), system_id: None, info: self.info.clone() };
        let r = self.http.post(format!("{}/runners/verify", self.api)).json(&req).send().await?;
        if !r.status().is_success() {
            bail!("runners/verify: {}", r.status());
        }
        // Read the body, as a runner does.
        r.bytes().await?;
        Ok(())
    }
}
