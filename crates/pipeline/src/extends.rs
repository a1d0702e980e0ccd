//! `extends:` — a job inherits from one or more entries (usually hidden `.templates`).
//!
//! Parents are merged in order (later wins), the job on top: maps deep-merge, lists and
//! scalars are replaced. Nesting is limited (GitLab: 11 levels); unknown parents and cycles
//! are errors. Every copy of a parent is paid for from the node budget.

use std::collections::{BTreeSet, HashMap};

use crate::diagnostic::Diags;
use crate::values;
use crate::yaml::{Budget, Limits, Map, Node, Value};

/// GitLab's nesting limit for `extends`.
pub const MAX_DEPTH: usize = 11;

struct Ctx<'a> {
    original: &'a Map,
    done: HashMap<String, Option<Map>>,
    limits: &'a Limits,
    budget: &'a mut Budget,
    d: &'a mut Diags,
    over_budget: bool,
}

/// Resolves `extends` of every top-level entry in place; returns the entries whose
/// resolution failed (already reported), so that their follow-on errors are not reported.
pub fn resolve(root: &mut Map, limits: &Limits, budget: &mut Budget, d: &mut Diags) -> BTreeSet<String> {
    let mut failed = BTreeSet::new();
    if !root.entries.iter().any(|e| e.value.as_map().is_some_and(|m| m.get("extends").is_some())) {
        return failed;
    }
    let original = root.clone();
    let mut cx = Ctx { original: &original, done: HashMap::new(), limits, budget, d, over_budget: false };
    for e in &mut root.entries {
        if e.value.as_map().is_some_and(|m| m.get("extends").is_some()) {
            let mut chain = Vec::new();
            match cx.resolved(&e.key, &mut chain) {
                Some(m) => e.value.value = Value::Map(m),
                None => {
                    failed.insert(e.key.clone());
                }
            }
        }
    }
    failed
}

impl Ctx<'_> {
    /// The entry `name` with its `extends` applied (memoized). `chain` detects cycles.
    fn resolved(&mut self, name: &str, chain: &mut Vec<String>) -> Option<Map> {
        if let Some(done) = self.done.get(name) {
            return done.clone();
        }
        let entry = self.original.get(name)?.as_map()?.clone();
        let Some(ext) = entry.entry("extends") else { return Some(entry) };
        let ext_node: Node = ext.value.clone();
        let parents = values::strings(&ext_node, self.d, "extends");
        chain.push(name.to_string());
        let mut base = Map::default();
        let mut ok = true;
        for p in &parents {
            if chain.iter().any(|c| c == p) {
                self.d.error(ext_node.pos, format!("circular dependency in extends: {} -> {p}", chain.join(" -> ")));
                ok = false;
                continue;
            }
            if chain.len() >= MAX_DEPTH {
                self.d.error(ext_node.pos, format!("`{name}`: extends nesting is deeper than {MAX_DEPTH} levels"));
                ok = false;
                break;
            }
            match self.original.get(p) {
                None => {
                    // The usual cause in real files: the template lives in an include kind
                    // AutoGit does not support yet; say so instead of only "unknown".
                    let hint = if self.d.list.iter().any(|x| x.message.contains("is not supported yet")) {
                        " (it may come from an include that is not supported yet)"
                    } else {
                        ""
                    };
                    self.d.error(ext_node.pos, format!("`{name}`: unknown job or template in extends: `{p}`{hint}"));
                    ok = false;
                }
                Some(n) if n.as_map().is_none() => {
                    self.d.error(ext_node.pos, format!("`{name}`: extends `{p}`, which is not a map"));
                    ok = false;
                }
                Some(_) => match self.resolved(p, chain).and_then(|m| self.pay(Some(m))) {
                    Some(m) => base.deep_merge(m),
                    None => ok = false,
                },
            }
        }
        chain.pop();
        let mut own = entry;
        own.remove("extends");
        base.deep_merge(own);
        let result = ok.then_some(base);
        self.done.insert(name.to_string(), result.clone());
        result
    }

    /// Charges a memoized copy to the budget; past it, resolution stops with one error.
    fn pay(&mut self, m: Option<Map>) -> Option<Map> {
        let m = m?;
        let (n, b) = m.entries.iter().fold((0, 0), |(n, b), e| {
            let (n2, b2) = e.value.size();
            (n + n2, b + b2)
        });
        if !self.budget.spend(self.limits, n, b) {
            if !self.over_budget {
                self.d.error(
                    m.entries.first().map(|e| e.key_pos).unwrap_or_default(),
                    "configuration too large after applying extends",
                );
                self.over_budget = true;
            }
            return None;
        }
        Some(m)
    }
}
