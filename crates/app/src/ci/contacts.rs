//! When runners last contacted the coordinator. Every runner call authenticates the runner and
//! counts as a contact; writing `contacted_at` each time was one more statement on every
//! `jobs/request`. As GitLab does (it persists a runner's contact time only every so often and
//! keeps the fresh one in its cache), the stored time is written when it is older than
//! [`CONTACT_WRITE_INTERVAL`] (or is missing, or the runner reports a new version, platform,
//! architecture or executor), and the fresh time is kept here, in the coordinator's memory,
//! where the API's runner views read it (ADR 0012).
//!
//! The cost: the stored time may lag the real one by up to the interval. Only this process sees
//! the fresh one (one coordinator per database, ARCHITECTURE.md invariant 8); after a restart,
//! and for anything reading the database itself, the last contact is known to within the
//! interval. Whether a runner ever made contact (what `online` and the autoscaler's "registered"
//! read) is exact: the first contact is always written.

use autogit_core::RunnerId;
use autogit_store::{Runner, RunnerSeen};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// The stored contact time is refreshed when it is at least this old.
pub(crate) const CONTACT_WRITE_INTERVAL: Duration = Duration::from_secs(60);
/// Runners remembered at most; beyond it the memory is emptied and the stored times (within the
/// interval) are shown until runners call again.
const MAX_REMEMBERED: usize = 100_000;

/// Whether a contact at `now` must be written: the stored record has no contact time, an older
/// one than the interval (or one in the future: the clock went back), or differs from what the
/// runner reports about itself.
pub(crate) fn needs_write(stored: &Runner, now: DateTime<Utc>, seen: &RunnerSeen) -> bool {
    let interval = chrono::Duration::from_std(CONTACT_WRITE_INTERVAL).unwrap_or(chrono::Duration::MAX);
    let stale = stored.contacted_at.is_none_or(|at| at > now || now - at >= interval);
    let changed = |reported: &Option<String>, kept: &Option<String>| reported.is_some() && reported != kept;
    stale
        || changed(&seen.version, &stored.version)
        || changed(&seen.platform, &stored.platform)
        || changed(&seen.architecture, &stored.architecture)
        || changed(&seen.executor, &stored.executor)
}

/// Runner id → its last contact seen by this process.
#[derive(Debug, Default)]
pub(crate) struct Contacts {
    last: Mutex<HashMap<RunnerId, DateTime<Utc>>>,
}

impl Contacts {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<RunnerId, DateTime<Utc>>> {
        self.last.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn note(&self, runner: RunnerId, at: DateTime<Utc>) {
        let mut map = self.map();
        if map.len() >= MAX_REMEMBERED && !map.contains_key(&runner) {
            map.clear();
        }
        let last = map.entry(runner).or_insert(at);
        *last = (*last).max(at);
    }

    pub fn forget(&self, runner: RunnerId) {
        self.map().remove(&runner);
    }

    /// The runner with the fresher of its stored and its remembered contact time.
    pub fn fresh(&self, mut runner: Runner) -> Runner {
        if let Some(&at) = self.map().get(&runner.id) {
            runner.contacted_at = Some(runner.contacted_at.map_or(at, |stored| stored.max(at)));
        }
        runner
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use autogit_store::{RunnerAccessLevel, RunnerScope};

    fn runner(contacted: Option<DateTime<Utc>>) -> Runner {
        Runner {
            id: RunnerId::new(1),
            description: String::new(),
            token_digest: String::new(),
            scope: RunnerScope::Instance,
            tags: Vec::new(),
            run_untagged: true,
            locked: false,
            paused: false,
            access_level: RunnerAccessLevel::NotProtected,
            maximum_timeout: None,
            created_at: DateTime::UNIX_EPOCH,
            contacted_at: contacted,
            version: Some("17.0".into()),
            platform: None,
            architecture: None,
            executor: None,
        }
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + chrono::Duration::seconds(secs)
    }

    #[test]
    fn contacts_are_written_when_first_stale_or_changed() {
        let quiet = RunnerSeen::default();
        assert!(needs_write(&runner(None), at(100), &quiet), "the first contact is written");
        assert!(!needs_write(&runner(Some(at(100))), at(159), &quiet), "within the interval: memory only");
        assert!(needs_write(&runner(Some(at(100))), at(160), &quiet), "after the interval");
        assert!(needs_write(&runner(Some(at(100))), at(99), &quiet), "a stored time in the future");
        let same = RunnerSeen { version: Some("17.0".into()), ..Default::default() };
        assert!(!needs_write(&runner(Some(at(100))), at(101), &same), "the same version");
        let newer = RunnerSeen { version: Some("17.1".into()), ..Default::default() };
        assert!(needs_write(&runner(Some(at(100))), at(101), &newer), "a new version");
        let exec = RunnerSeen { executor: Some("docker".into()), ..Default::default() };
        assert!(needs_write(&runner(Some(at(100))), at(101), &exec), "a new executor");
    }

    #[test]
    fn views_show_the_fresher_time() {
        let c = Contacts::default();
        assert_eq!(c.fresh(runner(Some(at(100)))).contacted_at, Some(at(100)), "nothing remembered");
        c.note(RunnerId::new(1), at(130));
        c.note(RunnerId::new(1), at(120));
        assert_eq!(c.fresh(runner(Some(at(100)))).contacted_at, Some(at(130)), "the latest contact");
        assert_eq!(c.fresh(runner(None)).contacted_at, Some(at(130)));
        assert_eq!(c.fresh(runner(Some(at(200)))).contacted_at, Some(at(200)), "a newer stored time");
        c.forget(RunnerId::new(1));
        assert_eq!(c.fresh(runner(Some(at(100)))).contacted_at, Some(at(100)), "forgotten");
    }
}
