//! Room for pushes: a push is refused before git starts when the repositories' filesystem would
//! be left with less than the configured margin, and a push that git could not finish because
//! the disk filled up is logged as such (git's own words, "unpacker error", name no cause).
//!
//! The margin also protects everything else on that filesystem (the SQLite database, artifacts)
//! from a push that fills it to the last byte.

use crate::{App, AppError, System};
use autogit_core::ProjectId;
use autogit_git::PushOutcome;
use std::time::Duration;

/// How pushes are accepted and their records kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushSettings {
    /// A push is refused when the repositories' filesystem has less than this many bytes free
    /// beyond the push's declared size. 0 disables the check.
    pub min_free_bytes: u64,
    /// How long finished push records are kept before they are pruned.
    pub record_retention: Duration,
}

impl Default for PushSettings {
    fn default() -> Self {
        PushSettings { min_free_bytes: 100 << 20, record_retention: Duration::from_secs(7 * 24 * 3600) }
    }
}

/// Why a push was not let in; nothing of it was written.
#[derive(Debug)]
pub enum PushRefused {
    /// The repositories' filesystem is too full: `free` bytes are left, `needed` were asked for
    /// (the declared size plus the margin).
    NoSpace { free: u64, needed: u64 },
    /// Its record could not be written, so it must not be acknowledged.
    Unrecorded(AppError),
}

impl PushRefused {
    /// A short reason for git's report (` ! [remote rejected] main -> main (<reason>)`).
    pub fn reason(&self) -> &'static str {
        match self {
            PushRefused::NoSpace { .. } => "no space left on device",
            PushRefused::Unrecorded(_) => "the push could not be recorded",
        }
    }

    /// The text for the client, which git shows as `remote:` lines (or as the rejection reason).
    pub fn message(&self) -> String {
        match self {
            PushRefused::NoSpace { free, needed } => format!(
                "no space left on device: the server has {} free for repositories and needs {} to accept this push; \
                 ask an administrator to free disk space",
                human(*free),
                human(*needed)
            ),
            PushRefused::Unrecorded(_) => "the push could not be recorded; try again later".into(),
        }
    }
}

/// Bytes as `12.3 MiB`, for messages.
pub(crate) fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} bytes") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// Whether git's stderr says a write failed for lack of space (ENOSPC, or EDQUOT for a quota).
pub(crate) fn says_disk_full(stderr: &str) -> bool {
    let lower = stderr.to_ascii_lowercase();
    lower.contains("no space left on device") || lower.contains("disk quota exceeded")
}

impl App {
    /// Logs how git ended a push when it failed; a full disk at error level with the free
    /// space, so that an administrator sees the cause (git told only the client).
    pub(crate) fn log_push_outcome(&self, project_id: ProjectId, outcome: &PushOutcome) {
        if !outcome.failed() {
            return;
        }
        let text = outcome.error_text();
        if says_disk_full(&text) {
            match self.repos.free_space() {
                Ok(free) => tracing::error!(
                    project_id = project_id.get(),
                    free_bytes = free,
                    free = %human(free),
                    git = %text,
                    "push failed: no space left on device for repositories"
                ),
                Err(e) => tracing::error!(
                    project_id = project_id.get(),
                    free_bytes = "unknown",
                    error = %e,
                    git = %text,
                    "push failed: no space left on device for repositories"
                ),
            }
        } else {
            tracing::warn!(project_id = project_id.get(), git = %text, "git receive-pack failed");
        }
    }
}

impl System<'_> {
    /// Refuses a push of `declared` bytes (when the client said) if the repositories'
    /// filesystem would keep less than the margin. A filesystem that cannot be measured lets
    /// the push through: git itself reports a full disk, this check only says it earlier.
    pub fn check_push_space(&self, declared: Option<u64>) -> Result<(), PushRefused> {
        let margin = self.push.min_free_bytes;
        if margin == 0 {
            return Ok(());
        }
        let needed = margin.saturating_add(declared.unwrap_or(0));
        match self.repos.free_space() {
            Ok(free) if free < needed => {
                tracing::error!(free_bytes = free, needed_bytes = needed, "push refused: no space left on device");
                Err(PushRefused::NoSpace { free, needed })
            }
            Ok(_) => Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, "could not measure free space for repositories");
                Ok(())
            }
        }
    }

    /// The free space for repositories now, for a push about to stream in; `None` without a
    /// reserve or when it cannot be measured (then no streaming check is made).
    pub fn push_free_space(&self) -> Option<u64> {
        (self.push.min_free_bytes > 0).then(|| self.repos.free_space().ok()).flatten()
    }

    /// Every how many received bytes a streaming push measures the free space again (for other
    /// writers using it meanwhile): half the reserve, from 64 KiB to 8 MiB.
    pub fn push_space_check_every(&self) -> u64 {
        (self.push.min_free_bytes / 2).clamp(64 << 10, 8 << 20)
    }

    /// For a push whose pack streams in without a declared size: `Err` once the `received`
    /// bytes no longer fit beside the reserve in what was free at its start (git may write them
    /// only at the end: a large object is one loose file), or, when `measure` is set, once the
    /// free space measured now is below the reserve.
    pub fn check_streaming_push(&self, free_at_start: u64, received: u64, measure: bool) -> Result<(), PushRefused> {
        let margin = self.push.min_free_bytes;
        let needed = margin.saturating_add(received);
        if margin > 0 && free_at_start < needed {
            return Err(PushRefused::NoSpace { free: free_at_start, needed });
        }
        if measure && margin > 0 {
            match self.repos.free_space() {
                Ok(free) if free < margin => return Err(PushRefused::NoSpace { free, needed: margin }),
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_causes() {
        assert_eq!(human(512), "512 bytes");
        assert_eq!(human(3 << 20), "3.0 MiB");
        assert_eq!(human(1536), "1.5 KiB");
        assert!(says_disk_full("fatal: unable to write loose object file: No space left on device"));
        assert!(says_disk_full("error: Disk quota exceeded"));
        assert!(!says_disk_full("fatal: bad object"));
        let msg = PushRefused::NoSpace { free: 1 << 20, needed: 100 << 20 }.message();
        assert!(msg.starts_with("no space left on device") && msg.contains("1.0 MiB"), "{msg}");
    }
}
