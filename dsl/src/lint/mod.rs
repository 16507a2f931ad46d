//! Lints: what `guardc lint` reports about policies that compile but likely do not do what was
//! meant. Each lint is a function over the compiled program and the trees it came from; every
//! finding is a warning or a note with a stable code (`diagnostic.rs`), a span and help, and
//! `allow` comments beside the construct silence it (see [`allow`]).
//!
//! - `shadowed_rule` (warning): a rule that can never decide, because an enforced deny rule
//!   always matches first (see [`shadowed_rules`] for exactly when);
//! - `duplicate_pattern` (warning): a pattern written twice where one request meets both;
//! - `unused_judge` (warning): a judge no rule asks;
//! - `case_sensitive_keyword` (note): Latin-letter keywords matched in the case written;
//! - `overlapping_hosts` (note): two policies that both apply to some requests, which is how
//!   v1 composes policies, so a hint only.

mod allow;
mod contain;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use guard_engine::ir::{HostPattern, Mode, Patterns, Policy, Rule, RuleAction};
use guard_engine::CompileOptions;

use crate::ast::{self, PolicyStmt, RuleStmt, Span, Str};
use crate::diagnostic::{all_of, Code, Diag, Diagnostics};
use crate::Compilation;

use contain::Pattern;

/// Compiles `.guard` files as [`crate::compile_paths`] does and lints them: `Err` with the
/// errors when they do not compile, else the warnings and notes (possibly none), sorted by file
/// and position.
pub fn lint_paths(paths: &[PathBuf], options: &CompileOptions) -> Result<Diagnostics, Diagnostics> {
    let compilation = crate::compile_paths(paths, options)?;
    Ok(lint(&compilation))
}

/// The shared budget of product-walk states for one lint run: policies with huge keyword lists
/// are linted in bounded time, and what was not decided is not reported.
const STATE_BUDGET: usize = 2_000_000;

/// The most pattern comparisons by DFA between two rules; past it only keyword strings are
/// compared (a keyword file of thousands of lines against another).
const MAX_DFA_PAIRS: usize = 20_000;

/// A rule with everything the lints read about it.
struct Site<'a> {
    /// Index of its policy in the program.
    p: usize,
    policy: &'a Policy,
    policy_ast: &'a ast::Policy,
    rule: &'a Rule,
    ast: &'a ast::Rule,
    /// Where each keyword and regex of its patterns is written.
    keywords: &'a [Span],
    regexes: &'a [Span],
}

impl<'a> Site<'a> {
    /// The spans an allow comment may stand beside for a finding at `span` in this rule.
    fn anchors(&self, span: Span) -> Vec<Span> {
        let mut anchors = vec![span];
        anchors.extend(
            self.ast
                .stmts
                .iter()
                .map(RuleStmt::head)
                .rfind(|head| head.start <= span.start),
        );
        anchors.push(self.ast.keyword);
        anchors.push(self.policy_ast.name.span);
        anchors
    }

    /// Its patterns as the lints compare them: keywords, then regexes, with where each is.
    fn patterns(&self) -> Vec<(Pattern<'a>, Span)> {
        let Some(patterns) = self.rule.action.patterns() else {
            return Vec::new();
        };
        let flags = |text: &'a str, regex: bool| Pattern {
            text,
            regex,
            ignore_case: patterns.ignore_case,
            normalized: !patterns.skip_normalization,
        };
        let keywords = patterns.keywords.iter().zip(self.keywords);
        let regexes = patterns.regexes.iter().zip(self.regexes);
        keywords
            .map(|(k, span)| (flags(k, false), *span))
            .chain(regexes.map(|(x, span)| (flags(x, true), *span)))
            .collect()
    }
}

/// A lint's diagnostic with the spans an allow comment may stand beside.
struct Finding {
    diag: Diag,
    anchors: Vec<Span>,
}

