//! [`EventStore`] (push events, read newest first) and [`Health`].

use async_trait::async_trait;
use autogit_store::{EventStore, Health, Listed, NewPushEvent, Page, PushEvent, Result};
use autogit_store::{ProjectId, UserId};
use chrono::{DateTime, Utc};

use crate::db::{SqlStore, with_db};
use crate::error::db_err;
use crate::filter::page_and_total;

macro_rules! push_event_columns {
    () => {
        "id, project_id, ref_name, before_sha, after_sha, pusher_id, created_at"
    };
}

#[derive(sqlx::FromRow)]
pub(crate) struct PushEventRow {
    id: i64,
    project_id: i64,
    ref_name: String,
    before_sha: String,
    after_sha: String,
    pusher_id: Option<i64>,
    created_at: DateTime<Utc>,
}

impl From<PushEventRow> for PushEvent {
    fn from(r: PushEventRow) -> PushEvent {
        PushEvent {
            id: r.id,
            project_id: ProjectId::new(r.project_id),
            ref_name: r.ref_name,
            before: r.before_sha,
            after: r.after_sha,
            pusher_id: r.pusher_id.map(UserId::new),
            created_at: r.created_at,
        }
    }
}

pub(crate) const INSERT: &str = concat!(
    "INSERT INTO push_events (project_id, ref_name, before_sha, after_sha, pusher_id, created_at) ",
    "VALUES ($1, $2, $3, $4, $5, $6) RETURNING ",
    push_event_columns!()
);
/// Newest first by the caller-supplied time; the id breaks ties between pushes in one instant.
const LIST: &str = concat!(
    "SELECT ",
    push_event_columns!(),
    " FROM push_events WHERE project_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
);
const COUNT: &str = "SELECT COUNT(*) FROM push_events WHERE project_id = $1";

#[async_trait]
impl EventStore for SqlStore {
    async fn record_push(&self, push: &NewPushEvent, now: DateTime<Utc>) -> Result<PushEvent> {
        let row: PushEventRow = with_db!(self, |p| sqlx::query_as(INSERT)
            .bind(push.project_id.get())
            .bind(&push.ref_name)
            .bind(&push.before)
            .bind(&push.after)
            .bind(push.pusher_id.map(UserId::get))
            .bind(now)
            .fetch_one(p)
            .await
            .map_err(db_err)?);
        Ok(row.into())
    }

    async fn list_push_events(&self, project_id: ProjectId, page: Page) -> Result<Listed<PushEvent>> {
        let (rows, total): (Vec<PushEventRow>, i64) =
            with_db!(self, |p| page_and_total!(p, LIST, COUNT, page, |q| q.bind(project_id.get())));
        Ok(Listed { items: rows.into_iter().map(PushEvent::from).collect(), total })
    }
}

#[async_trait]
impl Health for SqlStore {
    async fn ping(&self) -> Result<()> {
        with_db!(self, |p| sqlx::query("SELECT 1").execute(p).await.map(|_| ()).map_err(db_err))
    }
}
