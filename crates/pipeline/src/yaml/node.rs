//! The spanned value tree: every node and every mapping key knows where it was written.

use crate::diagnostic::Pos;

/// A YAML node with its position and tag (`!reference`…).
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub pos: Pos,
    pub tag: Option<String>,
    pub value: Value,
}

/// Scalars keep their text: a plain scalar is typed on use (`true`, `3`), a quoted one is always
/// a string. Keeping the text means `variables: {V: 1.10}` stays `"1.10"`.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    /// A plain (unquoted) scalar.
    Plain(String),
    /// A quoted or block scalar.
    Str(String),
    Seq(Vec<Node>),
    Map(Map),
}

/// One mapping entry; keys are strings (GitLab keys always are).
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_pos: Pos,
    pub value: Node,
}

/// A mapping that keeps insertion order (job order is definition order).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Map {
    pub entries: Vec<Entry>,
}

impl Map {
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entries.iter().find(|e| e.key == key).map(|e| &e.value)
    }

    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        self.entries.iter_mut().find(|e| e.key == key).map(|e| &mut e.value)
    }

    /// Inserts or replaces (in place, keeping the first position in the order).
    pub fn insert(&mut self, key: String, key_pos: Pos, value: Node) {
        match self.entries.iter_mut().find(|e| e.key == key) {
            Some(e) => {
                e.value = value;
                e.key_pos = key_pos;
            }
            None => self.entries.push(Entry { key, key_pos, value }),
        }
    }

    pub fn remove(&mut self, key: &str) -> Option<Entry> {
        let i = self.entries.iter().position(|e| e.key == key)?;
        Some(self.entries.remove(i))
    }

    /// GitLab's deep merge (`extends`, `include`): maps merge key by key, `over` wins;
    /// sequences and scalars are replaced whole.
    pub fn deep_merge(&mut self, over: Map) {
        for e in over.entries {
            match (self.get_mut(&e.key), e.value.value) {
                (Some(Node { value: Value::Map(base), .. }), Value::Map(m)) => base.deep_merge(m),
                (_, value) => self.insert(e.key, e.key_pos, Node { value, ..e.value }),
            }
        }
    }
}

impl Node {
    pub fn new(pos: Pos, value: Value) -> Self {
        Node { pos, tag: None, value }
    }

    /// The text of any scalar (plain or quoted), e.g. for names and strings.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Plain(s) | Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match &self.value {
            Value::Plain(s) => match s.as_str() {
                "true" | "True" | "TRUE" => Some(true),
                "false" | "False" | "FALSE" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match &self.value {
            Value::Plain(s) => s.parse().ok(),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&Map> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    /// Words for "expected X, found Y" messages.
    pub fn kind_name(&self) -> &'static str {
        match &self.value {
            Value::Null => "null",
            Value::Plain(_) if self.as_bool().is_some() => "a boolean",
            Value::Plain(s) if s.parse::<f64>().is_ok() => "a number",
            Value::Plain(_) | Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a map",
        }
    }

    /// Number of nodes and scalar bytes below and including this one (for the alias budget).
    pub fn size(&self) -> (usize, usize) {
        match &self.value {
            Value::Null => (1, 0),
            Value::Plain(s) | Value::Str(s) => (1, s.len()),
            Value::Seq(items) => items.iter().fold((1, 0), |(n, b), i| {
                let (n2, b2) = i.size();
                (n + n2, b + b2)
            }),
            Value::Map(m) => m.entries.iter().fold((1, 0), |(n, b), e| {
                let (n2, b2) = e.value.size();
                (n + n2, b + b2 + e.key.len())
            }),
        }
    }

    /// The node as JSON for keywords AutoGit keeps raw (`artifacts:reports`, `environment`).
    /// Plain scalars are typed the way YAML's core schema types them.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Str(s) => J::String(s.clone()),
            Value::Plain(s) => {
                if let Some(b) = self.as_bool() {
                    J::Bool(b)
                } else if let Ok(i) = s.parse::<i64>() {
                    J::from(i)
                } else if let Some(f) = s.parse::<f64>().ok().and_then(serde_json::Number::from_f64) {
                    J::Number(f)
                } else {
                    J::String(s.clone())
                }
            }
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(m) => J::Object(m.entries.iter().map(|e| (e.key.clone(), e.value.to_json())).collect()),
        }
    }
}
