//! `include:` — loads the main file and its `include:local` files, and merges them:
//! included files first (in order, later ones win), then the including file on top, deep
//! merged the way GitLab does. Nested includes are followed; at most 150 files in all.

use std::collections::BTreeSet;

use crate::diagnostic::{Diags, Pos};
use crate::glob;
use crate::input::CompileInput;
use crate::rules::{self, Facts, RulesOf};
use crate::values;
use crate::yaml::{self, Budget, Limits, Map, Node, Value};

/// GitLab's limit on included files per pipeline.
pub const MAX_INCLUDES: usize = 150;
const MAX_INCLUDE_DEPTH: usize = 100;

struct Loader<'a> {
    input: &'a CompileInput,
    limits: Limits,
    budget: &'a mut Budget,
    d: &'a mut Diags,
    facts: &'a Facts<'a>,
    seen: BTreeSet<String>,
    stack: Vec<String>,
}

/// Loads and merges the whole configuration; `None` when the main file itself is unusable.
pub fn load_all(
    input: &CompileInput,
    limits: Limits,
    budget: &mut Budget,
    d: &mut Diags,
    facts: &Facts<'_>,
) -> Option<Map> {
    let mut l = Loader { input, limits, budget, d, facts, seen: BTreeSet::new(), stack: Vec::new() };
    let file = l.d.add_file(&input.path);
    let root = l.parse_file(&input.text, file, true)?;
    l.stack.push(input.path.clone());
    Some(l.expand(root, 0))
}

impl Loader<'_> {
    /// Parses one file into its root map (skipping a `spec:` header document).
    fn parse_file(&mut self, text: &str, file: u32, main: bool) -> Option<Map> {
        let docs = match yaml::load(text, file, &self.limits, self.budget) {
            Ok(docs) => docs,
            Err(e) => {
                self.d.error(e.pos, e.message);
                return None;
            }
        };
        let mut docs = docs.into_iter();
        let mut first = docs.next();
        let header =
            first.as_ref().and_then(Node::as_map).is_some_and(|m| m.get("spec").is_some() && m.entries.len() == 1);
        if header {
            if text.contains("$[[") {
                let pos = first.as_ref().map_or(Pos::file_start(file), |n| n.pos);
                self.d.error(pos, "spec:inputs interpolation (`$[[ inputs.… ]]`) is not supported yet");
                return None;
            }
            first = docs.next();
        }
        if let Some(extra) = docs.next() {
            self.d.error(extra.pos, "a CI file must hold one YAML document (plus an optional `spec:` header)");
        }
        match first {
            Some(Node { value: Value::Map(m), .. }) => Some(m),
            Some(n) if n.is_null() && !main => Some(Map::default()),
            Some(n) if !n.is_null() => {
                self.d.error(n.pos, format!("the CI configuration must be a map, found {}", n.kind_name()));
                None
            }
            _ => {
                self.d.error(Pos::file_start(file), "the CI configuration is empty");
                None
            }
        }
    }

    /// Resolves the `include:` of `map` (recursively) and returns the merged map.
    fn expand(&mut self, mut map: Map, depth: usize) -> Map {
        let Some(inc) = map.remove("include") else { return map };
        let mut acc = Map::default();
        let specs: Vec<Node> = match inc.value.value {
            Value::Seq(items) => items,
            _ => vec![inc.value],
        };
        for spec in specs {
            for path in self.local_paths(&spec) {
                if let Some(m) = self.include_one(&path, spec.pos, depth) {
                    acc.deep_merge(m);
                }
            }
        }
        acc.deep_merge(map);
        acc
    }

    fn include_one(&mut self, path: &str, pos: Pos, depth: usize) -> Option<Map> {
        if self.stack.iter().any(|p| p == path) {
            self.d
                .error(pos, format!("include cycle: `{path}` includes itself ({} -> {path})", self.stack.join(" -> ")));
            return None;
        }
        if !self.seen.insert(path.to_string()) {
            return None; // Included twice: GitLab merges a file once.
        }
        if self.seen.len() > MAX_INCLUDES {
            self.d.error(pos, format!("too many includes: the limit is {MAX_INCLUDES}"));
            return None;
        }
        if depth >= MAX_INCLUDE_DEPTH {
            self.d.error(pos, format!("includes nested deeper than {MAX_INCLUDE_DEPTH} levels"));
            return None;
        }
        let Some(text) = self.input.files.get(path) else {
            self.d.error(pos, format!("local include `{path}` was not found in the repository"));
            return None;
        };
        let file = self.d.add_file(path);
        let map = self.parse_file(text, file, false)?;
        self.stack.push(path.to_string());
        let merged = self.expand(map, depth + 1);
        self.stack.pop();
        Some(merged)
    }

    /// The repository paths one include entry names (wildcards expanded, sorted).
    fn local_paths(&mut self, spec: &Node) -> Vec<String> {
        let raw = match &spec.value {
            Value::Plain(s) | Value::Str(s) => {
                if s.starts_with("http://") || s.starts_with("https://") {
                    self.d.error(spec.pos, "include:remote is not supported yet");
                    return Vec::new();
                }
                s.clone()
            }
            Value::Map(m) => {
                for e in &m.entries {
                    match e.key.as_str() {
                        "local" | "rules" | "inputs" => {}
                        k @ ("project" | "remote" | "template" | "component") => {
                            self.d.error(e.key_pos, format!("include:{k} is not supported yet"));
                            return Vec::new();
                        }
                        "file" | "ref" => {}
                        other => self.d.error(e.key_pos, format!("unknown keyword in include: `{other}`")),
                    }
                }
                if let Some(r) = m.get("rules") {
                    let list = rules::parse(r, RulesOf::Include, self.d);
                    if rules::first_match(&list, self.facts).is_none_or(|r| r.when.as_deref() == Some("never")) {
                        return Vec::new();
                    }
                }
                if let Some(i) = m.entry("inputs") {
                    self.d.error(i.key_pos, "include:inputs is not supported yet");
                    return Vec::new();
                }
                let Some(l) = m.get("local") else {
                    self.d.error(spec.pos, "an include needs `local` (other kinds are not supported yet)");
                    return Vec::new();
                };
                match values::string(l, self.d, "include:local") {
                    Some(s) => s,
                    None => return Vec::new(),
                }
            }
            _ => {
                self.d.error(spec.pos, format!("an include must be a string or a map, found {}", spec.kind_name()));
                return Vec::new();
            }
        };
        let path = expand_vars(&raw, self.facts.var).trim_start_matches('/').to_string();
        if !glob::is_glob(&path) {
            return vec![path];
        }
        let found: Vec<String> = self
            .input
            .files
            .keys()
            .filter(|p| (p.ends_with(".yml") || p.ends_with(".yaml")) && glob::matches(&path, p))
            .cloned()
            .collect();
        if found.is_empty() {
            self.d.error(spec.pos, format!("local include `{raw}` matched no file"));
        }
        found
    }
}

/// `$VAR` and `${VAR}`, from `var` (for an include path: the predefined and user variables;
/// GitLab expands those, not YAML variables, in `include`). Unknown variables become empty.
pub(crate) fn expand_vars(s: &str, var: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (name, len) = match after.strip_prefix('{') {
            Some(b) => match b.find('}') {
                Some(end) => (&b[..end], end + 2),
                None => ("", 0),
            },
            None => {
                let end = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len());
                (&after[..end], end)
            }
        };
        if name.is_empty() {
            out.push('$');
            rest = after;
            continue;
        }
        out.push_str(&var(name).unwrap_or_default());
        rest = &after[len..];
    }
    out.push_str(rest);
    out
}
