//! Single sign-on: a browser signed in by an identity that a trusted source vouches for (today a
//! forward-auth proxy such as Authelia; OIDC later through the same call). At every such sign-in
//! the account is found or created, administrator rights follow `admin_groups`, and group
//! memberships follow `group_mappings`; then a session starts, as after a password sign-in.
//!
//! # Who is trusted
//! - The caller: the HTTP layer calls [`System::sso_sign_in`] only for a request from a trusted
//!   proxy's address, on a browser route, with the configured identity headers.
//! - The identity's groups decide roles only through the administrator's mappings. Memberships
//!   single sign-on made are recorded (`sso_memberships`) and removed when the group goes;
//!   memberships granted by hand are never changed or removed by a sign-in.

use crate::audit::Entry;
use crate::sessions::IssuedSession;
use crate::users::CreateUser;
use crate::{AppError, Principal, Result, System};
use autogit_core::AccessLevel;
use autogit_core::audit::AuditAction;
use autogit_core::name;
use autogit_store::{Member, MemberSource, NamespaceId, StoreError, User, UserState};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Who the single sign-on source says the browser's user is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoIdentity {
    pub username: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub groups: Vec<String>,
}

/// How single sign-on identities become accounts and roles (the server fills it from `[auth]`
/// for forward-auth, and from each `[[auth.oidc]]` provider for its own sign-ins).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SsoSettings {
    pub auto_create_users: bool,
    /// Empty: sign-in never changes who is an administrator.
    pub admin_groups: Vec<String>,
    /// (identity group, AutoGit group full path, role).
    pub group_mappings: Vec<(String, String, AccessLevel)>,
    /// Not empty: only members of one of these groups sign in.
    pub required_groups: Vec<String>,
    /// Link an account with the same, provider-verified, email address (OpenID Connect).
    pub auto_link_by_email: bool,
    /// Members of these groups are external users, others are not (empty: sign-in never
    /// changes who is external).
    pub external_groups: Vec<String>,
}

impl SsoSettings {
    /// Whether `groups` lets the user in (`required_groups`).
    pub(crate) fn admits(&self, groups: &[String]) -> bool {
        self.required_groups.is_empty() || groups.iter().any(|g| self.required_groups.contains(g))
    }
}

/// Whether `user`'s membership among `members` (a group's direct members) may stop being an
/// Owner's: it is not one, or the group keeps another direct Owner. A group's last Owner stays
/// (logged; a later sign-in tries again), as the members API refuses too.
fn may_stop_owning(members: &[(Member, User)], user: &User) -> bool {
    let owner = members.iter().any(|(m, _)| m.user_id == user.id && m.access_level == AccessLevel::Owner);
    if owner && crate::members::other_owners(members, user.id) == 0 {
        tracing::warn!(user = %user.username, "single sign-on keeps the group's last owner");
        return false;
    }
    true
}

/// Whether the user's `groups` meet one of `flag_groups`; `None` when none are configured (the
/// flag is then not the groups' to decide).
fn flag_from(groups: &[String], flag_groups: &[String]) -> Option<bool> {
    (!flag_groups.is_empty()).then(|| groups.iter().any(|g| flag_groups.contains(g)))
}

/// The address new accounts get when the source sends none (unique, never delivered).
fn placeholder_email(username: &str) -> String {
    format!("{username}@sso.autogit.invalid")
}

