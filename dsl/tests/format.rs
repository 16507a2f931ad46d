//! `format_source`: one snapshot per fixture in `testdata/fmt/` (each a minimal unformatted file
//! named for what it shows), the syntax error it refuses, and, over every `.guard` file in the
//! repository, that formatting is idempotent and keeps the file's meaning.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests fail by panicking, and index what they just built"
)]

use std::path::{Path, PathBuf};
use std::sync::Once;

use guard_dsl::{compile_paths, compile_sources, format_off, format_source, ErrorFormat};
use guard_engine::CompileOptions;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("dsl/ has a parent")
        .to_path_buf()
}

fn setup() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::env::set_current_dir(workspace_root()).expect("chdir to the workspace root");
        std::env::set_var("NO_COLOR", "1");
    });
}

fn relative(path: &Path) -> String {
    path.strip_prefix(workspace_root())
        .unwrap_or(path)
        .display()
        .to_string()
}

fn format(name: &str, text: &str) -> String {
    match format_source(name, text) {
        Ok(formatted) => formatted,
        Err(d) => panic!("{name} does not format:\n{}", d.render(ErrorFormat::Human)),
    }
}

/// As `tests/diagnostics.rs`: a first line `# budget: N` compiles with that DFA budget.
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

/// Diagnostics as JSON without their positions, which formatting moves.
fn without_positions(json: &str) -> serde_json::Value {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                for key in ["line", "column", "span"] {
                    map.remove(key);
                }
                map.values_mut().for_each(strip);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut value: serde_json::Value = serde_json::from_str(json).expect("diagnostics JSON");
    strip(&mut value);
    value
}

/// Formatting `text` (the file `name`, whose keyword files are beside it) is idempotent and
/// compiles to the same program, or, if the file does not compile, to the same diagnostics
/// (codes, messages, help) at moved positions.
fn assert_kept(name: &str, text: &str) {
    let once = format(name, text);
    assert_eq!(
        format(name, &once),
        once,
        "{name}: formatting is not idempotent"
    );
    let options = options_for(text);
    let compile = |t: &str| compile_sources(&[(name.to_string(), t.to_string())], &options);
    match (compile(text), compile(&once)) {
        (Ok(a), Ok(b)) => {
            assert_eq!(
                format!("{:?}", a.program),
                format!("{:?}", b.program),
                "{name}: the program changed"
            );
            assert_eq!(
                a.compiled.bytes, b.compiled.bytes,
                "{name}: the bundle changed"
            );
        }
        (Err(a), Err(b)) => assert_eq!(
            without_positions(&a.render(ErrorFormat::Json)),
            without_positions(&b.render(ErrorFormat::Json)),
            "{name}: the diagnostics changed"
        ),
        (Ok(_), Err(d)) => panic!(
            "{name}: formatted, it no longer compiles:\n{}",
            d.render(ErrorFormat::Human)
        ),
        (Err(_), Ok(_)) => panic!("{name}: formatted, it compiles"),
    }
}

#[test]
fn fixtures() {
    setup();
    insta::glob!("../../testdata/fmt", "*.guard", |path| {
        let text = std::fs::read_to_string(path).expect("read fixture");
        let name = relative(path);
        let formatted = format(&name, &text);
        assert_ne!(
            formatted, text,
            "{name} is already formatted: it shows nothing"
        );
        assert_kept(&name, &text);
        insta::assert_snapshot!(formatted);
    });
}

#[test]
fn a_syntax_error_is_refused_with_the_diagnostic_check_gives() {
    setup();
    let name = "testdata/fmt/err/unclosed_block.guard";
    let text = std::fs::read_to_string(name).expect("read fixture");
    let refused = match format_source(name, &text) {
        Ok(_) => panic!("{name} formats"),
        Err(d) => d.render(ErrorFormat::Human),
    };
    let checked = match compile_paths(&[PathBuf::from(name)], &CompileOptions::default()) {
        Ok(_) => panic!("{name} compiles"),
        Err(d) => d.render(ErrorFormat::Human),
    };
    assert_eq!(refused, checked);
    insta::assert_snapshot!(refused);
}

#[test]
fn a_file_marked_off_is_left_as_it_is() {
    let text = "# guardc fmt: off\npolicy   \"p\" {\n";
    assert!(format_off(text));
    assert_eq!(format_source("off.guard", text).ok().as_deref(), Some(text));
}

/// Every `.guard` file under `dir`; `target/`, hidden directories, `fuzz/` (its corpus is copied
/// from testdata/ by fuzz/seed.sh) and `testdata/fmt/` (unformatted on purpose) skipped.
fn guard_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let rel = relative(&path);
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if !name.starts_with('.') && name != "target" && rel != "fuzz" && rel != "testdata/fmt"
            {
                guard_files(&path, out);
            }
        } else if name.ends_with(".guard") {
            out.push(path);
        }
    }
}

#[test]
fn every_guard_file_in_the_repository_keeps_its_meaning() {
    setup();
    let mut files = Vec::new();
    guard_files(&workspace_root(), &mut files);
    assert!(files.len() > 50, "found only {files:?}");
    let mut formatted = 0;
    for path in &files {
        let text = std::fs::read_to_string(path).expect("read");
        if format_off(&text) {
            continue;
        }
        assert_kept(&relative(path), &text);
        formatted += 1;
    }
    assert!(formatted > 50, "only {formatted} files were formatted");
}
