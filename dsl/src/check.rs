//! Semantic checks over all parsed files together: names, references and the shape of each block.
//!
//! Values (hosts, durations, templates, regexes...) are checked where they are converted, in
//! lower/values.rs and lower/template.rs; this module checks what needs the whole program or a
//! whole block: unique names (policies, rules and judges each unique across all files, as the
//! contract says: verdicts, logs and metrics name a rule by its id alone), judges that exist, one
//! action per rule, required and repeated statements (the fields a judge needs are in
//! keywords.rs).

use std::collections::HashMap;

use crate::ast::{self, PolicyStmt, RuleStmt, Span, Str, Verb};
use crate::diagnostic::{all_of, one_of, Code, Diag};
use crate::keywords::{Block, Statement};
use crate::suggest::closest;

/// Checks the parsed files. `complete` is false when some file had a syntax error: its judges are
/// unknown, so a reference to a judge that is not found is not reported (it may be in that file).
pub(crate) fn check(files: &[&ast::File], complete: bool) -> Vec<Diag> {
    let mut checker = Checker::default();
    for file in files {
        for item in &file.items {
            if let ast::Item::Judge(judge) = item {
                checker.name(Kind::Judge, &judge.name);
                checker.judge_names.push(judge.name.value.as_str());
            }
        }
    }
    for file in files {
        for item in &file.items {
            match item {
                ast::Item::Policy(policy) => checker.policy(policy, complete),
                ast::Item::Judge(judge) => checker.judge(judge),
            }
        }
    }
    checker.diags
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Policy,
    Rule,
    Judge,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Policy => "policy",
            Kind::Rule => "rule",
            Kind::Judge => "judge",
        }
    }
}

/// What one pass over a rule's statements found, for the checks that combine them.
struct RuleFacts {
    /// Each action's head, and whether it denies (else it escalates).
    actions: Vec<(Span, bool)>,
    /// Each `when` line's head, and whether it lists keywords (else regexes).
    whens: Vec<(Span, bool)>,
    excepts: Vec<Span>,
    validate: Option<Span>,
    whole_words: Option<Span>,
    /// `deny keyword` or `deny keyword file` lines.
    has_keywords: bool,
    /// `deny regex` lines.
    has_regex: bool,
}

#[derive(Default)]
struct Checker<'a> {
    diags: Vec<Diag>,
    /// The first definition of each name, per kind.
    seen: HashMap<(Kind, &'a str), Span>,
    judge_names: Vec<&'a str>,
}

impl<'a> Checker<'a> {
    /// Validates a name and records it, reporting a second definition.
    fn name(&mut self, kind: Kind, name: &'a Str) {
        let value = name.value.as_str();
        let word = kind.word();
        if value.trim().is_empty() {
            self.diags.push(
                Diag::new(Code::InvalidName, format!("{word} name is empty"))
                    .at(name.span, "empty name")
                    .help(format!(
                        "give the {word} a name that logs and verdicts can report"
                    )),
            );
        } else if let Some((i, c)) = value.char_indices().find(|(_, c)| c.is_control()) {
            self.diags.push(
                Diag::new(
                    Code::InvalidName,
                    format!(
                        "{word} name `{}` contains a control character",
                        value.escape_debug()
                    ),
                )
                .at(name.span_of(i..i + c.len_utf8()), "control character")
                .help(
                    "names appear in logs, headers and JSON bodies; use printable characters only",
                ),
            );
        }
        match self.seen.get(&(kind, value)) {
            Some(first) => {
                let (code, help) = match kind {
                    Kind::Policy => (
                        Code::DuplicatePolicy,
                        "policy names are unique across all files compiled together",
                    ),
                    Kind::Rule => (
                        Code::DuplicateRule,
                        "rule ids are unique across all policies and files, because verdicts, logs \
                         and metrics report a rule by its id alone",
                    ),
                    Kind::Judge => (
                        Code::DuplicateJudge,
                        "judge names are unique across all files compiled together",
                    ),
                };
                self.diags.push(
                    Diag::new(code, format!("{word} `{value}` is defined twice"))
                        .at(name.span, "defined again here")
                        .also(*first, "first defined here")
                        .help(help),
                );
            }
            None => {
                self.seen.insert((kind, value), name.span);
            }
        }
    }

