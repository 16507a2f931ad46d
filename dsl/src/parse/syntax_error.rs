//! Syntax errors: pest's first error in a file → a diagnostic a policy author can act on.
//!
//! pest says where it stopped and which rules it expected there. What it expected is put in words
//! from the keyword tables (`crate::keywords`); the text itself is lexed again to say what is
//! wrong when pest cannot (a string that is never closed, a `{` without its `}`), and a word where
//! a statement should be is named as unknown, misplaced or a likely typo.

use std::borrow::Cow;

use pest::error::{ErrorVariant, InputLocation};

use super::Rule;
use crate::ast::{FileId, Span};
use crate::diagnostic::{all_of, one_of, Code, Diag};
use crate::keywords::{self, Block};
use crate::suggest::closest;

/// What the lexical structure of a file says, independent of the grammar: the first string that
/// is never closed, and the `{`s that are never closed. Used to explain a pest failure.
struct Lexed {
    unterminated: Option<(usize, bool)>,
    open_braces: Vec<usize>,
}

fn lex(text: &str) -> Lexed {
    let bytes = text.as_bytes();
    let mut open_braces = Vec::new();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'#' => {
                while bytes.get(i).is_some_and(|&b| b != b'\n' && b != b'\r') {
                    i += 1;
                }
            }
            b'"' if bytes.get(i..i + 3) == Some(b"\"\"\"".as_slice()) => {
                let close = text.get(i + 3..).and_then(|rest| rest.find("\"\"\""));
                match close {
                    Some(at) => i += 3 + at + 3,
                    None => {
                        return Lexed {
                            unterminated: Some((i, true)),
                            open_braces,
                        }
                    }
                }
            }
            b'"' => {
                let start = i;
                i += 1;
                loop {
                    match bytes.get(i) {
                        Some(b'"') => {
                            i += 1;
                            break;
                        }
                        Some(b'\\') if !matches!(bytes.get(i + 1), Some(b'\n' | b'\r') | None) => {
                            i += 2
                        }
                        Some(b'\n' | b'\r') | None => {
                            return Lexed {
                                unterminated: Some((start, false)),
                                open_braces,
                            }
                        }
                        Some(_) => i += 1,
                    }
                }
            }
            b'{' => {
                open_braces.push(i);
                i += 1;
            }
            b'}' => {
                open_braces.pop();
                i += 1;
            }
            _ => i += 1,
        }
    }
    Lexed {
        unterminated: None,
        open_braces,
    }
}

/// The words a position expects, for "expected ..." messages.
fn expected_words(r: Rule) -> Cow<'static, str> {
    if let Some(block) = Block::of(r) {
        return block.statement_words().into();
    }
    if let Some(word) = keywords::expected_word(r) {
        return format!("`{word}`").into();
    }
    match r {
        Rule::EOI => "the end of the file",
        Rule::string | Rule::string_list | Rule::plain_string | Rule::triple_string => "a string",
        Rule::duration => "a duration such as `250ms`, `3s` or `1m`",
        Rule::on_error_value => "`deny` or `allow`",
        Rule::name_value => "a name such as `monitor` or `luhn`",
        Rule::lbrace => "`{`",
        Rule::rbrace => "`}`",
        Rule::comma => "`,`",
        Rule::eq => "`=`",
        // Keywords, statements and their forms are named above; the rest are never expected as
        // such (`plain_char`, `ident_char`, `WHITESPACE`, `COMMENT`).
        _ => "",
    }
    .into()
}

/// The words of "not allowed here" and "unknown statement" messages, for each block.
impl Block {
    /// The block's statements, for "expected ...": `a statement (`match`, ...)`.
    fn statement_words(self) -> String {
        let hints: Vec<String> = self
            .statements()
            .map(|s| format!("`{}`", s.hint()))
            .collect();
        match self {
            Block::Top => one_of(&hints),
            Block::Policy => format!("a statement ({})", hints.join(", ")),
            Block::Rule => format!("a rule statement ({})", hints.join(", ")),
            Block::Judge => format!("a judge field ({})", hints.join(", ")),
        }
    }

    /// What may come where a statement of this block is expected.
    fn expected(self) -> String {
        match self {
            Block::Top => self.statement_words(),
            _ => format!("{} or `}}`", self.statement_words()),
        }
    }

    fn contents(self) -> String {
        let forms = self.statements().flat_map(|s| s.forms());
        let forms: Vec<String> = match self {
            Block::Top => forms.map(|f| format!("`{f} \"NAME\" {{ ... }}`")).collect(),
            _ => forms.map(|f| format!("`{f}`")).collect(),
        };
        let forms = all_of(&forms);
        match self {
            Block::Top => format!("a file holds {forms} blocks"),
            Block::Policy => format!("a policy holds {forms} statements"),
            Block::Rule => format!("a rule holds {forms} statements"),
            Block::Judge => format!("a judge holds {forms}"),
        }
    }

    fn inside(self) -> &'static str {
        match self {
            Block::Top => "at the top level",
            Block::Policy => "inside a policy",
            Block::Rule => "inside a rule",
            Block::Judge => "inside a judge",
        }
    }

    fn home(self) -> &'static str {
        match self {
            Block::Top => "at the top level of a file",
            Block::Policy => "directly inside a `policy \"NAME\" { ... }` block",
            Block::Rule => "inside a `rule \"ID\" { ... }` block of a policy",
            Block::Judge => "inside a `judge \"NAME\" { ... }` block",
        }
    }
}

