//! [`ExternalIdentityStore`]: the accounts identity providers' subjects sign in as.

use async_trait::async_trait;
use autogit_store::{ExternalIdentity, ExternalIdentityStore, Result, User, UserId};
use chrono::{DateTime, Utc};

use crate::db::{SqlStore, with_db};
use crate::error::db_err;
use crate::users::UserRow;

const USER_BY_IDENTITY: &str = concat!(
    "SELECT ",
    crate::users::user_columns!(),
    " FROM users WHERE id = (SELECT user_id FROM external_identities WHERE issuer = $1 AND subject = $2)"
);

#[derive(sqlx::FromRow)]
struct IdentityRow {
    user_id: i64,
    provider: String,
    issuer: String,
    subject: String,
    created_at: DateTime<Utc>,
}

#[async_trait]
impl ExternalIdentityStore for SqlStore {
    async fn user_by_identity(&self, issuer: &str, subject: &str) -> Result<Option<User>> {
        let row: Option<UserRow> = with_db!(self, |p| sqlx::query_as(USER_BY_IDENTITY)
            .bind(issuer)
            .bind(subject)
            .fetch_optional(p)
            .await
            .map_err(db_err)?);
        row.map(User::try_from).transpose()
    }

    async fn link_identity(&self, id: &ExternalIdentity) -> Result<()> {
        with_db!(self, |p| {
            sqlx::query(
                "INSERT INTO external_identities (issuer, subject, provider, user_id, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&id.issuer)
            .bind(&id.subject)
            .bind(&id.provider)
            .bind(id.user_id.get())
            .bind(id.created_at)
            .execute(p)
            .await
            .map_err(db_err)?;
        });
        Ok(())
    }

    async fn identities_of(&self, user_id: UserId) -> Result<Vec<ExternalIdentity>> {
        let rows: Vec<IdentityRow> = with_db!(self, |p| sqlx::query_as(
            "SELECT user_id, provider, issuer, subject, created_at FROM external_identities \
             WHERE user_id = $1 ORDER BY provider"
        )
        .bind(user_id.get())
        .fetch_all(p)
        .await
        .map_err(db_err)?);
        Ok(rows
            .into_iter()
            .map(|r| ExternalIdentity {
                user_id: UserId::new(r.user_id),
                provider: r.provider,
                issuer: r.issuer,
                subject: r.subject,
                created_at: r.created_at,
            })
            .collect())
    }
}
