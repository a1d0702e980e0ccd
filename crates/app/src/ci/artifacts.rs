//! Job artifacts: the runner uploads an archive with its job token while the job runs; later
//! jobs of the pipeline download it with their own job token, users with read access.
//!
//! Blobs live on local disk under [`super::CiSettings::artifacts_dir`] as
//! `<job id>/<file type>`; the store keeps the record and the storage key. The HTTP layer streams
//! an upload into [`App::artifact_upload_path`] and then calls [`App::accept_artifact`], which
//! moves it into place and records it: a failed upload leaves no record and no file.

use crate::groups::to_result;
use crate::{App, AppError, Principal, Result};
use autogit_core::access::{Action, decide};
use autogit_pipeline::parse_seconds;
use autogit_store::{JobArtifact, NewJobArtifact};
use sha2::Digest;
use std::path::PathBuf;

/// What the runner said about an upload (query string of `POST /jobs/:id/artifacts`).
#[derive(Debug, Clone)]
pub struct UploadMeta {
    pub artifact_type: String,
    pub artifact_format: String,
    pub filename: String,
    pub expire_in: Option<String>,
}

/// Artifact types a runner may upload: GitLab's `archive`, the report types, the `metadata`.
fn valid_type(t: &str) -> bool {
    !t.is_empty() && t.len() <= 64 && t.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl App {
    fn artifact_path(&self, key: &str) -> PathBuf {
        self.ci.settings.artifacts_dir.join(key)
    }

    /// A fresh temporary path for an upload in progress (same filesystem as the final place, so
    /// the move is a rename).
    pub async fn artifact_upload_path(&self) -> Result<PathBuf> {
        let dir = self.ci.settings.artifacts_dir.join("tmp");
        tokio::fs::create_dir_all(&dir).await.map_err(|e| AppError::Internal(format!("artifacts dir: {e}")))?;
        let name: u64 = rand::random();
        Ok(dir.join(format!("upload-{name:016x}")))
    }

    pub fn max_artifacts_bytes(&self) -> u64 {
        self.ci.settings.max_artifacts_bytes
    }

    /// Records an upload of the running job `job_id` (authenticated by `token`). The file at
    /// `tmp` is moved into place or removed.
    pub async fn accept_artifact(
        &self,
        job_id: i64,
        token: &str,
        meta: &UploadMeta,
        tmp: PathBuf,
        size: u64,
        sha256: String,
    ) -> Result<JobArtifact> {
        let result = self.accept_inner(job_id, token, meta, &tmp, size, sha256).await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        result
    }

    async fn accept_inner(
        &self,
        job_id: i64,
        token: &str,
        meta: &UploadMeta,
        tmp: &std::path::Path,
        size: u64,
        sha256: String,
    ) -> Result<JobArtifact> {
        let job = self.job_for_token(job_id, token).await?;
        if !valid_type(&meta.artifact_type) {
            return Err(AppError::Invalid(
                "artifact_type",
                format!("'{}' is not an artifact type", meta.artifact_type),
            ));
        }
        if !matches!(meta.artifact_format.as_str(), "zip" | "gzip" | "raw") {
            return Err(AppError::Invalid(
                "artifact_format",
                format!("'{}' is not zip, gzip or raw", meta.artifact_format),
            ));
        }
        let now = self.clock.now();
        let expire_at = match meta.expire_in.as_deref().map(str::trim) {
            None | Some("") | Some("never") => None,
            Some(s) => {
                let secs = parse_seconds(s)
                    .ok_or_else(|| AppError::Invalid("expire_in", format!("'{s}' is not a duration")))?;
                Some(now + chrono::Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX / 2_000)))
            }
        };
        let key = format!("{}/{}-{:08x}", job.id, meta.artifact_type, rand::random::<u32>());
        let dest = self.artifact_path(&key);
        if let Some(dir) = dest.parent() {
            tokio::fs::create_dir_all(dir).await.map_err(|e| AppError::Internal(format!("artifacts dir: {e}")))?;
        }
        tokio::fs::rename(tmp, &dest).await.map_err(|e| AppError::Internal(format!("storing artifact: {e}")))?;
        let new = NewJobArtifact {
            job_id: job.id,
            file_type: meta.artifact_type.clone(),
            file_format: meta.artifact_format.clone(),
            filename: meta.filename.clone(),
            size: i64::try_from(size).unwrap_or(i64::MAX),
            sha256,
            storage_key: key,
            expire_at,
        };
        match self.store.create_artifact(&new, now).await {
            Ok((record, replaced)) => {
                if let Some(old) = replaced {
                    let _ = tokio::fs::remove_file(self.artifact_path(&old)).await;
                }
                Ok(record)
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&dest).await;
                Err(e.into())
            }
        }
    }

    /// The archive of job `id` for a running job of the same pipeline (its token): what a
    /// runner downloads for `dependencies`.
    pub async fn dependency_artifact(&self, id: i64, token: &str) -> Result<(JobArtifact, PathBuf)> {
        let asking = self
            .store
            .job_by_token_digest(&crate::auth::token_digest(token))
            .await?
            .ok_or_else(|| AppError::Forbidden(Some("job token is not valid".into())))?;
        let target = self.store.job_by_id(id).await?.ok_or(AppError::NotFound("Job"))?;
        if target.pipeline_id != asking.pipeline_id && target.project_id != asking.project_id {
            return Err(AppError::Forbidden(Some("the job token may only read artifacts of its own project".into())));
        }
        self.archive_of(&target.id).await
    }

    async fn archive_of(&self, job_id: &i64) -> Result<(JobArtifact, PathBuf)> {
        let a = self.store.artifact(*job_id, "archive").await?.ok_or(AppError::NotFound("Artifact"))?;
        let path = self.artifact_path(&a.storage_key);
        Ok((a, path))
    }

    /// `GET /projects/:id/jobs/:job_id/artifacts`: for those who may read the project's code.
    pub async fn job_artifacts(&self, who: &Principal, project_ref: &str, id: i64) -> Result<(JobArtifact, PathBuf)> {
        let (project, level) = self.get_project(who, project_ref, Action::View).await?;
        to_result(decide(who.actor, project.visibility, level, Action::ReadRepository), "Project")?;
        match self.store.job_by_id(id).await? {
            Some(j) if j.project_id == project.id => self.archive_of(&j.id).await,
            _ => Err(AppError::NotFound("Job")),
        }
    }

    /// The artifacts records of a job (for the job's API representation).
    pub async fn artifacts_of(&self, job_id: i64) -> Result<Vec<JobArtifact>> {
        Ok(self.store.artifacts_of_job(job_id).await?)
    }

    /// Deletes expired artifacts, record first, then the blob.
    pub(crate) async fn expire_artifacts(&self) -> Result<usize> {
        let expired = self.store.expired_artifacts(self.clock.now(), 100).await?;
        let n = expired.len();
        for a in expired {
            if let Ok(key) = self.store.delete_artifact(a.id).await {
                let _ = tokio::fs::remove_file(self.artifact_path(&key)).await;
            }
        }
        Ok(n)
    }
}

