//! Whether a job is in this pipeline, and what its matching rule changes: `when`,
//! `allow_failure`, `variables`, `needs`, `start_in`, `interruptible`.

use std::collections::BTreeMap;

use crate::diagnostic::Diags;
use crate::input::PipelineContext;
use crate::job::{JobSpec, Selection, when_of};
use crate::job_parts;
use crate::needs;
use crate::only;
use crate::plan::{AllowFailure, Var, When};
use crate::rules::{self, Facts};
use crate::values::overlay;

/// The variables a job's `rules:if` sees: global YAML < job YAML < the context's
/// (predefined and user variables, which GitLab ranks above YAML ones).
pub fn job_vars(
    global: &[(String, Var)],
    job: &[(String, Var)],
    predefined: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut v: BTreeMap<String, String> = BTreeMap::new();
    for (k, var) in global.iter().chain(job) {
        v.insert(k.clone(), var.value.clone());
    }
    v.extend(predefined.iter().map(|(k, val)| (k.clone(), val.clone())));
    v
}

/// Applies the job's selection; `None` = not in this pipeline. The spec is updated in place
/// with what the matching rule sets.
pub fn select(
    mut spec: JobSpec,
    vars: &BTreeMap<String, String>,
    ctx: &PipelineContext,
    d: &mut Diags,
) -> Option<JobSpec> {
    let lookup = |k: &str| vars.get(k).cloned();
    let facts = Facts { ctx, var: &lookup };
    let job_when = spec.job_when.unwrap_or(When::OnSuccess);
    let mut from_job_level = true;
    match &spec.selection {
        Selection::OnlyExcept { only, except } => {
            let included = only::matches(only, &facts) && !except.as_ref().is_some_and(|e| only::matches(e, &facts));
            if !included {
                return None;
            }
        }
        Selection::Rules(list) => {
            let rule = rules::first_match(list, &facts)?.clone();
            match rule.when.as_deref() {
                Some("never") => return None,
                Some(w) => {
                    spec.job.when = when_of(w).unwrap_or(job_when);
                    from_job_level = false;
                }
                None => spec.job.when = job_when,
            }
            // Without `allow_failure` in the rule, the job's own value stands; a `when: manual`
            // set by a rule defaults to false (unlike job-level manual): see `manual_default`.
            if let Some(a) = &rule.allow_failure {
                spec.allow_failure = job_parts::allow_failure(a, d);
            }
            overlay(&mut spec.job.variables, &rule.variables);
            if let Some(n) = &rule.needs {
                spec.needs = Some(needs::parse(n, &spec.job.name, d));
            }
            if rule.start_in.is_some() {
                spec.job.start_in_seconds = rule.start_in;
            }
            if rule.interruptible.is_some() {
                spec.job.interruptible = rule.interruptible;
            }
        }
    }
    let manual_default = from_job_level && spec.job.when == When::Manual;
    spec.job.allow_failure =
        spec.allow_failure.clone().unwrap_or(AllowFailure { allowed: manual_default, exit_codes: Vec::new() });
    if spec.job.when == When::Delayed && spec.job.start_in_seconds.is_none() {
        d.error(spec.pos, format!("`{}`: `when: delayed` needs `start_in`", spec.job.name));
    }
    if spec.job.when != When::Delayed {
        spec.job.start_in_seconds = None;
    }
    Some(spec)
}
