//! [`CiVariableStore`]: CI/CD variables of projects and groups. The owner is one of two nullable
//! foreign keys (so deleting a project or group removes its variables); queries bind both, the
//! unused one as NULL, and `project_id = $1 OR namespace_id = $2` matches exactly the owner's
//! rows. Values are opaque text here: the application seals them before they are stored.

use async_trait::async_trait;
use autogit_store::{
    CiVariable, CiVariableStore, Listed, NewVariable, Page, Result, StoreError, VariableOwner, VariableUpdate,
};
use autogit_store::{NamespaceId, ProjectId};

use crate::db::{BeginWrite, SqlStore, with_db};
use crate::error::{conflict_as, corrupt, db_err};
use crate::filter::page_and_total;

macro_rules! variable_columns {
    () => {
        "id, project_id, namespace_id, key, value, variable_type, protected, masked, raw, environment_scope, \
         description"
    };
}

#[derive(sqlx::FromRow)]
pub(crate) struct VariableRow {
    id: i64,
    project_id: Option<i64>,
    namespace_id: Option<i64>,
    key: String,
    value: String,
    variable_type: String,
    protected: bool,
    masked: bool,
    raw: bool,
    environment_scope: String,
    description: Option<String>,
}

impl TryFrom<VariableRow> for CiVariable {
    type Error = StoreError;

    fn try_from(r: VariableRow) -> Result<CiVariable> {
        let owner = match (r.project_id, r.namespace_id) {
            (Some(id), None) => VariableOwner::Project(ProjectId::new(id)),
            (None, Some(id)) => VariableOwner::Group(NamespaceId::new(id)),
            _ => return Err(corrupt("variable owner of variable", r.id)),
        };
        Ok(CiVariable {
            id: r.id,
            owner,
            key: r.key,
            value: r.value,
            variable_type: r.variable_type,
            protected: r.protected,
            masked: r.masked,
            raw: r.raw,
            environment_scope: r.environment_scope,
            description: r.description,
        })
    }
}

/// `(project_id, namespace_id)` of an owner.
fn owner_columns(owner: VariableOwner) -> (Option<i64>, Option<i64>) {
    match owner {
        VariableOwner::Project(id) => (Some(id.get()), None),
        VariableOwner::Group(id) => (None, Some(id.get())),
    }
}

const INSERT: &str = concat!(
    "INSERT INTO ci_variables (project_id, namespace_id, key, value, variable_type, protected, masked, raw, ",
    "environment_scope, description) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING ",
    variable_columns!()
);
const LIST: &str = concat!(
    "SELECT ",
    variable_columns!(),
    " FROM ci_variables WHERE (project_id = $1 OR namespace_id = $2) ORDER BY id LIMIT $3 OFFSET $4"
);
const COUNT: &str = "SELECT COUNT(*) FROM ci_variables WHERE (project_id = $1 OR namespace_id = $2)";
/// The variables of project `$1` and of every namespace up its chain, by id (callers order them
/// by owner).
pub(crate) const OF_PROJECT_CHAIN: &str = concat!(
    "WITH RECURSIVE chain (id, depth) AS (",
    " SELECT namespace_id, 0 FROM projects WHERE id = $1",
    " UNION ALL SELECT n.parent_id, c.depth + 1 FROM namespaces n JOIN chain c ON n.id = c.id",
    " WHERE n.parent_id IS NOT NULL AND c.depth < 100)",
    " SELECT ",
    variable_columns!(),
    " FROM ci_variables WHERE project_id = $1 OR namespace_id IN (SELECT id FROM chain) ORDER BY id"
);
/// Two rows at most: a second one means the key exists in several scopes and `$4` was NULL.
const FIND: &str = concat!(
    "SELECT ",
    variable_columns!(),
    " FROM ci_variables WHERE (project_id = $1 OR namespace_id = $2) AND key = $3 ",
    "AND ($4 IS NULL OR environment_scope = $4) ORDER BY id LIMIT 2"
);
/// `NULL` keeps a column; `$8` says whether to set `description` to `$9` (which may be NULL).
const UPDATE: &str = concat!(
    "UPDATE ci_variables SET value = COALESCE($2, value), variable_type = COALESCE($3, variable_type), ",
    "protected = COALESCE($4, protected), masked = COALESCE($5, masked), raw = COALESCE($6, raw), ",
    "environment_scope = COALESCE($7, environment_scope), ",
    "description = CASE WHEN $8 THEN $9 ELSE description END WHERE id = $1 RETURNING ",
    variable_columns!()
);

const AFTER: &str = concat!("SELECT ", variable_columns!(), " FROM ci_variables WHERE id > $1 ORDER BY id LIMIT $2");
const SWAP_VALUE: &str = "UPDATE ci_variables SET value = $3 WHERE id = $1 AND value = $2";

