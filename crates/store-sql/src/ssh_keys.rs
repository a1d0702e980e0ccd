//! [`SshKeyStore`]: users' public keys and deploy keys, by id, owner, project or fingerprint.

use async_trait::async_trait;
use autogit_store::{NewSshKey, ProjectId, Result, SshKey, SshKeyStore, UserId};
use chrono::{DateTime, NaiveDate, Utc};

use crate::db::{SqlStore, with_db};
use crate::error::{db_err, one_row};

macro_rules! key_columns {
    () => {
        "id, user_id, project_id, title, key_text, fingerprint, usage_type, can_push, expires_at, created_at, \
         last_used_at"
    };
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    id: i64,
    user_id: i64,
    project_id: Option<i64>,
    title: String,
    key_text: String,
    fingerprint: String,
    usage_type: String,
    can_push: bool,
    expires_at: Option<NaiveDate>,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
}

impl From<KeyRow> for SshKey {
    fn from(r: KeyRow) -> SshKey {
        SshKey {
            id: r.id,
            user_id: UserId::new(r.user_id),
            project_id: r.project_id.map(ProjectId::new),
            title: r.title,
            key: r.key_text,
            fingerprint: r.fingerprint,
            usage_type: r.usage_type,
            can_push: r.can_push,
            expires_at: r.expires_at,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
        }
    }
}

const INSERT: &str = concat!(
    "INSERT INTO ssh_keys (user_id, project_id, title, key_text, fingerprint, usage_type, can_push, expires_at, ",
    "created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ",
    key_columns!()
);
const BY_ID: &str = concat!("SELECT ", key_columns!(), " FROM ssh_keys WHERE id = $1");
const BY_FINGERPRINT: &str = concat!("SELECT ", key_columns!(), " FROM ssh_keys WHERE fingerprint = $1");
const OF_USER: &str =
    concat!("SELECT ", key_columns!(), " FROM ssh_keys WHERE user_id = $1 AND project_id IS NULL ORDER BY id");
const OF_PROJECT: &str = concat!("SELECT ", key_columns!(), " FROM ssh_keys WHERE project_id = $1 ORDER BY id");

#[async_trait]
impl SshKeyStore for SqlStore {
    async fn create_ssh_key(&self, new: &NewSshKey, now: DateTime<Utc>) -> Result<SshKey> {
        let row: KeyRow = with_db!(self, |p| sqlx::query_as(INSERT)
            .bind(new.user_id.get())
            .bind(new.project_id.map(ProjectId::get))
            .bind(&new.title)
            .bind(&new.key)
            .bind(&new.fingerprint)
            .bind(&new.usage_type)
            .bind(new.can_push)
            .bind(new.expires_at)
            .bind(now)
            .fetch_one(p)
            .await
            .map_err(db_err)?);
        Ok(row.into())
    }

    async fn ssh_key_by_id(&self, id: i64) -> Result<Option<SshKey>> {
        let row: Option<KeyRow> =
            with_db!(self, |p| sqlx::query_as(BY_ID).bind(id).fetch_optional(p).await.map_err(db_err)?);
        Ok(row.map(SshKey::from))
    }

    async fn ssh_key_by_fingerprint(&self, fingerprint: &str) -> Result<Option<SshKey>> {
        let row: Option<KeyRow> = with_db!(self, |p| sqlx::query_as(BY_FINGERPRINT)
            .bind(fingerprint)
            .fetch_optional(p)
            .await
            .map_err(db_err)?);
        Ok(row.map(SshKey::from))
    }

    async fn list_user_ssh_keys(&self, user_id: UserId) -> Result<Vec<SshKey>> {
        let rows: Vec<KeyRow> =
            with_db!(self, |p| sqlx::query_as(OF_USER).bind(user_id.get()).fetch_all(p).await.map_err(db_err)?);
        Ok(rows.into_iter().map(SshKey::from).collect())
    }

    async fn list_deploy_keys(&self, project_id: ProjectId) -> Result<Vec<SshKey>> {
        let rows: Vec<KeyRow> =
            with_db!(self, |p| sqlx::query_as(OF_PROJECT).bind(project_id.get()).fetch_all(p).await.map_err(db_err)?);
        Ok(rows.into_iter().map(SshKey::from).collect())
    }

    async fn delete_ssh_key(&self, id: i64) -> Result<()> {
        let done = with_db!(self, |p| sqlx::query("DELETE FROM ssh_keys WHERE id = $1")
            .bind(id)
            .execute(p)
            .await
            .map_err(db_err)?
            .rows_affected());
        one_row(done, "ssh key")
    }

    async fn touch_ssh_key(&self, id: i64, now: DateTime<Utc>) -> Result<()> {
        let done = with_db!(self, |p| sqlx::query("UPDATE ssh_keys SET last_used_at = $2 WHERE id = $1")
            .bind(id)
            .bind(now)
            .execute(p)
            .await
            .map_err(db_err)?
            .rows_affected());
        one_row(done, "ssh key")
    }
}
