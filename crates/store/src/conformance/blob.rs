//! The behaviour suite every [`BlobStore`] adapter must pass: the contract written in
//! `crate::blob`, executable. Call [`run`] from a multi-threaded tokio test with the adapter and a
//! prefix unique to the run ([`super::unique_prefix`]); every check works below that prefix, so
//! the suite also runs against a store that is shared and never wiped.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{StreamExt, stream};

use crate::blob::{BlobError, BlobKey, BlobMeta, BlobStore, ByteStream, bytes_body};

pub async fn run(store: Arc<dyn BlobStore>, prefix: &str) {
    let root = BlobKey::new(format!("blobsuite-{prefix}")).expect("the prefix makes a valid key");
    let at = |name: &str| root.join(name).expect("a valid key");
    put_open_meta_remove(store.as_ref(), &at("basic")).await;
    replacing_keeps_the_last(store.as_ref(), &at("replace")).await;
    interrupted_puts_leave_nothing(store.as_ref(), &at("interrupted")).await;
    size_limits(store.as_ref(), &at("limit")).await;
    ranges(store.as_ref(), &at("ranges")).await;
    prefixes(store.as_ref(), &at("prefix")).await;
    keys_are_files_not_directories(store.as_ref(), &at("layout")).await;
    concurrent_writers_never_mix(store, &at("race")).await;
}

/// `value` as a body of chunks of at most `chunk` bytes.
fn chunked(value: &[u8], chunk: usize) -> ByteStream<'static> {
    let parts: Vec<std::io::Result<Bytes>> = value.chunks(chunk).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    Box::pin(stream::iter(parts))
}

async fn read(store: &dyn BlobStore, key: &BlobKey, range: Option<std::ops::Range<u64>>) -> Vec<u8> {
    let opened = store.open(key, range).await.unwrap_or_else(|e| panic!("open {key}: {e}"));
    let mut body = opened.body;
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        out.extend_from_slice(&chunk.unwrap_or_else(|e| panic!("reading {key}: {e}")));
    }
    out
}

async fn listed(store: &dyn BlobStore, prefix: &BlobKey) -> Vec<String> {
    let keys = store.list(prefix).await.unwrap_or_else(|e| panic!("list {prefix}: {e}"));
    keys.iter().map(ToString::to_string).collect()
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

async fn put_open_meta_remove(store: &dyn BlobStore, dir: &BlobKey) {
    let key = dir.join("one.bin").expect("key");
    assert!(
        matches!(store.open(&key, None).await, Err(BlobError::NotFound(k)) if k == key.as_str()),
        "absent: NotFound naming the key"
    );
    assert_eq!(store.meta(&key).await.expect("meta"), None, "absent: no metadata");
    store.remove(&key).await.expect("removing an absent key is fine");
    let value = pattern(70_000);
    let meta = store.put(&key, chunked(&value, 4096), None).await.expect("put");
    assert_eq!(meta, BlobMeta { size: 70_000 });
    assert_eq!(store.meta(&key).await.expect("meta"), Some(BlobMeta { size: 70_000 }));
    let opened = store.open(&key, None).await.expect("open");
    assert_eq!((opened.size, opened.range.clone()), (70_000, 0..70_000), "a whole open serves everything");
    drop(opened);
    assert_eq!(read(store, &key, None).await, value, "the value read back is the value put");
    let empty = dir.join("empty").expect("key");
    assert_eq!(store.put(&empty, Box::pin(stream::empty()), None).await.expect("empty put").size, 0);
    assert_eq!(read(store, &empty, None).await, Vec::<u8>::new(), "an empty blob exists and is empty");
    store.remove(&key).await.expect("remove");
    store.remove(&key).await.expect("remove is idempotent");
    assert_eq!(store.meta(&key).await.expect("meta"), None, "removed");
    assert_eq!(listed(store, dir).await, vec![empty.to_string()], "only the empty blob is left");
}

async fn replacing_keeps_the_last(store: &dyn BlobStore, dir: &BlobKey) {
    let key = dir.join("v").expect("key");
    store.put(&key, bytes_body("first value"), None).await.expect("put 1");
    store.put(&key, bytes_body("second"), None).await.expect("put 2");
    assert_eq!(read(store, &key, None).await, b"second", "the last completed put wins");
    assert_eq!(store.meta(&key).await.expect("meta"), Some(BlobMeta { size: 6 }));
    assert_eq!(listed(store, dir).await, vec![key.to_string()], "one key, listed once");
}

/// A body that yields `good` and then fails.
fn failing_after(good: &[u8]) -> ByteStream<'static> {
    let parts = vec![Ok(Bytes::copy_from_slice(good)), Err(std::io::Error::other("the client went away"))];
    Box::pin(stream::iter(parts))
}

