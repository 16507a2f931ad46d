//! Snapshot tests of `guardc lint`'s findings: one snapshot per fixture in `testdata/lint/`,
//! each a minimal file named for what it shows. Fixtures named `not_*` or `clean*` show where a
//! lint must stay silent: they must have no findings at all.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use guard_dsl::{lint_paths, ErrorFormat, Severity};
use guard_engine::CompileOptions;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("dsl/ has a parent")
        .to_path_buf()
}

#[test]
fn lint() {
    std::env::set_current_dir(workspace_root()).expect("chdir to the workspace root");
    let mut codes = BTreeSet::new();
    insta::glob!("../../testdata/lint", "*.guard", |path| {
        let relative = path.strip_prefix(workspace_root()).unwrap_or(path);
        let found = match lint_paths(&[relative.to_path_buf()], &CompileOptions::default()) {
            Ok(found) => found,
            Err(errors) => panic!("{path:?} does not compile:\n{errors}"),
        };
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with("not_") || name.starts_with("clean") {
            assert!(found.is_empty(), "{name} must have no findings:\n{found}");
        } else {
            assert!(!found.is_empty(), "{name} shows nothing");
        }
        assert_eq!(found.count(Severity::Error), 0);
        codes.extend(found.entries().into_iter().map(|e| e.code));
        insta::assert_snapshot!(format!(
            "{}{}\n",
            found.render(ErrorFormat::Human),
            found.summary()
        ));
    });
    let expected = [
        "guard::dsl::shadowed_rule",
        "guard::dsl::duplicate_pattern",
        "guard::dsl::unused_judge",
        "guard::dsl::case_sensitive_keyword",
        "guard::dsl::overlapping_hosts",
    ];
    for code in expected {
        assert!(codes.contains(code), "no fixture shows {code}");
    }
}

/// A policy that does not compile is linted no further: its errors come back as errors.
#[test]
fn errors_stop_the_lint() {
    std::env::set_current_dir(workspace_root()).expect("chdir to the workspace root");
    let result = lint_paths(
        &[PathBuf::from("testdata/dsl/err/unknown_judge.guard")],
        &CompileOptions::default(),
    );
    let Err(errors) = result else {
        panic!("an error fixture linted");
    };
    assert!(errors.count(Severity::Error) > 0);
}