/// What the text at `pos` is, for "found ..." messages, and how far it reaches.
fn found_at(text: &str, pos: usize) -> (String, usize) {
    let rest = text.get(pos..).unwrap_or("");
    let Some(c) = rest.chars().next() else {
        return ("the end of the file".into(), 0);
    };
    if c == '"' {
        return ("a string".into(), 1);
    }
    if c.is_ascii_alphanumeric() || c == '_' {
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-'))
            .unwrap_or(rest.len());
        return (format!("`{}`", rest.get(..len).unwrap_or("")), len);
    }
    (format!("`{c}`"), c.len_utf8())
}

fn leading_word(text: &str, pos: usize) -> Option<&str> {
    let rest = text.get(pos..)?;
    let len = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    let word = rest.get(..len)?;
    word.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        .then_some(word)
}

/// Turns pest's first error in a file into a diagnostic a policy author can act on.
pub(crate) fn syntax_error(file: FileId, text: &str, err: &pest::error::Error<Rule>) -> Diag {
    let pos = match err.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let lexed = lex(text);
    if let Some((start, triple)) = lexed.unterminated.filter(|(start, _)| *start <= pos) {
        let end = if triple {
            start + 3
        } else {
            text.get(start..)
                .and_then(|rest| rest.find(['\n', '\r']))
                .map_or(text.len(), |n| start + n)
        };
        let diag = Diag::new(Code::UnterminatedString, "unterminated string")
            .at(Span::new(file, start..end), "this string is never closed");
        return if triple {
            diag.help("close the multi-line string with `\"\"\"`")
        } else {
            diag.help(
                "close the string with `\"` on the same line; for text over several lines use \
                 `\"\"\"...\"\"\"`",
            )
        };
    }

    let positives: Vec<Rule> = match &err.variant {
        ErrorVariant::ParsingError { positives, .. } => positives.clone(),
        ErrorVariant::CustomError { .. } => Vec::new(),
    };
    let mut expected_all: Vec<Cow<'static, str>> = Vec::new();
    for r in &positives {
        let w = expected_words(*r);
        if !w.is_empty() && !expected_all.contains(&w) {
            expected_all.push(w);
        }
    }
    let mut words: Vec<&str> = expected_all.iter().map(|w| w.as_ref()).collect();
    // A list's `,` reads best first: "expected `,`, a statement ... or `}`".
    words.sort_by_key(|w| *w != "`,`");
    let expected = one_of(&words);
    let (found, len) = found_at(text, pos);
    let span = if len == 0 {
        // At the end of the file there is nothing to underline; point just past the last
        // character written instead, which is where something is missing.
        let end = text.trim_end().len();
        let last = text
            .get(..end)
            .and_then(|t| t.chars().next_back())
            .map_or(0, char::len_utf8);
        Span::new(file, end - last..end)
    } else {
        Span::new(file, pos..pos + len)
    };
    let block = positives.iter().find_map(|r| Block::of(*r));

    if let (Some(block), Some(word)) = (block, leading_word(text, pos)) {
        let other = Block::ALL
            .into_iter()
            .find(|b| *b != block && b.words().contains(&word));
        if let Some(home) = other {
            // A statement of keywords only is named whole (`whole words`, not `whole`).
            let statement = home
                .statements()
                .find(|s| s.keyword() == word)
                .map_or_else(|| word.to_string(), |s| s.hint());
            let mut help = format!("`{statement}` belongs {}", home.home());
            if home == Block::Top && block != Block::Top {
                help.push_str("; is a `}` missing before it?");
            }
            return Diag::new(
                Code::MisplacedStatement,
                format!("`{statement}` is not allowed {}", block.inside()),
            )
            .at(span, format!("expected {}", block.expected()))
            .help(help);
        }
        let what = if block == Block::Judge {
            "unknown judge field"
        } else {
            "unknown statement"
        };
        let help = match closest(word, &block.words()) {
            Some(suggestion) => format!("did you mean `{suggestion}`?"),
            None => block.contents(),
        };
        return Diag::new(Code::UnknownStatement, format!("{what} `{word}`"))
            .at(span, format!("expected {}", block.expected()))
            .help(help);
    }

    let mut diag = Diag::new(Code::Syntax, format!("expected {expected}, found {found}")).at(
        span,
        if len == 0 {
            format!("expected {expected} after this")
        } else {
            format!("expected {expected}")
        },
    );
    // A keyword typo gets a suggestion from the keywords that would have fitted.
    let keywords: Vec<&str> = words
        .iter()
        .filter_map(|w| w.strip_prefix('`').and_then(|w| w.strip_suffix('`')))
        .collect();
    if let Some(suggestion) = leading_word(text, pos).and_then(|w| closest(w, &keywords)) {
        diag = diag.help(format!("did you mean `{suggestion}`?"));
    } else if positives.contains(&Rule::rbrace) && len == 0 {
        if let Some(&open) = lexed.open_braces.last() {
            diag = diag
                .also(Span::new(file, open..open + 1), "this `{` is never closed")
                .help("add the missing `}`");
        }
    } else if positives.contains(&Rule::string) || positives.contains(&Rule::string_list) {
        diag = diag.help("strings are written in double quotes: `\"...\"`");
    }
    diag
}
