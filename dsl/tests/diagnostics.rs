//! Snapshot tests of diagnostics: one snapshot per fixture in `testdata/dsl/err/` (each a minimal
//! file that shows one problem, named for it), the multi-file cases in `testdata/dsl/multi/`, and
//! one JSON rendering.
//!
//! Fixtures are compiled with workspace-relative paths (the tests run from the workspace root),
//! so snapshots show `testdata/dsl/err/NAME.guard:LINE:COL` on any machine. A fixture whose first
//! line is `# budget: N` is compiled with a DFA size budget of N bytes instead of the default.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests fail by panicking, and index what they just built"
)]

use std::path::{Path, PathBuf};
use std::sync::Once;

use guard_dsl::{compile_paths, Diagnostics, ErrorFormat};
use guard_engine::CompileOptions;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("dsl/ has a parent")
        .to_path_buf()
}

/// Runs once per test binary: relative fixture paths and colour-free output for every test.
fn setup() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::env::set_current_dir(workspace_root()).expect("chdir to the workspace root");
        std::env::set_var("NO_COLOR", "1");
    });
}

fn relative(path: &Path) -> PathBuf {
    path.strip_prefix(workspace_root())
        .unwrap_or(path)
        .to_path_buf()
}

fn options_for(text: &str) -> CompileOptions {
    let budget = text
        .lines()
        .next()
        .and_then(|line| line.strip_prefix("# budget:"))
        .and_then(|n| n.trim().parse().ok());
    match budget {
        Some(dfa_size_limit) => CompileOptions {
            dfa_size_limit,
            ..CompileOptions::default()
        },
        None => CompileOptions::default(),
    }
}

fn fail(paths: &[PathBuf], options: &CompileOptions) -> Diagnostics {
    match compile_paths(paths, options) {
        Ok(_) => panic!("{paths:?} compiled, but it is an error fixture"),
        Err(diagnostics) => diagnostics,
    }
}

#[test]
fn err() {
    setup();
    insta::glob!("../../testdata/dsl/err", "*.guard", |path| {
        let text = std::fs::read_to_string(path).expect("read fixture");
        let started = std::time::Instant::now();
        let diagnostics = fail(&[relative(path)], &options_for(&text));
        // Every error, DFA budget included, must be reported fast: an author waits for it.
        assert!(
            started.elapsed().as_secs() < 20,
            "{path:?} took {:?}",
            started.elapsed()
        );
        insta::assert_snapshot!(diagnostics.render(ErrorFormat::Human));
    });
}

#[test]
fn multi() {
    setup();
    let dir = workspace_root().join("testdata/dsl/multi");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read testdata/dsl/multi")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(!cases.is_empty());
    for case in cases {
        let name = case
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("case")
            .to_string();
        let diagnostics = fail(&[relative(&case)], &CompileOptions::default());
        insta::assert_snapshot!(
            format!("multi@{name}"),
            diagnostics.render(ErrorFormat::Human)
        );
    }
}

#[test]
fn json() {
    setup();
    let path = PathBuf::from("testdata/dsl/err/multiple_errors.guard");
    let diagnostics = fail(&[path], &CompileOptions::default());
    insta::assert_snapshot!(diagnostics.render(ErrorFormat::Json));
}

#[test]
fn all_errors_of_a_file_are_reported_together() {
    setup();
    let path = PathBuf::from("testdata/dsl/err/multiple_errors.guard");
    let diagnostics = fail(&[path], &CompileOptions::default());
    assert!(
        diagnostics.len() >= 6,
        "{}",
        diagnostics.render(ErrorFormat::Human)
    );
}

#[test]
fn paths_that_do_not_hold_guard_files() {
    setup();
    let empty = std::env::temp_dir().join(format!("guard-dsl-empty-{}", std::process::id()));
    std::fs::create_dir_all(&empty).expect("create temp dir");
    let paths = [
        PathBuf::from("testdata/dsl/no-such-file.guard"),
        empty.clone(),
    ];
    let diagnostics = fail(&paths, &CompileOptions::default());
    let json = diagnostics.render(ErrorFormat::Json);
    assert!(json.contains("guard::dsl::no_such_file"), "{json}");
    assert!(json.contains("guard::dsl::no_guard_files"), "{json}");
    let human = diagnostics.render(ErrorFormat::Human);
    assert!(human.contains("testdata/dsl/no-such-file.guard"), "{human}");
    std::fs::remove_dir_all(&empty).ok();

    let none = fail(&[], &CompileOptions::default());
    assert!(none
        .render(ErrorFormat::Json)
        .contains("guard::dsl::no_input"));
}

#[test]
fn a_guard_file_that_is_not_utf8() {
    setup();
    let dir = std::env::temp_dir().join(format!("guard-dsl-latin1-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    std::fs::write(dir.join("latin1.guard"), b"# caf\xe9\n").expect("write");
    let diagnostics = fail(std::slice::from_ref(&dir), &CompileOptions::default());
    let json = diagnostics.render(ErrorFormat::Json);
    assert!(json.contains("guard::dsl::unreadable_file"), "{json}");
    assert!(json.contains("not valid UTF-8 (byte 5)"), "{json}");
    std::fs::remove_dir_all(&dir).ok();
}
