//! `guardc fmt` as CI and editors run it: `--check` with a diff and exit 1, rewriting in place,
//! standard input, and a file that does not parse. Each case runs in a temporary directory with
//! relative paths, so snapshots are the same on every machine.

#![allow(clippy::unwrap_used, reason = "a test that cannot set up should fail")]

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

const MESSY: &str = "policy \"p\"{match host \"llm.example.com\"\n  rule \"r\" {deny keyword \"a\" , \"b\"   # why\n}}\n";
const FORMATTED: &str = "policy \"p\" {\n    match host \"llm.example.com\"\n    rule \"r\" {\n        deny keyword \"a\", \"b\"  # why\n    }\n}\n";
const BROKEN: &str = "policy \"p\" {\n    match host \"llm.example.com\"\n";

/// Runs guardc in `dir` with `stdin`, and renders exit status, stdout and stderr.
fn guardc(dir: &Path, args: &[&str], stdin: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_guardc"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    format!(
        "$ guardc {}\nexit: {}\n--- stdout\n{}--- stderr\n{}",
        args.join(" "),
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    )
}

fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

#[test]
fn check_fails_with_a_diff_on_an_unformatted_file_and_writes_nothing() {
    let dir = dir_with(&[("messy.guard", MESSY)]);
    insta::assert_snapshot!(guardc(dir.path(), &["fmt", "--check", "messy.guard"], ""));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("messy.guard")).unwrap(),
        MESSY
    );
}

#[test]
fn check_passes_a_formatted_file() {
    let dir = dir_with(&[("ok.guard", FORMATTED)]);
    let out = guardc(dir.path(), &["fmt", "--check", "ok.guard"], "");
    assert!(out.contains("exit: 0\n--- stdout\n--- stderr\n"), "{out}");
}

#[test]
fn a_directory_is_formatted_in_place_file_by_file() {
    let dir = dir_with(&[
        ("policies/b/messy.guard", MESSY),
        ("policies/a.guard", FORMATTED),
        ("policies/notes.txt", MESSY),
    ]);
    insta::assert_snapshot!(guardc(dir.path(), &["fmt", "policies"], ""));
    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap();
    assert_eq!(read("policies/b/messy.guard"), FORMATTED);
    assert_eq!(read("policies/notes.txt"), MESSY);
    let again = guardc(dir.path(), &["fmt", "--check", "policies"], "");
    assert!(again.contains("exit: 0\n"), "{again}");
}

#[test]
fn standard_input_is_formatted_to_standard_output() {
    let dir = dir_with(&[]);
    let out = guardc(dir.path(), &["fmt", "-"], MESSY);
    assert_eq!(
        out,
        format!("$ guardc fmt -\nexit: 0\n--- stdout\n{FORMATTED}--- stderr\n")
    );
}

#[test]
fn a_file_that_does_not_parse_exits_2_and_the_others_are_still_formatted() {
    let dir = dir_with(&[("a.guard", BROKEN), ("b.guard", MESSY)]);
    insta::assert_snapshot!(guardc(dir.path(), &["fmt", "a.guard", "b.guard"], ""));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("b.guard")).unwrap(),
        FORMATTED
    );
}

#[test]
fn a_file_marked_off_passes_the_check_as_it_is() {
    let off = format!("# guardc fmt: off\n{MESSY}");
    let dir = dir_with(&[("off.guard", &off)]);
    let out = guardc(dir.path(), &["fmt", "--check", "off.guard"], "");
    assert!(out.contains("exit: 0\n"), "{out}");
}
