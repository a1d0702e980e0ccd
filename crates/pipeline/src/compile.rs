//! The compiler's pipeline: load + include → extends → `!reference` → globals →
//! `workflow:rules` → jobs (rules/only/except) → parallel expansion → needs and
//! dependencies → plan. Every stage reports into one [`Diags`]; any error drops the plan.

use std::collections::BTreeSet;

use crate::diagnostic::{Diagnostic, Diags, Pos};
use crate::globals::{self, RESERVED};
use crate::input::CompileInput;
use crate::job::{self, JobSpec};
use crate::matrix;
use crate::needs::{self, Slot};
use crate::plan::{self, Job, Plan};
use crate::rules::{self, Facts};
use crate::select::{job_vars, select};
use crate::values::overlay;
use crate::yaml::{Budget, Limits};
use crate::{extends, gpu, include, reference};

/// Most jobs one pipeline may have (after parallel expansion).
pub const MAX_JOBS: usize = 2000;

/// The result of a compilation. `plan` is `None` when there is an error, and also when no
/// pipeline is created for this context without any error (`workflow:rules` filtered it out,
/// or no job matched): then a warning says which.
#[derive(Debug, Clone, PartialEq)]
pub struct Compiled {
    pub plan: Option<Plan>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Compiles one CI configuration. Never panics, never does I/O.
pub fn compile(input: &CompileInput) -> Compiled {
    let mut d = Diags::default();
    let plan = run(input, &mut d);
    let plan = if d.has_errors() { None } else { plan };
    Compiled { plan, diagnostics: d.list }
}

fn run(input: &CompileInput, d: &mut Diags) -> Option<Plan> {
    let limits = Limits::default();
    let mut budget = Budget::default();
    let predefined = input.context.predefined();
    let ctx_var = |k: &str| predefined.get(k).cloned();
    let facts = Facts { ctx: &input.context, var: &ctx_var };
    let mut root = include::load_all(input, limits, &mut budget, d, &facts)?;
    let failed = extends::resolve(&mut root, &limits, &mut budget, d);
    reference::resolve(&mut root, &limits, &mut budget, d);
    let mut g = globals::parse(&root, d);

    let main = Pos::file_start(0);
    if let Some(wf) = &g.workflow {
        let vars = job_vars(&g.variables, &[], &predefined);
        let lookup = |k: &str| vars.get(k).cloned();
        let wf_facts = Facts { ctx: &input.context, var: &lookup };
        match rules::first_match(wf, &wf_facts) {
            Some(r) if r.when.as_deref() != Some("never") => overlay(&mut g.variables, &r.variables),
            _ => {
                d.warning(main, "pipeline filtered out by workflow:rules: no pipeline is created");
                return None;
            }
        }
    }

    let job_entries: Vec<_> = root
        .entries
        .iter()
        .filter(|e| !e.key.starts_with('.') && !RESERVED.contains(&e.key.as_str()) && !failed.contains(&e.key))
        .collect();
    if job_entries.len() > MAX_JOBS {
        d.error(main, format!("too many jobs: {} (the limit is {MAX_JOBS})", job_entries.len()));
        return None;
    }
    let defined: BTreeSet<&str> = job_entries.iter().map(|e| e.key.as_str()).collect();
    let mut specs: Vec<JobSpec> = Vec::new();
    for e in &job_entries {
        let Some(spec) = job::parse(&e.key, e.key_pos, &e.value, &g.defaults, &g.stages, d) else { continue };
        let vars = job_vars(&g.variables, &spec.job.variables, &predefined);
        if let Some(s) = select(spec, &vars, &input.context, d) {
            specs.push(s);
        }
    }

    let count: usize = specs.iter().map(|s| matrix::instances_count(&s.parallel)).sum();
    if count > MAX_JOBS {
        d.error(main, format!("too many jobs after parallel expansion: {count} (the limit is {MAX_JOBS})"));
        return None;
    }
    let (mut jobs, owners) = expand(&specs);
    expand_tags(&mut jobs, &g.variables, &predefined);
    let global_gpu = root.get("variables").and_then(|v| gpu::variable_pos(v, gpu::VARIABLE)).unwrap_or(main);
    resolve_gpus(&specs, &owners, &mut jobs, &g.variables, global_gpu, d);
    resolve_needs(&specs, &owners, &mut jobs, &|n| defined.contains(n), d);
    let positions: Vec<Pos> = owners.iter().map(|&o| specs[o].pos).collect();
    needs::check_cycles(&jobs, &|i| positions[i], d);
    check_dependencies(&specs, &owners, &jobs, d);

    let mut order: Vec<usize> = (0..jobs.len()).collect();
    order.sort_by_key(|&i| jobs[i].stage_index);
    let jobs: Vec<Job> = order.into_iter().map(|i| jobs[i].clone()).collect();
    if !d.has_errors() && jobs.iter().all(|j| j.stage == ".pre" || j.stage == ".post") {
        d.warning(main, "no jobs for this pipeline (rules, only or except excluded them all): no pipeline is created");
        return None;
    }
    Some(Plan { stages: g.stages, variables: g.variables, jobs })
}

/// One `Job` per instance; `owners[i]` is the spec index of `jobs[i]`.
fn expand(specs: &[JobSpec]) -> (Vec<Job>, Vec<usize>) {
    let mut jobs = Vec::new();
    let mut owners = Vec::new();
    for (i, s) in specs.iter().enumerate() {
        let inst = matrix::instances(&s.job.name, &s.parallel);
        if inst.is_empty() {
            jobs.push(s.job.clone());
            owners.push(i);
        }
        for it in inst {
            let mut j = s.job.clone();
            j.name = it.name;
            j.parallel = Some(plan::Parallel { index: it.index, total: it.total, matrix: it.vars });
            jobs.push(j);
            owners.push(i);
        }
    }
    (jobs, owners)
}

/// `tags:` may name variables, as in GitLab: `tags: [$ARCH]` with a `parallel:matrix` axis
/// `ARCH` gives each instance its own runner tag. The job's variables (inherited global ones,
/// its own, its matrix values) and the CI/CD, pipeline and predefined variables are expanded;
/// unknown ones become empty, and a tag left empty is dropped.
fn expand_tags(
    jobs: &mut [Job],
    global: &[(String, plan::Var)],
    predefined: &std::collections::BTreeMap<String, String>,
) {
    for j in jobs.iter_mut().filter(|j| j.tags.iter().any(|t| t.contains('$'))) {
        let inherited: Vec<(String, plan::Var)> = global
            .iter()
            .filter(|(k, _)| j.inherit_variables.as_ref().is_none_or(|l| l.contains(k)))
            .cloned()
            .collect();
        let mut own = j.variables.clone();
        if let Some(p) = &j.parallel {
            own.extend(
                p.matrix
                    .iter()
                    .map(|(k, v)| (k.clone(), plan::Var { value: v.clone(), expand: true, description: None })),
            );
        }
        let vars = job_vars(&inherited, &own, predefined);
        let lookup = |k: &str| vars.get(k).cloned();
        j.tags = j.tags.iter().map(|t| include::expand_vars(t, &lookup)).filter(|t| !t.trim().is_empty()).collect();
    }
}

/// Each instance's GPU request. The effective `GPU_REQUEST` is the matrix's, else the job's
/// (rules applied), else the global one if the job inherits it. The same problem (a bad global
/// `GPU_REQUEST`, a spec's parallel instances) is reported once.
fn resolve_gpus(
    specs: &[JobSpec],
    owners: &[usize],
    jobs: &mut [Job],
    globals: &[(String, plan::Var)],
    global_pos: Pos,
    d: &mut Diags,
) {
    let mut local = Diags { files: d.files.clone(), list: Vec::new() };
    let find =
        |vars: &[(String, plan::Var)]| vars.iter().find(|(k, _)| k == gpu::VARIABLE).map(|(_, v)| v.value.clone());
    for (i, job) in jobs.iter_mut().enumerate() {
        let spec = &specs[owners[i]];
        let matrix = job
            .parallel
            .as_ref()
            .and_then(|p| p.matrix.iter().find(|(k, _)| k == gpu::VARIABLE))
            .map(|(_, v)| (v.clone(), spec.gpu.matrix_pos, false));
        let own = || find(&job.variables).map(|v| (v, spec.gpu.variable_pos.unwrap_or(spec.pos), false));
        let inherits = job.inherit_variables.as_ref().is_none_or(|l| l.iter().any(|k| k == gpu::VARIABLE));
        let global = || find(globals).filter(|_| inherits).map(|v| (v, global_pos, true));
        let variable = matrix.or_else(own).or_else(global);
        let variable = variable.as_ref().map(|(text, pos, global)| gpu::Variable { text, pos: *pos, global: *global });
        job.gpu = gpu::resolve(&spec.job.name, &spec.gpu, variable, &mut local);
    }
    for diag in local.list {
        if !d.list.contains(&diag) && d.list.len() < 500 {
            d.list.push(diag);
        }
    }
}

fn resolve_needs(specs: &[JobSpec], owners: &[usize], jobs: &mut [Job], defined: &dyn Fn(&str) -> bool, d: &mut Diags) {
    let names: Vec<String> = jobs.iter().map(|j| j.name.clone()).collect();
    let matrices: Vec<Vec<(String, String)>> =
        jobs.iter().map(|j| j.parallel.as_ref().map(|p| p.matrix.clone()).unwrap_or_default()).collect();
    let slots: Vec<Slot<'_>> = owners
        .iter()
        .zip(&matrices)
        .map(|(&o, m)| Slot { base: specs[o].job.name.as_str(), matrix: m.as_slice() })
        .collect();
    let mut reported = BTreeSet::new();
    for (i, job) in jobs.iter_mut().enumerate() {
        let spec = &specs[owners[i]];
        if let Some(list) = &spec.needs {
            // Report a spec's problems once, not once per parallel instance.
            let mut local = Diags { files: d.files.clone(), list: Vec::new() };
            job.needs = Some(needs::resolve(&spec.job.name, list, &slots, &names, defined, &mut local));
            if reported.insert(owners[i]) {
                d.list.extend(local.list);
            }
        }
    }
}

/// `dependencies` must name jobs of earlier stages (or needed ones); a parallel job's base
/// name stands for all its instances.
fn check_dependencies(specs: &[JobSpec], owners: &[usize], jobs: &[Job], d: &mut Diags) {
    for (si, spec) in specs.iter().enumerate() {
        let Some(deps) = &spec.job.dependencies else { continue };
        let Some(me) = owners.iter().position(|&o| o == si) else { continue };
        for dep in deps {
            let ok = jobs.iter().enumerate().any(|(k, j)| {
                let base = &specs[owners[k]].job.name;
                (base == dep || &j.name == dep)
                    && (j.stage_index < jobs[me].stage_index
                        || jobs[me].needs.iter().flatten().any(|n| n.job == j.name))
            });
            if !ok {
                d.error(
                    spec.dependencies_pos,
                    format!(
                        "`{}`: dependency `{dep}` is not a job of an earlier stage in this pipeline",
                        spec.job.name
                    ),
                );
            }
        }
    }
}
