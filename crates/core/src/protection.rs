//! Protected branches and tags: which refs a rule covers and whether a principal may update a
//! ref from one value to another, decided as GitLab decides it (`Gitlab::Checks::BranchCheck`;
//! tags in [`TagPolicy`], `Gitlab::Checks::TagCheck`).
//!
//! Rules name a branch (`main`) or a wildcard (`release/*`, where `*` matches any run of
//! characters, `/` included). When several rules match a branch the most permissive wins, as in
//! GitLab: pushing is allowed when any matching rule's push levels allow it, force pushing when
//! any matching rule allows it. Deleting a protected branch with `git push` is always refused
//! (GitLab keeps that for its web interface), and so is deleting the default branch, protected
//! or not.
//!
//! Everything here is pure: the transports gather the facts (the rules, the pusher's role, whether
//! an update is a fast-forward) and ask [`PushPolicy::decide`]. [`PushPolicy`] carries those
//! facts to the pre-receive hook as text ([`PushPolicy::encode`]), so every transport — HTTP and
//! SSH, and the API's writes — reaches the same decision through the same function.

mod policy_text;
mod tags;
#[cfg(test)]
mod tests;

pub use policy_text::PolicyTextError;
pub use tags::{TagPolicy, TagRule, tag_of};

use crate::AccessLevel;
use std::fmt;

/// Who a protected branch lets push or merge: GitLab's `ProtectedRefAccess` levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RefAccessLevel {
    /// Nobody, administrators included.
    NoOne = 0,
    /// Developers, maintainers and owners.
    Developer = 30,
    /// Maintainers and owners.
    Maintainer = 40,
    /// Instance administrators only.
    Admin = 60,
}

impl RefAccessLevel {
    pub const ALL: [RefAccessLevel; 4] =
        [RefAccessLevel::NoOne, RefAccessLevel::Developer, RefAccessLevel::Maintainer, RefAccessLevel::Admin];

    /// GitLab's number (`0`, `30`, `40`, `60`).
    pub fn value(self) -> i64 {
        self as i64
    }

    /// Anything but the four defined numbers is rejected.
    pub fn from_value(v: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.value() == v)
    }

    /// GitLab's `access_level_description`.
    pub fn description(self) -> &'static str {
        match self {
            RefAccessLevel::NoOne => "No one",
            RefAccessLevel::Developer => "Developers + Maintainers",
            RefAccessLevel::Maintainer => "Maintainers",
            RefAccessLevel::Admin => "Administrators",
        }
    }

    /// Whether this level lets `who` through. Administrators pass every level but `NoOne`.
    pub fn allows(self, who: Pusher) -> bool {
        match self {
            RefAccessLevel::NoOne => false,
            RefAccessLevel::Admin => who.admin,
            RefAccessLevel::Developer => who.admin || who.level >= Some(AccessLevel::Developer),
            RefAccessLevel::Maintainer => who.admin || who.level >= Some(AccessLevel::Maintainer),
        }
    }
}

/// The facts about the principal that a protection decision needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pusher {
    /// The effective role on the project (highest of direct and inherited memberships).
    pub level: Option<AccessLevel>,
    /// An instance administrator.
    pub admin: bool,
}

/// One protected-branch rule of a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BranchRule {
    /// A branch name, or a pattern with `*` wildcards.
    pub name: String,
    /// Who may push (any listed level suffices).
    pub push: Vec<RefAccessLevel>,
    /// Who may merge (any listed level suffices).
    pub merge: Vec<RefAccessLevel>,
    /// Whether those who may push may also rewrite history.
    pub allow_force_push: bool,
}

impl BranchRule {
    /// GitLab's default protection of a default branch: maintainers push and merge, no force push.
    pub fn default_branch(name: &str) -> BranchRule {
        BranchRule {
            name: name.to_string(),
            push: vec![RefAccessLevel::Maintainer],
            merge: vec![RefAccessLevel::Maintainer],
            allow_force_push: false,
        }
    }

    pub fn matches(&self, branch: &str) -> bool {
        pattern_matches(&self.name, branch)
    }
}

/// Whether a rule name is a wildcard pattern.
pub fn is_wildcard(pattern: &str) -> bool {
    pattern.contains('*')
}

