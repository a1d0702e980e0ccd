//! SSH keys: users' public keys (`/user/keys`, `/users/:id/keys`), projects' deploy keys
//! (`/projects/:id/deploy_keys`), and who a key offered to the SSH server is.
//!
//! # Who is trusted
//! - A key is accepted only if it parses as one OpenSSH public key line and is strong enough:
//!   Ed25519, ECDSA (P-256/384/521), their security-key forms, or RSA of at least 2048 bits;
//!   DSA and shorter RSA keys are refused with the reason. Certificates and `authorized_keys`
//!   options are not keys here.
//! - A fingerprint names one identity across the instance: a key already added (by anyone, as a
//!   user's or a deploy key) is refused.
//! - A user's key acts as the user, with the user's roles (as a password would, for git only).
//!   A deploy key acts for one project only: read, or read and write when `can_push`, as the
//!   user who added it (so it loses what that user loses).
//! - Expired keys, `signing`-only keys and blocked users authenticate nobody.

use crate::audit::Entry;
use crate::{App, AppError, Principal, Result, System};
use autogit_core::access::Action;
use autogit_core::audit::AuditAction;
use autogit_core::{Actor, Scope, UserId};
use autogit_store::{NewSshKey, Project, SshKey, User, UserState};
use chrono::{NaiveDate, TimeDelta};
use ssh_key::{Algorithm, HashAlg, PublicKey, public::KeyData};

/// The shortest RSA modulus accepted.
const MIN_RSA_BITS: usize = 2048;
/// How often a key's `last_used_at` is written at most.
const TOUCH_INTERVAL: TimeDelta = TimeDelta::minutes(10);
const USAGE_TYPES: &[&str] = &["auth", "signing", "auth_and_signing"];

/// A key to add, as the API gives it.
#[derive(Debug, Clone, Default)]
pub struct AddKey {
    pub title: String,
    pub key: String,
    pub expires_at: Option<NaiveDate>,
    /// `auth`, `signing` or `auth_and_signing` (the default).
    pub usage_type: Option<String>,
    /// Deploy keys only: may push.
    pub can_push: bool,
}

/// A parsed, accepted key: its one-line form and its fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedKey {
    pub openssh: String,
    pub fingerprint: String,
}

/// Parses and judges a public key line (see the module's rules).
pub fn check_public_key(text: &str) -> Result<CheckedKey> {
    let text = text.trim();
    if text.is_empty() {
        return Err(AppError::Missing("key"));
    }
    if text.contains('\n') || text.contains('\r') {
        return Err(AppError::Invalid("key", "must be one public key on one line".into()));
    }
    let key = PublicKey::from_openssh(text)
        .map_err(|e| AppError::Invalid("key", format!("is not a valid SSH public key ({e})")))?;
    match key.key_data() {
        KeyData::Dsa(_) => {
            return Err(AppError::Invalid("key", "is a DSA key: DSA keys are too weak and not accepted".into()));
        }
        KeyData::Rsa(rsa) => {
            let bytes = rsa.n().as_positive_bytes().map_or(0, <[u8]>::len);
            let bits = bytes * 8;
            if bits < MIN_RSA_BITS {
                return Err(AppError::Invalid(
                    "key",
                    format!("is an RSA key of {bits} bits: at least {MIN_RSA_BITS} are required"),
                ));
            }
        }
        _ => {}
    }
    if matches!(key.algorithm(), Algorithm::Other(_)) {
        return Err(AppError::Invalid("key", format!("has an unsupported type {}", key.algorithm())));
    }
    let openssh = key.to_openssh().map_err(|e| AppError::Invalid("key", format!("cannot be encoded ({e})")))?;
    Ok(CheckedKey { openssh, fingerprint: key.fingerprint(HashAlg::Sha256).to_string() })
}

impl App {
    /// A user's keys (GitLab shows them to anyone: they are public keys).
    pub async fn list_ssh_keys(&self, _who: &Principal, user_id: UserId) -> Result<Vec<SshKey>> {
        self.store.user_by_id(user_id).await?.ok_or(AppError::NotFound("User"))?;
        Ok(self.store.list_user_ssh_keys(user_id).await?)
    }

    /// One of the principal's own keys; an administrator may read anyone's (`/keys/:id`).
    pub async fn get_ssh_key(&self, who: &Principal, id: i64) -> Result<(SshKey, User)> {
        let me = who.user()?;
        let key =
            self.store.ssh_key_by_id(id).await?.filter(|k| k.project_id.is_none()).ok_or(AppError::NotFound("Key"))?;
        if key.user_id != me.id && !me.is_admin {
            return Err(AppError::NotFound("Key"));
        }
        let owner = self.store.user_by_id(key.user_id).await?.ok_or(AppError::NotFound("Key"))?;
        Ok((key, owner))
    }

