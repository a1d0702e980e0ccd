//! [`PushRecordStore`]: the push outbox. Every step is one transaction that starts with a
//! compare-and-set on the state it moves from, so two passes over one record (the request that
//! carried the push and a recovery after a crash) never both write its consequences.

use async_trait::async_trait;
use autogit_store::{
    Job, NewJob, NewPipeline, NewPushRecord, Pipeline, PushEvent, PushPipelineState, PushRecord, PushRecordState,
    PushRecordStore, PushRecordUpdate, Result, StoreError,
};
use autogit_store::{PipelineId, ProjectId, UserId};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

use crate::db::{BeginWrite, SqlStore, with_db};
use crate::error::{corrupt, db_err};
use crate::events::{INSERT as INSERT_EVENT, PushEventRow};

#[derive(sqlx::FromRow)]
struct RecordRow {
    id: i64,
    project_id: i64,
    pusher_id: Option<i64>,
    state: String,
    created_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct UpdateRow {
    record_id: i64,
    position: i32,
    ref_name: String,
    old_sha: String,
    new_sha: String,
    applied: bool,
    pipeline_state: String,
    pipeline_id: Option<i64>,
}

macro_rules! record_columns {
    () => {
        "id, project_id, pusher_id, state, created_at, finished_at"
    };
}

const BY_ID: &str = concat!("SELECT ", record_columns!(), " FROM push_records WHERE id = $1");
const UNFINISHED: &str =
    concat!("SELECT ", record_columns!(), " FROM push_records WHERE state <> 'done' AND id > $1 ORDER BY id LIMIT $2");

const INSERT_RECORD: &str = "INSERT INTO push_records (project_id, pusher_id, state, created_at) \
     VALUES ($1, $2, 'received', $3) RETURNING id, project_id, pusher_id, state, created_at, finished_at";
const INSERT_UPDATE: &str =
    "INSERT INTO push_record_updates (record_id, position, ref_name, old_sha, new_sha) VALUES ($1, $2, $3, $4, $5)";
const UPDATES_OF: &str = "SELECT record_id, position, ref_name, old_sha, new_sha, applied, pipeline_state, \
     pipeline_id FROM push_record_updates WHERE record_id = $1 ORDER BY position";
/// `$1`..`$2`: the id range of one page of records.
const UPDATES_BETWEEN: &str = "SELECT record_id, position, ref_name, old_sha, new_sha, applied, pipeline_state, \
     pipeline_id FROM push_record_updates WHERE record_id >= $1 AND record_id <= $2 ORDER BY record_id, position";
const MARK_RECORDED: &str = "UPDATE push_records SET state = 'recorded' WHERE id = $1 AND state = 'received' \
     RETURNING id, project_id, pusher_id, state, created_at, finished_at";
const MARK_APPLIED: &str = "UPDATE push_record_updates SET applied = TRUE WHERE record_id = $1 AND position = $2";
const NOT_APPLIED_NO_PIPELINE: &str =
    "UPDATE push_record_updates SET pipeline_state = 'none' WHERE record_id = $1 AND NOT applied";
const TOUCH_PROJECT: &str = "UPDATE projects SET last_activity_at = $2 WHERE id = $1";
const SKIP_PIPELINE: &str = "UPDATE push_record_updates SET pipeline_state = 'none' \
     WHERE record_id = $1 AND position = $2 AND pipeline_state = 'pending'";
const FINISH: &str = "UPDATE push_records SET state = 'done', finished_at = $2 \
     WHERE id = $1 AND state = 'recorded' AND NOT EXISTS (SELECT 1 FROM push_record_updates u \
     WHERE u.record_id = $1 AND u.applied AND u.pipeline_state = 'pending')";
const DISCARD: &str = "DELETE FROM push_records WHERE id = $1 AND state = 'received'";
const PRUNE: &str = "DELETE FROM push_records WHERE state = 'done' AND finished_at < $1";

fn update_of(r: UpdateRow) -> Result<PushRecordUpdate> {
    let pipeline = PushPipelineState::parse(&r.pipeline_state)
        .ok_or_else(|| corrupt("push update pipeline state", &r.pipeline_state))?;
    Ok(PushRecordUpdate {
        position: r.position,
        ref_name: r.ref_name,
        old: r.old_sha,
        new: r.new_sha,
        applied: r.applied,
        pipeline,
        pipeline_id: r.pipeline_id.map(PipelineId::new),
    })
}

fn record_of(r: RecordRow, updates: Vec<UpdateRow>) -> Result<PushRecord> {
    let state = PushRecordState::parse(&r.state).ok_or_else(|| corrupt("push record state", &r.state))?;
    Ok(PushRecord {
        id: r.id,
        project_id: ProjectId::new(r.project_id),
        pusher_id: r.pusher_id.map(UserId::new),
        state,
        created_at: r.created_at,
        finished_at: r.finished_at,
        updates: updates.into_iter().map(update_of).collect::<Result<_>>()?,
    })
}

#[async_trait]
impl PushRecordStore for SqlStore {
    async fn create_push_record(&self, new: &NewPushRecord, now: DateTime<Utc>) -> Result<PushRecord> {
        if new.updates.is_empty() {
            return Err(StoreError::Invalid("a push record needs at least one ref update".into()));
        }
        let positions =
            (0..new.updates.len()).map(|i| i32::try_from(i).map_err(|_| too_many())).collect::<Result<Vec<_>>>()?;
        let row: RecordRow = with_db!(self, |p| {
            let mut tx = p.begin_write().await?;
            let row: RecordRow = sqlx::query_as(INSERT_RECORD)
                .bind(new.project_id.get())
                .bind(new.pusher_id.map(UserId::get))
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?;
            for (u, position) in new.updates.iter().zip(&positions) {
                sqlx::query(INSERT_UPDATE)
                    .bind(row.id)
                    .bind(position)
                    .bind(&u.ref_name)
                    .bind(&u.old)
                    .bind(&u.new)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
            }
            tx.commit().await.map_err(db_err)?;
            row
        });
        let updates = new
            .updates
            .iter()
            .zip(positions)
            .map(|(u, position)| PushRecordUpdate {
                position,
                ref_name: u.ref_name.clone(),
                old: u.old.clone(),
                new: u.new.clone(),
                applied: false,
                pipeline: PushPipelineState::Pending,
                pipeline_id: None,
            })
            .collect();
        let mut record = record_of(row, Vec::new())?;
        record.updates = updates;
        Ok(record)
    }

