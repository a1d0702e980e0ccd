//! Random queue traffic against a plain model: every job is handed to at most one runner, only
//! to a runner allowed to take it, oldest first, and never lost.

use std::collections::{BTreeMap, BTreeSet};

use autogit_core::{JobId, ProjectId, RunnerId};
use autogit_scheduler::Millis;
use autogit_scheduler::queue::*;
use proptest::prelude::*;

const TAGS: [&str; 3] = ["docker", "gpu", "arm"];

fn names(bits: u8) -> BTreeSet<String> {
    TAGS.iter().enumerate().filter(|(i, _)| bits & (1 << i) != 0).map(|(_, t)| (*t).to_owned()).collect()
}

#[derive(Debug, Clone)]
enum Op {
    Push { project: i64, tags: u8, feature: bool, protected: bool, at: i64 },
    Pick { runner: usize },
    Remove { nth: usize },
    Wait { runner: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0i64..3, 0u8..8, prop::bool::weighted(0.2), any::<bool>(), 0i64..20)
            .prop_map(|(project, tags, feature, protected, at)| Op::Push { project, tags, feature, protected, at }),
        3 => (0usize..6).prop_map(|runner| Op::Pick { runner }),
        1 => (0usize..50).prop_map(|nth| Op::Remove { nth }),
        1 => (0usize..6).prop_map(|runner| Op::Wait { runner }),
    ]
}

fn runner() -> impl Strategy<Value = RunnerInfo> {
    (
        0u8..8,
        any::<bool>(),
        prop::bool::weighted(0.15),
        prop::option::weighted(0.3, 0i64..3),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(tags, run_untagged, paused, locked, protected, feature)| RunnerInfo {
            id: RunnerId::new(0),
            tags: names(tags),
            run_untagged,
            paused,
            active: true,
            locked_to_projects: locked.map(|p| vec![ProjectId::new(p)]),
            access_level: if protected { RunnerAccessLevel::RefProtected } else { RunnerAccessLevel::NotProtected },
            features: if feature { BTreeSet::from(["return_exit_code".to_owned()]) } else { BTreeSet::new() },
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn jobs_go_once_to_allowed_runners_and_are_never_lost(
        mut runners in prop::collection::vec(runner(), 6),
        ops in prop::collection::vec(op(), 1..120),
    ) {
        for (i, r) in (1..).zip(runners.iter_mut()) {
            r.id = RunnerId::new(i);
        }
        let mut q = Queue::new(7);
        let mut waiters = Waiters::new();
        let mut model: BTreeMap<JobId, QueuedJob> = BTreeMap::new();
        let mut handed: BTreeMap<JobId, RunnerId> = BTreeMap::new();
        let mut removed = BTreeSet::new();
        for (next_id, op) in (1..).zip(ops) {
            let version = q.last_update();
            match op {
                Op::Push { project, tags, feature, protected, at } => {
                    let job = QueuedJob {
                        id: JobId::new(next_id),
                        project_id: ProjectId::new(project),
                        tags: names(tags),
                        required_features: if feature { BTreeSet::from(["return_exit_code".to_owned()]) } else { BTreeSet::new() },
                        protected_ref: protected,
                        enqueued_at: Millis(at),
                    };
                    if let Some(HeldRequest(r)) = waiters.on_enqueue(&job) {
                        let r = usize::try_from(r).expect("a runner's index");
                        prop_assert!(may_take(&runners[r], &job), "woke a runner that may not take it");
                    }
                    q.push(job.clone()).map_err(|e| TestCaseError::fail(e.to_string()))?;
                    prop_assert_ne!(q.last_update(), version);
                    model.insert(job.id, job);
                }
                Op::Pick { runner } => {
                    let r = &runners[runner];
                    let oldest = model.values().filter(|j| may_take(r, j)).map(|j| (j.enqueued_at, j.id)).min();
                    let got = q.pick(r);
                    prop_assert_eq!(got.as_ref().map(|j| (j.enqueued_at, j.id)), oldest, "not the oldest allowed job");
                    if let Some(j) = got {
                        prop_assert!(may_take(r, &j));
                        prop_assert!(handed.insert(j.id, r.id).is_none(), "job {} handed twice", j.id);
                        model.remove(&j.id);
                    }
                }
                Op::Remove { nth } => {
                    if let Some(&id) = model.keys().nth(nth % model.len().max(1)) {
                        prop_assert_eq!(q.remove(id).map(|j| j.id), Some(id));
                        model.remove(&id);
                        removed.insert(id);
                    }
                }
                Op::Wait { runner } => waiters.register(HeldRequest(runner as u64), runners[runner].clone(), Millis(next_id)),
            }
            prop_assert_eq!(q.len(), model.len());
            prop_assert!(model.keys().all(|&id| q.contains(id)), "a queued job was lost");
            prop_assert!(handed.keys().all(|id| !q.contains(*id) && !removed.contains(id)));
        }
    }
}
