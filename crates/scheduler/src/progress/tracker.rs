//! Progression in O(what a change can affect): the coordinator keeps one [`Tracker`] per active
//! pipeline, tells it which jobs changed, and gets the same decisions [`advance`] would make over
//! the whole pipeline (`tests/progress_prop.rs` checks it step by step against `advance`).
//!
//! What a change of job `j` can affect: the `created` jobs that need `j`, and the `created`
//! stage jobs (no `needs:`) of later stages, which wait for the composite of every earlier
//! stage. Composites are kept as per-stage counts of each category, so the prefix of stages is
//! a fold over the stages (not the jobs), and a stage's waiting jobs are visited only once their
//! prefix has finished — then each is decided, so every job is visited a bounded number of
//! times over the pipeline's life. The pipeline's status is read from the total counts.

use super::composite::{CATEGORIES, Composite, category};
use super::{JobNode, JobStatus, PipelineStatus, Transition, advance::decide};
use crate::Millis;
use std::collections::{BTreeSet, VecDeque};

/// How many jobs of each category a set of jobs holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts([u32; CATEGORIES]);

impl Counts {
    fn add(&mut self, bit: u16) {
        self.0[bit.trailing_zeros() as usize] += 1;
    }

    fn remove(&mut self, bit: u16) {
        let n = &mut self.0[bit.trailing_zeros() as usize];
        *n = n.saturating_sub(1);
    }

    fn merge(&mut self, other: &Counts) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a += b;
        }
    }

    fn composite(&self) -> Composite {
        let bits = self.0.iter().enumerate().filter(|(_, n)| **n > 0).fold(0u16, |set, (i, _)| set | (1 << i));
        Composite::from_bits(bits)
    }
}

/// One pipeline's latest jobs with the indexes that make a change cheap to follow.
#[derive(Debug, Clone)]
pub struct Tracker {
    jobs: Vec<JobNode>,
    /// Position of each job's stage in `stages`.
    stage_of: Vec<usize>,
    /// Per stage in `stage_index` order: the counts of its jobs' categories.
    stage_counts: Vec<Counts>,
    /// Per stage: its `created` jobs without `needs:` (decided together once the prefix ends).
    waiting: Vec<BTreeSet<usize>>,
    total: Counts,
    /// Job → the jobs whose `needs:` name it.
    dependents: Vec<Vec<usize>>,
    scheduled: BTreeSet<usize>,
}

impl Tracker {
    /// Indexes `jobs` (`jobs[i].id == i`, as for [`advance`](super::advance)).
    #[must_use]
    pub fn new(jobs: Vec<JobNode>) -> Tracker {
        let mut stage_values: Vec<usize> = jobs.iter().map(|j| j.stage_index).collect();
        stage_values.sort_unstable();
        stage_values.dedup();
        let n = jobs.len();
        let mut t = Tracker {
            stage_of: jobs.iter().map(|j| stage_values.binary_search(&j.stage_index).unwrap_or(0)).collect(),
            stage_counts: vec![Counts::default(); stage_values.len()],
            waiting: vec![BTreeSet::new(); stage_values.len()],
            total: Counts::default(),
            dependents: vec![Vec::new(); n],
            scheduled: BTreeSet::new(),
            jobs: Vec::new(),
        };
        for (i, j) in jobs.iter().enumerate() {
            for need in j.needs.iter().flatten().filter(|need| need.job < n) {
                t.dependents[need.job].push(i);
            }
        }
        t.jobs = jobs;
        for i in 0..n {
            t.count(i, true);
        }
        t
    }

    #[must_use]
    pub fn jobs(&self) -> &[JobNode] {
        &self.jobs
    }

    /// Replaces job `i` (a new status, or a new try of the same job); its stage and needs must
    /// be the ones it was created with.
    pub fn replace(&mut self, i: usize, node: JobNode) {
        if i >= self.jobs.len() {
            return;
        }
        self.count(i, false);
        let id = self.jobs[i].id;
        self.jobs[i] = JobNode { id, ..node };
        self.count(i, true);
    }

    /// Applies one decision (as the caller stored it).
    pub fn apply(&mut self, t: &Transition) {
        let Some(job) = self.jobs.get(t.job) else { return };
        let mut node = job.clone();
        node.status = t.to;
        if t.to == JobStatus::Scheduled {
            node.scheduled_at = t.scheduled_at;
        }
        self.replace(t.job, node);
    }

