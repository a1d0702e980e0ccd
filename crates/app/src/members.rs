//! Memberships on groups and projects. Managing members needs Maintainer; anything touching an
//! Owner needs Owner; a group never loses its last Owner.

use crate::audit::Entry;
use crate::groups::to_result;
use crate::{App, AppError, Principal, Result};
use autogit_core::UserId;
use autogit_core::access::{Action, decide};
use autogit_core::audit::{AuditAction, AuditEntity};
use autogit_core::{AccessLevel, Visibility};
use autogit_store::{Listed, Member, MemberSource, Page, User};

/// What a membership hangs on, as addressed by the API (`:id` of a group or project).
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    Group(&'a str),
    Project(&'a str),
}

/// A resolved source with what the policy needs to know about it.
struct Resolved {
    source: MemberSource,
    visibility: Visibility,
    level: Option<AccessLevel>,
    is_group: bool,
    /// The source's full path, for the audit log.
    path: String,
}

impl App {
    async fn resolve(&self, who: &Principal, source: Source<'_>) -> Result<Resolved> {
        Ok(match source {
            Source::Group(r) => {
                let g = self.get_group(who, r).await?;
                let level = self.namespace_level(who, &g).await?;
                Resolved {
                    source: MemberSource::Namespace(g.id),
                    visibility: g.visibility,
                    level,
                    is_group: true,
                    path: g.full_path,
                }
            }
            Source::Project(r) => {
                let (p, level) = self.get_project(who, r, Action::View).await?;
                Resolved {
                    source: MemberSource::Project(p.id),
                    visibility: p.visibility,
                    level,
                    is_group: false,
                    path: p.full_path,
                }
            }
        })
    }

    fn authorize(&self, who: &Principal, r: &Resolved, action: Action) -> Result<()> {
        to_result(decide(who.actor, r.visibility, r.level, action), if r.is_group { "Group" } else { "Project" })
    }

    pub async fn list_members(
        &self,
        who: &Principal,
        source: Source<'_>,
        page: Page,
    ) -> Result<Listed<(Member, User)>> {
        let r = self.resolve(who, source).await?;
        Ok(self.store.list_members(r.source, page).await?)
    }

    pub async fn get_member(&self, who: &Principal, source: Source<'_>, user_id: UserId) -> Result<(Member, User)> {
        let r = self.resolve(who, source).await?;
        self.find_member(r.source, user_id).await?.ok_or(AppError::NotFound("Member"))
    }

    async fn find_member(&self, source: MemberSource, user_id: UserId) -> Result<Option<(Member, User)>> {
        let all = self.store.list_members(source, Page::ALL).await?;
        Ok(all.items.into_iter().find(|(m, _)| m.user_id == user_id))
    }

    pub async fn add_member(
        &self,
        who: &Principal,
        source: Source<'_>,
        user_id: UserId,
        level: AccessLevel,
    ) -> Result<(Member, User)> {
        let r = self.resolve(who, source).await?;
        self.authorize(who, &r, required_for(level))?;
        let user = self.store.user_by_id(user_id).await?.ok_or(AppError::NotFound("User"))?;
        match self.store.add_member(r.source, user_id, level, self.clock.now()).await {
            Ok(m) => {
                self.taken_over_by_hand(r.source, user_id).await?;
                let entry = r.entry(AuditAction::MemberAdded, &user).change("access_level", "", level.as_str());
                self.audit(who, entry).await;
                Ok((m, user))
            }
            Err(autogit_store::StoreError::Conflict(_)) => {
                Err(AppError::Conflict("member".into(), "already exists".into()))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn update_member(
        &self,
        who: &Principal,
        source: Source<'_>,
        user_id: UserId,
        level: AccessLevel,
    ) -> Result<(Member, User)> {
        let r = self.resolve(who, source).await?;
        let (current, _) = self.find_member(r.source, user_id).await?.ok_or(AppError::NotFound("Member"))?;
        self.authorize(who, &r, required_for(level.max(current.access_level)))?;
        if current.access_level == AccessLevel::Owner && level != AccessLevel::Owner {
            self.keep_an_owner(r.source, user_id).await?;
        }
        let m = self.store.update_member(r.source, user_id, level).await?;
        self.taken_over_by_hand(r.source, user_id).await?;
        let user = self.store.user_by_id(user_id).await?.ok_or(AppError::NotFound("User"))?;
        let entry = r.entry(AuditAction::MemberUpdated, &user).change(
            "access_level",
            current.access_level.as_str(),
            level.as_str(),
        );
        self.audit(who, entry).await;
        Ok((m, user))
    }

    pub async fn remove_member(&self, who: &Principal, source: Source<'_>, user_id: UserId) -> Result<()> {
        let r = self.resolve(who, source).await?;
        let (current, user) = self.find_member(r.source, user_id).await?.ok_or(AppError::NotFound("Member"))?;
        self.authorize(who, &r, required_for(current.access_level))?;
        if current.access_level == AccessLevel::Owner {
            self.keep_an_owner(r.source, user_id).await?;
        }
        self.store.remove_member(r.source, user_id).await?;
        self.taken_over_by_hand(r.source, user_id).await?;
        let entry =
            r.entry(AuditAction::MemberRemoved, &user).change("access_level", current.access_level.as_str(), "");
        self.audit(who, entry).await;
        Ok(())
    }

    /// A membership changed through the API is the administrator's from then on: single sign-on
    /// no longer changes or removes it (app `sso`).
    async fn taken_over_by_hand(&self, source: MemberSource, user_id: UserId) -> Result<()> {
        if let MemberSource::Namespace(ns) = source {
            self.store.mark_sso_membership(user_id, ns, false).await?;
        }
        Ok(())
    }

    /// Refuses to leave a group without a direct Owner.
    async fn keep_an_owner(&self, source: MemberSource, leaving: UserId) -> Result<()> {
        if !matches!(source, MemberSource::Namespace(_)) {
            return Ok(());
        }
        let members = self.store.list_members(source, Page::ALL).await?;
        if other_owners(&members.items, leaving) == 0 {
            return Err(AppError::Forbidden(Some("a group must keep at least one owner".into())));
        }
        Ok(())
    }
}

/// The direct Owners among `members` other than `user`.
pub(crate) fn other_owners(members: &[(Member, User)], user: UserId) -> usize {
    members.iter().filter(|(m, _)| m.access_level == AccessLevel::Owner && m.user_id != user).count()
}

impl Resolved {
    /// An audit entry on this source about `user`'s membership.
    fn entry(&self, action: AuditAction, user: &User) -> Entry {
        let on = match self.source {
            MemberSource::Namespace(id) => Entry::on(action, AuditEntity::Group, id.get(), &self.path),
            MemberSource::Project(id) => Entry::on(action, AuditEntity::Project, id.get(), &self.path),
        };
        on.target("User", user.id.get(), user.username.clone())
    }
}

/// Granting or touching the Owner role needs Owner; everything else needs Maintainer.
fn required_for(level: AccessLevel) -> Action {
    if level == AccessLevel::Owner { Action::Own } else { Action::Manage }
}
