//! [`MemberStore`]: direct memberships on namespaces and projects, and the roles that apply to a
//! source through its namespace chain.

use async_trait::async_trait;
use autogit_core::AccessLevel;
use autogit_store::{Listed, Member, MemberSource, MemberStore, Page, Result, StoreError, User};
use autogit_store::{NamespaceId, ProjectId, UserId};
use chrono::{DateTime, Utc};

use crate::db::{BeginWrite, Locks, SourceTable, SqlStore, with_db};
use crate::error::{corrupt, db_err, one_row};
use crate::filter::page_and_total;
use crate::users::UserRow;

/// `$1` source type, `$2` source id, `$3` user, `$4` access level, `$5` created_at.
pub(crate) const INSERT_MEMBER: &str = "INSERT INTO members (source_type, source_id, user_id, access_level, \
     created_at) VALUES ($1, $2, $3, $4, $5) RETURNING source_type, source_id, user_id, access_level, created_at";

const UPDATE_MEMBER: &str = "UPDATE members SET access_level = $4 \
     WHERE source_type = $1 AND source_id = $2 AND user_id = $3 \
     RETURNING source_type, source_id, user_id, access_level, created_at";

const DELETE_MEMBER: &str = "DELETE FROM members WHERE source_type = $1 AND source_id = $2 AND user_id = $3";

const LIST_MEMBERS: &str = "SELECT m.source_type, m.source_id, m.user_id, m.access_level, \
     m.created_at AS member_created_at, u.id, u.username, u.name, u.email, u.password_hash, u.is_admin, \
     u.state, u.created_at, u.external \
     FROM members m JOIN users u ON u.id = m.user_id WHERE m.source_type = $1 AND m.source_id = $2 \
     ORDER BY u.id LIMIT $3 OFFSET $4";
const COUNT_MEMBERS: &str = "SELECT COUNT(*) FROM members WHERE source_type = $1 AND source_id = $2";

/// The part of the level queries that reads the namespace chain (a CTE named `chain`).
macro_rules! levels_through_chain {
    () => {
        concat!(
            " SELECT m.access_level FROM members m JOIN chain c",
            " ON m.source_type = 'namespace' AND m.source_id = c.id WHERE m.user_id = $2",
            " UNION ALL SELECT CAST(50 AS BIGINT) FROM chain c JOIN namespaces n ON n.id = c.id",
            " WHERE n.owner_id = $2"
        )
    };
}

/// Roles of user `$2` on project `$1`: direct, on every namespace up the chain, and Owner for the
/// owner of a personal namespace in the chain. The chain walks `parent_id` (indexed lookups)
/// rather than comparing full paths.
pub(crate) const PROJECT_LEVELS: &str = concat!(
    "WITH RECURSIVE chain (id, depth) AS (",
    " SELECT namespace_id, 0 FROM projects WHERE id = $1",
    " UNION ALL SELECT n.parent_id, c.depth + 1 FROM namespaces n JOIN chain c ON n.id = c.id",
    " WHERE n.parent_id IS NOT NULL AND c.depth < 100)",
    " SELECT access_level FROM members WHERE source_type = 'project' AND source_id = $1 AND user_id = $2",
    " UNION ALL",
    levels_through_chain!()
);

/// Roles of user `$2` on namespace `$1`: on it and every ancestor, and Owner if it is theirs.
const NAMESPACE_LEVELS: &str = concat!(
    "WITH RECURSIVE chain (id, depth) AS (",
    " SELECT id, 0 FROM namespaces WHERE id = $1",
    " UNION ALL SELECT n.parent_id, c.depth + 1 FROM namespaces n JOIN chain c ON n.id = c.id",
    " WHERE n.parent_id IS NOT NULL AND c.depth < 100)",
    levels_through_chain!()
);

#[derive(sqlx::FromRow)]
pub(crate) struct MemberRow {
    source_type: String,
    source_id: i64,
    user_id: i64,
    access_level: i64,
    created_at: DateTime<Utc>,
}

impl TryFrom<MemberRow> for Member {
    type Error = StoreError;

