//! guardc: compile, test, explain and build guard policies. Glue over guard-dsl and guard-engine.

#![allow(
    clippy::indexing_slicing,
    reason = "guardc runs on a developer's machine or in CI, never on the request path: a bad \
              index here is a bug report, not an outage"
)]

mod fixture;
mod manifests;
mod oci;
mod plugin;
mod run;
mod suite;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use guard_dsl::{Compilation, Diagnostics, ErrorFormat};
use guard_engine::{CompileOptions, HeadVerdict, Inspection, Origin, Ruleset};

#[derive(Parser, Debug)]
#[command(
    name = "guardc",
    version,
    about = "Compile, test, explain and build guard policies"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Debug)]
struct PolicyArgs {
    /// How diagnostics are printed.
    #[arg(long, value_enum, default_value_t = ErrorFormatArg::Human, global = true)]
    error_format: ErrorFormatArg,
    /// The most bytes one DFA may take.
    #[arg(long, default_value_t = CompileOptions::default().dfa_size_limit)]
    dfa_size_limit: usize,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check policies and print diagnostics; nothing is written.
    Check {
        /// `.guard` files, or directories of them compiled together.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// Compile policies into a bundle and report its size.
    Compile {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Where to write the bundle.
        #[arg(short, long)]
        output: PathBuf,
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// Run request fixtures (`*.http`) against their expected verdicts (`*.verdict`).
    Test {
        /// `.guard` files and directories (their `.guard` files are compiled together, their
        /// `.http` fixtures found recursively), or `.http` fixtures to run alone.
        #[arg(default_value = ".")]
        paths: Vec<PathBuf>,
        /// Write the actual verdict of every fixture that has none or differs.
        #[arg(long)]
        accept: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = TestFormat::Human)]
        format: TestFormat,
        /// Fail when a rule is exercised by no fixture.
        #[arg(long)]
        require_coverage: bool,
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// Build `DIR/plugin.wasm` with the policies inside, its OCI image layout (`DIR/oci/`) and the
    /// Istio manifests that deploy it (`DIR/manifests.yaml`).
    Build {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// The output directory.
        #[arg(short, long)]
        output: PathBuf,
        #[command(flatten)]
        deploy: manifests::DeployArgs,
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// Show what the guard does with one request fixture: which policy, which rule, where.
    Explain {
        fixture: PathBuf,
        /// Policies to use; by default the `.guard` files of the nearest directory above the
        /// fixture that has any.
        #[arg(short, long = "policy")]
        policies: Vec<PathBuf>,
        #[command(flatten)]
        policy: PolicyArgs,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ErrorFormatArg {
    Human,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum TestFormat {
    Human,
    Json,
    Junit,
}

/// Exit codes: 0 success, 1 a check failed (diagnostics, a fixture), 2 usage or policy errors in
/// `test` (so CI tells "the policy is broken" from "a verdict changed").
fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { paths, policy } => match compile(&paths, &policy) {
            Ok(c) => {
                println!(
                    "ok: {} policies, {} rules, {} judges",
                    c.program.policies.len(),
                    c.rules.len(),
                    c.program.judges.len()
                );
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Command::Compile {
            paths,
            output,
            policy,
        } => match compile(&paths, &policy) {
            Ok(c) => {
                if let Err(err) = std::fs::write(&output, &c.compiled.bytes) {
                    eprintln!("error: cannot write `{}`: {err}", output.display());
                    return ExitCode::FAILURE;
                }
                print!("{}", size_report(&c));
                println!(
                    "wrote {} ({} bytes)",
                    output.display(),
                    c.compiled.bytes.len()
                );
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Command::Test {
            paths,
            accept,
            format,
            require_coverage,
            policy,
        } => test(&paths, accept, format, require_coverage, &policy),
        Command::Explain {
            fixture,
            policies,
            policy,
        } => explain(&fixture, &policies, &policy),
        Command::Build {
            paths,
            output,
            deploy,
            policy,
        } => match compile(&paths, &policy) {
            Ok(c) => build(&c, &output, &deploy),
            Err(code) => code,
        },
    }
}

fn build(c: &Compilation, output: &Path, deploy: &manifests::DeployArgs) -> ExitCode {
    let wasm = match plugin::embed(&c.compiled.bytes) {
        Ok(wasm) => wasm,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    // Read the bundle back out of the module: what ships is what was compiled.
    if !matches!(plugin::embedded_bundle(&wasm), Ok(Some(b)) if b == c.compiled.bytes.as_slice()) {
        eprintln!("error: the bundle read back from plugin.wasm differs from the compiled one");
        return ExitCode::FAILURE;
    }
    let written = std::fs::create_dir_all(output)
        .and_then(|()| std::fs::write(output.join(oci::WASM_FILE), &wasm));
    if let Err(err) = written {
        eprintln!("error: cannot write `{}`: {err}", output.display());
        return ExitCode::FAILURE;
    }
    print!("{}", size_report(c));
    println!(
        "plugin.wasm: {} bytes (filter {} + bundle {})",
        wasm.len(),
        plugin::filter_wasm().len(),
        c.compiled.bytes.len()
    );
    match manifests::write_deployment(output, &wasm, &c.program, deploy) {
        Ok(deployment) => {
            print!("{deployment}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

fn compile(paths: &[PathBuf], args: &PolicyArgs) -> Result<Compilation, ExitCode> {
    let options = CompileOptions {
        dfa_size_limit: args.dfa_size_limit,
    };
    guard_dsl::compile_paths(paths, &options).map_err(|diagnostics| {
        print_diagnostics(&diagnostics, args.error_format);
        ExitCode::FAILURE
    })
}

fn print_diagnostics(diagnostics: &Diagnostics, format: ErrorFormatArg) {
    let format = match format {
        ErrorFormatArg::Human => ErrorFormat::Human,
        ErrorFormatArg::Json => ErrorFormat::Json,
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

fn size_report(c: &Compilation) -> String {
    let mut out = String::new();
    let program = &c.program;
    for group in &c.compiled.groups {
        let policy = program.policies.get(group.policy);
        let rule = policy.and_then(|p| p.rules.get(group.rule));
        let shape = if group.anchored {
            format!(
                "anchored {} bytes (run at candidate positions)",
                group.forward_bytes
            )
        } else {
            format!(
                "forward {} bytes, reverse {} bytes",
                group.forward_bytes, group.reverse_bytes
            )
        };
        out.push_str(&format!(
            "dfa  {}/{}: {} pattern{}, {shape}\n",
            policy.map_or("?", |p| p.name.as_str()),
            rule.map_or("?", |r| r.id.as_str()),
            group.patterns,
            if group.patterns == 1 { "" } else { "s" },
        ));
    }
    for screen in &c.compiled.screens {
        let policy = program.policies.get(screen.policy);
        let how = if screen.dfa_bytes == 0 {
            format!("{} literals in the keyword pass", screen.literals)
        } else {
            format!("a screen DFA of {} bytes", screen.dfa_bytes)
        };
        out.push_str(&format!(
            "screen {} ({} text): {} pattern{} by {how}\n",
            policy.map_or("?", |p| p.name.as_str()),
            if screen.normalized {
                "normalised"
            } else {
                "sent"
            },
            screen.patterns,
            if screen.patterns == 1 { "" } else { "s" },
        ));
    }
    out.push_str(&format!(
        "keywords: {} (Aho-Corasick, built on load)\nbundle: {} bytes\n",
        c.compiled.keywords,
        c.compiled.bytes.len()
    ));
    out
}

fn test(
    paths: &[PathBuf],
    accept: bool,
    format: TestFormat,
    require_coverage: bool,
    args: &PolicyArgs,
) -> ExitCode {
    let policy_paths: Vec<PathBuf> = paths
        .iter()
        .filter(|p| p.extension().is_none_or(|e| e != "http"))
        .cloned()
        .collect();
    if policy_paths.is_empty() {
        eprintln!("error: no policy given; name `.guard` files or directories beside the fixtures");
        return ExitCode::from(2);
    }
    let compilation = match compile(&policy_paths, args) {
        Ok(c) => c,
        Err(_) => return ExitCode::from(2),
    };
    let fixtures = suite::find_fixtures(paths);
    let outcome = match suite::run_suite(&compilation, &fixtures, accept) {
        Ok(outcome) => outcome,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let base = std::env::current_dir().unwrap_or_default();
    let text = match format {
        TestFormat::Human => suite::render_human(&outcome, &base),
        TestFormat::Json => suite::render_json(&outcome, &base),
        TestFormat::Junit => suite::render_junit(&outcome, &base),
    };
    print!("{text}");
    if format == TestFormat::Json {
        println!();
    }
    let failed = outcome.cases.iter().any(|c| !c.passed());
    let uncovered = require_coverage && !suite::unexercised(&outcome).is_empty();
    if uncovered && format == TestFormat::Human {
        eprintln!("error: --require-coverage: some rules are exercised by no fixture");
    }
    if fixtures.is_empty() {
        eprintln!("warning: no fixtures found");
    }
    if failed || uncovered {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The `.guard` files of the nearest directory at or above `start` that has any.
fn nearest_policies(start: &Path) -> Option<PathBuf> {
    let mut dir = start.parent();
    while let Some(d) = dir {
        let probe = if d.as_os_str().is_empty() {
            Path::new(".")
        } else {
            d
        };
        let has_guard = std::fs::read_dir(probe)
            .map(|entries| {
                entries
                    .flatten()
                    .any(|e| e.path().extension().is_some_and(|x| x == "guard"))
            })
            .unwrap_or(false);
        if has_guard {
            return Some(probe.to_path_buf());
        }
        dir = d.parent();
    }
    None
}

fn explain(fixture_path: &Path, policies: &[PathBuf], args: &PolicyArgs) -> ExitCode {
    let policies = if policies.is_empty() {
        match nearest_policies(fixture_path) {
            Some(dir) => vec![dir],
            None => {
                eprintln!(
                    "error: no `.guard` files above `{}`; name them with --policy",
                    fixture_path.display()
                );
                return ExitCode::from(2);
            }
        }
    } else {
        policies.to_vec()
    };
    let compilation = match compile(&policies, args) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let fixture = match fixture::load(fixture_path) {
        Ok(f) => f,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    let ruleset = match Ruleset::from_bytes(&compilation.compiled.bytes) {
        Ok(r) => r,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    let secrets = run::test_secrets(&ruleset);
    println!(
        "request: {} {}{}",
        fixture.method, fixture.authority, fixture.path_and_query
    );
    let policy = match run::check_head(&ruleset, &fixture) {
        HeadVerdict::Untouched => {
            println!("policy: none selects this request; it passes untouched");
            return ExitCode::SUCCESS;
        }
        HeadVerdict::Refuse(denial) => {
            println!(
                "head: refused before the body is read ({} {}): {}",
                denial.status, denial.code, denial.reason
            );
            return ExitCode::SUCCESS;
        }
        HeadVerdict::Selected(policy) => policy,
    };
    println!("policy: {}", ruleset.policy_name(policy));
    let content_type = fixture.header("content-type");
    let content_encoding = fixture.header("content-encoding");
    match ruleset.explain(policy, content_type, content_encoding, &fixture.body) {
        Err(err) => println!("body: cannot be scanned: {err}"),
        Ok(explanation) => {
            let count = |origin: Origin| {
                explanation
                    .segments
                    .iter()
                    .filter(|s| s.origin == origin)
                    .count()
            };
            let envelope = count(Origin::Envelope);
            println!(
                "body: {} with {} text segment{} ({} prompt, {} other fields, {envelope} keys and ids)",
                explanation.format,
                explanation.segments.len(),
                if explanation.segments.len() == 1 { "" } else { "s" },
                count(Origin::Prompt),
                count(Origin::Field),
            );
            // Keys, roles and ids are scanned like the rest; listing them would bury the text.
            for segment in explanation
                .segments
                .iter()
                .filter(|s| s.origin != Origin::Envelope)
            {
                let kind = if segment.origin == Origin::Prompt {
                    ""
                } else {
                    ", field"
                };
                println!(
                    "  {} ({} characters{kind})",
                    segment.path,
                    segment.text.chars().count()
                );
            }
            if explanation.hits.is_empty() {
                println!("deny rules: none matched");
            }
            for (rule, site) in &explanation.hits {
                println!("rule `{rule}` matched: {}", run::describe_site(site));
                if let Some(segment) = explanation.segments.iter().find(|s| s.path == site.segment)
                {
                    print!("{}", excerpt(&segment.text, site.byte_span.clone()));
                }
            }
        }
    }
    if let Inspection::Escalate(escalation) =
        ruleset.inspect_encoded(policy, content_type, content_encoding, &fixture.body)
    {
        if let Ok(Some(call)) = escalation.next_call(&ruleset, &secrets, 0) {
            println!(
                "escalates: rule `{}` asks judge `{}` (cluster `{}`)",
                call.rule, call.judge, call.cluster
            );
        }
    }
    match run::run(&ruleset, &fixture, &secrets) {
        Ok(run) => {
            println!("verdict:");
            print!(
                "{}",
                run::render(&run)
                    .lines()
                    .map(|l| format!("  {l}\n"))
                    .collect::<String>()
            );
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

/// The matched line of a segment with a caret under the match.
fn excerpt(text: &str, span: std::ops::Range<usize>) -> String {
    let line_start = text[..span.start.min(text.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let line_end = text[span.end.min(text.len())..]
        .find('\n')
        .map_or(text.len(), |i| span.end + i);
    let line = &text[line_start..line_end];
    let pad: usize = text[line_start..span.start].chars().map(char_width).sum();
    let width: usize = text[span.start..span.end.min(line_end)]
        .chars()
        .map(char_width)
        .sum();
    format!(
        "    | {line}\n    | {}{}\n",
        " ".repeat(pad),
        "^".repeat(width.max(1))
    )
}

/// Terminal columns of a character: CJK and other wide characters take two.
fn char_width(c: char) -> usize {
    let wide = matches!(c as u32, 0x1100..=0x115F | 0x2E80..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF | 0xFE30..=0xFE4F | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6 | 0x1F300..=0x1FAFF | 0x20000..=0x3FFFD);
    if wide {
        2
    } else {
        1
    }
}
