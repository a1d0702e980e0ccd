//! Groups: nestable namespaces with members and a visibility that bounds their children.

use crate::audit::Entry;
use crate::error::invalid_name;
use crate::{App, AppError, Principal, Result};
use autogit_core::NamespaceId;
use autogit_core::access::{Action, decide};
use autogit_core::audit::AuditAction;
use autogit_core::repo_path::{Ref, parse_ref};
use autogit_core::{AccessLevel, Decision, Visibility, access, name};
use autogit_store::{AccessFilter, GroupFilter, Listed, MemberSource, Namespace, NamespaceKind, NewGroup, Page};

#[derive(Debug, Clone, Default)]
pub struct CreateGroup {
    pub name: String,
    /// Defaults to a path derived from the name.
    pub path: Option<String>,
    pub parent_id: Option<NamespaceId>,
    /// Defaults to private.
    pub visibility: Option<Visibility>,
    pub description: String,
}

impl App {
    /// Creates a group; its creator becomes its Owner. Any user but an external one may create a
    /// top-level group; a subgroup needs the CreateSubgroup right on its parent.
    pub async fn create_group(&self, who: &Principal, req: CreateGroup) -> Result<Namespace> {
        let user = who.user()?;
        name::validate_display_name("name", &req.name).map_err(invalid_name("name"))?;
        let path = req.path.clone().unwrap_or_else(|| name::path_from_name(&req.name));
        let visibility = req.visibility.unwrap_or(Visibility::Private);
        match req.parent_id {
            None if user.external && !user.is_admin => {
                return Err(AppError::Forbidden(Some("external users cannot create top-level groups".into())));
            }
            None => name::validate_top_level_path("path", &path).map_err(invalid_name("path"))?,
            Some(parent_id) => {
                name::validate_path("path", &path).map_err(invalid_name("path"))?;
                let parent = self.group_by_id(parent_id).await?;
                self.authorize_namespace(who, &parent, Action::CreateSubgroup).await?;
                if self.store.namespace_ancestry(parent.id).await?.len() >= name::MAX_DEPTH {
                    return Err(AppError::Invalid("parent_id", name::NameError::TooDeep.to_string()));
                }
                check_visibility_within(visibility, parent.visibility, "parent group")?;
            }
        }
        let new = NewGroup { name: req.name, path, parent_id: req.parent_id, visibility, description: req.description };
        let group = self.store.create_group(&new, Some(user.id), self.clock.now()).await?;
        self.audit(who, Entry::group(AuditAction::GroupCreated, &group)).await;
        Ok(group)
    }

    /// A group by id or full path, if the principal may see it.
    pub async fn get_group(&self, who: &Principal, group_ref: &str) -> Result<Namespace> {
        let group = match parse_ref(group_ref).map_err(|_| AppError::NotFound("Group"))? {
            Ref::Id(id) => self.store.namespace_by_id(NamespaceId::new(id)).await?,
            Ref::Path(p) => self.store.namespace_by_full_path(&p).await?,
        }
        .filter(|n| n.kind == NamespaceKind::Group)
        .ok_or(AppError::NotFound("Group"))?;
        self.authorize_namespace(who, &group, Action::View).await?;
        Ok(group)
    }

    async fn group_by_id(&self, id: NamespaceId) -> Result<Namespace> {
        self.store
            .namespace_by_id(id)
            .await?
            .filter(|n| n.kind == NamespaceKind::Group)
            .ok_or(AppError::NotFound("Group"))
    }

    pub async fn list_groups(&self, who: &Principal, mut filter: GroupFilter, page: Page) -> Result<Listed<Namespace>> {
        let member_only = filter.access.membership_only;
        filter.access = access_filter(who);
        filter.access.membership_only = member_only && who.user.is_some();
        Ok(self.store.list_groups(&filter, page).await?)
    }

    /// The principal's effective role on a namespace (inherited from ancestors, owner of a
    /// personal namespace counts as Owner).
    pub async fn namespace_level(&self, who: &Principal, ns: &Namespace) -> Result<Option<AccessLevel>> {
        let Some(uid) = who.actor.user_id() else { return Ok(None) };
        let levels = self.store.applicable_levels(MemberSource::Namespace(ns.id), uid).await?;
        Ok(access::effective_level(levels))
    }

    pub(crate) async fn authorize_namespace(&self, who: &Principal, ns: &Namespace, action: Action) -> Result<()> {
        let level = self.namespace_level(who, ns).await?;
        to_result(decide(who.actor, ns.visibility, level, action), "Group")
    }
}

/// Which records a principal may list.
pub(crate) fn access_filter(who: &Principal) -> AccessFilter {
    match who.actor {
        autogit_core::Actor::Anonymous => {
            AccessFilter { min_visibility: Some(Visibility::Public), ..AccessFilter::default() }
        }
        autogit_core::Actor::User { admin: true, .. } => AccessFilter { all: true, ..AccessFilter::default() },
        // External users see internal records only through a membership.
        autogit_core::Actor::User { id, external: true, .. } => {
            AccessFilter { min_visibility: Some(Visibility::Public), member_id: Some(id), ..AccessFilter::default() }
        }
        autogit_core::Actor::User { id, .. } => {
            AccessFilter { min_visibility: Some(Visibility::Internal), member_id: Some(id), ..AccessFilter::default() }
        }
    }
}

/// Turns a policy decision into the error the API shows.
pub(crate) fn to_result(d: Decision, what: &'static str) -> Result<()> {
    match d {
        Decision::Allow => Ok(()),
        Decision::Hidden => Err(AppError::NotFound(what)),
        Decision::Forbidden => Err(AppError::Forbidden(None)),
    }
}

/// A child may not be more visible than what contains it.
pub(crate) fn check_visibility_within(child: Visibility, parent: Visibility, parent_what: &str) -> Result<()> {
    if child > parent {
        return Err(AppError::Invalid(
            "visibility_level",
            format!("{child} is not allowed since the {parent_what} has a {parent} visibility"),
        ));
    }
    Ok(())
}
