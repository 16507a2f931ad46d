//! Regex lowering: a rule's patterns as its DFAs search them.
//!
//! Patterns are parsed with the rule's flags, keywords that ASCII folding cannot case-fold join
//! the DFA inputs, and a rule that searches the normalised text has its patterns rewritten to
//! read the scanner's mark (see [`with_marks`]).

use std::ops::Range;

use regex_syntax::hir::{Capture, Class, ClassBytes, ClassBytesRange, Hir, HirKind, Repetition};

use super::groups::GroupError;
use super::{check_regex, index, RegexError, RegexErrorKind};
use crate::ir::Patterns;
use crate::wire::PatternRef;

pub(super) fn syntax_error(pattern: &str, err: &regex_syntax::Error) -> RegexError {
    use regex_syntax::ast::ErrorKind as Ast;
    let (span, message, kind) = match err {
        regex_syntax::Error::Parse(e) => {
            let kind = match e.kind() {
                Ast::UnsupportedLookAround | Ast::UnsupportedBackreference => {
                    RegexErrorKind::Unsupported
                }
                _ => RegexErrorKind::Syntax,
            };
            (e.span(), e.kind().to_string(), kind)
        }
        regex_syntax::Error::Translate(e) => {
            (e.span(), e.kind().to_string(), RegexErrorKind::Syntax)
        }
        _ => {
            return RegexError {
                kind: RegexErrorKind::Syntax,
                span: None,
                message: err.to_string(),
            }
        }
    };
    let range = span.start.offset..span.end.offset;
    RegexError {
        kind,
        span: (range.end <= pattern.len()).then_some(range),
        message,
    }
}

/// The first `\b`/`\B` (or `\b{start}`...) in the pattern, for pointing at it.
pub(super) fn word_boundary_span(pattern: &str) -> Option<Range<usize>> {
    let bytes = pattern.as_bytes();
    let mut i = 0;
    while i + 1 < bytes.len() {
        match (bytes.get(i), bytes.get(i + 1)) {
            (Some(b'\\'), Some(b'b' | b'B')) => return Some(i..i + 2),
            (Some(b'\\'), _) => i += 2,
            _ => i += 1,
        }
    }
    None
}

/// The patterns of a rule that its DFAs search, with where each came from: its regexes that
/// a DFA can run, and its keywords that ASCII folding cannot case-fold (aho-corasick folds ASCII
/// only; a keyword with cased non-ASCII letters goes into the rule's DFA, where Unicode simple
/// case folding applies).
pub(super) fn dfa_inputs(patterns: &Patterns) -> Vec<(String, PatternRef)> {
    inputs_of(&patterns.keywords, &patterns.regexes, patterns)
}

/// The patterns of a rule's exceptions that their DFAs search, chosen as [`dfa_inputs`] chooses
/// the rule's own (same `ignore case`, same view); their references index the `except` lists.
pub(super) fn except_dfa_inputs(patterns: &Patterns) -> Vec<(String, PatternRef)> {
    inputs_of(
        &patterns.except.keywords,
        &patterns.except.regexes,
        patterns,
    )
}

fn inputs_of(
    keywords: &[String],
    regexes: &[String],
    flags: &Patterns,
) -> Vec<(String, PatternRef)> {
    let mut inputs = Vec::new();
    for (k, keyword) in keywords.iter().enumerate() {
        if flags.ignore_case && !ascii_folding_suffices(keyword) {
            let pattern = if flags.skip_normalization {
                regex_syntax::escape(keyword)
            } else {
                // A space of a normalised keyword matches any run of separators, as in the
                // keyword automaton's pass (see `scan`): `\s+`, which matches marks too.
                crate::normalize::normalize_keyword(keyword)
                    .split(' ')
                    .map(regex_syntax::escape)
                    .collect::<Vec<_>>()
                    .join(r"\s+")
            };
            inputs.push((pattern, PatternRef::Keyword(index(k))));
        }
    }
    for (x, regex) in regexes.iter().enumerate() {
        if check_regex(regex, flags.ignore_case).is_ok() {
            inputs.push((regex.clone(), PatternRef::Regex(index(x))));
        }
    }
    inputs
}

/// True when ASCII case folding finds every case variant of the keyword.
pub(super) fn ascii_folding_suffices(keyword: &str) -> bool {
    keyword.chars().all(|c| {
        c.is_ascii()
            || (c.to_lowercase().eq(std::iter::once(c)) && c.to_uppercase().eq(std::iter::once(c)))
    })
}

/// How a rule's patterns are compiled.
#[derive(Debug, Clone, Copy)]
pub(super) struct Flags {
    pub(super) ignore_case: bool,
    /// The rule searches the normalised text, where the scanner writes [`crate::scan::MARK`]
    /// for removed characters (see [`with_marks`]).
    marked: bool,
}

