//! The protection decision pinned by hand (every role × every change on the default rule) and
//! checked for its general properties with proptest.

use super::*;
use AccessLevel::*;
use RefChange::*;
use proptest::prelude::*;

fn who(level: Option<AccessLevel>) -> Pusher {
    Pusher { level, admin: false }
}

const ADMIN: Pusher = Pusher { level: None, admin: true };

fn default_policy() -> BranchPolicy {
    BranchPolicy { default_branch: Some("main".into()), rules: vec![BranchRule::default_branch("main")] }
}

#[test]
fn gitlab_wildcards() {
    let cases = [
        ("main", "main", true),
        ("main", "main2", false),
        ("main", "Main", false),
        ("release/*", "release/1.0", true),
        ("release/*", "release/1.0/hotfix", true),
        ("release/*", "release/", true),
        ("release/*", "release", false),
        ("release/*", "xrelease/1", false),
        ("*-stable", "1-0-stable", true),
        ("*-stable", "1-0-stable-x", false),
        ("*", "anything/at/all", true),
        ("v1.*", "v1.x", true),
        ("v1.*", "v1x", false),
        ("a*b*c", "abc", true),
        ("a*b*c", "aXbYc", true),
        ("a*b*c", "acb", false),
        ("ab*ba", "aba", false),
        ("ab*ba", "abba", true),
        ("*a*", "bab", true),
        ("feature.x", "featureAx", false),
        ("", "main", false),
    ];
    for (pattern, branch, want) in cases {
        assert_eq!(pattern_matches(pattern, branch), want, "{pattern:?} vs {branch:?}");
    }
}

#[test]
fn patterns_are_validated() {
    for ok in ["main", "release/*", "*-stable", "*", "feature/a.b", "v1.*"] {
        assert_eq!(validate_pattern(ok), Ok(()), "{ok}");
    }
    for bad in ["", "-x", "/x", "x/", "a..b", "a b", "x.lock", "a\nb", "a:b", "a[b", "a~b", "@", "a@{b", ".x", "a/.b"] {
        assert!(validate_pattern(bad).is_err(), "{bad:?} accepted");
    }
    assert_eq!(validate_pattern(&"x".repeat(256)), Err(PatternError::TooLong));
}