impl System<'_> {
    /// Signs a browser in as `id` (see the module's rules) and starts its session.
    pub async fn sso_sign_in(
        &self,
        id: SsoIdentity,
        peer: IpAddr,
        user_agent: &str,
    ) -> Result<(Principal, IssuedSession)> {
        let settings = self.sso.clone();
        if !settings.admits(&id.groups) {
            return Err(AppError::Forbidden(Some("your groups do not include one that may sign in".into())));
        }
        let user = self.sso_account(&id).await?;
        self.sso_session(user, &id.groups, &settings, peer, user_agent, "single sign-on").await
    }

    /// Applies `settings` to `user` for the groups the identity source gave, then starts the
    /// session (`how`: for the audit log).
    pub(crate) async fn sso_session(
        &self,
        user: User,
        groups: &[String],
        settings: &SsoSettings,
        peer: IpAddr,
        user_agent: &str,
        how: &str,
    ) -> Result<(Principal, IssuedSession)> {
        if user.state != UserState::Active {
            return Err(AppError::Unauthorized);
        }
        let user = self.sync_admin(user, groups, settings).await?;
        let user = self.sync_external(user, groups, settings).await?;
        let who = Principal::trusted(user.clone()).from_address(peer);
        self.sync_groups(&who, &user, groups, settings).await?;
        self.start_session(who, &user, peer, user_agent, how).await
    }

    async fn sso_account(&self, id: &SsoIdentity) -> Result<User> {
        if let Some(u) = self.store.user_by_username(&id.username).await? {
            return Ok(u);
        }
        if !self.sso.auto_create_users {
            return Err(AppError::Forbidden(Some(format!(
                "no account for '{}' and accounts are not created at single sign-on (auth.proxy.auto_create_users)",
                id.username.chars().take(64).collect::<String>()
            ))));
        }
        name::validate_top_level_path("username", &id.username)
            .map_err(|e| AppError::Invalid("username", format!("from single sign-on: {e}")))?;
        self.create_sso_user(&id.username, id.email.as_deref(), id.name.as_deref()).await
    }

    /// Creates the account of a single sign-on identity (no password: it signs in through its
    /// source, or with tokens).
    pub(crate) async fn create_sso_user(
        &self,
        username: &str,
        email: Option<&str>,
        name: Option<&str>,
    ) -> Result<User> {
        let email = email.filter(|e| !e.is_empty()).map_or_else(|| placeholder_email(username), str::to_string);
        let display = name.filter(|n| !n.trim().is_empty()).unwrap_or(username).to_string();
        let req = CreateUser { username: username.to_string(), name: display, email, password: None, is_admin: false };
        let user = match self.insert_user(req).await {
            Err(AppError::Conflict(field, _)) if field == "email" => {
                return Err(AppError::Forbidden(Some(
                    "the email address single sign-on gave belongs to another account".into(),
                )));
            }
            other => other?,
        };
        tracing::info!(user = %user.username, "account created at single sign-on");
        self.audit(&Principal::trusted(user.clone()), Entry::user(AuditAction::UserCreated, &user)).await;
        Ok(user)
    }

    async fn sync_admin(&self, mut user: User, groups: &[String], settings: &SsoSettings) -> Result<User> {
        if let Some(admin) = flag_from(groups, &settings.admin_groups)
            && admin != user.is_admin
        {
            self.store.set_user_admin(user.id, admin).await?;
            tracing::info!(user = %user.username, admin, ?groups, "administrator rights follow the sign-on groups");
            user.is_admin = admin;
        }
        Ok(user)
    }

    async fn sync_external(&self, mut user: User, groups: &[String], settings: &SsoSettings) -> Result<User> {
        if let Some(external) = flag_from(groups, &settings.external_groups)
            && external != user.external
        {
            self.store.set_user_external(user.id, external).await?;
            tracing::info!(user = %user.username, external, ?groups, "external status follows the sign-on groups");
            user.external = external;
        }
        Ok(user)
    }

    /// Applies `group_mappings` for the user's groups: adds and updates the memberships they
    /// give, removes those single sign-on made before and no group gives any more.
    async fn sync_groups(&self, who: &Principal, user: &User, groups: &[String], settings: &SsoSettings) -> Result<()> {
        let mut wanted: BTreeMap<NamespaceId, AccessLevel> = BTreeMap::new();
        for (claim, path, level) in &settings.group_mappings {
            if !groups.contains(claim) {
                continue;
            }
            match self.store.namespace_by_full_path(path).await? {
                Some(ns) => {
                    let slot = wanted.entry(ns.id).or_insert(*level);
                    *slot = (*slot).max(*level);
                }
                None => tracing::warn!(group = %path, "auth.group_mappings names a group that does not exist"),
            }
        }
        let managed = self.store.sso_memberships(user.id).await?;
        let now = self.clock.now();
        for (&ns, &level) in &wanted {
            let source = MemberSource::Namespace(ns);
            let current = self.store.list_members(source, autogit_store::Page::ALL).await?;
            let existing = current.items.iter().find(|(m, _)| m.user_id == user.id).map(|(m, _)| m.access_level);
            let action = match existing {
                None => match self.store.add_member(source, user.id, level, now).await {
                    Ok(_) | Err(StoreError::Conflict(_)) => Some(AuditAction::MemberAdded),
                    Err(e) => return Err(e.into()),
                },
                Some(l) if l != level && managed.contains(&ns) => {
                    if !may_stop_owning(&current.items, user) {
                        continue;
                    }
                    self.store.update_member(source, user.id, level).await?;
                    Some(AuditAction::MemberUpdated)
                }
                // Granted by hand (or already right): left as it is.
                Some(_) => None,
            };
            if existing.is_none() || managed.contains(&ns) {
                self.store.mark_sso_membership(user.id, ns, true).await?;
            }
            if let Some(action) = action {
                self.audit_membership(who, user, ns, action, existing, Some(level)).await?;
            }
        }
        for ns in managed.into_iter().filter(|ns| !wanted.contains_key(ns)) {
            let source = MemberSource::Namespace(ns);
            let members = self.store.list_members(source, autogit_store::Page::ALL).await?;
            if !may_stop_owning(&members.items, user) {
                continue;
            }
            match self.store.remove_member(source, user.id).await {
                Ok(()) => self.audit_membership(who, user, ns, AuditAction::MemberRemoved, None, None).await?,
                Err(StoreError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
            self.store.mark_sso_membership(user.id, ns, false).await?;
        }
        Ok(())
    }

    async fn audit_membership(
        &self,
        who: &Principal,
        user: &User,
        ns: NamespaceId,
        action: AuditAction,
        from: Option<AccessLevel>,
        to: Option<AccessLevel>,
    ) -> Result<()> {
        let Some(group) = self.store.namespace_by_id(ns).await? else { return Ok(()) };
        let name = |l: Option<AccessLevel>| l.map_or("", AccessLevel::as_str);
        let entry = Entry::group(action, &group).target("User", user.id.get(), user.username.clone()).change(
            "access_level",
            name(from),
            name(to),
        );
        self.audit(who, entry).await;
        Ok(())
    }
}
