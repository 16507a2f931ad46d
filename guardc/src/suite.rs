//! `guardc test`: every fixture against its expected verdict, with coverage.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use guard_dsl::Compilation;
use guard_engine::{Ruleset, Secrets};

use crate::fixture;
use crate::run::{self, Run};

/// How one fixture went.
#[derive(Debug)]
pub enum Status {
    Pass,
    /// Expected and actual verdict differ.
    Mismatch {
        expected: String,
    },
    /// No `.verdict` file yet.
    Missing,
    /// The fixture could not be read or run.
    Error(String),
    /// `--accept` wrote the verdict.
    Accepted,
}

#[derive(Debug)]
pub struct Case {
    pub fixture: PathBuf,
    pub status: Status,
    pub actual: String,
    pub run: Option<Run>,
    pub request: Option<serde_json::Value>,
}

impl Case {
    pub fn passed(&self) -> bool {
        matches!(self.status, Status::Pass | Status::Accepted)
    }
}

#[derive(Debug)]
pub struct Outcome {
    pub cases: Vec<Case>,
    /// Names of the secrets the policies need (their test values are `<secret:NAME>`).
    pub secrets: Vec<String>,
    /// Every rule, with how many fixtures exercised it.
    pub coverage: Vec<(String, String, usize)>,
}

pub fn verdict_path(fixture: &Path) -> PathBuf {
    fixture.with_extension("verdict")
}

/// Fixtures named on the command line, or found under the given directories; for `.guard` files
/// given alone, the fixtures under their directory.
pub fn find_fixtures(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut found = BTreeSet::new();
    let explicit: Vec<&PathBuf> = paths.iter().filter(|p| has_ext(p, "http")).collect();
    for path in &explicit {
        found.insert((*path).clone());
    }
    if explicit.is_empty() {
        for path in paths {
            let dir = if path.is_dir() {
                Some(path.as_path())
            } else {
                path.parent()
            };
            if let Some(dir) = dir {
                walk(
                    if dir.as_os_str().is_empty() {
                        Path::new(".")
                    } else {
                        dir
                    },
                    &mut found,
                );
            }
        }
    }
    found.into_iter().collect()
}

fn has_ext(path: &Path, ext: &str) -> bool {
    path.extension().is_some_and(|e| e == ext)
}

fn walk(dir: &Path, found: &mut BTreeSet<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, found);
        } else if has_ext(&path, "http") {
            found.insert(path);
        }
    }
}

pub fn run_suite(
    compilation: &Compilation,
    fixtures: &[PathBuf],
    accept: bool,
) -> Result<Outcome, String> {
    let ruleset = Ruleset::from_bytes(&compilation.compiled.bytes)
        .map_err(|e| format!("the compiled bundle does not load: {e}"))?;
    let secrets: Secrets = run::test_secrets(&ruleset);
    let mut hits: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut cases = Vec::new();
    for path in fixtures {
        let case = run_case(&ruleset, &secrets, path, accept);
        if let Some(run) = &case.run {
            for key in &run.exercised {
                *hits.entry(key.clone()).or_default() += 1;
            }
        }
        cases.push(case);
    }
    let coverage = compilation
        .rules
        .iter()
        .map(|r| {
            let n = hits
                .get(&(r.policy.clone(), r.rule.clone()))
                .copied()
                .unwrap_or(0);
            (r.policy.clone(), r.rule.clone(), n)
        })
        .collect();
    let secrets = ruleset
        .required_secrets()
        .into_iter()
        .map(str::to_string)
        .collect();
    Ok(Outcome {
        cases,
        secrets,
        coverage,
    })
}

fn run_case(ruleset: &Ruleset, secrets: &Secrets, path: &Path, accept: bool) -> Case {
    let error = |message: String| Case {
        fixture: path.to_path_buf(),
        status: Status::Error(message),
        actual: String::new(),
        run: None,
        request: None,
    };
    let fixture = match fixture::load(path) {
        Ok(fixture) => fixture,
        Err(err) => return error(err.to_string()),
    };
    let run = match run::run(ruleset, &fixture, secrets) {
        Ok(run) => run,
        Err(message) => return error(format!("{}: {message}", path.display())),
    };
    let actual = run::render(&run);
    let expected_path = verdict_path(path);
    let expected = std::fs::read_to_string(&expected_path).ok();
    let status = match expected {
        Some(expected) if expected == actual => Status::Pass,
        _ if accept => match std::fs::write(&expected_path, &actual) {
            Ok(()) => Status::Accepted,
            Err(err) => Status::Error(format!("cannot write `{}`: {err}", expected_path.display())),
        },
        Some(expected) => Status::Mismatch { expected },
        None => Status::Missing,
    };
    Case {
        fixture: path.to_path_buf(),
        status,
        actual,
        run: Some(run),
        request: Some(request_json(&fixture)),
    }
}

fn request_json(f: &fixture::Fixture) -> serde_json::Value {
    let mut request = serde_json::json!({
        "method": f.method,
        "scheme": f.scheme,
        "authority": f.authority,
        "path": f.path_and_query,
        "headers": f.headers.iter().map(|(n, v)| serde_json::json!([n, v])).collect::<Vec<_>>(),
        "judges": f.judges.iter().map(|(n, m)| (n.clone(), m.to_json())).collect::<serde_json::Map<_, _>>(),
    });
    match std::str::from_utf8(&f.body) {
        Ok(text) => request["body"] = text.into(),
        Err(_) => request["body_bytes"] = f.body.clone().into(),
    }
    request
}

