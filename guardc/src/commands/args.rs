//! The arguments more than one command takes, and the output formats, declared once.

use clap::ValueEnum;
use guard_engine::CompileOptions;

/// How every command that compiles policies compiles them, and how it prints their diagnostics.
#[derive(clap::Args, Debug)]
pub struct PolicyArgs {
    /// How diagnostics are printed.
    #[arg(long, value_enum, default_value_t = ErrorFormatArg::Human, global = true)]
    pub error_format: ErrorFormatArg,
    /// The most bytes one DFA may take.
    #[arg(long, default_value_t = CompileOptions::default().dfa_size_limit)]
    pub dfa_size_limit: usize,
}

/// `--error-format`: the diagnostics as people read them, as JSON for tools, or (`check` and
/// `lint`) as a SARIF 2.1.0 log on stdout for code-scanning UIs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ErrorFormatArg {
    Human,
    Json,
    Sarif,
}

/// `guardc test --format`: the report as people read it, as JSON, or as JUnit XML for CI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TestFormat {
    Human,
    Json,
    Junit,
}
