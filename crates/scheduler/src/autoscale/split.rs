//! [`split_demand`]: which pool's demand each pending job counts toward when several pools
//! could run it. Counting a job for every pool that could run it makes each of them scale up for
//! it (two instances booted for one job, one of them removed again idle); counting it for one
//! pool chosen by rule keeps the fleet to what the queue needs.

use super::Demand;
use crate::Millis;

/// What one pool offers the queue now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolOffer {
    /// Job slots free on its ready instances: a job matched to them starts without a scale-up.
    pub free_slots: u32,
    /// Whether it may start more instances (below `max_instances`).
    pub can_grow: bool,
}

/// A pending job and the pools whose runners could run it (indices into the offers, in the
/// configuration's order: the earlier pool is preferred when nothing else decides).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingJob {
    pub enqueued_at: Millis,
    pub pools: Vec<usize>,
}

/// One [`Demand`] per offer. Jobs are taken oldest first; each counts toward exactly one of its
/// pools:
/// 1. the one with the most free ready slots left, if any has one (that slot is then used up:
///    the next job does not count it again), so that no pool scales up for a job an idle
///    runner elsewhere will take;
/// 2. otherwise the first of its pools that can still grow;
/// 3. otherwise its first pool (which is full: the job waits there, and the count shows it).
///
/// Jobs no pool can run count nowhere. `oldest_wait_ms` is the wait of the oldest job counted.
#[must_use]
pub fn split_demand(jobs: &[PendingJob], offers: &[PoolOffer], now: Millis) -> Vec<Demand> {
    let mut demand = vec![Demand::default(); offers.len()];
    let mut free: Vec<u32> = offers.iter().map(|o| o.free_slots).collect();
    let mut order: Vec<&PendingJob> = jobs.iter().collect();
    order.sort_by_key(|j| j.enqueued_at);
    for job in order {
        let pools: Vec<usize> = job.pools.iter().copied().filter(|p| *p < offers.len()).collect();
        let with_free =
            pools.iter().copied().filter(|p| free[*p] > 0).fold(None, |best: Option<usize>, p| match best {
                Some(b) if free[b] >= free[p] => Some(b),
                _ => Some(p),
            });
        let chosen = with_free
            .or_else(|| pools.iter().copied().find(|p| offers[*p].can_grow))
            .or_else(|| pools.first().copied());
        let Some(p) = chosen else { continue };
        if with_free.is_some() {
            free[p] -= 1;
        }
        let d = &mut demand[p];
        d.pending_jobs = d.pending_jobs.saturating_add(1);
        d.oldest_wait_ms = d.oldest_wait_ms.max(now.0 - job.enqueued_at.0);
    }
    demand
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn job(at: i64, pools: &[usize]) -> PendingJob {
        PendingJob { enqueued_at: Millis(at), pools: pools.to_vec() }
    }

    fn offer(free_slots: u32, can_grow: bool) -> PoolOffer {
        PoolOffer { free_slots, can_grow }
    }

    fn pending(d: &[Demand]) -> Vec<u32> {
        d.iter().map(|d| d.pending_jobs).collect()
    }

    #[test]
    fn a_job_two_pools_can_run_counts_once() {
        let d = split_demand(&[job(0, &[0, 1])], &[offer(0, true), offer(0, true)], Millis(1000));
        assert_eq!(pending(&d), vec![1, 0]);
        assert_eq!(d[0].oldest_wait_ms, 1000);
    }

    #[test]
    fn a_pool_with_a_free_slot_takes_the_job_and_the_slot_is_used_up() {
        let offers = [offer(0, true), offer(1, true)];
        let d = split_demand(&[job(0, &[0, 1]), job(1, &[0, 1])], &offers, Millis(10));
        // The oldest goes to pool 1's free slot; the next one to the first pool that can grow.
        assert_eq!(pending(&d), vec![1, 1]);
        assert_eq!((d[0].oldest_wait_ms, d[1].oldest_wait_ms), (9, 10));
    }

    #[test]
    fn the_least_busy_pool_wins_and_full_pools_are_passed_over() {
        let offers = [offer(1, true), offer(3, true), offer(0, false), offer(0, true)];
        let d = split_demand(&[job(0, &[0, 1])], &offers, Millis(0));
        assert_eq!(pending(&d), vec![0, 1, 0, 0]);
        let d = split_demand(&[job(0, &[2, 3])], &offers, Millis(0));
        assert_eq!(pending(&d), vec![0, 0, 0, 1], "pool 2 is at max_instances");
        let d = split_demand(&[job(0, &[2])], &offers, Millis(0));
        assert_eq!(pending(&d), vec![0, 0, 1, 0], "nowhere else to wait");
    }

    #[test]
    fn jobs_no_pool_runs_count_nowhere() {
        let d = split_demand(&[job(0, &[]), job(0, &[7])], &[offer(0, true)], Millis(0));
        assert_eq!(pending(&d), vec![0]);
    }

    #[test]
    fn a_job_listing_one_pool_thrice_waits_there_without_free_slots() {
        // Found by the property below: `[1, 1, 1]` is not "every pool".
        let d = split_demand(&[job(0, &[1, 1, 1])], &[offer(1, false), offer(0, false), offer(0, false)], Millis(0));
        assert_eq!(pending(&d), vec![0, 1, 0]);
    }

    proptest! {
        /// Every job some pool can run counts exactly once, toward one of its pools; a job counts
        /// toward a pool without free slots only if none of its pools had one left for it.
        #[test]
        fn each_runnable_job_counts_once(
            jobs in prop::collection::vec((0i64..100, prop::collection::vec(0usize..5, 0..4)), 0..40),
            offers in prop::collection::vec((0u32..4, any::<bool>()), 1..5),
        ) {
            let jobs: Vec<PendingJob> = jobs.into_iter().map(|(at, pools)| job(at, &pools)).collect();
            let offers: Vec<PoolOffer> = offers.into_iter().map(|(f, g)| offer(f, g)).collect();
            let d = split_demand(&jobs, &offers, Millis(100));
            let runnable = jobs.iter().filter(|j| j.pools.iter().any(|p| *p < offers.len())).count();
            prop_assert_eq!(d.iter().map(|d| d.pending_jobs as usize).sum::<usize>(), runnable);
            for (i, dem) in d.iter().enumerate() {
                let eligible = jobs.iter().filter(|j| j.pools.contains(&i)).count();
                prop_assert!(dem.pending_jobs as usize <= eligible);
            }
            // Free slots are used before any pool is asked to grow: with enough free slots
            // among a job's pools for every job, no pool is counted beyond its free slots.
            let total_free: u32 = offers.iter().map(|o| o.free_slots).sum();
            // (Every pool among a job's pools: duplicates in the generated list must not stand in
            // for a missing pool.)
            if jobs.iter().all(|j| (0..offers.len()).all(|p| j.pools.contains(&p)))
                && runnable as u32 <= total_free
            {
                for (dem, o) in d.iter().zip(&offers) {
                    prop_assert!(dem.pending_jobs <= o.free_slots, "{:?} {:?}", d, offers);
                }
            }
        }
    }
}
