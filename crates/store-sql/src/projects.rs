//! [`ProjectStore`]: project records. The full path is never stored; every read joins the
//! namespace, so it cannot go stale.

use async_trait::async_trait;
use autogit_core::AccessLevel;
use autogit_store::{
    Listed, NewProject, Page, Project, ProjectFilter, ProjectStore, ProjectUpdate, Result, StoreError,
};
use autogit_store::{NamespaceId, ProjectId, UserId};
use chrono::{DateTime, Utc};

use crate::db::{BeginWrite, Locks, SqlStore, with_db};
use crate::error::{db_err, one_row};
use crate::filter::{
    AccessParams, is_self_or_ancestor, like_pattern, page_and_total, parse_visibility, visibility_level,
};
use crate::members::INSERT_MEMBER;

/// Project columns in `ProjectRow` order, from `projects p JOIN namespaces n`.
macro_rules! project_select {
    () => {
        "SELECT p.id, p.namespace_id, p.name, p.path, n.full_path || '/' || p.path AS full_path, \
         p.description, p.visibility, p.default_branch, p.ci_config_path, p.created_at, p.last_activity_at \
         FROM projects p JOIN namespaces n ON n.id = p.namespace_id"
    };
}

#[derive(sqlx::FromRow)]
pub(crate) struct ProjectRow {
    pub(crate) id: i64,
    namespace_id: i64,
    name: String,
    path: String,
    full_path: String,
    description: String,
    visibility: String,
    default_branch: Option<String>,
    ci_config_path: Option<String>,
    created_at: DateTime<Utc>,
    last_activity_at: DateTime<Utc>,
}

impl TryFrom<ProjectRow> for Project {
    type Error = StoreError;

    fn try_from(r: ProjectRow) -> Result<Project> {
        Ok(Project {
            id: ProjectId::new(r.id),
            namespace_id: NamespaceId::new(r.namespace_id),
            name: r.name,
            path: r.path,
            full_path: r.full_path,
            description: r.description,
            visibility: parse_visibility(&r.visibility)?,
            default_branch: r.default_branch,
            ci_config_path: r.ci_config_path,
            created_at: r.created_at,
            last_activity_at: r.last_activity_at,
        })
    }
}

pub(crate) const BY_ID: &str = concat!(project_select!(), " WHERE p.id = $1");
const BY_FULL_PATH: &str =
    concat!(project_select!(), " WHERE n.full_path_lower = lower($1) AND lower(p.path) = lower($2)");

const INSERT: &str = "INSERT INTO projects (namespace_id, name, path, description, visibility, default_branch, \
     created_at, updated_at, last_activity_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $7) RETURNING id";

/// `NULL` keeps the column: `ProjectUpdate` applies only the fields that are set. `$8` says
/// whether to set `ci_config_path` to `$9` (which may be NULL).
const UPDATE: &str = "UPDATE projects SET name = COALESCE($2, name), path = COALESCE($3, path), \
     description = COALESCE($4, description), visibility = COALESCE($5, visibility), \
     default_branch = COALESCE($6, default_branch), updated_at = $7, \
     ci_config_path = CASE WHEN $8 THEN $9 ELSE ci_config_path END WHERE id = $1";

const NAMESPACE_OF: &str = "SELECT namespace_id FROM projects WHERE id = $1";
const SUBGROUP_PATH_TAKEN: &str = "SELECT COUNT(*) FROM namespaces WHERE parent_id = $1 AND lower(path) = lower($2)";

/// `$1` all, `$2` minimum visibility level, `$3` member id (see `AccessParams`), `$4` namespace,
/// `$5` LIKE pattern. A member holds a role on the project, on its namespace or an ancestor, or
/// owns the personal namespace (which never has subgroups, so only `n` itself can be it).
macro_rules! project_list_where {
    () => {
        concat!(
            " WHERE ($4 IS NULL OR p.namespace_id = $4)",
            " AND ($5 IS NULL OR lower(p.path) LIKE lower($5) ESCAPE '\\' OR lower(p.name) LIKE lower($5) ESCAPE '\\')",
            " AND ($1 OR ",
            visibility_level!("p.visibility"),
            " >= $2",
            " OR EXISTS (SELECT 1 FROM members m",
            " WHERE m.source_type = 'project' AND m.source_id = p.id AND m.user_id = $3)",
            " OR EXISTS (SELECT 1 FROM members m JOIN namespaces a ON a.id = m.source_id",
            " WHERE m.source_type = 'namespace' AND m.user_id = $3 AND ",
            is_self_or_ancestor!("a", "n"),
            ") OR n.owner_id = $3)"
        )
    };
}

const LIST: &str = concat!(project_select!(), project_list_where!(), " ORDER BY p.id LIMIT $6 OFFSET $7");
const COUNT: &str =
    concat!("SELECT COUNT(*) FROM projects p JOIN namespaces n ON n.id = p.namespace_id", project_list_where!());

/// Binds `$1`..`$5` of `project_list_where!`.
macro_rules! bind_project_filter {
    ($q:expr, $a:expr, $ns:expr, $pattern:expr) => {
        $q.bind($a.all).bind($a.min_level).bind($a.member_id).bind($ns).bind($pattern)
    };
}

