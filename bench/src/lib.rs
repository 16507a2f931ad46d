//! guard-bench: the benchmark policies and request bodies, and the tools around them.
//!
//! - `spec`: the three benchmark policies as programs, and their `.guard` text.
//! - `corpus`: benign OpenAI chat bodies of any size.
//!
//! Both are also included by path by `engine/benches/engine.rs` (criterion), which cannot
//! depend on this crate. See BENCHMARKS.md for what is measured and how.

pub mod corpus;
pub mod spec;