/// The default protection of `main`, every role × every change, written out by hand.
#[test]
fn default_branch_decisions() {
    use Refusal::*;
    let p = default_policy();
    type Row = (&'static str, Pusher, [Result<(), Refusal>; 4]);
    let rows: &[Row] = &[
        // who, [Create, FastForward, Force, Delete]
        ("no role", who(None), [Err(CreateNotAllowed), Err(Push), Err(ForcePush), Err(DeleteDefault)]),
        ("guest", who(Some(Guest)), [Err(CreateNotAllowed), Err(Push), Err(ForcePush), Err(DeleteDefault)]),
        ("reporter", who(Some(Reporter)), [Err(CreateNotAllowed), Err(Push), Err(ForcePush), Err(DeleteDefault)]),
        ("developer", who(Some(Developer)), [Err(CreateNotAllowed), Err(Push), Err(ForcePush), Err(DeleteDefault)]),
        ("maintainer", who(Some(Maintainer)), [Ok(()), Ok(()), Err(ForcePush), Err(DeleteDefault)]),
        ("owner", who(Some(Owner)), [Ok(()), Ok(()), Err(ForcePush), Err(DeleteDefault)]),
        ("admin", ADMIN, [Ok(()), Ok(()), Err(ForcePush), Err(DeleteDefault)]),
    ];
    for (name, pusher, want) in rows {
        let got = [Create, FastForward, Force, Delete].map(|c| p.decide(*pusher, "refs/heads/main", c));
        assert_eq!(&got, want, "{name}");
    }
}

#[test]
fn protected_non_default_branches() {
    let mut p = default_policy();
    p.rules.push(BranchRule {
        name: "release/*".into(),
        push: vec![RefAccessLevel::Developer],
        merge: vec![RefAccessLevel::Maintainer],
        allow_force_push: true,
    });
    p.rules.push(BranchRule {
        name: "frozen".into(),
        push: vec![RefAccessLevel::NoOne],
        merge: vec![RefAccessLevel::Developer],
        allow_force_push: false,
    });
    p.rules.push(BranchRule {
        name: "ops".into(),
        push: vec![RefAccessLevel::Admin],
        merge: vec![RefAccessLevel::NoOne],
        allow_force_push: false,
    });
    let dev = who(Some(Developer));
    let maint = who(Some(Maintainer));
    assert_eq!(p.decide(dev, "refs/heads/release/1", Force), Ok(()), "force allowed by the rule");
    assert_eq!(p.decide(dev, "refs/heads/release/1", Create), Ok(()));
    assert_eq!(p.decide(dev, "refs/heads/release/1", Delete), Err(Refusal::DeleteNotMaintainer));
    assert_eq!(p.decide(maint, "refs/heads/release/1", Delete), Err(Refusal::DeleteOnlyInWeb));
    assert_eq!(p.decide(ADMIN, "refs/heads/frozen", FastForward), Err(Refusal::Push), "no one means no one");
    assert_eq!(p.decide(dev, "refs/heads/frozen", Create), Err(Refusal::CreateOnlyInWeb), "merge-only creates");
    assert_eq!(p.decide(ADMIN, "refs/heads/ops", FastForward), Ok(()));
    assert_eq!(p.decide(who(Some(Owner)), "refs/heads/ops", FastForward), Err(Refusal::Push));
    // Unprotected branches and other refs are not this policy's business.
    for change in [Create, FastForward, Force, Delete] {
        assert_eq!(p.decide(dev, "refs/heads/feature", change), Ok(()));
        assert_eq!(p.decide(who(None), "refs/tags/v1", change), Ok(()));
    }
    assert!(p.needs_check("refs/heads/main") && p.needs_check("refs/heads/release/x"));
    assert!(!p.needs_check("refs/heads/feature") && !p.needs_check("refs/tags/main"));
}

#[test]
fn most_permissive_rule_wins() {
    let p = BranchPolicy {
        default_branch: None,
        rules: vec![
            BranchRule {
                name: "v*".into(),
                push: vec![RefAccessLevel::NoOne],
                merge: vec![RefAccessLevel::NoOne],
                allow_force_push: false,
            },
            BranchRule {
                name: "v1.x".into(),
                push: vec![RefAccessLevel::Developer],
                merge: vec![],
                allow_force_push: true,
            },
        ],
    };
    let dev = who(Some(Developer));
    assert_eq!(p.decide(dev, "refs/heads/v1.x", Force), Ok(()));
    assert_eq!(p.decide(dev, "refs/heads/v2", FastForward), Err(Refusal::Push));
    assert_eq!(p.decide(dev, "refs/heads/v2", Force), Err(Refusal::ForcePush));
}

#[test]
fn an_unprotected_default_branch_can_still_not_be_deleted() {
    let p = BranchPolicy { default_branch: Some("main".into()), rules: vec![] };
    let dev = who(Some(Developer));
    assert_eq!(p.decide(dev, "refs/heads/main", Delete), Err(Refusal::DeleteDefault));
    assert_eq!(p.decide(dev, "refs/heads/main", Force), Ok(()));
    assert!(p.needs_check("refs/heads/main") && !p.needs_ancestry("refs/heads/main"));
}

#[test]
fn policy_text_round_trips_and_rejects_garbage() {
    let mut p = default_policy();
    p.rules.push(BranchRule {
        name: "release/* with space".into(),
        push: vec![RefAccessLevel::Developer, RefAccessLevel::Maintainer],
        merge: vec![],
        allow_force_push: true,
    });
    let tags = TagPolicy {
        default_branch: p.default_branch.clone(),
        rules: vec![
            TagRule { name: "v*".into(), create: vec![RefAccessLevel::Maintainer] },
            TagRule { name: "frozen tag".into(), create: vec![] },
        ],
    };
    let policy = PushPolicy { pusher: who(Some(Developer)), branches: p, tags };
    let text = policy.encode().expect("encodes");
    assert_eq!(PushPolicy::decode(&text), Ok(policy.clone()));
    for bad in [
        "",
        "autogit-push-policy 2\npusher - 0\n",
        "autogit-push-policy 1\n",
        "autogit-push-policy 1\npusher 35 0\n",
        "autogit-push-policy 1\npusher - 2\n",
        "autogit-push-policy 1\npusher - 0\nrule 0 40 40\n",
        "autogit-push-policy 1\npusher - 0\nrule 0 41 40 main\n",
        "autogit-push-policy 1\npusher - 0\ntag 40\n",
        "autogit-push-policy 1\npusher - 0\ntag 40 \n",
        "autogit-push-policy 1\npusher - 0\ntag 45 v*\n",
        "autogit-push-policy 1\npusher - 0\ntag 40 a\rb\n",
        "autogit-push-policy 1\npusher - 0\nrule 0 40 40 a\0b\n",
        "autogit-push-policy 1\npusher - 0\nwhat ever\n",
        "autogit-push-policy 1\npusher - 0\npusher 40 0\n",
    ] {
        assert!(PushPolicy::decode(bad).is_err(), "{bad:?} accepted");
    }
    let mut evil = policy;
    evil.branches.default_branch = Some("main\nrule 1 30 30 *".into());
    assert_eq!(evil.encode(), Err(PolicyTextError::Unencodable));
}

fn level() -> impl Strategy<Value = Option<AccessLevel>> {
    prop::option::of(prop::sample::select(AccessLevel::ALL.to_vec()))
}

fn ref_level() -> impl Strategy<Value = RefAccessLevel> {
    prop::sample::select(RefAccessLevel::ALL.to_vec())
}

fn segment() -> impl Strategy<Value = String> {
    "[a-c]{1,3}"
}

fn rule() -> impl Strategy<Value = BranchRule> {
    (
        prop::collection::vec(prop_oneof![segment(), Just("*".to_string())], 1..4),
        prop::collection::vec(ref_level(), 0..3),
        prop::collection::vec(ref_level(), 0..3),
        any::<bool>(),
    )
        .prop_map(|(parts, push, merge, allow_force_push)| BranchRule {
            name: parts.join(""),
            push,
            merge,
            allow_force_push,
        })
}

fn change() -> impl Strategy<Value = RefChange> {
    prop::sample::select(vec![Create, FastForward, Force, Delete])
}

proptest! {
    /// A wildcard made from a name by replacing any slice with `*` matches that name; a name with
    /// no `*` matches only itself.
    #[test]
    fn wildcards_match_what_they_were_cut_from(name in "[a-z/.-]{1,12}", a in 0usize..12, b in 0usize..12) {
        let (a, b) = (a.min(name.len()), b.min(name.len()));
        let (a, b) = (a.min(b), a.max(b));
        let pattern = format!("{}*{}", &name[..a], &name[b..]);
        prop_assert!(pattern_matches(&pattern, &name));
        prop_assert!(pattern_matches(&name, &name));
        let other = format!("{name}x");
        prop_assert!(!pattern_matches(&name, &other));
    }

    /// A higher role is never refused what a lower one is allowed, and administrators get what
    /// any role gets.
    #[test]
    fn decisions_are_monotonic_in_the_role(
        rules in prop::collection::vec(rule(), 0..4),
        branch in "[a-c]{1,6}",
        lo in level(),
        hi in level(),
        c in change(),
    ) {
        let p = BranchPolicy { default_branch: Some("a".into()), rules };
        let (lo, hi) = (lo.min(hi), lo.max(hi));
        let refname = format!("refs/heads/{branch}");
        if p.decide(who(lo), &refname, c).is_ok() {
            prop_assert!(p.decide(who(hi), &refname, c).is_ok());
            prop_assert!(p.decide(ADMIN, &refname, c).is_ok());
        }
    }

    /// What no rule covers is allowed (except deleting the default branch); a protected branch is
    /// never deleted by a push nor force-pushed without a rule allowing it; the text form
    /// round-trips.
    #[test]
    fn protection_invariants(
        rules in prop::collection::vec(rule(), 0..4),
        branch in "[a-c]{1,6}",
        l in level(),
        admin in any::<bool>(),
        c in change(),
    ) {
        let p = BranchPolicy { default_branch: Some("a".into()), rules };
        let who = Pusher { level: l, admin };
        let refname = format!("refs/heads/{branch}");
        let got = p.decide(who, &refname, c);
        if !p.is_protected(&branch) {
            prop_assert_eq!(got.is_ok(), !(c == Delete && branch == "a"));
        } else {
            if c == Delete { prop_assert!(got.is_err()); }
            if c == Force && !p.matching(&branch).any(|r| r.allow_force_push) { prop_assert!(got.is_err()); }
            if got.is_ok() { prop_assert!(p.may_push(who, &branch)); }
        }
        prop_assert_eq!(p.needs_check(&refname), p.is_protected(&branch) || branch == "a");
        // Where no ancestry check is made, fast-forward and force are decided alike.
        if !p.needs_ancestry(&refname) {
            prop_assert_eq!(p.decide(who, &refname, FastForward), p.decide(who, &refname, Force));
        }
        let narrowed = p.for_refs([refname.as_str()]);
        prop_assert_eq!(narrowed.decide(who, &refname, c), got);
        let tags = TagPolicy { default_branch: p.default_branch.clone(), rules: Vec::new() };
        let policy = PushPolicy { pusher: who, branches: p, tags };
        prop_assert_eq!(PushPolicy::decode(&policy.encode().expect("encodes")), Ok(policy));
    }
}

/// GitLab's regex (`\A` + literals joined by `.*?` + `\z`) as a brute-force backtracking oracle.
fn oracle(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|i| oracle(rest, &name[i..])),
        Some((c, rest)) => name.first() == Some(c) && oracle(rest, &name[1..]),
    }
}

proptest! {
    #[test]
    fn matching_agrees_with_gitlabs_regex(pattern in "[ab*/]{1,8}", name in "[ab/]{1,10}") {
        prop_assert_eq!(pattern_matches(&pattern, &name), oracle(pattern.as_bytes(), name.as_bytes()));
    }
}
