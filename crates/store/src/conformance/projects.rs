//! Conformance checks: projects.

use super::*;

pub(super) async fn projects_create_and_lookup(cx: &Cx<'_>) {
    let s = cx.store;
    let owner = cx.user("powner").await;
    let g = cx.group("pg", None, Visibility::Public).await;
    let new = new_project(g.id, &cx.name("Site"), Visibility::Internal);
    let p = ok(s.create_project(&new, Some((owner.id, AccessLevel::Maintainer)), cx.at(11)).await, "create_project");
    assert_eq!(
        (p.namespace_id, &p.name, &p.path, &p.description, p.visibility, &p.default_branch),
        (g.id, &new.name, &new.path, &new.description, new.visibility, &new.default_branch),
        "projects: create_project returns what was given"
    );
    assert_eq!(p.full_path, format!("{}/{}", g.full_path, new.path), "projects: full path is namespace/path");
    assert_eq!((p.created_at, p.last_activity_at), (cx.at(11), cx.at(11)), "projects: timestamps start at `now`");
    assert_eq!(ok(s.project_by_id(p.id).await, "project_by_id"), Some(p.clone()), "projects: lookup by id");
    let found = ok(s.project_by_full_path(&p.full_path.to_uppercase()).await, "project_by_full_path");
    assert_eq!(found, Some(p.clone()), "projects: lookup by full path is case-insensitive");
    for missing in [g.full_path.clone(), format!("{}/{}", g.full_path, cx.name("none")), p.path.clone()] {
        let r = ok(s.project_by_full_path(&missing).await, "project_by_full_path");
        assert_eq!(r, None, "projects: '{missing}' is not a project");
    }
    assert_eq!(ok(s.project_by_id(ProjectId::new(MISSING)).await, "project_by_id"), None, "projects: unknown id");
    let members = ok(s.list_members(MemberSource::Project(p.id), Page::ALL).await, "list_members");
    let got: Vec<_> = members.items.iter().map(|(m, _)| (m.user_id, m.access_level, m.created_at)).collect();
    assert_eq!(got, vec![(owner.id, AccessLevel::Maintainer, cx.at(11))], "projects: creator membership is made");

    let bare =
        ok(s.create_project(&new_project(g.id, &cx.name("bare"), Visibility::Private), None, cx.at(11)).await, "");
    let members = ok(s.list_members(MemberSource::Project(bare.id), Page::ALL).await, "list_members");
    assert_eq!(members.total, 0, "projects: no creator, no membership");
    let nb = NewProject { default_branch: None, ..new_project(g.id, &cx.name("nb"), Visibility::Public) };
    let nb = ok(s.create_project(&nb, None, cx.at(11)).await, "create_project without default branch");
    assert_eq!(nb.default_branch, None, "projects: a missing default branch round-trips");

    let personal = ok(s.user_namespace(owner.id).await, "user_namespace").expect("personal namespace");
    let mine = cx.project(&personal, "mine", Visibility::Private, Some(&owner)).await;
    assert_eq!(mine.full_path, format!("{}/{}", owner.username, mine.path), "projects: in a personal namespace");

    let orphan = new_project(NamespaceId::new(MISSING), &cx.name("orphan"), Visibility::Public);
    expect_invalid(s.create_project(&orphan, None, cx.at(11)).await, "projects: namespace that does not exist");
    let bad_creator = new_project(g.id, &cx.name("bc"), Visibility::Public);
    let r = s.create_project(&bad_creator, Some((UserId::new(MISSING), AccessLevel::Owner)), cx.at(11)).await;
    expect_invalid(r, "projects: creator that does not exist");
    let left = ok(s.project_by_full_path(&format!("{}/{}", g.full_path, bad_creator.path)).await, "lookup");
    assert_eq!(left, None, "projects: a failed creator membership rolls the project back");
}

