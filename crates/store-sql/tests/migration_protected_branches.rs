//! Migration 0009 on a database made before it: every existing project gets its default branch
//! protected (maintainers push and merge, no force push), projects without one get nothing. Runs
//! on SQLite, and on PostgreSQL when `AUTOGIT_TEST_POSTGRES_URL` is set.

mod common;

use autogit_core::protection::RefAccessLevel;
use autogit_store::{Page, ProjectId, ProtectedBranchStore};
use autogit_store_sql::SqlStore;
use common::{PgSchema, sqlite_url};
use sqlx::migrate::Migrator;
use sqlx::{AssertSqlSafe, Connection};

/// Rows as migration 0008 left them: a group with two projects, one without a default branch.
const BEFORE: &[&str] = &[
    "INSERT INTO namespaces (kind, name, path, full_path, full_path_lower, visibility, created_at) \
     VALUES ('group', 'G', 'g', 'g', 'g', 'public', '2024-01-01T00:00:00Z')",
    "INSERT INTO projects (namespace_id, name, path, visibility, default_branch, created_at, updated_at, \
     last_activity_at) VALUES (1, 'A', 'a', 'public', 'trunk', '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z', \
     '2024-01-01T00:00:00Z')",
    "INSERT INTO projects (namespace_id, name, path, visibility, default_branch, created_at, updated_at, \
     last_activity_at) VALUES (1, 'B', 'b', 'public', NULL, '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z', \
     '2024-01-01T00:00:00Z')",
];

async fn migrator(dialect: &str) -> Migrator {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(dialect);
    Migrator::new(dir).await.expect("read the migrations")
}

async fn check(store: &SqlStore) {
    let a = store.list_protected_branches(ProjectId::new(1), Page::ALL).await.expect("list").items;
    assert_eq!(a.len(), 1, "the existing project's default branch is protected: {a:?}");
    let rule = &a[0];
    assert_eq!(rule.name, "trunk");
    assert!(!rule.allow_force_push, "no force push");
    let levels = |l: &[autogit_store::RefAccess]| l.iter().map(|a| a.access_level).collect::<Vec<_>>();
    assert_eq!(levels(&rule.push_access_levels), vec![RefAccessLevel::Maintainer]);
    assert_eq!(levels(&rule.merge_access_levels), vec![RefAccessLevel::Maintainer]);
    let b = store.list_protected_branches(ProjectId::new(2), Page::ALL).await.expect("list");
    assert_eq!(b.total, 0, "a project without a default branch gets nothing");
}

#[tokio::test]
async fn existing_projects_get_their_default_branch_protected_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("{}?mode=rwc", sqlite_url(&dir));
    let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("create the file");
    migrator("sqlite").await.run_to(8, &mut conn).await.expect("migrate to 0008");
    for sql in BEFORE {
        sqlx::query(AssertSqlSafe(*sql)).execute(&mut conn).await.expect("insert old rows");
    }
    conn.close().await.expect("close");
    let store = SqlStore::connect(&sqlite_url(&dir)).await.expect("connect migrates the rest");
    check(&store).await;
    store.close().await;
}

#[tokio::test]
async fn existing_projects_get_their_default_branch_protected_on_postgres() {
    let Some(schema) = PgSchema::create().await else { return };
    let mut conn = sqlx::PgConnection::connect(&schema.url).await.expect("connect");
    migrator("postgres").await.run_to(8, &mut conn).await.expect("migrate to 0008");
    for sql in BEFORE {
        sqlx::query(AssertSqlSafe(*sql)).execute(&mut conn).await.expect("insert old rows");
    }
    conn.close().await.expect("close");
    let store = schema.store().await;
    check(&store).await;
    store.close().await;
    schema.drop().await;
}
