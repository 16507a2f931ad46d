//! Compiling the policies a command names, with its diagnostics printed as `--error-format` asks.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use guard_dsl::{Compilation, Diagnostics, ErrorFormat};
use guard_engine::CompileOptions;

use super::args::{ErrorFormatArg, PolicyArgs};

/// The compiled policies, or the exit code after their diagnostics went to stderr.
pub(crate) fn compile(paths: &[PathBuf], args: &PolicyArgs) -> Result<Compilation, ExitCode> {
    let options = CompileOptions {
        dfa_size_limit: args.dfa_size_limit,
    };
    guard_dsl::compile_paths(paths, &options).map_err(|diagnostics| {
        print_diagnostics(&diagnostics, args.error_format);
        ExitCode::FAILURE
    })
}

/// The compiled policies, or their diagnostics after they went to stderr, for a caller that
/// also reports them in its own output (`guardc test --format json|junit`).
pub(crate) fn compile_reporting(
    paths: &[PathBuf],
    args: &PolicyArgs,
) -> Result<Compilation, Diagnostics> {
    let options = CompileOptions {
        dfa_size_limit: args.dfa_size_limit,
    };
    guard_dsl::compile_paths(paths, &options).inspect_err(|diagnostics| {
        print_diagnostics(diagnostics, args.error_format);
    })
}

fn print_diagnostics(diagnostics: &Diagnostics, format: ErrorFormatArg) {
    if format == ErrorFormatArg::Sarif {
        // `check` and `lint`: the log is their output, on stdout.
        super::lint::emit(diagnostics, format);
        return;
    }
    let format = match format {
        ErrorFormatArg::Json => ErrorFormat::Json,
        ErrorFormatArg::Human | ErrorFormatArg::Sarif => ErrorFormat::Human,
    };
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(diagnostics.render(format).as_bytes());
    if format == ErrorFormat::Human {
        let _ = writeln!(
            stderr,
            "{} error{}",
            diagnostics.len(),
            if diagnostics.len() == 1 { "" } else { "s" }
        );
    }
}
