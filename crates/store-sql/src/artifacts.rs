//! [`ArtifactStore`]: job artifact records in `ci_job_artifacts`, unique per (job, file type).
//! An upload locks the job row (`Locks::lock_job`), deletes the record it replaces and inserts the
//! new one in one transaction, so concurrent uploads of one type are serialized and each replaced
//! storage key is handed back exactly once. The deletes use `RETURNING`, so a key also comes back
//! once when a sweep and an upload race on the same record.

use async_trait::async_trait;
use autogit_store::{ArtifactStore, JobArtifact, NewJobArtifact, Result, StoreError};
use autogit_store::{JobId, ProjectId};
use chrono::{DateTime, Utc};

use crate::db::{BeginWrite, Locks, SqlStore, with_db};
use crate::error::db_err;

/// Artifact columns in `ArtifactRow` order.
macro_rules! artifact_columns {
    () => {
        "id, job_id, project_id, file_type, file_format, filename, size, sha256, storage_key, expire_at, created_at"
    };
}

#[derive(sqlx::FromRow)]
struct ArtifactRow {
    id: i64,
    job_id: i64,
    project_id: i64,
    file_type: String,
    file_format: String,
    filename: String,
    size: i64,
    sha256: String,
    storage_key: String,
    expire_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl From<ArtifactRow> for JobArtifact {
    fn from(r: ArtifactRow) -> JobArtifact {
        JobArtifact {
            id: r.id,
            job_id: JobId::new(r.job_id),
            project_id: ProjectId::new(r.project_id),
            file_type: r.file_type,
            file_format: r.file_format,
            filename: r.filename,
            size: r.size,
            sha256: r.sha256,
            storage_key: r.storage_key,
            expire_at: r.expire_at,
            created_at: r.created_at,
        }
    }
}

const REMOVE_OF_TYPE: &str = "DELETE FROM ci_job_artifacts WHERE job_id = $1 AND file_type = $2 RETURNING storage_key";
const INSERT: &str = concat!(
    "INSERT INTO ci_job_artifacts (job_id, project_id, file_type, file_format, filename, size, sha256, ",
    "storage_key, expire_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING ",
    artifact_columns!()
);
/// Unordered: collations differ between backends, so lists are sorted by file type (bytes) here.
const OF_JOB: &str = concat!("SELECT ", artifact_columns!(), " FROM ci_job_artifacts WHERE job_id = $1");
const OF_TYPE: &str =
    concat!("SELECT ", artifact_columns!(), " FROM ci_job_artifacts WHERE job_id = $1 AND file_type = $2");
const REMOVE: &str = "DELETE FROM ci_job_artifacts WHERE id = $1 RETURNING storage_key";
const REMOVE_OF_JOB: &str = "DELETE FROM ci_job_artifacts WHERE job_id = $1 RETURNING file_type, storage_key";
const EXPIRED: &str = concat!(
    "SELECT ",
    artifact_columns!(),
    " FROM ci_job_artifacts WHERE expire_at < $1 ORDER BY expire_at, id LIMIT $2"
);

#[async_trait]
impl ArtifactStore for SqlStore {
    async fn create_artifact(&self, new: &NewJobArtifact, now: DateTime<Utc>) -> Result<(JobArtifact, Option<String>)> {
        if new.size < 0 {
            return Err(StoreError::Invalid(format!("artifact size {} is negative", new.size)));
        }
        let (row, replaced): (ArtifactRow, Option<String>) = with_db!(self, |p| {
            let mut tx = p.begin_write().await?;
            let project_id = tx.lock_job(new.job_id.get()).await?.ok_or(StoreError::NotFound("job"))?;
            let replaced: Option<String> = sqlx::query_scalar(REMOVE_OF_TYPE)
                .bind(new.job_id.get())
                .bind(&new.file_type)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
            let row = sqlx::query_as(INSERT)
                .bind(new.job_id.get())
                .bind(project_id)
                .bind(&new.file_type)
                .bind(&new.file_format)
                .bind(&new.filename)
                .bind(new.size)
                .bind(&new.sha256)
                .bind(&new.storage_key)
                .bind(new.expire_at)
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?;
            tx.commit().await.map_err(db_err)?;
            (row, replaced)
        });
        Ok((row.into(), replaced))
    }

    async fn artifacts_of_job(&self, job_id: JobId) -> Result<Vec<JobArtifact>> {
        let mut rows: Vec<ArtifactRow> =
            with_db!(self, |p| sqlx::query_as(OF_JOB).bind(job_id.get()).fetch_all(p).await.map_err(db_err)?);
        rows.sort_unstable_by(|a, b| a.file_type.cmp(&b.file_type));
        Ok(rows.into_iter().map(JobArtifact::from).collect())
    }

    async fn artifact(&self, job_id: JobId, file_type: &str) -> Result<Option<JobArtifact>> {
        let row: Option<ArtifactRow> = with_db!(self, |p| sqlx::query_as(OF_TYPE)
            .bind(job_id.get())
            .bind(file_type)
            .fetch_optional(p)
            .await
            .map_err(db_err)?);
        Ok(row.map(JobArtifact::from))
    }

    async fn delete_artifact(&self, id: i64) -> Result<String> {
        let key: Option<String> =
            with_db!(self, |p| sqlx::query_scalar(REMOVE).bind(id).fetch_optional(p).await.map_err(db_err)?);
        key.ok_or(StoreError::NotFound("artifact"))
    }

    async fn delete_artifacts_of_job(&self, job_id: JobId) -> Result<Vec<String>> {
        let mut removed: Vec<(String, String)> =
            with_db!(self, |p| sqlx::query_as(REMOVE_OF_JOB).bind(job_id.get()).fetch_all(p).await.map_err(db_err)?);
        removed.sort_unstable();
        Ok(removed.into_iter().map(|(_, key)| key).collect())
    }

    async fn expired_artifacts(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<JobArtifact>> {
        let rows: Vec<ArtifactRow> = with_db!(self, |p| sqlx::query_as(EXPIRED)
            .bind(now)
            .bind(limit.max(0))
            .fetch_all(p)
            .await
            .map_err(db_err)?);
        Ok(rows.into_iter().map(JobArtifact::from).collect())
    }
}
