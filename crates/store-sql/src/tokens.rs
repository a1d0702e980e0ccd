//! [`TokenStore`]: personal access tokens, stored and found by the digest of their secret.

use async_trait::async_trait;
use autogit_core::Scope;
use autogit_store::UserId;
use autogit_store::{Listed, NewToken, Page, Result, StoreError, Token, TokenStore};
use chrono::{DateTime, NaiveDate, Utc};

use crate::db::{SqlStore, with_db};
use crate::error::{corrupt, db_err, one_row};
use crate::filter::page_and_total;

/// Token columns in `TokenRow` order. The digest is not among them: it is a lookup key only.
macro_rules! token_columns {
    () => {
        "id, user_id, name, scopes, expires_at, revoked, created_at, last_used_at"
    };
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    id: i64,
    user_id: i64,
    name: String,
    scopes: String,
    expires_at: Option<NaiveDate>,
    revoked: bool,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
}

impl TryFrom<TokenRow> for Token {
    type Error = StoreError;

    fn try_from(r: TokenRow) -> Result<Token> {
        Ok(Token {
            id: r.id,
            user_id: UserId::new(r.user_id),
            name: r.name,
            scopes: parse_scopes(&r.scopes)?,
            expires_at: r.expires_at,
            revoked: r.revoked,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
        })
    }
}

/// Scopes are stored space-separated in the order given; commas are accepted too, so a row
/// written by hand in GitLab's `api,read_api` style still reads back.
fn parse_scopes(stored: &str) -> Result<Vec<Scope>> {
    stored
        .split([' ', ','])
        .filter(|s| !s.is_empty())
        .map(|s| Scope::parse(s).ok_or_else(|| corrupt("token scope", s)))
        .collect()
}

fn format_scopes(scopes: &[Scope]) -> String {
    scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")
}

const INSERT: &str = concat!(
    "INSERT INTO personal_access_tokens (user_id, name, digest, scopes, expires_at, revoked, created_at) ",
    "VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ",
    token_columns!()
);
const BY_DIGEST: &str = concat!("SELECT ", token_columns!(), " FROM personal_access_tokens WHERE digest = $1");
const BY_ID: &str = concat!("SELECT ", token_columns!(), " FROM personal_access_tokens WHERE id = $1");
const LIST: &str = concat!(
    "SELECT ",
    token_columns!(),
    " FROM personal_access_tokens WHERE ($1 IS NULL OR user_id = $1) ORDER BY id LIMIT $2 OFFSET $3"
);
const COUNT: &str = "SELECT COUNT(*) FROM personal_access_tokens WHERE ($1 IS NULL OR user_id = $1)";

#[async_trait]
impl TokenStore for SqlStore {
    async fn create_token(&self, new: &NewToken, now: DateTime<Utc>) -> Result<Token> {
        let scopes = format_scopes(&new.scopes);
        let row: TokenRow = with_db!(self, |p| sqlx::query_as(INSERT)
            .bind(new.user_id.get())
            .bind(&new.name)
            .bind(&new.digest)
            .bind(&scopes)
            .bind(new.expires_at)
            .bind(false)
            .bind(now)
            .fetch_one(p)
            .await
            .map_err(db_err)?);
        Token::try_from(row)
    }

    async fn token_by_digest(&self, digest: &str) -> Result<Option<Token>> {
        let row: Option<TokenRow> =
            with_db!(self, |p| sqlx::query_as(BY_DIGEST).bind(digest).fetch_optional(p).await.map_err(db_err)?);
        row.map(Token::try_from).transpose()
    }

    async fn token_by_id(&self, id: i64) -> Result<Option<Token>> {
        let row: Option<TokenRow> =
            with_db!(self, |p| sqlx::query_as(BY_ID).bind(id).fetch_optional(p).await.map_err(db_err)?);
        row.map(Token::try_from).transpose()
    }

    async fn list_tokens(&self, user_id: Option<UserId>, page: Page) -> Result<Listed<Token>> {
        let (rows, total): (Vec<TokenRow>, i64) =
            with_db!(self, |p| page_and_total!(p, LIST, COUNT, page, |q| q.bind(user_id.map(UserId::get))));
        let items = rows.into_iter().map(Token::try_from).collect::<Result<_>>()?;
        Ok(Listed { items, total })
    }

    async fn revoke_token(&self, id: i64) -> Result<()> {
        let done = with_db!(self, |p| sqlx::query("UPDATE personal_access_tokens SET revoked = $2 WHERE id = $1")
            .bind(id)
            .bind(true)
            .execute(p)
            .await
            .map_err(db_err)?
            .rows_affected());
        one_row(done, "token")
    }

    async fn touch_token(&self, id: i64, now: DateTime<Utc>) -> Result<()> {
        let done = with_db!(self, |p| sqlx::query("UPDATE personal_access_tokens SET last_used_at = $2 WHERE id = $1")
            .bind(id)
            .bind(now)
            .execute(p)
            .await
            .map_err(db_err)?
            .rows_affected());
        one_row(done, "token")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_round_trip_and_accept_commas() {
        let scopes = vec![Scope::ReadApi, Scope::Api];
        assert_eq!(parse_scopes(&format_scopes(&scopes)).expect("valid"), scopes);
        assert_eq!(parse_scopes("api,read_repository").expect("valid"), vec![Scope::Api, Scope::ReadRepository]);
        assert_eq!(parse_scopes("").expect("valid"), vec![]);
        assert!(parse_scopes("sudo").is_err());
    }
}
