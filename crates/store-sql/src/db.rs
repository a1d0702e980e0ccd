//! The connection pool: one enum over the two typed sqlx pools, the `with_db!` macro that runs one
//! query body on whichever backend is live, and connecting (which also migrates).
//!
//! Why two typed pools rather than `sqlx::Any`: `Any` cannot carry timestamps or dates, and generic
//! `Database` bounds spread through every query. With the enum, each body is written once and the
//! macro compiles it twice, so every bind and decode is checked against the concrete backend.

use std::str::FromStr;
use std::time::Duration;

use autogit_store::StoreError;
use sqlx::pool::PoolOptions;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Postgres, Sqlite, Transaction};

use crate::error::db_err;
use crate::migrations;

/// Connections in a file-backed SQLite pool. SQLite has one writer at a time, so more connections
/// only help concurrent readers; a handful is plenty.
const SQLITE_POOL_SIZE: u32 = 4;
/// Connections in a PostgreSQL pool.
const POSTGRES_POOL_SIZE: u32 = 10;
/// How long a SQLite writer waits for the lock before failing with "database is locked".
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// A PostgreSQL connection idle for longer than this is pinged before it is handed out (see
/// `connect_postgres`); one in steady use is not.
const POSTGRES_PING_AFTER_IDLE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub(crate) enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$p` bound to the live typed pool. The body is compiled once per backend, so
/// it must be valid for both: same SQL text, binds and row types that both drivers support.
macro_rules! with_db {
    ($store:expr, |$p:ident| $body:expr) => {
        match &$store.db {
            $crate::db::Db::Sqlite($p) => $body,
            $crate::db::Db::Postgres($p) => $body,
        }
    };
}
pub(crate) use with_db;

/// The AutoGit store on SQLite or PostgreSQL. Cheap to clone: clones share the pool.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pub(crate) db: Db,
}

impl SqlStore {
    /// Connects and applies pending migrations.
    ///
    /// - `sqlite://PATH` (or `sqlite:PATH`): the file is created if missing; WAL journal with
    ///   `synchronous = NORMAL` (see [`SqliteSync`]), 5 s busy timeout, foreign keys on, a pool of 4.
    /// - `sqlite::memory:` (or any URL with `mode=memory`): for tests; one connection that is never
    ///   recycled, because every SQLite connection to `:memory:` is a separate, empty database.
    /// - `postgres://…` / `postgresql://…`: any libpq-style URL sqlx accepts, including
    ///   `options=-c search_path=…` to work inside one schema.
    pub async fn connect(url: &str) -> Result<SqlStore, StoreError> {
        SqlStore::connect_with(url, SqliteSync::default()).await
    }

    /// As [`SqlStore::connect`], with the durability of SQLite commits chosen (ADR 0012); it has
    /// no effect on PostgreSQL.
    pub async fn connect_with(url: &str, sync: SqliteSync) -> Result<SqlStore, StoreError> {
        let db = if url.starts_with("sqlite:") {
            Db::Sqlite(connect_sqlite(url, sync).await?)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Db::Postgres(connect_postgres(url).await?)
        } else {
            let scheme = url.split(':').next().unwrap_or_default();
            return Err(StoreError::Invalid(format!("unsupported database URL scheme '{scheme}:'")));
        };
        let store = SqlStore { db };
        migrations::run(&store.db).await?;
        tracing::debug!(backend = store.backend_name(), "store connected and migrated");
        Ok(store)
    }

    /// `"sqlite"` or `"postgres"`, for logs and readiness output.
    pub fn backend_name(&self) -> &'static str {
        match self.db {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// Closes the pool, waiting for checked-out connections to come back. Later calls fail.
    pub async fn close(&self) {
        with_db!(self, |p| p.close().await)
    }
}

/// When a SQLite commit returns (WAL mode; ADR 0012).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SqliteSync {
    /// The commit is in the WAL, synced at checkpoints: survives a process crash; a power loss
    /// may roll back the last commits (never corrupting the database).
    #[default]
    Normal,
    /// Every commit waits for the WAL's `fsync`: also survives a power loss.
    Full,
}

async fn connect_sqlite(url: &str, sync: SqliteSync) -> Result<SqlitePool, StoreError> {
    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
    let mut options = SqliteConnectOptions::from_str(url)
        .map_err(db_err)?
        .create_if_missing(true)
        .busy_timeout(SQLITE_BUSY_TIMEOUT)
        .foreign_keys(true);
    let pool: SqlitePoolOptions = if in_memory {
        // The database lives exactly as long as its one connection: never let the pool drop it.
        PoolOptions::new().max_connections(1).min_connections(1).idle_timeout(None).max_lifetime(None)
    } else {
        // WAL lets readers proceed while one writer commits; it needs a real file.
        options = options.journal_mode(SqliteJournalMode::Wal).synchronous(match sync {
            SqliteSync::Normal => SqliteSynchronous::Normal,
            SqliteSync::Full => SqliteSynchronous::Full,
        });
        PoolOptions::new().max_connections(SQLITE_POOL_SIZE)
    };
    // No ping before each hand-out of a connection (sqlx's default): a SQLite connection is a
    // file handle in this process with a worker thread, which a ping would only ask whether it
    // still runs, at the cost of one more round trip to that thread per statement (ADR 0012).
    // sqlx still pings a connection when it comes back to the pool, and drops one that fails.
    let pool = pool.test_before_acquire(false);
    pool.connect_with(options).await.map_err(db_err)
}

