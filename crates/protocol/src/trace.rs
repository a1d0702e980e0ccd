//! `PATCH /api/v4/jobs/:id/trace`: the `Content-Range` rules.
//!
//! GitLab reads only the start of `Content-Range` and computes the end as start + body length,
//! because runners historically sent inconsistent end values (research §1.10). The append is
//! accepted only at the current length; otherwise the answer is `416` with `Range: 0-<size>`.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RangeError {
    #[error("Content-Range is missing")]
    Missing,
    #[error("Content-Range {0:?} is not `start-end`")]
    Malformed(String),
}

/// Parses the start offset of a runner's `Content-Range` (`0-99`, also `bytes 0-99/*`).
pub fn range_start(header: Option<&str>) -> Result<u64, RangeError> {
    let h = header.ok_or(RangeError::Missing)?.trim();
    let h = h.strip_prefix("bytes ").unwrap_or(h);
    let (start, _end) = h.split_once('-').ok_or_else(|| RangeError::Malformed(h.to_string()))?;
    start.trim().parse().map_err(|_| RangeError::Malformed(h.to_string()))
}

/// What to do with a trace patch that starts at `start` when `current` bytes are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Append {
    /// Append the body.
    Accept,
    /// The runner resends from the current size (`416` with `Range: 0-<current>`).
    Reject { current: u64 },
}

pub fn decide_append(start: u64, current: u64) -> Append {
    if start == current { Append::Accept } else { Append::Reject { current } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(range_start(Some("0-99")), Ok(0));
        assert_eq!(range_start(Some("100-100")), Ok(100));
        assert_eq!(range_start(Some("bytes 5-9/*")), Ok(5));
        assert_eq!(range_start(None), Err(RangeError::Missing));
        assert!(range_start(Some("abc")).is_err());
        assert!(range_start(Some("-5")).is_err());
        assert_eq!(decide_append(10, 10), Append::Accept);
        assert_eq!(decide_append(5, 10), Append::Reject { current: 10 });
        assert_eq!(decide_append(20, 10), Append::Reject { current: 10 });
    }
}
