//! The app's side of the blob port: storage keys from the store as [`BlobKey`]s, blob errors as
//! [`AppError`]s, and the blob store an [`App`] has before the composition root attaches one.

use crate::{App, AppError};
use async_trait::async_trait;
use autogit_core::JobId;
use autogit_store::blob::{BlobError, BlobKey, BlobMeta, BlobRead, BlobResult, BlobStore, ByteStream};
use std::ops::Range;

/// The storage key of a record as a blob key; a malformed one is our data's fault, not the
/// caller's.
pub(crate) fn key_of(storage_key: &str) -> crate::Result<BlobKey> {
    BlobKey::new(storage_key).map_err(|e| AppError::Internal(format!("artifact record: {e}")))
}

pub(crate) fn internal(e: BlobError) -> AppError {
    AppError::Internal(e.to_string())
}

impl App {
    /// Removes blobs whose records are gone; failures are logged (the record no longer points
    /// at them, so nobody can reach them; an operator may clean up).
    pub(crate) async fn remove_blobs(&self, storage_keys: impl IntoIterator<Item = String>) {
        for storage_key in storage_keys {
            let removed = match key_of(&storage_key) {
                Ok(key) => self.blobs.remove(&key).await.map_err(internal),
                Err(e) => Err(e),
            };
            if let Err(e) = removed {
                tracing::warn!(storage_key, error = %e, "artifact blob not removed");
            }
        }
    }

    /// Removes every blob kept for the jobs `job_ids` (their keys start with the job id).
    pub(crate) async fn remove_job_blobs(&self, job_ids: impl IntoIterator<Item = JobId>) {
        for job_id in job_ids {
            let removed = match key_of(&job_id.to_string()) {
                Ok(prefix) => self.blobs.remove_prefix(&prefix).await.map_err(internal),
                Err(e) => Err(e),
            };
            if let Err(e) = removed {
                tracing::warn!(job_id = job_id.get(), error = %e, "artifact blobs of a removed job not removed");
            }
        }
    }
}

/// The blob store of an [`App`] nobody attached one to: every call fails, naming the key.
pub(crate) struct NoBlobStore;

fn none(key: &BlobKey) -> BlobError {
    BlobError::Unavailable { key: key.to_string(), message: "no blob store is configured".into() }
}

#[async_trait]
impl BlobStore for NoBlobStore {
    async fn put(&self, key: &BlobKey, _: ByteStream<'_>, _: Option<u64>) -> BlobResult<BlobMeta> {
        Err(none(key))
    }
    async fn open(&self, key: &BlobKey, _: Option<Range<u64>>) -> BlobResult<BlobRead> {
        Err(none(key))
    }
    async fn meta(&self, key: &BlobKey) -> BlobResult<Option<BlobMeta>> {
        Err(none(key))
    }
    async fn remove(&self, key: &BlobKey) -> BlobResult<()> {
        Err(none(key))
    }
    async fn list(&self, prefix: &BlobKey) -> BlobResult<Vec<BlobKey>> {
        Err(none(prefix))
    }
    async fn remove_prefix(&self, prefix: &BlobKey) -> BlobResult<u64> {
        Err(none(prefix))
    }
}
