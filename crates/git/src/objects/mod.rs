//! Object reads without a process per read: [`ObjectPool`] keeps long-lived
//! `git cat-file --batch-command` processes per repository, and an [`ObjectReader`] checked out
//! of it walks trees and reads commits and blobs itself (`read`, over the pure `tree` parser).
//! Used on the CI coordinator's hot path (pipeline creation, job hand-out); the REST API's
//! browsing keeps [`crate::read`], whose listings git formats.

mod pool;
mod read;
pub mod tree;

pub use pool::{ObjectPool, ObjectReader, PoolLimits};
pub use read::MAX_WALK_ENTRIES;
