//! `guardc compile`: compile the policies into a bundle file and report its size.

use std::path::PathBuf;
use std::process::ExitCode;

use super::args::PolicyArgs;
use super::compilation::compile;
use super::size_report::size_report;

/// `guardc compile PATHS... -o BUNDLE`.
#[derive(clap::Args, Debug)]
pub struct CompileArgs {
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Where to write the bundle.
    #[arg(short, long)]
    pub output: PathBuf,
    #[command(flatten)]
    pub policy: PolicyArgs,
}

/// Success once the bundle is written, failure on diagnostics or a write error.
pub fn run(args: &CompileArgs) -> ExitCode {
    match compile(&args.paths, &args.policy) {
        Ok(c) => {
            if let Err(err) = std::fs::write(&args.output, &c.compiled.bytes) {
                eprintln!("error: cannot write `{}`: {err}", args.output.display());
                return ExitCode::FAILURE;
            }
            print!("{}", size_report(&c));
            println!(
                "wrote {} ({} bytes)",
                args.output.display(),
                c.compiled.bytes.len()
            );
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}
