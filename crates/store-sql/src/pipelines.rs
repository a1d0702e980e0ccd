//! [`PipelineStore`]: pipelines, each created with its jobs in one transaction. The per-project
//! `iid` comes from an upsert on `ci_pipeline_iids`, which serializes creators of one project on
//! that row (PostgreSQL) or on the write lock (SQLite), so iids are distinct and never reused.

use async_trait::async_trait;
use autogit_core::ci::PipelineStatus;
use autogit_store::{
    Job, Listed, NewJob, NewPipeline, Page, Pipeline, PipelineFilter, PipelineStore, Result, StoreError,
};
use autogit_store::{PipelineId, ProjectId, UserId};
use chrono::{DateTime, Utc};

use crate::ci_codec::{decode_variables, decode_word, encode_variables};
use crate::db::{BeginWrite, SqlStore, with_db};
use crate::error::db_err;

use crate::filter::page_and_total;
use crate::job_rows::{self, INSERT_JOB, JobRow, bind_new_job, prepare_job};

macro_rules! pipeline_columns {
    () => {
        "id, project_id, iid, ref_name, tag, sha, before_sha, source, status, user_id, yaml_errors, variables, \
         created_at, updated_at, started_at, finished_at"
    };
}

#[derive(sqlx::FromRow)]
pub(crate) struct PipelineRow {
    id: i64,
    pub(crate) project_id: i64,
    iid: i64,
    ref_name: String,
    tag: bool,
    sha: String,
    before_sha: String,
    source: String,
    status: String,
    pub(crate) user_id: Option<i64>,
    yaml_errors: Option<String>,
    variables: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
}

impl TryFrom<PipelineRow> for Pipeline {
    type Error = StoreError;

    fn try_from(r: PipelineRow) -> Result<Pipeline> {
        let duration_secs = match (r.started_at, r.finished_at) {
            (Some(start), Some(end)) => Some((end - start).num_seconds()),
            _ => None,
        };
        Ok(Pipeline {
            id: PipelineId::new(r.id),
            project_id: ProjectId::new(r.project_id),
            iid: r.iid,
            ref_name: r.ref_name,
            tag: r.tag,
            sha: r.sha,
            before_sha: r.before_sha,
            source: r.source,
            status: decode_word("pipelines.status", &r.status)?,
            user_id: r.user_id.map(UserId::new),
            yaml_errors: r.yaml_errors,
            variables: decode_variables(&r.variables)?,
            created_at: r.created_at,
            updated_at: r.updated_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
            duration_secs,
        })
    }
}

const NEXT_IID: &str = "INSERT INTO ci_pipeline_iids (project_id, last_iid) VALUES ($1, 1) \
     ON CONFLICT (project_id) DO UPDATE SET last_iid = ci_pipeline_iids.last_iid + 1 RETURNING last_iid";
const INSERT: &str = concat!(
    "INSERT INTO pipelines (project_id, iid, ref_name, tag, sha, before_sha, source, status, user_id, ",
    "yaml_errors, variables, created_at, updated_at) ",
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) RETURNING ",
    pipeline_columns!()
);
pub(crate) const BY_ID: &str = concat!("SELECT ", pipeline_columns!(), " FROM pipelines WHERE id = $1");
const WITH_VARIABLES_AFTER: &str =
    concat!("SELECT ", pipeline_columns!(), " FROM pipelines WHERE id > $1 AND variables <> '[]' ORDER BY id LIMIT $2");
const SWAP_VARIABLES: &str = "UPDATE pipelines SET variables = $3 WHERE id = $1 AND variables = $2";
const BY_IID: &str = concat!("SELECT ", pipeline_columns!(), " FROM pipelines WHERE project_id = $1 AND iid = $2");
const LATEST_FOR_REF: &str = concat!(
    "SELECT ",
    pipeline_columns!(),
    " FROM pipelines WHERE project_id = $1 AND ref_name = $2 ORDER BY id DESC LIMIT 1"
);

/// `$1` project, `$2` ref, `$3` status, `$4` sha.
macro_rules! pipeline_list_where {
    () => {
        " WHERE project_id = $1 AND ($2 IS NULL OR ref_name = $2) AND ($3 IS NULL OR status = $3) \
           AND ($4 IS NULL OR sha = $4)"
    };
}
const LIST: &str = concat!(
    "SELECT ",
    pipeline_columns!(),
    " FROM pipelines",
    pipeline_list_where!(),
    " ORDER BY id DESC LIMIT $5 OFFSET $6"
);
const COUNT: &str = concat!("SELECT COUNT(*) FROM pipelines", pipeline_list_where!());

