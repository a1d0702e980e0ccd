//! Runs the store conformance suite on SQLite (always, file and in-memory) and on PostgreSQL when
//! `AUTOGIT_TEST_POSTGRES_URL` is set (in a schema of its own, see `common`), plus connect-time
//! migration checks.

mod common;

use autogit_store::conformance::{run_all, unique_prefix};
use autogit_store::{NewUser, UserStore};
use autogit_store_sql::SqlStore;
use chrono::DateTime;
use common::{PgSchema, sqlite_store, sqlite_url};
use sqlx::Connection;

#[tokio::test]
async fn conformance_sqlite() {
    let (store, _dir) = sqlite_store().await;
    assert_eq!(store.backend_name(), "sqlite");
    run_all(&store, &unique_prefix()).await;
    store.close().await;
}

#[tokio::test]
async fn conformance_sqlite_in_memory() {
    let store = SqlStore::connect("sqlite::memory:").await.expect("connect to an in-memory SQLite");
    run_all(&store, &unique_prefix()).await;
}

#[tokio::test]
async fn conformance_postgres() {
    let Some(schema) = PgSchema::create().await else { return };
    let store = schema.store().await;
    assert_eq!(store.backend_name(), "postgres");
    run_all(&store, &unique_prefix()).await;
    store.close().await;
    // Migrating again in the same schema is a no-op, as on SQLite.
    schema.store().await.close().await;
    schema.drop().await;
}

#[tokio::test]
async fn migrating_twice_is_a_no_op() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = sqlite_url(&dir);
    let first = SqlStore::connect(&url).await.expect("first connect creates and migrates");
    let new = NewUser {
        username: "kept".to_string(),
        name: "Kept".to_string(),
        email: "kept@example.test".to_string(),
        password_hash: None,
        is_admin: false,
    };
    let now = DateTime::from_timestamp_millis(1_700_000_000_123).expect("valid time");
    let user = first.create_user(&new, now).await.expect("create user");
    first.close().await;

    let second = SqlStore::connect(&url).await.expect("second connect finds everything applied");
    assert_eq!(second.user_by_id(user.id).await.expect("lookup"), Some(user), "data survives reconnecting");
    second.close().await;

    let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("open the file directly");
    let (applied, distinct): (i64, i64) =
        sqlx::query_as("SELECT COUNT(*), COUNT(DISTINCT version) FROM _sqlx_migrations WHERE success")
            .fetch_one(&mut conn)
            .await
            .expect("read the migration ledger");
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
        .expect("migrations directory")
        .count() as i64;
    assert_eq!((applied, distinct), (files, files), "each migration is recorded once");
}

#[tokio::test]
async fn unsupported_urls_are_rejected() {
    let err = SqlStore::connect("mysql://localhost/db").await.expect_err("mysql is not supported");
    assert!(err.to_string().contains("mysql"), "the error names the scheme: {err}");
}
