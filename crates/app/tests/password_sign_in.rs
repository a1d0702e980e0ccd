//! Password sign-in limits over a real (SQLite) store with a controllable clock: locks per
//! account and per address, refusal without a check while locked, expiry, reset on success, and
//! missing usernames treated exactly like existing ones.

mod common;

use autogit_app::{App, AppError, CreateUser, Credentials, MemoryFailureCounter, PasswordSettings};
use autogit_core::lockout::LockoutPolicy;
use autogit_git::RepoStorage;
use autogit_store_sql::SqlStore;
use chrono::{Duration, TimeZone, Utc};
use common::TestClock;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

struct Fixture {
    app: App,
    clock: Arc<TestClock>,
    _dir: tempfile::TempDir,
}

impl Fixture {
    fn advance(&self, d: Duration) {
        self.clock.advance(d);
    }

    async fn try_git(&self, user: &str, password: &str, peer: &str) -> Result<(), AppError> {
        let creds = Credentials::Basic { username: user.into(), password: password.into() };
        self.app.system().authenticate_git(creds, peer.parse::<IpAddr>().expect("ip")).await.map(|_| ())
    }
}

fn policy(max_failures: u32, lock_s: i64) -> LockoutPolicy {
    LockoutPolicy { max_failures, window_ms: 60_000, lock_ms: lock_s * 1000, max_lock_ms: 4 * lock_s * 1000 }
}

async fn fixture(account: LockoutPolicy, address: LockoutPolicy) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store = SqlStore::connect(&url).await.expect("store");
    let clock = Arc::new(TestClock::at(Utc.with_ymd_and_hms(2026, 1, 10, 12, 0, 0).single().expect("date")));
    let settings = PasswordSettings { account, address, ..PasswordSettings::default() };
    let app = App::new(Arc::new(store), RepoStorage::new(dir.path().join("repos")), clock.clone())
        .with_password_checks(settings, Arc::new(MemoryFailureCounter::new(1_000)));
    for name in ["alice", "bob"] {
        app.system()
            .insert_user(CreateUser {
                username: name.into(),
                name: name.into(),
                email: format!("{name}@example.com"),
                password: Some(format!("{name}-password")),
                is_admin: false,
            })
            .await
            .expect("user");
    }
    Fixture { app, clock, _dir: dir }
}

fn locked_for(r: Result<(), AppError>) -> u64 {
    match r {
        Err(AppError::SignInLocked(s)) => s,
        other => panic!("expected a lock, got {other:?}"),
    }
}

#[tokio::test]
async fn an_account_locks_after_its_failures_refuses_the_right_password_then_opens() {
    let f = fixture(policy(3, 10), policy(0, 10)).await;
    for _ in 0..3 {
        assert!(matches!(f.try_git("alice", "wrong", "10.0.0.1").await, Err(AppError::Unauthorized)));
    }
    let secs = locked_for(f.try_git("alice", "alice-password", "10.0.0.2").await);
    assert_eq!(secs, 10, "the right password is refused during the lock, from any address");
    assert!(f.try_git("bob", "bob-password", "10.0.0.1").await.is_ok(), "other accounts are not locked");
    f.advance(Duration::seconds(10));
    assert!(f.try_git("alice", "alice-password", "10.0.0.1").await.is_ok(), "the lock ends");
    // Success forgot the failures: three more are needed for the next lock.
    for _ in 0..2 {
        assert!(matches!(f.try_git("alice", "wrong", "10.0.0.1").await, Err(AppError::Unauthorized)));
    }
    assert!(f.try_git("alice", "alice-password", "10.0.0.1").await.is_ok());
}

#[tokio::test]
async fn each_failure_after_a_lock_locks_again_twice_as_long() {
    let f = fixture(policy(2, 10), policy(0, 10)).await;
    for _ in 0..2 {
        let _ = f.try_git("alice", "wrong", "10.0.0.1").await;
    }
    assert_eq!(locked_for(f.try_git("alice", "wrong", "10.0.0.1").await), 10);
    f.advance(Duration::seconds(10));
    assert!(matches!(f.try_git("alice", "wrong", "10.0.0.1").await, Err(AppError::Unauthorized)));
    assert_eq!(locked_for(f.try_git("alice", "alice-password", "10.0.0.1").await), 20);
    f.advance(Duration::seconds(20));
    let _ = f.try_git("alice", "wrong", "10.0.0.1").await;
    assert_eq!(locked_for(f.try_git("alice", "wrong", "10.0.0.1").await), 40, "at most max_lock");
    f.advance(Duration::seconds(40));
    let _ = f.try_git("alice", "wrong", "10.0.0.1").await;
    assert_eq!(locked_for(f.try_git("alice", "wrong", "10.0.0.1").await), 40, "capped");
}

