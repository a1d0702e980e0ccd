//! The pending-job queue and runner matching (GitLab `Ci::RegisterJobService` + §1.13 of the
//! runner research): which runner may take which job, and the oldest such job first.
//!
//! A runner may take a job when all of these hold ([`may_take`]):
//! - the runner is active and not paused (a paused runner gets nothing);
//! - every job tag is one of the runner's tags; an untagged job needs `run_untagged`;
//! - the runner advertises every feature the job requires (`upload_multiple_artifacts`,
//!   `return_exit_code`, …: GitLab's `RUNNER_FEATURES`);
//! - a runner locked to projects takes only their jobs;
//! - a `ref_protected` runner takes only jobs of protected refs.
//!
//! Tags and features are compared exactly; the caller normalizes them. Order is FIFO by
//! `enqueued_at`, then job id. GitLab's fair sharing between projects on shared runners is not
//! modelled.
//!
//! Complexity: jobs are grouped in buckets by (tags, required features, protected ref), each a
//! FIFO-ordered set plus one per project. [`Queue::pick`] visits every non-empty bucket once:
//! O(B·(t·log r + log n)) for an instance-wide runner and O(B·P·log n) for a runner locked to
//! P projects, where B is the number of distinct buckets in use (tag combinations — a handful,
//! not the number of jobs), t and r the job's and runner's tag counts, n the queue length.
//! Push and remove are O(log n).

mod waiters;

#[cfg(test)]
mod tests;

pub use waiters::{HeldRequest, LONG_POLL_HOLD_MS, Waiters};

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::Millis;
use autogit_core::{JobId, ProjectId, RunnerId};

/// A pending job as the queue sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedJob {
    pub id: JobId,
    pub project_id: ProjectId,
    /// `tags:`; empty for an untagged job.
    pub tags: BTreeSet<String>,
    /// Runner features the job needs (GitLab `RUNNER_FEATURES` names).
    pub required_features: BTreeSet<String>,
    /// Whether the pipeline runs for a protected branch or tag.
    pub protected_ref: bool,
    /// When it became pending; the queue is FIFO on it.
    pub enqueued_at: Millis,
}

/// A runner's `access_level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RunnerAccessLevel {
    #[default]
    NotProtected,
    /// Takes only jobs of protected refs.
    RefProtected,
}

/// What matching needs to know about a runner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerInfo {
    pub id: RunnerId,
    pub tags: BTreeSet<String>,
    pub run_untagged: bool,
    pub paused: bool,
    /// `false` for a runner that is deactivated or not yet verified.
    pub active: bool,
    /// `None` for an instance-wide runner; otherwise the projects it is locked to.
    pub locked_to_projects: Option<Vec<ProjectId>>,
    pub access_level: RunnerAccessLevel,
    /// Features the runner advertises in `info.features` with value `true`.
    pub features: BTreeSet<String>,
}

impl RunnerInfo {
    /// Runner `id` as registered and not yet verified: inactive, no tags, no features, not
    /// locked, takes jobs of any ref; callers set what they know.
    #[must_use]
    pub fn new(id: RunnerId) -> RunnerInfo {
        RunnerInfo {
            id,
            tags: BTreeSet::new(),
            run_untagged: false,
            paused: false,
            active: false,
            locked_to_projects: None,
            access_level: RunnerAccessLevel::NotProtected,
            features: BTreeSet::new(),
        }
    }

    fn takes_any(&self) -> bool {
        self.active && !self.paused
    }

    fn takes_kind(&self, key: &BucketKey) -> bool {
        let tags_ok = if key.tags.is_empty() { self.run_untagged } else { key.tags.is_subset(&self.tags) };
        tags_ok
            && key.features.is_subset(&self.features)
            && (key.protected_ref || self.access_level == RunnerAccessLevel::NotProtected)
    }

    fn takes_project(&self, project_id: ProjectId) -> bool {
        self.locked_to_projects.as_ref().is_none_or(|ps| ps.contains(&project_id))
    }
}

/// Whether `runner` may be given `job` (the rules in the module documentation).
#[must_use]
pub fn may_take(runner: &RunnerInfo, job: &QueuedJob) -> bool {
    runner.takes_any() && runner.takes_kind(&BucketKey::of(job)) && runner.takes_project(job.project_id)
}

/// The queue refused a push.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    #[error("job {0} is already queued")]
    Duplicate(JobId),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct BucketKey {
    tags: BTreeSet<String>,
    features: BTreeSet<String>,
    protected_ref: bool,
}

impl BucketKey {
    fn of(job: &QueuedJob) -> BucketKey {
        BucketKey { tags: job.tags.clone(), features: job.required_features.clone(), protected_ref: job.protected_ref }
    }
}

type Fifo = BTreeSet<(Millis, JobId)>;

#[derive(Debug)]
struct Bucket {
    key: BucketKey,
    order: Fifo,
    by_project: BTreeMap<ProjectId, Fifo>,
}

/// Pending jobs, indexed for [`Queue::pick`]. Every change moves [`Queue::last_update`].
#[derive(Debug)]
pub struct Queue {
    jobs: HashMap<JobId, (QueuedJob, usize)>,
    /// Buckets are kept once created (their number is that of the distinct kinds ever queued).
    buckets: Vec<Bucket>,
    bucket_of: HashMap<BucketKey, usize>,
    epoch: u64,
    version: u64,
}

