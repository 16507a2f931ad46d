//! guard-engine: the compiled ruleset and its evaluation.
//!
//! See ARCHITECTURE.md at the repository root for the pipeline this crate is the back half of.

pub mod ir;
mod extract;

pub use extract::{extract, ExtractError, Extracted, Format, Limits, Segment};