async fn interrupted_puts_leave_nothing(store: &dyn BlobStore, dir: &BlobKey) {
    let key = dir.join("new").expect("key");
    let err = store.put(&key, failing_after(&pattern(10_000)), None).await.expect_err("a failing body fails the put");
    assert!(matches!(&err, BlobError::Source { key: k, .. } if k == key.as_str()), "Source naming the key: {err}");
    assert_eq!(store.meta(&key).await.expect("meta"), None, "a failed put leaves nothing under the key");
    assert!(matches!(store.open(&key, None).await, Err(BlobError::NotFound(_))));

    let kept = dir.join("kept").expect("key");
    store.put(&kept, bytes_body("old"), None).await.expect("put");
    store.put(&kept, failing_after(b"new and longer"), None).await.expect_err("failing body");
    assert_eq!(read(store, &kept, None).await, b"old", "a failed replacement keeps the previous value");

    // A put dropped while its body still has bytes to come (a client that stalls, then the
    // request is cancelled).
    let dropped = dir.join("dropped").expect("key");
    let stalled: ByteStream<'static> = Box::pin(chunked(&pattern(50_000), 1000).chain(stream::pending()));
    let timed_out = tokio::time::timeout(Duration::from_millis(300), store.put(&dropped, stalled, None)).await;
    assert!(timed_out.is_err(), "the put waits for its stalled body");
    assert_eq!(store.meta(&dropped).await.expect("meta"), None, "a dropped put leaves nothing");
    assert_eq!(listed(store, dir).await, vec![kept.to_string()], "no partial or temporary object is listed");
}

async fn size_limits(store: &dyn BlobStore, dir: &BlobKey) {
    let key = dir.join("capped").expect("key");
    let value = pattern(5000);
    let err = store.put(&key, chunked(&value, 700), Some(4999)).await.expect_err("over the limit");
    assert!(
        matches!(&err, BlobError::TooLarge { key: k, limit: 4999 } if k == key.as_str()),
        "TooLarge naming the key and limit: {err}"
    );
    assert_eq!(store.meta(&key).await.expect("meta"), None, "nothing stored beyond the limit");
    assert_eq!(listed(store, dir).await, Vec::<String>::new(), "nothing listed");
    let meta = store.put(&key, chunked(&value, 700), Some(5000)).await.expect("exactly the limit is accepted");
    assert_eq!(meta.size, 5000);
}

async fn ranges(store: &dyn BlobStore, dir: &BlobKey) {
    let key = dir.join("r").expect("key");
    let value = pattern(1000);
    store.put(&key, chunked(&value, 333), None).await.expect("put");
    for range in [0..10, 100..600, 990..1000, 500..500, 1000..1000, 0..1000] {
        let opened = store.open(&key, Some(range.clone())).await.unwrap_or_else(|e| panic!("{range:?}: {e}"));
        assert_eq!((opened.size, opened.range.clone()), (1000, range.clone()), "size and range of {range:?}");
        drop(opened);
        let start = usize::try_from(range.start).expect("small");
        let end = usize::try_from(range.end).expect("small");
        assert_eq!(read(store, &key, Some(range.clone())).await, &value[start..end], "bytes of {range:?}");
    }
    #[allow(clippy::reversed_empty_ranges)]
    for range in [0..1001, 1000..1001, 2000..3000, 10..5] {
        match store.open(&key, Some(range.clone())).await {
            Err(BlobError::RangeNotSatisfiable { key: k, range: r, size }) => {
                assert_eq!((k.as_str(), r, size), (key.as_str(), range.clone(), 1000), "{range:?}");
            }
            other => panic!("{range:?} is outside the blob: {other:?}"),
        }
    }
}

