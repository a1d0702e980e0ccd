//! Test helpers shared by the integration tests: SQLite files in a temp dir, and a throwaway
//! PostgreSQL schema per run.
//!
//! PostgreSQL isolation: each run creates a fresh schema `autogit_test_<pid>_<unique>` in the
//! database named by `AUTOGIT_TEST_POSTGRES_URL` and connects the store with
//! `options=-c search_path=<schema>`, so migrations, `_sqlx_migrations` and all data live in it;
//! the schema is dropped at the end. Runs can therefore repeat and overlap on one shared
//! database. If a test fails, its schema is kept for inspection (its name is printed); drop
//! leftovers with `DROP SCHEMA … CASCADE`.

#![allow(dead_code)] // each test binary uses a different subset

pub mod ci;

use autogit_store::conformance::unique_prefix;
use autogit_store_sql::SqlStore;
use sqlx::{AssertSqlSafe, Connection, PgConnection};

pub const POSTGRES_ENV: &str = "AUTOGIT_TEST_POSTGRES_URL";

pub fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("autogit.db").display())
}

/// A fresh SQLite file store; keep the returned dir alive as long as the store.
pub async fn sqlite_store() -> (SqlStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqlStore::connect(&sqlite_url(&dir)).await.expect("connect to a fresh SQLite file");
    (store, dir)
}

/// A schema of its own in the shared test database.
pub struct PgSchema {
    admin: PgConnection,
    pub name: String,
    /// The test URL with `search_path` set to the schema.
    pub url: String,
}

impl PgSchema {
    /// `None` (after printing the skip line) when `AUTOGIT_TEST_POSTGRES_URL` is not set.
    pub async fn create() -> Option<PgSchema> {
        let Ok(base) = std::env::var(POSTGRES_ENV) else {
            println!("skipping: {POSTGRES_ENV} not set");
            return None;
        };
        let name = format!("autogit_test_{}_{}", std::process::id(), unique_prefix().to_lowercase());
        let mut admin = PgConnection::connect(&base).await.expect("connect to AUTOGIT_TEST_POSTGRES_URL");
        // The name holds only digits, lowercase letters and '_', so it needs no quoting.
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE SCHEMA {name}")))
            .execute(&mut admin)
            .await
            .expect("create test schema");
        let separator = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{separator}options=-c%20search_path%3D{name}");
        println!("using PostgreSQL schema {name} (kept if the test fails)");
        Some(PgSchema { admin, name, url })
    }

    pub async fn store(&self) -> SqlStore {
        SqlStore::connect(&self.url).await.expect("connect the store inside the test schema")
    }

    /// Drops the schema; call only after the test passed.
    pub async fn drop(mut self) {
        sqlx::raw_sql(AssertSqlSafe(format!("DROP SCHEMA {} CASCADE", self.name)))
            .execute(&mut self.admin)
            .await
            .expect("drop test schema");
    }
}
