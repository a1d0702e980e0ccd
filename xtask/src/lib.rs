//! Repository checks that run as ordinary tests (`cargo test -p xtask`), so they cannot be
//! forgotten: the crate dependency rules of ARCHITECTURE.md, read from `cargo metadata`, and the
//! App boundary (user use-cases on `App`, trusted calls on `System`), read from the app's source,
//! and the rule that ids are never cast between layers.

pub mod boundary;
pub mod deps;
pub mod id_casts;
pub mod sources;
