//! `guardc test`: every fixture against its expected verdict, with coverage.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use guard_dsl::Compilation;
use guard_engine::{MatchedPattern, Ruleset, Secrets};

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
    /// No `.verdict` file yet (and no `@expect` line in the fixture).
    Missing,
    /// `@expect` lines the verdict does not satisfy, each as written.
    Unmet {
        unmet: Vec<String>,
    },
    /// The fixture could not be read or run.
    Error(String),
    /// `--accept` wrote the verdict; `previous` is the one it replaced, if there was one.
    Accepted {
        previous: Option<String>,
    },
}

#[derive(Debug)]
pub struct Case {
    pub fixture: PathBuf,
    pub status: Status,
    pub actual: String,
    pub run: Option<Run>,
    pub request: Option<serde_json::Value>,
    /// What the reader should know that is no failure (an `https://` URL).
    pub notes: Vec<String>,
}

impl Case {
    pub fn passed(&self) -> bool {
        matches!(self.status, Status::Pass | Status::Accepted { .. })
    }
}

/// What `--require-coverage` requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, clap::ValueEnum)]
pub enum Require {
    /// Coverage is reported, never a failure.
    #[default]
    #[value(skip)]
    Nothing,
    /// Every rule is exercised by some fixture.
    Rules,
    /// Every rule is exercised, and every keyword and regex of every rule matched in some
    /// fixture.
    Patterns,
}

/// A rule or pattern no fixture covers, when `--require-coverage` requires it.
#[derive(Debug, Clone)]
pub struct CoverageFailure {
    /// `policy/rule`.
    pub rule: String,
    /// `keyword "K"` or `regex "R"`, for a pattern.
    pub pattern: Option<String>,
    pub message: String,
}

/// One keyword or regex of a rule, with how many fixtures it matched in.
#[derive(Debug, Clone)]
pub struct PatternCoverage {
    pub policy: String,
    pub rule: String,
    pub pattern: MatchedPattern,
    pub fixtures: usize,
}

#[derive(Debug)]
pub struct Outcome {
    pub cases: Vec<Case>,
    /// Names of the secrets the policies need (their test values are `<secret:NAME>`).
    pub secrets: Vec<String>,
    /// Every rule, with how many fixtures exercised it.
    pub coverage: Vec<(String, String, usize)>,
    /// Every pattern of every rule (deny and mask patterns, escalations' `when`), in rule order.
    pub patterns: Vec<PatternCoverage>,
    /// `--require-coverage`: what is a failure when no fixture covers it, in every format.
    pub require: Require,
}

impl Outcome {
    /// What fails the run for coverage: the unexercised rules when coverage is required, and the
    /// unmatched patterns when pattern coverage is.
    pub fn coverage_failures(&self) -> Vec<CoverageFailure> {
        let mut failures = Vec::new();
        if self.require >= Require::Rules {
            for rule in unexercised(self) {
                failures.push(CoverageFailure {
                    message: format!("rule {rule} is exercised by no fixture"),
                    rule,
                    pattern: None,
                });
            }
        }
        if self.require >= Require::Patterns {
            for p in self.patterns.iter().filter(|p| p.fixtures == 0) {
                let rule = format!("{}/{}", p.policy, p.rule);
                let pattern = describe_pattern(&p.pattern);
                failures.push(CoverageFailure {
                    message: format!("{pattern} of rule {rule} matched in no fixture"),
                    rule,
                    pattern: Some(pattern),
                });
            }
        }
        failures
    }

    /// Whether the run succeeds, exactly when `guardc test` exits 0.
    pub fn ok(&self) -> bool {
        self.cases.iter().all(Case::passed) && self.coverage_failures().is_empty()
    }
}

/// The note an `https://` fixture gets: guard never sees TLS, so the request is run as the plain
/// HTTP the sidecar reads (docs/deploy.md).
pub const HTTPS_NOTE: &str = "https:// URL: the sidecar sees this request as plain HTTP (guard guards the plain HTTP egress the mesh originates TLS for; docs/deploy.md)";

