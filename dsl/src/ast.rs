//! The syntax tree of one `.guard` file: what the author wrote, with byte spans into its file.
//!
//! Values are decoded (string escapes, triple-quote dedent) but not yet validated: hosts,
//! durations, templates and the like are checked while lowering, so the tree can hold anything
//! the grammar accepts and every problem is reported against these spans.

use std::ops::Range;

use crate::keywords;
use crate::parse::Rule as Grammar;

/// Index of a source file in the order the files were given.
pub(crate) type FileId = usize;

/// A byte range in one source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Span {
    pub file: FileId,
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(file: FileId, range: Range<usize>) -> Span {
        Span {
            file,
            start: range.start,
            end: range.end.max(range.start),
        }
    }

    /// The smallest span covering both (same file assumed).
    pub fn to(self, other: Span) -> Span {
        Span {
            file: self.file,
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

/// A decoded string literal that remembers where each of its bytes came from, so a problem found
/// inside the value (a regex error, a bad template) can be pointed at in the source even when
/// escapes or dedent make the value and the literal differ.
#[derive(Debug, Clone)]
pub(crate) struct Str {
    pub value: String,
    /// The whole literal, quotes included.
    pub span: Span,
    /// Between the quotes.
    pub content: Span,
    /// For each byte of `value`, the source byte range that produced it.
    pub origins: Vec<(usize, usize)>,
}

impl Str {
    /// The source span of a byte range of the decoded value. Out-of-range or empty ranges fall
    /// back to a point (or the content), so a caller can pass an engine's span unchecked.
    pub fn span_of(&self, range: Range<usize>) -> Span {
        let file = self.span.file;
        let start = if range.start >= self.value.len() {
            Some(self.content.end)
        } else {
            self.origins.get(range.start).map(|o| o.0)
        };
        let Some(start) = start else {
            return self.content;
        };
        if range.end <= range.start {
            return Span::new(file, start..start);
        }
        let end = range
            .end
            .checked_sub(1)
            .and_then(|last| self.origins.get(last))
            .map_or(self.content.end, |o| o.1);
        Span::new(file, start..end)
    }
}

/// A bare word (a duration, an `on_error` value, a mode or validator name) with its span.
#[derive(Debug, Clone)]
pub(crate) struct Word {
    pub text: String,
    pub span: Span,
}

/// One parsed file.
#[derive(Debug, Clone)]
pub(crate) struct File {
    pub items: Vec<Item>,
}

#[derive(Debug, Clone)]
pub(crate) enum Item {
    Policy(Policy),
    Judge(Judge),
}

/// Every statement of every rule of the policies among `items`, in file order.
pub(crate) fn rule_stmts<'a>(
    items: impl Iterator<Item = &'a Item>,
) -> impl Iterator<Item = &'a RuleStmt> {
    items
        .filter_map(|item| match item {
            Item::Policy(policy) => Some(policy),
            Item::Judge(_) => None,
        })
        .flat_map(|policy| &policy.stmts)
        .filter_map(|stmt| match stmt {
            PolicyStmt::Rule(rule) => Some(rule),
            _ => None,
        })
        .flat_map(|rule| &rule.stmts)
}

#[derive(Debug, Clone)]
pub(crate) struct Policy {
    pub name: Str,
    pub stmts: Vec<PolicyStmt>,
}

/// A statement, with `head`: the span of its leading keywords (`match host`, `deny keyword file`),
/// which is what a statement-level diagnostic underlines.
#[derive(Debug, Clone)]
pub(crate) enum PolicyStmt {
    MatchHost {
        head: Span,
        hosts: Vec<Str>,
    },
    MatchPath {
        head: Span,
        prefix: Str,
    },
    Inject {
        name: Str,
        value: Str,
    },
    Remove {
        name: Str,
    },
    /// `mode monitor` / `mode enforce` (v1): the default of the policy's rules.
    Mode {
        head: Span,
        value: Word,
    },
    Rule(Rule),
}

#[derive(Debug, Clone)]
pub(crate) struct Rule {
    /// The `rule` keyword.
    pub keyword: Span,
    pub name: Str,
    pub stmts: Vec<RuleStmt>,
}

/// What a rule's pattern lines do: `deny ...` or (v1) `mask ...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verb {
    Deny,
    Mask,
}