    fn duplicate(&mut self, what: &str, owner: &str, again: Span, first: Span, help: &str) {
        self.diags.push(
            Diag::new(
                Code::DuplicateStatement,
                format!("duplicate `{what}` in {owner}"),
            )
            .at(again, "again here")
            .also(first, "first here")
            .help(help.to_string()),
        );
    }

    fn policy(&mut self, policy: &'a ast::Policy, complete: bool) {
        self.name(Kind::Policy, &policy.name);
        let owner = format!("policy `{}`", policy.name.value);
        let mut host: Option<Span> = None;
        let mut path: Option<Span> = None;
        let mut mode: Option<Span> = None;
        for stmt in &policy.stmts {
            match stmt {
                PolicyStmt::MatchHost { head, .. } => match host {
                    Some(first) => self.duplicate(
                        "match host",
                        &owner,
                        *head,
                        first,
                        "list every host in one line: `match host \"a.example.com\", \"b.example.com\"`",
                    ),
                    None => host = Some(*head),
                },
                PolicyStmt::MatchPath { head, .. } => match path {
                    Some(first) => self.duplicate(
                        "match path prefix",
                        &owner,
                        *head,
                        first,
                        "a policy has at most one path prefix; use one policy per prefix",
                    ),
                    None => path = Some(*head),
                },
                PolicyStmt::Mode { head, .. } => match mode {
                    Some(first) => self.duplicate(
                        "mode",
                        &owner,
                        *head,
                        first,
                        "a policy has one `mode`; a rule's own `mode` overrides it",
                    ),
                    None => mode = Some(*head),
                },
                PolicyStmt::Rule(rule) => self.rule(rule, complete),
                PolicyStmt::Inject { .. } | PolicyStmt::Remove { .. } => {}
            }
        }
        if host.is_none() {
            self.diags.push(
                Diag::new(
                    Code::MissingMatchHost,
                    format!("policy `{}` has no `match host` line", policy.name.value),
                )
                .at(policy.name.span, "this policy selects no request")
                .help("add the hosts it applies to: `match host \"api.example.com\"`"),
            );
        }
    }

