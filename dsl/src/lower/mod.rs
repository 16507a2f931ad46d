//! Lowering: AST → [`guard_engine::ir::Program`], validating every value on the way, then
//! compiling the program's patterns with [`guard_engine::compile`].
//!
//! Lowering never stops early: a bad value is reported and replaced by a placeholder so the rest
//! of the program is still checked. The program is only compiled when nothing was reported, so a
//! placeholder never reaches a bundle.
//!
//! Lowering does no I/O: the files a policy names were read by `load`, so it is a function of the
//! trees and those texts. Values are checked in `values`, templates parsed in `template`.

mod template;
mod values;
pub(crate) use template::{placeholders, Placeholder};

use std::collections::HashMap;

use guard_engine::ir::{
    Endpoint, HeaderOp, Judge, Mask, MaskPart, Mode, OnError, Patterns, Policy, Program, Rule,
    RuleAction, Template, TemplatePart,
};
use guard_engine::{CompileOptions, Compiled, PatternRef};

use crate::ast::{self, JudgeValue, PolicyStmt, RuleStmt, Span, Str, Verb};
use crate::diagnostic::{Code, Diag};
use crate::load::Loaded;

use template::{secret_uses, template, Context};
use values::{
    blank_keyword, check_cluster, check_deny_regex, check_except_regex, check_header_name,
    check_header_value, check_keyword, check_literal_credential, check_path_prefix, lower_duration,
    lower_endpoint, lower_host, lower_on_error, regex_diag, CredentialSite,
};

/// A program and what lowering remembers about its source.
pub(crate) struct Lowered<'a> {
    pub program: Program,
    /// For each rule in program order: its policy, its id and its `rule` keyword.
    pub rules: Vec<(String, String, Span)>,
    /// `regexes[p][r][x]`: the literal of `program.policies[p].rules[r]`'s regex `x`.
    regexes: Vec<Vec<Vec<&'a Str>>>,
    /// `except_regexes[p][r][x]`: the literal of that rule's `except regex` `x`.
    except_regexes: Vec<Vec<Vec<&'a Str>>>,
    /// Every `{{ secret.NAME }}` of a header value or `api_key`: its name and where it is.
    pub secrets: Vec<(String, Span)>,
    /// `keywords[p][r][k]`: where keyword `k` of that rule's patterns is written (for a keyword
    /// file, its path), for `lint`.
    pub keywords: Vec<Vec<Vec<Span>>>,
}

impl Lowered<'_> {
    /// For `lint`: per policy, per rule, where its keywords and its regexes are written.
    pub fn pattern_spans(&self) -> Vec<Vec<(Vec<Span>, Vec<Span>)>> {
        self.keywords
            .iter()
            .zip(&self.regexes)
            .map(|(keywords, regexes)| {
                keywords
                    .iter()
                    .zip(regexes)
                    .map(|(k, r)| (k.clone(), r.iter().map(|s| s.span).collect()))
                    .collect()
            })
            .collect()
    }
}

/// Lowers the parsed files, in order, with the files they name as `load` read them.
pub(crate) fn lower<'a>(
    files: &[&'a ast::File],
    loaded: &Loaded,
    diags: &mut Vec<Diag>,
) -> Lowered<'a> {
    let mut lowerer = Lowerer {
        diags,
        loaded,
        secrets: Vec::new(),
    };
    let mut judges = Vec::new();
    let mut judge_index: HashMap<&str, u32> = HashMap::new();
    for file in files {
        for item in &file.items {
            if let ast::Item::Judge(judge) = item {
                let index = u32::try_from(judges.len()).unwrap_or(u32::MAX);
                judge_index
                    .entry(judge.name.value.as_str())
                    .or_insert(index);
                judges.push(lowerer.judge(judge));
            }
        }
    }
    let mut lowered = Lowered {
        program: Program {
            policies: Vec::new(),
            judges,
        },
        rules: Vec::new(),
        regexes: Vec::new(),
        except_regexes: Vec::new(),
        secrets: Vec::new(),
        keywords: Vec::new(),
    };
    // Per policy: its name's span and the header names it sets or removes, with their spans.
    let mut header_sites: Vec<(Span, Vec<(String, Span)>)> = Vec::new();
    for file in files {
        for item in &file.items {
            if let ast::Item::Policy(policy) = item {
                let (ir, regexes, except_regexes, keywords) = lowerer.policy(policy, &judge_index);
                header_sites.push((policy.name.span, header_spans(policy)));
                let spans = policy.stmts.iter().filter_map(|s| match s {
                    PolicyStmt::Rule(r) => Some(r.keyword),
                    _ => None,
                });
                for (rule, span) in ir.rules.iter().zip(spans) {
                    lowered.rules.push((ir.name.clone(), rule.id.clone(), span));
                }
                lowered.program.policies.push(ir);
                lowered.regexes.push(regexes);
                lowered.except_regexes.push(except_regexes);
                lowered.keywords.push(keywords);
            }
        }
    }
    conflicting_headers(&lowered.program, &header_sites, lowerer.diags);
    lowered.secrets = lowerer.secrets;
    lowered
}

