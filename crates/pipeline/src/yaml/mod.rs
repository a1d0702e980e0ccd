//! A small spanned YAML tree built from `saphyr-parser` events.
//!
//! Why our own tree: GitLab semantics (`extends` deep merge, `!reference`, `include`) need a
//! generic tree that keeps tags and the line/column of every key and value, and the loader
//! must enforce budgets (alias expansion, nesting depth) *while* it builds, not after.

mod limits;
mod load;
mod node;

pub use limits::{Budget, Limits};
pub use load::load;
pub use node::{Entry, Map, Node, Value};