/// The class of a verdict text: `allow`, `deny` (a rule or a judge denied, or the judge was
/// unavailable) or `refuse` (any other denial: a malformed or unsupported request).
pub fn verdict_class(verdict: &str) -> &'static str {
    let field = |key: &str| {
        verdict
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(": "))
    };
    match (field("verdict"), field("code")) {
        (Some("allow"), _) => "allow",
        (
            Some("deny"),
            Some(
                "guard.rule_denied"
                | "guard.answer_denied"
                | "guard.judge_denied"
                | "guard.judge_unavailable",
            ),
        ) => "deny",
        (Some("deny"), _) => "refuse",
        _ => "unknown",
    }
}

pub fn verdict_path(fixture: &Path) -> PathBuf {
    fixture.with_extension("verdict")
}

/// `.verdict` files under the given directories with no `.http` fixture beside them: a renamed
/// or deleted fixture, whose expectation would otherwise be silently unchecked.
pub fn find_orphan_verdicts(paths: &[PathBuf]) -> Vec<PathBuf> {
    if paths.iter().any(|p| has_ext(p, "http")) {
        return Vec::new();
    }
    let mut found = BTreeSet::new();
    for path in paths {
        let dir = if path.is_dir() {
            Some(path.as_path())
        } else {
            path.parent()
        };
        if let Some(dir) = dir {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            walk(dir, "verdict", &mut found);
        }
    }
    found
        .into_iter()
        .filter(|v| !v.with_extension("http").exists())
        .collect()
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
                    "http",
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

fn walk(dir: &Path, ext: &str, found: &mut BTreeSet<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, ext, found);
        } else if has_ext(&path, ext) {
            found.insert(path);
        }
    }
}

/// `keyword "K"` or `regex "R"`, as verdicts name a pattern.
pub fn describe_pattern(pattern: &MatchedPattern) -> String {
    match pattern {
        MatchedPattern::Keyword(k) => format!("keyword {k:?}"),
        MatchedPattern::Regex(r) => format!("regex {r:?}"),
    }
}