pub fn unexercised(outcome: &Outcome) -> Vec<String> {
    outcome
        .coverage
        .iter()
        .filter(|(_, _, n)| *n == 0)
        .map(|(p, r, _)| format!("{p}/{r}"))
        .collect()
}

/// Human output: a line per fixture, a diff per mismatch, coverage, then `N passed, M failed`.
pub fn render_human(outcome: &Outcome, base: &Path) -> String {
    let mut out = String::new();
    for case in &outcome.cases {
        let name = display(&case.fixture, base);
        let summary = case
            .actual
            .lines()
            .next()
            .unwrap_or("")
            .trim_start_matches("verdict: ");
        let _ = match &case.status {
            Status::Pass => writeln!(out, "ok       {name}  {summary}"),
            Status::Accepted => writeln!(out, "accepted {name}  {summary}"),
            Status::Missing => writeln!(
                out,
                "FAIL     {name}  no expected verdict; run `guardc test --accept` to write {}\n{}",
                display(&verdict_path(&case.fixture), base),
                indent(&case.actual, "  + ")
            ),
            Status::Mismatch { expected } => writeln!(
                out,
                "FAIL     {name}  verdict differs from {}\n{}",
                display(&verdict_path(&case.fixture), base),
                diff(expected, &case.actual)
            ),
            Status::Error(message) => writeln!(out, "ERROR    {name}  {message}"),
        };
    }
    let total = outcome.coverage.len();
    let missing = unexercised(outcome);
    let _ = writeln!(
        out,
        "coverage: {} of {total} rules exercised",
        total - missing.len()
    );
    for rule in &missing {
        let _ = writeln!(out, "  not exercised: {rule}");
    }
    let passed = outcome.cases.iter().filter(|c| c.passed()).count();
    let _ = writeln!(
        out,
        "{passed} passed, {} failed",
        outcome.cases.len() - passed
    );
    out
}

fn display(path: &Path, base: &Path) -> String {
    path.strip_prefix(base)
        .unwrap_or(path)
        .display()
        .to_string()
}

fn indent(text: &str, prefix: &str) -> String {
    text.lines()
        .map(|l| format!("{prefix}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A line diff, `-` expected and `+` actual, as reviewers read it.
pub fn diff(expected: &str, actual: &str) -> String {
    let diff = similar::TextDiff::from_lines(expected, actual);
    let mut out = String::new();
    for change in diff.iter_all_changes() {
        let sign = match change.tag() {
            similar::ChangeTag::Delete => "  - ",
            similar::ChangeTag::Insert => "  + ",
            similar::ChangeTag::Equal => "    ",
        };
        out.push_str(sign);
        out.push_str(change.value().trim_end_matches('\n'));
        out.push('\n');
    }
    out.trim_end().to_string()
}

pub fn render_json(outcome: &Outcome, base: &Path) -> String {
    let cases: Vec<serde_json::Value> = outcome
        .cases
        .iter()
        .map(|case| {
            let (status, detail) = match &case.status {
                Status::Pass => ("pass", None),
                Status::Accepted => ("accepted", None),
                Status::Missing => ("missing", None),
                Status::Mismatch { expected } => ("fail", Some(expected.clone())),
                Status::Error(message) => ("error", Some(message.clone())),
            };
            serde_json::json!({
                "fixture": display(&case.fixture, base),
                "status": status,
                "expected": if status == "fail" { detail.clone() } else { None },
                "error": if status == "error" { detail } else { None },
                "actual": case.actual,
                "outcome": case.run.as_ref().map(run::to_json),
                "request": case.request,
            })
        })
        .collect();
    let passed = outcome.cases.iter().filter(|c| c.passed()).count();
    let json = serde_json::json!({
        "fixtures": cases,
        "passed": passed,
        "failed": outcome.cases.len() - passed,
        "secrets": outcome.secrets,
        "coverage": outcome.coverage.iter().map(|(p, r, n)| serde_json::json!({"policy": p, "rule": r, "fixtures": n})).collect::<Vec<_>>(),
    });
    serde_json::to_string_pretty(&json).unwrap_or_default()
}

pub fn render_junit(outcome: &Outcome, base: &Path) -> String {
    let failures = outcome.cases.iter().filter(|c| !c.passed()).count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites tests=\"{}\" failures=\"{failures}\">\n  <testsuite name=\"guardc test\" tests=\"{}\" failures=\"{failures}\">",
        outcome.cases.len(),
        outcome.cases.len()
    );
    for case in &outcome.cases {
        let name = xml(&display(&case.fixture, base));
        let failure = match &case.status {
            Status::Pass | Status::Accepted => None,
            Status::Missing => Some(("no expected verdict".to_string(), case.actual.clone())),
            Status::Mismatch { expected } => {
                Some(("verdict differs".to_string(), diff(expected, &case.actual)))
            }
            Status::Error(message) => Some(("fixture error".to_string(), message.clone())),
        };
        match failure {
            None => {
                let _ = writeln!(out, "    <testcase classname=\"guard\" name=\"{name}\"/>");
            }
            Some((message, detail)) => {
                let _ = writeln!(
                    out,
                    "    <testcase classname=\"guard\" name=\"{name}\">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                    xml(&message),
                    xml(&detail)
                );
            }
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

fn xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