/// `$4`: the new status is final. Setting the same final status again keeps the first finish.
const SET_STATUS: &str = concat!(
    "UPDATE pipelines SET status = $2, updated_at = $3, ",
    "started_at = CASE WHEN $2 = 'running' AND started_at IS NULL THEN $3 ELSE started_at END, ",
    "finished_at = CASE WHEN NOT $4 THEN NULL WHEN status = $2 THEN COALESCE(finished_at, $3) ELSE $3 END ",
    "WHERE id = $1 RETURNING ",
    pipeline_columns!()
);

/// Claims the pipeline of a push update: `$1` record, `$2` position. Only an applied, pending
/// update of a recorded push can be claimed, so of two passes over one record only one creates.
const CLAIM_PUSH_UPDATE: &str = "UPDATE push_record_updates SET pipeline_state = 'created' \
     WHERE record_id = $1 AND position = $2 AND applied AND pipeline_state = 'pending' \
     AND EXISTS (SELECT 1 FROM push_records r WHERE r.id = $1 AND r.state = 'recorded')";
const SET_PUSH_PIPELINE: &str =
    "UPDATE push_record_updates SET pipeline_id = $3 WHERE record_id = $1 AND position = $2";
const PUSH_UPDATE_EXISTS: &str = "SELECT COUNT(*) FROM push_record_updates WHERE record_id = $1 AND position = $2";

impl SqlStore {
    /// Creates a pipeline with its jobs in one transaction; with `claim` (a push record and an
    /// update position), only if that update's pipeline can be claimed, and the claim is written in
    /// the same transaction: `Ok(None)` when it cannot, NotFound when the update does not exist.
    pub(crate) async fn insert_pipeline(
        &self,
        new: &NewPipeline,
        jobs: &[NewJob],
        now: DateTime<Utc>,
        claim: Option<(i64, i32)>,
    ) -> Result<Option<(Pipeline, Vec<Job>)>> {
        let prepared = jobs.iter().map(|j| prepare_job(j, now)).collect::<Result<Vec<_>>>()?;
        let variables = encode_variables(&new.variables);
        let created: Option<(PipelineRow, Vec<JobRow>)> = with_db!(self, |p| {
            let mut tx = p.begin_write().await?;
            let claimed = match claim {
                None => true,
                Some((record, position)) => {
                    let n = sqlx::query(CLAIM_PUSH_UPDATE)
                        .bind(record)
                        .bind(position)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?
                        .rows_affected();
                    if n == 0 {
                        let exists: i64 = sqlx::query_scalar(PUSH_UPDATE_EXISTS)
                            .bind(record)
                            .bind(position)
                            .fetch_one(&mut *tx)
                            .await
                            .map_err(db_err)?;
                        if exists == 0 {
                            return Err(StoreError::NotFound("push update"));
                        }
                    }
                    n > 0
                }
            };
            if claimed {
                let iid: i64 = sqlx::query_scalar(NEXT_IID)
                    .bind(new.project_id.get())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_err)?;
                let row: PipelineRow = sqlx::query_as(INSERT)
                    .bind(new.project_id.get())
                    .bind(iid)
                    .bind(&new.ref_name)
                    .bind(new.tag)
                    .bind(&new.sha)
                    .bind(&new.before_sha)
                    .bind(&new.source)
                    .bind(new.status.as_str())
                    .bind(new.user_id.map(UserId::get))
                    .bind(&new.yaml_errors)
                    .bind(&variables)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_err)?;
                let mut job_rows = Vec::with_capacity(prepared.len());
                for prep in &prepared {
                    let q = sqlx::query_as(INSERT_JOB).bind(row.id).bind(new.project_id.get());
                    job_rows.push(bind_new_job!(q, prep, now).fetch_one(&mut *tx).await.map_err(db_err)?);
                }
                if let Some((record, position)) = claim {
                    sqlx::query(SET_PUSH_PIPELINE)
                        .bind(record)
                        .bind(position)
                        .bind(row.id)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                }
                tx.commit().await.map_err(db_err)?;
                Some((row, job_rows))
            } else {
                tx.rollback().await.map_err(db_err)?;
                None
            }
        });
        match created {
            Some((row, job_rows)) => Ok(Some((Pipeline::try_from(row)?, job_rows::jobs(job_rows)?))),
            None => Ok(None),
        }
    }
}