pub(crate) fn lint(c: &Compilation) -> Diagnostics {
    let items = || c.asts.iter().flat_map(|file| &file.items);
    let policies: Vec<&ast::Policy> = items()
        .filter_map(|item| match item {
            ast::Item::Policy(policy) => Some(policy),
            ast::Item::Judge(_) => None,
        })
        .collect();
    let mut sites = Vec::new();
    for (p, (policy, policy_ast)) in c.program.policies.iter().zip(&policies).enumerate() {
        let rules = policy_ast.stmts.iter().filter_map(|stmt| match stmt {
            PolicyStmt::Rule(rule) => Some(rule),
            _ => None,
        });
        for (r, (rule, ast)) in policy.rules.iter().zip(rules).enumerate() {
            let (keywords, regexes) = c
                .pattern_spans
                .get(p)
                .and_then(|rules| rules.get(r))
                .map_or((&[][..], &[][..]), |(k, x)| (k.as_slice(), x.as_slice()));
            sites.push(Site {
                p,
                policy,
                policy_ast,
                rule,
                ast,
                keywords,
                regexes,
            });
        }
    }

    let mut findings = Vec::new();
    let shadowed = shadowed_rules(&sites, &mut findings);
    duplicate_patterns(&sites, &shadowed, &mut findings);
    unused_judges(items(), &mut findings);
    case_sensitive_keywords(&sites, &mut findings);
    overlapping_hosts(&c.program.policies, &policies, &mut findings);

    let allows = allow::Allows::read(&c.sources);
    let diags = findings
        .into_iter()
        .filter(|f| !allows.allows(f.diag.code, &f.anchors, &c.sources))
        .map(|f| f.diag)
        .collect();
    Diagnostics::new(c.sources.clone(), diags)
}

/// Whether policy `a` selects every request policy `b` selects: each of `b`'s hosts is one of
/// `a`'s, and `a`'s path prefix (if any) is a prefix of `b`'s.
fn selects_all_of(a: &Policy, b: &Policy) -> bool {
    let paths = match (&a.path_prefix, &b.path_prefix) {
        (None, _) => true,
        (Some(pa), Some(pb)) => pb.starts_with(pa.as_str()),
        (Some(_), None) => false,
    };
    paths
        && !b.hosts.is_empty()
        && b.hosts
            .iter()
            .all(|hb| a.hosts.iter().any(|ha| host_covers(ha, hb)))
}

/// Whether every host pattern `b` names, `a` names too.
fn host_covers(a: &HostPattern, b: &HostPattern) -> bool {
    match (a, b) {
        (_, HostPattern::Exact(host)) => a.matches(host),
        // `*.eu.example.com` (stored `.eu.example.com`) is within `*.example.com`.
        (HostPattern::Subdomains(s), HostPattern::Subdomains(t)) => t.ends_with(s.as_str()),
        (HostPattern::Exact(_), HostPattern::Subdomains(_)) => false,
    }
}

/// The deny patterns of an enforced deny rule whose every match counts (no `validate`,
/// `except` or `whole words`): the rules that can shadow another.
fn always_denies(rule: &Rule) -> Option<&Patterns> {
    match &rule.action {
        RuleAction::Deny(patterns) if rule.mode == Mode::Enforce && !patterns.filters_matches() => {
            Some(patterns)
        }
        _ => None,
    }
}

