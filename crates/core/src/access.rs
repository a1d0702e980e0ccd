//! The access policy: who may do what to a project or group, given its visibility and the actor's role.
//!
//! This is the single place where roles and visibility turn into allow/deny. Callers compute the
//! actor's effective role (the highest of direct and inherited memberships, see [`effective_level`])
//! and ask [`decide`]. The authorization matrix test at the bottom pins every combination.

use crate::{AccessLevel, UserId, Visibility};

/// Who is asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// No credentials.
    Anonymous,
    /// A signed-in, active user; `external` (GitLab's external user) sees internal projects and
    /// groups only where it holds a role.
    User { id: UserId, admin: bool, external: bool },
}

impl Actor {
    pub fn user_id(self) -> Option<UserId> {
        match self {
            Actor::Anonymous => None,
            Actor::User { id, .. } => Some(id),
        }
    }

    pub fn is_admin(self) -> bool {
        matches!(self, Actor::User { admin: true, .. })
    }
}

/// Something an actor does to a project or group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// See that it exists: metadata, member list.
    View,
    /// Read code: clone, fetch, browse files, branches, commits.
    ReadRepository,
    /// Push to the repository.
    WriteRepository,
    /// Create a project inside a group.
    CreateProject,
    /// Create a subgroup.
    CreateSubgroup,
    /// Change settings, add and remove members.
    Manage,
    /// Delete it, or grant the owner role.
    Own,
}

impl Action {
    pub const ALL: [Action; 7] = [
        Action::View,
        Action::ReadRepository,
        Action::WriteRepository,
        Action::CreateProject,
        Action::CreateSubgroup,
        Action::Manage,
        Action::Own,
    ];
}

/// The answer to "may this actor do this?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// The actor may not even see the resource: answer as if it did not exist, so that private
    /// names do not leak (HTTP 404, or 401 to anonymous clients so that they can sign in).
    Hidden,
    /// The actor may see it but not do this (HTTP 403).
    Forbidden,
}

impl Decision {
    pub fn is_allowed(self) -> bool {
        self == Decision::Allow
    }
}

/// The effective role from all memberships that apply (project and every ancestor group):
/// roles are inherited downward, and the highest one wins.
pub fn effective_level(levels: impl IntoIterator<Item = AccessLevel>) -> Option<AccessLevel> {
    levels.into_iter().max()
}

/// Whether the actor can see something of this visibility at all, given its effective role.
fn can_view(actor: Actor, visibility: Visibility, level: Option<AccessLevel>) -> bool {
    if actor.is_admin() || level.is_some() {
        return true;
    }
    match visibility {
        Visibility::Public => true,
        Visibility::Internal => matches!(actor, Actor::User { external: false, .. }),
        Visibility::Private => false,
    }
}

/// Decides whether `actor`, holding `level` (effective, may be `None`), may perform `action` on a
/// project or group of `visibility`.
pub fn decide(actor: Actor, visibility: Visibility, level: Option<AccessLevel>, action: Action) -> Decision {
    if !can_view(actor, visibility, level) {
        return Decision::Hidden;
    }
    if actor.is_admin() {
        return Decision::Allow;
    }
    let allowed = match action {
        Action::View => true,
        // Guests of a private project see it but not its code; on internal and public projects
        // everyone who can see the project can read the code, as in GitLab.
        Action::ReadRepository => match visibility {
            Visibility::Private => level >= Some(AccessLevel::Reporter),
            Visibility::Internal | Visibility::Public => true,
        },
        Action::WriteRepository | Action::CreateProject => level >= Some(AccessLevel::Developer),
        Action::CreateSubgroup | Action::Manage => level >= Some(AccessLevel::Maintainer),
        Action::Own => level >= Some(AccessLevel::Owner),
    };
    if allowed { Decision::Allow } else { Decision::Forbidden }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AccessLevel::*;
    use Decision::*;
    use Visibility::*;

    /// The full matrix: every role (plus none, anonymous and admin) × every visibility × every action.
    /// Each row is written out by hand so that a policy change shows up as a diff here.
    #[test]
    fn authorization_matrix() {
        // (who, visibility, [View, ReadRepository, WriteRepository, CreateProject, CreateSubgroup, Manage, Own])
        let a = Allow;
        let h = Hidden;
        let f = Forbidden;
        let rows: &[(&str, Visibility, [Decision; 7])] = &[
            ("anonymous", Private, [h, h, h, h, h, h, h]),
            ("anonymous", Internal, [h, h, h, h, h, h, h]),
            ("anonymous", Public, [a, a, f, f, f, f, f]),
            ("no-role", Private, [h, h, h, h, h, h, h]),
            ("no-role", Internal, [a, a, f, f, f, f, f]),
            ("no-role", Public, [a, a, f, f, f, f, f]),
            ("guest", Private, [a, f, f, f, f, f, f]),
            ("guest", Internal, [a, a, f, f, f, f, f]),
            ("guest", Public, [a, a, f, f, f, f, f]),
            ("reporter", Private, [a, a, f, f, f, f, f]),
            ("reporter", Internal, [a, a, f, f, f, f, f]),
            ("reporter", Public, [a, a, f, f, f, f, f]),
            ("developer", Private, [a, a, a, a, f, f, f]),
            ("developer", Internal, [a, a, a, a, f, f, f]),
            ("developer", Public, [a, a, a, a, f, f, f]),
            ("maintainer", Private, [a, a, a, a, a, a, f]),
            ("maintainer", Internal, [a, a, a, a, a, a, f]),
            ("maintainer", Public, [a, a, a, a, a, a, f]),
            ("owner", Private, [a, a, a, a, a, a, a]),
            ("owner", Internal, [a, a, a, a, a, a, a]),
            ("owner", Public, [a, a, a, a, a, a, a]),
            ("admin", Private, [a, a, a, a, a, a, a]),
            ("admin", Internal, [a, a, a, a, a, a, a]),
            ("admin", Public, [a, a, a, a, a, a, a]),
            ("external", Private, [h, h, h, h, h, h, h]),
            ("external", Internal, [h, h, h, h, h, h, h]),
            ("external", Public, [a, a, f, f, f, f, f]),
            ("external-developer", Private, [a, a, a, a, f, f, f]),
            ("external-developer", Internal, [a, a, a, a, f, f, f]),
            ("external-developer", Public, [a, a, a, a, f, f, f]),
        ];
        assert_eq!(rows.len(), 10 * 3, "every actor kind × every visibility");
        for (who, vis, expected) in rows {
            let (actor, level) = match *who {
                "anonymous" => (Actor::Anonymous, None),
                "no-role" => (Actor::User { id: UserId::new(7), admin: false, external: false }, None),
                "admin" => (Actor::User { id: UserId::new(1), admin: true, external: false }, None),
                "external" => (Actor::User { id: UserId::new(8), admin: false, external: true }, None),
                "external-developer" => {
                    (Actor::User { id: UserId::new(8), admin: false, external: true }, Some(Developer))
                }
                role => (Actor::User { id: UserId::new(7), admin: false, external: false }, AccessLevel::parse(role)),
            };
            for (action, want) in Action::ALL.iter().zip(expected) {
                assert_eq!(decide(actor, *vis, level, *action), *want, "{who} on {vis} project: {action:?}");
            }
        }
    }

    #[test]
    fn inherited_roles_take_the_highest() {
        assert_eq!(effective_level([Guest, Maintainer, Developer]), Some(Maintainer));
        assert_eq!(effective_level([]), None);
    }
}
