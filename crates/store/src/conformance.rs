//! The behaviour suite every [`Store`] adapter must pass (feature `conformance`).
//!
//! Call [`run_all`] from an async test with a connected store and a prefix unique to the run
//! ([`unique_prefix`] makes one). Every check creates its own records, with names built from the
//! prefix, so the suite also runs against a database that is shared and never wiped: it never
//! asserts on global totals, only on records it made (list checks filter by a search marker or a
//! namespace of their own). Each check panics with a message naming the rule that broke.
//!
//! The suite is the executable form of the contract written on the traits in this crate. Where
//! the trait docs leave a choice open, the suite pins the choice and says so in a comment:
//! - dangling references (a missing namespace, parent, user or source) are `Invalid`;
//! - groups cannot be nested in a personal namespace (`Invalid`), as in GitLab;
//! - `touch_*` and `set_password_hash` on a missing id are `NotFound` (they change one record);
//! - `applicable_levels` is compared as a set; `list_members` is ordered by user id;
//! - push events are "newest first" by their `created_at`, then by id.

use std::fmt::Debug;
use std::sync::atomic::{AtomicU32, Ordering};

use autogit_core::{AccessLevel, Scope, Visibility};
use chrono::{DateTime, NaiveDate, Utc};

use crate::*;

/// An id no adapter will have handed out in a test database.
const MISSING: i64 = i64::MAX - 1;

/// A prefix for [`run_all`] that differs between processes and runs: `c<pid>t<millis, base 36>`.
pub fn unique_prefix() -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    format!("c{}t{}", std::process::id(), base36(millis))
}

fn base36(mut n: u128) -> String {
    let mut digits = Vec::new();
    loop {
        digits.push(char::from_digit((n % 36) as u32, 36).expect("digit below radix"));
        n /= 36;
        if n == 0 {
            break;
        }
    }
    digits.iter().rev().collect()
}

/// Runs every check. `prefix` must be unique to this run, ASCII letters and digits only, and
/// start with a letter (it becomes the start of usernames and paths).
pub async fn run_all(store: &dyn Store, prefix: &str) {
    assert!(
        prefix.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && prefix.chars().all(|c| c.is_ascii_alphanumeric()),
        "conformance prefix '{prefix}' must be ASCII alphanumeric and start with a letter"
    );
    let cx = Cx { store, prefix: prefix.to_string(), counter: AtomicU32::new(0) };
    ping(&cx).await;
    users_create_and_lookup(&cx).await;
    users_list(&cx).await;
    users_conflicts(&cx).await;
    groups_nesting(&cx).await;
    groups_conflicts_and_references(&cx).await;
    projects_create_and_lookup(&cx).await;
    projects_path_clashes(&cx).await;
    projects_update_and_touch(&cx).await;
    projects_delete_cascades(&cx).await;
    members_crud(&cx).await;
    applicable_levels_inherit(&cx).await;
    project_lists(&cx).await;
    group_lists(&cx).await;
    tokens(&cx).await;
    push_events(&cx).await;
}

/// Shared state of one run: the store, the prefix and a counter for unique names.
struct Cx<'a> {
    store: &'a dyn Store,
    prefix: String,
    counter: AtomicU32,
}

