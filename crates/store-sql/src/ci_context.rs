//! [`CiContextStore`]: the reads of a job hand-out (and of pipeline creation) on one pooled
//! connection. Each statement is the one the per-aggregate method runs (or, for protected
//! branches and variables, one statement where those take two or one per owner), so the answers
//! are the same; what is saved is the pool's hand-over around each statement — with sqlx a round
//! trip to the SQLite connection's worker thread, or to the PostgreSQL server, when the
//! connection is returned (ADR 0012).

use async_trait::async_trait;
use autogit_store::{
    CiContextStore, CiSettings, CiVariable, JobContext, Namespace, Pipeline, Project, Result, User, VariableOwner,
};
use autogit_store::{PipelineId, ProjectId, UserId};

use crate::ci_variables::{OF_PROJECT_CHAIN, VariableRow};
use crate::db::{SqlStore, with_db};
use crate::error::db_err;
use crate::members::{PROJECT_LEVELS, levels};
use crate::namespaces::{NamespaceRow, PROJECT_ANCESTRY};
use crate::pipelines::PipelineRow;
use crate::projects::ProjectRow;
use crate::protected_branches::{RULES_WITH_LEVELS, RuleLevelRow, rules_with_levels};
use crate::users::UserRow;

/// The rows behind [`CiSettings`].
struct SettingsRows {
    namespaces: Vec<NamespaceRow>,
    rules: Vec<RuleLevelRow>,
    levels: Vec<i64>,
    variables: Vec<VariableRow>,
}

/// Reads the settings rows of project `$project` for `$user` (an `Option<i64>`) on `$conn` (a
/// checked-out connection); evaluates to `SettingsRows`. No namespace: the project is missing.
macro_rules! settings_rows {
    ($conn:expr, $project:expr, $user:expr) => {{
        let namespaces: Vec<NamespaceRow> =
            sqlx::query_as(PROJECT_ANCESTRY).bind($project).fetch_all(&mut *$conn).await.map_err(db_err)?;
        if namespaces.is_empty() {
            None
        } else {
            let rules: Vec<RuleLevelRow> =
                sqlx::query_as(RULES_WITH_LEVELS).bind($project).fetch_all(&mut *$conn).await.map_err(db_err)?;
            let levels: Vec<i64> = match $user {
                Some(user) => sqlx::query_scalar(PROJECT_LEVELS)
                    .bind($project)
                    .bind(user)
                    .fetch_all(&mut *$conn)
                    .await
                    .map_err(db_err)?,
                None => Vec::new(),
            };
            let variables: Vec<VariableRow> =
                sqlx::query_as(OF_PROJECT_CHAIN).bind($project).fetch_all(&mut *$conn).await.map_err(db_err)?;
            Some(SettingsRows { namespaces, rules, levels, variables })
        }
    }};
}

fn settings(rows: SettingsRows) -> Result<CiSettings> {
    let namespaces = rows.namespaces.into_iter().map(Namespace::try_from).collect::<Result<Vec<_>>>()?;
    let mut variables = rows.variables.into_iter().map(CiVariable::try_from).collect::<Result<Vec<_>>>()?;
    // The namespaces' in chain order (root first), then the project's; by id within an owner
    // (the rows come by id and the sort is stable).
    let rank = |v: &CiVariable| match v.owner {
        VariableOwner::Group(id) => namespaces.iter().position(|n| n.id == id).unwrap_or(namespaces.len()),
        VariableOwner::Project(_) => namespaces.len() + 1,
    };
    variables.sort_by_key(rank);
    Ok(CiSettings {
        protected_branches: rules_with_levels(rows.rules)?,
        user_levels: levels(rows.levels)?,
        namespaces,
        variables,
    })
}

#[async_trait]
impl CiContextStore for SqlStore {
    async fn ci_settings(&self, project_id: ProjectId, user_id: Option<UserId>) -> Result<Option<CiSettings>> {
        let rows: Option<SettingsRows> = with_db!(self, |p| {
            let mut conn = p.acquire().await.map_err(db_err)?;
            settings_rows!(conn, project_id.get(), user_id.map(UserId::get))
        });
        rows.map(settings).transpose()
    }

    async fn job_context(&self, pipeline_id: PipelineId) -> Result<Option<JobContext>> {
        type Rows = (PipelineRow, ProjectRow, Option<UserRow>, SettingsRows);
        let rows: Option<Rows> = with_db!(self, |p| {
            let mut conn = p.acquire().await.map_err(db_err)?;
            let pipeline: Option<PipelineRow> = sqlx::query_as(crate::pipelines::BY_ID)
                .bind(pipeline_id.get())
                .fetch_optional(&mut *conn)
                .await
                .map_err(db_err)?;
            match pipeline {
                None => None,
                Some(pipeline) => {
                    let project: Option<ProjectRow> = sqlx::query_as(crate::projects::BY_ID)
                        .bind(pipeline.project_id)
                        .fetch_optional(&mut *conn)
                        .await
                        .map_err(db_err)?;
                    let user: Option<UserRow> = match pipeline.user_id {
                        Some(id) => sqlx::query_as(crate::users::USER_BY_ID)
                            .bind(id)
                            .fetch_optional(&mut *conn)
                            .await
                            .map_err(db_err)?,
                        None => None,
                    };
                    // The user's roles only when the user still exists, as `ref_protected_for`
                    // asks with the user it found.
                    let user_id = user.as_ref().map(|u| u.id);
                    match project {
                        None => None,
                        Some(project) => settings_rows!(conn, project.id, user_id)
                            .map(|settings| (pipeline, project, user, settings)),
                    }
                }
            }
        });
        let Some((pipeline, project, user, settings_rows)) = rows else { return Ok(None) };
        Ok(Some(JobContext {
            pipeline: Pipeline::try_from(pipeline)?,
            project: Project::try_from(project)?,
            user: user.map(User::try_from).transpose()?,
            settings: settings(settings_rows)?,
        }))
    }
}