    async fn push_record(&self, id: i64) -> Result<Option<PushRecord>> {
        let found: Option<(RecordRow, Vec<UpdateRow>)> = with_db!(self, |p| {
            let row: Option<RecordRow> = sqlx::query_as(BY_ID).bind(id).fetch_optional(p).await.map_err(db_err)?;
            match row {
                None => None,
                Some(row) => {
                    let updates = sqlx::query_as(UPDATES_OF).bind(id).fetch_all(p).await.map_err(db_err)?;
                    Some((row, updates))
                }
            }
        });
        found.map(|(row, updates)| record_of(row, updates)).transpose()
    }

    async fn unfinished_push_records(&self, after_id: i64, limit: i64) -> Result<Vec<PushRecord>> {
        let (rows, updates): (Vec<RecordRow>, Vec<UpdateRow>) = with_db!(self, |p| {
            let rows: Vec<RecordRow> =
                sqlx::query_as(UNFINISHED).bind(after_id).bind(limit).fetch_all(p).await.map_err(db_err)?;
            let updates = match (rows.first(), rows.last()) {
                (Some(first), Some(last)) => {
                    sqlx::query_as(UPDATES_BETWEEN).bind(first.id).bind(last.id).fetch_all(p).await.map_err(db_err)?
                }
                _ => Vec::new(),
            };
            (rows, updates)
        });
        let mut by_record: BTreeMap<i64, Vec<UpdateRow>> = BTreeMap::new();
        for u in updates {
            by_record.entry(u.record_id).or_default().push(u);
        }
        rows.into_iter()
            .map(|r| {
                let updates = by_record.remove(&r.id).unwrap_or_default();
                record_of(r, updates)
            })
            .collect()
    }