impl Cx<'_> {
    /// A fresh, valid path segment: `<prefix>-<what><n>`.
    fn name(&self, what: &str) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!("{}-{what}{n}", self.prefix)
    }

    /// A fixed instant plus `n` seconds and `n` milliseconds, so that stored times must keep
    /// milliseconds to round-trip.
    fn at(&self, n: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_714_979_289_123 + n * 1_001).expect("timestamp in range")
    }

    async fn user(&self, what: &str) -> User {
        let username = self.name(what);
        let new = NewUser {
            username: username.clone(),
            name: format!("User {username}"),
            email: format!("{username}@example.test"),
            password_hash: None,
            is_admin: false,
        };
        self.store.create_user(&new, self.at(0)).await.unwrap_or_else(|e| panic!("create user {username}: {e}"))
    }

    async fn group(&self, what: &str, parent: Option<&Namespace>, visibility: Visibility) -> Namespace {
        self.group_owned(what, parent, visibility, None).await
    }

    async fn group_owned(
        &self,
        what: &str,
        parent: Option<&Namespace>,
        visibility: Visibility,
        owner: Option<&User>,
    ) -> Namespace {
        let new = new_group(&self.name(what), parent.map(|p| p.id), visibility);
        self.store
            .create_group(&new, owner.map(|u| u.id), self.at(1))
            .await
            .unwrap_or_else(|e| panic!("create group {}: {e}", new.path))
    }

    async fn project(&self, ns: &Namespace, what: &str, visibility: Visibility, creator: Option<&User>) -> Project {
        let new = new_project(ns.id, &self.name(what), visibility);
        self.store
            .create_project(&new, creator.map(|u| (u.id, AccessLevel::Owner)), self.at(2))
            .await
            .unwrap_or_else(|e| panic!("create project {}: {e}", new.path))
    }

    /// A group or project with exactly this path, for list checks that search by a marker.
    async fn group_at(&self, path: String, parent: Option<&Namespace>, visibility: Visibility) -> Namespace {
        let new = new_group(&path, parent.map(|p| p.id), visibility);
        self.store.create_group(&new, None, self.at(1)).await.unwrap_or_else(|e| panic!("create group {path}: {e}"))
    }

    async fn project_at(&self, ns: &Namespace, path: String, visibility: Visibility) -> Project {
        let new = new_project(ns.id, &path, visibility);
        self.store.create_project(&new, None, self.at(2)).await.unwrap_or_else(|e| panic!("create project {path}: {e}"))
    }

    async fn add(&self, source: MemberSource, user: &User, level: AccessLevel) {
        self.store
            .add_member(source, user.id, level, self.at(3))
            .await
            .unwrap_or_else(|e| panic!("add {} to {source:?}: {e}", user.username));
    }
}

fn new_group(path: &str, parent_id: Option<i64>, visibility: Visibility) -> NewGroup {
    NewGroup { name: format!("Group {path}"), path: path.to_string(), parent_id, visibility, description: String::new() }
}

fn new_project(namespace_id: i64, path: &str, visibility: Visibility) -> NewProject {
    NewProject {
        namespace_id,
        name: format!("Project {path}"),
        path: path.to_string(),
        description: format!("about {path}"),
        visibility,
        default_branch: Some("main".to_string()),
    }
}

fn expect_conflict<T: Debug>(r: Result<T>, field: &str, what: &str) {
    match r {
        Err(StoreError::Conflict(f)) if f == field => {}
        other => panic!("{what}: expected Conflict(\"{field}\"), got {other:?}"),
    }
}

fn expect_any_conflict<T: Debug>(r: Result<T>, what: &str) {
    if !matches!(r, Err(StoreError::Conflict(_))) {
        panic!("{what}: expected Conflict, got {r:?}");
    }
}

fn expect_not_found<T: Debug>(r: Result<T>, what: &str) {
    if !matches!(r, Err(StoreError::NotFound(_))) {
        panic!("{what}: expected NotFound, got {r:?}");
    }
}

fn expect_invalid<T: Debug>(r: Result<T>, what: &str) {
    if !matches!(r, Err(StoreError::Invalid(_))) {
        panic!("{what}: expected Invalid, got {r:?}");
    }
}

fn ok<T>(r: Result<T>, what: &str) -> T {
    r.unwrap_or_else(|e| panic!("{what}: unexpected error: {e}"))
}

/// Levels as a set (highest first), so the order an adapter returns them in does not matter.
fn level_set(mut levels: Vec<AccessLevel>) -> Vec<AccessLevel> {
    levels.sort_unstable_by(|a, b| b.cmp(a));
    levels.dedup();
    levels
}

fn project_ids(l: &Listed<Project>) -> Vec<i64> {
    l.items.iter().map(|p| p.id).collect()
}

fn group_ids(l: &Listed<Namespace>) -> Vec<i64> {
    l.items.iter().map(|g| g.id).collect()
}

fn sorted(mut ids: Vec<i64>) -> Vec<i64> {
    ids.sort_unstable();
    ids
}

// ---------------------------------------------------------------------------------------------
// Health and users

async fn ping(cx: &Cx<'_>) {
    ok(cx.store.ping().await, "ping");
}