pub(super) async fn projects_path_clashes(cx: &Cx<'_>) {
    let s = cx.store;
    let owner = cx.user("clasher").await;
    let g = cx.group("pc", None, Visibility::Public).await;
    let p = cx.project(&g, "Repo", Visibility::Public, None).await;
    let dup = new_project(g.id, &p.path.to_uppercase(), Visibility::Public);
    let r = s.create_project(&dup, Some((owner.id, AccessLevel::Owner)), cx.at(12)).await;
    expect_conflict(r, "path", "projects: duplicate path in one namespace (any case)");
    let listed = ok(s.list_projects(&all_in(g.id.get()), Page::ALL).await, "list_projects");
    assert_eq!(project_ids(&listed), vec![p.id], "projects: a failed create leaves no project behind");

    let other = cx.group("pc", None, Visibility::Public).await;
    let same_path = new_project(other.id, &p.path, Visibility::Public);
    ok(s.create_project(&same_path, None, cx.at(12)).await, "projects: same path in another namespace is fine");

    let sub = cx.group("Sub", Some(&g), Visibility::Public).await;
    let onto_sub = new_project(g.id, &sub.path.to_uppercase(), Visibility::Public);
    let r = s.create_project(&onto_sub, None, cx.at(12)).await;
    expect_conflict(r, "path", "projects: project path equal to a subgroup's in the same namespace");
    let onto_project = new_group(&p.path.to_uppercase(), Some(g.id), Visibility::Public);
    let r = s.create_group(&onto_project, None, cx.at(12)).await;
    expect_conflict(r, "path", "groups: subgroup whose full path is an existing project's");
    let left = ok(s.namespace_by_full_path(&p.full_path).await, "namespace_by_full_path");
    assert_eq!(left, None, "groups: the clashing subgroup was not created");
}

/// Every project in one namespace, whatever its visibility.
pub(super) fn all_in(namespace_id: i64) -> ProjectFilter {
    ProjectFilter {
        access: AccessFilter { all: true, ..Default::default() },
        namespace_id: Some(NamespaceId::new(namespace_id)),
        search: None,
    }
}

pub(super) async fn projects_update_and_touch(cx: &Cx<'_>) {
    let s = cx.store;
    let g = cx.group("pu", None, Visibility::Public).await;
    let p = cx.project(&g, "old", Visibility::Private, None).await;
    let sibling = cx.project(&g, "sib", Visibility::Private, None).await;
    let sub = cx.group("sg", Some(&g), Visibility::Public).await;

    let new_path = cx.name("New");
    let rename = ProjectUpdate { path: Some(new_path.clone()), ..Default::default() };
    let renamed = ok(s.update_project(p.id, &rename, cx.at(13)).await, "update_project path");
    assert_eq!(renamed.full_path, format!("{}/{new_path}", g.full_path), "projects: renaming changes the full path");
    assert_eq!(
        Project { path: p.path.clone(), full_path: p.full_path.clone(), ..renamed.clone() },
        p,
        "projects: a path update changes nothing else"
    );
    assert_eq!(ok(s.project_by_full_path(&p.full_path).await, "lookup"), None, "projects: old full path is gone");
    let found = ok(s.project_by_full_path(&renamed.full_path).await, "lookup");
    assert_eq!(found, Some(renamed.clone()), "projects: new full path resolves");
    let recased = ProjectUpdate { path: Some(new_path.to_uppercase()), ..Default::default() };
    let recased = ok(s.update_project(p.id, &recased, cx.at(13)).await, "projects: re-casing its own path");
    assert_eq!(recased.path, new_path.to_uppercase(), "projects: the new case is kept");

    let onto_sibling = ProjectUpdate { path: Some(sibling.path.to_uppercase()), ..Default::default() };
    expect_conflict(s.update_project(p.id, &onto_sibling, cx.at(13)).await, "path", "projects: rename onto a sibling");
    let onto_sub = ProjectUpdate { path: Some(sub.path.clone()), ..Default::default() };
    expect_conflict(s.update_project(p.id, &onto_sub, cx.at(13)).await, "path", "projects: rename onto a subgroup");
    let after = ok(s.project_by_id(p.id).await, "project_by_id");
    assert_eq!(after, Some(recased.clone()), "projects: a failed update changes nothing");

    let fields = ProjectUpdate {
        name: Some("Renamed".to_string()),
        path: None,
        description: Some("new words".to_string()),
        visibility: Some(Visibility::Public),
        default_branch: Some("trunk".to_string()),
        ci_config_path: None,
    };
    let updated = ok(s.update_project(p.id, &fields, cx.at(14)).await, "update_project fields");
    assert_eq!(
        updated,
        Project {
            name: "Renamed".to_string(),
            description: "new words".to_string(),
            visibility: Visibility::Public,
            default_branch: Some("trunk".to_string()),
            ..recased.clone()
        },
        "projects: update applies the fields that are set and keeps the rest"
    );
    let noop = ok(s.update_project(p.id, &ProjectUpdate::default(), cx.at(15)).await, "empty update");
    assert_eq!(noop, updated, "projects: an empty update changes nothing visible");
    expect_not_found(
        s.update_project(ProjectId::new(MISSING), &fields, cx.at(15)).await,
        "projects: update of a missing project",
    );

    ok(s.touch_project(p.id, cx.at(16)).await, "touch_project");
    let touched = ok(s.project_by_id(p.id).await, "project_by_id").expect("project exists");
    assert_eq!((touched.last_activity_at, touched.created_at), (cx.at(16), p.created_at), "projects: touch");
    expect_not_found(s.touch_project(ProjectId::new(MISSING), cx.at(16)).await, "projects: touch of a missing project");
}