/// `shadowed_rule`: rules that can never decide. A rule B is reported only when this is
/// certain:
///
/// - B is an enforced deny rule, and every request it matches is also matched by earlier
///   enforced deny rules (the earliest enforced deny in file order is the one reported, across
///   every applicable policy), so B is never the verdict; or B escalates with `when`, in either
///   mode, and every request its `when` matches is matched by an enforced deny rule anywhere
///   (denies are decided before any judge is asked), so its judge is never asked. A monitored
///   deny rule is never reported: monitored rules are evaluated and recorded whatever the
///   enforced ones decide.
/// - Each covering rule A applies to every request B applies to (same policy, or A's hosts
///   and path prefix include B's), has no `validate`, `except` or `whole words` (which could
///   refuse the match), and searches the same text as B (`normalize off` or not on both).
/// - Every pattern of B is covered by one pattern of some such A: each text it matches
///   contains a text A's pattern matches (see [`contain`]; undecided counts as not covered).
///
/// B's own `validate`, `except` and `whole words` only narrow what B matches, so they do not
/// matter. Returns the sites reported.
fn shadowed_rules(sites: &[Site<'_>], findings: &mut Vec<Finding>) -> HashSet<usize> {
    let mut budget = STATE_BUDGET;
    let mut earlier_dfas: HashMap<(usize, usize), contain::Compiled> = HashMap::new();
    let mut reported = HashSet::new();
    for (j, b) in sites.iter().enumerate() {
        let (patterns, escalates) = match &b.rule.action {
            RuleAction::Deny(patterns) if b.rule.mode == Mode::Enforce => (patterns, false),
            RuleAction::Escalate {
                when: Some(patterns),
                ..
            } => (patterns, true),
            _ => continue,
        };
        let candidates: Vec<usize> = sites
            .iter()
            .enumerate()
            .filter(|&(i, a)| {
                let order = if escalates { i != j } else { i < j };
                order
                    && always_denies(a.rule)
                        .is_some_and(|pa| pa.skip_normalization == patterns.skip_normalization)
                    && (a.p == b.p || selects_all_of(a.policy, b.policy))
            })
            .map(|(i, _)| i)
            .collect();
        if candidates.is_empty() {
            continue;
        }
        let b_patterns = b.patterns();
        // For each pattern of B: the rule and the pattern that cover it.
        let mut covers: Vec<(Span, usize, Span)> = Vec::new();
        for (pb, b_span) in &b_patterns {
            let mut later = None;
            let mut found = None;
            'candidates: for &i in &candidates {
                let Some(a) = sites.get(i) else { continue };
                let a_patterns = a.patterns();
                for (pa, a_span) in &a_patterns {
                    if !pa.regex && !pb.regex && contain::keyword_contains(pa, pb) {
                        found = Some((i, *a_span));
                        break 'candidates;
                    }
                }
                if a_patterns.len() * b_patterns.len() > MAX_DFA_PAIRS {
                    continue;
                }
                for (m, (pa, a_span)) in a_patterns.iter().enumerate() {
                    let Some(later) = later.get_or_insert_with(|| contain::later_dfa(pb)) else {
                        break 'candidates;
                    };
                    let earlier = earlier_dfas
                        .entry((i, m))
                        .or_insert_with(|| contain::earlier_dfa(pa));
                    let Some(earlier) = earlier else { continue };
                    if contain::contained(later, earlier, &mut budget) == Some(true) {
                        found = Some((i, *a_span));
                        break 'candidates;
                    }
                }
            }
            match found {
                Some((i, a_span)) => covers.push((*b_span, i, a_span)),
                None => break,
            }
        }
        if covers.len() != b_patterns.len() || covers.is_empty() {
            continue;
        }
        reported.insert(j);
        findings.push(shadowed_finding(sites, b, escalates, &covers));
    }
    reported
}

