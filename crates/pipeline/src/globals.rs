//! The top-level keywords that are not jobs: `stages`, `variables`, `default` (and the
//! deprecated global `image`, `services`, `before_script`, `after_script`, `cache`),
//! `workflow`, `include` (consumed by the loader).

use crate::diagnostic::Diags;
use crate::job::DEFAULT_KEYS;
use crate::job_parts::check_keys;
use crate::plan::Var;
use crate::rules::{self, Rule, RulesOf};
use crate::values;
use crate::yaml::{Entry, Map};

/// Top-level keys that are never jobs.
pub const RESERVED: &[&str] = &[
    "stages",
    "types",
    "variables",
    "default",
    "include",
    "workflow",
    "image",
    "services",
    "before_script",
    "after_script",
    "cache",
    "spec",
];
const DEPRECATED_DEFAULTS: &[&str] = &["image", "services", "before_script", "after_script", "cache"];

/// The pipeline-wide settings.
#[derive(Debug, Default)]
pub struct Globals {
    pub stages: Vec<String>,
    pub variables: Vec<(String, Var)>,
    /// What `default:` (and the deprecated global keywords) give every job.
    pub defaults: Map,
    pub workflow: Option<Vec<Rule>>,
}

/// Reads the globals of the merged configuration.
pub fn parse(root: &Map, d: &mut Diags) -> Globals {
    let mut g = Globals::default();
    let stages_node = root.get("stages").or_else(|| root.get("types"));
    let mut stages: Vec<String> = match stages_node {
        Some(n) if !n.is_null() => values::strings(n, d, "stages"),
        _ => ["build", "test", "deploy"].map(String::from).to_vec(),
    };
    // `.pre` is always first and `.post` always last, whatever the file says.
    stages.retain(|s| s != ".pre" && s != ".post");
    let mut unique: Vec<String> = Vec::with_capacity(stages.len() + 2);
    unique.push(".pre".into());
    for s in stages {
        if !unique.contains(&s) {
            unique.push(s);
        }
    }
    unique.push(".post".into());
    g.stages = unique;

    if let Some(v) = root.get("variables") {
        g.variables = values::variables(v, d, "variables");
    }
    if let Some(def) = root.get("default") {
        match def.as_map() {
            Some(m) => {
                check_keys(m, DEFAULT_KEYS, "default", d);
                g.defaults = m.clone();
            }
            None if def.is_null() => {}
            None => d.error(def.pos, format!("default must be a map, found {}", def.kind_name())),
        }
    }
    for k in DEPRECATED_DEFAULTS {
        if let Some(e) = root.entry(k)
            && g.defaults.get(k).is_none()
        {
            g.defaults.entries.push(Entry { key: e.key.clone(), key_pos: e.key_pos, value: e.value.clone() });
        }
    }
    if let Some(w) = root.get("workflow") {
        match w.as_map() {
            Some(m) => {
                check_keys(m, &["rules", "name", "auto_cancel"], "workflow", d);
                g.workflow = m.get("rules").map(|r| rules::parse(r, RulesOf::Workflow, d));
            }
            None => d.error(w.pos, format!("workflow must be a map, found {}", w.kind_name())),
        }
    }
    g
}
