//! [`CiContextStore`]: the reads of a job hand-out (and of pipeline creation) on one pooled
//! connection. Each statement is the one the per-aggregate method runs (or, for protected
//! branches and variables, one statement where those take two or one per owner), so the answers
//! are the same; what is saved is the pool's hand-over around each statement — with sqlx a round
//! trip to the SQLite connection's worker thread, or to the PostgreSQL server, when the
//! connection is returned (ADR 0012).

use async_trait::async_trait;
use autogit_store::{
    CiContextStore, CiSettings, CiVariable, JobContext, Namespace, Pipeline, Project, ProjectContext, Result, User,
    VariableOwner,
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
use crate::protected_tags::TagLevelRow;
use crate::users::UserRow;

const GENERATION: &str = "SELECT value FROM ci_context_generation WHERE id = 1";

/// The rows behind [`CiSettings`].
struct SettingsRows {
    namespaces: Vec<NamespaceRow>,
    rules: Vec<RuleLevelRow>,
    tag_rules: Vec<TagLevelRow>,
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
            let tag_rules: Vec<TagLevelRow> = sqlx::query_as(crate::protected_tags::RULES_OF_PROJECT)
                .bind($project)
                .fetch_all(&mut *$conn)
                .await
                .map_err(db_err)?;
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
            Some(SettingsRows { namespaces, rules, tag_rules, levels, variables })
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
        protected_tags: crate::protected_tags::assemble(rows.tag_rules)?,
        user_levels: levels(rows.levels)?,
        namespaces,
        variables,
    })
}

/// The context generation, on `$conn`. Read before anything else of a context, so that
/// everything read after it is at least as new (see `ContextGeneration`).
macro_rules! read_generation {
    ($conn:expr) => {{
        let generation: i64 = sqlx::query_scalar(GENERATION).fetch_one(&mut *$conn).await.map_err(db_err)?;
        generation
    }};
}

/// Reads project `$project` (an `i64`), then user `$user` (an `Option<i64>`) and the settings
/// rows for both, on `$conn`; evaluates to `Option<ProjectRows>` with `$generation`, which the
/// caller read first (`None`: the project is missing).
macro_rules! project_rows {
    ($conn:expr, $generation:expr, $project:expr, $user:expr) => {{
        let generation: i64 = $generation;
        let project: Option<ProjectRow> =
            sqlx::query_as(crate::projects::BY_ID).bind($project).fetch_optional(&mut *$conn).await.map_err(db_err)?;
        match project {
            None => None,
            Some(project) => {
                let user: Option<UserRow> = match $user {
                    Some(id) => sqlx::query_as(crate::users::USER_BY_ID)
                        .bind(id)
                        .fetch_optional(&mut *$conn)
                        .await
                        .map_err(db_err)?,
                    None => None,
                };
                // The user's roles only when the user still exists, as `ref_protected_for` asks
                // with the user it found.
                let user_id = user.as_ref().map(|u| u.id);
                settings_rows!($conn, project.id, user_id).map(|settings| ProjectRows {
                    generation,
                    project,
                    user,
                    settings,
                })
            }
        }
    }};
}

/// The rows behind [`ProjectContext`].
struct ProjectRows {
    generation: i64,
    project: ProjectRow,
    user: Option<UserRow>,
    settings: SettingsRows,
}

fn project_context(rows: ProjectRows) -> Result<ProjectContext> {
    Ok(ProjectContext {
        generation: crate::jobs::generation(rows.generation)?,
        project: Project::try_from(rows.project)?,
        user: rows.user.map(User::try_from).transpose()?,
        settings: settings(rows.settings)?,
    })
}

#[async_trait]
impl CiContextStore for SqlStore {
    async fn project_context(&self, project_id: ProjectId, user_id: Option<UserId>) -> Result<Option<ProjectContext>> {
        let rows: Option<ProjectRows> = with_db!(self, |p| {
            let mut conn = p.acquire().await.map_err(db_err)?;
            let generation = read_generation!(conn);
            project_rows!(conn, generation, project_id.get(), user_id.map(UserId::get))
        });
        rows.map(project_context).transpose()
    }

    async fn job_context(&self, pipeline_id: PipelineId) -> Result<Option<JobContext>> {
        let rows: Option<(PipelineRow, ProjectRows)> = with_db!(self, |p| {
            let mut conn = p.acquire().await.map_err(db_err)?;
            let generation = read_generation!(conn);
            let pipeline: Option<PipelineRow> = sqlx::query_as(crate::pipelines::BY_ID)
                .bind(pipeline_id.get())
                .fetch_optional(&mut *conn)
                .await
                .map_err(db_err)?;
            match pipeline {
                None => None,
                Some(pipeline) => {
                    project_rows!(conn, generation, pipeline.project_id, pipeline.user_id).map(|rows| (pipeline, rows))
                }
            }
        });
        let Some((pipeline, rows)) = rows else { return Ok(None) };
        Ok(Some(JobContext::of(Pipeline::try_from(pipeline)?, project_context(rows)?)))
    }
}
