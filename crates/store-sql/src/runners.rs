//! [`RunnerStore`]: runners, found by the digest of their token. The scope is stored as a kind
//! plus one of two foreign keys, so that deleting a group or project removes its runners.

use async_trait::async_trait;
use autogit_store::{
    Listed, NewRunner, Page, Result, Runner, RunnerAccessLevel, RunnerFilter, RunnerScope, RunnerSeen, RunnerStore,
    RunnerUpdate, StoreError,
};
use autogit_store::{NamespaceId, ProjectId, RunnerId};
use chrono::{DateTime, Utc};

use crate::ci_codec::{decode_tags, encode_tags, tag_match};
use crate::db::{SqlStore, with_db};
use crate::error::{conflict_as, corrupt, db_err, one_row};
use crate::filter::page_and_total;

macro_rules! runner_columns {
    () => {
        "id, description, token_digest, scope_type, namespace_id, project_id, tags, run_untagged, locked, \
         paused, access_level, maximum_timeout, created_at, contacted_at, version, platform, architecture, executor"
    };
}

#[derive(sqlx::FromRow)]
struct RunnerRow {
    id: i64,
    description: String,
    token_digest: String,
    scope_type: String,
    namespace_id: Option<i64>,
    project_id: Option<i64>,
    tags: String,
    run_untagged: bool,
    locked: bool,
    paused: bool,
    access_level: String,
    maximum_timeout: Option<i64>,
    created_at: DateTime<Utc>,
    contacted_at: Option<DateTime<Utc>>,
    version: Option<String>,
    platform: Option<String>,
    architecture: Option<String>,
    executor: Option<String>,
}

impl TryFrom<RunnerRow> for Runner {
    type Error = StoreError;

    fn try_from(r: RunnerRow) -> Result<Runner> {
        let scope = match (r.scope_type.as_str(), r.namespace_id, r.project_id) {
            ("instance", _, _) => RunnerScope::Instance,
            ("group", Some(id), _) => RunnerScope::Group(NamespaceId::new(id)),
            ("project", _, Some(id)) => RunnerScope::Project(ProjectId::new(id)),
            (other, _, _) => return Err(corrupt("runner scope", other)),
        };
        Ok(Runner {
            id: RunnerId::new(r.id),
            description: r.description,
            token_digest: r.token_digest,
            scope,
            tags: decode_tags(&r.tags),
            run_untagged: r.run_untagged,
            locked: r.locked,
            paused: r.paused,
            access_level: RunnerAccessLevel::parse(&r.access_level)
                .ok_or_else(|| corrupt("runner access level", &r.access_level))?,
            maximum_timeout: r.maximum_timeout,
            created_at: r.created_at,
            contacted_at: r.contacted_at,
            version: r.version,
            platform: r.platform,
            architecture: r.architecture,
            executor: r.executor,
        })
    }
}

/// `(scope_type, namespace_id, project_id)` columns of a scope.
fn scope_columns(scope: RunnerScope) -> (&'static str, Option<i64>, Option<i64>) {
    match scope {
        RunnerScope::Instance => ("instance", None, None),
        RunnerScope::Group(id) => ("group", Some(id.get()), None),
        RunnerScope::Project(id) => ("project", None, Some(id.get())),
    }
}

const INSERT: &str = concat!(
    "INSERT INTO runners (description, token_digest, scope_type, namespace_id, project_id, tags, run_untagged, ",
    "locked, paused, access_level, maximum_timeout, created_at) ",
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING ",
    runner_columns!()
);
const BY_ID: &str = concat!("SELECT ", runner_columns!(), " FROM runners WHERE id = $1");
const BY_DIGEST: &str = concat!("SELECT ", runner_columns!(), " FROM runners WHERE token_digest = $1");

/// `$1` scope type, `$2` namespace, `$3` project, `$4` paused, `$5` tag.
macro_rules! runner_list_where {
    () => {
        concat!(
            " WHERE ($1 IS NULL OR scope_type = $1) AND ($2 IS NULL OR namespace_id = $2)",
            " AND ($3 IS NULL OR project_id = $3) AND ($4 IS NULL OR paused = $4)",
            " AND ($5 IS NULL OR ",
            tag_match!("tags", "$5"),
            ")"
        )
    };
}
const LIST: &str =
    concat!("SELECT ", runner_columns!(), " FROM runners", runner_list_where!(), " ORDER BY id LIMIT $6 OFFSET $7");
const COUNT: &str = concat!("SELECT COUNT(*) FROM runners", runner_list_where!());

/// `NULL` keeps a column; `$8` says whether to set `maximum_timeout` to `$9` (which may be NULL).
const UPDATE: &str = concat!(
    "UPDATE runners SET description = COALESCE($2, description), tags = COALESCE($3, tags), ",
    "run_untagged = COALESCE($4, run_untagged), locked = COALESCE($5, locked), paused = COALESCE($6, paused), ",
    "access_level = COALESCE($7, access_level), ",
    "maximum_timeout = CASE WHEN $8 THEN $9 ELSE maximum_timeout END WHERE id = $1 RETURNING ",
    runner_columns!()
);
const TOUCH: &str = "UPDATE runners SET contacted_at = $2, version = COALESCE($3, version), \
     platform = COALESCE($4, platform), architecture = COALESCE($5, architecture), \
     executor = COALESCE($6, executor) WHERE id = $1";