/// A rule's statements. The three pattern lines are `deny` or `mask` lines by their `verb`.
#[derive(Debug, Clone)]
pub(crate) enum RuleStmt {
    DenyKeyword {
        head: Span,
        verb: Verb,
        keywords: Vec<Str>,
    },
    DenyKeywordFile {
        head: Span,
        verb: Verb,
        path: Str,
    },
    DenyRegex {
        head: Span,
        verb: Verb,
        regexes: Vec<Str>,
    },
    /// `with "TEXT"` (v1): a mask's replacement.
    With {
        head: Span,
        text: Str,
    },
    /// `restore` (v1).
    Restore {
        head: Span,
    },
    /// `on response` (v1).
    OnResponse {
        head: Span,
    },
    IgnoreCase {
        head: Span,
    },
    /// `normalize off` (a guard addition to the v0 contract).
    NormalizeOff {
        head: Span,
    },
    Reason {
        head: Span,
        text: Str,
    },
    Escalate {
        head: Span,
        judge: Str,
    },
    /// `when keyword ...` / `when regex ...` (v1): an escalation's condition.
    When {
        head: Span,
        patterns: PatternList,
    },
    /// `except keyword ...` / `except regex ...` (v1).
    Except {
        head: Span,
        patterns: PatternList,
    },
    /// `validate NAME` (v1).
    Validate {
        head: Span,
        name: Word,
    },
    /// `whole words` (v1).
    WholeWords {
        head: Span,
    },
    /// `mode monitor` / `mode enforce` (v1), overriding the policy's.
    Mode {
        head: Span,
        value: Word,
    },
}

/// The strings of a `when` or `except` line, by their kind.
#[derive(Debug, Clone)]
pub(crate) enum PatternList {
    Keywords(Vec<Str>),
    Regexes(Vec<Str>),
}

impl RuleStmt {
    pub fn head(&self) -> Span {
        match self {
            RuleStmt::DenyKeyword { head, .. }
            | RuleStmt::DenyKeywordFile { head, .. }
            | RuleStmt::DenyRegex { head, .. }
            | RuleStmt::IgnoreCase { head }
            | RuleStmt::NormalizeOff { head }
            | RuleStmt::Reason { head, .. }
            | RuleStmt::Escalate { head, .. }
            | RuleStmt::When { head, .. }
            | RuleStmt::Except { head, .. }
            | RuleStmt::Validate { head, .. }
            | RuleStmt::WholeWords { head }
            | RuleStmt::With { head, .. }
            | RuleStmt::Restore { head }
            | RuleStmt::OnResponse { head }
            | RuleStmt::Mode { head, .. } => *head,
        }
    }

    /// The verb of a `deny` or `mask` pattern line.
    pub fn verb(&self) -> Option<Verb> {
        match self {
            RuleStmt::DenyKeyword { verb, .. }
            | RuleStmt::DenyKeywordFile { verb, .. }
            | RuleStmt::DenyRegex { verb, .. } => Some(*verb),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Judge {
    pub name: Str,
    pub fields: Vec<JudgeField>,
}

#[derive(Debug, Clone)]
pub(crate) struct JudgeField {
    /// The field's keyword.
    pub head: Span,
    pub value: JudgeValue,
}

#[derive(Debug, Clone)]
pub(crate) enum JudgeValue {
    Endpoint(Str),
    Cluster(Str),
    Model(Str),
    ApiKey(Str),
    Timeout(Word),
    OnError(Word),
    Prompt(Str),
}

impl JudgeValue {
    /// The field's keyword, as the author writes it.
    pub fn keyword(&self) -> &'static str {
        let rule = match self {
            JudgeValue::Endpoint(_) => Grammar::endpoint,
            JudgeValue::Cluster(_) => Grammar::cluster,
            JudgeValue::Model(_) => Grammar::model,
            JudgeValue::ApiKey(_) => Grammar::api_key,
            JudgeValue::Timeout(_) => Grammar::timeout,
            JudgeValue::OnError(_) => Grammar::on_error,
            JudgeValue::Prompt(_) => Grammar::prompt,
        };
        keywords::statement(rule).map_or("", keywords::Statement::keyword)
    }
}
