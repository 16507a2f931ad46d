//! `guardc fmt`: rewrite `.guard` files in the canonical layout (`guard_dsl::format_source`), or
//! with `--check` report what would change and write nothing.
//!
//! Exit codes: 0 done (or, with `--check`, nothing would change); 1 with `--check`, a file would
//! change; 2 a file cannot be read or does not parse (its diagnostics are printed, and every other
//! file is still processed).

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use guard_dsl::ErrorFormat;

/// `guardc fmt PATHS... [--check]`.
#[derive(clap::Args, Debug)]
pub struct FmtArgs {
    /// `.guard` files, directories (every `*.guard` below them, hidden directories and `target/`
    /// skipped), or `-` for standard input (the formatted text goes to standard output).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Write nothing: print a diff for every file that is not formatted, and exit 1 if any is.
    #[arg(long)]
    pub check: bool,
}

/// How one file went.
enum Outcome {
    Unchanged,
    Changed,
    Failed,
}

pub fn run(args: &FmtArgs) -> ExitCode {
    let mut files = Vec::new();
    let mut failed = false;
    for path in &args.paths {
        if path.as_os_str() == "-" {
            files.push(path.clone());
            continue;
        }
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => {
                if let Err(err) = walk(path, &mut files) {
                    eprintln!("error: cannot read directory `{}`: {err}", path.display());
                    failed = true;
                }
            }
            Ok(_) => files.push(path.clone()),
            Err(err) => {
                eprintln!("error: cannot read `{}`: {err}", path.display());
                failed = true;
            }
        }
    }
    let mut changed = false;
    for file in &files {
        match one(file, args.check) {
            Outcome::Unchanged => {}
            Outcome::Changed => changed = true,
            Outcome::Failed => failed = true,
        }
    }
    if failed {
        ExitCode::from(2)
    } else if changed && args.check {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn one(path: &Path, check: bool) -> Outcome {
    let stdin = path.as_os_str() == "-";
    let name = if stdin {
        "<stdin>".to_string()
    } else {
        path.display().to_string()
    };
    let text = match read(path, stdin) {
        Ok(text) => text,
        Err(err) => {
            eprintln!("error: cannot read `{name}`: {err}");
            return Outcome::Failed;
        }
    };
    let formatted = match guard_dsl::format_source(&name, &text) {
        Ok(formatted) => formatted,
        Err(diagnostics) => {
            let _ = std::io::stderr().write_all(diagnostics.render(ErrorFormat::Human).as_bytes());
            return Outcome::Failed;
        }
    };
    let changed = formatted != text;
    if check {
        if changed {
            print!("{}", diff(&name, &text, &formatted));
        }
    } else if stdin {
        print!("{formatted}");
    } else if changed {
        if let Err(err) = std::fs::write(path, &formatted) {
            eprintln!("error: cannot write `{name}`: {err}");
            return Outcome::Failed;
        }
        println!("formatted {name}");
    }
    if changed {
        Outcome::Changed
    } else {
        Outcome::Unchanged
    }
}

fn read(path: &Path, stdin: bool) -> std::io::Result<String> {
    if stdin {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        Ok(text)
    } else {
        std::fs::read_to_string(path)
    }
}

/// Every `*.guard` file under `dir`, sorted, hidden directories and `target/` skipped.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for path in entries {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if !name.starts_with('.') && name != "target" {
                walk(&path, out)?;
            }
        } else if path.extension().is_some_and(|e| e == "guard") {
            out.push(path);
        }
    }
    Ok(())
}

/// A unified diff of a file and its formatted text, as `diff -u` prints it.
fn diff(name: &str, before: &str, after: &str) -> String {
    similar::TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(3)
        .header(name, &format!("{name} (formatted)"))
        .to_string()
}
