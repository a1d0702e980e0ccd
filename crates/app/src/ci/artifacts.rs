//! Job artifacts: the runner uploads an archive with its job token while the job runs; later
//! jobs of the pipeline download it with their own job token, users with read access
//! (`artifact_downloads`).
//!
//! Blobs go through the [`BlobStore`](autogit_store::BlobStore) port under the key
//! `<job id>/<file type>-<random>`; the store keeps the record and that key. An upload is checked
//! (token, type, format, expiry) before its first byte is read, streamed into the blob store
//! (size-capped, hashed on the way) and then recorded: a failed upload leaves no record and no
//! blob, and a replaced or expired record's blob is removed after the record.

use crate::{App, AppError, Result, System};
use autogit_core::JobId;
use autogit_pipeline::parse_seconds;
use autogit_store::blob::{BlobError, BlobKey, ByteStream, bytes_body};
use autogit_store::{Job, JobArtifact, NewJobArtifact};
use futures_util::StreamExt;
use sha2::Digest;

use super::blobs::{internal, key_of};

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

/// A fresh key for a job's blob of this type (random, so a replacement never overwrites the
/// blob the current record still points at).
fn new_key(job_id: JobId, file_type: &str, suffix: &str) -> Result<BlobKey> {
    key_of(&format!("{job_id}/{file_type}-{:08x}{suffix}", rand::random::<u32>()))
}

impl App {
    /// Records a stored blob; a replaced record's blob is removed, and the new blob is removed
    /// when the record cannot be written.
    async fn record_blob(&self, new: &NewJobArtifact) -> Result<JobArtifact> {
        match self.store.create_artifact(new, self.clock.now()).await {
            Ok((record, replaced)) => {
                self.remove_blobs(replaced).await;
                Ok(record)
            }
            Err(e) => {
                self.remove_blobs([new.storage_key.clone()]).await;
                Err(e.into())
            }
        }
    }

    /// Deletes expired artifacts, record first, then the blob.
    pub(crate) async fn expire_artifacts(&self) -> Result<usize> {
        let expired = self.store.expired_artifacts(self.clock.now(), 100).await?;
        let n = expired.len();
        for a in expired {
            if let Ok(key) = self.store.delete_artifact(a.id).await {
                self.remove_blobs([key]).await;
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
    pub(crate) async fn store_gpu_usage(&self, job: &Job, usage: &serde_json::Value) -> Result<()> {
        let bytes = serde_json::to_vec(usage).map_err(|e| AppError::Internal(e.to_string()))?;
        if !usage.is_array() || bytes.len() > MAX_GPU_USAGE_BYTES {
            return Err(AppError::Invalid("autogit_gpu_usage", "must be a JSON array of at most 64 KiB".into()));
        }
        let key = new_key(job.id, GPU_USAGE_TYPE, ".json")?;
        let sha256 = hex::encode(sha2::Sha256::digest(&bytes));
        let size = bytes.len() as i64;
        self.blobs.put(&key, bytes_body(bytes), None).await.map_err(internal)?;
        let new = NewJobArtifact {
            job_id: job.id,
            file_type: GPU_USAGE_TYPE.into(),
            file_format: "raw".into(),
            filename: "gpu_usage.json".into(),
            size,
            sha256,
            storage_key: key.to_string(),
            expire_at: None,
        };
        self.record_blob(&new).await.map(|_| ())
    }
}

impl System<'_> {
    pub fn max_artifacts_bytes(&self) -> u64 {
        self.ci.settings.max_artifacts_bytes
    }

    /// Stores and records an upload of the running job `job_id` (authenticated by `token`),
    /// reading `body` to its end. Everything is checked before the first byte is read. A body
    /// over the size limit is `TooLarge`; a body that fails is `Invalid("file")`; either way
    /// nothing is kept.
    pub async fn accept_artifact(
        &self,
        job_id: JobId,
        token: &str,
        meta: &UploadMeta,
        body: ByteStream<'_>,
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
        let key = new_key(job.id, &meta.artifact_type, "")?;
        let limit = self.max_artifacts_bytes();
        let mut hash = sha2::Sha256::new();
        let hashed = body.map(|chunk| {
            if let Ok(bytes) = &chunk {
                hash.update(bytes);
            }
            chunk
        });
        let stored = self.blobs.put(&key, Box::pin(hashed), Some(limit)).await.map_err(|e| match e {
            BlobError::TooLarge { limit, .. } => AppError::TooLarge(limit),
            BlobError::Source { source, .. } => AppError::Invalid("file", source.to_string()),
            other => internal(other),
        })?;
        let new = NewJobArtifact {
            job_id: job.id,
            file_type: meta.artifact_type.clone(),
            file_format: meta.artifact_format.clone(),
            filename: meta.filename.clone(),
            size: i64::try_from(stored.size).unwrap_or(i64::MAX),
            sha256: hex::encode(hash.finalize()),
            storage_key: key.to_string(),
            expire_at,
        };
        self.record_blob(&new).await
    }

    /// The artifacts records of a job (for the job's API representation).
    pub async fn artifacts_of(&self, job_id: JobId) -> Result<Vec<JobArtifact>> {
        Ok(self.store.artifacts_of_job(job_id).await?)
    }

    /// The GPU telemetry of a job, if its runner sent some.
    pub async fn gpu_usage_of(&self, job_id: JobId) -> Result<Option<serde_json::Value>> {
        let Some(a) = self.store.artifact(job_id, GPU_USAGE_TYPE).await? else { return Ok(None) };
        let mut body = self.blobs.open(&key_of(&a.storage_key)?, None).await.map_err(internal)?.body;
        let mut bytes = Vec::new();
        while let Some(chunk) = body.next().await {
            bytes.extend_from_slice(&chunk.map_err(|e| AppError::Internal(format!("reading telemetry: {e}")))?);
            if bytes.len() > MAX_GPU_USAGE_BYTES {
                return Err(AppError::Internal(format!("telemetry of job {job_id} is larger than it may be")));
            }
        }
        Ok(serde_json::from_slice(&bytes).ok())
    }
}
