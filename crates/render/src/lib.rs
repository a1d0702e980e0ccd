//! Renderings for the browser pages that are pure functions of their input: no I/O, no clock,
//! no randomness. Everything that leaves this crate as HTML or SVG is escaped here, so a
//! template may insert it as markup.

pub mod diff;
pub mod escape;
pub mod highlight;
pub mod log;
pub mod markdown;
pub mod needs_graph;