/// GitLab's `RefMatcher`: an exact name matches itself; in a wildcard every `*` matches any run of
/// characters (slashes included) and the rest matches literally, anchored at both ends. An empty
/// pattern matches nothing. Case-sensitive, like git's ref names.
pub fn pattern_matches(pattern: &str, branch: &str) -> bool {
    if pattern.is_empty() {
        return false;
    }
    if !is_wildcard(pattern) {
        return pattern == branch;
    }
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = branch.strip_prefix(first) else { return false };
    let mut parts: Vec<&str> = parts.collect();
    // After at least one `*`: the last literal must end the name, the middle ones are found
    // leftmost-first (which is optimal for a pattern with only `*`).
    let last = parts.pop().unwrap_or_default();
    for part in parts {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// Why a rule name is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("can't be blank")]
    Empty,
    #[error("is too long (maximum is {MAX_PATTERN_LEN} characters)")]
    TooLong,
    #[error("'{0}' is not a valid branch name or wildcard")]
    Invalid(String),
}

/// The longest rule name accepted (GitLab's limit on branch names).
pub const MAX_PATTERN_LEN: usize = 255;

/// A branch name as git accepts it (`git check-ref-format --branch`), where `*` is also allowed
/// as a wildcard.
pub fn validate_pattern(name: &str) -> Result<(), PatternError> {
    if name.is_empty() {
        return Err(PatternError::Empty);
    }
    if name.len() > MAX_PATTERN_LEN {
        return Err(PatternError::TooLong);
    }
    let bad = name.starts_with('-')
        || name.starts_with('/')
        || name.ends_with('/')
        || name.ends_with(".lock")
        || name.ends_with('.')
        || name.contains("..")
        || name.contains("@{")
        || name == "@"
        || name.contains("//")
        || name.split('/').any(|c| c.starts_with('.'))
        || name.chars().any(|c| c.is_control() || " ~^:?[\\".contains(c));
    if bad { Err(PatternError::Invalid(name.chars().take(80).collect())) } else { Ok(()) }
}

/// What a ref update does, as the pre-receive hook sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefChange {
    /// The ref did not exist.
    Create,
    /// The old value is an ancestor of the new one.
    FastForward,
    /// History is rewritten: the old value is not an ancestor of the new one.
    Force,
    /// The ref goes away.
    Delete,
}

/// Why an update is refused. [`Refusal::message`] is GitLab's wording, which git clients show
/// after `remote: GitLab: `.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    DeleteDefault,
    ForcePush,
    DeleteNotMaintainer,
    DeleteOnlyInWeb,
    CreateNotAllowed,
    CreateOnlyInWeb,
    Push,
    TagNamedAsDefaultBranch,
    UpdateProtectedTag,
    DeleteTagNotMaintainer,
    DeleteTagOnlyInWeb,
    CreateProtectedTag,
}

impl Refusal {
    pub fn message(self) -> &'static str {
        match self {
            Refusal::DeleteDefault => "The default branch of a project cannot be deleted.",
            Refusal::ForcePush => "You are not allowed to force push code to a protected branch on this project.",
            Refusal::DeleteNotMaintainer => {
                "You are not allowed to delete protected branches from this project. \
                 Only a project maintainer or owner can delete a protected branch."
            }
            Refusal::DeleteOnlyInWeb => "You can only delete protected branches using the web interface.",
            Refusal::CreateNotAllowed => "You are not allowed to create protected branches on this project.",
            Refusal::CreateOnlyInWeb => "You can only create protected branches using the web interface and API.",
            Refusal::Push => "You are not allowed to push code to protected branches on this project.",
            Refusal::TagNamedAsDefaultBranch => "You cannot use default branch name to create a tag",
            Refusal::UpdateProtectedTag => "Protected tags cannot be updated.",
            Refusal::DeleteTagNotMaintainer => {
                "You are not allowed to delete protected tags from this project. \
                 Only a project maintainer or owner can delete a protected tag."
            }
            Refusal::DeleteTagOnlyInWeb => "You can only delete protected tags using the web interface.",
            Refusal::CreateProtectedTag => "You are not allowed to create this tag as it is protected.",
        }
    }
}

impl Refusal {
    /// The refusals that exist only to send people to the web and API: the API's writes are
    /// allowed what these refuse.
    pub fn only_in_web(self) -> bool {
        matches!(self, Refusal::CreateOnlyInWeb | Refusal::DeleteOnlyInWeb | Refusal::DeleteTagOnlyInWeb)
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

/// The branch name of a full ref name (`refs/heads/main` → `main`); `None` for tags and others.
pub fn branch_of(refname: &str) -> Option<&str> {
    refname.strip_prefix("refs/heads/").filter(|b| !b.is_empty())
}

/// A project's protected branches and its default branch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BranchPolicy {
    pub default_branch: Option<String>,
    pub rules: Vec<BranchRule>,
}

impl BranchPolicy {
    /// The rules that cover `branch`.
    pub fn matching<'a>(&'a self, branch: &'a str) -> impl Iterator<Item = &'a BranchRule> + 'a {
        self.rules.iter().filter(move |r| r.matches(branch))
    }