    fn rule(&mut self, rule: &'a ast::Rule, complete: bool) {
        self.name(Kind::Rule, &rule.name);
        let owner = format!("rule `{}`", rule.name.value);
        // Every `deny` line together is one action, every `mask` line another; each `escalate`
        // is one. `true`: an action with patterns (deny or mask).
        let mut actions: Vec<(Span, bool)> = Vec::new();
        let mut verbs: Vec<Verb> = Vec::new();
        let mut with: Option<(Span, bool)> = None;
        let mut restore: Option<Span> = None;
        let mut reason: Option<Span> = None;
        let mut ignore_case: Option<Span> = None;
        let mut normalize_off: Option<Span> = None;
        let mut once: HashMap<&'static str, Span> = HashMap::new();
        let mut whens: Vec<(Span, bool)> = Vec::new();
        let mut excepts: Vec<Span> = Vec::new();
        let mut validate: Option<Span> = None;
        let mut whole_words: Option<Span> = None;
        let has_keywords = rule.stmts.iter().any(|s| {
            matches!(
                s,
                RuleStmt::DenyKeyword { .. } | RuleStmt::DenyKeywordFile { .. }
            )
        });
        let has_regex = rule
            .stmts
            .iter()
            .any(|s| matches!(s, RuleStmt::DenyRegex { .. }));
        for stmt in &rule.stmts {
            let single = match stmt {
                RuleStmt::With { head, .. } => Some(("with", *head)),
                RuleStmt::Restore { head } => Some(("restore", *head)),
                RuleStmt::OnResponse { head } => Some(("on response", *head)),
                RuleStmt::Validate { head, .. } => Some(("validate", *head)),
                RuleStmt::WholeWords { head } => Some(("whole words", *head)),
                RuleStmt::Mode { head, .. } => Some(("mode", *head)),
                _ => None,
            };
            if let Some((what, head)) = single {
                match once.get(what) {
                    Some(first) => {
                        let help = format!("write `{what}` once");
                        self.duplicate(what, &owner, head, *first, &help);
                    }
                    None => {
                        once.insert(what, head);
                    }
                }
            }
            match stmt {
                RuleStmt::When { head, patterns } => {
                    whens.push((*head, matches!(patterns, ast::PatternList::Keywords(_))));
                }
                RuleStmt::Except { head, .. } => excepts.push(*head),
                RuleStmt::Validate { head, .. } => validate = validate.or(Some(*head)),
                RuleStmt::WholeWords { head } => whole_words = whole_words.or(Some(*head)),
                RuleStmt::With { head, text } => {
                    let numbered = is_numbered(&text.value);
                    with = with.or(Some((*head, numbered)));
                }
                RuleStmt::Restore { head } => restore = restore.or(Some(*head)),
                _ => {}
            }
            match stmt {
                s if s.verb().is_some_and(|v| !verbs.contains(&v)) => {
                    verbs.extend(s.verb());
                    actions.push((s.head(), true));
                }
                RuleStmt::Escalate { head, judge } => {
                    actions.push((*head, false));
                    if complete && !self.judge_names.contains(&judge.value.as_str()) {
                        self.unknown_judge(judge);
                    }
                }
                RuleStmt::Reason { head, .. } => match reason {
                    Some(first) => {
                        self.duplicate("reason", &owner, *head, first, "a rule has one `reason`")
                    }
                    None => reason = Some(*head),
                },
                RuleStmt::IgnoreCase { head } => match ignore_case {
                    Some(first) => self.duplicate(
                        "ignore case",
                        &owner,
                        *head,
                        first,
                        "write `ignore case` once",
                    ),
                    None => ignore_case = Some(*head),
                },
                RuleStmt::NormalizeOff { head } => match normalize_off {
                    Some(first) => self.duplicate(
                        "normalize off",
                        &owner,
                        *head,
                        first,
                        "write `normalize off` once",
                    ),
                    None => normalize_off = Some(*head),
                },
                _ => {}
            }
        }
        self.mask_options(rule, &verbs, with, restore, reason);
        self.response_options(rule, &actions, restore);
        if let ([(_, false)], Some(span)) = (actions.as_slice(), reason) {
            self.diags.push(
                Diag::new(
                    Code::ReasonOnEscalate,
                    format!("`reason` is never used in rule `{}`", rule.name.value),
                )
                .at(span, "this rule escalates to a judge")
                .help(
                    "when a judge denies, the client and the logs get the judge's own reason, so \
                     this text is never shown; remove it, or say in the judge's prompt what the \
                     reason should be",
                ),
            );
        }
        match actions.as_slice() {
            [] => self.diags.push(
                Diag::new(
                    Code::RuleWithoutAction,
                    format!("rule `{}` has no action", rule.name.value),
                )
                .at(rule.name.span, "this rule never does anything")
                .help(
                    "add `deny keyword \"...\"`, `deny regex \"...\"` or `escalate judge \"...\"`",
                ),
            ),
            [(first, first_deny), (second, second_deny), ..] => {
                let help = if *first_deny && *second_deny {
                    "a rule either denies or masks what it matches; put the `mask` lines in a \
                     rule of their own"
                } else if *first_deny || *second_deny {
                    "a rule either denies (all its `deny` lines form one action) or escalates to a \
                     judge; put the escalation in a rule of its own"
                } else {
                    "a rule escalates to one judge; write one rule per judge"
                };
                self.diags.push(
                    Diag::new(
                        Code::RuleWithTwoActions,
                        format!("rule `{}` has two actions", rule.name.value),
                    )
                    .at(*second, "second action")
                    .also(*first, "first action")
                    .help(help),
                );
            }
            [(_, false)] if !whens.is_empty() => {}
            [(_, false)] => {
                for (modifier, span) in [
                    ("ignore case", ignore_case),
                    ("normalize off", normalize_off),
                ] {
                    let Some(span) = span else { continue };
                    self.diags.push(
                        Diag::new(
                            Code::ModifierWithoutDeny,
                            format!("`{modifier}` has no effect in rule `{}`", rule.name.value),
                        )
                        .at(span, "this rule escalates; it has no keywords or regexes")
                        .help(format!("`{modifier}` applies to `deny keyword` and `deny regex` lines; remove it")),
                    );
                }
            }
            [(_, true)] => {}
        }
        let facts = RuleFacts {
            actions,
            whens,
            excepts,
            validate,
            whole_words,
            has_keywords,
            has_regex,
        };
        self.v1_modifiers(rule, &facts);
    }