fn shadowed_finding(
    sites: &[Site<'_>],
    b: &Site<'_>,
    escalates: bool,
    covers: &[(Span, usize, Span)],
) -> Finding {
    let mut rules: Vec<&str> = Vec::new();
    for (_, i, _) in covers {
        if let Some(a) = sites.get(*i) {
            if !rules.contains(&a.rule.id.as_str()) {
                rules.push(&a.rule.id);
            }
        }
    }
    let named: Vec<String> = rules.iter().map(|r| format!("`{r}`")).collect();
    let which = all_of(&named);
    let (one, verb) = if named.len() == 1 {
        ("rule", "matches")
    } else {
        ("rules", "match")
    };
    let (message, label, help) = if escalates {
        (
            format!(
                "rule `{}` never asks its judge: enforced deny {one} {which} {verb} every text \
                 its `when` matches",
                b.rule.id
            ),
            "every match of this contains a match of an enforced deny rule",
            "deny rules are decided before any judge is asked, so a request this `when` matches \
             is already denied; delete the rule, or narrow the deny rule"
                .to_string(),
        )
    } else {
        (
            format!(
                "rule `{}` never decides: {one} {which} before it {verb} every request it \
                 matches",
                b.rule.id
            ),
            "every match of this contains a match of an earlier rule",
            format!(
                "the earliest enforced deny in file order is the one reported, so this rule's \
                 verdict and reason never reach a client; delete it, move it before {which}, \
                 or narrow {which}"
            ),
        )
    };
    let (first, _, _) = covers
        .first()
        .copied()
        .unwrap_or((b.ast.keyword, 0, b.ast.keyword));
    let mut diag = Diag::new(Code::ShadowedRule, message)
        .at(first, label)
        .help(help);
    let mut shown: Vec<Span> = Vec::new();
    for (_, _, a_span) in covers {
        if shown.len() < 3 && !shown.contains(a_span) {
            shown.push(*a_span);
            diag = diag.also(*a_span, "always matches first");
        }
    }
    let mut anchors = b.anchors(first);
    anchors.push(b.ast.name.span);
    Finding { diag, anchors }
}

/// Shown in a message: at most 40 characters of a pattern.
fn shown(text: &str) -> String {
    let mut out: String = text.chars().take(40).collect();
    if text.chars().count() > 40 {
        out.push('…');
    }
    out
}

/// `duplicate_pattern`: a keyword (compared as the engine compares it: normalised unless
/// `normalize off`, case-folded under `ignore case`) or a regex (the same string) written twice
/// in one rule, or in two rules with the same flags that can check one request (same policy, or
/// policies that share a host). Rules reported as shadowed are left out: that says more.
fn duplicate_patterns(sites: &[Site<'_>], skip: &HashSet<usize>, findings: &mut Vec<Finding>) {
    // (regex, ignore case, normalised, the text as compared) → where it was seen.
    type Key = (bool, bool, bool, String);
    let mut seen: HashMap<Key, Vec<(usize, Span)>> = HashMap::new();
    for (j, b) in sites.iter().enumerate() {
        for (pattern, span) in b.patterns() {
            let mut key = if pattern.regex || !pattern.normalized {
                pattern.text.to_string()
            } else {
                contain::normalized_keyword(pattern.text)
            };
            if pattern.ignore_case && !pattern.regex {
                key = key.to_lowercase();
            }
            let earlier = seen
                .entry((pattern.regex, pattern.ignore_case, pattern.normalized, key))
                .or_default();
            let first = earlier.iter().copied().find(|&(i, _)| {
                sites.get(i).is_some_and(|a| {
                    i == j || a.p == b.p || a.policy.shares_requests_with(b.policy).is_some()
                })
            });
            earlier.push((j, span));
            let (Some((i, first_span)), false) = (first, skip.contains(&j)) else {
                continue;
            };
            let kind = if pattern.regex { "regex" } else { "keyword" };
            let text = shown(pattern.text);
            let Some(a) = sites.get(i) else { continue };
            let diag = if i == j {
                Diag::new(
                    Code::DuplicatePattern,
                    format!("{kind} `{text}` is written twice in rule `{}`", b.rule.id),
                )
                .at(span, "again here")
                .also(first_span, "first here")
                .help("delete one of them: a pattern matches the same either way")
            } else {
                Diag::new(
                    Code::DuplicatePattern,
                    format!(
                        "{kind} `{text}` of rule `{}` is also in rule `{}`",
                        b.rule.id, a.rule.id
                    ),
                )
                .at(span, "again here")
                .also(first_span, format!("in rule `{}`", a.rule.id))
                .help(
                    "both rules check the requests that reach them both, and only one of them can \
                     be reported for it; keep the pattern in one rule",
                )
            };
            findings.push(Finding {
                diag,
                anchors: b.anchors(span),
            });
        }
    }
}

/// `unused_judge`: a judge no `escalate judge` names.
fn unused_judges<'a>(
    items: impl Iterator<Item = &'a ast::Item> + Clone,
    findings: &mut Vec<Finding>,
) {
    let used: HashSet<&str> = ast::rule_stmts(items.clone())
        .filter_map(|stmt| match stmt {
            RuleStmt::Escalate { judge, .. } => Some(judge.value.as_str()),
            _ => None,
        })
        .collect();
    for item in items {
        let ast::Item::Judge(judge) = item else {
            continue;
        };
        let name = &judge.name.value;
        if used.contains(name.as_str()) {
            continue;
        }
        findings.push(Finding {
            diag: Diag::new(Code::UnusedJudge, format!("judge `{name}` is never asked"))
                .at(judge.name.span, "no rule escalates to it")
                .help(format!(
                    "name it in a rule (`escalate judge \"{name}\"`), or delete it"
                )),
            anchors: vec![judge.name.span],
        });
    }
}

/// A letter of the Latin script with an upper and a lower case.
fn cased_latin(c: char) -> bool {
    let latin = c.is_ascii_alphabetic() || ('\u{C0}'..='\u{24F}').contains(&c);
    latin && (c.is_lowercase() || c.is_uppercase())
}

/// `case_sensitive_keyword`: a rule without `ignore case` whose keywords have Latin letters,
/// which then match only in the case written. One note per rule, at its first such keyword.
fn case_sensitive_keywords(sites: &[Site<'_>], findings: &mut Vec<Finding>) {
    for site in sites {
        let Some(patterns) = site.rule.action.patterns() else {
            continue;
        };
        if patterns.ignore_case {
            continue;
        }
        let first = patterns
            .keywords
            .iter()
            .zip(site.keywords)
            .find(|(k, _)| k.chars().any(cased_latin));
        let Some((keyword, span)) = first else {
            continue;
        };
        let lower = keyword.to_lowercase();
        let other = if lower == *keyword {
            keyword.to_uppercase()
        } else {
            lower
        };
        findings.push(Finding {
            diag: Diag::new(
                Code::CaseSensitiveKeyword,
                format!(
                    "rule `{}` matches its keywords only in the case written",
                    site.rule.id
                ),
            )
            .at(
                *span,
                format!("`{}` does not match `{}`", shown(keyword), shown(&other)),
            )
            .help(
                "add `ignore case` to the rule if the case should not matter, or \
                 `# guardc: allow(case_sensitive_keyword)` above it if it should",
            ),
            anchors: site.anchors(*span),
        });
    }
}

/// The hosts of a policy's `match host` lines with the line's head, in the order lowering read
/// them (so they pair with the IR's hosts).
fn host_strs(policy: &ast::Policy) -> Vec<(&Str, Span)> {
    policy
        .stmts
        .iter()
        .filter_map(|stmt| match stmt {
            PolicyStmt::MatchHost { head, hosts } => Some(hosts.iter().map(move |h| (h, *head))),
            _ => None,
        })
        .flatten()
        .collect()
}

/// `overlapping_hosts`: two policies that can select the same request. In v1 both apply (their
/// rules all check it, their headers are all set), which is how policies compose: a note, once
/// per pair, at the later policy's host.
fn overlapping_hosts(program: &[Policy], asts: &[&ast::Policy], findings: &mut Vec<Finding>) {
    for (j, (later, later_ast)) in program.iter().zip(asts).enumerate() {
        for (earlier, earlier_ast) in program.iter().zip(asts).take(j) {
            let Some(host) = earlier.shares_requests_with(later) else {
                continue;
            };
            let later_hosts = host_strs(later_ast);
            let earlier_hosts = host_strs(earlier_ast);
            let pair = later.hosts.iter().zip(&later_hosts).find_map(|(hb, sb)| {
                earlier
                    .hosts
                    .iter()
                    .zip(&earlier_hosts)
                    .find(|(ha, _)| ha.shared_with(hb).is_some())
                    .map(|(_, sa)| (*sb, *sa))
            });
            let Some(((b_host, b_head), (a_host, _))) = pair else {
                continue;
            };
            let diag = Diag::new(
                Code::OverlappingHosts,
                format!(
                    "policies `{}` and `{}` both apply to requests for `{host}`",
                    earlier.name, later.name
                ),
            )
            .at(b_host.span, format!("policy `{}` selects it", later.name))
            .also(
                a_host.span,
                format!("and so does policy `{}`", earlier.name),
            )
            .help(
                "every policy whose `match` lines hold applies: such a request is checked by the \
                 rules of both and gets the headers of both. That is how policies compose; if one \
                 was meant to replace the other, make their hosts or path prefixes disjoint",
            );
            findings.push(Finding {
                diag,
                anchors: vec![b_host.span, b_head, later_ast.name.span],
            });
        }
    }
}