#[async_trait]
impl RunnerStore for SqlStore {
    async fn create_runner(&self, new: &NewRunner, now: DateTime<Utc>) -> Result<Runner> {
        let tags = encode_tags(&new.tags)?;
        let (kind, namespace_id, project_id) = scope_columns(new.scope);
        let row: RunnerRow = with_db!(self, |p| sqlx::query_as(INSERT)
            .bind(&new.description)
            .bind(&new.token_digest)
            .bind(kind)
            .bind(namespace_id)
            .bind(project_id)
            .bind(&tags)
            .bind(new.run_untagged)
            .bind(new.locked)
            .bind(new.paused)
            .bind(new.access_level.as_str())
            .bind(new.maximum_timeout)
            .bind(now)
            .fetch_one(p)
            .await
            .map_err(db_err)
            .map_err(conflict_as("token"))?);
        Runner::try_from(row)
    }

    async fn runner_by_id(&self, id: RunnerId) -> Result<Option<Runner>> {
        let row: Option<RunnerRow> =
            with_db!(self, |p| sqlx::query_as(BY_ID).bind(id.get()).fetch_optional(p).await.map_err(db_err)?);
        row.map(Runner::try_from).transpose()
    }

    async fn runner_by_token_digest(&self, digest: &str) -> Result<Option<Runner>> {
        let row: Option<RunnerRow> =
            with_db!(self, |p| sqlx::query_as(BY_DIGEST).bind(digest).fetch_optional(p).await.map_err(db_err)?);
        row.map(Runner::try_from).transpose()
    }

    async fn list_runners(&self, filter: &RunnerFilter, page: Page) -> Result<Listed<Runner>> {
        // A comma-joined list cannot hold a tag with a comma, so such a filter matches nothing.
        if filter.tag.as_deref().is_some_and(|t| t.is_empty() || t.contains(',')) {
            return Ok(Listed { items: vec![], total: 0 });
        }
        let (kind, ns, project) =
            filter.scope.map(scope_columns).map_or((None, None, None), |(k, n, p)| (Some(k), n, p));
        let (rows, total): (Vec<RunnerRow>, i64) = with_db!(self, |p| page_and_total!(p, LIST, COUNT, page, |q| q
            .bind(kind)
            .bind(ns)
            .bind(project)
            .bind(filter.paused)
            .bind(&filter.tag)));
        let items = rows.into_iter().map(Runner::try_from).collect::<Result<_>>()?;
        Ok(Listed { items, total })
    }

    async fn update_runner(&self, id: RunnerId, update: &RunnerUpdate) -> Result<Runner> {
        let tags = update.tags.as_deref().map(encode_tags).transpose()?;
        let row: Option<RunnerRow> = with_db!(self, |p| sqlx::query_as(UPDATE)
            .bind(id.get())
            .bind(&update.description)
            .bind(&tags)
            .bind(update.run_untagged)
            .bind(update.locked)
            .bind(update.paused)
            .bind(update.access_level.map(|a| a.as_str()))
            .bind(update.maximum_timeout.is_some())
            .bind(update.maximum_timeout.flatten())
            .fetch_optional(p)
            .await
            .map_err(db_err)?);
        Runner::try_from(row.ok_or(StoreError::NotFound("runner"))?)
    }

    async fn touch_runner(&self, id: RunnerId, now: DateTime<Utc>, seen: &RunnerSeen) -> Result<()> {
        let done = with_db!(self, |p| sqlx::query(TOUCH)
            .bind(id.get())
            .bind(now)
            .bind(&seen.version)
            .bind(&seen.platform)
            .bind(&seen.architecture)
            .bind(&seen.executor)
            .execute(p)
            .await
            .map_err(db_err)?
            .rows_affected());
        one_row(done, "runner")
    }

    async fn delete_runner(&self, id: RunnerId) -> Result<()> {
        // Jobs keep their history: `jobs.runner_id` is ON DELETE SET NULL.
        let done = with_db!(self, |p| sqlx::query("DELETE FROM runners WHERE id = $1")
            .bind(id.get())
            .execute(p)
            .await
            .map_err(db_err)?
            .rows_affected());
        one_row(done, "runner")
    }

    async fn rotate_runner_token(&self, id: RunnerId, new_digest: &str) -> Result<()> {
        let done = with_db!(self, |p| sqlx::query("UPDATE runners SET token_digest = $2 WHERE id = $1")
            .bind(id.get())
            .bind(new_digest)
            .execute(p)
            .await
            .map_err(db_err)
            .map_err(conflict_as("token"))?
            .rows_affected());
        one_row(done, "runner")
    }
}