pub(super) async fn projects_delete_cascades(cx: &Cx<'_>) {
    let s = cx.store;
    let owner = cx.user("del").await;
    let dev = cx.user("deldev").await;
    let g = cx.group_owned("pd", None, Visibility::Public, Some(&owner)).await;
    let p = cx.project(&g, "gone", Visibility::Public, Some(&owner)).await;
    let keep = cx.project(&g, "kept", Visibility::Public, Some(&owner)).await;
    cx.add(MemberSource::Project(p.id), &dev, AccessLevel::Developer).await;
    for (project, n) in [(&p, 1), (&keep, 2)] {
        let push = NewPushEvent {
            project_id: project.id,
            ref_name: "refs/heads/main".to_string(),
            before: "0".repeat(40),
            after: format!("{n}").repeat(40),
            pusher_id: Some(owner.id),
        };
        ok(s.record_push(&push, cx.at(17)).await, "record_push");
    }

    ok(s.delete_project(p.id).await, "delete_project");
    assert_eq!(ok(s.project_by_id(p.id).await, "project_by_id"), None, "projects: deleted");
    assert_eq!(ok(s.project_by_full_path(&p.full_path).await, "lookup"), None, "projects: deleted (by path)");
    let members = ok(s.list_members(MemberSource::Project(p.id), Page::ALL).await, "list_members");
    assert_eq!(members.total, 0, "projects: delete removes the project's memberships");
    let events = ok(s.list_push_events(p.id, Page::ALL).await, "list_push_events");
    assert_eq!(events.total, 0, "projects: delete removes the project's push events");
    let levels = ok(s.applicable_levels(MemberSource::Project(p.id), dev.id).await, "applicable_levels");
    assert_eq!(levels, vec![], "projects: no role applies to a deleted project");
    expect_not_found(s.delete_project(p.id).await, "projects: deleting twice");

    let kept_members = ok(s.list_members(MemberSource::Project(keep.id), Page::ALL).await, "list_members");
    assert_eq!(kept_members.total, 1, "projects: other projects keep their memberships");
    assert_eq!(ok(s.list_push_events(keep.id, Page::ALL).await, "events").total, 1, "projects: and their events");
    let group_members = ok(s.list_members(MemberSource::Namespace(g.id), Page::ALL).await, "list_members");
    assert_eq!(group_members.total, 1, "projects: the namespace keeps its memberships");
}