#[async_trait]
impl ProjectStore for SqlStore {
    async fn create_project(
        &self,
        new: &NewProject,
        creator: Option<(UserId, AccessLevel)>,
        now: DateTime<Utc>,
    ) -> Result<Project> {
        let row: ProjectRow = with_db!(self, |p| {
            let mut tx = p.begin_write().await?;
            tx.lock_namespace(new.namespace_id.get()).await?;
            let taken: i64 = sqlx::query_scalar(SUBGROUP_PATH_TAKEN)
                .bind(new.namespace_id.get())
                .bind(&new.path)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?;
            if taken > 0 {
                return Err(StoreError::Conflict("path".into()));
            }
            let id: i64 = sqlx::query_scalar(INSERT)
                .bind(new.namespace_id.get())
                .bind(&new.name)
                .bind(&new.path)
                .bind(&new.description)
                .bind(new.visibility.as_str())
                .bind(&new.default_branch)
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?;
            if let Some((user_id, level)) = creator {
                sqlx::query(INSERT_MEMBER)
                    .bind("project")
                    .bind(id)
                    .bind(user_id.get())
                    .bind(level.value())
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
            }
            if let (Some(branch), Some(protection)) = (&new.default_branch, &new.default_branch_protection) {
                crate::protected_branches::insert_rule!(tx, id, branch, protection);
            }
            let row = sqlx::query_as(BY_ID).bind(id).fetch_one(&mut *tx).await.map_err(db_err)?;
            tx.commit().await.map_err(db_err)?;
            row
        });
        Project::try_from(row)
    }

    async fn project_by_id(&self, id: ProjectId) -> Result<Option<Project>> {
        let row: Option<ProjectRow> =
            with_db!(self, |p| sqlx::query_as(BY_ID).bind(id.get()).fetch_optional(p).await.map_err(db_err)?);
        row.map(Project::try_from).transpose()
    }

    async fn project_by_full_path(&self, full_path: &str) -> Result<Option<Project>> {
        // Split so that both halves hit an index, instead of concatenating on every row.
        let Some((namespace, path)) = full_path.rsplit_once('/') else { return Ok(None) };
        let row: Option<ProjectRow> = with_db!(self, |p| sqlx::query_as(BY_FULL_PATH)
            .bind(namespace)
            .bind(path)
            .fetch_optional(p)
            .await
            .map_err(db_err)?);
        row.map(Project::try_from).transpose()
    }

    async fn list_projects(&self, filter: &ProjectFilter, page: Page) -> Result<Listed<Project>> {
        let access = AccessParams::new(&filter.access);
        let pattern = like_pattern(filter.search.as_deref());
        let (rows, total): (Vec<ProjectRow>, i64) = with_db!(self, |p| page_and_total!(
            p,
            LIST,
            COUNT,
            page,
            |q| bind_project_filter!(q, access, filter.namespace_id.map(NamespaceId::get), &pattern)
        ));
        let items = rows.into_iter().map(Project::try_from).collect::<Result<_>>()?;
        Ok(Listed { items, total })
    }

    async fn update_project(&self, id: ProjectId, update: &ProjectUpdate, now: DateTime<Utc>) -> Result<Project> {
        let row: ProjectRow = with_db!(self, |p| {
            let mut tx = p.begin_write().await?;
            let namespace_id: Option<i64> =
                sqlx::query_scalar(NAMESPACE_OF).bind(id.get()).fetch_optional(&mut *tx).await.map_err(db_err)?;
            let namespace_id = namespace_id.ok_or(StoreError::NotFound("project"))?;
            if let Some(path) = &update.path {
                tx.lock_namespace(namespace_id).await?;
                let taken: i64 = sqlx::query_scalar(SUBGROUP_PATH_TAKEN)
                    .bind(namespace_id)
                    .bind(path)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_err)?;
                if taken > 0 {
                    return Err(StoreError::Conflict("path".into()));
                }
            }
            sqlx::query(UPDATE)
                .bind(id.get())
                .bind(&update.name)
                .bind(&update.path)
                .bind(&update.description)
                .bind(update.visibility.map(|v| v.as_str()))
                .bind(&update.default_branch)
                .bind(now)
                .bind(update.ci_config_path.is_some())
                .bind(update.ci_config_path.as_ref().and_then(|c| c.as_deref()))
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            let row = sqlx::query_as(BY_ID).bind(id.get()).fetch_one(&mut *tx).await.map_err(db_err)?;
            tx.commit().await.map_err(db_err)?;
            row
        });
        Project::try_from(row)
    }

    async fn touch_project(&self, id: ProjectId, now: DateTime<Utc>) -> Result<()> {
        let done = with_db!(self, |p| sqlx::query("UPDATE projects SET last_activity_at = $2 WHERE id = $1")
            .bind(id.get())
            .bind(now)
            .execute(p)
            .await
            .map_err(db_err)?
            .rows_affected());
        one_row(done, "project")
    }

    async fn delete_project(&self, id: ProjectId) -> Result<()> {
        with_db!(self, |p| {
            let mut tx = p.begin_write().await?;
            // The project row first: on PostgreSQL this waits for `add_member`'s share lock, so the
            // member delete below (a fresh snapshot) also sees a membership added concurrently.
            // Push events go with the row (ON DELETE CASCADE).
            let done = sqlx::query("DELETE FROM projects WHERE id = $1")
                .bind(id.get())
                .execute(&mut *tx)
                .await
                .map_err(db_err)?
                .rows_affected();
            if done == 0 {
                return Err(StoreError::NotFound("project"));
            }
            sqlx::query("DELETE FROM members WHERE source_type = 'project' AND source_id = $1")
                .bind(id.get())
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            tx.commit().await.map_err(db_err)
        })
    }
}