fn header_spans(policy: &ast::Policy) -> Vec<(String, Span)> {
    policy
        .stmts
        .iter()
        .filter_map(|s| match s {
            PolicyStmt::Inject { name, .. } | PolicyStmt::Remove { name } => {
                Some((name.value.to_ascii_lowercase(), name.span))
            }
            _ => None,
        })
        .collect()
}

/// Every policy that selects a request applies (v1), so two policies that can select the same
/// request must not both set or remove one header: which value would the upstream get? Reported
/// once per pair of policies, at the later one's header, naming a host they share.
fn conflicting_headers(
    program: &Program,
    sites: &[(Span, Vec<(String, Span)>)],
    diags: &mut Vec<Diag>,
) {
    for (j, later) in program.policies.iter().enumerate() {
        for (i, earlier) in program.policies.iter().enumerate().take(j) {
            let (Some((_, earlier_headers)), Some((_, later_headers))) =
                (sites.get(i), sites.get(j))
            else {
                continue;
            };
            let shared = later_headers.iter().find_map(|(name, span)| {
                earlier_headers
                    .iter()
                    .find(|(other, _)| other == name)
                    .map(|(_, first)| (name, *span, *first))
            });
            let Some((name, span, first)) = shared else {
                continue;
            };
            let Some(host) = earlier.shares_requests_with(later) else {
                continue;
            };
            diags.push(
                Diag::new(
                    Code::ConflictingHeaders,
                    format!(
                        "policies `{}` and `{}` both set or remove header `{name}` on `{host}`",
                        earlier.name, later.name
                    ),
                )
                .at(span, format!("policy `{}` changes it here", later.name))
                .also(first, format!("policy `{}` changes it here", earlier.name))
                .help(
                    "every policy that selects a request applies, so one request would get both \
                     changes; keep the header in one of them, or make their hosts or path \
                     prefixes disjoint",
                ),
            );
        }
    }
}

/// Builds the bundle; regex errors the engine finds (a DFA over its budget) point at the regex.
pub(crate) fn compile(
    lowered: &Lowered<'_>,
    options: &CompileOptions,
) -> Result<Compiled, Vec<Diag>> {
    guard_engine::compile(&lowered.program, options).map_err(|errors| {
        errors
            .iter()
            .map(|e| match e.pattern {
                PatternRef::Regex(x) => {
                    let literals = if e.except {
                        &lowered.except_regexes
                    } else {
                        &lowered.regexes
                    };
                    let literal = literals
                        .get(e.policy)
                        .and_then(|rules| rules.get(e.rule))
                        .and_then(|regexes| regexes.get(x as usize));
                    match literal {
                        Some(literal) => regex_diag(literal, &e.error),
                        None => Diag::new(
                            Code::Internal,
                            format!("internal error: {}", e.error.message),
                        ),
                    }
                }
                PatternRef::Keyword(k) => keyword_too_large(lowered, e.policy, e.rule, k, e.except),
            })
            .collect()
    })
}

