//! Secrets at rest through the variables use-cases, over a real SQLite store: what is stored is
//! sealed, what comes out is the value, moved values do not open, and the passes seal, re-seal
//! and report.

use super::*;
use crate::ci::variables::{CreateVariable, UpdateVariable};
use crate::{CreateProject, CreateUser, Principal, Source};
use autogit_git::storage::RepoStorage;
use autogit_secrets::{KEY_LEN, Key};
use autogit_store::{NewVariable, Page, ProjectId};
use autogit_store_sql::SqlStore;
use std::sync::Mutex;

const VALUE: &str = "hunter2-very-secret";

struct Fixture {
    app: App,
    who: Principal,
    project: ProjectId,
    _dir: tempfile::TempDir,
}

fn ring(n: u8) -> Keyring {
    Keyring::new(Key::from_bytes([n; KEY_LEN]))
}

async fn fixture(keyring: Keyring, source: Option<Arc<dyn KeyringSource>>) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store = SqlStore::connect(&url).await.expect("store");
    let app = App::new(Arc::new(store), RepoStorage::new(dir.path().join("repos")), Arc::new(crate::SystemClock))
        .with_secrets(Secrets::new(keyring, source));
    let root = app
        .system()
        .insert_user(CreateUser {
            username: "root".into(),
            name: "root".into(),
            email: "root@example.com".into(),
            password: None,
            is_admin: true,
        })
        .await
        .expect("user");
    let who = Principal::trusted(root);
    let p = app.create_project(&who, CreateProject { name: Some("p".into()), ..Default::default() }).await.expect("p");
    Fixture { app, who, project: p.id, _dir: dir }
}

fn var(key: &str, value: &str) -> CreateVariable {
    CreateVariable { key: key.into(), value: value.into(), ..Default::default() }
}

async fn stored(f: &Fixture, key: &str) -> CiVariable {
    f.app.store.variable(VariableOwner::Project(f.project), key, None).await.expect("read").expect("exists")
}

#[tokio::test]
async fn values_are_sealed_in_the_store_and_open_through_the_app() {
    let f = fixture(ring(1), None).await;
    let src = Source::Project("root/p");
    let created = f.app.create_variable(&f.who, src, var("TOKEN", VALUE)).await.expect("create");
    assert_eq!(created.value, VALUE, "the answer carries the value");
    let raw = stored(&f, "TOKEN").await;
    assert!(raw.value.starts_with(&format!("agsec:v1:{}:", ring(1).current().id())), "{}", raw.value);
    assert!(!raw.value.contains(VALUE));
    assert_eq!(f.app.get_variable(&f.who, src, "TOKEN", None).await.expect("get").value, VALUE);
    let listed = f.app.list_variables(&f.who, src, Page::ALL).await.expect("list");
    assert_eq!(listed.items[0].value, VALUE);

    // A scope change re-seals under the new binding; a value change gets a fresh nonce.
    let up = UpdateVariable { environment_scope: Some("production".into()), ..Default::default() };
    let moved = f.app.update_variable(&f.who, src, "TOKEN", None, up).await.expect("update scope");
    assert_eq!(moved.value, VALUE);
    let after = stored(&f, "TOKEN").await;
    assert_ne!(after.value, raw.value, "re-sealed for the new scope");
    assert_eq!(f.app.get_variable(&f.who, src, "TOKEN", Some("production")).await.expect("get").value, VALUE);
    let up = UpdateVariable { value: Some("next-value".into()), ..Default::default() };
    assert_eq!(f.app.update_variable(&f.who, src, "TOKEN", None, up).await.expect("update").value, "next-value");
}

#[tokio::test]
async fn a_value_moved_to_another_row_does_not_open() {
    let f = fixture(ring(1), None).await;
    let src = Source::Project("root/p");
    f.app.create_variable(&f.who, src, var("A", VALUE)).await.expect("a");
    f.app.create_variable(&f.who, src, var("B", "b-value")).await.expect("b");
    let (a, b) = (stored(&f, "A").await, stored(&f, "B").await);
    // Someone with write access to the database copies A's sealed value into B.
    assert!(f.app.store.swap_variable_value(b.id, &b.value, &a.value).await.expect("swap"));
    let err = f.app.get_variable(&f.who, src, "B", None).await.expect_err("must not open");
    let msg = err.to_string();
    assert!(msg.contains("CI/CD variable B") && msg.contains("does not authenticate"), "{msg}");
    assert!(!msg.contains(VALUE));
    let pass = f.app.system().reseal_secrets(true).await.expect("pass");
    assert_eq!((pass.failed, pass.current), (1, 1), "{pass:?}");
    assert!(pass.failures[0].contains("CI/CD variable B"), "{pass:?}");
}