/// The one row of a [`FIND`]: Conflict when the key is in several scopes and none was named.
fn only(mut rows: Vec<VariableRow>) -> Result<Option<VariableRow>> {
    if rows.len() > 1 {
        return Err(StoreError::Conflict("environment_scope".into()));
    }
    Ok(rows.pop())
}

/// Runs [`FIND`] on `$conn` and keeps the one row.
macro_rules! find {
    ($conn:expr, $owner:expr, $key:expr, $scope:expr) => {{
        let (project_id, namespace_id) = owner_columns($owner);
        let rows: Vec<VariableRow> = sqlx::query_as(FIND)
            .bind(project_id)
            .bind(namespace_id)
            .bind($key)
            .bind($scope)
            .fetch_all($conn)
            .await
            .map_err(db_err)?;
        only(rows)?
    }};
}

#[async_trait]
impl CiVariableStore for SqlStore {
    async fn create_variable(&self, new: &NewVariable) -> Result<CiVariable> {
        let (project_id, namespace_id) = owner_columns(new.owner);
        let row: VariableRow = with_db!(self, |p| sqlx::query_as(INSERT)
            .bind(project_id)
            .bind(namespace_id)
            .bind(&new.key)
            .bind(&new.value)
            .bind(&new.variable_type)
            .bind(new.protected)
            .bind(new.masked)
            .bind(new.raw)
            .bind(&new.environment_scope)
            .bind(&new.description)
            .fetch_one(p)
            .await
            .map_err(db_err)
            .map_err(conflict_as("key"))?);
        CiVariable::try_from(row)
    }

    async fn list_variables(&self, owner: VariableOwner, page: Page) -> Result<Listed<CiVariable>> {
        let (project_id, namespace_id) = owner_columns(owner);
        let (rows, total): (Vec<VariableRow>, i64) =
            with_db!(self, |p| page_and_total!(p, LIST, COUNT, page, |q| q.bind(project_id).bind(namespace_id)));
        let items = rows.into_iter().map(CiVariable::try_from).collect::<Result<_>>()?;
        Ok(Listed { items, total })
    }

    async fn variable(&self, owner: VariableOwner, key: &str, scope: Option<&str>) -> Result<Option<CiVariable>> {
        let row = with_db!(self, |p| find!(p, owner, key, scope));
        row.map(CiVariable::try_from).transpose()
    }

    async fn update_variable(
        &self,
        owner: VariableOwner,
        key: &str,
        scope: Option<&str>,
        update: &VariableUpdate,
    ) -> Result<CiVariable> {
        let row: VariableRow = with_db!(self, |p| {
            let mut tx = p.begin_write().await?;
            let found = find!(&mut *tx, owner, key, scope).ok_or(StoreError::NotFound("variable"))?;
            let row: VariableRow = sqlx::query_as(UPDATE)
                .bind(found.id)
                .bind(&update.value)
                .bind(&update.variable_type)
                .bind(update.protected)
                .bind(update.masked)
                .bind(update.raw)
                .bind(&update.environment_scope)
                .bind(update.description.is_some())
                .bind(update.description.as_ref().and_then(|d| d.as_deref()))
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)
                .map_err(conflict_as("key"))?
                .ok_or(StoreError::NotFound("variable"))?;
            tx.commit().await.map_err(db_err)?;
            row
        });
        CiVariable::try_from(row)
    }

    async fn delete_variable(&self, owner: VariableOwner, key: &str, scope: Option<&str>) -> Result<()> {
        with_db!(self, |p| {
            let mut tx = p.begin_write().await?;
            let found = find!(&mut *tx, owner, key, scope).ok_or(StoreError::NotFound("variable"))?;
            sqlx::query("DELETE FROM ci_variables WHERE id = $1")
                .bind(found.id)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            tx.commit().await.map_err(db_err)
        })
    }

    async fn variables_after(&self, after_id: i64, limit: i64) -> Result<Vec<CiVariable>> {
        let rows: Vec<VariableRow> = with_db!(self, |p| sqlx::query_as(AFTER)
            .bind(after_id)
            .bind(limit.max(0))
            .fetch_all(p)
            .await
            .map_err(db_err)?);
        rows.into_iter().map(CiVariable::try_from).collect()
    }

    async fn swap_variable_value(&self, id: i64, expected: &str, new: &str) -> Result<bool> {
        let done = with_db!(self, |p| sqlx::query(SWAP_VALUE)
            .bind(id)
            .bind(expected)
            .bind(new)
            .execute(p)
            .await
            .map_err(db_err)?
            .rows_affected());
        Ok(done == 1)
    }
}