/// An `ignore case` keyword beyond ASCII folding whose DFA alone passes the budget (keywords may
/// come from files, so the diagnostic points at the rule).
fn keyword_too_large(
    lowered: &Lowered<'_>,
    policy: usize,
    rule: usize,
    keyword: u32,
    except: bool,
) -> Diag {
    let ir_rule = lowered
        .program
        .policies
        .get(policy)
        .and_then(|p| p.rules.get(rule));
    let keyword = ir_rule
        .and_then(|r| r.action.patterns())
        .and_then(|patterns| {
            let keywords = if except {
                &patterns.except.keywords
            } else {
                &patterns.keywords
            };
            keywords.get(keyword as usize)
        });
    let start: usize = lowered
        .program
        .policies
        .iter()
        .take(policy)
        .map(|p| p.rules.len())
        .sum();
    let span = lowered.rules.get(start + rule).map(|(_, _, span)| *span);
    let shown: String = keyword.map_or(String::new(), |k| k.chars().take(40).collect());
    let diag = Diag::new(
        Code::RegexTooLarge,
        format!("keyword `{shown}` is too large to match ignoring case"),
    )
    .help(
        "a keyword with letters beyond ASCII is matched ignoring case by a DFA, and this one \
         passes the DFA budget on its own; shorten it or split it into keywords",
    );
    match span {
        Some(span) => diag.at(span, "in this rule"),
        None => diag,
    }
}

/// A policy, the regex and `except regex` literals of each rule, and where each rule's keywords
/// are written.
type LoweredPolicy<'a> = (Policy, Vec<Vec<&'a Str>>, Vec<Vec<&'a Str>>, Vec<Vec<Span>>);

struct Lowerer<'d> {
    diags: &'d mut Vec<Diag>,
    loaded: &'d Loaded,
    secrets: Vec<(String, Span)>,
}

