//! [`UserStore`]: users, each created together with its personal namespace.

use async_trait::async_trait;
use autogit_core::Visibility;
use autogit_store::UserId;
use autogit_store::{Listed, NamespaceKind, NewUser, Page, Result, User, UserFilter, UserState, UserStore};
use chrono::{DateTime, Utc};

use crate::db::{BeginWrite, SqlStore, with_db};
use crate::error::{conflict_as, corrupt, db_err, one_row};
use crate::filter::{like_pattern, page_and_total};
use crate::namespaces::INSERT_NAMESPACE;

/// The user columns in `UserRow` order, unqualified: SQLite's `RETURNING` takes no table names.
macro_rules! user_columns {
    () => {
        "id, username, name, email, password_hash, is_admin, state, created_at, external"
    };
}
pub(crate) use user_columns;

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    pub(crate) id: i64,
    username: String,
    name: String,
    email: String,
    password_hash: Option<String>,
    is_admin: bool,
    state: String,
    created_at: DateTime<Utc>,
    external: bool,
}

impl TryFrom<UserRow> for User {
    type Error = autogit_store::StoreError;

    fn try_from(r: UserRow) -> Result<User> {
        let state = match r.state.as_str() {
            "active" => UserState::Active,
            "blocked" => UserState::Blocked,
            other => return Err(corrupt("user state", other)),
        };
        Ok(User {
            id: UserId::new(r.id),
            username: r.username,
            name: r.name,
            email: r.email,
            password_hash: r.password_hash,
            is_admin: r.is_admin,
            external: r.external,
            state,
            created_at: r.created_at,
        })
    }
}

const INSERT_USER: &str = concat!(
    "INSERT INTO users (username, name, email, password_hash, is_admin, state, created_at) ",
    "VALUES ($1, $2, $3, $4, $5, 'active', $6) RETURNING ",
    user_columns!()
);

pub(crate) const USER_BY_ID: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1");

const USER_BY_USERNAME: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE lower(username) = lower($1)");
const USER_BY_EMAIL: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE lower(email) = lower($1)");

/// `$1` exact username, `$2` LIKE pattern on username, name or email.
macro_rules! user_list_where {
    () => {
        " WHERE ($1 IS NULL OR lower(username) = lower($1)) \
           AND ($2 IS NULL OR lower(username) LIKE lower($2) ESCAPE '\\' \
                OR lower(name) LIKE lower($2) ESCAPE '\\' OR lower(email) LIKE lower($2) ESCAPE '\\')"
    };
}

const LIST_USERS: &str =
    concat!("SELECT ", user_columns!(), " FROM users", user_list_where!(), " ORDER BY id LIMIT $3 OFFSET $4");
const COUNT_LISTED_USERS: &str = concat!("SELECT COUNT(*) FROM users", user_list_where!());

#[async_trait]
impl UserStore for SqlStore {
    async fn create_user(&self, new: &NewUser, now: DateTime<Utc>) -> Result<User> {
        with_db!(self, |p| {
            let mut tx = p.begin_write().await?;
            let row: UserRow = sqlx::query_as(INSERT_USER)
                .bind(&new.username)
                .bind(&new.name)
                .bind(&new.email)
                .bind(&new.password_hash)
                .bind(new.is_admin)
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?;
            // The personal namespace shares the top-level path space with groups: a clash here is
            // the username being taken by a group.
            sqlx::query(INSERT_NAMESPACE)
                .bind(NamespaceKind::User.as_str())
                .bind(&new.name)
                .bind(&new.username)
                .bind(&new.username)
                .bind(None::<i64>)
                .bind(Visibility::Public.as_str())
                .bind("")
                .bind(Some(row.id))
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db_err)
                .map_err(conflict_as("username"))?;
            tx.commit().await.map_err(db_err)?;
            User::try_from(row)
        })
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>> {
        let row: Option<UserRow> =
            with_db!(self, |p| sqlx::query_as(USER_BY_ID).bind(id.get()).fetch_optional(p).await.map_err(db_err)?);
        row.map(User::try_from).transpose()
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<User>> {
        let row: Option<UserRow> =
            with_db!(self, |p| sqlx::query_as(USER_BY_EMAIL).bind(email).fetch_optional(p).await.map_err(db_err)?);
        row.map(User::try_from).transpose()
    }

    async fn user_by_username(&self, username: &str) -> Result<Option<User>> {
        let row: Option<UserRow> = with_db!(self, |p| sqlx::query_as(USER_BY_USERNAME)
            .bind(username)
            .fetch_optional(p)
            .await
            .map_err(db_err)?);
        row.map(User::try_from).transpose()
    }

    async fn list_users(&self, filter: &UserFilter, page: Page) -> Result<Listed<User>> {
        let pattern = like_pattern(filter.search.as_deref());
        let (rows, total): (Vec<UserRow>, i64) =
            with_db!(self, |p| page_and_total!(p, LIST_USERS, COUNT_LISTED_USERS, page, |q| q
                .bind(&filter.username)
                .bind(&pattern)));
        let items = rows.into_iter().map(User::try_from).collect::<Result<_>>()?;
        Ok(Listed { items, total })
    }

    async fn set_password_hash(&self, id: UserId, hash: &str) -> Result<()> {
        let done = with_db!(self, |p| sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(hash)
            .bind(id.get())
            .execute(p)
            .await
            .map_err(db_err)?
            .rows_affected());
        one_row(done, "user")
    }

    async fn set_user_admin(&self, id: UserId, admin: bool) -> Result<()> {
        self.set_user_flag("UPDATE users SET is_admin = $1 WHERE id = $2", id, admin).await
    }

    async fn set_user_external(&self, id: UserId, external: bool) -> Result<()> {
        self.set_user_flag("UPDATE users SET external = $1 WHERE id = $2", id, external).await
    }

    async fn count_users(&self) -> Result<i64> {
        with_db!(self, |p| sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(p).await.map_err(db_err))
    }
}

impl SqlStore {
    /// Runs `sql` (`$1` the flag, `$2` the user id) on one user: NotFound if missing.
    async fn set_user_flag(&self, sql: &'static str, id: UserId, value: bool) -> Result<()> {
        let done = with_db!(self, |p| sqlx::query(sql)
            .bind(value)
            .bind(id.get())
            .execute(p)
            .await
            .map_err(db_err)?
            .rows_affected());
        one_row(done, "user")
    }
}
