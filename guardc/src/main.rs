//! The `guardc` binary: parse the command line, run the command, exit with its code.

use std::process::ExitCode;

use clap::Parser as _;
use guardc::commands::{build, check, compile, explain, fmt, lint, scan, test};
use guardc::{Cli, Command};

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Check(args) => check::run(&args),
        Command::Lint(args) => lint::run(&args),
        Command::Compile(args) => compile::run(&args),
        Command::Test(args) => test::run(&args),
        Command::Build(args) => build::run(&args),
        Command::Explain(args) => explain::run(&args),
        Command::Scan(args) => scan::run(&args),
        Command::Fmt(args) => fmt::run(&args),
    }
}
