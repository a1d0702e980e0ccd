//! Embedded schema migrations, one tree per dialect: `migrations/sqlite` and
//! `migrations/postgres`, applied at connect by sqlx's migrator (which records each applied
//! version and its checksum in `_sqlx_migrations`, so applying twice is a no-op).
//!
//! # Versioning rule
//! - Migrations are **append-only**. Never edit, rename or delete a migration that has shipped:
//!   sqlx compares checksums and refuses to start on a database where an applied migration's text
//!   changed. To change the schema, add `NNNN_what.sql` with the next number.
//! - Every change lands in **both** trees under the **same file name**, in the same commit. The
//!   `trees_are_in_lockstep` test below fails otherwise. The SQL differs only in dialect
//!   (`BIGINT GENERATED … AS IDENTITY` vs `INTEGER PRIMARY KEY AUTOINCREMENT`, `TIMESTAMPTZ` vs
//!   `TEXT`, `BOOLEAN` vs SQLite's integer booleans); tables, columns and index names are the same,
//!   because `error.rs` maps unique violations by index name.
//! - Ids are never reused (`AUTOINCREMENT` on SQLite, identity columns on PostgreSQL): repositories
//!   on disk are addressed by project id.

use autogit_store::StoreError;
use sqlx::migrate::Migrator;

use crate::db::Db;

static SQLITE: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("./migrations/postgres");

/// Applies every migration not yet recorded in the database.
pub(crate) async fn run(db: &Db) -> Result<(), StoreError> {
    let result = match db {
        Db::Sqlite(p) => SQLITE.run(p).await,
        Db::Postgres(p) => POSTGRES.run(p).await,
    };
    result.map_err(|e| StoreError::Unavailable(format!("migration failed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_names(dialect: &str) -> Vec<String> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(dialect);
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .expect("migration directory exists")
            .map(|e| e.expect("readable entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn trees_are_in_lockstep() {
        let sqlite = file_names("sqlite");
        assert!(!sqlite.is_empty(), "no migrations found");
        assert_eq!(sqlite, file_names("postgres"), "migrations/sqlite and migrations/postgres differ");
        for name in &sqlite {
            let (number, rest) = name.split_once('_').unwrap_or((name, ""));
            assert!(
                number.len() == 4 && number.bytes().all(|b| b.is_ascii_digit()) && rest.ends_with(".sql"),
                "migration '{name}' is not named NNNN_description.sql"
            );
        }
        let versions = |m: &Migrator| m.iter().map(|m| (m.version, m.description.to_string())).collect::<Vec<_>>();
        assert_eq!(versions(&SQLITE), versions(&POSTGRES), "embedded migrators differ");
    }
}
