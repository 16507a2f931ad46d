//! `guardc test`: run request fixtures (`*.http`) against their expected verdicts (`*.verdict`).

use std::path::PathBuf;
use std::process::ExitCode;

use super::args::{PolicyArgs, TestFormat};
use super::compilation::compile_reporting;
use crate::suite;

/// `guardc test [PATHS...]`.
#[derive(clap::Args, Debug)]
pub struct TestArgs {
    /// `.guard` files and directories (their `.guard` files are compiled together, their
    /// `.http` fixtures found recursively), or `.http` fixtures to run alone.
    #[arg(default_value = ".")]
    pub paths: Vec<PathBuf>,
    /// Write the actual verdict of every fixture that has none or differs.
    #[arg(long)]
    pub accept: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TestFormat::Human)]
    pub format: TestFormat,
    /// Fail when a rule is exercised by no fixture (`--require-coverage`, the same as `=rules`),
    /// or also when a keyword or regex matched in no fixture (`=patterns`).
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "rules", value_name = "WHAT")]
    pub require_coverage: Option<suite::Require>,
    #[command(flatten)]
    pub policy: PolicyArgs,
}

/// Success when every fixture passes (and, with `--require-coverage`, every rule is exercised);
/// failure when one does not; 2 when the policies or the fixtures cannot be read, so CI tells
/// "the policy is broken" from "a verdict changed".
pub fn run(args: &TestArgs) -> ExitCode {
    let paths = &args.paths;
    let policy_paths: Vec<PathBuf> = paths
        .iter()
        .filter(|p| p.extension().is_none_or(|e| e != "http"))
        .cloned()
        .collect();
    if policy_paths.is_empty() {
        eprintln!("error: no policy given; name `.guard` files or directories beside the fixtures");
        return ExitCode::from(2);
    }
    let format = args.format;
    let compilation = match compile_reporting(&policy_paths, &args.policy) {
        Ok(c) => c,
        Err(diagnostics) => {
            // CI reads the machine formats, so they carry the diagnostics too: a document
            // that fails, never an empty file that a report could read as "no tests".
            if format != TestFormat::Human {
                let rendered = diagnostics.render(guard_dsl::ErrorFormat::Json);
                let items: Vec<serde_json::Value> =
                    serde_json::from_str(&rendered).unwrap_or_default();
                match format {
                    TestFormat::Json => println!("{}", suite::render_diagnostics_json(&items)),
                    _ => print!("{}", suite::render_diagnostics_junit(&items)),
                }
            }
            return ExitCode::from(2);
        }
    };
    let fixtures = suite::find_fixtures(paths);
    let orphans = suite::find_orphan_verdicts(paths);
    let outcome = match suite::run_suite(
        &compilation,
        &fixtures,
        &orphans,
        args.accept,
        args.require_coverage.unwrap_or_default(),
    ) {
        Ok(outcome) => outcome,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let base = std::env::current_dir().unwrap_or_default();
    let text = match format {
        TestFormat::Human => suite::render_human(&outcome, &base),
        TestFormat::Json => suite::render_json(&outcome, &base),
        TestFormat::Junit => suite::render_junit(&outcome, &base),
    };
    print!("{text}");
    if format == TestFormat::Json {
        println!();
    }
    let uncovered = !outcome.coverage_failures().is_empty();
    if uncovered && format == TestFormat::Human {
        eprintln!("error: --require-coverage: some rules or patterns are covered by no fixture");
    }
    if fixtures.is_empty() {
        eprintln!("warning: no fixtures found");
    }
    if outcome.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
