//! Conformance checks: members.

use super::*;

pub(super) async fn members_crud(cx: &Cx<'_>) {
    let s = cx.store;
    let (a, b, c) = (cx.user("ma").await, cx.user("mb").await, cx.user("mc").await);
    let g = cx.group("mg", None, Visibility::Private).await;
    let p = cx.project(&g, "mp", Visibility::Private, None).await;
    let src = MemberSource::Project(p.id);

    let m = ok(s.add_member(src, a.id, AccessLevel::Developer, cx.at(18)).await, "add_member");
    assert_eq!(
        m,
        Member { source: src, user_id: a.id, access_level: AccessLevel::Developer, created_at: cx.at(18) },
        "members: add_member returns the membership"
    );
    expect_any_conflict(s.add_member(src, a.id, AccessLevel::Guest, cx.at(18)).await, "members: duplicate");
    cx.add(src, &b, AccessLevel::Reporter).await;
    let listed = ok(s.list_members(src, Page::ALL).await, "list_members");
    let got: Vec<_> = listed.items.iter().map(|(m, u)| (m.user_id, m.access_level, u.clone())).collect();
    assert_eq!(
        got,
        vec![(a.id, AccessLevel::Developer, a.clone()), (b.id, AccessLevel::Reporter, b.clone())],
        "members: list_members gives direct members with their users, by user id"
    );
    assert_eq!(listed.total, 2, "members: total");
    let page = ok(s.list_members(src, Page { offset: 1, limit: 1 }).await, "list_members paged");
    assert_eq!((page.items.len(), page.items[0].1.id, page.total), (1, b.id, 2), "members: paging keeps the total");

    let up = ok(s.update_member(src, a.id, AccessLevel::Maintainer).await, "update_member");
    assert_eq!((up.access_level, up.created_at), (AccessLevel::Maintainer, cx.at(18)), "members: update level");
    let listed = ok(s.list_members(src, Page::ALL).await, "list_members");
    assert_eq!(listed.items[0].0.access_level, AccessLevel::Maintainer, "members: update is stored");
    expect_not_found(s.update_member(src, c.id, AccessLevel::Guest).await, "members: update of a non-member");
    expect_not_found(s.remove_member(src, c.id).await, "members: remove of a non-member");

    ok(s.remove_member(src, b.id).await, "remove_member");
    let listed = ok(s.list_members(src, Page::ALL).await, "list_members");
    assert_eq!((listed.total, listed.items[0].0.user_id), (1, a.id), "members: removed");
    expect_not_found(s.remove_member(src, b.id).await, "members: removing twice");

    // The same user on the namespace is a different membership.
    let gsrc = MemberSource::Namespace(g.id);
    ok(s.add_member(gsrc, a.id, AccessLevel::Guest, cx.at(19)).await, "add_member on a namespace");
    let listed = ok(s.list_members(gsrc, Page::ALL).await, "list_members");
    assert_eq!(listed.items[0].0.source, gsrc, "members: namespace membership has its source");
    let on_project = ok(s.list_members(src, Page::ALL).await, "list_members");
    assert_eq!(on_project.total, 1, "members: sources are kept apart");

    let r = s.add_member(MemberSource::Project(ProjectId::new(MISSING)), a.id, AccessLevel::Guest, cx.at(19)).await;
    expect_invalid(r, "members: project that does not exist");
    let r = s.add_member(MemberSource::Namespace(NamespaceId::new(MISSING)), a.id, AccessLevel::Guest, cx.at(19)).await;
    expect_invalid(r, "members: namespace that does not exist");
    expect_invalid(
        s.add_member(src, UserId::new(MISSING), AccessLevel::Guest, cx.at(19)).await,
        "members: user that does not exist",
    );
}

pub(super) async fn applicable_levels_inherit(cx: &Cx<'_>) {
    let s = cx.store;
    let u = cx.user("lv").await;
    let stranger = cx.user("lvs").await;
    let g1 = cx.group("l1", None, Visibility::Private).await;
    let g2 = cx.group("l2", Some(&g1), Visibility::Private).await;
    let g3 = cx.group("l3", Some(&g2), Visibility::Private).await;
    let p3 = cx.project(&g3, "lp", Visibility::Private, None).await;
    let side = cx.group("lx", None, Visibility::Private).await;
    let p_side = cx.project(&side, "lq", Visibility::Private, None).await;
    cx.add(MemberSource::Namespace(g1.id), &u, AccessLevel::Guest).await;
    cx.add(MemberSource::Namespace(g2.id), &u, AccessLevel::Reporter).await;
    cx.add(MemberSource::Project(p3.id), &u, AccessLevel::Developer).await;

    use AccessLevel::*;
    let cases = [
        (MemberSource::Project(p3.id), &u, vec![Developer, Reporter, Guest], "project: direct and 3 ancestors"),
        (MemberSource::Namespace(g3.id), &u, vec![Reporter, Guest], "group: inherited from 2 ancestors"),
        (MemberSource::Namespace(g2.id), &u, vec![Reporter, Guest], "group: direct and parent"),
        (MemberSource::Namespace(g1.id), &u, vec![Guest], "root group: direct only"),
        (MemberSource::Project(p_side.id), &u, vec![], "unrelated project"),
        (MemberSource::Project(p3.id), &stranger, vec![], "non-member"),
        (MemberSource::Project(ProjectId::new(MISSING)), &u, vec![], "missing project"),
    ];
    for (source, user, want, what) in cases {
        let got = ok(s.applicable_levels(source, user.id).await, "applicable_levels");
        assert_eq!(level_set(got), want, "applicable_levels: {what}");
    }

    let personal = ok(s.user_namespace(u.id).await, "user_namespace").expect("personal namespace");
    let own = cx.project(&personal, "own", Visibility::Private, None).await;
    let got = ok(s.applicable_levels(MemberSource::Project(own.id), u.id).await, "applicable_levels");
    assert_eq!(level_set(got), vec![Owner], "applicable_levels: owning the personal namespace is Owner");
    let got = ok(s.applicable_levels(MemberSource::Namespace(personal.id), u.id).await, "applicable_levels");
    assert_eq!(level_set(got), vec![Owner], "applicable_levels: on one's own namespace");
    let got = ok(s.applicable_levels(MemberSource::Project(own.id), stranger.id).await, "applicable_levels");
    assert_eq!(got, vec![], "applicable_levels: someone else's personal project");
}
