//! [`ProtectedTagStore`]: protected-tag rules and their create levels (two tables, migration
//! 0017). A rule and its levels are written in one transaction; every read is one statement that
//! joins a rule with its levels (a rule without levels gives one row of NULL levels).

use async_trait::async_trait;
use autogit_core::protection::RefAccessLevel;
use autogit_store::ProjectId;
use autogit_store::{Listed, NewProtectedTag, Page, ProtectedTag, ProtectedTagStore, RefAccess, Result};

use crate::db::{BeginWrite, SqlStore, with_db};
use crate::error::{corrupt, db_err, one_row};
use crate::filter::paging;

const INSERT_RULE: &str = "INSERT INTO protected_tags (project_id, name) VALUES ($1, $2) RETURNING id";
const INSERT_LEVEL: &str =
    "INSERT INTO protected_tag_create_levels (protected_tag_id, access_level) VALUES ($1, $2) RETURNING id";
const BY_NAME: &str = "SELECT t.id, t.project_id, t.name, l.id AS level_id, l.access_level \
     FROM protected_tags t LEFT JOIN protected_tag_create_levels l ON l.protected_tag_id = t.id \
     WHERE t.project_id = $1 AND t.name = $2 ORDER BY l.id";
/// Every rule of project `$1` with its levels, by rule, then level (also what the job context
/// reads).
pub(crate) const RULES_OF_PROJECT: &str = "SELECT t.id, t.project_id, t.name, l.id AS level_id, l.access_level \
     FROM protected_tags t LEFT JOIN protected_tag_create_levels l ON l.protected_tag_id = t.id \
     WHERE t.project_id = $1 ORDER BY t.id, l.id";
const COUNT: &str = "SELECT COUNT(*) FROM protected_tags WHERE project_id = $1";
const DELETE: &str = "DELETE FROM protected_tags WHERE project_id = $1 AND name = $2";

#[derive(sqlx::FromRow)]
pub(crate) struct TagLevelRow {
    id: i64,
    project_id: i64,
    name: String,
    level_id: Option<i64>,
    access_level: Option<i64>,
}

/// The rules of rows ordered by rule, then level.
pub(crate) fn assemble(rows: Vec<TagLevelRow>) -> Result<Vec<ProtectedTag>> {
    let mut out: Vec<ProtectedTag> = Vec::new();
    for r in rows {
        if out.last().is_none_or(|last| last.id != r.id) {
            out.push(ProtectedTag {
                id: r.id,
                project_id: ProjectId::new(r.project_id),
                name: r.name,
                create_access_levels: Vec::new(),
            });
        }
        if let (Some(id), Some(level), Some(rule)) = (r.level_id, r.access_level, out.last_mut()) {
            let access_level = RefAccessLevel::from_value(level).ok_or_else(|| corrupt("access level", level))?;
            rule.create_access_levels.push(RefAccess { id, access_level });
        }
    }
    Ok(out)
}

#[async_trait]
impl ProtectedTagStore for SqlStore {
    async fn protect_tag(&self, new: &NewProtectedTag) -> Result<ProtectedTag> {
        let mut levels = Vec::new();
        let id: i64 = with_db!(self, |p| {
            let mut tx = p.begin_write().await?;
            let id: i64 = sqlx::query_scalar(INSERT_RULE)
                .bind(new.project_id.get())
                .bind(&new.name)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?;
            for level in &new.create_access_levels {
                let level_id: i64 = sqlx::query_scalar(INSERT_LEVEL)
                    .bind(id)
                    .bind(level.value())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_err)?;
                levels.push(RefAccess { id: level_id, access_level: *level });
            }
            tx.commit().await.map_err(db_err)?;
            id
        });
        Ok(ProtectedTag { id, project_id: new.project_id, name: new.name.clone(), create_access_levels: levels })
    }

    async fn list_protected_tags(&self, project_id: ProjectId, page: Page) -> Result<Listed<ProtectedTag>> {
        // Rules are few (GitLab lists them on one settings page): all of them are read and paged
        // here, so that a rule's levels are never split across pages.
        let (rows, total): (Vec<TagLevelRow>, i64) = with_db!(self, |p| {
            let rows = sqlx::query_as(RULES_OF_PROJECT).bind(project_id.get()).fetch_all(p).await.map_err(db_err)?;
            let total = sqlx::query_scalar(COUNT).bind(project_id.get()).fetch_one(p).await.map_err(db_err)?;
            (rows, total)
        });
        let (limit, offset) = paging(page);
        let items = assemble(rows)?
            .into_iter()
            .skip(usize::try_from(offset).unwrap_or(usize::MAX))
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .collect();
        Ok(Listed { items, total })
    }

    async fn protected_tag(&self, project_id: ProjectId, name: &str) -> Result<Option<ProtectedTag>> {
        let rows: Vec<TagLevelRow> = with_db!(self, |p| sqlx::query_as(BY_NAME)
            .bind(project_id.get())
            .bind(name)
            .fetch_all(p)
            .await
            .map_err(db_err)?);
        Ok(assemble(rows)?.pop())
    }

    async fn unprotect_tag(&self, project_id: ProjectId, name: &str) -> Result<()> {
        let done = with_db!(self, |p| sqlx::query(DELETE)
            .bind(project_id.get())
            .bind(name)
            .execute(p)
            .await
            .map_err(db_err)?
            .rows_affected());
        one_row(done, "protected tag")
    }
}