/// The artifact type under which a job's GPU telemetry is kept.
pub const GPU_USAGE_TYPE: &str = "gpu_usage";
/// Telemetry larger than this is not kept (a few entries per GPU are expected).
const MAX_GPU_USAGE_BYTES: usize = 64 << 10;

impl App {
    /// Keeps the GPU telemetry the runner sent with a job's final state (peak memory, mean
    /// utilisation per GPU), as a small `gpu_usage` artifact of the job.
    pub(crate) async fn store_gpu_usage(&self, job: &autogit_store::Job, usage: &serde_json::Value) -> Result<()> {
        let bytes = serde_json::to_vec(usage).map_err(|e| AppError::Internal(e.to_string()))?;
        if !usage.is_array() || bytes.len() > MAX_GPU_USAGE_BYTES {
            return Err(AppError::Invalid("autogit_gpu_usage", "must be a JSON array of at most 64 KiB".into()));
        }
        let key = format!("{}/{GPU_USAGE_TYPE}-{:08x}.json", job.id, rand::random::<u32>());
        let path = self.artifact_path(&key);
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await.map_err(|e| AppError::Internal(format!("artifacts dir: {e}")))?;
        }
        tokio::fs::write(&path, &bytes).await.map_err(|e| AppError::Internal(format!("storing telemetry: {e}")))?;
        let new = NewJobArtifact {
            job_id: job.id,
            file_type: GPU_USAGE_TYPE.into(),
            file_format: "raw".into(),
            filename: "gpu_usage.json".into(),
            size: bytes.len() as i64,
            sha256: hex::encode(sha2::Sha256::digest(&bytes)),
            storage_key: key,
            expire_at: None,
        };
        match self.store.create_artifact(&new, self.clock.now()).await {
            Ok((_, replaced)) => {
                if let Some(old) = replaced {
                    let _ = tokio::fs::remove_file(self.artifact_path(&old)).await;
                }
                Ok(())
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&path).await;
                Err(e.into())
            }
        }
    }

    /// The GPU telemetry of a job, if its runner sent some.
    pub async fn gpu_usage_of(&self, job_id: i64) -> Result<Option<serde_json::Value>> {
        let Some(a) = self.store.artifact(job_id, GPU_USAGE_TYPE).await? else { return Ok(None) };
        let bytes = tokio::fs::read(self.artifact_path(&a.storage_key))
            .await
            .map_err(|e| AppError::Internal(format!("reading telemetry: {e}")))?;
        Ok(serde_json::from_slice(&bytes).ok())
    }
}
