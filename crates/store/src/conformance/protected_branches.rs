//! Conformance checks: protected branches.

use super::*;
use autogit_core::protection::RefAccessLevel::{Developer, Maintainer, NoOne};

fn new_rule(project_id: ProjectId, name: &str) -> NewProtectedBranch {
    NewProtectedBranch {
        project_id,
        name: name.to_string(),
        protection: BranchProtection {
            push_access_levels: vec![Developer, Maintainer],
            merge_access_levels: vec![NoOne],
            allow_force_push: true,
        },
    }
}

fn levels(list: &[RefAccess]) -> Vec<autogit_core::protection::RefAccessLevel> {
    list.iter().map(|a| a.access_level).collect()
}

pub(super) async fn protected_branches_crud(cx: &Cx<'_>) {
    let s = cx.store;
    let g = cx.group("pb", None, Visibility::Public).await;
    let p = cx.project(&g, "pb", Visibility::Public, None).await;
    let other = cx.project(&g, "pbo", Visibility::Public, None).await;
    assert_eq!(ok(s.list_protected_branches(p.id, Page::ALL).await, "list").total, 0, "protected: none by default");

    let main = ok(s.protect_branch(&new_rule(p.id, "main")).await, "protect_branch");
    assert_eq!(
        (main.project_id, main.name.as_str(), main.allow_force_push),
        (p.id, "main", true),
        "protected: create returns what was given"
    );
    assert_eq!(levels(&main.push_access_levels), vec![Developer, Maintainer], "protected: push levels in order");
    assert_eq!(levels(&main.merge_access_levels), vec![NoOne], "protected: merge levels");
    let ids: Vec<i64> = main.push_access_levels.iter().chain(&main.merge_access_levels).map(|a| a.id).collect();
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), 3, "protected: every access level has an id of its own: {ids:?}");

    expect_conflict(s.protect_branch(&new_rule(p.id, "main")).await, "name", "protected: duplicate name");
    let upper = ok(s.protect_branch(&new_rule(p.id, "Main")).await, "protected: names are case-sensitive");
    let none = NewProtectedBranch {
        protection: BranchProtection {
            push_access_levels: vec![],
            merge_access_levels: vec![],
            allow_force_push: false,
        },
        ..new_rule(p.id, "release/*")
    };
    let release = ok(s.protect_branch(&none).await, "protect_branch without levels");
    assert!(release.push_access_levels.is_empty() && release.merge_access_levels.is_empty(), "protected: empty lists");
    let elsewhere = ok(s.protect_branch(&new_rule(other.id, "main")).await, "protected: same name, other project");
    expect_invalid(s.protect_branch(&new_rule(ProjectId::new(MISSING), "main")).await, "protected: missing project");

    let listed = ok(s.list_protected_branches(p.id, Page::ALL).await, "list_protected_branches");
    assert_eq!(
        listed,
        Listed { items: vec![main.clone(), upper.clone(), release.clone()], total: 3 },
        "protected: one project's, by id"
    );
    let page = ok(s.list_protected_branches(p.id, Page { offset: 1, limit: 1 }).await, "list paged");
    assert_eq!(page, Listed { items: vec![upper.clone()], total: 3 }, "protected: paging keeps the total");
    assert_eq!(
        ok(s.list_protected_branches(other.id, Page::ALL).await, "list").items,
        vec![elsewhere.clone()],
        "protected: per project"
    );

    assert_eq!(ok(s.protected_branch(p.id, "main").await, "protected_branch"), Some(main.clone()), "by name");
    assert_eq!(ok(s.protected_branch(p.id, "release/1").await, "protected_branch"), None, "a wildcard is no name");
    assert_eq!(ok(s.protected_branch(p.id, "MAIN").await, "protected_branch"), None, "exact names only");
    assert_eq!(
        ok(s.protected_branch(ProjectId::new(MISSING), "main").await, "protected_branch"),
        None,
        "missing project"
    );

    ok(s.unprotect_branch(p.id, "main").await, "unprotect_branch");
    assert_eq!(ok(s.protected_branch(p.id, "main").await, "protected_branch"), None, "protected: gone");
    expect_not_found(s.unprotect_branch(p.id, "main").await, "protected: unprotect twice");
    expect_not_found(
        s.unprotect_branch(ProjectId::new(MISSING), "main").await,
        "protected: unprotect in a missing project",
    );
    assert_eq!(
        ok(s.protected_branch(other.id, "main").await, "protected_branch"),
        Some(elsewhere),
        "protected: other projects keep theirs"
    );
    let again = ok(s.protect_branch(&new_rule(p.id, "main")).await, "protected: protect again");
    assert!(again.id != main.id && !again.push_access_levels.iter().any(|a| ids.contains(&a.id)), "fresh ids");
    assert_eq!(again.push_access_levels.len(), 2, "protected: the old levels went with the old rule");

    ok(s.delete_project(p.id).await, "delete_project");
    assert_eq!(ok(s.list_protected_branches(p.id, Page::ALL).await, "list").total, 0, "protected: cascade");
}

