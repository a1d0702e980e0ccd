//! The free-space reserve while a pack streams in (any transport: the transport reports each
//! received chunk's running total). A push that declares its size is checked
//! before git starts; one sent chunked (git does so above `http.postBuffer`, 1 MiB) declares
//! nothing, and could otherwise fill the disk the database and every other repository share.
//! So the received bytes are counted against what was free when the push began (git may write
//! them only at the end), and the free space is measured again at intervals (other writers).
//! When the push no longer fits beside the reserve it is stopped:
//!
//! - the rest of the body is read and dropped, never given to git (the client still sending
//!   would otherwise see a reset connection instead of the answer), and git, seeing its pack
//!   end early, fails and applies nothing;
//! - git's own report is replaced by the server's, "no space left on device" against every ref,
//!   as for a push refused before git started.

use crate::{App, PushRefused};
use autogit_core::ProjectId;
use std::sync::{Arc, OnceLock};

/// Counts a push's received bytes against the free space.
pub struct SpaceGuard {
    app: App,
    project_id: ProjectId,
    free_at_start: u64,
    every: u64,
    next_measure: u64,
    stopped: Stopped,
}

/// Whether (and why) the guard stopped the push, for the response.
#[derive(Clone, Default)]
pub struct Stopped(Arc<OnceLock<String>>);

impl Stopped {
    /// The message for the client, once the push was stopped.
    pub fn message(&self) -> Option<&str> {
        self.0.get().map(String::as_str)
    }
}

impl SpaceGuard {
    /// A guard for a push beginning now; `None` when the server keeps no reserve (or cannot
    /// measure the free space).
    pub fn new(app: App, project_id: ProjectId) -> Option<(Self, Stopped)> {
        let free_at_start = app.system().push_free_space()?;
        let every = app.system().push_space_check_every().max(1);
        let stopped = Stopped::default();
        Some((
            SpaceGuard { app, project_id, free_at_start, every, next_measure: every, stopped: stopped.clone() },
            stopped,
        ))
    }

    /// Called with the running total after each received chunk; `true` when that chunk, and
    /// every later one, must not reach git.
    pub fn stops_at(&mut self, total: u64) -> bool {
        if self.stopped.message().is_some() {
            return true;
        }
        let measure = total >= self.next_measure;
        if measure {
            self.next_measure = total.saturating_add(self.every);
        }
        match self.app.system().check_streaming_push(self.free_at_start, total, measure) {
            Ok(()) => false,
            Err(refused) => {
                if let PushRefused::NoSpace { free, needed } = &refused {
                    tracing::error!(
                        project_id = self.project_id.get(),
                        free_bytes = free,
                        needed_bytes = needed,
                        received_bytes = total,
                        "push failed: no space left on device (the pack streaming in would use the reserve of git.min_free_bytes; the push was stopped)"
                    );
                }
                let _ = self.stopped.0.set(refused.message());
                true
            }
        }
    }
}