#[tokio::test]
async fn the_pass_seals_plain_values_once_and_checking_writes_nothing() {
    let f = fixture(ring(1), None).await;
    let new = NewVariable {
        owner: VariableOwner::Project(f.project),
        key: "OLD".into(),
        value: VALUE.into(),
        variable_type: "env_var".into(),
        protected: false,
        masked: false,
        raw: false,
        environment_scope: "*".into(),
        description: None,
    };
    f.app.store.create_variable(&new).await.expect("a plain row from before sealing");
    let err = f.app.get_variable(&f.who, Source::Project("root/p"), "OLD", None).await.expect_err("unsealed");
    assert!(err.to_string().contains("stored unsealed"), "{err}");

    let check = f.app.system().reseal_secrets(true).await.expect("check");
    assert_eq!((check.sealed_plain, check.failed), (1, 0), "{check:?}");
    assert_eq!(stored(&f, "OLD").await.value, VALUE, "checking writes nothing");
    let pass = f.app.system().reseal_secrets(false).await.expect("pass");
    assert_eq!(pass.sealed_plain, 1);
    assert!(stored(&f, "OLD").await.value.starts_with("agsec:v1:"));
    let again = f.app.system().reseal_secrets(false).await.expect("pass");
    assert_eq!((again.sealed_plain, again.resealed, again.current), (0, 0, 1), "idempotent");
    assert_eq!(f.app.get_variable(&f.who, Source::Project("root/p"), "OLD", None).await.expect("get").value, VALUE);
}

#[tokio::test]
async fn rotation_reseals_with_the_new_key_and_unknown_keys_are_named() {
    let f = fixture(ring(1), None).await;
    let src = Source::Project("root/p");
    f.app.create_variable(&f.who, src, var("K", VALUE)).await.expect("create");
    let old_id = ring(1).current().id();
    let rotated = ring(1).rotated(Key::from_bytes([2; KEY_LEN])).expect("rotate");
    let new_id = rotated.current().id();
    let app = f.app.clone().with_secrets(Secrets::new(rotated.clone(), None));
    let pass = app.system().reseal_secrets(false).await.expect("reseal");
    assert_eq!((pass.resealed, pass.by_key.get(&old_id)), (1, Some(&1)), "{pass:?}");
    assert!(stored(&f, "K").await.value.starts_with(&format!("agsec:v1:{new_id}:")));

    // The old key alone cannot open it: a clear error, at the pass and through the API.
    let old = f.app.clone().with_secrets(Secrets::new(ring(1), None));
    let pass = old.system().reseal_secrets(true).await.expect("check");
    assert_eq!(pass.failed, 1);
    assert!(pass.failures[0].contains(&format!("sealed with key {new_id}, which is not in the keyring")), "{pass:?}");
    let retired = f.app.clone().with_secrets(Secrets::new(rotated.retired(), None));
    assert_eq!(retired.get_variable(&f.who, src, "K", None).await.expect("get").value, VALUE);
}

/// A keyring source whose content the test swaps, as `autogit admin rotate-key` rewrites the file.
struct Swappable(Mutex<(Keyring, bool)>);

impl KeyringSource for Swappable {
    fn changed(&self) -> std::result::Result<Option<Keyring>, String> {
        let mut g = self.0.lock().expect("lock");
        let changed = std::mem::take(&mut g.1);
        Ok(changed.then(|| g.0.clone()))
    }
    fn reload(&self) -> std::result::Result<Keyring, String> {
        Ok(self.0.lock().expect("lock").0.clone())
    }
    fn describe(&self) -> String {
        "the test keyring".into()
    }
}

#[tokio::test]
async fn a_running_app_follows_a_rotation_made_elsewhere() {
    let source = Arc::new(Swappable(Mutex::new((ring(1), false))));
    let f = fixture(ring(1), Some(source.clone())).await;
    let src = Source::Project("root/p");
    f.app.create_variable(&f.who, src, var("K", VALUE)).await.expect("create");
    // Another process adds key 2 and rewrites the keyring: the next value is sealed with key 2.
    let rotated = ring(1).rotated(Key::from_bytes([2; KEY_LEN])).expect("rotate");
    *source.0.lock().expect("lock") = (rotated.clone(), true);
    f.app.create_variable(&f.who, src, var("NEW", VALUE)).await.expect("create");
    assert!(stored(&f, "NEW").await.value.starts_with(&format!("agsec:v1:{}:", rotated.current().id())));

    // It re-seals everything with key 2 and retires key 1. A process that still holds only key 1
    // meets key 2's id, reads its source again and opens the value.
    f.app
        .clone()
        .with_secrets(Secrets::new(rotated.clone(), None))
        .system()
        .reseal_secrets(false)
        .await
        .expect("reseal");
    *source.0.lock().expect("lock") = (rotated.retired(), false);
    let stale = f.app.clone().with_secrets(Secrets::new(ring(1), Some(source.clone())));
    assert_eq!(stale.get_variable(&f.who, src, "K", None).await.expect("get").value, VALUE);
    assert_eq!(
        stale.system().secrets().keyring().expect("keyring").ids(),
        vec![rotated.current().id()],
        "it now holds the new keyring"
    );
}