    pub fn is_protected(&self, branch: &str) -> bool {
        self.matching(branch).next().is_some()
    }

    /// Whether `who` may push to `branch` (anyone who may write the repository, when unprotected).
    pub fn may_push(&self, who: Pusher, branch: &str) -> bool {
        !self.is_protected(branch) || self.matching(branch).any(|r| r.push.iter().any(|l| l.allows(who)))
    }

    /// Whether `who` may merge into `branch`.
    pub fn may_merge(&self, who: Pusher, branch: &str) -> bool {
        !self.is_protected(branch) || self.matching(branch).any(|r| r.merge.iter().any(|l| l.allows(who)))
    }

    /// GitLab's `can_update_branch?`: push or merge. This is what makes a pipeline of a protected
    /// branch protected for its user.
    pub fn may_update(&self, who: Pusher, branch: &str) -> bool {
        self.may_push(who, branch) || self.may_merge(who, branch)
    }

    /// Whether a matching rule allows force pushes (unprotected branches always do).
    pub fn force_push_allowed(&self, branch: &str) -> bool {
        !self.is_protected(branch) || self.matching(branch).any(|r| r.allow_force_push)
    }

    /// Whether an update of `refname` can be refused at all, so that transports can skip the
    /// hook for pushes that touch no such ref.
    pub fn needs_check(&self, refname: &str) -> bool {
        branch_of(refname).is_some_and(|b| self.default_branch.as_deref() == Some(b) || self.is_protected(b))
    }

    /// Whether the decision for `refname` depends on fast-forward or not: only for protected
    /// branches that no rule opens to force pushes (the ancestry check costs a git process).
    pub fn needs_ancestry(&self, refname: &str) -> bool {
        branch_of(refname).is_some_and(|b| self.is_protected(b) && !self.force_push_allowed(b))
    }

    /// May `who` make this change to `refname`? Refs other than branches are not decided here.
    /// The checks run in GitLab's order, so the first refusal is the message GitLab would give.
    pub fn decide(&self, who: Pusher, refname: &str, change: RefChange) -> Result<(), Refusal> {
        let Some(branch) = branch_of(refname) else { return Ok(()) };
        if change == RefChange::Delete && self.default_branch.as_deref() == Some(branch) {
            return Err(Refusal::DeleteDefault);
        }
        if !self.is_protected(branch) {
            return Ok(());
        }
        if change == RefChange::Force && !self.force_push_allowed(branch) {
            return Err(Refusal::ForcePush);
        }
        match change {
            RefChange::Create if !self.may_push(who, branch) => {
                return Err(if self.may_merge(who, branch) {
                    Refusal::CreateOnlyInWeb
                } else {
                    Refusal::CreateNotAllowed
                });
            }
            RefChange::Delete => {
                let maintainer = who.admin || who.level >= Some(AccessLevel::Maintainer);
                return Err(if maintainer { Refusal::DeleteOnlyInWeb } else { Refusal::DeleteNotMaintainer });
            }
            _ => {}
        }
        if !self.may_push(who, branch) {
            return Err(Refusal::Push);
        }
        Ok(())
    }

    /// The same policy with only the rules that cover one of `refnames`: what a hook needs for
    /// one push, without the project's other rules.
    pub fn for_refs<'a>(&self, refnames: impl IntoIterator<Item = &'a str>) -> BranchPolicy {
        let branches: Vec<&str> = refnames.into_iter().filter_map(branch_of).collect();
        BranchPolicy {
            default_branch: self.default_branch.clone(),
            rules: self.rules.iter().filter(|r| branches.iter().any(|b| r.matches(b))).cloned().collect(),
        }
    }
}

/// Everything the pre-receive hook needs to decide one push: the pusher and the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushPolicy {
    pub pusher: Pusher,
    pub branches: BranchPolicy,
    pub tags: TagPolicy,
}

impl PushPolicy {
    pub fn decide(&self, refname: &str, change: RefChange) -> Result<(), Refusal> {
        self.branches.decide(self.pusher, refname, change)?;
        self.tags.decide(self.pusher, refname, change)
    }
}