async fn users_create_and_lookup(cx: &Cx<'_>) {
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
    assert!(u.id > 0, "users: ids are positive");
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
    assert_eq!(ok(s.user_by_id(MISSING).await, "user_by_id"), None, "users: unknown id is Ok(None)");
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
    assert_eq!(ok(s.user_namespace(MISSING).await, "user_namespace"), None, "users: no namespace for unknown user");

    ok(s.set_password_hash(u.id, "$argon2id$v=19$other").await, "set_password_hash");
    let hash = ok(s.user_by_id(u.id).await, "user_by_id").and_then(|u| u.password_hash);
    assert_eq!(hash.as_deref(), Some("$argon2id$v=19$other"), "users: set_password_hash is stored");
    expect_not_found(s.set_password_hash(MISSING, "x").await, "users: set_password_hash on a missing user");

    let admin = NewUser { is_admin: true, password_hash: None, ..cx_new_user(cx, "root") };
    let a = ok(s.create_user(&admin, cx.at(6)).await, "create admin");
    assert!(a.is_admin && a.password_hash.is_none(), "users: is_admin and a missing hash round-trip");
}

fn cx_new_user(cx: &Cx<'_>, what: &str) -> NewUser {
    let username = cx.name(what);
    NewUser {
        name: format!("User {username}"),
        email: format!("{username}@example.test"),
        username,
        password_hash: None,
        is_admin: false,
    }
}