impl Flags {
    pub(super) fn of(patterns: &Patterns) -> Flags {
        Flags {
            ignore_case: patterns.ignore_case,
            marked: !patterns.skip_normalization,
        }
    }
}

pub(super) fn parse(pattern: &str, ignore_case: bool) -> Result<Hir, GroupError> {
    regex_syntax::ParserBuilder::new()
        .case_insensitive(ignore_case)
        .build()
        .parse(pattern)
        .map_err(|e| GroupError::Other(e.to_string()))
}

/// The patterns as the rule's DFAs search them.
pub(super) fn dfa_hirs(
    inputs: &[(String, PatternRef)],
    flags: Flags,
) -> Result<Vec<Hir>, GroupError> {
    inputs
        .iter()
        .map(|(pattern, _)| {
            let hir = parse(pattern, flags.ignore_case)?;
            Ok(if flags.marked { with_marks(&hir) } else { hir })
        })
        .collect()
}

/// The byte class of the scanner's mark alone.
fn mark() -> Hir {
    let mark = crate::scan::MARK;
    Hir::class(Class::Bytes(ClassBytes::new([ClassBytesRange::new(
        mark, mark,
    )])))
}

/// A pattern rewritten for the marked normalised text, in which the scanner writes the byte
/// [`crate::scan::MARK`] (never part of UTF-8) where normalisation removed a run of invisible
/// characters between two characters. A mark may be nothing (`acc` U+200B `ount` is still
/// `account`) or a separator between words (`account` U+200B `number` matches
/// `account\s+number`), and only the context in the pattern can tell which: so any number of
/// marks may follow every character, class and assertion of the pattern, and every class that
/// matches a space (a literal space, `\s`, `.`, `[^a-z]`) also matches a mark. On text without
/// marks (almost all text) the rewritten pattern matches exactly what the pattern does; on
/// text with marks it matches wherever the pattern matches the text with its marks removed,
/// and also where a mark stands for a space.
fn with_marks(hir: &Hir) -> Hir {
    let marks = || {
        Hir::repetition(Repetition {
            min: 0,
            max: None,
            greedy: true,
            sub: Box::new(mark()),
        })
    };
    match hir.kind() {
        HirKind::Empty => hir.clone(),
        HirKind::Literal(literal) => {
            let mut parts = Vec::new();
            match std::str::from_utf8(&literal.0) {
                Ok(text) => {
                    for c in text.chars() {
                        parts.push(if c == ' ' {
                            Hir::alternation(vec![Hir::literal(*b" "), mark()])
                        } else {
                            Hir::literal(c.encode_utf8(&mut [0; 4]).as_bytes())
                        });
                        parts.push(marks());
                    }
                }
                Err(_) => {
                    for &byte in literal.0.iter() {
                        parts.push(if byte == b' ' {
                            Hir::alternation(vec![Hir::literal(*b" "), mark()])
                        } else {
                            Hir::literal([byte])
                        });
                        parts.push(marks());
                    }
                }
            }
            Hir::concat(parts)
        }
        HirKind::Class(class) => {
            let atom = match class {
                Class::Unicode(unicode) if unicode.contains_space() => {
                    Hir::alternation(vec![hir.clone(), mark()])
                }
                Class::Bytes(bytes) if bytes.contains_space() => {
                    let mut bytes = bytes.clone();
                    bytes.push(ClassBytesRange::new(crate::scan::MARK, crate::scan::MARK));
                    Hir::class(Class::Bytes(bytes))
                }
                _ => hir.clone(),
            };
            Hir::concat(vec![atom, marks()])
        }
        HirKind::Look(_) => Hir::concat(vec![hir.clone(), marks()]),
        HirKind::Repetition(rep) => Hir::repetition(Repetition {
            sub: Box::new(with_marks(&rep.sub)),
            ..rep.clone()
        }),
        HirKind::Capture(capture) => Hir::capture(Capture {
            sub: Box::new(with_marks(&capture.sub)),
            ..capture.clone()
        }),
        HirKind::Concat(subs) => Hir::concat(subs.iter().map(with_marks).collect()),
        HirKind::Alternation(subs) => Hir::alternation(subs.iter().map(with_marks).collect()),
    }
}

/// Whether a class matches U+0020.
trait ContainsSpace {
    fn contains_space(&self) -> bool;
}

impl ContainsSpace for regex_syntax::hir::ClassUnicode {
    fn contains_space(&self) -> bool {
        self.ranges()
            .iter()
            .any(|r| r.start() <= ' ' && ' ' <= r.end())
    }
}

impl ContainsSpace for ClassBytes {
    fn contains_space(&self) -> bool {
        self.ranges()
            .iter()
            .any(|r| r.start() <= b' ' && b' ' <= r.end())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_folding_is_enough_for_cjk_but_not_cyrillic() {
        assert!(ascii_folding_suffices("账号 Account"));
        assert!(!ascii_folding_suffices("пароль"));
    }
}