    /// `with` and `restore` (v1) need a `mask` rule, `restore` a `with` that numbers its
    /// values, and a mask's `reason` is never shown.
    fn mask_options(
        &mut self,
        rule: &ast::Rule,
        verbs: &[Verb],
        with: Option<(Span, bool)>,
        restore: Option<Span>,
        reason: Option<Span>,
    ) {
        let name = &rule.name.value;
        let masks = verbs.contains(&Verb::Mask);
        if !masks {
            for (what, span) in [("with", with.map(|w| w.0)), ("restore", restore)] {
                let Some(span) = span else { continue };
                self.diags.push(
                    Diag::new(
                        Code::MaskOptionWithoutMask,
                        format!("`{what}` has no effect in rule `{name}`"),
                    )
                    .at(span, "this rule does not mask")
                    .help(format!(
                        "`{what}` belongs to a rule with `mask keyword` or `mask regex` lines"
                    )),
                );
            }
            return;
        }
        if let (Some(span), Some((with_span, false))) = (restore, with) {
            self.diags.push(
                Diag::new(
                    Code::RestoreWithoutNumber,
                    format!("rule `{name}` restores values its placeholder does not tell apart"),
                )
                .at(with_span, "no `{{ n }}` in this replacement")
                .also(
                    span,
                    "restore needs to know which value each placeholder stands for",
                )
                .help(
                    "put the value's number in the replacement, as in `with \"[PHONE_{{ n }}]\"`, \
                     or drop `with` for the default `[REDACTED_{{ n }}]`",
                ),
            );
        }
        if let (Some(span), false) = (reason, verbs.contains(&Verb::Deny)) {
            self.diags.push(
                Diag::new(
                    Code::ReasonOnMask,
                    format!("`reason` is never used in rule `{name}`"),
                )
                .at(span, "this rule masks and lets the request go on")
                .help("a mask denies nothing, so no client or log is given a reason; remove it"),
            );
        }
    }

    /// `on response` (v1) goes with deny and mask rules; an answer asks no judge, and a mask of
    /// the answer has nothing to put back.
    fn response_options(
        &mut self,
        rule: &ast::Rule,
        actions: &[(Span, bool)],
        restore: Option<Span>,
    ) {
        let Some(on) = rule.stmts.iter().find_map(|s| match s {
            RuleStmt::OnResponse { head } => Some(*head),
            _ => None,
        }) else {
            return;
        };
        let name = &rule.name.value;
        if let Some((escalate, _)) = actions.iter().find(|(_, patterns)| !*patterns) {
            self.diags.push(
                Diag::new(
                    Code::EscalateOnResponse,
                    format!("rule `{name}` escalates on the answer"),
                )
                .at(on, "this rule scans the model's answer")
                .also(*escalate, "a judge is asked about requests only")
                .help("an answer is denied or masked by its own rules; ask the judge about the request in a rule without `on response`"),
            );
        }
        if let Some(span) = restore {
            self.diags.push(
                Diag::new(
                    Code::RestoreOnResponse,
                    format!("`restore` has no effect in rule `{name}`"),
                )
                .at(span, "this rule masks the answer")
                .also(on, "on the answer")
                .help("`restore` puts a request's masked values back into the answer; a mask of the answer itself has nothing to put back, so remove it"),
            );
        }
    }

