//! [`SessionStore`]: browser sessions, found by the digest of their cookie's secret.

use async_trait::async_trait;
use autogit_store::{NewSession, NewSignInAttempt, Result, Session, SessionStore, SignInAttempt, UserId};
use chrono::{DateTime, Utc};

use crate::db::{BeginWrite, SqlStore, with_db};
use crate::error::{db_err, one_row};

macro_rules! session_columns {
    () => {
        "id, user_id, ip_address, user_agent, created_at, last_active_at, expires_at"
    };
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    id: i64,
    user_id: i64,
    ip_address: String,
    user_agent: String,
    created_at: DateTime<Utc>,
    last_active_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

impl From<SessionRow> for Session {
    fn from(r: SessionRow) -> Session {
        Session {
            id: r.id,
            user_id: UserId::new(r.user_id),
            ip_address: r.ip_address,
            user_agent: r.user_agent,
            created_at: r.created_at,
            last_active_at: r.last_active_at,
            expires_at: r.expires_at,
        }
    }
}

const INSERT: &str = concat!(
    "INSERT INTO sessions (user_id, digest, ip_address, user_agent, created_at, last_active_at, expires_at) ",
    "VALUES ($1, $2, $3, $4, $5, $5, $6) RETURNING ",
    session_columns!()
);
/// The user's sessions beyond the newest `$2` by activity (the new one is the newest: its
/// activity is `now`, and ties go to the higher id).
const TRIM: &str = "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE user_id = $1 \
                    ORDER BY last_active_at DESC, id DESC LIMIT -1 OFFSET $2)";
const TRIM_PG: &str = "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE user_id = $1 \
                       ORDER BY last_active_at DESC, id DESC OFFSET $2)";
const BY_DIGEST: &str = concat!("SELECT ", session_columns!(), " FROM sessions WHERE digest = $1");
const LIST: &str =
    concat!("SELECT ", session_columns!(), " FROM sessions WHERE user_id = $1 ORDER BY last_active_at DESC, id DESC");

#[derive(sqlx::FromRow)]
struct AttemptRow {
    provider: String,
    state: String,
    nonce: String,
    pkce_verifier: String,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

#[async_trait]
impl SessionStore for SqlStore {
    async fn create_session(&self, new: &NewSession, max_per_user: u32, now: DateTime<Utc>) -> Result<Session> {
        let trim = match &self.db {
            crate::db::Db::Sqlite(_) => TRIM,
            crate::db::Db::Postgres(_) => TRIM_PG,
        };
        with_db!(self, |p| {
            let mut tx = p.begin_write().await?;
            let row: SessionRow = sqlx::query_as(INSERT)
                .bind(new.user_id.get())
                .bind(&new.digest)
                .bind(&new.ip_address)
                .bind(&new.user_agent)
                .bind(now)
                .bind(new.expires_at)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?;
            sqlx::query(trim)
                .bind(new.user_id.get())
                .bind(i64::from(max_per_user))
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            tx.commit().await.map_err(db_err)?;
            Ok(Session::from(row))
        })
    }

    async fn session_by_digest(&self, digest: &str) -> Result<Option<Session>> {
        let row: Option<SessionRow> =
            with_db!(self, |p| sqlx::query_as(BY_DIGEST).bind(digest).fetch_optional(p).await.map_err(db_err)?);
        Ok(row.map(Session::from))
    }

    async fn touch_session(&self, id: i64, now: DateTime<Utc>, expires_at: DateTime<Utc>) -> Result<()> {
        let done =
            with_db!(self, |p| sqlx::query("UPDATE sessions SET last_active_at = $2, expires_at = $3 WHERE id = $1")
                .bind(id)
                .bind(now)
                .bind(expires_at)
                .execute(p)
                .await
                .map_err(db_err)?
                .rows_affected());
        one_row(done, "session")
    }

    async fn list_sessions(&self, user_id: UserId) -> Result<Vec<Session>> {
        let rows: Vec<SessionRow> =
            with_db!(self, |p| sqlx::query_as(LIST).bind(user_id.get()).fetch_all(p).await.map_err(db_err)?);
        Ok(rows.into_iter().map(Session::from).collect())
    }

    async fn delete_session(&self, user_id: UserId, id: i64) -> Result<()> {
        let done = with_db!(self, |p| sqlx::query("DELETE FROM sessions WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id.get())
            .execute(p)
            .await
            .map_err(db_err)?
            .rows_affected());
        one_row(done, "session")
    }

    async fn delete_user_sessions(&self, user_id: UserId, keep: Option<i64>) -> Result<u64> {
        Ok(with_db!(self, |p| sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND ($2 IS NULL OR id <> $2)")
            .bind(user_id.get())
            .bind(keep)
            .execute(p)
            .await
            .map_err(db_err)?
            .rows_affected()))
    }

    async fn delete_expired_sessions(&self, now: DateTime<Utc>) -> Result<u64> {
        Ok(with_db!(self, |p| sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(p)
            .await
            .map_err(db_err)?
            .rows_affected()))
    }

    async fn create_sign_in_attempt(&self, new: &NewSignInAttempt, now: DateTime<Utc>) -> Result<()> {
        with_db!(self, |p| {
            let mut tx = p.begin_write().await?;
            sqlx::query("DELETE FROM sign_in_attempts WHERE expires_at <= $1")
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            sqlx::query(
                "INSERT INTO sign_in_attempts (digest, provider, state, nonce, pkce_verifier, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&new.digest)
            .bind(&new.provider)
            .bind(&new.state)
            .bind(&new.nonce)
            .bind(&new.pkce_verifier)
            .bind(now)
            .bind(new.expires_at)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            tx.commit().await.map_err(db_err)?;
        });
        Ok(())
    }

    async fn take_sign_in_attempt(&self, digest: &str) -> Result<Option<SignInAttempt>> {
        let row: Option<AttemptRow> = with_db!(self, |p| sqlx::query_as(
            "DELETE FROM sign_in_attempts WHERE digest = $1 \
             RETURNING provider, state, nonce, pkce_verifier, created_at, expires_at"
        )
        .bind(digest)
        .fetch_optional(p)
        .await
        .map_err(db_err)?);
        Ok(row.map(|r| SignInAttempt {
            provider: r.provider,
            state: r.state,
            nonce: r.nonce,
            pkce_verifier: r.pkce_verifier,
            created_at: r.created_at,
            expires_at: r.expires_at,
        }))
    }
}
