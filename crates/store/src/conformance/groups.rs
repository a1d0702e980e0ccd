//! Conformance checks: groups.

use super::*;

pub(super) async fn groups_nesting(cx: &Cx<'_>) {
    let s = cx.store;
    let owner = cx.user("gowner").await;
    let g1 = cx.group_owned("Top", None, Visibility::Public, Some(&owner)).await;
    assert_eq!(
        (g1.kind, &g1.full_path, g1.parent_id, g1.owner_id, g1.visibility, g1.created_at),
        (NamespaceKind::Group, &g1.path, None, None, Visibility::Public, cx.at(1)),
        "groups: a top-level group's full path is its path"
    );
    let members = ok(s.list_members(MemberSource::Namespace(g1.id), Page::ALL).await, "list_members");
    let got: Vec<_> = members.items.iter().map(|(m, u)| (m.user_id, m.access_level, u.id)).collect();
    assert_eq!(got, vec![(owner.id, AccessLevel::Owner, owner.id)], "groups: create_group makes `owner` an Owner");

    let g2 = cx.group("Mid", Some(&g1), Visibility::Internal).await;
    let g3 = cx.group("leaf", Some(&g2), Visibility::Private).await;
    assert_eq!(g2.full_path, format!("{}/{}", g1.full_path, g2.path), "groups: full path joins the parent's");
    assert_eq!(g3.full_path, format!("{}/{}/{}", g1.path, g2.path, g3.path), "groups: three levels");
    assert_eq!((g3.parent_id, g3.visibility), (Some(g2.id), Visibility::Private), "groups: parent and visibility");
    let found = ok(s.namespace_by_full_path(&g3.full_path.to_uppercase()).await, "namespace_by_full_path");
    assert_eq!(found, Some(g3.clone()), "groups: lookup by full path is case-insensitive");
    assert_eq!(ok(s.namespace_by_id(g2.id).await, "namespace_by_id"), Some(g2.clone()), "groups: lookup by id");
    let chain = ok(s.namespace_ancestry(g3.id).await, "namespace_ancestry");
    assert_eq!(chain, vec![g1.clone(), g2.clone(), g3.clone()], "groups: ancestry is root first, ending with itself");
    assert_eq!(
        ok(s.namespace_ancestry(NamespaceId::new(MISSING)).await, "ancestry"),
        vec![],
        "groups: ancestry of nothing"
    );
    assert_eq!(ok(s.namespace_by_full_path(&cx.name("none")).await, "lookup"), None, "groups: unknown full path");

    let unowned = cx.group("free", None, Visibility::Public).await;
    let members = ok(s.list_members(MemberSource::Namespace(unowned.id), Page::ALL).await, "list_members");
    assert_eq!(members.total, 0, "groups: no owner given, no membership made");
}

pub(super) async fn groups_conflicts_and_references(cx: &Cx<'_>) {
    let s = cx.store;
    let top = cx.group("gc", None, Visibility::Public).await;
    let child = cx.group("Kid", Some(&top), Visibility::Public).await;
    let dup = new_group(&child.path.to_uppercase(), Some(top.id), Visibility::Public);
    expect_conflict(s.create_group(&dup, None, cx.at(9)).await, "path", "groups: duplicate path under one parent");
    let dup_top = new_group(&top.path.to_uppercase(), None, Visibility::Public);
    expect_conflict(s.create_group(&dup_top, None, cx.at(9)).await, "path", "groups: duplicate top-level path");
    let elsewhere = new_group(&child.path, Some(child.id), Visibility::Public);
    let nested = ok(s.create_group(&elsewhere, None, cx.at(9)).await, "same path under another parent");
    assert_eq!(nested.full_path, format!("{}/{}", child.full_path, child.path), "groups: same path, other parent");

    // Dangling references are `Invalid`, and nothing is left behind.
    let bad_owner = new_group(&cx.name("orphan"), None, Visibility::Public);
    expect_invalid(
        s.create_group(&bad_owner, Some(UserId::new(MISSING)), cx.at(9)).await,
        "groups: owner that does not exist",
    );
    let left = ok(s.namespace_by_full_path(&bad_owner.path).await, "lookup");
    assert_eq!(left, None, "groups: a failed owner membership rolls the group back");
    let bad_parent = new_group(&cx.name("lost"), Some(NamespaceId::new(MISSING)), Visibility::Public);
    expect_invalid(s.create_group(&bad_parent, None, cx.at(9)).await, "groups: parent that does not exist");
    // As in GitLab, personal namespaces hold projects only.
    let user = cx.user("nester").await;
    let personal = ok(s.user_namespace(user.id).await, "user_namespace").expect("personal namespace");
    let in_personal = new_group(&cx.name("sub"), Some(personal.id), Visibility::Public);
    expect_invalid(s.create_group(&in_personal, None, cx.at(9)).await, "groups: subgroup of a personal namespace");
}
