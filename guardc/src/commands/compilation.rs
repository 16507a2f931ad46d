//! Compiling the policies a command names, with its diagnostics printed as `--error-format` asks.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use guard_dsl::{Compilation, Diagnostics, ErrorFormat};
use guard_engine::{CompileOptions, Progress, Stage};

use super::args::{ErrorFormatArg, PolicyArgs};

/// The compiled policies, or the exit code after their diagnostics went to stderr.
pub(crate) fn compile(paths: &[PathBuf], args: &PolicyArgs) -> Result<Compilation, ExitCode> {
    compile_watched(paths, args.dfa_size_limit).map_err(|diagnostics| {
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
    compile_watched(paths, args.dfa_size_limit).inspect_err(|diagnostics| {
        print_diagnostics(diagnostics, args.error_format);
    })
}

/// When a compile is still running after this long, say what it is on; then again this often.
const FIRST_WORD: Duration = Duration::from_secs(3);
const NEXT_WORD: Duration = Duration::from_secs(10);

/// Compiles, with a line on stderr while it takes long (see [`watched`]).
fn compile_watched(paths: &[PathBuf], dfa_size_limit: usize) -> Result<Compilation, Diagnostics> {
    watched(dfa_size_limit, |options| {
        guard_dsl::compile_paths(paths, options)
    })
}

/// Runs `work` with compile options that report progress, and a line on stderr while it takes
/// long: building a DFA for a large pattern can take minutes, and a silent command looks hung.
pub(crate) fn watched<T>(dfa_size_limit: usize, work: impl FnOnce(&CompileOptions) -> T) -> T {
    let current: Arc<Mutex<Option<String>>> = Arc::default();
    let sink = Arc::clone(&current);
    let options = CompileOptions {
        dfa_size_limit,
        progress: Some(Progress(Arc::new(move |stage| {
            if let Ok(mut current) = sink.lock() {
                *current = Some(describe_stage(stage));
            }
        }))),
    };
    let (done, finished) = mpsc::channel::<()>();
    let watcher = std::thread::spawn(move || {
        let start = Instant::now();
        let mut next = FIRST_WORD;
        while let Err(mpsc::RecvTimeoutError::Timeout) =
            finished.recv_timeout(next.saturating_sub(start.elapsed()))
        {
            let stage = current
                .lock()
                .ok()
                .and_then(|c| c.clone())
                .unwrap_or_else(|| "reading and checking the policies".to_string());
            eprintln!(
                "guardc: still compiling after {} s: {stage}",
                start.elapsed().as_secs()
            );
            next += NEXT_WORD;
        }
    });
    let result = work(&options);
    drop(done);
    let _ = watcher.join();
    result
}

/// What a compile stage is doing, in words.
fn describe_stage(stage: Stage<'_>) -> String {
    match stage.rule {
        None => format!("building the screens of policy `{}`", stage.policy),
        Some(rule) => format!(
            "building the DFAs of rule `{rule}` (policy `{}`, rule {} of {}); a pattern with \
             large Unicode classes or long counted repetitions takes longest",
            stage.policy,
            stage.rules_done + 1,
            stage.rules_total
        ),
    }
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
