//! The CI compiler: `.gitlab-ci.yml` text + pipeline context → a [`Plan`] of jobs, or
//! [`Diagnostic`]s with file, line and column. Pure (architecture invariant 1): no I/O, no
//! clock, no randomness; the caller supplies the files `include:local` may read. It never
//! panics and never fails: every problem is a diagnostic, and resource limits
//! ([`yaml::Limits`]) are checked before the work they bound.
//!
//! # YAML library: `saphyr-parser` (decision, for docs/adr/0004)
//!
//! GitLab semantics need, from the YAML layer: the line/column of every key and value (for
//! diagnostics), tags (`!reference [job, key]`), anchors/aliases and merge keys (`<<`), and
//! control over alias expansion (billion-laughs documents are untrusted input here).
//! The serde-based crates measured in `research/deps.md` (`yaml_serde`, `serde-saphyr`) lose
//! positions once they produce a `Value`, and `serde-saphyr` drops tags from untyped values;
//! `yaml_serde` is also c2rust-transpiled unsafe code. `saphyr-parser` (pure Rust, YAML 1.2,
//! maintained, two small dependencies) yields an event stream with spans, tags and anchor ids.
//! We build our own small spanned tree from those events ([`yaml`]): that gives positions
//! everywhere, lets us apply merge keys ourselves (saphyr does not), and lets the loader pay
//! for every alias copy from a node/byte budget *before* copying it.
//!
//! # Results
//!
//! [`Compiled::plan`] is `None` whenever there is an error diagnostic. It is also `None`,
//! with only a warning, when the configuration is valid but GitLab would create no pipeline
//! for this context: `workflow:rules` filtered it out ("pipeline filtered out by
//! workflow:rules"), or every job was excluded by `rules`/`only`/`except`.
//!
//! # Order of processing (as GitLab)
//!
//! load + `include` (included files first, the including file wins) → `extends` →
//! `!reference` → globals → `workflow:rules` → per job: keywords, `rules`/`only`/`except` →
//! `parallel` expansion → GPU requirements (`gpu:` > `GPU_REQUEST` > tags `[gpu, <vendor>]`,
//! per instance) → `needs` (DAG) and `dependencies` → plan in stage order.
//!
//! # GPU requirements
//!
//! A job's GPUs are checked at compile time with `autogit-gpu`'s pure parser and stored in
//! [`Job::gpu`] as the canonical compact string (`nvidia:2,mem>=40GB,cc>=8.0`), which
//! `GpuRequest::parse` reads back; invalid values and vendor contradictions are diagnostics.

mod compile;
mod diagnostic;
mod duration;
mod expr;
mod extends;
mod glob;
mod globals;
mod gpu;
mod include;
mod input;
mod job;
mod job_parts;
mod matrix;
mod needs;
mod only;
mod plan;
mod reference;
mod render;
mod rules;
mod select;
mod values;
pub mod yaml;

pub use compile::{Compiled, MAX_JOBS, compile};
pub use diagnostic::{Diagnostic, Severity};
pub use duration::parse_seconds;
pub use input::{CompileInput, PipelineContext, RefKind};
pub use plan::{AllowFailure, Artifacts, Cache, Image, Job, Need, Parallel, Plan, Retry, Var, When};
pub use render::{render_diagnostics, render_plan};