pub fn run_suite(
    compilation: &Compilation,
    fixtures: &[PathBuf],
    orphans: &[PathBuf],
    accept: bool,
    require: Require,
) -> Result<Outcome, String> {
    let ruleset = Ruleset::from_bytes(&compilation.compiled.bytes)
        .map_err(|e| format!("the compiled bundle does not load: {e}"))?;
    let secrets: Secrets = run::test_secrets(&ruleset);
    let mut hits: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut matched: BTreeMap<(String, String, MatchedPattern), usize> = BTreeMap::new();
    let mut cases = Vec::new();
    for path in fixtures {
        let case = run_case(&ruleset, &secrets, path, accept);
        if let Some(run) = &case.run {
            for key in &run.exercised {
                *hits.entry(key.clone()).or_default() += 1;
            }
            for key in &run.matched {
                *matched.entry(key.clone()).or_default() += 1;
            }
        }
        cases.push(case);
    }
    for verdict in orphans {
        cases.push(Case {
            fixture: verdict.clone(),
            status: Status::Error(format!(
                "`{}` has no fixture `{}` beside it; rename or delete the verdict",
                verdict.display(),
                verdict.with_extension("http").display()
            )),
            actual: String::new(),
            run: None,
            request: None,
            notes: Vec::new(),
        });
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
    let mut patterns = Vec::new();
    for policy in &compilation.program.policies {
        for rule in &policy.rules {
            let Some(p) = rule.action.patterns() else {
                continue;
            };
            let all = p
                .keywords
                .iter()
                .map(|k| MatchedPattern::Keyword(k.clone()))
                .chain(p.regexes.iter().map(|r| MatchedPattern::Regex(r.clone())));
            for pattern in all {
                let key = (policy.name.clone(), rule.id.clone(), pattern);
                let fixtures = matched.get(&key).copied().unwrap_or(0);
                let (policy, rule, pattern) = key;
                patterns.push(PatternCoverage {
                    policy,
                    rule,
                    pattern,
                    fixtures,
                });
            }
        }
    }
    let secrets = ruleset
        .required_secrets()
        .into_iter()
        .map(str::to_string)
        .collect();
    Ok(Outcome {
        cases,
        secrets,
        coverage,
        patterns,
        require,
    })
}

fn run_case(ruleset: &Ruleset, secrets: &Secrets, path: &Path, accept: bool) -> Case {
    let error = |message: String| Case {
        fixture: path.to_path_buf(),
        status: Status::Error(message),
        actual: String::new(),
        run: None,
        request: None,
        notes: Vec::new(),
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
    let unmet: Vec<String> = fixture
        .expects
        .iter()
        .filter(|e| !expectation_met(e, &actual))
        .map(|e| format!("line {}: `@expect {e}`", e.line))
        .collect();
    // `@expect` lines are the author's; `--accept` never rewrites them, so an unmet one fails
    // even then. A fixture with them needs no `.verdict`, but one beside it is checked too.
    let status = match expected {
        _ if !unmet.is_empty() => Status::Unmet { unmet },
        None if !fixture.expects.is_empty() => Status::Pass,
        Some(expected) if expected == actual => Status::Pass,
        previous if accept => match std::fs::write(&expected_path, &actual) {
            Ok(()) => Status::Accepted { previous },
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
        notes: if fixture.scheme.eq_ignore_ascii_case("https") {
            vec![HTTPS_NOTE.to_string()]
        } else {
            Vec::new()
        },
    }
}

/// Whether a verdict text satisfies one `@expect` line (see [`fixture::Expectation`]).
pub fn expectation_met(expect: &fixture::Expectation, verdict: &str) -> bool {
    let value = expect.value.as_str();
    let lines = || {
        verdict.lines().filter_map(|l| {
            l.strip_prefix(expect.key.as_str())
                .and_then(|rest| rest.strip_prefix(": "))
        })
    };
    match expect.key.as_str() {
        "class" => verdict_class(verdict) == value,
        // `monitored: rule ID (policy P) ...`, as `run::describe_finding` writes it.
        "monitored" => lines().any(|l| {
            l.strip_prefix("rule ")
                .and_then(|l| l.strip_prefix(value))
                .is_some_and(|l| l.starts_with(" (policy "))
        }),
        // An allowed request lists every selected policy: `policy: pii, openai-key`.
        "policy" => lines().any(|l| l == value || l.split(", ").any(|p| p == value)),
        _ => lines().any(|l| l == value),
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
    if let Some(answer) = &f.answer {
        request["answer"] = serde_json::json!({
            "status": answer.status,
            "content_type": answer.content_type,
            "body_bytes": answer.body,
        });
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

/// Human output: a line per fixture, a diff per mismatch (and per verdict `--accept` wrote),
/// coverage, then `N passed, M failed`.
pub fn render_human(outcome: &Outcome, base: &Path) -> String {
    let mut out = String::new();
    let (mut new, mut changed, mut class_changed) = (0, 0, 0);
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
            Status::Accepted { previous: None } => {
                new += 1;
                writeln!(
                    out,
                    "accepted {name}  new verdict {}\n{}",
                    display(&verdict_path(&case.fixture), base),
                    diff("", &case.actual)
                )
            }
            Status::Accepted {
                previous: Some(previous),
            } => {
                changed += 1;
                let (was, now) = (verdict_class(previous), verdict_class(&case.actual));
                let _ = writeln!(
                    out,
                    "accepted {name}  changed {}\n{}",
                    display(&verdict_path(&case.fixture), base),
                    diff(previous, &case.actual)
                );
                if was != now {
                    class_changed += 1;
                    let _ = writeln!(out, "  CLASS CHANGED {was} -> {now}");
                }
                Ok(())
            }
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
            Status::Unmet { unmet } => writeln!(
                out,
                "FAIL     {name}  the verdict does not meet {}\n{}\n  the verdict:\n{}",
                if unmet.len() == 1 {
                    "an expectation"
                } else {
                    "expectations"
                },
                indent(&unmet.join("\n"), "  unmet "),
                indent(&case.actual, "    ")
            ),
            Status::Error(message) => writeln!(out, "ERROR    {name}  {message}"),
        };
        for note in &case.notes {
            let _ = writeln!(out, "  note: {note}");
        }
    }
    let total = outcome.coverage.len();
    let missing = unexercised(outcome);
    let matched = outcome.patterns.iter().filter(|p| p.fixtures > 0).count();
    let _ = writeln!(
        out,
        "coverage: {} of {total} rules exercised, {matched} of {} patterns matched",
        total - missing.len(),
        outcome.patterns.len()
    );
    for rule in &missing {
        let _ = writeln!(out, "  not exercised: {rule}");
    }
    let _ = write!(out, "{}", unmatched_patterns_human(outcome));
    if new + changed > 0 {
        let _ = writeln!(
            out,
            "accepted {} verdict{} ({new} new, {changed} changed, {class_changed} of them changed class)",
            new + changed,
            if new + changed == 1 { "" } else { "s" }
        );
    }
    let passed = outcome.cases.iter().filter(|c| c.passed()).count();
    let _ = writeln!(
        out,
        "{passed} passed, {} failed",
        outcome.cases.len() - passed
    );
    out
}

/// Per exercised rule with patterns no fixture matched: how many, and the first few of them
/// (`--format json` lists every one).
fn unmatched_patterns_human(outcome: &Outcome) -> String {
    const SHOWN: usize = 5;
    let mut out = String::new();
    // Per rule: where its first pattern stands (to list rules in file order), its unmatched ones.
    let mut by_rule: BTreeMap<(&str, &str), (usize, Vec<&PatternCoverage>)> = BTreeMap::new();
    for (order, p) in outcome.patterns.iter().enumerate() {
        let entry = by_rule
            .entry((p.policy.as_str(), p.rule.as_str()))
            .or_insert((order, Vec::new()));
        if p.fixtures == 0 {
            entry.1.push(p);
        }
    }
    let exercised: BTreeSet<(&str, &str)> = outcome
        .coverage
        .iter()
        .filter(|(_, _, n)| *n > 0)
        .map(|(p, r, _)| (p.as_str(), r.as_str()))
        .collect();
    let mut rules: Vec<_> = by_rule.into_iter().collect();
    rules.sort_by_key(|(_, (order, _))| *order);
    for ((policy, rule), (_, unmatched)) in rules {
        // An unexercised rule is already named above, with all its patterns.
        if unmatched.is_empty() || !exercised.contains(&(policy, rule)) {
            continue;
        }
        let total = outcome
            .patterns
            .iter()
            .filter(|p| p.policy == policy && p.rule == rule)
            .count();
        let shown: Vec<String> = unmatched
            .iter()
            .take(SHOWN)
            .map(|p| describe_pattern(&p.pattern))
            .collect();
        let more = unmatched.len().saturating_sub(SHOWN);
        let _ = writeln!(
            out,
            "  {policy}/{rule}: {} of {total} patterns matched in no fixture: {}{}",
            unmatched.len(),
            shown.join(", "),
            if more > 0 {
                format!(" (and {more} more)")
            } else {
                String::new()
            }
        );
    }
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
    let mut failures = Vec::new();
    let cases: Vec<serde_json::Value> = outcome
        .cases
        .iter()
        .map(|case| {
            let (status, detail) = match &case.status {
                Status::Pass => ("pass", None),
                Status::Accepted { .. } => ("accepted", None),
                Status::Missing => ("missing", None),
                Status::Mismatch { expected } => ("fail", Some(expected.clone())),
                Status::Unmet { unmet } => ("unmet", Some(unmet.join("\n"))),
                Status::Error(message) => ("error", Some(message.clone())),
            };
            let fixture = display(&case.fixture, base);
            if !case.passed() {
                failures.push(serde_json::json!({
                    "kind": "fixture",
                    "fixture": fixture,
                    "status": status,
                    "message": failure_message(case).0,
                }));
            }
            serde_json::json!({
                "fixture": fixture,
                "status": status,
                "expected": if status == "fail" { detail.clone() } else { None },
                "unmet": match &case.status { Status::Unmet { unmet } => unmet.clone(), _ => Vec::new() },
                "error": if status == "error" { detail } else { None },
                "actual": case.actual,
                "outcome": case.run.as_ref().map(run::to_json),
                "request": case.request,
                "notes": case.notes,
            })
        })
        .collect();
    for failure in outcome.coverage_failures() {
        failures.push(serde_json::json!({
            "kind": "coverage",
            "rule": failure.rule,
            "pattern": failure.pattern,
            "message": format!("--require-coverage: {}", failure.message),
        }));
    }
    let passed = outcome.cases.iter().filter(|c| c.passed()).count();
    let json = serde_json::json!({
        "ok": outcome.ok(),
        "fixtures": cases,
        "passed": passed,
        "failed": outcome.cases.len() - passed,
        "failures": failures,
        "secrets": outcome.secrets,
        "coverage": outcome.coverage.iter().map(|(p, r, n)| serde_json::json!({"policy": p, "rule": r, "fixtures": n})).collect::<Vec<_>>(),
        "pattern_coverage": outcome.patterns.iter().map(|p| {
            let (kind, text) = match &p.pattern {
                MatchedPattern::Keyword(k) => ("keyword", k),
                MatchedPattern::Regex(r) => ("regex", r),
            };
            serde_json::json!({"policy": p.policy, "rule": p.rule, "kind": kind, "pattern": text, "fixtures": p.fixtures})
        }).collect::<Vec<_>>(),
        "require_coverage": match outcome.require {
            Require::Nothing => serde_json::Value::Null,
            Require::Rules => "rules".into(),
            Require::Patterns => "patterns".into(),
        },
    });
    serde_json::to_string_pretty(&json).unwrap_or_default()
}

/// A failed case's one-line message and its detail (a diff, the verdict, the error).
fn failure_message(case: &Case) -> (String, String) {
    match &case.status {
        Status::Pass | Status::Accepted { .. } => (String::new(), String::new()),
        Status::Missing => ("no expected verdict".to_string(), case.actual.clone()),
        Status::Mismatch { expected } => {
            ("verdict differs".to_string(), diff(expected, &case.actual))
        }
        Status::Unmet { unmet } => (
            format!("unmet: {}", unmet.join("; ")),
            format!("the verdict:\n{}", case.actual),
        ),
        Status::Error(message) => ("fixture error".to_string(), message.clone()),
    }
}

/// One JUnit test case: a name, and the failure's message and detail when it failed.
struct JunitCase {
    classname: &'static str,
    name: String,
    failure: Option<(String, String)>,
    system_out: Option<String>,
}

pub fn render_junit(outcome: &Outcome, base: &Path) -> String {
    let mut cases: Vec<JunitCase> = outcome
        .cases
        .iter()
        .map(|case| JunitCase {
            classname: "guard",
            name: display(&case.fixture, base),
            failure: (!case.passed()).then(|| failure_message(case)),
            system_out: (!case.notes.is_empty()).then(|| case.notes.join("\n")),
        })
        .collect();
    for failure in outcome.coverage_failures() {
        let message = failure.message;
        cases.push(JunitCase {
            classname: "guard.coverage",
            name: message.clone(),
            failure: Some((
                format!("--require-coverage: {message}"),
                "add a fixture that exercises it".to_string(),
            )),
            system_out: None,
        });
    }
    write_junit(&cases)
}

/// The diagnostics of policies that do not compile, as `--format json` writes them: the run's
/// document with no fixtures and a `diagnostics` array (code, message, file, line, column).
pub fn render_diagnostics_json(diagnostics: &[serde_json::Value]) -> String {
    let diagnostics: Vec<serde_json::Value> = diagnostics
        .iter()
        .map(|d| {
            serde_json::json!({
                "code": d["code"],
                "message": d["message"],
                "help": d["help"],
                "file": d["file"],
                "line": d["line"],
                "column": d["column"],
            })
        })
        .collect();
    let failures: Vec<serde_json::Value> = diagnostics
        .iter()
        .map(|d| serde_json::json!({"kind": "diagnostic", "message": diagnostic_message(d)}))
        .collect();
    let json = serde_json::json!({
        "ok": false,
        "fixtures": [],
        "passed": 0,
        "failed": 0,
        "failures": failures,
        "diagnostics": diagnostics,
        "secrets": [],
        "coverage": [],
    });
    serde_json::to_string_pretty(&json).unwrap_or_default()
}

/// The same as JUnit: one failing test case per diagnostic.
pub fn render_diagnostics_junit(diagnostics: &[serde_json::Value]) -> String {
    let cases: Vec<JunitCase> = diagnostics
        .iter()
        .map(|d| JunitCase {
            classname: "guard.compile",
            name: format!("{} {}", d["code"].as_str().unwrap_or("error"), location(d)),
            failure: Some((
                diagnostic_message(d),
                d["help"].as_str().unwrap_or_default().to_string(),
            )),
            system_out: None,
        })
        .collect();
    write_junit(&cases)
}

fn location(d: &serde_json::Value) -> String {
    let file = d["file"].as_str().unwrap_or("<unknown>");
    match (d["line"].as_u64(), d["column"].as_u64()) {
        (Some(line), Some(column)) => format!("{file}:{line}:{column}"),
        _ => file.to_string(),
    }
}

/// `MESSAGE (FILE:LINE:COL)`.
fn diagnostic_message(d: &serde_json::Value) -> String {
    format!(
        "{} ({})",
        d["message"].as_str().unwrap_or_default(),
        location(d)
    )
}

// JUnit is written by hand rather than with `quick-junit`: the document is one suite of flat
// test cases with a failure message and text, about 30 lines here, while quick-junit brings
// quick-xml, chrono, uuid and indexmap (and their MSRVs) to the build for attributes we do not
// write. The escaping below covers what the format needs, including characters XML 1.0 forbids.
fn write_junit(cases: &[JunitCase]) -> String {
    let failures = cases.iter().filter(|c| c.failure.is_some()).count();
    let tests = cases.len();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites tests=\"{tests}\" failures=\"{failures}\">\n  <testsuite name=\"guardc test\" tests=\"{tests}\" failures=\"{failures}\">",
    );
    for case in cases {
        let name = xml(&case.name);
        let classname = case.classname;
        if case.failure.is_none() && case.system_out.is_none() {
            let _ = writeln!(
                out,
                "    <testcase classname=\"{classname}\" name=\"{name}\"/>"
            );
            continue;
        }
        let _ = writeln!(
            out,
            "    <testcase classname=\"{classname}\" name=\"{name}\">"
        );
        if let Some((message, detail)) = &case.failure {
            let _ = writeln!(
                out,
                "      <failure message=\"{}\">{}</failure>",
                xml(message),
                xml(detail)
            );
        }
        if let Some(text) = &case.system_out {
            let _ = writeln!(out, "      <system-out>{}</system-out>", xml(text));
        }
        out.push_str("    </testcase>\n");
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

fn xml(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '"' => "&quot;".to_string(),
            '\n' | '\t' | '\r' => c.to_string(),
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => '\u{FFFD}'.to_string(),
            c => c.to_string(),
        })
        .collect()
}
