//! [`NamespaceStore`]: groups (nestable) and personal namespaces, looked up by id or full path.

use async_trait::async_trait;
use autogit_core::AccessLevel;
use autogit_store::{
    GroupFilter, Listed, Namespace, NamespaceKind, NamespaceStore, NewGroup, Page, Result, StoreError,
};
use autogit_store::{NamespaceId, UserId};
use chrono::{DateTime, Utc};

use crate::db::{BeginWrite, Locks, SqlStore, with_db};
use crate::error::{corrupt, db_err};
use crate::filter::{
    AccessParams, is_self_or_ancestor, like_pattern, page_and_total, parse_visibility, visibility_level,
};
use crate::members::INSERT_MEMBER;

/// The namespace columns in `NamespaceRow` order, each prefixed with `$t` (`""` or `"n."`).
macro_rules! namespace_columns {
    ($t:literal) => {
        concat!(
            $t,
            "id, ",
            $t,
            "kind, ",
            $t,
            "name, ",
            $t,
            "path, ",
            $t,
            "full_path, ",
            $t,
            "parent_id, ",
            $t,
            "visibility, ",
            $t,
            "description, ",
            $t,
            "owner_id, ",
            $t,
            "created_at"
        )
    };
}

#[derive(sqlx::FromRow)]
pub(crate) struct NamespaceRow {
    id: i64,
    kind: String,
    name: String,
    path: String,
    full_path: String,
    parent_id: Option<i64>,
    visibility: String,
    description: String,
    owner_id: Option<i64>,
    created_at: DateTime<Utc>,
}

impl TryFrom<NamespaceRow> for Namespace {
    type Error = StoreError;

    fn try_from(r: NamespaceRow) -> Result<Namespace> {
        let kind = match r.kind.as_str() {
            "user" => NamespaceKind::User,
            "group" => NamespaceKind::Group,
            other => return Err(corrupt("namespace kind", other)),
        };
        Ok(Namespace {
            id: NamespaceId::new(r.id),
            kind,
            name: r.name,
            path: r.path,
            full_path: r.full_path,
            parent_id: r.parent_id.map(NamespaceId::new),
            visibility: parse_visibility(&r.visibility)?,
            description: r.description,
            owner_id: r.owner_id.map(UserId::new),
            created_at: r.created_at,
        })
    }
}

/// `$1` kind, `$2` name, `$3` path, `$4` full path, `$5` parent, `$6` visibility, `$7` description,
/// `$8` owner, `$9` created_at. The lowered full path is computed here so that every row lowers
/// with the same function as the lookups do.
pub(crate) const INSERT_NAMESPACE: &str = concat!(
    "INSERT INTO namespaces (kind, name, path, full_path, full_path_lower, parent_id, visibility, ",
    "description, owner_id, created_at) VALUES ($1, $2, $3, $4, lower($4), $5, $6, $7, $8, $9) RETURNING ",
    namespace_columns!("")
);

const BY_ID: &str = concat!("SELECT ", namespace_columns!(""), " FROM namespaces WHERE id = $1");
const BY_FULL_PATH: &str =
    concat!("SELECT ", namespace_columns!(""), " FROM namespaces WHERE full_path_lower = lower($1)");
const BY_OWNER: &str =
    concat!("SELECT ", namespace_columns!(""), " FROM namespaces WHERE owner_id = $1 AND kind = 'user'");

/// The namespace chain from the one `$seed` selects (as `id, 0`) up to the top, root first. The
/// depth cap only guards against a corrupted cycle.
macro_rules! ancestry {
    ($seed:literal) => {
        concat!(
            "WITH RECURSIVE chain (id, depth) AS (",
            $seed,
            " UNION ALL",
            " SELECT n.parent_id, c.depth + 1 FROM namespaces n JOIN chain c ON n.id = c.id",
            " WHERE n.parent_id IS NOT NULL AND c.depth < 100",
            ") SELECT ",
            namespace_columns!("n."),
            " FROM chain c JOIN namespaces n ON n.id = c.id ORDER BY c.depth DESC"
        )
    };
}
/// Walks `parent_id` up from namespace `$1`.
const ANCESTRY: &str = ancestry!(" SELECT id, 0 FROM namespaces WHERE id = $1");
/// As [`ANCESTRY`], from the namespace of project `$1`.
pub(crate) const PROJECT_ANCESTRY: &str = ancestry!(" SELECT namespace_id, 0 FROM projects WHERE id = $1");

const PROJECT_PATH_TAKEN: &str = "SELECT COUNT(*) FROM projects WHERE namespace_id = $1 AND lower(path) = lower($2)";

/// `$1` all, `$2` minimum visibility level, `$3` member id (see `AccessParams`), `$4` whether to
/// filter by parent, `$5` the parent (NULL: top level), `$6` LIKE pattern.
macro_rules! group_list_where {
    () => {
        concat!(
            " WHERE g.kind = 'group'",
            " AND (NOT $4 OR g.parent_id = $5 OR ($5 IS NULL AND g.parent_id IS NULL))",
            " AND ($6 IS NULL OR lower(g.path) LIKE lower($6) ESCAPE '\\' OR lower(g.name) LIKE lower($6) ESCAPE '\\')",
            " AND ($1 OR ",
            visibility_level!("g.visibility"),
            " >= $2 OR EXISTS (SELECT 1 FROM members m JOIN namespaces a ON a.id = m.source_id",
            " WHERE m.source_type = 'namespace' AND m.user_id = $3 AND ",
            is_self_or_ancestor!("a", "g"),
            "))"
        )
    };
}

