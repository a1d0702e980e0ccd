//! `rules:` (jobs, `workflow`, `include`): parsing and first-match evaluation.
//!
//! Clauses in one rule (`if`, `changes`, `exists`) are ANDed; the first rule whose clauses
//! all hold decides. `changes` is true when the changed paths are unknown (`None`), as GitLab
//! does for pipelines without a push event.

use crate::diagnostic::Diags;
use crate::duration::parse_seconds;
use crate::expr::{self, Expr};
use crate::glob;
use crate::input::PipelineContext;
use crate::plan::Var;
use crate::values;
use crate::yaml::Node;

/// Where a `rules:` list appears; it decides which keys a rule may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RulesOf {
    Job,
    Workflow,
    Include,
}

/// One parsed rule.
#[derive(Debug, Clone, Default)]
pub struct Rule {
    pub if_: Option<Expr>,
    pub changes: Option<Vec<String>>,
    pub exists: Option<Vec<String>>,
    /// Raw `when` text (validated against the allowed set at parse time).
    pub when: Option<String>,
    pub allow_failure: Option<Node>,
    pub variables: Vec<(String, Var)>,
    pub needs: Option<Node>,
    pub start_in: Option<u64>,
    pub interruptible: Option<bool>,
}

const JOB_WHEN: &[&str] = &["on_success", "on_failure", "always", "manual", "delayed", "never"];

/// Parses a `rules:` list. Nested lists (from `!reference`) are flattened one level.
pub fn parse(node: &Node, of: RulesOf, d: &mut Diags) -> Vec<Rule> {
    if node.as_seq().is_none() {
        d.error(node.pos, format!("rules must be a list, found {}", node.kind_name()));
        return Vec::new();
    }
    let mut flat = Vec::new();
    flatten(node, &mut flat, 0);
    flat.into_iter().filter_map(|n| parse_rule(n, of, d)).collect()
}

/// Rules from `!reference` arrive as nested lists (up to the reference nesting limit);
/// GitLab flattens them. A `null` item is what a failed `!reference` left (already reported).
fn flatten<'n>(node: &'n Node, out: &mut Vec<&'n Node>, depth: usize) {
    match node.as_seq() {
        Some(items) if depth < 12 => items.iter().for_each(|i| flatten(i, out, depth + 1)),
        _ if node.is_null() => {}
        _ => out.push(node),
    }
}

fn parse_rule(node: &Node, of: RulesOf, d: &mut Diags) -> Option<Rule> {
    let Some(map) = node.as_map() else {
        d.error(node.pos, format!("a rule must be a map, found {}", node.kind_name()));
        return None;
    };
    let mut r = Rule::default();
    for e in &map.entries {
        let v = &e.value;
        match (e.key.as_str(), of) {
            ("if", _) => {
                let text = values::string(v, d, "rules:if")?;
                match expr::parse(&text) {
                    Ok(x) => r.if_ = Some(x),
                    Err(err) => d.error(v.pos, err.to_string()),
                }
            }
            ("changes", _) => r.changes = Some(paths_clause(v, "changes", d)),
            ("exists", _) => r.exists = Some(paths_clause(v, "exists", d)),
            ("when", _) => {
                let w = values::string(v, d, "rules:when")?;
                let allowed: &[&str] = if of == RulesOf::Job { JOB_WHEN } else { &["always", "never"] };
                if !allowed.contains(&w.as_str()) {
                    d.error(v.pos, format!("rules:when `{w}` is not one of: {}", allowed.join(", ")));
                }
                r.when = Some(w);
            }
            ("variables", RulesOf::Job | RulesOf::Workflow) => r.variables = values::variables(v, d, "rules:variables"),
            ("allow_failure", RulesOf::Job) => r.allow_failure = Some(v.clone()),
            ("needs", RulesOf::Job) => r.needs = Some(v.clone()),
            ("interruptible", RulesOf::Job) => r.interruptible = values::boolean(v, d, "rules:interruptible"),
            ("start_in", RulesOf::Job) => {
                let s = values::string(v, d, "rules:start_in")?;
                r.start_in = parse_seconds(&s);
                if r.start_in.is_none() {
                    d.error(v.pos, format!("rules:start_in `{s}` is not a duration"));
                }
            }
            (other, _) => d.error(e.key_pos, format!("unknown keyword in a rule: `{other}`")),
        }
    }
    Some(r)
}

/// `changes`/`exists`: a list of globs, or `{paths: [...], compare_to|project|ref}`.
fn paths_clause(v: &Node, what: &str, d: &mut Diags) -> Vec<String> {
    if let Some(m) = v.as_map() {
        for e in &m.entries {
            match e.key.as_str() {
                "paths" => {}
                "compare_to" | "project" | "ref" => {
                    d.warning(e.key_pos, format!("{what}:{} is not supported yet and is ignored", e.key))
                }
                other => d.error(e.key_pos, format!("unknown keyword in {what}: `{other}`")),
            }
        }
        return m.get("paths").map(|p| values::strings(p, d, what)).unwrap_or_default();
    }
    values::strings(v, d, what)
}

/// The facts one evaluation needs: the context and a variable lookup.
pub struct Facts<'a> {
    pub ctx: &'a PipelineContext,
    pub var: &'a dyn Fn(&str) -> Option<String>,
}

impl Facts<'_> {
    /// `changes`: any changed path matches any glob; unknown changes = true.
    pub fn changes(&self, globs: &[String]) -> bool {
        match &self.ctx.changed_paths {
            None => true,
            Some(paths) => paths.iter().any(|p| globs.iter().any(|g| glob::matches(g, p))),
        }
    }

    /// `exists`: any repository file matches any glob.
    pub fn exists(&self, globs: &[String]) -> bool {
        self.ctx.repo_files.iter().any(|p| globs.iter().any(|g| glob::matches(g, p)))
    }

    pub fn eval(&self, e: &Expr) -> bool {
        expr::eval(e, self.var)
    }
}

/// The first rule that matches, if any.
pub fn first_match<'r>(rules: &'r [Rule], f: &Facts<'_>) -> Option<&'r Rule> {
    rules.iter().find(|r| {
        r.if_.as_ref().is_none_or(|e| f.eval(e))
            && r.changes.as_ref().is_none_or(|g| f.changes(g))
            && r.exists.as_ref().is_none_or(|g| f.exists(g))
    })
}