impl Queue {
    /// An empty queue. `epoch` must differ between process starts (e.g. the start time), so
    /// that a `last_update` a runner kept from before a restart never matches by chance.
    #[must_use]
    pub fn new(epoch: u64) -> Queue {
        Queue { jobs: HashMap::new(), buckets: Vec::new(), bucket_of: HashMap::new(), epoch, version: 0 }
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// Every queued job, in no particular order (the autoscaler sorts what it needs).
    pub fn pending(&self) -> impl Iterator<Item = &QueuedJob> {
        self.jobs.values().map(|(job, _)| job)
    }

    #[must_use]
    pub fn contains(&self, id: JobId) -> bool {
        self.jobs.contains_key(&id)
    }

    /// The queue version for `X-GitLab-Last-Update`: opaque, and different after any change.
    /// GitLab keeps one per runner and ticks those that could take a new job; one global
    /// version is simpler and safe — a change only costs every runner one real [`Queue::pick`].
    #[must_use]
    pub fn last_update(&self) -> String {
        format!("{:x}-{:x}", self.epoch, self.version)
    }

    /// Whether a runner's `last_update` is current: nothing changed since it last found no job,
    /// so it can be answered 204 (or held) without a pick. The caller must not use this for a
    /// runner whose own settings changed since; [`Queue::bump`] forces every runner to look.
    #[must_use]
    pub fn is_latest(&self, last_update: &str) -> bool {
        last_update == self.last_update()
    }

    /// Moves the version without a change to the jobs (e.g. a runner was unpaused or re-tagged).
    pub fn bump(&mut self) {
        self.version = self.version.wrapping_add(1);
    }

    /// Queues a pending job.
    pub fn push(&mut self, job: QueuedJob) -> Result<(), QueueError> {
        if self.jobs.contains_key(&job.id) {
            return Err(QueueError::Duplicate(job.id));
        }
        let key = BucketKey::of(&job);
        let b = match self.bucket_of.get(&key) {
            Some(&b) => b,
            None => {
                self.buckets.push(Bucket { key: key.clone(), order: Fifo::new(), by_project: BTreeMap::new() });
                self.bucket_of.insert(key, self.buckets.len() - 1);
                self.buckets.len() - 1
            }
        };
        let entry = (job.enqueued_at, job.id);
        self.buckets[b].order.insert(entry);
        self.buckets[b].by_project.entry(job.project_id).or_default().insert(entry);
        self.jobs.insert(job.id, (job, b));
        self.bump();
        Ok(())
    }

    /// Takes a job out (canceled, or assigned by other means).
    pub fn remove(&mut self, id: JobId) -> Option<QueuedJob> {
        let (job, b) = self.jobs.remove(&id)?;
        let bucket = &mut self.buckets[b];
        let entry = (job.enqueued_at, job.id);
        bucket.order.remove(&entry);
        if let Some(p) = bucket.by_project.get_mut(&job.project_id) {
            p.remove(&entry);
            if p.is_empty() {
                bucket.by_project.remove(&job.project_id);
            }
        }
        self.bump();
        Some(job)
    }

    /// The oldest job `runner` may take, removed from the queue; `None` when there is none.
    pub fn pick(&mut self, runner: &RunnerInfo) -> Option<QueuedJob> {
        if !runner.takes_any() {
            return None;
        }
        let mut best: Option<(Millis, JobId)> = None;
        for bucket in self.buckets.iter().filter(|b| !b.order.is_empty() && runner.takes_kind(&b.key)) {
            let head = match &runner.locked_to_projects {
                None => bucket.order.first().copied(),
                Some(projects) => {
                    projects.iter().filter_map(|p| bucket.by_project.get(p).and_then(|f| f.first().copied())).min()
                }
            };
            best = best.into_iter().chain(head).min();
        }
        let (_, id) = best?;
        self.remove(id)
    }

    /// [`Queue::pick`] restricted to jobs `accept` agrees to (e.g. GPU jobs only when the
    /// runner has the GPUs free now): the oldest acceptable job, removed. Jobs refused stay
    /// queued in their place. Visits refused jobs, so callers keep `accept` cheap.
    pub fn pick_where(&mut self, runner: &RunnerInfo, mut accept: impl FnMut(&QueuedJob) -> bool) -> Option<QueuedJob> {
        if !runner.takes_any() {
            return None;
        }
        let mut best: Option<(Millis, JobId)> = None;
        for bucket in self.buckets.iter().filter(|b| !b.order.is_empty() && runner.takes_kind(&b.key)) {
            let mut candidates: Box<dyn Iterator<Item = &(Millis, JobId)>> = match &runner.locked_to_projects {
                None => Box::new(bucket.order.iter()),
                Some(projects) => {
                    let mut merged: Vec<&(Millis, JobId)> =
                        projects.iter().filter_map(|p| bucket.by_project.get(p)).flat_map(|f| f.iter()).collect();
                    merged.sort();
                    Box::new(merged.into_iter())
                }
            };
            // Entries older than the best so far are the only ones that can improve it.
            let head = candidates
                .by_ref()
                .take_while(|e| best.is_none_or(|b| **e < b))
                .find(|e| self.jobs.get(&e.1).is_some_and(|(job, _)| accept(job)))
                .copied();
            best = best.into_iter().chain(head).min();
        }
        let (_, id) = best?;
        self.remove(id)
    }
}