const LIST_GROUPS: &str = concat!(
    "SELECT ",
    namespace_columns!("g."),
    " FROM namespaces g",
    group_list_where!(),
    " ORDER BY g.id LIMIT $7 OFFSET $8"
);
const COUNT_GROUPS: &str = concat!("SELECT COUNT(*) FROM namespaces g", group_list_where!());

/// Binds `$1`..`$6` of `group_list_where!`.
macro_rules! bind_group_filter {
    ($q:expr, $a:expr, $parent:expr, $pattern:expr) => {
        $q.bind($a.all)
            .bind($a.min_level)
            .bind($a.member_id)
            .bind($parent.is_some())
            .bind(($parent.flatten()).map(NamespaceId::get))
            .bind($pattern)
    };
}

#[async_trait]
impl NamespaceStore for SqlStore {
    async fn create_group(&self, new: &NewGroup, owner: Option<UserId>, now: DateTime<Utc>) -> Result<Namespace> {
        let row: NamespaceRow = with_db!(self, |p| {
            let mut tx = p.begin_write().await?;
            let full_path = match new.parent_id {
                None => new.path.clone(),
                Some(parent_id) => {
                    tx.lock_namespace(parent_id.get()).await?;
                    let parent: Option<NamespaceRow> =
                        sqlx::query_as(BY_ID).bind(parent_id.get()).fetch_optional(&mut *tx).await.map_err(db_err)?;
                    let parent = parent.ok_or_else(|| StoreError::Invalid("parent group does not exist".into()))?;
                    if parent.kind != NamespaceKind::Group.as_str() {
                        return Err(StoreError::Invalid("groups cannot be nested in a personal namespace".into()));
                    }
                    // A project in the parent with this path would own the same full path.
                    let taken: i64 = sqlx::query_scalar(PROJECT_PATH_TAKEN)
                        .bind(parent_id.get())
                        .bind(&new.path)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(db_err)?;
                    if taken > 0 {
                        return Err(StoreError::Conflict("path".into()));
                    }
                    format!("{}/{}", parent.full_path, new.path)
                }
            };
            let row: NamespaceRow = sqlx::query_as(INSERT_NAMESPACE)
                .bind(NamespaceKind::Group.as_str())
                .bind(&new.name)
                .bind(&new.path)
                .bind(&full_path)
                .bind(new.parent_id.map(NamespaceId::get))
                .bind(new.visibility.as_str())
                .bind(&new.description)
                .bind(None::<i64>)
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?;
            if let Some(owner) = owner {
                sqlx::query(INSERT_MEMBER)
                    .bind("namespace")
                    .bind(row.id)
                    .bind(owner.get())
                    .bind(AccessLevel::Owner.value())
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
            }
            tx.commit().await.map_err(db_err)?;
            row
        });
        Namespace::try_from(row)
    }

    async fn namespace_by_id(&self, id: NamespaceId) -> Result<Option<Namespace>> {
        let row: Option<NamespaceRow> =
            with_db!(self, |p| sqlx::query_as(BY_ID).bind(id.get()).fetch_optional(p).await.map_err(db_err)?);
        row.map(Namespace::try_from).transpose()
    }

    async fn namespace_by_full_path(&self, full_path: &str) -> Result<Option<Namespace>> {
        let row: Option<NamespaceRow> =
            with_db!(self, |p| sqlx::query_as(BY_FULL_PATH).bind(full_path).fetch_optional(p).await.map_err(db_err)?);
        row.map(Namespace::try_from).transpose()
    }

    async fn user_namespace(&self, user_id: UserId) -> Result<Option<Namespace>> {
        let row: Option<NamespaceRow> =
            with_db!(self, |p| sqlx::query_as(BY_OWNER).bind(user_id.get()).fetch_optional(p).await.map_err(db_err)?);
        row.map(Namespace::try_from).transpose()
    }

    async fn namespace_ancestry(&self, id: NamespaceId) -> Result<Vec<Namespace>> {
        let rows: Vec<NamespaceRow> =
            with_db!(self, |p| sqlx::query_as(ANCESTRY).bind(id.get()).fetch_all(p).await.map_err(db_err)?);
        rows.into_iter().map(Namespace::try_from).collect()
    }

    async fn list_groups(&self, filter: &GroupFilter, page: Page) -> Result<Listed<Namespace>> {
        let access = AccessParams::new(&filter.access);
        let pattern = like_pattern(filter.search.as_deref());
        let (rows, total): (Vec<NamespaceRow>, i64) = with_db!(self, |p| page_and_total!(
            p,
            LIST_GROUPS,
            COUNT_GROUPS,
            page,
            |q| bind_group_filter!(q, access, filter.parent, &pattern)
        ));
        let items = rows.into_iter().map(Namespace::try_from).collect::<Result<_>>()?;
        Ok(Listed { items, total })
    }
}
