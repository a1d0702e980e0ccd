//! [`CommitStatusStore`]: external commit statuses (migration 0018). Starting a status retires
//! the earlier ones of its line in the same transaction; moving one is a compare-and-set on its
//! state.

use async_trait::async_trait;
use autogit_core::ci::JobStatus;
use autogit_store::{
    CommitStatus, CommitStatusFilter, CommitStatusKey, CommitStatusReport, CommitStatusStore, Listed, Page, Result,
    StoreError,
};
use autogit_store::{ProjectId, UserId};
use chrono::{DateTime, Utc};

use crate::ci_codec::decode_word;
use crate::db::{BeginWrite, SqlStore, with_db};
use crate::error::db_err;
use crate::filter::page_and_total;

macro_rules! select {
    ($rest:literal) => {
        concat!(
            "SELECT id, project_id, sha, ref_name, name, status, description, target_url, coverage, author_id, \
             retried, created_at, started_at, finished_at FROM commit_statuses ",
            $rest
        )
    };
}

const LATEST: &str =
    select!("WHERE project_id = $1 AND sha = $2 AND ref_name = $3 AND name = $4 ORDER BY id DESC LIMIT 1");
const RETIRE: &str = "UPDATE commit_statuses SET retried = TRUE \
                      WHERE project_id = $1 AND sha = $2 AND ref_name = $3 AND name = $4 AND NOT retried";
const INSERT: &str = "INSERT INTO commit_statuses (project_id, sha, ref_name, name, status, description, target_url, \
     coverage, author_id, retried, created_at, started_at, finished_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, FALSE, $10, $11, $12) RETURNING id";
const MOVE: &str = "UPDATE commit_statuses SET status = $3, description = COALESCE($4, description), \
     target_url = COALESCE($5, target_url), coverage = COALESCE($6, coverage), author_id = COALESCE($7, author_id), \
     started_at = COALESCE(started_at, $8), finished_at = $9 \
     WHERE id = $1 AND status = $2 AND NOT retried";
const BY_ID: &str = select!("WHERE id = $1");
const LIST: &str = select!(
    "WHERE project_id = $1 AND sha = $2 AND ($3 IS NULL OR ref_name = $3) AND ($4 IS NULL OR name = $4) \
     AND ($5 OR NOT retried) ORDER BY id LIMIT $6 OFFSET $7"
);
const COUNT: &str = "SELECT COUNT(*) FROM commit_statuses WHERE project_id = $1 AND sha = $2 \
     AND ($3 IS NULL OR ref_name = $3) AND ($4 IS NULL OR name = $4) AND ($5 OR NOT retried)";

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    project_id: i64,
    sha: String,
    ref_name: String,
    name: String,
    status: String,
    description: Option<String>,
    target_url: Option<String>,
    coverage: Option<f64>,
    author_id: Option<i64>,
    retried: bool,
    created_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
}

impl TryFrom<Row> for CommitStatus {
    type Error = StoreError;

    fn try_from(r: Row) -> Result<CommitStatus> {
        Ok(CommitStatus {
            id: r.id,
            key: CommitStatusKey {
                project_id: ProjectId::new(r.project_id),
                sha: r.sha,
                ref_name: r.ref_name,
                name: r.name,
            },
            status: decode_word::<JobStatus>("commit_statuses.status", &r.status)?,
            description: r.description,
            target_url: r.target_url,
            coverage: r.coverage,
            author_id: r.author_id.map(UserId::new),
            retried: r.retried,
            created_at: r.created_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
        })
    }
}

#[async_trait]
impl CommitStatusStore for SqlStore {
    async fn latest_commit_status(&self, key: &CommitStatusKey) -> Result<Option<CommitStatus>> {
        let row: Option<Row> = with_db!(self, |p| sqlx::query_as(LATEST)
            .bind(key.project_id.get())
            .bind(&key.sha)
            .bind(&key.ref_name)
            .bind(&key.name)
            .fetch_optional(p)
            .await
            .map_err(db_err)?);
        row.map(CommitStatus::try_from).transpose()
    }

    async fn start_commit_status(
        &self,
        key: &CommitStatusKey,
        report: &CommitStatusReport,
        now: DateTime<Utc>,
    ) -> Result<CommitStatus> {
        let row: Row = with_db!(self, |p| {
            let mut tx = p.begin_write().await?;
            sqlx::query(RETIRE)
                .bind(key.project_id.get())
                .bind(&key.sha)
                .bind(&key.ref_name)
                .bind(&key.name)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            let id: i64 = sqlx::query_scalar(INSERT)
                .bind(key.project_id.get())
                .bind(&key.sha)
                .bind(&key.ref_name)
                .bind(&key.name)
                .bind(report.status.as_str())
                .bind(&report.description)
                .bind(&report.target_url)
                .bind(report.coverage)
                .bind(report.author_id.map(UserId::get))
                .bind(now)
                .bind(report.started_at)
                .bind(report.finished_at)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?;
            let row = sqlx::query_as(BY_ID).bind(id).fetch_one(&mut *tx).await.map_err(db_err)?;
            tx.commit().await.map_err(db_err)?;
            row
        });
        CommitStatus::try_from(row)
    }

    async fn move_commit_status(
        &self,
        id: i64,
        from: JobStatus,
        report: &CommitStatusReport,
    ) -> Result<Option<CommitStatus>> {
        let row: Option<Row> = with_db!(self, |p| {
            let mut tx = p.begin_write().await?;
            let moved = sqlx::query(MOVE)
                .bind(id)
                .bind(from.as_str())
                .bind(report.status.as_str())
                .bind(&report.description)
                .bind(&report.target_url)
                .bind(report.coverage)
                .bind(report.author_id.map(UserId::get))
                .bind(report.started_at)
                .bind(report.finished_at)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?
                .rows_affected();
            let row = if moved == 1 {
                Some(sqlx::query_as(BY_ID).bind(id).fetch_one(&mut *tx).await.map_err(db_err)?)
            } else {
                None
            };
            tx.commit().await.map_err(db_err)?;
            row
        });
        row.map(CommitStatus::try_from).transpose()
    }

    async fn list_commit_statuses(
        &self,
        project_id: ProjectId,
        sha: &str,
        filter: &CommitStatusFilter,
        page: Page,
    ) -> Result<Listed<CommitStatus>> {
        let (rows, total): (Vec<Row>, i64) = with_db!(self, |p| page_and_total!(p, LIST, COUNT, page, |q| q
            .bind(project_id.get())
            .bind(sha)
            .bind(&filter.ref_name)
            .bind(&filter.name)
            .bind(filter.all)));
        let items = rows.into_iter().map(CommitStatus::try_from).collect::<Result<Vec<_>>>()?;
        Ok(Listed { items, total })
    }
}
