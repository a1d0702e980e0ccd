//! [`ProtectedBranchStore`]: protected-branch rules and their access levels (two tables, see
//! migration 0009). A rule and its levels are written in one transaction; reads fetch the rules,
//! then the levels of the project's rules, and join them here.

use async_trait::async_trait;
use autogit_core::protection::RefAccessLevel;
use autogit_store::ProjectId;
use autogit_store::{
    Listed, NewProtectedBranch, Page, ProtectedBranch, ProtectedBranchStore, RefAccess, Result, StoreError,
};

use crate::db::{BeginWrite, SqlStore, with_db};
use crate::error::{corrupt, db_err, one_row};
use crate::filter::page_and_total;

#[derive(sqlx::FromRow)]
pub(crate) struct RuleRow {
    pub(crate) id: i64,
    project_id: i64,
    name: String,
    allow_force_push: bool,
}

#[derive(sqlx::FromRow)]
pub(crate) struct LevelRow {
    id: i64,
    protected_branch_id: i64,
    action: String,
    access_level: i64,
}

pub(crate) const INSERT_RULE: &str = "INSERT INTO protected_branches (project_id, name, allow_force_push) VALUES ($1, $2, $3) \
                           RETURNING id, project_id, name, allow_force_push";
pub(crate) const INSERT_LEVEL: &str = "INSERT INTO protected_branch_access_levels (protected_branch_id, action, access_level) \
                            VALUES ($1, $2, $3) RETURNING id, protected_branch_id, action, access_level";
const LIST: &str = "SELECT id, project_id, name, allow_force_push FROM protected_branches WHERE project_id = $1 \
                    ORDER BY id LIMIT $2 OFFSET $3";
const COUNT: &str = "SELECT COUNT(*) FROM protected_branches WHERE project_id = $1";
const BY_NAME: &str =
    "SELECT id, project_id, name, allow_force_push FROM protected_branches WHERE project_id = $1 AND name = $2";
/// The levels of every rule of a project; rules are few, so no paging is needed here.
const LEVELS_OF_PROJECT: &str = "SELECT a.id, a.protected_branch_id, a.action, a.access_level \
                                 FROM protected_branch_access_levels a \
                                 JOIN protected_branches b ON b.id = a.protected_branch_id \
                                 WHERE b.project_id = $1 ORDER BY a.id";
const LEVELS_OF_RULE: &str = "SELECT id, protected_branch_id, action, access_level \
                              FROM protected_branch_access_levels WHERE protected_branch_id = $1 ORDER BY id";
const DELETE: &str = "DELETE FROM protected_branches WHERE project_id = $1 AND name = $2";
/// Every rule of project `$1` with its levels in one statement: a row per level (a rule without
/// levels gives one row of NULL levels), by rule, then level.
pub(crate) const RULES_WITH_LEVELS: &str = "SELECT b.id, b.project_id, b.name, b.allow_force_push, \
     a.id AS level_id, a.action, a.access_level \
     FROM protected_branches b LEFT JOIN protected_branch_access_levels a ON a.protected_branch_id = b.id \
     WHERE b.project_id = $1 ORDER BY b.id, a.id";

#[derive(sqlx::FromRow)]
pub(crate) struct RuleLevelRow {
    id: i64,
    project_id: i64,
    name: String,
    allow_force_push: bool,
    level_id: Option<i64>,
    action: Option<String>,
    access_level: Option<i64>,
}

/// The rules of [`RULES_WITH_LEVELS`]' rows, as `list_protected_branches` answers them.
pub(crate) fn rules_with_levels(rows: Vec<RuleLevelRow>) -> Result<Vec<ProtectedBranch>> {
    let mut rules: Vec<RuleRow> = Vec::new();
    let mut levels = Vec::new();
    for r in rows {
        if let (Some(id), Some(action), Some(access_level)) = (r.level_id, r.action, r.access_level) {
            levels.push(LevelRow { id, protected_branch_id: r.id, action, access_level });
        }
        if rules.last().is_none_or(|last| last.id != r.id) {
            rules.push(RuleRow {
                id: r.id,
                project_id: r.project_id,
                name: r.name,
                allow_force_push: r.allow_force_push,
            });
        }
    }
    assemble(rules, &levels)
}