async fn prefixes(store: &dyn BlobStore, dir: &BlobKey) {
    let names = ["a/1", "a/2", "a/b/3", "ab/4", "b"];
    for name in names {
        store.put(&dir.join(name).expect("key"), bytes_body(name.to_string()), None).await.expect("put");
    }
    let a = dir.join("a").expect("key");
    let full = |names: &[&str]| names.iter().map(|n| format!("{dir}/{n}")).collect::<Vec<_>>();
    assert_eq!(listed(store, &a).await, full(&["a/1", "a/2", "a/b/3"]), "list is segment-wise and sorted");
    assert_eq!(listed(store, dir).await, full(&names), "everything below the prefix");
    assert_eq!(store.remove_prefix(&a).await.expect("remove_prefix"), 3);
    assert_eq!(listed(store, &a).await, Vec::<String>::new(), "removed by prefix");
    assert_eq!(listed(store, dir).await, full(&["ab/4", "b"]), "`a` does not cover `ab`");
    assert_eq!(store.remove_prefix(&a).await.expect("again"), 0, "removing an empty prefix removes nothing");
    let b = dir.join("b").expect("key");
    assert_eq!(store.remove_prefix(&b).await.expect("a key as its own prefix"), 1);
    assert_eq!(listed(store, dir).await, full(&["ab/4"]));
}

async fn keys_are_files_not_directories(store: &dyn BlobStore, dir: &BlobKey) {
    let file = dir.join("f").expect("key");
    store.put(&file, bytes_body("x"), None).await.expect("put");
    let below = file.join("g").expect("key");
    let err = store.put(&below, bytes_body("y"), None).await.expect_err("below a stored key");
    assert!(matches!(&err, BlobError::Conflict { key, .. } if key == below.as_str()), "{err}");
    let err = store.put(dir, bytes_body("z"), None).await.expect_err("a prefix of a stored key");
    assert!(matches!(&err, BlobError::Conflict { key, .. } if key == dir.as_str()), "{err}");
    assert_eq!(read(store, &file, None).await, b"x", "refused puts change nothing");
    assert_eq!(store.meta(&below).await.expect("meta"), None);
}

async fn concurrent_writers_never_mix(store: Arc<dyn BlobStore>, dir: &BlobKey) {
    const WRITERS: u8 = 8;
    const LEN: usize = 256 << 10;
    let key = dir.join("shared").expect("key");
    store.put(&key, bytes_body(vec![b'0'; LEN]), None).await.expect("initial value");
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let (store, key) = (store.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..3 {
                let body = chunked(&vec![b'a' + w; LEN], 8192);
                store.put(&key, body, None).await.expect("concurrent put");
            }
        }));
    }
    for _ in 0..4 {
        let (store, key) = (store.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..10 {
                let value = read(store.as_ref(), &key, None).await;
                assert_eq!(value.len(), LEN, "a reader sees a complete value");
                assert!(value.iter().all(|b| *b == value[0]), "a reader never sees two writers' bytes mixed");
            }
        }));
    }
    for task in tasks {
        task.await.expect("no task panicked");
    }
    let last = read(store.as_ref(), &key, None).await;
    assert!(last.iter().all(|b| *b == last[0]) && (b'a'..b'a' + WRITERS).contains(&last[0]), "one writer's value");
    assert_eq!(listed(store.as_ref(), dir).await, vec![key.to_string()], "no temporary object is left listed");
}
