//! Blob keys: relative, `/`-separated paths made of plain segments, so that no adapter has to
//! decide whether a key is safe (no `..`, no absolute path, no hidden or empty segment).

use super::BlobError;

/// Longest key, in bytes.
pub const MAX_KEY_LEN: usize = 1024;
/// Longest segment, in bytes (a file name on most filesystems).
pub const MAX_SEGMENT_LEN: usize = 255;

/// A validated blob key: `/`-separated segments of ASCII letters, digits, `-`, `_` and `.`, none
/// empty and none starting with `.` (which also rules out `.` and `..`; names starting with a
/// dot are left to adapters for their temporary objects).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlobKey(String);

impl BlobKey {
    pub fn new(key: impl Into<String>) -> Result<BlobKey, BlobError> {
        let key = key.into();
        match problem(&key) {
            None => Ok(BlobKey(key)),
            Some(reason) => Err(BlobError::InvalidKey { key, reason }),
        }
    }

    /// The key below this one: `self/segment` (`segment` may hold several segments).
    pub fn join(&self, segment: &str) -> Result<BlobKey, BlobError> {
        BlobKey::new(format!("{}/{segment}", self.0))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }

    /// Whether `self` is `prefix` or lies below it (segment-wise: `a` covers `a/b`, not `ab`).
    pub fn is_under(&self, prefix: &BlobKey) -> bool {
        self.0 == prefix.0 || self.0.strip_prefix(&prefix.0).is_some_and(|rest| rest.starts_with('/'))
    }
}

impl std::fmt::Display for BlobKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn problem(key: &str) -> Option<&'static str> {
    if key.is_empty() {
        return Some("it is empty");
    }
    if key.len() > MAX_KEY_LEN {
        return Some("it is longer than 1024 bytes");
    }
    if key.starts_with('/') {
        return Some("it is absolute (starts with '/')");
    }
    for segment in key.split('/') {
        if segment.is_empty() {
            return Some("it has an empty segment");
        }
        if segment.starts_with('.') {
            return Some("a segment starts with '.' ('.' and '..' included)");
        }
        if segment.len() > MAX_SEGMENT_LEN {
            return Some("a segment is longer than 255 bytes");
        }
        if !segment.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')) {
            return Some("a segment holds a character other than ASCII letters, digits, '-', '_' and '.'");
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_relative_paths_are_keys() {
        for ok in ["a", "a/b/c", "12/archive-0a1b2c3d", "12/gpu_usage-0a1b2c3d.json", "x.y"] {
            assert_eq!(BlobKey::new(ok).expect(ok).as_str(), ok);
        }
    }

    #[test]
    fn bad_keys_are_refused_naming_the_key() {
        let long_segment = "s".repeat(256);
        let long_key = ["a"; 600].join("/");
        for bad in
            ["", "/a", "a/", "a//b", "..", "a/../b", "./a", "a/.tmp", "a\\b", "a b", "é", &long_segment, &long_key]
        {
            let err = BlobKey::new(bad).expect_err(bad);
            assert!(matches!(&err, BlobError::InvalidKey { key, .. } if key == bad), "{bad}: {err}");
            assert!(err.to_string().contains(&format!("'{bad}'")), "{err}");
        }
    }

    #[test]
    fn prefixes_are_segment_wise() {
        let key = |k: &str| BlobKey::new(k).expect(k);
        assert!(key("a/b").is_under(&key("a")));
        assert!(key("a").is_under(&key("a")));
        assert!(!key("ab/c").is_under(&key("a")));
        assert!(!key("a").is_under(&key("a/b")));
        assert_eq!(key("a").join("b/c").expect("joined"), key("a/b/c"));
    }
}
