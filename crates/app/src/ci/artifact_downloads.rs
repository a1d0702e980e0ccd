//! Artifact downloads: a view of the stored archive (name, size, the part asked for and a byte
//! stream) for the runner of a later job (its job token) and for users who may read the code.
//! No filesystem path leaves the app: the blob comes through the port.

use crate::{App, AppError, Principal, Result, System};
use autogit_core::JobId;
use autogit_store::Job;
use autogit_store::blob::{BlobError, ByteStream};
use std::ops::Range;

use super::blobs::{internal, key_of};

/// A byte range asked for before the size is known (HTTP's `bytes=a-b`, `bytes=a-`, `bytes=-n`;
/// ends inclusive, as there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRequest {
    From(u64),
    FromTo(u64, u64),
    Last(u64),
}

impl RangeRequest {
    /// The half-open range of an object of `size` bytes it asks for; `None` when no byte of it
    /// is inside the object (a range past the end, a zero-length suffix, an empty object). An end
    /// past the object is cut at its end, as HTTP does.
    pub fn resolve(self, size: u64) -> Option<Range<u64>> {
        match self {
            RangeRequest::From(start) if start < size => Some(start..size),
            RangeRequest::FromTo(start, last) if start < size && start <= last => {
                Some(start..last.saturating_add(1).min(size))
            }
            RangeRequest::Last(n) if n > 0 && size > 0 => Some(size.saturating_sub(n)..size),
            _ => None,
        }
    }
}

/// A stored artifact on its way out.
pub struct ArtifactDownload {
    pub filename: String,
    /// The whole artifact's size.
    pub size: u64,
    pub content_type: Option<&'static str>,
    /// The part served when a range was asked for; `None`: all of it.
    pub range: Option<Range<u64>>,
    pub body: ByteStream<'static>,
}

impl std::fmt::Debug for ArtifactDownload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArtifactDownload")
            .field("filename", &self.filename)
            .field("size", &self.size)
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

impl App {
    /// `GET /projects/:id/jobs/:job_id/artifacts`: for those who may read the project's code.
    pub async fn job_artifacts(
        &self,
        who: &Principal,
        project_ref: &str,
        id: JobId,
        range: Option<RangeRequest>,
    ) -> Result<ArtifactDownload> {
        let job = self.job_of_readable_project(who, project_ref, id).await?;
        self.archive_of(job.id, range).await
    }

    /// Job `id` of the project, if `who` may read the project's code (what its artifacts need).
    pub(crate) async fn job_of_readable_project(&self, who: &Principal, project_ref: &str, id: JobId) -> Result<Job> {
        let (project, _) = self.readable_project(who, project_ref).await?;
        match self.store.job_by_id(id).await? {
            Some(j) if j.project_id == project.id => Ok(j),
            _ => Err(AppError::NotFound("Job")),
        }
    }

    async fn archive_of(&self, job_id: JobId, range: Option<RangeRequest>) -> Result<ArtifactDownload> {
        let a = self.store.artifact(job_id, "archive").await?.ok_or(AppError::NotFound("Artifact"))?;
        let recorded = u64::try_from(a.size).unwrap_or(0);
        let wanted = match range {
            None => None,
            Some(r) => Some(r.resolve(recorded).ok_or(AppError::RangeNotSatisfiable(recorded))?),
        };
        let opened = self.blobs.open(&key_of(&a.storage_key)?, wanted.clone()).await.map_err(|e| match e {
            BlobError::RangeNotSatisfiable { size, .. } => AppError::RangeNotSatisfiable(size),
            BlobError::NotFound(key) => AppError::Internal(format!("artifact blob '{key}' is missing")),
            other => internal(other),
        })?;
        Ok(ArtifactDownload {
            filename: a.filename,
            size: opened.size,
            content_type: None,
            range: wanted.map(|_| opened.range),
            body: opened.body,
        })
    }
}

impl System<'_> {
    /// The archive of job `id` for a running job of the same pipeline (its token): what a
    /// runner downloads for `dependencies`.
    pub async fn dependency_artifact(
        &self,
        id: JobId,
        token: &str,
        range: Option<RangeRequest>,
    ) -> Result<ArtifactDownload> {
        let asking = self
            .store
            .job_by_token_digest(&crate::auth::token_digest(token))
            .await?
            .ok_or_else(|| AppError::Forbidden(Some("job token is not valid".into())))?;
        let target = self.store.job_by_id(id).await?.ok_or(AppError::NotFound("Job"))?;
        if target.pipeline_id != asking.pipeline_id && target.project_id != asking.project_id {
            return Err(AppError::Forbidden(Some("the job token may only read artifacts of its own project".into())));
        }
        self.archive_of(target.id, range).await
    }
}

#[cfg(test)]
mod tests {
    use super::RangeRequest::*;

    #[test]
    fn ranges_resolve_as_http_does() {
        assert_eq!(From(10).resolve(100), Some(10..100));
        assert_eq!(FromTo(0, 0).resolve(100), Some(0..1));
        assert_eq!(FromTo(90, 500).resolve(100), Some(90..100), "an end past the object is cut");
        assert_eq!(Last(10).resolve(100), Some(90..100));
        assert_eq!(Last(500).resolve(100), Some(0..100));
        for unsatisfiable in [From(100), FromTo(100, 200), FromTo(5, 4), Last(0)] {
            assert_eq!(unsatisfiable.resolve(100), None, "{unsatisfiable:?}");
        }
        assert_eq!(Last(5).resolve(0), None, "an empty object has no bytes to serve");
    }
}
