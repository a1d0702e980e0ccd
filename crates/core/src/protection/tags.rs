//! Protected tags as GitLab decides them (`Gitlab::Checks::TagCheck`): a rule names a tag or a
//! wildcard (matched as branch rules are) and the levels allowed to create matching tags. A
//! protected tag is never moved; deleting one is for maintainers and, as with protected branches,
//! only through the web and API. Creating a tag named as the default branch is refused whether or
//! not it is protected (a ref name both could resolve to would be ambiguous).

use super::{Pusher, RefAccessLevel, RefChange, Refusal, pattern_matches};
use crate::AccessLevel;

/// One protected-tag rule of a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRule {
    /// A tag name, or a pattern with `*` wildcards.
    pub name: String,
    /// Who may create matching tags (any listed level suffices).
    pub create: Vec<RefAccessLevel>,
}

impl TagRule {
    pub fn matches(&self, tag: &str) -> bool {
        pattern_matches(&self.name, tag)
    }
}

/// The tag name of a full ref name (`refs/tags/v1` → `v1`); `None` for branches and others.
pub fn tag_of(refname: &str) -> Option<&str> {
    refname.strip_prefix("refs/tags/").filter(|t| !t.is_empty())
}

/// A project's protected tags, and its default branch (for the name-collision check).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagPolicy {
    pub default_branch: Option<String>,
    pub rules: Vec<TagRule>,
}

impl TagPolicy {
    pub fn matching<'a>(&'a self, tag: &'a str) -> impl Iterator<Item = &'a TagRule> + 'a {
        self.rules.iter().filter(move |r| r.matches(tag))
    }

    pub fn is_protected(&self, tag: &str) -> bool {
        self.matching(tag).next().is_some()
    }

    /// GitLab's `can_create_tag?` for a push that may write the repository: anyone for an
    /// unprotected tag, else any matching rule's create levels (the most permissive wins).
    pub fn may_create(&self, who: Pusher, tag: &str) -> bool {
        !self.is_protected(tag) || self.matching(tag).any(|r| r.create.iter().any(|l| l.allows(who)))
    }

    /// Whether an update of `refname` can be refused by this policy.
    pub fn needs_check(&self, refname: &str) -> bool {
        tag_of(refname).is_some_and(|t| self.default_branch.as_deref() == Some(t) || self.is_protected(t))
    }

    /// May `who` make this change to `refname`? Refs other than tags are not decided here. The
    /// checks run in GitLab's order, so the first refusal is GitLab's message.
    pub fn decide(&self, who: Pusher, refname: &str, change: RefChange) -> Result<(), Refusal> {
        let Some(tag) = tag_of(refname) else { return Ok(()) };
        if change == RefChange::Create && self.default_branch.as_deref() == Some(tag) {
            return Err(Refusal::TagNamedAsDefaultBranch);
        }
        if !self.is_protected(tag) {
            return Ok(());
        }
        match change {
            RefChange::FastForward | RefChange::Force => Err(Refusal::UpdateProtectedTag),
            RefChange::Delete => {
                let maintainer = who.admin || who.level >= Some(AccessLevel::Maintainer);
                Err(if maintainer { Refusal::DeleteTagOnlyInWeb } else { Refusal::DeleteTagNotMaintainer })
            }
            RefChange::Create if !self.may_create(who, tag) => Err(Refusal::CreateProtectedTag),
            RefChange::Create => Ok(()),
        }
    }

    /// The same policy with only the rules that cover one of `refnames`.
    pub fn for_refs<'a>(&self, refnames: impl IntoIterator<Item = &'a str>) -> TagPolicy {
        let tags: Vec<&str> = refnames.into_iter().filter_map(tag_of).collect();
        TagPolicy {
            default_branch: self.default_branch.clone(),
            rules: self.rules.iter().filter(|r| tags.iter().any(|t| r.matches(t))).cloned().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AccessLevel::*;
    use RefChange::*;

    fn who(level: Option<AccessLevel>) -> Pusher {
        Pusher { level, admin: false }
    }

    fn policy() -> TagPolicy {
        TagPolicy {
            default_branch: Some("main".into()),
            rules: vec![
                TagRule { name: "v*".into(), create: vec![RefAccessLevel::Maintainer] },
                TagRule { name: "rc-*".into(), create: vec![RefAccessLevel::Developer] },
                TagRule { name: "frozen".into(), create: vec![RefAccessLevel::NoOne] },
            ],
        }
    }

    #[test]
    fn protected_tags_as_gitlab_decides_them() {
        let p = policy();
        let dev = who(Some(Developer));
        let maint = who(Some(Maintainer));
        let admin = Pusher { level: None, admin: true };
        let cases = [
            (dev, "refs/tags/v1.0", Create, Err(Refusal::CreateProtectedTag)),
            (maint, "refs/tags/v1.0", Create, Ok(())),
            (admin, "refs/tags/v1.0", Create, Ok(())),
            (dev, "refs/tags/rc-1", Create, Ok(())),
            (maint, "refs/tags/frozen", Create, Err(Refusal::CreateProtectedTag)),
            (admin, "refs/tags/frozen", Create, Err(Refusal::CreateProtectedTag)),
            (maint, "refs/tags/v1.0", FastForward, Err(Refusal::UpdateProtectedTag)),
            (admin, "refs/tags/v1.0", Force, Err(Refusal::UpdateProtectedTag)),
            (dev, "refs/tags/v1.0", Delete, Err(Refusal::DeleteTagNotMaintainer)),
            (maint, "refs/tags/v1.0", Delete, Err(Refusal::DeleteTagOnlyInWeb)),
            (dev, "refs/tags/other", Force, Ok(())),
            (dev, "refs/tags/other", Delete, Ok(())),
            (maint, "refs/tags/main", Create, Err(Refusal::TagNamedAsDefaultBranch)),
            (maint, "refs/tags/main", Delete, Ok(())),
            (dev, "refs/heads/v1.0", Create, Ok(())),
        ];
        for (pusher, refname, change, want) in cases {
            assert_eq!(p.decide(pusher, refname, change), want, "{pusher:?} {refname} {change:?}");
        }
    }

    #[test]
    fn the_most_permissive_matching_rule_wins() {
        let mut p = policy();
        p.rules.push(TagRule { name: "v2*".into(), create: vec![RefAccessLevel::Developer] });
        let dev = who(Some(Developer));
        assert!(p.may_create(dev, "v2.0"));
        assert!(!p.may_create(dev, "v1.0"));
        assert!(p.may_create(who(Some(Reporter)), "unprotected"));
    }

    #[test]
    fn only_rules_and_names_that_can_refuse_are_checked() {
        let p = policy();
        assert!(p.needs_check("refs/tags/v1"));
        assert!(p.needs_check("refs/tags/main"));
        assert!(!p.needs_check("refs/tags/x"));
        assert!(!p.needs_check("refs/heads/v1"));
        let slim = p.for_refs(["refs/tags/v1", "refs/heads/rc-1"]);
        assert_eq!(slim.rules.len(), 1);
        assert_eq!(slim.rules[0].name, "v*");
    }
}
