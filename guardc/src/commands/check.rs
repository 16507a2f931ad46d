//! `guardc check`: compile the policies and print diagnostics; nothing is written. With
//! `--secrets`/`--secrets-file`, also check that the deployment provides every secret the policies
//! use, since the filter refuses to start without one.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use guard_dsl::ErrorFormat;

use super::args::{ErrorFormatArg, PolicyArgs};
use super::compilation::compile;

/// `guardc check PATHS...`.
#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// `.guard` files, or directories of them compiled together.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// The secrets the deployment provides, comma-separated: a secret the policies use and this
    /// does not list is an error.
    #[arg(long, value_name = "NAME,...", value_delimiter = ',')]
    pub secrets: Option<Vec<String>>,
    /// Like `--secrets`, from a file: one name per line; blank lines and `#` comments skipped.
    #[arg(long, value_name = "PATH")]
    pub secrets_file: Option<PathBuf>,
    #[command(flatten)]
    pub policy: PolicyArgs,
}

/// Success with a one-line summary, or failure after the diagnostics.
pub fn run(args: &CheckArgs) -> ExitCode {
    let c = match compile(&args.paths, &args.policy) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if args.secrets.is_some() || args.secrets_file.is_some() {
        let mut provided: Vec<String> = args
            .secrets
            .iter()
            .flatten()
            .map(|s| s.trim().to_string())
            .collect();
        if let Some(path) = &args.secrets_file {
            match std::fs::read_to_string(path) {
                Ok(text) => provided.extend(secret_names(&text)),
                Err(err) => {
                    eprintln!("error: cannot read `{}`: {err}", path.display());
                    return ExitCode::from(2);
                }
            }
        }
        if let Err(diagnostics) = c.missing_secrets(&provided) {
            let format = match args.policy.error_format {
                ErrorFormatArg::Sarif => {
                    super::lint::emit(&diagnostics, ErrorFormatArg::Sarif);
                    return ExitCode::FAILURE;
                }
                ErrorFormatArg::Human => ErrorFormat::Human,
                ErrorFormatArg::Json => ErrorFormat::Json,
            };
            let mut stderr = std::io::stderr().lock();
            let _ = stderr.write_all(diagnostics.render(format).as_bytes());
            if format == ErrorFormat::Human {
                let n = diagnostics.len();
                let _ = writeln!(stderr, "{n} error{}", if n == 1 { "" } else { "s" });
            }
            return ExitCode::FAILURE;
        }
    }
    let summary = format!(
        "ok: {} policies, {} rules, {} judges",
        c.program.policies.len(),
        c.rules.len(),
        c.program.judges.len()
    );
    if args.policy.error_format == ErrorFormatArg::Sarif {
        // The log, with no results, is the output; the summary goes beside it.
        eprintln!("{summary}");
        print!("{}", super::sarif::render_entries(&[]));
    } else {
        println!("{summary}");
    }
    ExitCode::SUCCESS
}

/// The names of a `--secrets-file`: one a line, trimmed; blank lines and `#` comments skipped
/// (a `#` after a name starts a comment too).
fn secret_names(text: &str) -> impl Iterator<Item = String> + '_ {
    text.lines()
        .map(|line| line.split('#').next().unwrap_or("").trim())
        .filter(|name| !name.is_empty())
        .map(str::to_string)
}