async fn users_list(cx: &Cx<'_>) {
    let s = cx.store;
    let marker = cx.name("ul");
    let mut made = Vec::new();
    for i in 0..3 {
        let new = NewUser { username: format!("{marker}u{i}"), ..cx_new_user(cx, "x") };
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

async fn users_conflicts(cx: &Cx<'_>) {
    let s = cx.store;
    let a = cx.user("dup").await;
    let same_name = NewUser { username: a.username.to_uppercase(), ..cx_new_user(cx, "other") };
    expect_conflict(s.create_user(&same_name, cx.at(8)).await, "username", "users: duplicate username (any case)");

    let same_email = NewUser { email: a.email.to_uppercase(), ..cx_new_user(cx, "mail") };
    expect_conflict(s.create_user(&same_email, cx.at(8)).await, "email", "users: duplicate email (any case)");
    assert_eq!(ok(s.user_by_username(&same_email.username).await, "lookup"), None, "users: failed create left a user");
    let leftover = ok(s.namespace_by_full_path(&same_email.username).await, "namespace_by_full_path");
    assert_eq!(leftover, None, "users: a failed create_user leaves no personal namespace behind");

    let g = cx.group("top", None, Visibility::Public).await;
    let clash = NewUser { username: g.path.to_uppercase(), ..cx_new_user(cx, "clash") };
    expect_conflict(s.create_user(&clash, cx.at(8)).await, "username", "users: username equal to a top-level group");
    assert_eq!(ok(s.user_by_username(&clash.username).await, "lookup"), None, "users: failed create left a user");

    let group_on_user = new_group(&a.username.to_uppercase(), None, Visibility::Public);
    let r = s.create_group(&group_on_user, None, cx.at(8)).await;
    expect_conflict(r, "path", "groups: top-level group path equal to a username");
}

// ---------------------------------------------------------------------------------------------
// Groups

async fn groups_nesting(cx: &Cx<'_>) {
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
    assert_eq!(ok(s.namespace_ancestry(MISSING).await, "ancestry"), vec![], "groups: ancestry of nothing");
    assert_eq!(ok(s.namespace_by_full_path(&cx.name("none")).await, "lookup"), None, "groups: unknown full path");

    let unowned = cx.group("free", None, Visibility::Public).await;
    let members = ok(s.list_members(MemberSource::Namespace(unowned.id), Page::ALL).await, "list_members");
    assert_eq!(members.total, 0, "groups: no owner given, no membership made");
}

async fn groups_conflicts_and_references(cx: &Cx<'_>) {
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
    expect_invalid(s.create_group(&bad_owner, Some(MISSING), cx.at(9)).await, "groups: owner that does not exist");
    let left = ok(s.namespace_by_full_path(&bad_owner.path).await, "lookup");
    assert_eq!(left, None, "groups: a failed owner membership rolls the group back");
    let bad_parent = new_group(&cx.name("lost"), Some(MISSING), Visibility::Public);
    expect_invalid(s.create_group(&bad_parent, None, cx.at(9)).await, "groups: parent that does not exist");
    // As in GitLab, personal namespaces hold projects only.
    let user = cx.user("nester").await;
    let personal = ok(s.user_namespace(user.id).await, "user_namespace").expect("personal namespace");
    let in_personal = new_group(&cx.name("sub"), Some(personal.id), Visibility::Public);
    expect_invalid(s.create_group(&in_personal, None, cx.at(9)).await, "groups: subgroup of a personal namespace");
}

// ---------------------------------------------------------------------------------------------
// Projects

async fn projects_create_and_lookup(cx: &Cx<'_>) {
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
    assert_eq!(ok(s.project_by_id(MISSING).await, "project_by_id"), None, "projects: unknown id");
    let members = ok(s.list_members(MemberSource::Project(p.id), Page::ALL).await, "list_members");
    let got: Vec<_> = members.items.iter().map(|(m, _)| (m.user_id, m.access_level, m.created_at)).collect();
    assert_eq!(got, vec![(owner.id, AccessLevel::Maintainer, cx.at(11))], "projects: creator membership is made");

    let bare = ok(s.create_project(&new_project(g.id, &cx.name("bare"), Visibility::Private), None, cx.at(11)).await, "");
    let members = ok(s.list_members(MemberSource::Project(bare.id), Page::ALL).await, "list_members");
    assert_eq!(members.total, 0, "projects: no creator, no membership");
    let nb = NewProject { default_branch: None, ..new_project(g.id, &cx.name("nb"), Visibility::Public) };
    let nb = ok(s.create_project(&nb, None, cx.at(11)).await, "create_project without default branch");
    assert_eq!(nb.default_branch, None, "projects: a missing default branch round-trips");

    let personal = ok(s.user_namespace(owner.id).await, "user_namespace").expect("personal namespace");
    let mine = cx.project(&personal, "mine", Visibility::Private, Some(&owner)).await;
    assert_eq!(mine.full_path, format!("{}/{}", owner.username, mine.path), "projects: in a personal namespace");

    let orphan = new_project(MISSING, &cx.name("orphan"), Visibility::Public);
    expect_invalid(s.create_project(&orphan, None, cx.at(11)).await, "projects: namespace that does not exist");
    let bad_creator = new_project(g.id, &cx.name("bc"), Visibility::Public);
    let r = s.create_project(&bad_creator, Some((MISSING, AccessLevel::Owner)), cx.at(11)).await;
    expect_invalid(r, "projects: creator that does not exist");
    let left = ok(s.project_by_full_path(&format!("{}/{}", g.full_path, bad_creator.path)).await, "lookup");
    assert_eq!(left, None, "projects: a failed creator membership rolls the project back");
}

async fn projects_path_clashes(cx: &Cx<'_>) {
    let s = cx.store;
    let owner = cx.user("clasher").await;
    let g = cx.group("pc", None, Visibility::Public).await;
    let p = cx.project(&g, "Repo", Visibility::Public, None).await;
    let dup = new_project(g.id, &p.path.to_uppercase(), Visibility::Public);
    let r = s.create_project(&dup, Some((owner.id, AccessLevel::Owner)), cx.at(12)).await;
    expect_conflict(r, "path", "projects: duplicate path in one namespace (any case)");
    let listed = ok(s.list_projects(&all_in(g.id), Page::ALL).await, "list_projects");
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
fn all_in(namespace_id: i64) -> ProjectFilter {
    ProjectFilter {
        access: AccessFilter { all: true, ..Default::default() },
        namespace_id: Some(namespace_id),
        search: None,
    }
}

async fn projects_update_and_touch(cx: &Cx<'_>) {
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
    expect_not_found(s.update_project(MISSING, &fields, cx.at(15)).await, "projects: update of a missing project");

    ok(s.touch_project(p.id, cx.at(16)).await, "touch_project");
    let touched = ok(s.project_by_id(p.id).await, "project_by_id").expect("project exists");
    assert_eq!((touched.last_activity_at, touched.created_at), (cx.at(16), p.created_at), "projects: touch");
    expect_not_found(s.touch_project(MISSING, cx.at(16)).await, "projects: touch of a missing project");
}

async fn projects_delete_cascades(cx: &Cx<'_>) {
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

// ---------------------------------------------------------------------------------------------
// Members

async fn members_crud(cx: &Cx<'_>) {
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

    let r = s.add_member(MemberSource::Project(MISSING), a.id, AccessLevel::Guest, cx.at(19)).await;
    expect_invalid(r, "members: project that does not exist");
    let r = s.add_member(MemberSource::Namespace(MISSING), a.id, AccessLevel::Guest, cx.at(19)).await;
    expect_invalid(r, "members: namespace that does not exist");
    expect_invalid(s.add_member(src, MISSING, AccessLevel::Guest, cx.at(19)).await, "members: user that does not exist");
}

async fn applicable_levels_inherit(cx: &Cx<'_>) {
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
        (MemberSource::Project(MISSING), &u, vec![], "missing project"),
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

// ---------------------------------------------------------------------------------------------
// Lists with access filters

fn access(min_visibility: Option<Visibility>, member: Option<&User>, membership_only: bool) -> AccessFilter {
    AccessFilter { all: false, min_visibility, member_id: member.map(|u| u.id), membership_only }
}

const ALL: AccessFilter = AccessFilter { all: true, min_visibility: None, member_id: None, membership_only: false };

async fn project_lists(cx: &Cx<'_>) {
    use Visibility::*;
    let s = cx.store;
    let (m_user, x_user) = (cx.user("plm").await, cx.user("plx").await);
    let m = cx.name("pl");
    let gpub = cx.group_at(format!("{m}-gpub"), None, Public).await;
    let gpriv = cx.group_at(format!("{m}-gpriv"), None, Private).await;
    let gsub = cx.group_at(format!("{m}-gsub"), Some(&gpriv), Private).await;
    // Traps for ancestor tests done with a bare prefix compare or with LIKE ('_' is a wildcard).
    let gtrap = cx.group_at(format!("{m}-gprivx"), None, Private).await;
    let gus = cx.group_at(format!("{m}-g_u"), None, Private).await;
    let gux = cx.group_at(format!("{m}-gxu"), None, Private).await;
    let guxsub = cx.group_at(format!("{m}-gxusub"), Some(&gux), Private).await;
    let m_home = ok(s.user_namespace(m_user.id).await, "user_namespace").expect("personal namespace");
    let x_home = ok(s.user_namespace(x_user.id).await, "user_namespace").expect("personal namespace");

    let pubp = cx.project_at(&gpub, format!("{m}-pub"), Public).await.id;
    let intp = cx.project_at(&gpub, format!("{m}-int"), Internal).await.id;
    let privp = cx.project_at(&gpub, format!("{m}-priv"), Private).await.id;
    let direct = cx.project_at(&gpub, format!("{m}-direct"), Private).await.id;
    let inpriv = cx.project_at(&gpriv, format!("{m}-inpriv"), Private).await.id;
    let insub = cx.project_at(&gsub, format!("{m}-insub"), Private).await.id;
    let trap = cx.project_at(&gtrap, format!("{m}-trap"), Private).await.id;
    let inus = cx.project_at(&gus, format!("{m}-inus"), Private).await.id;
    let inux = cx.project_at(&guxsub, format!("{m}-inux"), Private).await.id;
    let mine = cx.project_at(&m_home, format!("{m}-mine"), Private).await.id;
    let xs = cx.project_at(&x_home, format!("{m}-xs"), Private).await.id;
    cx.add(MemberSource::Namespace(gpriv.id), &m_user, AccessLevel::Developer).await;
    cx.add(MemberSource::Namespace(gus.id), &m_user, AccessLevel::Guest).await;
    cx.add(MemberSource::Project(direct), &m_user, AccessLevel::Reporter).await;
    let everything = vec![pubp, intp, privp, direct, inpriv, insub, trap, inus, inux, mine, xs];

    let marker = Some(m.to_uppercase());
    let cases: Vec<(AccessFilter, Option<i64>, Option<String>, Vec<i64>, &str)> = vec![
        (access(Some(Public), None, false), None, marker.clone(), vec![pubp], "anonymous sees public only"),
        (access(Some(Internal), Some(&x_user), false), None, marker.clone(), vec![pubp, intp, xs], "outsider"),
        (
            access(Some(Internal), Some(&m_user), false),
            None,
            marker.clone(),
            vec![pubp, intp, direct, inpriv, insub, inus, mine],
            "member: internal+ plus private via project, group, ancestor group and own namespace",
        ),
        (
            access(Some(Internal), Some(&m_user), true),
            None,
            marker.clone(),
            vec![direct, inpriv, insub, inus, mine],
            "membership_only drops the visibility part",
        ),
        (access(None, Some(&x_user), true), None, marker.clone(), vec![xs], "membership_only, outsider"),
        (access(Some(Public), None, true), None, marker.clone(), vec![], "membership_only without a member"),
        (AccessFilter::default(), None, marker.clone(), vec![], "an empty filter admits nothing"),
        (ALL, None, marker.clone(), everything.clone(), "all"),
        (ALL, Some(gpub.id), None, vec![pubp, intp, privp, direct], "all in one namespace"),
        (access(Some(Public), None, false), Some(gpub.id), None, vec![pubp], "anonymous in one namespace"),
        (ALL, Some(gpub.id), Some(format!("PROJECT {m}-INT")), vec![intp], "search matches the name"),
        (ALL, None, Some(format!("{m}-in_s")), vec![], "'_' in a search is a literal"),
        (ALL, Some(gpub.id), Some("%".to_string()), vec![], "'%' in a search is a literal"),
    ];
    for (access, namespace_id, search, want, what) in cases {
        let filter = ProjectFilter { access, namespace_id, search };
        let got = ok(s.list_projects(&filter, Page::ALL).await, "list_projects");
        assert_eq!(project_ids(&got), sorted(want.clone()), "list_projects: {what} ({filter:?})");
        assert_eq!(got.total, want.len() as i64, "list_projects: total, {what}");
    }

    let filter = ProjectFilter { access: ALL, namespace_id: None, search: marker };
    let page = ok(s.list_projects(&filter, Page { offset: 2, limit: 3 }).await, "list_projects paged");
    assert_eq!(project_ids(&page), everything[2..5].to_vec(), "list_projects: a page, by id");
    assert_eq!(page.total, everything.len() as i64, "list_projects: total is before paging");
    let past = ok(s.list_projects(&filter, Page { offset: 100, limit: 10 }).await, "list_projects past the end");
    assert_eq!((past.items.len(), past.total), (0, everything.len() as i64), "list_projects: past the end");
    let full = ok(s.list_projects(&filter, Page::ALL).await, "list_projects");
    let one = ok(s.project_by_id(insub).await, "project_by_id").expect("project exists");
    assert!(full.items.contains(&one), "list_projects: listed records equal looked-up ones (full path included)");
}

async fn group_lists(cx: &Cx<'_>) {
    use Visibility::*;
    let s = cx.store;
    let (m_user, x_user) = (cx.user("glm").await, cx.user("glx").await);
    let m = cx.name("gl");
    let top_pub = cx.group_at(format!("{m}-tpub"), None, Public).await.id;
    let top_int = cx.group_at(format!("{m}-tint"), None, Internal).await.id;
    let tp = cx.group_at(format!("{m}-tpriv"), None, Private).await;
    let sub_priv = cx.group_at(format!("{m}-spriv"), Some(&tp), Private).await.id;
    let sub_pub = cx.group_at(format!("{m}-spub"), Some(&tp), Public).await.id;
    let trap = cx.group_at(format!("{m}-tprivx"), None, Private).await;
    let trap_child = cx.group_at(format!("{m}-tc"), Some(&trap), Private).await.id;
    let top_priv = tp.id;
    cx.add(MemberSource::Namespace(top_priv), &m_user, AccessLevel::Developer).await;
    // A personal namespace matching the search must never be listed.
    let person = NewUser { username: format!("{m}-person"), ..cx_new_user(cx, "person") };
    ok(s.create_user(&person, cx.at(20)).await, "create_user");
    let everything = vec![top_pub, top_int, top_priv, sub_priv, sub_pub, trap.id, trap_child];

    let marker = Some(m.to_uppercase());
    let cases: Vec<(AccessFilter, Option<Option<i64>>, Option<String>, Vec<i64>, &str)> = vec![
        (access(Some(Public), None, false), None, marker.clone(), vec![top_pub, sub_pub], "anonymous"),
        (access(Some(Internal), Some(&x_user), false), None, marker.clone(), vec![top_pub, top_int, sub_pub], "user"),
        (
            access(Some(Internal), Some(&m_user), false),
            None,
            marker.clone(),
            vec![top_pub, top_int, top_priv, sub_priv, sub_pub],
            "member: own group and its subgroups",
        ),
        (
            access(Some(Internal), Some(&m_user), true),
            None,
            marker.clone(),
            vec![top_priv, sub_priv, sub_pub],
            "membership_only",
        ),
        (access(None, Some(&x_user), true), None, marker.clone(), vec![], "membership_only, outsider"),
        (AccessFilter::default(), None, marker.clone(), vec![], "an empty filter admits nothing"),
        (ALL, None, marker.clone(), everything.clone(), "all, and never a personal namespace"),
        (ALL, Some(None), marker.clone(), vec![top_pub, top_int, top_priv, trap.id], "top-level only"),
        (ALL, Some(Some(top_priv)), None, vec![sub_priv, sub_pub], "children of one group"),
        (access(Some(Public), None, false), Some(Some(top_priv)), None, vec![sub_pub], "public children"),
        (ALL, None, Some(format!("GROUP {m}-TINT")), vec![top_int], "search matches the name"),
        (ALL, None, Some(format!("{m}-t_ub")), vec![], "'_' in a search is a literal"),
    ];
    for (access, parent, search, want, what) in cases {
        let filter = GroupFilter { access, parent, search };
        let got = ok(s.list_groups(&filter, Page::ALL).await, "list_groups");
        assert_eq!(group_ids(&got), sorted(want.clone()), "list_groups: {what} ({filter:?})");
        assert_eq!(got.total, want.len() as i64, "list_groups: total, {what}");
    }

    let filter = GroupFilter { access: ALL, parent: None, search: marker };
    let page = ok(s.list_groups(&filter, Page { offset: 1, limit: 2 }).await, "list_groups paged");
    assert_eq!(group_ids(&page), everything[1..3].to_vec(), "list_groups: a page, by id");
    assert_eq!(page.total, everything.len() as i64, "list_groups: total is before paging");
    let full = ok(s.list_groups(&filter, Page::ALL).await, "list_groups");
    assert!(full.items.contains(&tp), "list_groups: listed records equal looked-up ones");
}

// ---------------------------------------------------------------------------------------------
// Tokens and events

async fn tokens(cx: &Cx<'_>) {
    let s = cx.store;
    let u = cx.user("tk").await;
    let other = cx.user("tko").await;
    let digest = |what: &str| format!("{:0>64}", cx.name(what));
    let expiry = NaiveDate::from_ymd_opt(2030, 1, 31).expect("valid date");
    let new1 = NewToken {
        user_id: u.id,
        name: "ci".to_string(),
        digest: digest("d"),
        scopes: vec![Scope::Api, Scope::ReadRepository],
        expires_at: Some(expiry),
    };
    let t1 = ok(s.create_token(&new1, cx.at(21)).await, "create_token");
    assert_eq!(
        t1,
        Token {
            id: t1.id,
            user_id: u.id,
            name: "ci".to_string(),
            scopes: vec![Scope::Api, Scope::ReadRepository],
            expires_at: Some(expiry),
            revoked: false,
            created_at: cx.at(21),
            last_used_at: None,
        },
        "tokens: create_token returns the token, not revoked, never used"
    );
    assert_eq!(ok(s.token_by_digest(&new1.digest).await, "token_by_digest"), Some(t1.clone()), "tokens: by digest");
    assert_eq!(ok(s.token_by_digest(&digest("none")).await, "token_by_digest"), None, "tokens: unknown digest");
    assert_eq!(ok(s.token_by_id(t1.id).await, "token_by_id"), Some(t1.clone()), "tokens: by id");
    assert_eq!(ok(s.token_by_id(MISSING).await, "token_by_id"), None, "tokens: unknown id");
    let dup = NewToken { user_id: other.id, name: "again".to_string(), ..new1.clone() };
    expect_conflict(s.create_token(&dup, cx.at(21)).await, "digest", "tokens: duplicate digest");
    let orphan = NewToken { user_id: MISSING, digest: digest("o"), ..new1.clone() };
    expect_invalid(s.create_token(&orphan, cx.at(21)).await, "tokens: user that does not exist");

    let new2 = NewToken { name: "read".to_string(), digest: digest("d"), scopes: vec![Scope::ReadApi], expires_at: None, ..new1 };
    let t2 = ok(s.create_token(&new2, cx.at(22)).await, "create_token");
    assert_eq!((t2.expires_at, &t2.scopes), (None, &vec![Scope::ReadApi]), "tokens: no expiry round-trips");
    let mine = ok(s.list_tokens(Some(u.id), Page::ALL).await, "list_tokens");
    assert_eq!(mine, Listed { items: vec![t1.clone(), t2.clone()], total: 2 }, "tokens: one user's, by id");
    let page = ok(s.list_tokens(Some(u.id), Page { offset: 1, limit: 1 }).await, "list_tokens paged");
    assert_eq!(page, Listed { items: vec![t2.clone()], total: 2 }, "tokens: paging keeps the total");
    let everyone = ok(s.list_tokens(None, Page::ALL).await, "list_tokens(None)");
    assert!(everyone.items.contains(&t1) && everyone.items.contains(&t2), "tokens: None lists everyone's");
    assert!(everyone.total >= 2 && everyone.total == everyone.items.len() as i64, "tokens: total of everyone's");
    assert_eq!(ok(s.list_tokens(Some(other.id), Page::ALL).await, "list_tokens").total, 0, "tokens: per user");

    ok(s.revoke_token(t1.id).await, "revoke_token");
    let revoked = ok(s.token_by_id(t1.id).await, "token_by_id").expect("token exists");
    assert_eq!(revoked, Token { revoked: true, ..t1.clone() }, "tokens: revoke sets revoked only");
    ok(s.revoke_token(t1.id).await, "tokens: revoking twice is fine");
    expect_not_found(s.revoke_token(MISSING).await, "tokens: revoke of a missing token");
    ok(s.touch_token(t2.id, cx.at(23)).await, "touch_token");
    let used = ok(s.token_by_digest(&t2_digest(&new2)).await, "token_by_digest").expect("token exists");
    assert_eq!(used.last_used_at, Some(cx.at(23)), "tokens: touch sets last_used_at");
    expect_not_found(s.touch_token(MISSING, cx.at(23)).await, "tokens: touch of a missing token");
}

fn t2_digest(t: &NewToken) -> String {
    t.digest.clone()
}

async fn push_events(cx: &Cx<'_>) {
    let s = cx.store;
    let u = cx.user("pe").await;
    let g = cx.group("pe", None, Visibility::Public).await;
    let p = cx.project(&g, "pe", Visibility::Public, None).await;
    let quiet = cx.project(&g, "quiet", Visibility::Public, None).await;
    let push = |n: u32, pusher: Option<i64>| NewPushEvent {
        project_id: p.id,
        ref_name: format!("refs/heads/b{n}"),
        before: "0".repeat(40),
        after: format!("{n:x}").repeat(40),
        pusher_id: pusher,
    };
    let e1 = ok(s.record_push(&push(1, Some(u.id)), cx.at(30)).await, "record_push");
    assert_eq!(
        e1,
        PushEvent {
            id: e1.id,
            project_id: p.id,
            ref_name: "refs/heads/b1".to_string(),
            before: "0".repeat(40),
            after: "1".repeat(40),
            pusher_id: Some(u.id),
            created_at: cx.at(30),
        },
        "events: record_push returns the event"
    );
    let e2 = ok(s.record_push(&push(2, None), cx.at(40)).await, "record_push");
    let e3 = ok(s.record_push(&push(3, Some(u.id)), cx.at(50)).await, "record_push");
    // Recorded last but happened earlier: newest first means by time, not by id.
    let e4 = ok(s.record_push(&push(4, None), cx.at(35)).await, "record_push");
    let all = ok(s.list_push_events(p.id, Page::ALL).await, "list_push_events");
    assert_eq!(all, Listed { items: vec![e3, e2.clone(), e4, e1], total: 4 }, "events: newest first");
    let page = ok(s.list_push_events(p.id, Page { offset: 1, limit: 1 }).await, "list_push_events paged");
    assert_eq!(page, Listed { items: vec![e2], total: 4 }, "events: paging keeps the total");
    let none = ok(s.list_push_events(quiet.id, Page::ALL).await, "list_push_events");
    assert_eq!(none.total, 0, "events: per project");
    let orphan = NewPushEvent { project_id: MISSING, ..push(5, None) };
    expect_invalid(s.record_push(&orphan, cx.at(60)).await, "events: project that does not exist");
}