/// By default sqlx pings every idle connection before handing it out, one more round trip to the
/// server per statement (ADR 0012). A connection in steady use answered its last statement (and
/// the ping sqlx sends when it comes back to the pool) moments ago, so only one that sat idle for
/// a while, where a server restart or an idle-session timeout may have ended it, is pinged, and
/// replaced without the caller seeing it when it fails. The cost: a connection that breaks within
/// that time fails the one statement that meets it, and is then dropped.
async fn connect_postgres(url: &str) -> Result<PgPool, StoreError> {
    let options = PgConnectOptions::from_str(url).map_err(db_err)?;
    let pool: PgPoolOptions = PoolOptions::new()
        .max_connections(POSTGRES_POOL_SIZE)
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= POSTGRES_PING_AFTER_IDLE {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        });
    pool.connect_with(options).await.map_err(db_err)
}

/// Starting a transaction that will write.
pub(crate) trait BeginWrite {
    type Db: sqlx::Database;
    async fn begin_write(&self) -> Result<Transaction<'static, Self::Db>, StoreError>;
}

impl BeginWrite for SqlitePool {
    type Db = Sqlite;
    /// `BEGIN IMMEDIATE` takes the write lock up front. A deferred transaction that reads and then
    /// writes fails with `SQLITE_BUSY_SNAPSHOT` if another writer committed in between; taking the
    /// lock first serializes writers instead, and makes check-then-insert sequences race-free.
    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)
    }
}

impl BeginWrite for PgPool {
    type Db = Postgres;
    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        self.begin().await.map_err(db_err)
    }
}

/// Row locks for check-then-write sequences, which unique indexes alone cannot make race-free.
/// On SQLite `begin_write` already holds the database-wide write lock, so these only read.
pub(crate) trait Locks {
    /// Serializes writers that add or rename children (projects, subgroups) of namespace `id`.
    /// Projects and subgroups live in different tables, so no unique index can keep their paths
    /// apart; instead every such writer locks the parent first and then checks the other table.
    async fn lock_namespace(&mut self, id: i64) -> Result<(), StoreError>;

    /// Whether the member source exists, keeping it from being deleted until commit (members have
    /// no foreign key to their polymorphic source).
    async fn lock_source(&mut self, kind: SourceTable, id: i64) -> Result<bool, StoreError>;

    /// The project of job `id` (`None` if missing), serializing writers that replace the job's
    /// child rows (artifacts) until commit. Job state changes wait for it too, but only that long.
    async fn lock_job(&mut self, id: i64) -> Result<Option<i64>, StoreError>;
}

/// The table a membership source lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SourceTable {
    Namespaces,
    Projects,
}

impl Locks for Transaction<'static, Sqlite> {
    async fn lock_namespace(&mut self, _id: i64) -> Result<(), StoreError> {
        Ok(())
    }

    async fn lock_source(&mut self, kind: SourceTable, id: i64) -> Result<bool, StoreError> {
        let sql = match kind {
            SourceTable::Namespaces => "SELECT id FROM namespaces WHERE id = $1",
            SourceTable::Projects => "SELECT id FROM projects WHERE id = $1",
        };
        let found: Option<i64> = sqlx::query_scalar(sql).bind(id).fetch_optional(&mut **self).await.map_err(db_err)?;
        Ok(found.is_some())
    }

    async fn lock_job(&mut self, id: i64) -> Result<Option<i64>, StoreError> {
        sqlx::query_scalar("SELECT project_id FROM jobs WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut **self)
            .await
            .map_err(db_err)
    }
}

impl Locks for Transaction<'static, Postgres> {
    async fn lock_namespace(&mut self, id: i64) -> Result<(), StoreError> {
        // In READ COMMITTED each later statement sees what competitors committed before the lock.
        sqlx::query("SELECT id FROM namespaces WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut **self)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn lock_source(&mut self, kind: SourceTable, id: i64) -> Result<bool, StoreError> {
        let sql = match kind {
            SourceTable::Namespaces => "SELECT id FROM namespaces WHERE id = $1 FOR SHARE",
            SourceTable::Projects => "SELECT id FROM projects WHERE id = $1 FOR SHARE",
        };
        let found: Option<i64> = sqlx::query_scalar(sql).bind(id).fetch_optional(&mut **self).await.map_err(db_err)?;
        Ok(found.is_some())
    }

    async fn lock_job(&mut self, id: i64) -> Result<Option<i64>, StoreError> {
        // NO KEY UPDATE: conflicts with itself and with updates of the job, but not with the key
        // share locks that inserts of other rows referencing the job take.
        sqlx::query_scalar("SELECT project_id FROM jobs WHERE id = $1 FOR NO KEY UPDATE")
            .bind(id)
            .fetch_optional(&mut **self)
            .await
            .map_err(db_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The durability setting reaches every connection of a file database (ADR 0012).
    #[tokio::test]
    async fn sqlite_synchronous_is_applied() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (sync, pragma) in [(SqliteSync::Normal, 1i64), (SqliteSync::Full, 2)] {
            let url = format!("sqlite://{}/s-{pragma}.db", dir.path().display());
            let store = SqlStore::connect_with(&url, sync).await.expect("connect");
            let Db::Sqlite(pool) = &store.db else { panic!("sqlite") };
            for _ in 0..SQLITE_POOL_SIZE {
                let got: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(pool).await.expect("pragma");
                assert_eq!(got, pragma, "{sync:?}");
            }
            let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(pool).await.expect("pragma");
            assert_eq!(mode, "wal");
        }
    }
}