pub(super) async fn protected_default_branch_of_new_projects(cx: &Cx<'_>) {
    let s = cx.store;
    let g = cx.group("pbd", None, Visibility::Public).await;
    let new = NewProject {
        default_branch: Some("trunk".into()),
        default_branch_protection: Some(BranchProtection::maintainers()),
        ..new_project(g.id, &cx.name("pbd"), Visibility::Private)
    };
    let p = ok(s.create_project(&new, None, cx.at(2)).await, "create_project with protection");
    let listed = ok(s.list_protected_branches(p.id, Page::ALL).await, "list").items;
    assert_eq!(listed.len(), 1, "protected: the default branch is protected with the project");
    assert_eq!(
        (listed[0].name.as_str(), levels(&listed[0].push_access_levels), levels(&listed[0].merge_access_levels)),
        ("trunk", vec![Maintainer], vec![Maintainer]),
        "protected: as given"
    );
    assert!(!listed[0].allow_force_push, "protected: no force push");

    let plain = new_project(g.id, &cx.name("pbn"), Visibility::Private);
    let p = ok(s.create_project(&plain, None, cx.at(2)).await, "create_project without protection");
    assert_eq!(ok(s.list_protected_branches(p.id, Page::ALL).await, "list").total, 0, "protected: only when asked");
    let nameless = NewProject {
        default_branch: None,
        default_branch_protection: Some(BranchProtection::maintainers()),
        ..new_project(g.id, &cx.name("pbx"), Visibility::Private)
    };
    let p = ok(s.create_project(&nameless, None, cx.at(2)).await, "create_project without a default branch");
    assert_eq!(ok(s.list_protected_branches(p.id, Page::ALL).await, "list").total, 0, "protected: nothing to protect");
    expect_conflict(s.create_project(&new, None, cx.at(2)).await, "path", "protected: a path clash still conflicts");
}

pub(super) async fn protected_tags_crud(cx: &Cx<'_>) {
    let s = cx.store;
    let g = cx.group("pt", None, Visibility::Public).await;
    let p = cx.project(&g, "pt", Visibility::Public, None).await;
    let other = cx.project(&g, "pto", Visibility::Public, None).await;
    assert_eq!(ok(s.list_protected_tags(p.id, Page::ALL).await, "list").total, 0, "tags: none by default");
    let rule = |project_id, name: &str, create| NewProtectedTag {
        project_id,
        name: name.to_string(),
        create_access_levels: create,
    };

    let v = ok(s.protect_tag(&rule(p.id, "v*", vec![Developer, Maintainer])).await, "protect_tag");
    assert_eq!((v.project_id, v.name.as_str()), (p.id, "v*"), "tags: create returns what was given");
    assert_eq!(levels(&v.create_access_levels), vec![Developer, Maintainer], "tags: levels in order");
    assert_ne!(v.create_access_levels[0].id, v.create_access_levels[1].id, "tags: a level has its own id");
    expect_conflict(s.protect_tag(&rule(p.id, "v*", vec![])).await, "name", "tags: duplicate name");
    let upper = ok(s.protect_tag(&rule(p.id, "V*", vec![NoOne])).await, "tags: names are case-sensitive");
    let bare = ok(s.protect_tag(&rule(p.id, "frozen", vec![])).await, "tags: no levels");
    assert!(bare.create_access_levels.is_empty(), "tags: empty list");
    let elsewhere = ok(s.protect_tag(&rule(other.id, "v*", vec![Maintainer])).await, "tags: other project");
    expect_invalid(s.protect_tag(&rule(ProjectId::new(MISSING), "v*", vec![])).await, "tags: missing project");

    let listed = ok(s.list_protected_tags(p.id, Page::ALL).await, "list_protected_tags");
    assert_eq!(listed, Listed { items: vec![v.clone(), upper.clone(), bare.clone()], total: 3 }, "tags: by id");
    let page = ok(s.list_protected_tags(p.id, Page { offset: 1, limit: 1 }).await, "list paged");
    assert_eq!(page, Listed { items: vec![upper.clone()], total: 3 }, "tags: paging keeps the total");
    assert_eq!(ok(s.protected_tag(p.id, "v*").await, "protected_tag"), Some(v.clone()), "tags: by name");
    assert_eq!(ok(s.protected_tag(p.id, "v1").await, "protected_tag"), None, "tags: a wildcard is no name");

    ok(s.unprotect_tag(p.id, "v*").await, "unprotect_tag");
    assert_eq!(ok(s.protected_tag(p.id, "v*").await, "protected_tag"), None, "tags: gone");
    expect_not_found(s.unprotect_tag(p.id, "v*").await, "tags: unprotect twice");
    assert_eq!(ok(s.protected_tag(other.id, "v*").await, "protected_tag"), Some(elsewhere), "tags: others kept");
    ok(s.delete_project(p.id).await, "delete_project");
    assert_eq!(ok(s.list_protected_tags(p.id, Page::ALL).await, "list").total, 0, "tags: cascade");
}
