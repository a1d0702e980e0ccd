//! Repository checks that run as ordinary tests (`cargo test -p xtask`), so they cannot be
//! forgotten: the crate dependency rules of ARCHITECTURE.md, read from `cargo metadata`.

pub mod deps;