impl Lowerer<'_> {
    fn report(&mut self, diag: Diag) {
        self.diags.push(diag);
    }

    fn policy<'a>(
        &mut self,
        policy: &'a ast::Policy,
        judges: &HashMap<&str, u32>,
    ) -> LoweredPolicy<'a> {
        let mut ir = Policy {
            name: policy.name.value.clone(),
            hosts: Vec::new(),
            path_prefix: None,
            headers: Vec::new(),
            rules: Vec::new(),
        };
        let mut regexes = Vec::new();
        let mut except_regexes = Vec::new();
        let mut keyword_spans = Vec::new();
        let mut header_names: HashMap<String, Span> = HashMap::new();
        // The policy's `mode` is the default of every rule in it, wherever the line stands.
        let mut policy_mode = Mode::Enforce;
        for stmt in &policy.stmts {
            if let PolicyStmt::Mode { value, .. } = stmt {
                match values::mode(value) {
                    Ok(mode) => policy_mode = mode,
                    Err(d) => self.report(*d),
                }
                break;
            }
        }
        for stmt in &policy.stmts {
            match stmt {
                PolicyStmt::Mode { .. } => {}
                PolicyStmt::MatchHost { hosts, .. } => {
                    for host in hosts {
                        match lower_host(host) {
                            Ok(h) => ir.hosts.push(h),
                            Err(d) => self.report(*d),
                        }
                    }
                }
                PolicyStmt::MatchPath { prefix, .. } => {
                    if let Err(d) = check_path_prefix(prefix) {
                        self.report(*d);
                    }
                    ir.path_prefix.get_or_insert_with(|| prefix.value.clone());
                }
                PolicyStmt::Inject { name, value, .. } => {
                    self.header_name(name, &policy.name.value, &mut header_names);
                    let template = template(value, Context::HeaderValue, self.diags);
                    self.secrets.extend(secret_uses(value));
                    if let Err(d) = check_header_value(value, &template) {
                        self.report(*d);
                    }
                    let site = CredentialSite::Header {
                        name: &name.value,
                        policy: &policy.name.value,
                    };
                    if let Err(d) = check_literal_credential(value, &site) {
                        self.report(*d);
                    }
                    ir.headers.push(HeaderOp::Set {
                        name: name.value.clone(),
                        value: template,
                    });
                }
                PolicyStmt::Remove { name, .. } => {
                    self.header_name(name, &policy.name.value, &mut header_names);
                    ir.headers.push(HeaderOp::Remove {
                        name: name.value.clone(),
                    });
                }
                PolicyStmt::Rule(rule) => {
                    let (r, literals, except_literals, keywords) =
                        self.rule(rule, judges, policy_mode);
                    ir.rules.push(r);
                    keyword_spans.push(keywords);
                    regexes.push(literals);
                    except_regexes.push(except_literals);
                }
            }
        }
        (ir, regexes, except_regexes, keyword_spans)
    }

    fn header_name(&mut self, name: &Str, policy: &str, seen: &mut HashMap<String, Span>) {
        if let Err(d) = check_header_name(name) {
            self.report(*d);
            return;
        }
        let key = name.value.to_ascii_lowercase();
        match seen.get(&key) {
            Some(first) => self.report(
                Diag::new(
                    Code::DuplicateHeader,
                    format!("header `{}` is set or removed twice in policy `{policy}`", name.value),
                )
                .at(name.span, "again here")
                .also(*first, "first here")
                .help("header names are case-insensitive; keep one `inject header` or `remove header` per header"),
            ),
            None => {
                seen.insert(key, name.span);
            }
        }
    }

    fn rule<'a>(
        &mut self,
        rule: &'a ast::Rule,
        judges: &HashMap<&str, u32>,
        policy_mode: Mode,
    ) -> (Rule, Vec<&'a Str>, Vec<&'a Str>, Vec<Span>) {
        let ignore_case = rule
            .stmts
            .iter()
            .any(|s| matches!(s, RuleStmt::IgnoreCase { .. }));
        let mut patterns = Patterns {
            ignore_case,
            skip_normalization: rule
                .stmts
                .iter()
                .any(|s| matches!(s, RuleStmt::NormalizeOff { .. })),
            whole_words: rule
                .stmts
                .iter()
                .any(|s| matches!(s, RuleStmt::WholeWords { .. })),
            on_response: rule
                .stmts
                .iter()
                .any(|s| matches!(s, RuleStmt::OnResponse { .. })),
            ..Patterns::default()
        };
        let mut literals = Vec::new();
        let mut except_literals = Vec::new();
        let mut keyword_spans = Vec::new();
        let mut reason = None;
        let mut escalate = None;
        let mut denies = false;
        let mut masks = false;
        let mut with = None;
        let mut restore = false;
        let mut mode = policy_mode;
        let mut has_when = false;
        for stmt in &rule.stmts {
            match stmt {
                RuleStmt::When { patterns: list, .. } => {
                    has_when = true;
                    // A `when` line holds the same patterns a `deny` line does; which of the two
                    // the rule has decides what its patterns mean (check.rs refuses both).
                    match list {
                        ast::PatternList::Keywords(keywords) => {
                            for keyword in keywords {
                                if let Err(d) = check_keyword(keyword, !patterns.skip_normalization)
                                {
                                    self.report(*d);
                                }
                                patterns.keywords.push(keyword.value.clone());
                                keyword_spans.push(keyword.span);
                            }
                        }
                        ast::PatternList::Regexes(regexes) => {
                            for regex in regexes {
                                if let Err(d) = check_deny_regex(regex, ignore_case) {
                                    self.report(*d);
                                }
                                patterns.regexes.push(regex.value.clone());
                                literals.push(regex);
                            }
                        }
                    }
                }
                RuleStmt::Except { patterns: list, .. } => match list {
                    ast::PatternList::Keywords(keywords) => {
                        for keyword in keywords {
                            if let Err(d) = check_keyword(keyword, !patterns.skip_normalization) {
                                self.report(*d);
                            }
                            patterns.except.keywords.push(keyword.value.clone());
                        }
                    }
                    ast::PatternList::Regexes(regexes) => {
                        for regex in regexes {
                            if let Err(d) = check_except_regex(regex, ignore_case) {
                                self.report(*d);
                            }
                            patterns.except.regexes.push(regex.value.clone());
                            except_literals.push(regex);
                        }
                    }
                },
                RuleStmt::Validate { name, .. } => match values::validator(name) {
                    Ok(v) => {
                        patterns.validator.get_or_insert(v);
                    }
                    Err(d) => self.report(*d),
                },
                RuleStmt::Mode { value, .. } => match values::mode(value) {
                    Ok(m) => mode = m,
                    Err(d) => self.report(*d),
                },
                RuleStmt::WholeWords { .. } => {}
                RuleStmt::With { text, .. } => {
                    with.get_or_insert(text);
                }
                RuleStmt::Restore { .. } => restore = true,
                RuleStmt::OnResponse { .. } => {}
                RuleStmt::DenyKeyword { keywords, verb, .. } => {
                    denies |= *verb == Verb::Deny;
                    masks |= *verb == Verb::Mask;
                    for keyword in keywords {
                        if let Err(d) = check_keyword(keyword, !patterns.skip_normalization) {
                            self.report(*d);
                        }
                        patterns.keywords.push(keyword.value.clone());
                        keyword_spans.push(keyword.span);
                    }
                }
                RuleStmt::DenyKeywordFile { path, verb, .. } => {
                    denies |= *verb == Verb::Deny;
                    masks |= *verb == Verb::Mask;
                    let keywords = self.keyword_file(path, !patterns.skip_normalization);
                    keyword_spans.extend(keywords.iter().map(|_| path.span));
                    patterns.keywords.extend(keywords);
                }
                RuleStmt::DenyRegex { regexes, verb, .. } => {
                    denies |= *verb == Verb::Deny;
                    masks |= *verb == Verb::Mask;
                    for regex in regexes {
                        if let Err(d) = check_deny_regex(regex, ignore_case) {
                            self.report(*d);
                        }
                        patterns.regexes.push(regex.value.clone());
                        literals.push(regex);
                    }
                }
                RuleStmt::Reason { text, .. } => {
                    if reason.is_none() {
                        template(text, Context::Plain("a `reason`"), self.diags);
                        reason = Some(text.value.clone());
                    }
                }
                RuleStmt::Escalate { judge, .. } => {
                    // An unknown judge is reported by check.rs; the placeholder index never
                    // reaches a bundle because nothing is compiled after an error.
                    escalate.get_or_insert(
                        judges
                            .get(judge.value.as_str())
                            .copied()
                            .unwrap_or(u32::MAX),
                    );
                }
                RuleStmt::IgnoreCase { .. } | RuleStmt::NormalizeOff { .. } => {}
            }
        }
        if patterns.on_response {
            self.bounded_for_streams(&patterns, &literals);
        }
        // check.rs refuses a rule with two actions; the lowering picks one.
        let action = match (denies, masks, escalate) {
            (false, false, Some(judge)) => RuleAction::Escalate {
                judge,
                when: has_when.then_some(patterns),
            },
            (false, true, _) => {
                let with = match with {
                    Some(text) => template::mask_replacement(text, self.diags),
                    None if restore => vec![
                        MaskPart::Text("[REDACTED_".into()),
                        MaskPart::Number,
                        MaskPart::Text("]".into()),
                    ],
                    None => vec![MaskPart::Text("[REDACTED]".into())],
                };
                RuleAction::Mask(Mask {
                    patterns,
                    with,
                    restore,
                })
            }
            _ => RuleAction::Deny(patterns),
        };
        let ir = Rule {
            id: rule.name.value.clone(),
            reason,
            mode,
            action,
        };
        (ir, literals, except_literals, keyword_spans)
    }

    /// An `on response` rule's regexes must have a longest match: a streamed answer is held back
    /// until that much text follows, so a pattern without one could hold a stream for ever.
    /// (Keywords always have one.)
    fn bounded_for_streams(&mut self, patterns: &Patterns, regexes: &[&Str]) {
        for regex in regexes {
            let one = Patterns {
                keywords: Vec::new(),
                regexes: vec![regex.value.clone()],
                ..patterns.clone()
            };
            if guard_engine::reach(&one).is_none()
                && check_deny_regex(regex, patterns.ignore_case).is_ok()
            {
                self.report(
                    Diag::new(
                        Code::UnboundedResponsePattern,
                        format!("regex `{}` can match text of any length", regex.value),
                    )
                    .at(regex.span, "no longest match")
                    .help(
                        "an `on response` rule holds back a streamed answer until no match can \
                         still start in it; bound every repetition (`{1,64}` instead of `+` or \
                         `*`, `{3,}` with an upper end)",
                    ),
                );
            }
        }
    }

    /// The keywords of a keyword file `load` read: one per line; blank lines and lines starting
    /// with `#` are skipped and trailing white space (a `\r` from Windows, spaces an editor
    /// left) is trimmed, since no keyword written with it in a file would ever match as meant.
    /// A line that normalisation empties (with `normalized`) is as blank as an empty one.
    fn keyword_file(&mut self, path: &Str, normalized: bool) -> Vec<String> {
        // A file that could not be read has been reported by `load`.
        let Some(file) = self.loaded.keyword_file(path) else {
            return Vec::new();
        };
        let keywords: Vec<String> = file
            .text
            .split('\n')
            .map(str::trim_end)
            .filter(|line| !blank_keyword(line, normalized) && !line.starts_with('#'))
            .map(str::to_string)
            .collect();
        if keywords.is_empty() {
            self.report(
                Diag::new(Code::EmptyKeywordFile, format!("keyword file `{}` has no keywords", path.value))
                    .at(path.span, format!("read `{}`", file.shown))
                    .help("write one keyword per line; blank lines and lines starting with `#` are skipped"),
            );
        }
        keywords
    }

    fn judge(&mut self, judge: &ast::Judge) -> Judge {
        let mut ir = Judge {
            name: judge.name.value.clone(),
            endpoint: Endpoint {
                url: String::new(),
                authority: String::new(),
                host: String::new(),
                port: 0,
                path: "/".into(),
            },
            cluster: String::new(),
            model: String::new(),
            api_key: Template::default(),
            timeout_ms: 0,
            on_error: OnError::Deny,
            prompt: Template::default(),
        };
        let mut cluster = None;
        let mut seen: Vec<&'static str> = Vec::new();
        for field in &judge.fields {
            // A repeated field is reported by check.rs; the first one counts.
            if seen.contains(&field.value.keyword()) {
                continue;
            }
            seen.push(field.value.keyword());
            match &field.value {
                JudgeValue::Endpoint(url) => match lower_endpoint(url) {
                    Ok(endpoint) => ir.endpoint = endpoint,
                    Err(d) => self.report(*d),
                },
                JudgeValue::Cluster(c) => {
                    if let Err(d) = check_cluster(c) {
                        self.report(*d);
                    }
                    cluster = Some(c.value.clone());
                }
                JudgeValue::Model(m) => {
                    template(m, Context::Plain("a `model`"), self.diags);
                    ir.model = m.value.clone();
                }
                JudgeValue::ApiKey(key) => {
                    ir.api_key = template(key, Context::ApiKey, self.diags);
                    self.secrets.extend(secret_uses(key));
                    let site = CredentialSite::ApiKey {
                        judge: &judge.name.value,
                    };
                    if let Err(d) = check_literal_credential(key, &site) {
                        self.report(*d);
                    }
                }
                JudgeValue::Timeout(word) => match lower_duration(word) {
                    Ok(ms) => ir.timeout_ms = ms,
                    Err(d) => self.report(*d),
                },
                JudgeValue::OnError(word) => match lower_on_error(word) {
                    Ok(on_error) => ir.on_error = on_error,
                    Err(d) => self.report(*d),
                },
                JudgeValue::Prompt(p) => {
                    let before = self.diags.len();
                    ir.prompt = template(p, Context::Prompt, self.diags);
                    let has_content = ir.prompt.parts.contains(&TemplatePart::Content);
                    // A prompt whose placeholders are already reported may have meant `content`.
                    if !has_content && self.diags.len() == before {
                        self.report(
                            Diag::new(
                                Code::PromptWithoutContent,
                                format!("the prompt of judge `{}` never uses `{{{{ content }}}}`", judge.name.value),
                            )
                            .at(field.head, "the judge would never see the text")
                            .help("put `{{ content }}` where the scanned text goes, between two `{{ fence }}` lines"),
                        );
                    }
                }
            }
        }
        ir.cluster = cluster.unwrap_or_else(|| ir.endpoint.istio_cluster());
        ir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A keyword the compiler cannot build is an error, never a rule that quietly lost it.
    #[test]
    fn a_keyword_too_large_to_fold_is_reported_not_dropped() {
        let source = "policy \"p\" {\n    match host \"a.example\"\n    rule \"r\" {\n        deny keyword \"straße\"\n        ignore case\n    }\n}\n";
        let options = CompileOptions {
            dfa_size_limit: 64,
            ..CompileOptions::default()
        };
        let result = crate::compile_sources(&[("p.guard".to_owned(), source.to_owned())], &options);
        let Err(diagnostics) = result else {
            panic!("compiled with a keyword its DFA could not hold");
        };
        assert_eq!(diagnostics.codes(), [Code::RegexTooLarge]);
        let rendered = diagnostics.render(crate::ErrorFormat::Human);
        assert!(rendered.contains("keyword `straße`"), "{rendered}");
    }

    fn header_codes(name: &str, value: &str) -> Vec<Code> {
        let source = format!(
            "policy \"p\" {{\n    match host \"a.example\"\n    inject header \"{name}\" = \"{value}\"\n}}\n"
        );
        match crate::compile_sources(
            &[("p.guard".to_owned(), source)],
            &CompileOptions::default(),
        ) {
            Ok(_) => Vec::new(),
            Err(d) => d.codes(),
        }
    }

    /// Secrets and templates are fine; a literal token after the scheme, a long token-like run
    /// in `Authorization`, and any literal text in the API-key headers are not.
    #[test]
    fn literal_credentials_in_headers() {
        let secret = "{{ secret.key }}";
        for (name, value) in [
            ("Authorization", format!("Bearer {secret}")),
            ("authorization", format!("Basic {secret}")),
            ("Authorization", secret.to_owned()),
            ("Authorization", "Bearer".to_owned()),
            ("X-Api-Key", secret.to_owned()),
            ("x-team", "abcdefghijklmnopqrstuvwxyz".to_owned()),
        ] {
            assert_eq!(header_codes(name, &value), [], "{name}: {value}");
        }
        for (name, value) in [
            ("Authorization", "Bearer sk-1".to_owned()),
            ("Authorization", "basic dXNlcjpwYXNz".to_owned()),
            ("Authorization", "Token abcdefghijklmnop".to_owned()),
            ("Authorization", format!("Bearer {secret} 0123456789abcdef")),
            ("x-api-key", "k".to_owned()),
            ("API-Key", format!("{secret}-suffix")),
        ] {
            assert_eq!(
                header_codes(name, &value),
                [Code::LiteralCredential],
                "{name}: {value}"
            );
        }
    }

    /// A keyword-file line with trailing white space (spaces, a tab, a `\r`) is the keyword
    /// without it; kept, it would only match text that has the same spaces after the word.
    #[test]
    fn keyword_file_lines_are_trimmed_at_the_end() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/dsl/ok");
        let source = "policy \"p\" {\n    match host \"a.example\"\n    rule \"r\" {\n        deny keyword file \"keywords/trailing_spaces.txt\"\n    }\n}\n";
        let name = format!("{dir}/trailing.guard");
        let compilation =
            crate::compile_sources(&[(name, source.to_owned())], &CompileOptions::default())
                .unwrap_or_else(|d| panic!("{}", d.render(crate::ErrorFormat::Human)));
        let patterns = compilation
            .program
            .policies
            .first()
            .and_then(|p| p.rules.first())
            .and_then(|r| r.action.patterns());
        let keywords = patterns.map(|p| p.keywords.clone()).unwrap_or_default();
        assert_eq!(keywords, ["Project Atlas", "nightingale"]);
    }
}