#[async_trait]
impl PipelineStore for SqlStore {
    async fn create_pipeline(
        &self,
        new: &NewPipeline,
        jobs: &[NewJob],
        now: DateTime<Utc>,
    ) -> Result<(Pipeline, Vec<Job>)> {
        let created = self.insert_pipeline(new, jobs, now, None).await?;
        created.ok_or_else(|| StoreError::Unavailable("pipeline insert returned nothing".into()))
    }

    async fn pipeline_by_id(&self, id: PipelineId) -> Result<Option<Pipeline>> {
        let row: Option<PipelineRow> =
            with_db!(self, |p| sqlx::query_as(BY_ID).bind(id.get()).fetch_optional(p).await.map_err(db_err)?);
        row.map(Pipeline::try_from).transpose()
    }

    async fn pipelines_with_variables_after(&self, after: Option<PipelineId>, limit: i64) -> Result<Vec<Pipeline>> {
        // Ids start at 1 on both databases, so 0 is below every pipeline.
        let rows: Vec<PipelineRow> = with_db!(self, |p| sqlx::query_as(WITH_VARIABLES_AFTER)
            .bind(after.map_or(0, PipelineId::get))
            .bind(limit.max(0))
            .fetch_all(p)
            .await
            .map_err(db_err)?);
        rows.into_iter().map(Pipeline::try_from).collect()
    }

    async fn swap_pipeline_variables(
        &self,
        id: PipelineId,
        expected: &[(String, String)],
        new: &[(String, String)],
    ) -> Result<bool> {
        let (expected, new) = (encode_variables(expected), encode_variables(new));
        let done = with_db!(self, |p| sqlx::query(SWAP_VARIABLES)
            .bind(id.get())
            .bind(&expected)
            .bind(&new)
            .execute(p)
            .await
            .map_err(db_err)?
            .rows_affected());
        Ok(done == 1)
    }

    async fn pipeline_by_iid(&self, project_id: ProjectId, iid: i64) -> Result<Option<Pipeline>> {
        let row: Option<PipelineRow> = with_db!(self, |p| sqlx::query_as(BY_IID)
            .bind(project_id.get())
            .bind(iid)
            .fetch_optional(p)
            .await
            .map_err(db_err)?);
        row.map(Pipeline::try_from).transpose()
    }

    async fn list_pipelines(
        &self,
        project_id: ProjectId,
        filter: &PipelineFilter,
        page: Page,
    ) -> Result<Listed<Pipeline>> {
        let status = filter.status.map(PipelineStatus::as_str);
        let (rows, total): (Vec<PipelineRow>, i64) = with_db!(self, |p| page_and_total!(p, LIST, COUNT, page, |q| q
            .bind(project_id.get())
            .bind(&filter.ref_name)
            .bind(status)
            .bind(&filter.sha)));
        let items = rows.into_iter().map(Pipeline::try_from).collect::<Result<_>>()?;
        Ok(Listed { items, total })
    }

    async fn set_pipeline_status(
        &self,
        id: PipelineId,
        status: PipelineStatus,
        now: DateTime<Utc>,
    ) -> Result<Pipeline> {
        let row: Option<PipelineRow> = with_db!(self, |p| sqlx::query_as(SET_STATUS)
            .bind(id.get())
            .bind(status.as_str())
            .bind(now)
            .bind(status.is_finished())
            .fetch_optional(p)
            .await
            .map_err(db_err)?);
        Pipeline::try_from(row.ok_or(StoreError::NotFound("pipeline"))?)
    }

    async fn latest_pipeline_for_ref(&self, project_id: ProjectId, ref_name: &str) -> Result<Option<Pipeline>> {
        let row: Option<PipelineRow> = with_db!(self, |p| sqlx::query_as(LATEST_FOR_REF)
            .bind(project_id.get())
            .bind(ref_name)
            .fetch_optional(p)
            .await
            .map_err(db_err)?);
        row.map(Pipeline::try_from).transpose()
    }
}
