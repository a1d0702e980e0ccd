//! One job's keywords: validation (unknown keywords are errors, as in GitLab) and reading
//! into a [`JobSpec`]: the job as written, before rules, parallel expansion and needs.

use crate::diagnostic::{Diags, Pos};
use crate::duration::parse_seconds;
use crate::gpu::JobGpu;
use crate::job_parts::{self, check_keys};
use crate::matrix::{self, Parallel};
use crate::needs::{self, NeedSpec};
use crate::only::{self, Filter};
use crate::plan::{AllowFailure, Job, Retry, When};
use crate::rules::{self, Rule, RulesOf};
use crate::values::{self, boolean, string, strings};
use crate::yaml::{Map, Node};

const KEYWORDS: &[&str] = &[
    "after_script",
    "allow_failure",
    "artifacts",
    "before_script",
    "cache",
    "coverage",
    "dependencies",
    "environment",
    "except",
    "gpu",
    "image",
    "inherit",
    "interruptible",
    "needs",
    "only",
    "parallel",
    "resource_group",
    "retry",
    "rules",
    "script",
    "services",
    "stage",
    "start_in",
    "tags",
    "timeout",
    "type",
    "variables",
    "when",
];
/// Accepted so that real files compile, but not acted on yet (a warning says so).
const IGNORED: &[&str] =
    &["dast_configuration", "hooks", "id_tokens", "identity", "manual_confirmation", "pages", "release", "secrets"];
/// Keywords whose job cannot run without them being implemented.
const UNSUPPORTED: &[&str] = &["trigger", "run"];
/// Keys `default:` may set.
pub const DEFAULT_KEYS: &[&str] = &[
    "after_script",
    "artifacts",
    "before_script",
    "cache",
    "gpu",
    "hooks",
    "id_tokens",
    "image",
    "interruptible",
    "retry",
    "services",
    "tags",
    "timeout",
];

/// How the job decides whether it is in the pipeline.
#[derive(Debug, Clone)]
pub enum Selection {
    Rules(Vec<Rule>),
    OnlyExcept { only: Filter, except: Option<Filter> },
}

/// A job as written (defaults applied), before rules and expansion.
#[derive(Debug, Clone)]
pub struct JobSpec {
    pub pos: Pos,
    pub job: Job,
    /// `when` written on the job itself (it decides the manual `allow_failure` default).
    pub job_when: Option<When>,
    pub allow_failure: Option<AllowFailure>,
    pub selection: Selection,
    pub needs: Option<Vec<NeedSpec>>,
    pub parallel: Parallel,
    pub dependencies_pos: Pos,
    /// `gpu:`, the job's `GPU_REQUEST` and its tags, resolved per instance by the compiler.
    pub gpu: JobGpu,
}

