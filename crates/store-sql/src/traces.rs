//! [`TraceStore`]: job logs as one `job_traces` row per append, keyed by the byte offset it
//! starts at. `jobs.trace_size` is the authority on the length: an append is a compare-and-set
//! on it (`WHERE trace_size = offset`), and the chunk is inserted in the same transaction, so the
//! chunks always tile `0..trace_size` without gaps or overlaps.

use async_trait::async_trait;
use autogit_store::JobId;
use autogit_store::{Result, StoreError, TraceAppend, TraceStore};

use crate::db::{BeginWrite, SqlStore, with_db};
use crate::error::db_err;

const GROW: &str =
    "UPDATE jobs SET trace_size = trace_size + $3 WHERE id = $1 AND trace_size = $2 RETURNING trace_size";
const SIZE: &str = "SELECT trace_size FROM jobs WHERE id = $1";
const INSERT_CHUNK: &str = "INSERT INTO job_traces (job_id, byte_offset, data) VALUES ($1, $2, $3)";
/// Chunks overlapping `[$2, $3)`, in order.
const CHUNKS: &str = "SELECT byte_offset, data FROM job_traces \
     WHERE job_id = $1 AND byte_offset < $3 AND byte_offset + length(data) > $2 ORDER BY byte_offset";

#[async_trait]
impl TraceStore for SqlStore {
    async fn append_trace(&self, job_id: JobId, offset: i64, bytes: &[u8]) -> Result<TraceAppend> {
        let len = i64::try_from(bytes.len()).map_err(|_| StoreError::Invalid("trace chunk too large".into()))?;
        with_db!(self, |p| {
            let mut tx = p.begin_write().await?;
            let grown: Option<i64> = sqlx::query_scalar(GROW)
                .bind(job_id.get())
                .bind(offset)
                .bind(len)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
            match grown {
                Some(size) => {
                    // An empty append stores no row: the next append starts at the same offset.
                    if len > 0 {
                        sqlx::query(INSERT_CHUNK)
                            .bind(job_id.get())
                            .bind(offset)
                            .bind(bytes)
                            .execute(&mut *tx)
                            .await
                            .map_err(db_err)?;
                    }
                    tx.commit().await.map_err(db_err)?;
                    Ok(TraceAppend::Appended { size })
                }
                None => {
                    let size: Option<i64> =
                        sqlx::query_scalar(SIZE).bind(job_id.get()).fetch_optional(&mut *tx).await.map_err(db_err)?;
                    tx.rollback().await.map_err(db_err)?;
                    size.map(|size| TraceAppend::Mismatch { size }).ok_or(StoreError::NotFound("job"))
                }
            }
        })
    }

    async fn read_trace(&self, job_id: JobId, offset: i64, limit: i64) -> Result<Vec<u8>> {
        let start = offset.max(0);
        if limit <= 0 {
            return Ok(Vec::new());
        }
        let end = start.saturating_add(limit);
        let chunks: Vec<(i64, Vec<u8>)> = with_db!(self, |p| sqlx::query_as(CHUNKS)
            .bind(job_id.get())
            .bind(start)
            .bind(end)
            .fetch_all(p)
            .await
            .map_err(db_err)?);
        let mut out = Vec::new();
        for (at, data) in chunks {
            let chunk_end = at + data.len() as i64;
            let from = (start.max(at) - at) as usize;
            let to = (end.min(chunk_end) - at) as usize;
            out.extend_from_slice(&data[from..to]);
        }
        Ok(out)
    }

    async fn trace_size(&self, job_id: JobId) -> Result<Option<i64>> {
        with_db!(self, |p| sqlx::query_scalar(SIZE).bind(job_id.get()).fetch_optional(p).await.map_err(db_err))
    }
}