/// Inserts a rule and its levels on `$conn` (a transaction); evaluates to `(RuleRow, Vec<LevelRow>)`.
/// Shared with project creation, which protects the default branch in its own transaction.
macro_rules! insert_rule {
    ($conn:expr, $project_id:expr, $name:expr, $protection:expr) => {{
        let rule: $crate::protected_branches::RuleRow = sqlx::query_as($crate::protected_branches::INSERT_RULE)
            .bind($project_id)
            .bind($name)
            .bind($protection.allow_force_push)
            .fetch_one(&mut *$conn)
            .await
            .map_err($crate::error::db_err)?;
        let mut levels: Vec<$crate::protected_branches::LevelRow> = Vec::new();
        let actions = [("push", &$protection.push_access_levels), ("merge", &$protection.merge_access_levels)];
        for (action, list) in actions {
            for level in list.iter() {
                let row = sqlx::query_as($crate::protected_branches::INSERT_LEVEL)
                    .bind(rule.id)
                    .bind(action)
                    .bind(level.value())
                    .fetch_one(&mut *$conn)
                    .await
                    .map_err($crate::error::db_err)?;
                levels.push(row);
            }
        }
        (rule, levels)
    }};
}
pub(crate) use insert_rule;

/// Joins rules with their levels (levels of other rules are ignored).
fn assemble(rules: Vec<RuleRow>, levels: &[LevelRow]) -> Result<Vec<ProtectedBranch>> {
    rules
        .into_iter()
        .map(|r| {
            let mut out = ProtectedBranch {
                id: r.id,
                project_id: ProjectId::new(r.project_id),
                name: r.name,
                push_access_levels: Vec::new(),
                merge_access_levels: Vec::new(),
                allow_force_push: r.allow_force_push,
            };
            for l in levels.iter().filter(|l| l.protected_branch_id == r.id) {
                let access_level = RefAccessLevel::from_value(l.access_level)
                    .ok_or_else(|| corrupt("access level", l.access_level))?;
                let access = RefAccess { id: l.id, access_level };
                match l.action.as_str() {
                    "push" => out.push_access_levels.push(access),
                    "merge" => out.merge_access_levels.push(access),
                    other => return Err(corrupt("access level action", other)),
                }
            }
            Ok(out)
        })
        .collect()
}

fn single(rule: RuleRow, levels: &[LevelRow]) -> Result<ProtectedBranch> {
    assemble(vec![rule], levels)?.pop().ok_or_else(|| StoreError::Unavailable("rule vanished while assembled".into()))
}

#[async_trait]
impl ProtectedBranchStore for SqlStore {
    async fn protect_branch(&self, new: &NewProtectedBranch) -> Result<ProtectedBranch> {
        let (rule, levels) = with_db!(self, |p| {
            let mut tx = p.begin_write().await?;
            let written = insert_rule!(tx, new.project_id.get(), &new.name, new.protection);
            tx.commit().await.map_err(db_err)?;
            written
        });
        single(rule, &levels)
    }

    async fn list_protected_branches(&self, project_id: ProjectId, page: Page) -> Result<Listed<ProtectedBranch>> {
        let (rules, levels, total): (Vec<RuleRow>, Vec<LevelRow>, i64) = with_db!(self, |p| {
            let (rules, total) = page_and_total!(p, LIST, COUNT, page, |q| q.bind(project_id.get()));
            let levels = sqlx::query_as(LEVELS_OF_PROJECT).bind(project_id.get()).fetch_all(p).await.map_err(db_err)?;
            (rules, levels, total)
        });
        Ok(Listed { items: assemble(rules, &levels)?, total })
    }

    async fn protected_branch(&self, project_id: ProjectId, name: &str) -> Result<Option<ProtectedBranch>> {
        let found: Option<(RuleRow, Vec<LevelRow>)> = with_db!(self, |p| {
            let rule: Option<RuleRow> =
                sqlx::query_as(BY_NAME).bind(project_id.get()).bind(name).fetch_optional(p).await.map_err(db_err)?;
            match rule {
                Some(rule) => {
                    let levels = sqlx::query_as(LEVELS_OF_RULE).bind(rule.id).fetch_all(p).await.map_err(db_err)?;
                    Some((rule, levels))
                }
                None => None,
            }
        });
        found.map(|(rule, levels)| single(rule, &levels)).transpose()
    }

    async fn unprotect_branch(&self, project_id: ProjectId, name: &str) -> Result<()> {
        let done = with_db!(self, |p| sqlx::query(DELETE)
            .bind(project_id.get())
            .bind(name)
            .execute(p)
            .await
            .map_err(db_err)?
            .rows_affected());
        one_row(done, "protected branch")
    }
}
