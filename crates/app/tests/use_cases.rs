//! Use-cases over a real (SQLite) store and real repository storage, with a controllable clock.

mod common;

use autogit_app::{App, AppError, CreateGroup, CreateProject, CreateToken, CreateUser, Credentials, Principal};
use autogit_core::Visibility;
use autogit_git::RepoStorage;
use autogit_store_sql::SqlStore;
use chrono::{Duration, NaiveDate, TimeZone, Utc};
use common::TestClock;
use std::sync::Arc;

struct Fixture {
    app: App,
    clock: Arc<TestClock>,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store = SqlStore::connect(&url).await.expect("store");
    let clock = Arc::new(TestClock::at(Utc.with_ymd_and_hms(2026, 1, 10, 12, 0, 0).single().expect("date")));
    let app = App::new(Arc::new(store), RepoStorage::new(dir.path().join("repos")), clock.clone());
    Fixture { app, clock, _dir: dir }
}

fn user(name: &str, admin: bool) -> CreateUser {
    CreateUser {
        username: name.into(),
        name: name.into(),
        email: format!("{name}@example.com"),
        password: Some("long-enough-pw".into()),
        is_admin: admin,
    }
}

#[tokio::test]
async fn tokens_expire_on_their_date_and_can_be_revoked() {
    let f = fixture().await;
    let u = f.app.system().insert_user(user("ann", false)).await.expect("user");
    let expires = NaiveDate::from_ymd_opt(2026, 1, 12).expect("date");
    let t = f
        .app
        .system()
        .insert_token(u.id, CreateToken { name: "t".into(), scopes: vec!["api".into()], expires_at: Some(expires) })
        .await
        .expect("token");
    assert!(t.secret.starts_with("glpat-"));
    assert!(!format!("{t:?}").contains(&t.secret), "Debug redacts the secret");
    let creds = || Credentials::Token(t.secret.clone());
    assert!(f.app.system().authenticate(creds()).await.is_ok(), "valid before its date");
    f.clock.advance(Duration::days(1));
    assert!(f.app.system().authenticate(creds()).await.is_ok(), "valid the day before");
    f.clock.advance(Duration::days(1));
    assert!(
        matches!(f.app.system().authenticate(creds()).await, Err(AppError::Unauthorized)),
        "invalid from its date on"
    );

    let t2 = f
        .app
        .system()
        .insert_token(u.id, CreateToken { name: "t2".into(), scopes: vec!["read_api".into()], expires_at: None })
        .await
        .expect("token");
    let who = f.app.system().authenticate(Credentials::Token(t2.secret.clone())).await.expect("auth");
    f.app.revoke_token(&who, t2.token.id).await.expect("revoke own token");
    assert!(matches!(f.app.system().authenticate(Credentials::Token(t2.secret)).await, Err(AppError::Unauthorized)));
    // Past expiry and unknown scopes are rejected at creation.
    let past = f
        .app
        .system()
        .insert_token(u.id, CreateToken { name: "x".into(), scopes: vec!["api".into()], expires_at: Some(expires) })
        .await;
    assert!(matches!(past, Err(AppError::Invalid("expires_at", _))));
    let bad = f
        .app
        .system()
        .insert_token(u.id, CreateToken { name: "x".into(), scopes: vec!["sudo".into()], expires_at: None })
        .await;
    assert!(matches!(bad, Err(AppError::Invalid("scopes", _))));
}

#[tokio::test]
async fn bootstrap_creates_root_once_and_passwords_authenticate() {
    let f = fixture().await;
    assert!(f.app.system().bootstrap_root("first-password").await.expect("bootstrap"));
    assert!(!f.app.system().bootstrap_root("second-password").await.expect("bootstrap"), "only on an empty database");
    let peer = std::net::IpAddr::from([127, 0, 0, 1]);
    let basic = |password: &str| Credentials::Basic { username: "ROOT".into(), password: password.into() };
    let ok = f.app.system().authenticate_git(basic("first-password"), peer).await;
    assert!(ok.expect("case-insensitive username").actor.is_admin());
    let bad = f.app.system().authenticate_git(basic("second-password"), peer).await;
    assert!(matches!(bad, Err(AppError::Unauthorized)));
    let api = f.app.system().authenticate(basic("first-password")).await;
    assert!(matches!(api, Err(AppError::PasswordNotAccepted)), "the API takes tokens, not passwords");
}

#[tokio::test]
async fn project_creation_is_undone_when_the_repository_cannot_be_made() {
    let f = fixture().await;
    let root = f.app.system().insert_user(user("boss", true)).await.expect("user");
    let who = Principal::trusted(root);
    // Make the repository root unusable: a file where the directory should be.
    std::fs::write(f._dir.path().join("repos"), "blocker").expect("write");
    let res = f.app.create_project(&who, CreateProject { name: Some("p".into()), ..Default::default() }).await;
    assert!(res.is_err(), "creation fails");
    std::fs::remove_file(f._dir.path().join("repos")).expect("rm");
    // Nothing half-made: the same path is free again.
    let p = f
        .app
        .create_project(&who, CreateProject { name: Some("p".into()), ..Default::default() })
        .await
        .expect("retry");
    assert!(RepoStorage::new(f._dir.path().join("repos")).exists(p.id));
}

#[tokio::test]
async fn visibility_cannot_exceed_the_containing_group() {
    let f = fixture().await;
    let who = Principal::trusted(f.app.system().insert_user(user("gwen", false)).await.expect("user"));
    let g = f
        .app
        .create_group(
            &who,
            CreateGroup { name: "Priv".into(), visibility: Some(Visibility::Private), ..Default::default() },
        )
        .await
        .expect("group");
    let res = f
        .app
        .create_project(
            &who,
            CreateProject {
                name: Some("x".into()),
                namespace_id: Some(g.id),
                visibility: Some(Visibility::Public),
                ..Default::default()
            },
        )
        .await;
    assert!(matches!(res, Err(AppError::Invalid("visibility_level", _))), "{res:?}");
    let sub = f
        .app
        .create_group(
            &who,
            CreateGroup {
                name: "Sub".into(),
                parent_id: Some(g.id),
                visibility: Some(Visibility::Internal),
                ..Default::default()
            },
        )
        .await;
    assert!(matches!(sub, Err(AppError::Invalid("visibility_level", _))), "{sub:?}");
}
