//! guard-bench: the benchmark policies and request bodies, and the tools around them.
//!
//! - `spec`: the three benchmark policies and the scaling grid's as programs, and their
//!   `.guard` text.
//! - `corpus`: benign OpenAI chat bodies of any size.
//!
//! Both are also included by path by `engine/benches/engine.rs` (criterion), which cannot
//! depend on this crate. See BENCHMARKS.md for what is measured and how.

pub mod corpus;
pub mod spec;

/// A benchmark policy's `.guard` text in `guardc fmt`'s layout (so the committed files pass
/// `guardc fmt --check`), with its keyword files. Here rather than in `spec`, which the engine's
/// benches include and which so cannot use the DSL.
pub fn policy_files(
    program: &guard_engine::ir::Program,
    stem: &str,
) -> (String, Vec<(String, String)>) {
    let (text, files) = spec::render(program, stem);
    let text = guard_dsl::format_source(&format!("{stem}.guard"), &text).unwrap_or(text);
    (text, files)
}
