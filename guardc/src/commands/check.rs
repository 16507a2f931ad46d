//! `guardc check`: compile the policies and print diagnostics; nothing is written.

use std::path::PathBuf;
use std::process::ExitCode;

use super::args::PolicyArgs;
use super::compilation::compile;

/// `guardc check PATHS...`.
#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// `.guard` files, or directories of them compiled together.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub policy: PolicyArgs,
}

/// Success with a one-line summary, or failure after the diagnostics.
pub fn run(args: &CheckArgs) -> ExitCode {
    match compile(&args.paths, &args.policy) {
        Ok(c) => {
            println!(
                "ok: {} policies, {} rules, {} judges",
                c.program.policies.len(),
                c.rules.len(),
                c.program.judges.len()
            );
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}