    fn count(&mut self, i: usize, add: bool) {
        let j = &self.jobs[i];
        let bit = category(j, j.status);
        let stage = self.stage_of[i];
        let waits = j.status == JobStatus::Created && j.needs.is_none();
        let scheduled = j.status == JobStatus::Scheduled;
        if add {
            self.stage_counts[stage].add(bit);
            self.total.add(bit);
            if waits {
                self.waiting[stage].insert(i);
            }
            if scheduled {
                self.scheduled.insert(i);
            }
        } else {
            self.stage_counts[stage].remove(bit);
            self.total.remove(bit);
            self.waiting[stage].remove(&i);
            self.scheduled.remove(&i);
        }
    }

    /// Every decision the pipeline allows now, from scratch (after loading it): the full
    /// [`advance`](super::advance), applied to the tracker.
    pub fn advance_all(&mut self, now: Millis) -> Vec<Transition> {
        let out = super::advance(&self.jobs, now);
        for t in &out {
            self.apply(t);
        }
        out
    }

    /// The decisions that the change of `changed` (and the passing of time to `now`) allows,
    /// already applied to the tracker: what [`advance`](super::advance) over all jobs returns.
    pub fn advance(&mut self, changed: &[usize], now: Millis) -> Vec<Transition> {
        let mut out = Vec::new();
        let due: Vec<usize> =
            self.scheduled.iter().copied().filter(|&i| self.jobs[i].scheduled_at.is_none_or(|at| at <= now)).collect();
        for i in due {
            self.record(Transition { job: i, to: JobStatus::Pending, scheduled_at: None }, &mut out);
        }
        let mut work: VecDeque<usize> = changed.iter().copied().filter(|&i| i < self.jobs.len()).collect();
        work.extend(out.iter().map(|t| t.job));
        loop {
            let mut lowest_stage = usize::MAX;
            while let Some(j) = work.pop_front() {
                lowest_stage = lowest_stage.min(self.stage_of[j]);
                let candidates: Vec<usize> = std::iter::once(j).chain(self.dependents[j].iter().copied()).collect();
                for d in candidates {
                    // A job decided earlier in this call is no longer `created`.
                    if self.jobs[d].status != JobStatus::Created {
                        continue;
                    }
                    if let Some(t) = self.decide_now(d, now) {
                        lowest_stage = lowest_stage.min(self.stage_of[d]);
                        self.record(t, &mut out);
                        work.push_back(d);
                    }
                }
            }
            if lowest_stage == usize::MAX {
                return out;
            }
            // Stage jobs of later stages, in stage order, while their prefix has finished.
            let mut prefix = Counts::default();
            for stage in 0..self.stage_counts.len() {
                if stage > lowest_stage && !self.waiting[stage].is_empty() {
                    let prior = prefix.composite().status(false).unwrap_or(JobStatus::Success);
                    if prior.is_finished() {
                        let members: Vec<usize> = self.waiting[stage].iter().copied().collect();
                        for i in members {
                            if let Some(t) = decide(i, &self.jobs[i], prior, now) {
                                self.record(t, &mut out);
                                work.push_back(i);
                            }
                        }
                    }
                }
                prefix.merge(&self.stage_counts[stage]);
            }
            if work.is_empty() {
                return out;
            }
        }
    }

    fn record(&mut self, t: Transition, out: &mut Vec<Transition>) {
        self.apply(&t);
        out.push(t);
    }

    /// The decision for `created` job `i` from its prerequisites as they are now.
    fn decide_now(&self, i: usize, now: Millis) -> Option<Transition> {
        let job = &self.jobs[i];
        let prerequisites = match &job.needs {
            Some(needs) => {
                let mut c = Composite::default();
                for need in needs.iter().filter(|n| n.job < self.jobs.len()) {
                    c.add(&self.jobs[need.job], self.jobs[need.job].status);
                }
                c.status(true).unwrap_or(JobStatus::Success)
            }
            None => {
                let mut prefix = Counts::default();
                for counts in &self.stage_counts[..self.stage_of[i]] {
                    prefix.merge(counts);
                }
                prefix.composite().status(false).unwrap_or(JobStatus::Success)
            }
        };
        decide(i, job, prerequisites, now)
    }

    /// The pipeline's status, as [`pipeline_status`](super::pipeline_status) over the jobs.
    #[must_use]
    pub fn pipeline_status(&self) -> PipelineStatus {
        self.total.composite().status(false).map_or(PipelineStatus::Created, PipelineStatus::from)
    }

    /// As [`has_warnings`](super::has_warnings).
    #[must_use]
    pub fn has_warnings(&self) -> bool {
        self.total.composite().has_warnings()
    }
}
