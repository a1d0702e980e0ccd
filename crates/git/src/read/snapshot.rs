//! What the CI compiler needs from a commit: every file path (for `rules:exists`) and the text
//! of the YAML files (for `include:local`), with the caps that bound the work a huge repository
//! costs. `ObjectReader::snapshot` (crate::objects) reads it.

use std::collections::BTreeMap;

/// Paths listed at most; beyond it `exists` sees a truncated list (GitLab caps `exists` at
/// 10,000 paths too).
pub const MAX_SNAPSHOT_PATHS: usize = 50_000;
/// YAML files read at most, and their total size.
pub const MAX_YAML_FILES: usize = 500;
pub const MAX_YAML_BYTES: usize = 64 << 20;

/// The files of one commit as the CI compiler sees them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Every blob path, sorted.
    pub paths: Vec<String>,
    /// `*.yml`/`*.yaml` files (and `extra`) by path: candidates for `include:local`.
    pub yaml: BTreeMap<String, String>,
    /// YAML files not read because of the size limits, with their size: a CI file listed here
    /// gets a "too large" error rather than "not found".
    pub skipped: BTreeMap<String, u64>,
}
