//! Races the writes whose uniqueness no single index guards: a project and a subgroup claiming
//! the same path in one namespace, and two users claiming one username. Exactly one must win
//! each round, the loser must get `Conflict`, and nothing may be left half-written.

mod common;

use std::sync::Arc;

use autogit_core::Visibility;
use autogit_store::{NewGroup, NewProject, NewUser, Store, StoreError};
use chrono::DateTime;
use common::{PgSchema, sqlite_store};

const ROUNDS: usize = 20;

async fn race_paths(store: Arc<dyn Store>) {
    let now = DateTime::from_timestamp_millis(1_700_000_000_000).expect("valid time");
    let tag = autogit_store::conformance::unique_prefix();
    let parent = NewGroup {
        name: "race".into(),
        path: format!("{tag}-race"),
        parent_id: None,
        visibility: Visibility::Public,
        description: String::new(),
    };
    let parent = store.create_group(&parent, None, now).await.expect("create parent group");
    let mut wins = (0, 0);
    for round in 0..ROUNDS {
        let path = format!("p{round}");
        let project = NewProject {
            namespace_id: parent.id,
            name: path.clone(),
            path: path.clone(),
            description: String::new(),
            visibility: Visibility::Public,
            default_branch: None,
            default_branch_protection: None,
        };
        let group =
            NewGroup { name: path.clone(), path: path.to_uppercase(), parent_id: Some(parent.id), ..parent_like() };
        let (s1, s2) = (store.clone(), store.clone());
        let a = tokio::spawn(async move { s1.create_project(&project, None, now).await });
        let b = tokio::spawn(async move { s2.create_group(&group, None, now).await });
        let (a, b) = (a.await.expect("task"), b.await.expect("task"));
        match (&a, &b) {
            (Ok(_), Err(StoreError::Conflict(_))) => wins.0 += 1,
            (Err(StoreError::Conflict(_)), Ok(_)) => wins.1 += 1,
            _ => panic!("round {round}: exactly one of project/subgroup must win: {a:?} / {b:?}"),
        }
        let full = format!("{}/{path}", parent.full_path);
        let project = store.project_by_full_path(&full).await.expect("lookup project");
        let group = store.namespace_by_full_path(&full).await.expect("lookup group");
        assert!(project.is_some() != group.is_some(), "round {round}: exactly one record owns {full}");
    }
    println!("project won {} rounds, subgroup won {}", wins.0, wins.1);
}

fn parent_like() -> NewGroup {
    NewGroup {
        name: String::new(),
        path: String::new(),
        parent_id: None,
        visibility: Visibility::Public,
        description: String::new(),
    }
}

async fn race_usernames(store: Arc<dyn Store>) {
    let now = DateTime::from_timestamp_millis(1_700_000_000_000).expect("valid time");
    let tag = autogit_store::conformance::unique_prefix();
    for round in 0..ROUNDS {
        let user = |n: u32| NewUser {
            username: format!("{tag}-u{round}"),
            name: format!("racer {n}"),
            email: format!("{tag}-{round}-{n}@example.test"),
            password_hash: None,
            is_admin: false,
        };
        let (s1, s2) = (store.clone(), store.clone());
        let (u1, u2) = (user(1), user(2));
        let a = tokio::spawn(async move { s1.create_user(&u1, now).await });
        let b = tokio::spawn(async move { s2.create_user(&u2, now).await });
        let results = [a.await.expect("task"), b.await.expect("task")];
        let won = results.iter().filter(|r| r.is_ok()).count();
        let lost = results.iter().filter(|r| matches!(r, Err(StoreError::Conflict(f)) if f == "username")).count();
        assert_eq!((won, lost), (1, 1), "round {round}: one user wins, one gets Conflict: {results:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn races_on_sqlite() {
    let (store, _dir) = sqlite_store().await;
    let store: Arc<dyn Store> = Arc::new(store);
    race_paths(store.clone()).await;
    race_usernames(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn races_on_postgres() {
    let Some(schema) = PgSchema::create().await else { return };
    let store: Arc<dyn Store> = Arc::new(schema.store().await);
    race_paths(store.clone()).await;
    race_usernames(store).await;
    schema.drop().await;
}
