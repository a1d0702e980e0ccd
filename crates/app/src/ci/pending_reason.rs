//! Why a pending job waits, in words for its page: no runner could ever run its GPU request;
//! a pool that serves its tags is starting (or waking) an instance; a pool is at its limit;
//! or the plain wait for a runner with its tags.

use crate::System;
use autogit_core::ci::JobStatus;
use autogit_store::Job;

impl System<'_> {
    /// `None` unless the job is pending.
    pub fn pending_reason(&self, job: &Job) -> Option<String> {
        if job.status != JobStatus::Pending {
            return None;
        }
        if let Some(gpu) = self.gpu_pending_reason(job) {
            return Some(gpu);
        }
        let pools = self.pool_board();
        let pools = pools.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let serving: Vec<_> = pools.iter().filter(|p| job.tags.iter().all(|t| p.tags.contains(t))).collect();
        for p in &serving {
            if let Some(i) = p.instances.iter().find(|i| i.state == "creating") {
                return Some(format!("Pool `{}` is starting an instance ({}) to run it.", p.name, i.id));
            }
            if p.instances.iter().any(|i| i.state == "suspended") && p.free_slots == 0 {
                return Some(format!("Pool `{}` is waking a suspended instance to run it.", p.name));
            }
        }
        if let Some(p) = serving.iter().find(|p| !p.can_grow && p.free_slots == 0) {
            return Some(format!("Pool `{}` is at its instance limit; the job waits for a free slot.", p.name));
        }
        Some(if job.tags.is_empty() {
            "Waiting for a runner that runs untagged jobs to pick it up.".to_string()
        } else {
            format!("Waiting for a runner with the tags {} to pick it up.", job.tags.join(", "))
        })
    }
}