    fn try_from(r: MemberRow) -> Result<Member> {
        let source = match r.source_type.as_str() {
            "namespace" => MemberSource::Namespace(NamespaceId::new(r.source_id)),
            "project" => MemberSource::Project(ProjectId::new(r.source_id)),
            other => return Err(corrupt("member source type", other)),
        };
        Ok(Member {
            source,
            user_id: UserId::new(r.user_id),
            access_level: level(r.access_level)?,
            created_at: r.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct MemberUserRow {
    source_type: String,
    source_id: i64,
    user_id: i64,
    access_level: i64,
    member_created_at: DateTime<Utc>,
    #[sqlx(flatten)]
    user: UserRow,
}

fn level(v: i64) -> Result<AccessLevel> {
    AccessLevel::from_value(v).ok_or_else(|| corrupt("access level", v))
}

/// The stored levels as `applicable_levels` answers them: highest first, each role once (callers
/// want the strongest, the set is for display).
pub(crate) fn levels(values: Vec<i64>) -> Result<Vec<AccessLevel>> {
    let mut levels = values.into_iter().map(level).collect::<Result<Vec<_>>>()?;
    levels.sort_unstable_by(|a, b| b.cmp(a));
    levels.dedup();
    Ok(levels)
}

/// The `(source_type, source_id)` columns of a source.
fn source_key(source: MemberSource) -> (&'static str, i64) {
    match source {
        MemberSource::Namespace(id) => ("namespace", id.get()),
        MemberSource::Project(id) => ("project", id.get()),
    }
}

#[async_trait]
impl MemberStore for SqlStore {
    async fn add_member(
        &self,
        source: MemberSource,
        user_id: UserId,
        level: AccessLevel,
        now: DateTime<Utc>,
    ) -> Result<Member> {
        let (kind, id) = source_key(source);
        let table = match source {
            MemberSource::Namespace(_) => SourceTable::Namespaces,
            MemberSource::Project(_) => SourceTable::Projects,
        };
        let row: MemberRow = with_db!(self, |p| {
            let mut tx = p.begin_write().await?;
            if !tx.lock_source(table, id).await? {
                return Err(StoreError::Invalid(format!("{kind} does not exist")));
            }
            let row = sqlx::query_as(INSERT_MEMBER)
                .bind(kind)
                .bind(id)
                .bind(user_id.get())
                .bind(level.value())
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?;
            tx.commit().await.map_err(db_err)?;
            row
        });
        Member::try_from(row)
    }

    async fn update_member(&self, source: MemberSource, user_id: UserId, level: AccessLevel) -> Result<Member> {
        let (kind, id) = source_key(source);
        let row: Option<MemberRow> = with_db!(self, |p| sqlx::query_as(UPDATE_MEMBER)
            .bind(kind)
            .bind(id)
            .bind(user_id.get())
            .bind(level.value())
            .fetch_optional(p)
            .await
            .map_err(db_err)?);
        Member::try_from(row.ok_or(StoreError::NotFound("member"))?)
    }

    async fn remove_member(&self, source: MemberSource, user_id: UserId) -> Result<()> {
        let (kind, id) = source_key(source);
        let done = with_db!(self, |p| sqlx::query(DELETE_MEMBER)
            .bind(kind)
            .bind(id)
            .bind(user_id.get())
            .execute(p)
            .await
            .map_err(db_err)?
            .rows_affected());
        one_row(done, "member")
    }

    async fn list_members(&self, source: MemberSource, page: Page) -> Result<Listed<(Member, User)>> {
        let (kind, id) = source_key(source);
        let (rows, total): (Vec<MemberUserRow>, i64) =
            with_db!(self, |p| page_and_total!(p, LIST_MEMBERS, COUNT_MEMBERS, page, |q| q.bind(kind).bind(id)));
        let items = rows
            .into_iter()
            .map(|r| {
                let member = MemberRow {
                    source_type: r.source_type,
                    source_id: r.source_id,
                    user_id: r.user_id,
                    access_level: r.access_level,
                    created_at: r.member_created_at,
                };
                Ok((Member::try_from(member)?, User::try_from(r.user)?))
            })
            .collect::<Result<_>>()?;
        Ok(Listed { items, total })
    }

    async fn applicable_levels(&self, source: MemberSource, user_id: UserId) -> Result<Vec<AccessLevel>> {
        let (sql, id) = match source {
            MemberSource::Project(id) => (PROJECT_LEVELS, id.get()),
            MemberSource::Namespace(id) => (NAMESPACE_LEVELS, id.get()),
        };
        let values: Vec<i64> = with_db!(self, |p| sqlx::query_scalar(sql)
            .bind(id)
            .bind(user_id.get())
            .fetch_all(p)
            .await
            .map_err(db_err)?);
        levels(values)
    }

    async fn sso_memberships(&self, user_id: UserId) -> Result<Vec<NamespaceId>> {
        let ids: Vec<i64> = with_db!(self, |p| sqlx::query_scalar(
            "SELECT namespace_id FROM sso_memberships WHERE user_id = $1 ORDER BY namespace_id"
        )
        .bind(user_id.get())
        .fetch_all(p)
        .await
        .map_err(db_err)?);
        Ok(ids.into_iter().map(NamespaceId::new).collect())
    }

    async fn mark_sso_membership(&self, user_id: UserId, namespace_id: NamespaceId, managed: bool) -> Result<()> {
        let sql = if managed {
            "INSERT INTO sso_memberships (user_id, namespace_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
        } else {
            "DELETE FROM sso_memberships WHERE user_id = $1 AND namespace_id = $2"
        };
        with_db!(self, |p| {
            sqlx::query(sql).bind(user_id.get()).bind(namespace_id.get()).execute(p).await.map_err(db_err)?;
        });
        Ok(())
    }
}
