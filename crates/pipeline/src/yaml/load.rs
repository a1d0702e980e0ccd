//! Events → spanned tree, with anchors, aliases, merge keys (`<<`) and the budgets.
//!
//! Aliases are expanded by copying the anchored node; the copy is paid for from the
//! [`Budget`] *before* it is made, which is what stops a billion-laughs document. The builder
//! keeps an explicit stack, so deep nesting cannot overflow the thread's stack.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};

use super::{Budget, Entry, Limits, Map, Node, Value};
use crate::diagnostic::Pos;

/// A load failure: where and what.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct LoadError {
    pub pos: Pos,
    pub message: String,
}

enum Frame {
    Seq { node: Node, anchor: usize, items: Vec<Node> },
    Map { node: Node, anchor: usize, map: Map, key: Option<(String, Pos, bool)> },
}

struct Builder<'l> {
    file: u32,
    limits: &'l Limits,
    budget: &'l mut Budget,
    anchors: HashMap<usize, Node>,
    stack: Vec<Frame>,
    docs: Vec<Node>,
}

/// Parses every document of `text`. Errors carry the position in file `file`.
pub fn load(text: &str, file: u32, limits: &Limits, budget: &mut Budget) -> Result<Vec<Node>, LoadError> {
    if text.len() > limits.max_file_bytes {
        return Err(LoadError {
            pos: Pos::file_start(file),
            message: format!("file too large: {} bytes (the limit is {} bytes)", text.len(), limits.max_file_bytes),
        });
    }
    let mut b = Builder { file, limits, budget, anchors: HashMap::new(), stack: Vec::new(), docs: Vec::new() };
    for ev in Parser::new_from_str(text) {
        match ev {
            Ok((ev, span)) => b.event(ev, span)?,
            Err(e) => {
                let m = e.marker();
                let pos = Pos { file, line: m.line() as u32, col: m.col() as u32 + 1 };
                return Err(LoadError { pos, message: format!("invalid YAML: {}", e.info()) });
            }
        }
    }
    Ok(b.docs)
}

fn tag_name(tag: Option<std::borrow::Cow<'_, Tag>>) -> Option<String> {
    tag.map(|t| if t.handle == "!" { format!("!{}", t.suffix) } else { format!("{}{}", t.handle, t.suffix) })
}

impl Builder<'_> {
    fn pos(&self, span: Span) -> Pos {
        Pos { file: self.file, line: span.start.line() as u32, col: span.start.col() as u32 + 1 }
    }

    fn err(&self, pos: Pos, message: impl Into<String>) -> LoadError {
        LoadError { pos, message: message.into() }
    }

    fn event(&mut self, ev: Event<'_>, span: Span) -> Result<(), LoadError> {
        let pos = self.pos(span);
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                if !self.budget.spend(self.limits, 1, text.len()) {
                    return Err(self.err(pos, "document too large: node budget exceeded"));
                }
                let tag = tag_name(tag);
                let value = if style == ScalarStyle::Plain && tag.is_none() {
                    match text.as_ref() {
                        "" | "~" | "null" | "Null" | "NULL" => Value::Null,
                        _ => Value::Plain(text.into_owned()),
                    }
                } else {
                    Value::Str(text.into_owned())
                };
                self.complete(Node { pos, tag, value }, anchor)
            }
            Event::SequenceStart(anchor, tag) => {
                self.check_depth(pos)?;
                let node = Node { pos, tag: tag_name(tag), value: Value::Null };
                self.stack.push(Frame::Seq { node, anchor, items: Vec::new() });
                Ok(())
            }
            Event::MappingStart(anchor, tag) => {
                self.check_depth(pos)?;
                let node = Node { pos, tag: tag_name(tag), value: Value::Null };
                self.stack.push(Frame::Map { node, anchor, map: Map::default(), key: None });
                Ok(())
            }
            Event::SequenceEnd => match self.stack.pop() {
                Some(Frame::Seq { mut node, anchor, items }) => {
                    node.value = Value::Seq(items);
                    self.complete(node, anchor)
                }
                _ => Err(self.err(pos, "invalid YAML: unbalanced sequence")),
            },
            Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Map { mut node, anchor, map, .. }) => {
                    node.value = Value::Map(map);
                    self.complete(node, anchor)
                }
                _ => Err(self.err(pos, "invalid YAML: unbalanced mapping")),
            },
            Event::Alias(id) => {
                let Some(target) = self.anchors.get(&id) else {
                    return Err(self.err(pos, "unknown alias"));
                };
                let (n, bytes) = target.size();
                if !self.budget.spend(self.limits, n, bytes) {
                    return Err(self.err(pos, "alias expansion exceeds the budget (a YAML alias bomb?)"));
                }
                let copy = target.clone();
                self.complete(copy, 0)
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentStart(_) | Event::DocumentEnd | Event::Nothing => {
                Ok(())
            }
        }
    }

    fn check_depth(&self, pos: Pos) -> Result<(), LoadError> {
        if self.stack.len() >= self.limits.max_depth {
            return Err(self.err(pos, format!("nesting deeper than {} levels", self.limits.max_depth)));
        }
        Ok(())
    }

    /// A finished node goes to its parent (or becomes a document), and to the anchor table.
    fn complete(&mut self, node: Node, anchor: usize) -> Result<(), LoadError> {
        if anchor > 0 {
            // Storing the anchor costs a copy too: pay for it like an alias.
            let (n, bytes) = node.size();
            if !self.budget.spend(self.limits, n, bytes) {
                return Err(self.err(node.pos, "alias expansion exceeds the budget (a YAML alias bomb?)"));
            }
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { map, key, .. }) => match key.take() {
                None => {
                    let (k, plain) = match &node.value {
                        Value::Null => (String::new(), true),
                        Value::Plain(s) => (s.clone(), true),
                        Value::Str(s) => (s.clone(), false),
                        _ => {
                            return Err(LoadError {
                                pos: node.pos,
                                message: "complex mapping keys are not supported".into(),
                            });
                        }
                    };
                    *key = Some((k, node.pos, plain));
                }
                Some((k, kpos, true)) if k == "<<" => merge_into(map, node, kpos)?,
                // Duplicate keys: the last one wins, as with Ruby's Psych, which GitLab uses.
                Some((k, kpos, _)) => map.insert(k, kpos, node),
            },
        }
        Ok(())
    }
}

/// A merge key (`<<: *a` or `<<: [*a, *b]`), applied where it stands, as Ruby's Psych (and
/// so GitLab) does: merged keys override the keys before it, keys after it override them,
/// several `<<` keys in one map all apply, and in a list the earlier map wins.
fn merge_into(map: &mut Map, merge: Node, key_pos: Pos) -> Result<(), LoadError> {
    let bad = |pos| LoadError { pos, message: "merge key `<<` needs a map or a list of maps".into() };
    let sources: Vec<Node> = match merge.value {
        Value::Map(_) => vec![merge],
        Value::Seq(items) => items.into_iter().rev().collect(),
        _ => return Err(bad(key_pos)),
    };
    for src in sources {
        let Value::Map(m) = src.value else { return Err(bad(src.pos)) };
        for Entry { key, key_pos, value } in m.entries {
            map.insert(key, key_pos, value);
        }
    }
    Ok(())
}
