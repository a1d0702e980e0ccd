//! The behaviour suite of [`FailureCounter`] adapters: the contract written in
//! `crate::failures`, executable. Keys start with the caller's prefix, so the suite also runs
//! against a shared backend (Redis) that is never wiped.

use crate::failures::{FailureCounter, MAX_KEY_LEN};
use autogit_core::lockout::Failures;
use futures_util::future::join_all;

/// A fixed instant; every check works at times after it.
const T0: i64 = 1_714_979_289_123;

/// Runs every check against `counter`. `prefix` must be unique to this run.
pub async fn run(counter: &dyn FailureCounter, prefix: &str) {
    let k = |name: &str| format!("{prefix}:{name}");
    counts_from_zero(counter, &k("count")).await;
    expires_at_the_window(counter, &k("expiry")).await;
    keeps_the_later_expiry(counter, &k("later")).await;
    keep_until_only_extends(counter, &k("keep"), &k("keep-absent")).await;
    reset_forgets(counter, &k("reset")).await;
    keys_are_exact(counter, &k("Case"), &k("case")).await;
    long_keys(counter, prefix).await;
    concurrent_adds_are_atomic(counter, &k("concurrent")).await;
}

fn ok<T>(r: crate::Result<T>, what: &str) -> T {
    r.unwrap_or_else(|e| panic!("failure counter: {what} failed: {e}"))
}

async fn counts_from_zero(c: &dyn FailureCounter, key: &str) {
    assert_eq!(ok(c.get(key, T0).await, "get"), None, "failure counter: an unknown key is absent");
    let first = ok(c.add_failure(key, T0, 60_000).await, "add_failure");
    assert_eq!(first, Failures { count: 1, last_at_ms: T0 }, "failure counter: the first failure counts 1");
    let second = ok(c.add_failure(key, T0 + 5, 60_000).await, "add_failure");
    assert_eq!(second, Failures { count: 2, last_at_ms: T0 + 5 }, "failure counter: each failure adds 1");
    assert_eq!(ok(c.get(key, T0 + 6).await, "get"), Some(second), "failure counter: get reads what add wrote");
}

async fn expires_at_the_window(c: &dyn FailureCounter, key: &str) {
    ok(c.add_failure(key, T0, 100).await, "add_failure");
    assert!(ok(c.get(key, T0 + 99).await, "get").is_some(), "failure counter: present before its expiry");
    assert_eq!(ok(c.get(key, T0 + 100).await, "get"), None, "failure counter: absent at its expiry");
    let again = ok(c.add_failure(key, T0 + 100, 100).await, "add_failure");
    assert_eq!(again.count, 1, "failure counter: a failure after the expiry starts from 0");
}

async fn keeps_the_later_expiry(c: &dyn FailureCounter, key: &str) {
    ok(c.add_failure(key, T0, 1_000).await, "add_failure");
    ok(c.add_failure(key, T0 + 10, 10).await, "add_failure");
    let f = ok(c.get(key, T0 + 500).await, "get");
    assert_eq!(f.map(|f| f.count), Some(2), "failure counter: a shorter window never shortens the expiry");
    assert_eq!(ok(c.get(key, T0 + 1_000).await, "get"), None, "failure counter: the longer expiry still ends");
}

async fn keep_until_only_extends(c: &dyn FailureCounter, key: &str, absent: &str) {
    ok(c.add_failure(key, T0, 100).await, "add_failure");
    ok(c.keep_until(key, T0 + 5_000).await, "keep_until");
    assert!(ok(c.get(key, T0 + 4_999).await, "get").is_some(), "failure counter: keep_until extends the expiry");
    ok(c.keep_until(key, T0 + 10).await, "keep_until");
    assert!(ok(c.get(key, T0 + 4_000).await, "get").is_some(), "failure counter: keep_until never shortens");
    assert_eq!(ok(c.get(key, T0 + 5_000).await, "get"), None, "failure counter: the kept entry still expires");
    ok(c.keep_until(absent, T0 + 5_000).await, "keep_until on an absent key");
    assert_eq!(ok(c.get(absent, T0).await, "get"), None, "failure counter: keep_until does not create a key");
}

async fn reset_forgets(c: &dyn FailureCounter, key: &str) {
    ok(c.add_failure(key, T0, 60_000).await, "add_failure");
    ok(c.add_failure(key, T0, 60_000).await, "add_failure");
    ok(c.reset(key).await, "reset");
    assert_eq!(ok(c.get(key, T0).await, "get"), None, "failure counter: reset forgets the key");
    assert_eq!(ok(c.add_failure(key, T0, 60_000).await, "add_failure").count, 1, "failure counter: counts restart");
    ok(c.reset(key).await, "reset");
    ok(c.reset(key).await, "reset of an absent key is not an error");
}

async fn keys_are_exact(c: &dyn FailureCounter, upper: &str, lower: &str) {
    ok(c.add_failure(upper, T0, 60_000).await, "add_failure");
    assert_eq!(ok(c.get(lower, T0).await, "get"), None, "failure counter: keys are compared exactly");
    ok(c.add_failure(lower, T0, 60_000).await, "add_failure");
    ok(c.reset(lower).await, "reset");
    assert_eq!(ok(c.get(upper, T0).await, "get").map(|f| f.count), Some(1), "failure counter: reset touches one key");
}

async fn long_keys(c: &dyn FailureCounter, prefix: &str) {
    let base = format!("{prefix}:long:");
    let a = format!("{base}{}", "a".repeat(MAX_KEY_LEN - base.len()));
    let b = format!("{base}{}b", "a".repeat(MAX_KEY_LEN - base.len() - 1));
    assert_eq!(a.len(), MAX_KEY_LEN);
    ok(c.add_failure(&a, T0, 60_000).await, "add_failure with the longest key");
    assert_eq!(ok(c.get(&b, T0).await, "get"), None, "failure counter: long keys differing at the end are distinct");
    assert_eq!(ok(c.get(&a, T0).await, "get").map(|f| f.count), Some(1), "failure counter: the longest key is kept");
}

async fn concurrent_adds_are_atomic(c: &dyn FailureCounter, key: &str) {
    let results = join_all((0..50).map(|i| c.add_failure(key, T0 + i, 60_000))).await;
    let mut counts: Vec<u32> = results.into_iter().map(|r| ok(r, "add_failure").count).collect();
    counts.sort_unstable();
    assert_eq!(counts, (1..=50).collect::<Vec<_>>(), "failure counter: concurrent adds each see their own count");
    assert_eq!(ok(c.get(key, T0 + 50).await, "get").map(|f| f.count), Some(50), "failure counter: no add is lost");
}