#[tokio::test]
async fn missing_usernames_are_counted_and_locked_like_existing_ones() {
    let f = fixture(policy(3, 10), policy(0, 10)).await;
    for user in ["alice", "nobody"] {
        for _ in 0..3 {
            let r = f.try_git(user, "wrong", "10.0.0.1").await;
            assert!(matches!(r, Err(AppError::Unauthorized)), "{user}: {r:?}");
        }
        assert_eq!(locked_for(f.try_git(user, "wrong", "10.0.0.1").await), 10, "{user}");
    }
    let case = f.try_git("NOBODY", "wrong", "10.0.0.9").await;
    assert_eq!(locked_for(case), 10, "usernames are counted case-insensitively");
}

#[tokio::test]
async fn an_address_locks_across_usernames_and_a_success_does_not_reset_it() {
    let f = fixture(policy(100, 10), policy(4, 30)).await;
    for i in 0..3 {
        let _ = f.try_git(&format!("user{i}"), "wrong", "10.0.0.1").await;
    }
    assert!(f.try_git("alice", "alice-password", "10.0.0.1").await.is_ok());
    let _ = f.try_git("user9", "wrong", "10.0.0.1").await;
    assert_eq!(locked_for(f.try_git("bob", "bob-password", "10.0.0.1").await), 30, "the address is locked");
    assert!(f.try_git("bob", "bob-password", "10.0.0.2").await.is_ok(), "another address is not");
    // IPv6 addresses of one /64 share a counter.
    for i in 0..4 {
        let _ = f.try_git("user", "wrong", &format!("2001:db8::{i}")).await;
    }
    let r = f.try_git("bob", "bob-password", "2001:db8::ffff:1").await;
    assert_eq!(locked_for(r), 30, "the /64 is locked");
    assert!(f.try_git("bob", "bob-password", "2001:db8:0:1::1").await.is_ok(), "the next /64 is not");
}

#[tokio::test]
async fn a_locked_attempt_is_refused_without_a_password_check() {
    let f = fixture(policy(1, 600), policy(0, 10)).await;
    let started = Instant::now();
    assert!(matches!(f.try_git("alice", "wrong", "10.0.0.1").await, Err(AppError::Unauthorized)));
    let checked = started.elapsed();
    let started = Instant::now();
    for _ in 0..20 {
        locked_for(f.try_git("alice", "alice-password", "10.0.0.1").await);
    }
    let refused = started.elapsed();
    assert!(refused < checked, "20 refusals ({refused:?}) cost less than one argon2 check ({checked:?})");
}

#[tokio::test]
async fn the_api_takes_tokens_not_passwords() {
    let f = fixture(policy(3, 10), policy(3, 10)).await;
    let basic = |password: &str| Credentials::Basic { username: "alice".into(), password: password.into() };
    let r = f.app.system().authenticate(basic("alice-password")).await;
    assert!(matches!(r, Err(AppError::PasswordNotAccepted)), "{r:?}");
    let alice = f.app.system().user_by_username("alice").await.expect("alice");
    let token = f
        .app
        .system()
        .insert_token(
            alice.id,
            autogit_app::CreateToken { name: "t".into(), scopes: vec!["api".into()], expires_at: None },
        )
        .await
        .expect("token");
    let who = f.app.system().authenticate(basic(&token.secret)).await.expect("a token in Basic is accepted");
    assert_eq!(who.user.map(|u| u.username), Some("alice".to_string()));
    // Passwords refused by the API are not password checks: they never lock the account.
    for _ in 0..5 {
        let _ = f.app.system().authenticate(basic("wrong")).await;
    }
    assert!(f.try_git("alice", "alice-password", "10.0.0.1").await.is_ok());
}
