//! The blob conformance suite on the filesystem adapter, plus what only a filesystem can get
//! wrong: modes, symlinks placed in the tree, and temporary files.

use autogit_blob_fs::FsBlobStore;
use autogit_store::blob::{BlobError, BlobKey, BlobStore, bytes_body};
use autogit_store::conformance::{blob, unique_prefix};
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

fn key(k: &str) -> BlobKey {
    BlobKey::new(k).expect("valid key")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = FsBlobStore::open(dir.path().join("blobs")).expect("open");
    blob::run(Arc::new(store.clone()), &unique_prefix()).await;
    let temps = std::fs::read_dir(store.root().join(".tmp")).expect("temp dir").count();
    assert_eq!(temps, 0, "every temporary file was removed or renamed");
}

#[tokio::test]
async fn directories_and_files_are_owner_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = FsBlobStore::open(dir.path().join("blobs")).expect("open");
    store.put(&key("7/archive-1"), bytes_body("zip"), None).await.expect("put");
    let mode = |p: &str| std::fs::metadata(store.root().join(p)).expect(p).permissions().mode() & 0o777;
    assert_eq!(mode(""), 0o700);
    assert_eq!(mode("7"), 0o700);
    assert_eq!(mode("7/archive-1"), 0o600);
}

#[tokio::test]
async fn symlinks_in_the_tree_are_never_followed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).expect("outside dir");
    std::fs::write(outside.join("secret"), "do not read").expect("secret");
    let store = FsBlobStore::open(dir.path().join("blobs")).expect("open");
    std::os::unix::fs::symlink(&outside, store.root().join("linked")).expect("dir link");
    std::os::unix::fs::symlink(outside.join("secret"), store.root().join("file")).expect("file link");

    let through = key("linked/secret");
    assert!(matches!(store.open(&through, None).await, Err(BlobError::Unavailable { .. })), "no read through a link");
    let err = store.put(&key("linked/new"), bytes_body("x"), None).await.expect_err("no write through a link");
    assert!(err.to_string().contains("linked"), "{err}");
    assert!(!outside.join("new").exists());
    assert!(store.open(&key("file"), None).await.is_err(), "a link at a key's place is not opened");
    assert_eq!(store.list(&key("linked")).await.expect("list"), Vec::<BlobKey>::new(), "links are not listed");
    assert_eq!(store.remove_prefix(&key("linked")).await.expect("nothing below a link"), 0);
    store.remove(&key("linked/secret")).await.expect_err("no removal through a link");
    store.remove(&key("file")).await.expect("a link at a key's place is removed itself");
    assert_eq!(std::fs::read_to_string(outside.join("secret")).expect("kept"), "do not read");
}

#[tokio::test]
async fn leftovers_of_a_crashed_put_are_removed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = FsBlobStore::open(dir.path().join("blobs")).expect("open");
    std::fs::write(store.root().join(".tmp/put-left-by-a-crash"), "partial").expect("leftover");
    drop(store);
    let store = FsBlobStore::open(dir.path().join("blobs")).expect("reopen");
    assert_eq!(std::fs::read_dir(store.root().join(".tmp")).expect("temp dir").count(), 1, "opening keeps them");
    assert_eq!(store.remove_leftovers().expect("removed"), 1);
    assert_eq!(std::fs::read_dir(store.root().join(".tmp")).expect("temp dir").count(), 0);
}