    async fn record_push_events(&self, id: i64, applied: &[i32], now: DateTime<Utc>) -> Result<Option<Vec<PushEvent>>> {
        let events: Option<Vec<PushEventRow>> = with_db!(self, |p| {
            let mut tx = p.begin_write().await?;
            let moved: Option<RecordRow> =
                sqlx::query_as(MARK_RECORDED).bind(id).fetch_optional(&mut *tx).await.map_err(db_err)?;
            match moved {
                None => {
                    let found: Option<RecordRow> =
                        sqlx::query_as(BY_ID).bind(id).fetch_optional(&mut *tx).await.map_err(db_err)?;
                    if found.is_none() {
                        return Err(StoreError::NotFound("push record"));
                    }
                    None
                }
                Some(record) => {
                    let updates: Vec<UpdateRow> =
                        sqlx::query_as(UPDATES_OF).bind(id).fetch_all(&mut *tx).await.map_err(db_err)?;
                    if let Some(bad) = applied.iter().find(|a| !updates.iter().any(|u| u.position == **a)) {
                        return Err(StoreError::Invalid(format!("push record {id} has no update at position {bad}")));
                    }
                    let mut events = Vec::new();
                    for u in updates.iter().filter(|u| applied.contains(&u.position)) {
                        sqlx::query(MARK_APPLIED).bind(id).bind(u.position).execute(&mut *tx).await.map_err(db_err)?;
                        let ev: PushEventRow = sqlx::query_as(INSERT_EVENT)
                            .bind(record.project_id)
                            .bind(&u.ref_name)
                            .bind(&u.old_sha)
                            .bind(&u.new_sha)
                            .bind(record.pusher_id)
                            .bind(record.created_at)
                            .fetch_one(&mut *tx)
                            .await
                            .map_err(db_err)?;
                        events.push(ev);
                    }
                    sqlx::query(NOT_APPLIED_NO_PIPELINE).bind(id).execute(&mut *tx).await.map_err(db_err)?;
                    if !events.is_empty() {
                        sqlx::query(TOUCH_PROJECT)
                            .bind(record.project_id)
                            .bind(now)
                            .execute(&mut *tx)
                            .await
                            .map_err(db_err)?;
                    }
                    tx.commit().await.map_err(db_err)?;
                    Some(events)
                }
            }
        });
        Ok(events.map(|rows| rows.into_iter().map(PushEvent::from).collect()))
    }

    async fn create_push_pipeline(
        &self,
        id: i64,
        position: i32,
        new: &NewPipeline,
        jobs: &[NewJob],
        now: DateTime<Utc>,
    ) -> Result<Option<(Pipeline, Vec<Job>)>> {
        self.insert_pipeline(new, jobs, now, Some((id, position))).await
    }

    async fn skip_push_pipeline(&self, id: i64, position: i32) -> Result<bool> {
        let n = with_db!(self, |p| sqlx::query(SKIP_PIPELINE)
            .bind(id)
            .bind(position)
            .execute(p)
            .await
            .map_err(db_err)?
            .rows_affected());
        Ok(n > 0)
    }

    async fn finish_push_record(&self, id: i64, now: DateTime<Utc>) -> Result<bool> {
        let n = with_db!(self, |p| sqlx::query(FINISH)
            .bind(id)
            .bind(now)
            .execute(p)
            .await
            .map_err(db_err)?
            .rows_affected());
        Ok(n > 0)
    }

    async fn discard_push_record(&self, id: i64) -> Result<bool> {
        let n = with_db!(self, |p| sqlx::query(DISCARD).bind(id).execute(p).await.map_err(db_err)?.rows_affected());
        Ok(n > 0)
    }

    async fn prune_push_records(&self, before: DateTime<Utc>) -> Result<u64> {
        Ok(with_db!(self, |p| sqlx::query(PRUNE).bind(before).execute(p).await.map_err(db_err)?.rows_affected()))
    }
}

fn too_many() -> StoreError {
    StoreError::Invalid("too many ref updates in one push".into())
}
