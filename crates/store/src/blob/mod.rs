//! The blob port: large immutable byte values (job artifacts, telemetry files, finished jobs'
//! traces) under path-like keys, streamed in and out. Records about a blob (who owns it, when it
//! expires) stay in the [`crate::Store`]; a blob store knows only keys and bytes.
//!
//! # Contract (every adapter must hold it; `conformance::blob` checks it)
//! - **Keys** are [`BlobKey`]s: validated relative paths (`a/b/c`). Adapters never see another
//!   shape, so no key can name something outside the store.
//! - **Put is all or nothing.** [`BlobStore::put`] reads the whole body stream; nothing is visible
//!   under the key (to `open`, `meta` or `list`) until the put returned `Ok`. A body that fails
//!   midway ([`BlobError::Source`]), a body beyond `limit` ([`BlobError::TooLarge`]), a storage
//!   failure, or a put future dropped before it finished leave nothing behind: the key keeps its
//!   previous value, or stays absent, and no partial or temporary object is ever listed.
//! - **Concurrent puts to one key** never mix: a reader sees one complete value. The put that
//!   completes last wins.
//! - **Files, not directories.** A key that is a segment-prefix of a stored key (`a/b` while
//!   `a/b/c` is stored), or has a stored key as its segment-prefix, is refused with
//!   [`BlobError::Conflict`]: the stored layout is that of a filesystem.
//! - **Open** returns the object's total size, the byte range served and a stream of it. A
//!   range must satisfy `start <= end <= size` (an empty range is fine, also at the end); any
//!   other is [`BlobError::RangeNotSatisfiable`], carrying the size. A missing key is
//!   [`BlobError::NotFound`]. The stream may still fail (an I/O error after the open).
//! - **Remove** is idempotent (a missing key is `Ok`). `remove_prefix` removes every key equal
//!   to the prefix or below it (`a` covers `a/x` and `a/b/y`, never `ab/z`) and returns how
//!   many it removed; `list` returns those keys, sorted bytewise ascending.
//! - Errors name the key they are about. Adapters are `Send + Sync` and used as
//!   `Arc<dyn BlobStore>`; every method is safe to call concurrently.

mod key;

pub use key::{BlobKey, MAX_KEY_LEN, MAX_SEGMENT_LEN};

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::Stream;
use std::ops::Range;
use std::pin::Pin;

/// A stream of bytes going into or out of a blob store.
pub type ByteStream<'a> = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send + 'a>>;

pub type BlobResult<T> = std::result::Result<T, BlobError>;

/// What a blob store knows about a stored object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobMeta {
    pub size: u64,
}

/// An opened blob: its total size, the part being read and the stream of that part.
pub struct BlobRead {
    pub size: u64,
    pub range: Range<u64>,
    pub body: ByteStream<'static>,
}

impl std::fmt::Debug for BlobRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobRead").field("size", &self.size).field("range", &self.range).finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob key '{key}' is invalid: {reason}")]
    InvalidKey { key: String, reason: &'static str },
    #[error("blob '{0}' not found")]
    NotFound(String),
    #[error("blob '{key}' is larger than the limit of {limit} bytes")]
    TooLarge { key: String, limit: u64 },
    #[error("bytes {}..{} are outside blob '{key}' of {size} bytes", .range.start, .range.end)]
    RangeNotSatisfiable { key: String, range: Range<u64>, size: u64 },
    #[error("blob key '{key}' conflicts with the stored key '{stored}' (a key cannot also be a prefix)")]
    Conflict { key: String, stored: String },
    /// The body stream given to `put` failed; nothing was stored.
    #[error("the data for blob '{key}' could not be read: {source}")]
    Source { key: String, source: std::io::Error },
    /// The storage itself failed (disk, network).
    #[error("blob storage failed on '{key}': {message}")]
    Unavailable { key: String, message: String },
}

/// Immutable byte objects under path-like keys; see the module documentation for the contract.
#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Stores the whole `body` under `key`, replacing any previous value once complete. With a
    /// `limit`, a body longer than `limit` bytes is refused (`TooLarge`) and nothing is stored.
    async fn put(&self, key: &BlobKey, body: ByteStream<'_>, limit: Option<u64>) -> BlobResult<BlobMeta>;
    /// Opens the blob, the whole of it or the half-open byte `range`.
    async fn open(&self, key: &BlobKey, range: Option<Range<u64>>) -> BlobResult<BlobRead>;
    /// The blob's metadata; `None` when it is absent.
    async fn meta(&self, key: &BlobKey) -> BlobResult<Option<BlobMeta>>;
    /// Removes the blob; `Ok` when it was already absent.
    async fn remove(&self, key: &BlobKey) -> BlobResult<()>;
    /// Every stored key equal to `prefix` or below it, sorted bytewise ascending.
    async fn list(&self, prefix: &BlobKey) -> BlobResult<Vec<BlobKey>>;
    /// Removes every key `list(prefix)` would return; returns how many were removed.
    async fn remove_prefix(&self, prefix: &BlobKey) -> BlobResult<u64>;
}

/// Checks a requested range against an object of `size` bytes (for adapters, so that every one
/// refuses the same ranges).
pub fn check_range(key: &BlobKey, range: Option<Range<u64>>, size: u64) -> BlobResult<Range<u64>> {
    let range = range.unwrap_or(0..size);
    if range.start > range.end || range.end > size {
        return Err(BlobError::RangeNotSatisfiable { key: key.to_string(), range, size });
    }
    Ok(range)
}

/// A body made of one buffer (small values such as telemetry).
pub fn bytes_body(bytes: impl Into<Bytes>) -> ByteStream<'static> {
    Box::pin(futures_util::stream::once(std::future::ready(Ok(bytes.into()))))
}
