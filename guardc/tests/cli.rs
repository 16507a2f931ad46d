//! guardc as CI runs it: exit codes, the per-fixture lines, diffs and machine formats, over the
//! small suites in `testdata/guardc/`. Each case is a command line and a snapshot of what it did.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "a test that cannot set up should fail, and a failed check panics"
)]

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs guardc from the workspace root and renders exit status, stdout and stderr.
fn guardc(args: &[&str]) -> String {
    guardc_in(&root(), args)
}

/// Runs guardc from `dir`.
fn guardc_in(dir: &std::path::Path, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_guardc"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    format!(
        "$ guardc {}\nexit: {}\n--- stdout\n{}--- stderr\n{}",
        args.join(" "),
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    )
}

#[test]
fn a_changed_verdict_fails_with_a_diff() {
    insta::assert_snapshot!(guardc(&["test", "testdata/guardc/mismatch"]));
}

#[test]
fn mismatches_in_json() {
    insta::assert_snapshot!(guardc(&[
        "test",
        "testdata/guardc/mismatch",
        "--format",
        "json"
    ]));
}

#[test]
fn mismatches_in_junit() {
    insta::assert_snapshot!(guardc(&[
        "test",
        "testdata/guardc/mismatch",
        "--format",
        "junit"
    ]));
}

#[test]
fn a_policy_that_does_not_compile_exits_2() {
    insta::assert_snapshot!(guardc(&["test", "testdata/guardc/broken"]));
}

#[test]
fn require_coverage_fails_on_an_unexercised_rule() {
    insta::assert_snapshot!(guardc(&[
        "test",
        "testdata/guardc/uncovered",
        "--require-coverage"
    ]));
}

#[test]
fn coverage_is_reported_but_not_required_by_default() {
    insta::assert_snapshot!(guardc(&["test", "testdata/guardc/uncovered"]));
}

#[test]
fn a_fixture_with_a_bad_directive_is_an_error_line() {
    insta::assert_snapshot!(guardc(&["test", "testdata/guardc/bad-fixture"]));
}

#[test]
fn check_reports_diagnostics_as_json() {
    insta::assert_snapshot!(guardc(&[
        "check",
        "testdata/guardc/broken",
        "--error-format",
        "json"
    ]));
}

#[test]
fn check_fails_on_secrets_the_deployment_does_not_provide() {
    insta::assert_snapshot!(guardc(&[
        "check",
        "testdata/guardc/secrets",
        "--secrets-file",
        "testdata/guardc/secrets/secrets.txt"
    ]));
}

#[test]
fn check_passes_when_every_secret_is_provided() {
    let out = guardc(&[
        "check",
        "testdata/guardc/secrets",
        "--secrets",
        "openai_key,anthropic_key",
    ]);
    assert!(out.contains("exit: 0\n"), "{out}");
    let out = guardc(&[
        "check",
        "testdata/guardc/secrets",
        "--secrets",
        "openai_key",
        "--secrets-file",
        "testdata/guardc/secrets/secrets.txt",
    ]);
    assert!(out.contains("exit: 0\n"), "{out}");
}

#[test]
fn explain_points_at_the_match() {
    insta::assert_snapshot!(guardc(&[
        "explain",
        "policies/tests/dashscope/keyword-as-unicode-escape.http"
    ]));
}

#[test]
fn the_example_policies_pass() {
    let out = guardc(&["test", "policies/", "--require-coverage"]);
    assert!(out.contains("exit: 0\n"), "{out}");
    assert!(out.contains(" passed, 0 failed\n"), "{out}");
}

#[test]
fn the_evasion_corpus_passes() {
    // Every fixture of testdata/evasion/ against its .verdict, so `cargo test` alone fails on a
    // changed verdict (the end-to-end suite replays the same fixtures through Envoy).
    let out = guardc(&["test", "testdata/evasion/", "--require-coverage"]);
    assert!(out.contains("exit: 0\n"), "{out}");
    assert!(out.contains(" passed, 0 failed\n"), "{out}");
}

