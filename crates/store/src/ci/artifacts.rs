//! Job artifacts: the records of files a job uploaded (its `artifacts:` archive, reports, the
//! archived trace). The bytes live elsewhere, under a `storage_key` the store never interprets:
//! the store keeps the record, and hands back the keys of records it drops so that the caller can
//! delete the blobs.

use async_trait::async_trait;
use autogit_core::{JobId, ProjectId};
use chrono::{DateTime, Utc};

use crate::Result;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobArtifact {
    pub id: i64,
    pub job_id: JobId,
    /// The job's project.
    pub project_id: ProjectId,
    /// GitLab's `artifact_type`: `archive`, `metadata`, `trace`, `junit`… At most one per job.
    pub file_type: String,
    /// `zip`, `gzip` or `raw`.
    pub file_format: String,
    /// The name the runner gave the file.
    pub filename: String,
    /// Bytes.
    pub size: i64,
    /// Hex SHA-256 of the bytes.
    pub sha256: String,
    /// Where the blob lives; opaque to the store.
    pub storage_key: String,
    /// When the artifact may be deleted; `None` keeps it forever.
    pub expire_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A new artifact record; its `project_id` is the job's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJobArtifact {
    pub job_id: JobId,
    pub file_type: String,
    pub file_format: String,
    pub filename: String,
    /// Bytes; negative is `Invalid`.
    pub size: i64,
    pub sha256: String,
    pub storage_key: String,
    pub expire_at: Option<DateTime<Utc>>,
}

/// Records of job artifacts, at most one per (job, file type). File types and formats are stored
/// as given (which ones exist is the caller's business). Deleting a job's project removes the
/// records but never the blobs: a caller deleting a project must clean up its blobs itself.
#[async_trait]
pub trait ArtifactStore: Send + Sync {
    /// Records an upload, with `created_at = now`. If the job already has an artifact of this
    /// file type (a retrying runner uploading again), that record is replaced in the same
    /// transaction by a new one (new id) and its storage key is returned with it, so that the
    /// caller can delete the old blob; concurrent uploads of one type leave exactly one record.
    /// NotFound if the job is missing; Invalid for a negative size.
    async fn create_artifact(&self, new: &NewJobArtifact, now: DateTime<Utc>) -> Result<(JobArtifact, Option<String>)>;
    /// The artifacts of one job, by file type (byte order); empty for a missing job.
    async fn artifacts_of_job(&self, job_id: JobId) -> Result<Vec<JobArtifact>>;
    /// The job's artifact of this file type.
    async fn artifact(&self, job_id: JobId, file_type: &str) -> Result<Option<JobArtifact>>;
    /// Deletes one artifact record (an expired one, say) and returns its storage key. NotFound if
    /// missing, e.g. when a new upload replaced it in the meantime.
    async fn delete_artifact(&self, id: i64) -> Result<String>;
    /// Deletes every artifact record of the job and returns their storage keys, by file type;
    /// empty (not NotFound) when there are none or the job is missing.
    async fn delete_artifacts_of_job(&self, job_id: JobId) -> Result<Vec<String>>;
    /// Up to `limit` artifacts whose `expire_at` is before `now`, soonest expired first (then by
    /// id): the work list of the expiry sweep.
    async fn expired_artifacts(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<JobArtifact>>;
}
