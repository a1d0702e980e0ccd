//! `!reference [job, key, ...]` — replaced by a copy of the node at that path of the merged
//! configuration (after `include` and `extends`, as GitLab does). A reference may point at
//! another reference, up to 10 levels; copies are paid for from the node budget.

use crate::diagnostic::Diags;
use crate::yaml::{Budget, Limits, Map, Node, Value};

const MAX_NESTING: usize = 10;

/// Resolves every `!reference` tag in `root`.
pub fn resolve(root: &mut Map, limits: &Limits, budget: &mut Budget, d: &mut Diags) {
    if !root.entries.iter().any(|e| has_reference(&e.value)) {
        return;
    }
    let original = root.clone();
    let mut cx = Cx { root: &original, limits, budget, d, stopped: false };
    for e in &mut root.entries {
        cx.walk(&mut e.value, 0);
    }
}

fn has_reference(n: &Node) -> bool {
    n.tag.as_deref() == Some("!reference")
        || match &n.value {
            Value::Seq(items) => items.iter().any(has_reference),
            Value::Map(m) => m.entries.iter().any(|e| has_reference(&e.value)),
            _ => false,
        }
}

struct Cx<'a> {
    root: &'a Map,
    limits: &'a Limits,
    budget: &'a mut Budget,
    d: &'a mut Diags,
    stopped: bool,
}

impl Cx<'_> {
    fn walk(&mut self, n: &mut Node, nesting: usize) {
        if self.stopped {
            return;
        }
        if n.tag.as_deref() == Some("!reference") {
            match self.target(n) {
                Some(mut t) => {
                    if nesting >= MAX_NESTING {
                        self.d.error(n.pos, format!("!reference nested deeper than {MAX_NESTING} levels"));
                        return;
                    }
                    self.walk(&mut t, nesting + 1);
                    *n = t;
                }
                None => n.value = Value::Null,
            }
            n.tag = None;
            return;
        }
        match &mut n.value {
            Value::Seq(items) => items.iter_mut().for_each(|i| self.walk(i, nesting)),
            Value::Map(m) => m.entries.iter_mut().for_each(|e| self.walk(&mut e.value, nesting)),
            _ => {}
        }
    }

    /// A copy of the referenced node, or `None` with a diagnostic.
    fn target(&mut self, n: &Node) -> Option<Node> {
        let path: Option<Vec<&str>> = n.as_seq().map(|s| s.iter().filter_map(Node::as_str).collect());
        let path = match path {
            Some(p) if !p.is_empty() && p.len() == n.as_seq().map_or(0, <[Node]>::len) => p,
            _ => {
                self.d.error(n.pos, "!reference needs a list of keys, like !reference [.job, script]");
                return None;
            }
        };
        let mut cur = self.root.get(path[0]);
        for k in &path[1..] {
            cur = cur.and_then(Node::as_map).and_then(|m| m.get(k));
        }
        let Some(found) = cur else {
            self.d.error(n.pos, format!("!reference [{}] could not be found", path.join(", ")));
            return None;
        };
        let (nodes, bytes) = found.size();
        if !self.budget.spend(self.limits, nodes, bytes) {
            self.d.error(n.pos, "configuration too large after resolving !reference tags");
            self.stopped = true;
            return None;
        }
        let mut copy = found.clone();
        copy.pos = n.pos;
        Some(copy)
    }
}
