//! `guardc explain`: what the guard does with one request fixture: which policy, which rule,
//! where.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use guard_engine::ir::{Mode, RuleAction};
use guard_engine::{Decision, HeadVerdict, JudgeReply, Origin, Ruleset, Selection};

use super::args::PolicyArgs;
use super::compilation::compile;
use crate::{fixture, run};

/// `guardc explain FIXTURE [--policy PATH]...`.
#[derive(clap::Args, Debug)]
pub struct ExplainArgs {
    pub fixture: PathBuf,
    /// Policies to use; by default the `.guard` files of the nearest directory above the
    /// fixture that has any.
    #[arg(short, long = "policy")]
    pub policies: Vec<PathBuf>,
    #[command(flatten)]
    pub policy: PolicyArgs,
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

/// Success once the explanation is printed; failure on diagnostics; 2 when no policy is found
/// or the fixture cannot be read or run.
pub fn run(args: &ExplainArgs) -> ExitCode {
    let fixture_path = args.fixture.as_path();
    let policies = if args.policies.is_empty() {
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
        args.policies.clone()
    };
    let compilation = match compile(&policies, &args.policy) {
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
    if policy.policies().len() == 1 {
        println!("policy: {}", ruleset.selection_name(&policy));
    } else {
        println!(
            "policies: {} (every policy that selects a request applies)",
            ruleset.selection_name(&policy)
        );
    }
    let content_type = fixture.header("content-type");
    let content_encoding = fixture.header("content-encoding");
    let explained = ruleset.explain(&policy, content_type, content_encoding, &fixture.body);
    let matched: Vec<String> = explained
        .as_ref()
        .map(|e| e.hits.iter().map(|(rule, _)| rule.clone()).collect())
        .unwrap_or_default();
    match explained {
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
                let what = match rule_of(&ruleset, rule) {
                    Some(r) if matches!(r.action, RuleAction::Escalate { .. }) => {
                        format!("rule `{rule}`'s `when` matched")
                    }
                    Some(r) if r.mode == Mode::Monitor => {
                        format!("rule `{rule}` (mode monitor) matched")
                    }
                    _ => format!("rule `{rule}` matched"),
                };
                println!("{what}: {}", run::describe_site(site));
                if let Some(segment) = explanation.segments.iter().find(|s| s.path == site.segment)
                {
                    print!("{}", excerpt(&segment.text, site.byte_span.clone()));
                }
            }
        }
    }
    let decision = ruleset
        .inspect_encoded(&policy, content_type, content_encoding, &fixture.body)
        .decision;
    explain_judges(&ruleset, &policy, &decision, &matched, &secrets);
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
    // A long line is cut to a window around the match, so the match stays in view.
    let before: Vec<(usize, char)> = text[line_start..span.start].char_indices().collect();
    let from = before
        .len()
        .checked_sub(CONTEXT_CHARS)
        .and_then(|i| before.get(i))
        .map_or(line_start, |(i, _)| line_start + i);
    let after_end = text[span.end.min(line_end)..line_end]
        .char_indices()
        .nth(CONTEXT_CHARS)
        .map_or(line_end, |(i, _)| span.end + i);
    let shown = |range: std::ops::Range<usize>| -> (String, usize) {
        let mut out = String::new();
        let mut width = 0;
        for c in text[range].chars() {
            let (piece, w) = visible(c);
            out.push_str(&piece);
            width += w;
        }
        (out, width)
    };
    let (lead, pad) = shown(from..span.start);
    let (matched, width) = shown(span.start..span.end.min(line_end));
    let (tail, _) = shown(span.end.min(line_end)..after_end);
    let open = if from > line_start { "…" } else { "" };
    let close = if after_end < line_end { "…" } else { "" };
    format!(
        "    | {open}{lead}{matched}{tail}{close}\n    | {}{}{}\n",
        " ".repeat(open.chars().count()),
        " ".repeat(pad),
        "^".repeat(width.max(1))
    )
}

/// How many characters of a long line `explain` shows on each side of a match.
const CONTEXT_CHARS: usize = 60;

/// A character as `explain` prints it, and its width: invisible and control characters (the
/// ones evasions hide in) are written as `<U+200B>`, so the author sees what is there.
fn visible(c: char) -> (String, usize) {
    let invisible = c.is_control() && c != '\t'
        || matches!(c as u32, 0x00AD | 0x034F | 0x061C | 0x115F | 0x1160 | 0x17B4 | 0x17B5 | 0x180B..=0x180F | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0x3164 | 0xFE00..=0xFE0F | 0xFEFF | 0xFFA0 | 0xFFF0..=0xFFF8 | 0xE0000..=0xE0FFF);
    if invisible {
        let shown = format!("<U+{:04X}>", c as u32);
        let width = shown.len();
        (shown, width)
    } else {
        (c.to_string(), char_width(c))
    }
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

fn rule_of<'r>(ruleset: &'r Ruleset, id: &str) -> Option<&'r guard_engine::ir::Rule> {
    ruleset
        .program()
        .policies
        .iter()
        .flat_map(|p| p.rules.iter())
        .find(|r| r.id == id)
}

/// Why each escalate rule of the selected policies asks its judge or not, and each question as it
/// would be sent (secrets as `<secret:NAME>`; later judges as if the earlier ones allowed).
fn explain_judges(
    ruleset: &Ruleset,
    selection: &Selection,
    decision: &Decision,
    matched: &[String],
    secrets: &guard_engine::Secrets,
) {
    let escalations = selection
        .policies()
        .iter()
        .filter_map(|&p| ruleset.program().policies.get(p))
        .flat_map(|p| p.rules.iter())
        .filter_map(|r| match &r.action {
            RuleAction::Escalate { judge, when } => Some((r, *judge, when.is_some())),
            RuleAction::Deny(_) | RuleAction::Mask(_) => None,
        });
    for (rule, judge, has_when) in escalations {
        let judge = ruleset
            .program()
            .judges
            .get(judge as usize)
            .map_or("", |j| j.name.as_str());
        let why_not = match decision {
            Decision::Deny(_) => Some("a deny rule decided first"),
            _ if has_when && !matched.contains(&rule.id) => Some("its `when` matched nothing"),
            Decision::Allow => Some("the body has no text to ask about"),
            _ => None,
        };
        if let Some(why) = why_not {
            println!("judge `{judge}` is not asked by rule `{}`: {why}", rule.id);
        }
    }
    let Decision::Escalate(escalation) = decision else {
        return;
    };
    let mut escalation = escalation.clone();
    let allow =
        br#"{"choices":[{"message":{"role":"assistant","content":"{\"result\":\"allow\"}"}}]}"#;
    while let Ok(Some(call)) = escalation.next_call(ruleset, secrets, 0) {
        println!(
            "escalates: rule `{}` asks judge `{}` (cluster `{}`)",
            call.rule, call.judge, call.cluster
        );
        for (name, value) in &call.headers {
            println!("  header: {name}: {value}");
        }
        println!("  question: {}", String::from_utf8_lossy(&call.body));
        let reply = JudgeReply::Response {
            status: 200,
            body: allow,
        };
        if escalation.settle(ruleset, reply).is_some() {
            break;
        }
    }
}
