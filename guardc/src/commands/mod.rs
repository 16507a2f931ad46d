//! The command line: [`Cli`] and its subcommands, one module each. Every module has the
//! subcommand's clap arguments and a `run` that does the work and returns the exit code.
//!
//! Exit codes: 0 success, 1 a check failed (diagnostics, a fixture), 2 usage or policy errors in
//! `test` (so CI tells "the policy is broken" from "a verdict changed").

pub mod args;
pub mod build;
pub mod check;
mod compilation;
pub mod compile;
pub mod explain;
pub mod fmt;
pub mod lint;
mod sarif;
pub mod scan;
mod size_report;
pub mod test;

use clap::{Parser, Subcommand};

/// `guardc`'s arguments.
#[derive(Parser, Debug)]
#[command(
    name = "guardc",
    version,
    about = "Compile, test, explain and build guard policies"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands, in the order `guardc --help` lists them.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check policies and print diagnostics; nothing is written.
    Check(check::CheckArgs),
    /// Warn about rules that can never decide, duplicates, unused judges and other likely mistakes.
    Lint(lint::LintArgs),
    /// Compile policies into a bundle and report its size.
    Compile(compile::CompileArgs),
    /// Run request fixtures (`*.http`) against their expected verdicts (`*.verdict`).
    Test(test::TestArgs),
    /// Build `DIR/plugin.wasm` with the policies inside, its OCI image layout (`DIR/oci/`) and the
    /// Istio manifests that deploy it (`DIR/manifests.yaml`).
    Build(build::BuildArgs),
    /// Show what the guard does with one request fixture: which policy, which rule, where.
    Explain(explain::ExplainArgs),
    /// Scan one text as a chat request to a host: would it be denied, by what, where.
    Scan(scan::ScanArgs),
    /// Format policies in one canonical layout; `--check` reports what would change.
    Fmt(fmt::FmtArgs),
}