#[test]
fn accept_writes_the_missing_verdict() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["policy.guard", "no-verdict.http"] {
        std::fs::copy(
            root().join("testdata/guardc/mismatch").join(name),
            dir.path().join(name),
        )
        .unwrap();
    }
    let path = dir.path().to_str().unwrap();
    assert!(guardc(&["test", path]).contains("exit: 1\n"));
    assert!(guardc(&["test", path, "--accept"]).contains("exit: 0\n"));
    let written = std::fs::read_to_string(dir.path().join("no-verdict.verdict")).unwrap();
    assert_eq!(
        written,
        "verdict: allow\npolicy: none (the request passes untouched)\n"
    );
    assert!(guardc(&["test", path]).contains("exit: 0\n"));
}

#[test]
fn malformed_fixtures_fail_with_file_and_line() {
    // Missing blank line, header without a colon, a directive after the request line and a
    // verdict without its fixture fail; a byte order mark is accepted; https:// gets a note.
    insta::assert_snapshot!(guardc(&["test", "testdata/guardc/malformed"]));
}

#[test]
fn malformed_fixtures_in_junit() {
    insta::assert_snapshot!(guardc(&[
        "test",
        "testdata/guardc/malformed",
        "--format",
        "junit"
    ]));
}

#[test]
fn a_coverage_failure_is_a_failed_case_in_junit() {
    insta::assert_snapshot!(guardc(&[
        "test",
        "testdata/guardc/uncovered",
        "--require-coverage",
        "--format",
        "junit"
    ]));
}

#[test]
fn a_coverage_failure_is_a_failure_in_json() {
    let out = guardc(&[
        "test",
        "testdata/guardc/uncovered",
        "--require-coverage",
        "--format",
        "json",
    ]);
    insta::assert_snapshot!(out);
}

#[test]
fn a_broken_policy_in_junit_carries_its_diagnostics() {
    insta::assert_snapshot!(guardc(&[
        "test",
        "testdata/guardc/broken",
        "--format",
        "junit"
    ]));
}

#[test]
fn a_broken_policy_in_json_carries_its_diagnostics() {
    insta::assert_snapshot!(guardc(&[
        "test",
        "testdata/guardc/broken",
        "--format",
        "json"
    ]));
}

