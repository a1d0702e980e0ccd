//! Users: creation (API, admin CLI, first-start bootstrap of `root`) and lookup.

use crate::audit::Entry;
use crate::error::invalid_name;
use crate::{App, AppError, Principal, Result, System};
use autogit_core::UserId;
use autogit_core::audit::AuditAction;
use autogit_core::name;
use autogit_store::{Listed, NewUser, Page, User, UserFilter};

/// Shortest accepted password.
pub const MIN_PASSWORD_LEN: usize = 8;

#[derive(Debug, Clone, Default)]
pub struct CreateUser {
    pub username: String,
    pub name: String,
    pub email: String,
    pub password: Option<String>,
    pub is_admin: bool,
}

impl App {
    /// Creates a user (admin only). The user's personal namespace is created with it.
    pub async fn create_user(&self, who: &Principal, req: CreateUser) -> Result<User> {
        who.require_admin()?;
        let user = self.system().insert_user(req).await?;
        self.audit(who, Entry::user(AuditAction::UserCreated, &user)).await;
        Ok(user)
    }

    /// Any signed-in user may look up users (GitLab exposes public profiles).
    pub async fn get_user(&self, _who: &Principal, id: UserId) -> Result<User> {
        self.store.user_by_id(id).await?.ok_or(AppError::NotFound("User"))
    }

    /// A user by username, for any caller (as `get_user`).
    pub async fn get_user_by_username(&self, _who: &Principal, username: &str) -> Result<User> {
        self.system().user_by_username(username).await
    }

    pub async fn list_users(&self, who: &Principal, filter: UserFilter, page: Page) -> Result<Listed<User>> {
        who.user()?;
        Ok(self.store.list_users(&filter, page).await?)
    }
}

fn validate_email(email: &str) -> Result<()> {
    let ok = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.starts_with('.') && !domain.ends_with('.')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok { Ok(()) } else { Err(AppError::Invalid("email", format!("'{email}' is invalid"))) }
}

impl System<'_> {
    /// Creates a user without an actor check: for the admin CLI and first-start bootstrap, which
    /// run with direct access to the database.
    pub async fn insert_user(&self, req: CreateUser) -> Result<User> {
        name::validate_top_level_path("username", &req.username).map_err(invalid_name("username"))?;
        name::validate_display_name("name", &req.name).map_err(invalid_name("name"))?;
        validate_email(&req.email)?;
        let password_hash = match &req.password {
            Some(p) if p.chars().count() < MIN_PASSWORD_LEN => {
                return Err(AppError::Invalid(
                    "password",
                    format!("is too short (minimum is {MIN_PASSWORD_LEN} characters)"),
                ));
            }
            Some(p) => Some(self.hash_new_password(p).await?),
            None => None,
        };
        let new =
            NewUser { username: req.username, name: req.name, email: req.email, password_hash, is_admin: req.is_admin };
        Ok(self.store.create_user(&new, self.clock.now()).await?)
    }

    /// Creates `root` (administrator) with the given password if no user exists yet.
    /// Returns whether it was created.
    pub async fn bootstrap_root(&self, password: &str) -> Result<bool> {
        if self.store.count_users().await? > 0 {
            return Ok(false);
        }
        self.insert_user(CreateUser {
            username: "root".into(),
            name: "Administrator".into(),
            email: "admin@example.com".into(),
            password: Some(password.to_string()),
            is_admin: true,
        })
        .await?;
        Ok(true)
    }

    pub async fn user_by_username(&self, username: &str) -> Result<User> {
        self.store.user_by_username(username).await?.ok_or(AppError::NotFound("User"))
    }
}
