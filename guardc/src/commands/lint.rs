//! `guardc lint`: compile the policies as `check` does, then report what likely does not do
//! what was meant (guard_dsl's lints: rules that never decide, duplicate patterns, unused
//! judges, case-sensitive keywords, policies that share hosts). Exit 0 when the policies
//! compile (warnings and notes printed), 1 with `--deny-warnings` and any warning (notes never
//! fail), 2 when they do not compile.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use guard_dsl::{Diagnostics, ErrorFormat, Severity};

use super::args::{ErrorFormatArg, PolicyArgs};

/// `guardc lint PATHS...`.
#[derive(clap::Args, Debug)]
pub struct LintArgs {
    /// `.guard` files, or directories of them compiled together.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Fail (exit 1) when there is any warning, for CI; notes never fail.
    #[arg(long)]
    pub deny_warnings: bool,
    #[command(flatten)]
    pub policy: PolicyArgs,
}

pub fn run(args: &LintArgs) -> ExitCode {
    let linted = super::compilation::watched(args.policy.dfa_size_limit, |options| {
        guard_dsl::lint_paths(&args.paths, options)
    });
    match linted {
        Err(errors) => {
            emit(&errors, args.policy.error_format);
            ExitCode::from(2)
        }
        Ok(found) => {
            emit(&found, args.policy.error_format);
            if args.deny_warnings && found.count(Severity::Warning) > 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
    }
}

/// Human and JSON diagnostics go to stderr, human ones with a summary line; a SARIF log is the
/// command's output and goes to stdout, written even when it has no results.
pub(crate) fn emit(diagnostics: &Diagnostics, format: ErrorFormatArg) {
    match format {
        ErrorFormatArg::Sarif => {
            let _ = std::io::stdout()
                .lock()
                .write_all(super::sarif::render(diagnostics).as_bytes());
        }
        ErrorFormatArg::Json => {
            let _ = std::io::stderr()
                .lock()
                .write_all(diagnostics.render(ErrorFormat::Json).as_bytes());
        }
        ErrorFormatArg::Human => {
            let mut stderr = std::io::stderr().lock();
            let _ = stderr.write_all(diagnostics.render(ErrorFormat::Human).as_bytes());
            if diagnostics.is_empty() {
                let _ = writeln!(stderr, "ok: nothing to report");
            } else {
                let _ = writeln!(stderr, "{}", diagnostics.summary());
            }
        }
    }
}
