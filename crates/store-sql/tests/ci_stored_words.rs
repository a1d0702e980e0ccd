//! A CI word changed behind the store's back (an unknown status, `when` or failure reason written
//! with raw SQL) is a read error naming the column and the value, never read as some default.
//! Runs on SQLite, and on PostgreSQL when `AUTOGIT_TEST_POSTGRES_URL` is set.

mod common;

use autogit_core::ci::{JobStatus, PipelineStatus};
use autogit_store::{JobId, Page, PipelineFilter, PipelineId, ProjectId, Store, StoreError};
use common::ci::{job, now, pipeline, project};
use common::{PgSchema, sqlite_store};
use sqlx::{AssertSqlSafe, Connection};

/// A pipeline with one job; returns (project, pipeline, job) ids.
async fn pipeline_with_a_job(store: &dyn Store) -> (ProjectId, PipelineId, JobId) {
    let project = project(store, "words").await;
    let new = pipeline(project.id, PipelineStatus::Created);
    let (p, jobs) = store.create_pipeline(&new, &[job("build", JobStatus::Created)], now()).await.expect("create");
    (project.id, p.id, jobs[0].id)
}

/// The error of a read that met a corrupt value: it names `column` and `value`.
fn assert_names<T: std::fmt::Debug>(got: Result<T, StoreError>, column: &str, value: &str) {
    let err = got.expect_err("a corrupt value must not be read");
    let text = err.to_string();
    assert!(matches!(err, StoreError::Unavailable(_)), "{text}");
    assert!(text.contains(column) && text.contains(&format!("'{value}'")), "names {column} and {value}: {text}");
}

/// `exec` runs one statement with the backend's CHECK constraints out of the way.
async fn check_reads<F, Fut>(store: &dyn Store, mut exec: F)
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let (project, pipeline, job) = pipeline_with_a_job(store).await;
    exec(format!("UPDATE jobs SET run_when = 'never' WHERE id = {job}")).await;
    assert_names(store.job_by_id(job).await, "jobs.run_when", "never");
    exec(format!("UPDATE jobs SET run_when = 'manual', failure_reason = 'cosmic_rays' WHERE id = {job}")).await;
    assert_names(store.jobs_of_pipeline(pipeline, false).await, "jobs.failure_reason", "cosmic_rays");
    exec(format!("UPDATE jobs SET failure_reason = NULL, status = 'canceling' WHERE id = {job}")).await;
    assert_names(store.list_project_jobs(project, &[], Page::ALL).await, "jobs.status", "canceling");
    exec(format!("UPDATE pipelines SET status = 'Running' WHERE id = {pipeline}")).await;
    assert_names(store.pipeline_by_id(pipeline).await, "pipelines.status", "Running");
    assert_names(
        store.list_pipelines(project, &PipelineFilter::default(), Page::ALL).await,
        "pipelines.status",
        "Running",
    );
}

#[tokio::test]
async fn unknown_stored_words_are_errors_on_sqlite() {
    let (store, dir) = sqlite_store().await;
    let url = common::sqlite_url(&dir);
    let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("open the file directly");
    sqlx::query("PRAGMA ignore_check_constraints = ON").execute(&mut conn).await.expect("checks off");
    let conn = &tokio::sync::Mutex::new(conn);
    check_reads(&store, |sql| async move {
        sqlx::query(AssertSqlSafe(sql)).execute(&mut *conn.lock().await).await.expect("raw update");
    })
    .await;
    store.close().await;
}

#[tokio::test]
async fn unknown_stored_words_are_errors_on_postgres() {
    let Some(schema) = PgSchema::create().await else { return };
    let store = schema.store().await;
    let mut conn = sqlx::PgConnection::connect(&schema.url).await.expect("connect");
    for table in ["jobs", "pipelines"] {
        let sql = format!("ALTER TABLE {table} DROP CONSTRAINT {table}_status_check");
        sqlx::query(AssertSqlSafe(sql)).execute(&mut conn).await.expect("drop the status check");
    }
    let conn = &tokio::sync::Mutex::new(conn);
    check_reads(&store, |sql| async move {
        sqlx::query(AssertSqlSafe(sql)).execute(&mut *conn.lock().await).await.expect("raw update");
    })
    .await;
    store.close().await;
    schema.drop().await;
}
