//! What a stored job carries in its opaque `spec` column: the compiled job plus the global YAML
//! variables it inherits, frozen at pipeline creation so that a later push of a different
//! `.gitlab-ci.yml` cannot change a running pipeline (GitLab behaves the same).

use autogit_core::ci;
use autogit_pipeline::{Job as PlanJob, Plan, Var, When as PlanWhen};
use autogit_scheduler::progress::{JobNode, NeedRef, RetryPolicy, RetryWhen, When};
use autogit_store::Job;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct JobSpec {
    pub job: PlanJob,
    /// Global `variables:` after `inherit:variables`, as `(key, value, expand)`.
    pub globals: Vec<(String, String, bool)>,
}

impl JobSpec {
    pub fn from_plan(plan: &Plan, job: &PlanJob) -> JobSpec {
        let globals = plan
            .variables
            .iter()
            .filter(|(k, _)| job.inherit_variables.as_ref().is_none_or(|only| only.contains(k)))
            .map(|(k, v): &(String, Var)| (k.clone(), v.value.clone(), v.expand))
            .collect();
        JobSpec { job: job.clone(), globals }
    }

    pub fn parse(job: &Job) -> Result<JobSpec, crate::AppError> {
        serde_json::from_str(&job.spec)
            .map_err(|e| crate::AppError::Internal(format!("job {} has an unreadable spec: {e}", job.id)))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    pub fn retry_policy(&self) -> RetryPolicy {
        let r = &self.job.retry;
        RetryPolicy {
            max: r.max,
            when: (!r.when.is_empty()).then(|| {
                r.when
                    .iter()
                    .filter_map(|w| match w.as_str() {
                        "always" => Some(RetryWhen::Always),
                        // The compiler accepts only known reasons.
                        other => other.parse().ok().map(RetryWhen::Reason),
                    })
                    .collect()
            }),
            exit_codes: (!r.exit_codes.is_empty())
                .then(|| r.exit_codes.iter().filter_map(|c| i32::try_from(*c).ok()).collect()),
        }
    }
}

/// The stored `when` of a planned job.
pub(crate) fn stored_when(w: PlanWhen) -> ci::When {
    match w {
        PlanWhen::OnSuccess => ci::When::OnSuccess,
        PlanWhen::OnFailure => ci::When::OnFailure,
        PlanWhen::Always => ci::When::Always,
        PlanWhen::Manual => ci::When::Manual,
        PlanWhen::Delayed => ci::When::Delayed,
    }
}

/// The pipeline's latest jobs as the scheduler's progression sees them, index for index.
pub(crate) fn nodes(jobs: &[(Job, std::sync::Arc<JobSpec>)]) -> Vec<JobNode> {
    let index = name_index(jobs);
    jobs.iter().enumerate().map(|(i, (job, spec))| node(i, job, spec, &index)).collect()
}

/// Job name → index in `jobs`.
pub(crate) fn name_index(jobs: &[(Job, std::sync::Arc<JobSpec>)]) -> HashMap<String, usize> {
    jobs.iter().enumerate().map(|(i, (j, _))| (j.name.clone(), i)).collect()
}

/// Job `i` as progression sees it; `index` resolves its `needs:` by name.
pub(crate) fn node(i: usize, job: &Job, spec: &JobSpec, index: &HashMap<String, usize>) -> JobNode {
    let when = match spec.job.when {
        PlanWhen::OnSuccess => When::OnSuccess,
        PlanWhen::OnFailure => When::OnFailure,
        PlanWhen::Always => When::Always,
        PlanWhen::Manual => When::Manual,
        PlanWhen::Delayed => When::Delayed {
            start_in_ms: spec.job.start_in_seconds.map_or(0, |s| i64::try_from(s).unwrap_or(i64::MAX) * 1000),
        },
    };
    // A need whose job was not created (optional, or excluded by rules) is dropped.
    let needs = spec
        .job
        .needs
        .as_ref()
        .map(|needs| needs.iter().filter_map(|n| index.get(n.job.as_str()).map(|&j| NeedRef { job: j })).collect());
    JobNode {
        id: i,
        name: job.name.clone(),
        stage_index: usize::try_from(job.stage_index).unwrap_or(0),
        when,
        allow_failure: spec.job.allow_failure.allowed,
        allow_failure_exit_codes: spec
            .job
            .allow_failure
            .exit_codes
            .iter()
            .filter_map(|c| i32::try_from(*c).ok())
            .collect(),
        needs,
        status: job.status,
        exit_code: job.exit_code,
        scheduled_at: job.scheduled_at.map(|t| autogit_scheduler::Millis(t.timestamp_millis())),
        // A retried manual or delayed job runs at once: retrying counts as playing it.
        enqueue_immediately: job.attempt > 1,
    }
}