#[test]
fn accept_shows_what_it_accepts() {
    // On a copy of testdata/guardc/mismatch: `denied` changes class (allow -> deny),
    // `no-verdict` is new, and `benign` gets a verdict that changes but stays an allow.
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(root().join("testdata/guardc/mismatch")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    std::fs::write(
        dir.path().join("benign.verdict"),
        "verdict: allow\npolicy: p\n",
    )
    .unwrap();
    insta::assert_snapshot!(guardc_in(dir.path(), &["test", ".", "--accept"]));
    assert!(guardc_in(dir.path(), &["test", "."]).contains("exit: 0\n"));
}

#[test]
fn scan_answers_for_one_text() {
    let runs = [
        guardc(&[
            "scan",
            "policies/",
            "--host",
            "api.openai.com",
            "--text",
            "old card 4111111111111112, new card 4111111111111111; the Atlas plan",
        ]),
        guardc(&[
            "scan",
            "policies/",
            "--host",
            "api.openai.com",
            "--text",
            "polish this internal memo",
            "--json",
        ]),
        guardc(&[
            "scan",
            "policies/",
            "--host",
            "api.mistral.ai",
            "--text",
            "hi",
        ]),
        guardc(&["scan", "policies/", "--host", "api.openai.com"]),
    ];
    insta::assert_snapshot!(runs.join("\n"));
}

#[test]
fn explain_shows_a_window_and_invisible_characters() {
    insta::assert_snapshot!(guardc(&[
        "explain",
        "testdata/guardc/explain/long-line-with-invisible.http",
        "--policy",
        "policies/",
    ]));
}

#[test]
fn expect_lines_pin_class_and_rule_not_wording() {
    insta::assert_snapshot!(guardc(&["test", "testdata/guardc/expect"]));
}

#[test]
fn unmet_expectations_in_json() {
    insta::assert_snapshot!(guardc(&[
        "test",
        "testdata/guardc/expect",
        "--format",
        "json"
    ]));
}

#[test]
fn coverage_by_pattern_names_what_no_fixture_matched() {
    let runs = [
        guardc(&["test", "testdata/guardc/uncovered-patterns"]),
        guardc(&[
            "test",
            "testdata/guardc/uncovered-patterns",
            "--require-coverage=patterns",
        ]),
        guardc(&[
            "test",
            "testdata/guardc/uncovered-patterns",
            "--require-coverage=patterns",
            "--format",
            "junit",
        ]),
    ];
    insta::assert_snapshot!(runs.join("\n"));
}

#[test]
fn lint_reports_warnings_and_notes() {
    insta::assert_snapshot!(guardc(&[
        "lint",
        "testdata/lint/shadowed_across_policies.guard"
    ]));
}

#[test]
fn lint_deny_warnings_fails_on_a_warning() {
    let out = guardc(&[
        "lint",
        "--deny-warnings",
        "testdata/lint/shadowed_keyword.guard",
    ]);
    assert!(out.contains("exit: 1\n"), "{out}");
}

#[test]
fn lint_notes_never_fail() {
    let out = guardc(&[
        "lint",
        "--deny-warnings",
        "testdata/lint/overlapping_hosts.guard",
    ]);
    assert!(out.contains("exit: 0\n") && out.contains("1 note"), "{out}");
}

#[test]
fn lint_of_a_policy_that_does_not_compile_exits_2() {
    let out = guardc(&["lint", "testdata/dsl/err/unknown_judge.guard"]);
    assert!(
        out.contains("exit: 2\n") && out.contains("1 error"),
        "{out}"
    );
}

/// The example policies and the evasion corpus have no warnings: `scripts/test` runs the same.
#[test]
fn the_example_policies_lint_clean() {
    for dir in ["policies/", "testdata/evasion/"] {
        let out = guardc(&["lint", "--deny-warnings", dir]);
        assert!(out.contains("exit: 0\n"), "{out}");
    }
}

/// The official SARIF 2.1.0 schema, compiled once.
fn sarif_schema() -> (boon::Schemas, boon::SchemaIndex) {
    let path = root().join("testdata/schemas/sarif-schema-2.1.0.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    compiler.enable_format_assertions();
    let url = "https://guard.invalid/sarif-schema-2.1.0.json";
    compiler.add_resource(url, schema).unwrap();
    let index = compiler.compile(url, &mut schemas).unwrap();
    (schemas, index)
}

/// Runs guardc and returns its exit code and stdout parsed as JSON, checked against the schema.
fn sarif(args: &[&str]) -> (i32, serde_json::Value) {
    let output = Command::new(env!("CARGO_BIN_EXE_guardc"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap();
    let log: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let (schemas, index) = sarif_schema();
    if let Err(err) = schemas.validate(&log, index) {
        panic!("guardc {} wrote invalid SARIF: {err:#}", args.join(" "));
    }
    (output.status.code().unwrap_or(-1), log)
}

#[test]
fn check_errors_as_sarif() {
    let (code, log) = sarif(&[
        "check",
        "--error-format",
        "sarif",
        "testdata/dsl/err/multiple_errors.guard",
    ]);
    assert_eq!(code, 1);
    insta::assert_snapshot!(serde_json::to_string_pretty(&log).unwrap());
}

#[test]
fn lint_findings_as_sarif() {
    let (code, log) = sarif(&[
        "lint",
        "--deny-warnings",
        "--error-format",
        "sarif",
        "testdata/lint/shadowed_across_policies.guard",
    ]);
    assert_eq!(code, 1);
    insta::assert_snapshot!(serde_json::to_string_pretty(&log).unwrap());
}

#[test]
fn clean_and_path_problems_are_valid_sarif() {
    let (code, log) = sarif(&["check", "--error-format", "sarif", "policies/"]);
    assert_eq!(code, 0);
    assert_eq!(log["runs"][0]["results"], serde_json::json!([]));
    let (code, _) = sarif(&["lint", "--error-format", "sarif", "testdata/no/such/dir"]);
    assert_eq!(code, 2);
}

/// The validation can fail: a log with a level SARIF does not have is refused.
#[test]
fn the_schema_refuses_a_broken_log() {
    let (_, mut log) = sarif(&[
        "lint",
        "--error-format",
        "sarif",
        "testdata/lint/shadowed_keyword.guard",
    ]);
    log["runs"][0]["results"][0]["level"] = serde_json::json!("fatal");
    let (schemas, index) = sarif_schema();
    assert!(schemas.validate(&log, index).is_err());
    log["runs"][0]["results"][0]["level"] = serde_json::json!("warning");
    log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] =
        serde_json::json!(0);
    assert!(schemas.validate(&log, index).is_err());
}