    /// The v1 statements that only make sense beside a given action or kind of pattern.
    fn v1_modifiers(&mut self, rule: &ast::Rule, facts: &RuleFacts) {
        let RuleFacts {
            actions,
            whens,
            excepts,
            validate,
            whole_words,
            has_keywords,
            has_regex,
        } = facts;
        let (validate, whole_words, has_keywords, has_regex) =
            (*validate, *whole_words, *has_keywords, *has_regex);
        let name = &rule.name.value;
        let denies = actions.iter().any(|(_, deny)| *deny);
        let escalates = actions.iter().any(|(_, deny)| !*deny);
        if !escalates {
            for (span, _) in whens {
                self.diags.push(
                    Diag::new(
                        Code::WhenWithoutEscalate,
                        format!("`when` has no effect in rule `{name}`"),
                    )
                    .at(*span, "this rule does not escalate to a judge")
                    .help(
                        "`when` says when an `escalate judge` rule asks its judge; a deny rule \
                         matches its own `deny` lines, so remove `when` or make the rule escalate",
                    ),
                );
            }
        }
        if !denies {
            for span in excepts {
                self.diags.push(
                    Diag::new(
                        Code::ExceptWithoutDeny,
                        format!("`except` has no effect in rule `{name}`"),
                    )
                    .at(*span, "this rule has no `deny` lines to except from")
                    .help(
                        "`except` spares matches of a rule's `deny keyword` and `deny regex` \
                         lines; for a judge, narrow its `when` instead",
                    ),
                );
            }
        }
        if let (Some(span), false) = (validate, has_regex) {
            let why = if has_keywords {
                "this rule has keywords only; a validator checks what a regex matched"
            } else {
                "this rule has no `deny regex`"
            };
            self.diags.push(
                Diag::new(
                    Code::ValidatorWithoutRegex,
                    format!("`validate` has no effect in rule `{name}`"),
                )
                .at(span, why)
                .help(
                    "add the regex whose matches must pass the check, such as \
                     `deny regex \"[0-9]{13,19}\"` with `validate luhn`",
                ),
            );
        }
        let when_keywords = whens.iter().any(|(_, keywords)| *keywords);
        if let (Some(span), false) = (whole_words, has_keywords || when_keywords) {
            self.diags.push(
                Diag::new(
                    Code::WholeWordsWithoutKeywords,
                    format!("`whole words` has no effect in rule `{name}`"),
                )
                .at(span, "this rule has no keywords")
                .help(
                    "`whole words` applies to `deny keyword` (and `when keyword`) lines; in a \
                     regex, write the boundary into the pattern",
                ),
            );
        }
    }

    fn unknown_judge(&mut self, judge: &Str) {
        let name = judge.value.as_str();
        let help = match closest(name, &self.judge_names) {
            Some(s) => format!("did you mean `{s}`?"),
            None if self.judge_names.is_empty() => {
                format!("define it at the top level of a file: `judge \"{name}\" {{ ... }}`")
            }
            None => {
                let known: Vec<String> =
                    self.judge_names.iter().map(|n| format!("`{n}`")).collect();
                format!("the judges are {}", known.join(", "))
            }
        };
        self.diags.push(
            Diag::new(Code::UnknownJudge, format!("unknown judge `{name}`"))
                .at(judge.span, "no judge has this name")
                .help(help),
        );
    }

    fn judge(&mut self, judge: &'a ast::Judge) {
        let owner = format!("judge `{}`", judge.name.value);
        let mut first: HashMap<&'static str, Span> = HashMap::new();
        for field in &judge.fields {
            let keyword = field.value.keyword();
            match first.get(keyword) {
                Some(span) => {
                    let help = format!("a judge has one `{keyword}`");
                    self.duplicate(keyword, &owner, field.head, *span, &help);
                }
                None => {
                    first.insert(keyword, field.head);
                }
            }
        }
        let field = |s: &Statement| format!("`{}`", s.keyword());
        let missing: Vec<String> = Block::Judge
            .statements()
            .filter(|s| s.required && !first.contains_key(s.keyword()))
            .map(field)
            .collect();
        if !missing.is_empty() {
            let (required, optional): (Vec<&Statement>, Vec<&Statement>) =
                Block::Judge.statements().partition(|s| s.required);
            let required: Vec<String> = required.into_iter().map(field).collect();
            let optional: Vec<String> = optional.into_iter().map(field).collect();
            let verb = if optional.len() == 1 { "is" } else { "are" };
            self.diags.push(
                Diag::new(
                    Code::MissingJudgeField,
                    format!("judge `{}` has no {}", judge.name.value, one_of(&missing)),
                )
                .at(judge.name.span, "incomplete judge")
                .help(format!(
                    "a judge needs {}; {} {verb} optional",
                    all_of(&required),
                    all_of(&optional)
                )),
            );
        }
    }
}

/// Whether a `with` text holds the `{{ n }}` placeholder (spaces inside the braces optional).
fn is_numbered(text: &str) -> bool {
    crate::lower::placeholders(text)
        .iter()
        .any(|p| matches!(p, crate::lower::Placeholder::Closed { inner: "n", .. }))
}
