//! A pipeline's jobs arranged for display: stages in order with GitLab's composite status of
//! each, and each job's `needs:`. Pure functions of the records a use-case returned.

use super::spec::{JobSpec, nodes};
use autogit_core::ci::JobStatus;
use autogit_store::Job;
use std::sync::Arc;

/// One stage of a pipeline as its page shows it.
#[derive(Debug, Clone)]
pub struct StageView {
    pub name: String,
    /// The composite of its jobs' statuses, as GitLab computes a stage's status.
    pub status: JobStatus,
    pub jobs: Vec<Job>,
}

/// The latest try of each job (retried ones left out), grouped by stage in pipeline order.
pub fn stages_of(jobs: &[Job]) -> Vec<StageView> {
    let mut latest: Vec<&Job> = jobs.iter().filter(|j| !j.retried).collect();
    latest.sort_by_key(|j| (j.stage_index, j.id));
    let mut out: Vec<StageView> = Vec::new();
    for j in latest {
        match out.last_mut() {
            Some(s) if s.name == j.stage => s.jobs.push(j.clone()),
            _ => out.push(StageView { name: j.stage.clone(), status: j.status, jobs: vec![j.clone()] }),
        }
    }
    for stage in &mut out {
        let with_specs: Vec<(Job, Arc<JobSpec>)> =
            stage.jobs.iter().filter_map(|j| JobSpec::parse(j).ok().map(|s| (j.clone(), Arc::new(s)))).collect();
        if with_specs.len() == stage.jobs.len() {
            let status = autogit_scheduler::progress::pipeline_status(&nodes(&with_specs));
            stage.status = status_as_job(status);
        }
    }
    out
}

fn status_as_job(p: autogit_core::ci::PipelineStatus) -> JobStatus {
    p.as_str().parse().unwrap_or(JobStatus::Created)
}

/// A job's `needs:` by job name: `None` when it follows stage order.
pub fn needs_of(job: &Job) -> Option<Vec<String>> {
    let spec = JobSpec::parse(job).ok()?;
    spec.job.needs.map(|n| n.into_iter().map(|n| n.job).collect())
}
