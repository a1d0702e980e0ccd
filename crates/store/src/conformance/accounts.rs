//! Conformance checks: health and users.

use super::*;

pub(super) async fn ping(cx: &Cx<'_>) {
    ok(cx.store.ping().await, "ping");
}

pub(super) async fn users_create_and_lookup(cx: &Cx<'_>) {
    let s = cx.store;
    let before = ok(s.count_users().await, "count_users");
    let username = cx.name("Ada");
    let new = NewUser {
        username: username.clone(),
        name: "Ada Lovelace".to_string(),
        email: format!("{username}@Example.test"),
        password_hash: Some("$argon2id$v=19$stub".to_string()),
        is_admin: false,
    };
    let u = ok(s.create_user(&new, cx.at(5)).await, "create_user");
    assert!(u.id.get() > 0, "users: ids are positive");
    assert_eq!(
        (&u.username, &u.name, &u.email, &u.password_hash, u.is_admin, u.state, u.created_at),
        (&new.username, &new.name, &new.email, &new.password_hash, false, UserState::Active, cx.at(5)),
        "users: create_user returns what was given, active, with created_at to the millisecond"
    );
    assert_eq!(ok(s.user_by_id(u.id).await, "user_by_id"), Some(u.clone()), "users: lookup by id");
    for spelling in [username.to_uppercase(), username.to_lowercase()] {
        let found = ok(s.user_by_username(&spelling).await, "user_by_username");
        assert_eq!(found, Some(u.clone()), "users: lookup by username is case-insensitive ({spelling})");
    }
    assert_eq!(ok(s.user_by_username(&cx.name("nobody")).await, "user_by_username"), None, "users: unknown name");
    for spelling in [new.email.to_uppercase(), new.email.clone()] {
        let found = ok(s.user_by_email(&spelling).await, "user_by_email");
        assert_eq!(found, Some(u.clone()), "users: lookup by email is case-insensitive ({spelling})");
    }
    let nobody = format!("{}@example.test", cx.name("nobody"));
    assert_eq!(ok(s.user_by_email(&nobody).await, "user_by_email"), None, "users: unknown email");
    assert_eq!(ok(s.user_by_id(UserId::new(MISSING)).await, "user_by_id"), None, "users: unknown id is Ok(None)");
    assert!(ok(s.count_users().await, "count_users") > before, "users: count_users grows on create");

    let ns = ok(s.user_namespace(u.id).await, "user_namespace").expect("users: a personal namespace is created");
    assert_eq!(
        (ns.kind, &ns.path, &ns.full_path, ns.parent_id, ns.owner_id, ns.created_at),
        (NamespaceKind::User, &username, &username, None, Some(u.id), cx.at(5)),
        "users: the personal namespace has path = username and is owned by the user"
    );
    let by_path = ok(s.namespace_by_full_path(&username.to_uppercase()).await, "namespace_by_full_path");
    assert_eq!(by_path, Some(ns.clone()), "users: personal namespace found by full path, case-insensitively");
    assert_eq!(ok(s.namespace_by_id(ns.id).await, "namespace_by_id"), Some(ns.clone()), "namespace by id");
    assert_eq!(ok(s.namespace_ancestry(ns.id).await, "ancestry"), vec![ns], "users: personal namespace is a root");
    assert_eq!(
        ok(s.user_namespace(UserId::new(MISSING)).await, "user_namespace"),
        None,
        "users: no namespace for unknown user"
    );

    ok(s.set_password_hash(u.id, "$argon2id$v=19$other").await, "set_password_hash");
    let hash = ok(s.user_by_id(u.id).await, "user_by_id").and_then(|u| u.password_hash);
    assert_eq!(hash.as_deref(), Some("$argon2id$v=19$other"), "users: set_password_hash is stored");
    expect_not_found(
        s.set_password_hash(UserId::new(MISSING), "x").await,
        "users: set_password_hash on a missing user",
    );

    let admin = NewUser { is_admin: true, password_hash: None, ..new_user(cx, "root") };
    let a = ok(s.create_user(&admin, cx.at(6)).await, "create admin");
    assert!(a.is_admin && a.password_hash.is_none(), "users: is_admin and a missing hash round-trip");
}

pub(super) fn new_user(cx: &Cx<'_>, what: &str) -> NewUser {
    let username = cx.name(what);
    NewUser {
        name: format!("User {username}"),
        email: format!("{username}@example.test"),
        username,
        password_hash: None,
        is_admin: false,
    }
}

pub(super) async fn users_list(cx: &Cx<'_>) {
    let s = cx.store;
    let marker = cx.name("ul");
    let mut made = Vec::new();
    for i in 0..3 {
        let new = NewUser { username: format!("{marker}u{i}"), ..new_user(cx, "x") };
        made.push(ok(s.create_user(&new, cx.at(7)).await, "create_user"));
    }
    let search = UserFilter { search: Some(marker.to_uppercase()), ..Default::default() };
    let all = ok(s.list_users(&search, Page::ALL).await, "list_users");
    assert_eq!(all, Listed { items: made.clone(), total: 3 }, "users: search is a case-insensitive substring, by id");
    let page = ok(s.list_users(&search, Page { offset: 1, limit: 1 }).await, "list_users paged");
    assert_eq!(page, Listed { items: vec![made[1].clone()], total: 3 }, "users: paging keeps the total");
    let by_email = UserFilter { search: Some(made[2].email.clone()), ..Default::default() };
    let found = ok(s.list_users(&by_email, Page::ALL).await, "list_users by email");
    assert_eq!(found.items, vec![made[2].clone()], "users: search matches the email");
    let exact = UserFilter { username: Some(made[0].username.to_uppercase()), ..Default::default() };
    let found = ok(s.list_users(&exact, Page::ALL).await, "list_users by username");
    assert_eq!(found, Listed { items: vec![made[0].clone()], total: 1 }, "users: username filter is exact");
    let wildcard = UserFilter { search: Some(format!("{marker}u_")), ..Default::default() };
    let found = ok(s.list_users(&wildcard, Page::ALL).await, "list_users with _");
    assert_eq!(found.total, 0, "users: '_' in a search is a literal, not a wildcard");
}

pub(super) async fn users_conflicts(cx: &Cx<'_>) {
    let s = cx.store;
    let a = cx.user("dup").await;
    let same_name = NewUser { username: a.username.to_uppercase(), ..new_user(cx, "other") };
    expect_conflict(s.create_user(&same_name, cx.at(8)).await, "username", "users: duplicate username (any case)");

    let same_email = NewUser { email: a.email.to_uppercase(), ..new_user(cx, "mail") };
    expect_conflict(s.create_user(&same_email, cx.at(8)).await, "email", "users: duplicate email (any case)");
    assert_eq!(ok(s.user_by_username(&same_email.username).await, "lookup"), None, "users: failed create left a user");
    let leftover = ok(s.namespace_by_full_path(&same_email.username).await, "namespace_by_full_path");
    assert_eq!(leftover, None, "users: a failed create_user leaves no personal namespace behind");

    let g = cx.group("top", None, Visibility::Public).await;
    let clash = NewUser { username: g.path.to_uppercase(), ..new_user(cx, "clash") };
    expect_conflict(s.create_user(&clash, cx.at(8)).await, "username", "users: username equal to a top-level group");
    assert_eq!(ok(s.user_by_username(&clash.username).await, "lookup"), None, "users: failed create left a user");

    let group_on_user = new_group(&a.username.to_uppercase(), None, Visibility::Public);
    let r = s.create_group(&group_on_user, None, cx.at(8)).await;
    expect_conflict(r, "path", "groups: top-level group path equal to a username");
}
