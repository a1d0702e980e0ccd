//! Small typed readers over [`Node`]s that report a diagnostic when the shape is wrong.

use crate::diagnostic::Diags;
use crate::plan::Var;
use crate::yaml::{Node, Value};

/// A scalar as text (numbers and booleans as written).
pub fn string(node: &Node, d: &mut Diags, what: &str) -> Option<String> {
    match node.as_str() {
        Some(s) => Some(s.to_string()),
        None => {
            d.error(node.pos, format!("{what} must be a string, found {}", node.kind_name()));
            None
        }
    }
}

/// A string or a list of strings; nested lists are flattened (GitLab allows that for
/// `script`, and `!reference` produces it everywhere).
pub fn strings(node: &Node, d: &mut Diags, what: &str) -> Vec<String> {
    let mut out = Vec::new();
    flatten(node, d, what, &mut out, 0);
    out
}

fn flatten(node: &Node, d: &mut Diags, what: &str, out: &mut Vec<String>, depth: usize) {
    match &node.value {
        Value::Plain(s) | Value::Str(s) => out.push(s.clone()),
        Value::Seq(items) if depth < 10 => {
            for i in items {
                flatten(i, d, what, out, depth + 1);
            }
        }
        Value::Null if depth > 0 => {}
        _ => d.error(node.pos, format!("{what} must be a string or a list of strings, found {}", node.kind_name())),
    }
}

/// `true`/`false`.
pub fn boolean(node: &Node, d: &mut Diags, what: &str) -> Option<bool> {
    let b = node.as_bool();
    if b.is_none() {
        d.error(node.pos, format!("{what} must be a boolean, found {}", node.kind_name()));
    }
    b
}

/// An integer or a list of integers (`exit_codes`).
pub fn ints(node: &Node, d: &mut Diags, what: &str) -> Vec<i64> {
    let items: Vec<&Node> = match node.as_seq() {
        Some(s) => s.iter().collect(),
        None => vec![node],
    };
    let mut out = Vec::new();
    for i in items {
        match i.as_int() {
            Some(n) => out.push(n),
            None => d.error(i.pos, format!("{what} must be an integer or a list of integers")),
        }
    }
    out
}

/// `variables:` — `NAME: value` or `NAME: {value, description, expand, options}`.
/// GitLab accepts strings and numbers; other types are errors.
pub fn variables(node: &Node, d: &mut Diags, what: &str) -> Vec<(String, Var)> {
    let Some(map) = node.as_map() else {
        if !node.is_null() {
            d.error(node.pos, format!("{what} must be a map of variable names to values"));
        }
        return Vec::new();
    };
    let mut out: Vec<(String, Var)> = Vec::new();
    for e in &map.entries {
        let v = &e.value;
        let var = match &v.value {
            Value::Str(s) => Var { value: s.clone(), expand: true, description: None },
            Value::Plain(s) => {
                if v.as_bool().is_some() {
                    // GitLab's schema wants strings, but real files use `true` and GitLab runs them.
                    d.warning(
                        v.pos,
                        format!("{what}: variable `{}` is a boolean; quote it to make it a string", e.key),
                    );
                }
                Var { value: s.clone(), expand: true, description: None }
            }
            Value::Null => Var { value: String::new(), expand: true, description: None },
            Value::Map(m) => {
                for k in &m.entries {
                    if !matches!(k.key.as_str(), "value" | "description" | "expand" | "options") {
                        d.error(k.key_pos, format!("{what}: variable `{}` has unknown key `{}`", e.key, k.key));
                    }
                }
                let value = m.get("value").and_then(|n| string(n, d, "variable value")).unwrap_or_default();
                let description = m.get("description").and_then(|n| string(n, d, "variable description"));
                let expand = m.get("expand").and_then(|n| boolean(n, d, "variable expand")).unwrap_or(true);
                Var { value, expand, description }
            }
            _ => {
                d.error(
                    v.pos,
                    format!("{what}: variable `{}` must be a string or a number, found {}", e.key, v.kind_name()),
                );
                continue;
            }
        };
        out.retain(|(k, _)| *k != e.key);
        out.push((e.key.clone(), var));
    }
    out
}

/// Overlays `over` on `base` (same name: `over` wins, keeping `base`'s order).
pub fn overlay(base: &mut Vec<(String, Var)>, over: &[(String, Var)]) {
    for (k, v) in over {
        match base.iter_mut().find(|(b, _)| b == k) {
            Some(slot) => slot.1 = v.clone(),
            None => base.push((k.clone(), v.clone())),
        }
    }
}