    /// The key with this fingerprint and its owner (administrators, `GET /keys?fingerprint=`).
    pub async fn ssh_key_by_fingerprint(&self, who: &Principal, fingerprint: &str) -> Result<(SshKey, User)> {
        who.require_admin()?;
        let key = self.store.ssh_key_by_fingerprint(fingerprint).await?.ok_or(AppError::NotFound("Key"))?;
        let owner = self.store.user_by_id(key.user_id).await?.ok_or(AppError::NotFound("Key"))?;
        Ok((key, owner))
    }

    /// Adds a key to `user_id`: one's own, or anyone's for an administrator.
    pub async fn add_ssh_key(&self, who: &Principal, user_id: UserId, req: AddKey) -> Result<SshKey> {
        let me = who.user()?;
        if me.id != user_id && !me.is_admin {
            return Err(AppError::Forbidden(None));
        }
        let owner = self.store.user_by_id(user_id).await?.ok_or(AppError::NotFound("User"))?;
        let key = self.insert_key(user_id, None, req).await?;
        let entry = Entry::user(AuditAction::SshKeyAdded, &owner).target("Key", key.id, key.fingerprint.clone());
        self.audit(who, entry).await;
        Ok(key)
    }

    /// Deletes a key of `user_id`: one's own, or anyone's for an administrator.
    pub async fn delete_ssh_key(&self, who: &Principal, user_id: UserId, id: i64) -> Result<()> {
        let me = who.user()?;
        if me.id != user_id && !me.is_admin {
            return Err(AppError::Forbidden(None));
        }
        let owner = self.store.user_by_id(user_id).await?.ok_or(AppError::NotFound("User"))?;
        let key = self.store.ssh_key_by_id(id).await?;
        let key = key.filter(|k| k.user_id == user_id && k.project_id.is_none()).ok_or(AppError::NotFound("Key"))?;
        self.store.delete_ssh_key(key.id).await?;
        self.audit(who, Entry::user(AuditAction::SshKeyRemoved, &owner).target("Key", key.id, key.fingerprint)).await;
        Ok(())
    }

    /// A project's deploy keys (Maintainer).
    pub async fn list_deploy_keys(&self, who: &Principal, project_ref: &str) -> Result<Vec<SshKey>> {
        let (project, _) = self.get_project(who, project_ref, Action::Manage).await?;
        Ok(self.store.list_deploy_keys(project.id).await?)
    }

    pub async fn get_deploy_key(&self, who: &Principal, project_ref: &str, id: i64) -> Result<SshKey> {
        let (project, _) = self.get_project(who, project_ref, Action::Manage).await?;
        self.deploy_key_of(&project, id).await
    }

    /// Adds a deploy key to a project (Maintainer); it acts as the principal, for this project.
    pub async fn add_deploy_key(&self, who: &Principal, project_ref: &str, req: AddKey) -> Result<SshKey> {
        let (project, _) = self.get_project(who, project_ref, Action::Manage).await?;
        let me = who.user()?;
        let key = self.insert_key(me.id, Some(&project), req).await?;
        let entry =
            Entry::project(AuditAction::DeployKeyAdded, &project).target("DeployKey", key.id, key.fingerprint.clone());
        self.audit(who, entry).await;
        Ok(key)
    }

    pub async fn delete_deploy_key(&self, who: &Principal, project_ref: &str, id: i64) -> Result<()> {
        let (project, _) = self.get_project(who, project_ref, Action::Manage).await?;
        let key = self.deploy_key_of(&project, id).await?;
        self.store.delete_ssh_key(key.id).await?;
        let entry =
            Entry::project(AuditAction::DeployKeyRemoved, &project).target("DeployKey", key.id, key.fingerprint);
        self.audit(who, entry).await;
        Ok(())
    }

    async fn deploy_key_of(&self, project: &Project, id: i64) -> Result<SshKey> {
        let key = self.store.ssh_key_by_id(id).await?;
        key.filter(|k| k.project_id == Some(project.id)).ok_or(AppError::NotFound("Deploy key"))
    }

    async fn insert_key(&self, user_id: UserId, project: Option<&Project>, req: AddKey) -> Result<SshKey> {
        let title = req.title.trim();
        if title.is_empty() {
            return Err(AppError::Missing("title"));
        }
        if title.len() > 255 {
            return Err(AppError::Invalid("title", "is too long (maximum is 255 characters)".into()));
        }
        let usage_type = req.usage_type.unwrap_or_else(|| "auth_and_signing".to_string());
        if !USAGE_TYPES.contains(&usage_type.as_str()) {
            return Err(AppError::Invalid("usage_type", format!("must be one of {}", USAGE_TYPES.join(", "))));
        }
        if req.expires_at.is_some_and(|d| d <= self.clock.now().date_naive()) {
            return Err(AppError::Invalid("expires_at", "must be in the future".into()));
        }
        let checked = check_public_key(&req.key)?;
        let new = NewSshKey {
            user_id,
            project_id: project.map(|p| p.id),
            title: title.to_string(),
            key: checked.openssh,
            fingerprint: checked.fingerprint,
            usage_type,
            can_push: project.is_some() && req.can_push,
            expires_at: req.expires_at,
        };
        match self.store.create_ssh_key(&new, self.clock.now()).await {
            Err(autogit_store::StoreError::Conflict(_)) => {
                Err(AppError::Invalid("key", "has already been taken (fingerprint sha256 is in use)".into()))
            }
            other => Ok(other?),
        }
    }
}