/// Reads job `name`. `stages` is the pipeline's stage list.
pub fn parse(
    name: &str,
    key_pos: Pos,
    node: &Node,
    defaults: &Map,
    stages: &[String],
    d: &mut Diags,
) -> Option<JobSpec> {
    let Some(own) = node.as_map() else {
        d.error(key_pos, format!("job `{name}` must be a map, found {}", node.kind_name()));
        return None;
    };
    let mut m = own.clone();
    let mut inherit_variables = None;
    let mut inherit_default: Option<Vec<String>> = None;
    if let Some(im) = own.get("inherit").and_then(Node::as_map) {
        check_keys(im, &["default", "variables"], "inherit", d);
        let list = |n: &Node, d: &mut Diags| {
            n.as_bool().map_or_else(|| Some(strings(n, d, "inherit")), |b| (!b).then(Vec::new))
        };
        inherit_default = im.get("default").and_then(|n| list(n, d));
        inherit_variables = im.get("variables").and_then(|n| list(n, d));
    }
    for e in &defaults.entries {
        let allowed = inherit_default.as_ref().is_none_or(|l| l.contains(&e.key));
        if allowed && m.get(&e.key).is_none() {
            m.entries.push(e.clone());
        }
    }
    for e in &m.entries {
        let k = e.key.as_str();
        if UNSUPPORTED.contains(&k) {
            d.error(e.key_pos, format!("`{name}`: `{k}` is not supported yet"));
        } else if IGNORED.contains(&k) {
            d.warning(e.key_pos, format!("`{name}`: `{k}` is not supported yet and is ignored"));
        } else if !KEYWORDS.contains(&k) {
            d.error(e.key_pos, format!("`{name}`: unknown keyword `{k}`"));
        }
    }
    if UNSUPPORTED.iter().any(|k| m.get(k).is_some()) {
        return None;
    }
    let get = |k: &str| m.get(k);
    let script = get("script").map(|s| strings(s, d, "script")).unwrap_or_default();
    if script.is_empty() {
        d.error(key_pos, format!("`{name}`: `script` is required and must not be empty"));
    }
    let stage_node = get("stage").or_else(|| get("type"));
    let stage = stage_node.and_then(|s| string(s, d, "stage")).unwrap_or_else(|| "test".into());
    let stage_index = stages.iter().position(|s| *s == stage);
    if stage_index.is_none() {
        let pos = stage_node.map_or(key_pos, |n| n.pos);
        d.error(pos, format!("`{name}`: stage `{stage}` is not defined in `stages`"));
    }
    let job_when = get("when").and_then(|w| parse_when(w, d));
    let start_in = get("start_in").and_then(|s| {
        let text = string(s, d, "start_in")?;
        let secs = parse_seconds(&text);
        if secs.is_none_or(|v| v > 604_800) {
            d.error(s.pos, format!("`{name}`: start_in `{text}` must be a duration of at most one week"));
        }
        secs
    });
    let timeout = get("timeout").and_then(|t| {
        let text = string(t, d, "timeout")?;
        let secs = parse_seconds(&text);
        if secs.is_none() {
            d.error(t.pos, format!("`{name}`: timeout `{text}` is not a duration"));
        }
        secs
    });
    let selection = match (get("rules").filter(|r| !r.is_null()), get("only"), get("except")) {
        (Some(r), o, e) => {
            if o.is_some() || e.is_some() {
                let pos = m.entry("rules").map_or(key_pos, |e| e.key_pos);
                d.error(pos, format!("`{name}`: `rules` cannot be used together with `only` or `except`"));
            }
            Selection::Rules(rules::parse(r, RulesOf::Job, d))
        }
        (None, o, e) => Selection::OnlyExcept {
            only: o.map_or_else(only::default_only, |o| only::parse(o, "only", d)),
            except: e.map(|e| only::parse(e, "except", d)),
        },
    };
    let gpu = JobGpu::read(name, key_pos, &m, d);
    let job = Job {
        name: name.to_string(),
        stage,
        stage_index: stage_index.unwrap_or(0),
        script,
        before_script: get("before_script").map(|s| strings(s, d, "before_script")).unwrap_or_default(),
        after_script: get("after_script").map(|s| strings(s, d, "after_script")).unwrap_or_default(),
        image: get("image").and_then(|i| job_parts::image(i, false, d)),
        services: get("services").map(|s| services(s, d)).unwrap_or_default(),
        variables: get("variables").map(|v| values::variables(v, d, "variables")).unwrap_or_default(),
        when: job_when.unwrap_or(When::OnSuccess),
        start_in_seconds: start_in,
        allow_failure: AllowFailure { allowed: false, exit_codes: Vec::new() },
        retry: get("retry")
            .map_or(Retry { max: 0, when: Vec::new(), exit_codes: Vec::new() }, |r| job_parts::retry(r, d)),
        timeout_seconds: timeout,
        tags: get("tags").map(|t| strings(t, d, "tags")).unwrap_or_default(),
        gpu: None,
        needs: None,
        dependencies: get("dependencies").map(|x| strings(x, d, "dependencies")),
        artifacts: get("artifacts").and_then(|a| job_parts::artifacts(a, d)),
        cache: get("cache").map(|c| job_parts::caches(c, d)).unwrap_or_default(),
        parallel: None,
        interruptible: get("interruptible").and_then(|i| boolean(i, d, "interruptible")),
        environment: get("environment").map(Node::to_json),
        resource_group: get("resource_group").and_then(|r| string(r, d, "resource_group")),
        coverage: get("coverage").and_then(|c| string(c, d, "coverage")),
        inherit_variables,
    };
    Some(JobSpec {
        pos: key_pos,
        job,
        job_when,
        allow_failure: get("allow_failure").and_then(|a| job_parts::allow_failure(a, d)),
        selection,
        needs: get("needs").map(|n| needs::parse(n, name, d)),
        parallel: get("parallel").map(|p| matrix::parse(p, name, d)).unwrap_or_default(),
        dependencies_pos: get("dependencies").map_or(key_pos, |n| n.pos),
        gpu,
    })
}

fn services(n: &Node, d: &mut Diags) -> Vec<crate::plan::Image> {
    match n.as_seq() {
        Some(items) => items.iter().filter_map(|s| job_parts::image(s, true, d)).collect(),
        None => {
            d.error(n.pos, format!("services must be a list, found {}", n.kind_name()));
            Vec::new()
        }
    }
}

/// Job-level `when` (GitLab does not allow `never` here; it belongs in `rules`).
pub fn parse_when(n: &Node, d: &mut Diags) -> Option<When> {
    let w = string(n, d, "when")?;
    let v = when_of(&w);
    if v.is_none() {
        d.error(n.pos, format!("when `{w}` is not one of: on_success, on_failure, always, manual, delayed"));
    }
    v
}

/// The `When` for a name (`never` is not a `When`: it removes the job).
pub fn when_of(w: &str) -> Option<When> {
    Some(match w {
        "on_success" => When::OnSuccess,
        "on_failure" => When::OnFailure,
        "always" => When::Always,
        "manual" => When::Manual,
        "delayed" => When::Delayed,
        _ => return None,
    })
}