impl System<'_> {
    /// Who an SSH client is that proved it holds the key with this SHA-256 `fingerprint`:
    /// `None` for an unknown, expired or signing-only key, or a blocked user.
    pub async fn ssh_principal(&self, fingerprint: &str) -> Result<Option<Principal>> {
        let Some(key) = self.store.ssh_key_by_fingerprint(fingerprint).await? else { return Ok(None) };
        let now = self.clock.now();
        if key.usage_type == "signing" || key.expires_at.is_some_and(|d| d <= now.date_naive()) {
            return Ok(None);
        }
        let Some(user) = self.store.user_by_id(key.user_id).await? else { return Ok(None) };
        if user.state != UserState::Active {
            return Ok(None);
        }
        if key.last_used_at.is_none_or(|t| now - t >= TOUCH_INTERVAL)
            && let Err(e) = self.store.touch_ssh_key(key.id, now).await
        {
            tracing::warn!(error = %e, key_id = key.id, "could not record key use");
        }
        let (scopes, deploy_project) = match key.project_id {
            None => (None, None),
            Some(p) => {
                let scope = if key.can_push { Scope::WriteRepository } else { Scope::ReadRepository };
                (Some(vec![scope]), Some(p))
            }
        };
        Ok(Some(Principal {
            // A deploy key acts as the user who added it (an administrator's as an administrator),
            // confined to its project and to git by `deploy_project` and its scope.
            actor: Actor::User { id: user.id, admin: user.is_admin, external: user.external },
            user: Some(user),
            scopes,
            job_project: None,
            deploy_project,
            session_id: None,
            address: None,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED25519: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH4MGlj9OV9UGIaU25hDoGsGcvYozowlYl1Uq641DVNy alice@laptop";
    // Public halves of keys made with `ssh-keygen -t rsa -b 1024` and `-t dsa` for this test.
    const RSA_1024: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC4FnG6oUvNHAQdnc6ir8lTH/5tYcwMxPiI7C7oDhIgIKbCGQ3+puhoT7Yx0Gra6IPHSskX5Ix6psDgDPeSMpTwiuIt2nttdkKPow7qEg4iKyPwQwAnKRJZRiSIOTjFlJO58eWoUOUbrOup3YVvY8eOhuakk2a7x1ShKpFtVqdnuw== weak";
    const DSA: &str = "ssh-dss AAAAB3NzaC1kc3MAAACBAJ1BnohimAB4B++i+RHJRUqs+UZHispuv+gYeP2Zvq1nI2msMjrDQEXfigASpUVCHlTXrICp7WpeOgHkdaIxFMLL1BuihDJL35V9BheDlSazdi8Q2uKSuEyqMYUBZ0Yz+yKMnhYLw3p1wRyZMXlto+czzLHr5W9h+cvWg57IDHKLAAAAFQD5/mNUptQvMagxprGPY9VgCSqZ5QAAAIBEudISucaLmds4jC/4YmrPRihKlubSv0mPoHOvqarDeX8wtQ6PygO6OcmuRs3rhB2UQRMF94SwQHei90fxVSCjKgQIDCtGmxP9WVKMB4DewICMaXfgDaW+c3rBgV1oGMmwO73PQzZcMCEUQARICaeGs6qmQz8HYSIY+pXxIJ3rfQAAAIBgOy8zVE1dhh/H6XkNBJTzWBHZsIwSmzewbB/T2awAoJsTXFpbgXRTdYQOl1ICCX3HmHDyl9P72gkdfh5th/yKeh5V/VXlB1HPX7M45adrpsbjPXOJN7RYhARAf+QB+jVM+M74WA1je24VdoDctWRs3YrlS7ygecR1EBeW7R6nKQ== old";

    #[test]
    fn an_ed25519_key_gives_openssh_s_fingerprint() {
        let k = check_public_key(&format!("  {ED25519}\n")).expect("valid");
        assert!(k.fingerprint.starts_with("SHA256:") && !k.fingerprint.ends_with('='), "{}", k.fingerprint);
        assert_eq!(k.openssh, ED25519);
    }

    #[test]
    fn bad_keys_are_refused_with_the_reason() {
        let reason = |text: &str| check_public_key(text).expect_err("refused").to_string();
        assert!(reason("").contains("key is missing"));
        assert!(reason("ssh-ed25519 not-base64!").contains("not a valid SSH public key"));
        assert!(reason(&format!("{ED25519}\n{ED25519}")).contains("one line"));
        assert!(reason(&format!("command=\"sh\" {ED25519}")).contains("not a valid"));
        assert!(reason(RSA_1024).contains("RSA key of 1024 bits: at least 2048"), "{}", reason(RSA_1024));
        assert!(reason(DSA).contains("DSA keys are too weak"), "{}", reason(DSA));
    }
}
