//! Parsing: source text → [`ast::File`], with pest doing the grammar and this module decoding
//! strings and turning pest's errors into readable diagnostics.
//!
//! pest stops at the first syntax error of a file; that error is reported and the file has no
//! tree. String problems (unknown escapes, bad `\u`) are not syntax errors: the string is decoded
//! as well as possible and the file's tree is still built and checked.

use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::Pair;
use pest::Parser as _;

use crate::ast::{self, FileId, Span, Str, Word};
use crate::diagnostic::{Code, Diag};

#[derive(pest_derive::Parser, Debug)]
#[grammar = "grammar.pest"]
struct GuardParser;

/// Parses one file. `None` when the file has a syntax error; string errors come with a tree.
pub(crate) fn parse_file(file: FileId, text: &str) -> (Option<ast::File>, Vec<Diag>) {
    match GuardParser::parse(Rule::file, text) {
        Ok(mut pairs) => {
            let mut builder = Builder {
                file,
                diags: Vec::new(),
            };
            let items = pairs
                .next()
                .map(|root| builder.items(root))
                .unwrap_or_default();
            (Some(ast::File { items }), builder.diags)
        }
        Err(err) => (None, vec![syntax_error(file, text, &err)]),
    }
}

// ---- tree → AST ---------------------------------------------------------------------------------

struct Builder {
    file: FileId,
    diags: Vec<Diag>,
}

/// Rules whose children are spliced into their parent's, so each statement is a flat list of
/// keywords, strings and values.
fn is_structural(r: Rule) -> bool {
    matches!(
        r,
        Rule::item
            | Rule::policy_stmt
            | Rule::match_host
            | Rule::match_path
            | Rule::rule_stmt
            | Rule::deny_keyword_file
            | Rule::deny_keyword
            | Rule::deny_regex
            | Rule::judge_stmt
            | Rule::string_list
    )
}

fn flatten<'i>(pair: Pair<'i, Rule>, out: &mut Vec<Pair<'i, Rule>>) {
    for child in pair.into_inner() {
        if is_structural(child.as_rule()) {
            flatten(child, out);
        } else {
            out.push(child);
        }
    }
}

fn is_keyword(r: Rule) -> bool {
    matches!(
        r,
        Rule::kw_policy
            | Rule::kw_match
            | Rule::kw_host
            | Rule::kw_path
            | Rule::kw_prefix
            | Rule::kw_inject
            | Rule::kw_remove
            | Rule::kw_header
            | Rule::kw_rule
            | Rule::kw_deny
            | Rule::kw_keyword
            | Rule::kw_file
            | Rule::kw_regex
            | Rule::kw_ignore
            | Rule::kw_case
            | Rule::kw_normalize
            | Rule::kw_off
            | Rule::kw_reason
            | Rule::kw_escalate
            | Rule::kw_judge
            | Rule::kw_endpoint
            | Rule::kw_cluster
            | Rule::kw_model
            | Rule::kw_api_key
            | Rule::kw_timeout
            | Rule::kw_on_error
            | Rule::kw_prompt
    )
}

/// One statement's parts: its leading keywords, its strings, its bare word, its nested blocks.
struct Parts<'i> {
    head: Span,
    keywords: Vec<Rule>,
    strings: Vec<Str>,
    word: Option<Word>,
    blocks: Vec<Pair<'i, Rule>>,
}

impl Builder {
    fn span(&self, pair: &Pair<'_, Rule>) -> Span {
        let s = pair.as_span();
        Span::new(self.file, s.start()..s.end())
    }

    fn parts<'i>(&mut self, pair: Pair<'i, Rule>) -> Parts<'i> {
        let start = self.span(&pair);
        let mut flat = Vec::new();
        flatten(pair, &mut flat);
        let mut parts = Parts {
            head: Span::new(self.file, start.start..start.start),
            keywords: Vec::new(),
            strings: Vec::new(),
            word: None,
            blocks: Vec::new(),
        };
        let mut in_head = true;
        for p in flat {
            let r = p.as_rule();
            if is_keyword(r) {
                if in_head {
                    parts.head = parts.head.to(self.span(&p));
                }
                parts.keywords.push(r);
                continue;
            }
            in_head = false;
            match r {
                Rule::string => {
                    if let Some(s) = self.string(p) {
                        parts.strings.push(s);
                    }
                }
                Rule::duration | Rule::on_error_value => {
                    parts.word = Some(Word {
                        text: p.as_str().to_string(),
                        span: self.span(&p),
                    });
                }
                Rule::policy_stmt | Rule::rule_stmt | Rule::judge_stmt => {}
                Rule::policy
                | Rule::judge
                | Rule::rule_block
                | Rule::match_stmt
                | Rule::inject
                | Rule::remove => parts.blocks.push(p),
                Rule::deny
                | Rule::ignore_case
                | Rule::normalize_off
                | Rule::reason
                | Rule::escalate => parts.blocks.push(p),
                Rule::endpoint
                | Rule::cluster
                | Rule::model
                | Rule::api_key
                | Rule::timeout
                | Rule::on_error
                | Rule::prompt => parts.blocks.push(p),
                _ => {}
            }
        }
        parts
    }

    fn internal(&mut self, span: Span, what: &str) {
        self.diags.push(
            Diag::new(
                Code::Internal,
                format!("internal error: unexpected parse tree for {what}"),
            )
            .at(span, "here")
            .help("this is a bug in guard; please report it with this file"),
        );
    }

    fn items(&mut self, root: Pair<'_, Rule>) -> Vec<ast::Item> {
        let parts = self.parts(root);
        let mut items = Vec::new();
        for block in parts.blocks {
            match block.as_rule() {
                Rule::policy => {
                    if let Some(p) = self.policy(block) {
                        items.push(ast::Item::Policy(p));
                    }
                }
                Rule::judge => {
                    if let Some(j) = self.judge(block) {
                        items.push(ast::Item::Judge(j));
                    }
                }
                _ => {}
            }
        }
        items
    }

    fn policy(&mut self, pair: Pair<'_, Rule>) -> Option<ast::Policy> {
        let span = self.span(&pair);
        let parts = self.parts(pair);
        let Some(name) = parts.strings.into_iter().next() else {
            self.internal(span, "a policy");
            return None;
        };
        let mut stmts = Vec::new();
        for block in parts.blocks {
            let span = self.span(&block);
            let r = block.as_rule();
            if r == Rule::rule_block {
                if let Some(r) = self.rule(block) {
                    stmts.push(ast::PolicyStmt::Rule(r));
                }
                continue;
            }
            let Parts {
                head,
                keywords,
                strings,
                ..
            } = self.parts(block);
            let mut strings = strings.into_iter();
            let stmt = match r {
                Rule::match_stmt if keywords.contains(&Rule::kw_host) => {
                    Some(ast::PolicyStmt::MatchHost {
                        head,
                        hosts: strings.collect(),
                    })
                }
                Rule::match_stmt => strings
                    .next()
                    .map(|prefix| ast::PolicyStmt::MatchPath { head, prefix }),
                Rule::inject => match (strings.next(), strings.next()) {
                    (Some(name), Some(value)) => Some(ast::PolicyStmt::Inject { name, value }),
                    _ => None,
                },
                Rule::remove => strings.next().map(|name| ast::PolicyStmt::Remove { name }),
                _ => None,
            };
            match stmt {
                Some(stmt) => stmts.push(stmt),
                None => self.internal(span, "a policy statement"),
            }
        }
        Some(ast::Policy { name, stmts })
    }

    fn rule(&mut self, pair: Pair<'_, Rule>) -> Option<ast::Rule> {
        let span = self.span(&pair);
        let parts = self.parts(pair);
        let Some(name) = parts.strings.into_iter().next() else {
            self.internal(span, "a rule");
            return None;
        };
        let mut stmts = Vec::new();
        for block in parts.blocks {
            let span = self.span(&block);
            let r = block.as_rule();
            let Parts {
                head,
                keywords,
                strings,
                ..
            } = self.parts(block);
            let stmt = match r {
                Rule::deny if keywords.contains(&Rule::kw_file) => strings
                    .into_iter()
                    .next()
                    .map(|path| ast::RuleStmt::DenyKeywordFile { head, path }),
                Rule::deny if keywords.contains(&Rule::kw_keyword) => {
                    Some(ast::RuleStmt::DenyKeyword {
                        head,
                        keywords: strings,
                    })
                }
                Rule::deny => Some(ast::RuleStmt::DenyRegex {
                    head,
                    regexes: strings,
                }),
                Rule::ignore_case => Some(ast::RuleStmt::IgnoreCase { head }),
                Rule::normalize_off => Some(ast::RuleStmt::NormalizeOff { head }),
                Rule::reason => strings
                    .into_iter()
                    .next()
                    .map(|text| ast::RuleStmt::Reason { head, text }),
                Rule::escalate => strings
                    .into_iter()
                    .next()
                    .map(|judge| ast::RuleStmt::Escalate { head, judge }),
                _ => None,
            };
            match stmt {
                Some(stmt) => stmts.push(stmt),
                None => self.internal(span, "a rule statement"),
            }
        }
        Some(ast::Rule {
            keyword: parts.head,
            name,
            stmts,
        })
    }

    fn judge(&mut self, pair: Pair<'_, Rule>) -> Option<ast::Judge> {
        let span = self.span(&pair);
        let parts = self.parts(pair);
        let Some(name) = parts.strings.into_iter().next() else {
            self.internal(span, "a judge");
            return None;
        };
        let mut fields = Vec::new();
        for block in parts.blocks {
            let span = self.span(&block);
            let r = block.as_rule();
            let Parts {
                head,
                strings,
                word,
                ..
            } = self.parts(block);
            let string = strings.into_iter().next();
            let value = match (r, string, word) {
                (Rule::endpoint, Some(s), _) => Some(ast::JudgeValue::Endpoint(s)),
                (Rule::cluster, Some(s), _) => Some(ast::JudgeValue::Cluster(s)),
                (Rule::model, Some(s), _) => Some(ast::JudgeValue::Model(s)),
                (Rule::api_key, Some(s), _) => Some(ast::JudgeValue::ApiKey(s)),
                (Rule::prompt, Some(s), _) => Some(ast::JudgeValue::Prompt(s)),
                (Rule::timeout, _, Some(w)) => Some(ast::JudgeValue::Timeout(w)),
                (Rule::on_error, _, Some(w)) => Some(ast::JudgeValue::OnError(w)),
                _ => None,
            };
            match value {
                Some(value) => fields.push(ast::JudgeField { head, value }),
                None => self.internal(span, "a judge field"),
            }
        }
        Some(ast::Judge { name, fields })
    }

    fn string(&mut self, pair: Pair<'_, Rule>) -> Option<Str> {
        let inner = pair.into_inner().next()?;
        let start = inner.as_span().start();
        let raw = inner.as_str();
        Some(match inner.as_rule() {
            Rule::triple_string => decode_triple(self.file, raw, start),
            _ => {
                let (s, diags) = decode_plain(self.file, raw, start);
                self.diags.extend(diags);
                s
            }
        })
    }
}

// ---- strings ------------------------------------------------------------------------------------

/// Accumulates a decoded value and, per byte, the source range it came from.
struct Decoded {
    value: String,
    origins: Vec<(usize, usize)>,
}

impl Decoded {
    fn new() -> Decoded {
        Decoded {
            value: String::new(),
            origins: Vec::new(),
        }
    }

    fn push(&mut self, c: char, from: usize, to: usize) {
        self.value.push(c);
        for _ in 0..c.len_utf8() {
            self.origins.push((from, to));
        }
    }
}

/// Decodes a `"..."` literal (quotes included in `raw`, which starts at byte `start`) with JSON's
/// escapes. A bad escape is reported and kept as written, so later checks of the value (a regex
/// that used `\d`) do not pile further errors onto the same typo.
pub(crate) fn decode_plain(file: FileId, raw: &str, start: usize) -> (Str, Vec<Diag>) {
    let mut diags = Vec::new();
    let content_start = start + 1;
    let content = raw.get(1..raw.len().saturating_sub(1)).unwrap_or("");
    let bytes = content.as_bytes();
    let mut out = Decoded::new();
    let mut chars = content.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let at = content_start + i;
        if c != '\\' {
            out.push(c, at, at + c.len_utf8());
            continue;
        }
        let Some((_, e)) = chars.next() else {
            // The grammar never ends a string on a backslash; keep it literally if it did.
            out.push('\\', at, at + 1);
            break;
        };
        let simple = match e {
            '"' => Some('"'),
            '\\' => Some('\\'),
            '/' => Some('/'),
            'b' => Some('\u{8}'),
            'f' => Some('\u{c}'),
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            _ => None,
        };
        if let Some(decoded) = simple {
            out.push(decoded, at, at + 2);
            continue;
        }
        if e != 'u' {
            let end = at + 1 + e.len_utf8();
            diags.push(unknown_escape(Span::new(file, at..end), e));
            out.push('\\', at, at + 1);
            out.push(e, at + 1, end);
            continue;
        }
        // `\uXXXX`, possibly a surrogate pair `\uD83D\uDE00`.
        let first = hex4(bytes, i + 2);
        let (code, len) = match first {
            Some(hi @ 0xD800..=0xDBFF) => {
                let lo = (bytes.get(i + 6..i + 8) == Some(b"\\u".as_slice()))
                    .then(|| hex4(bytes, i + 8))
                    .flatten()
                    .filter(|lo| (0xDC00..=0xDFFF).contains(lo));
                match lo {
                    Some(lo) => (Some(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)), 12),
                    None => (None, 6),
                }
            }
            Some(0xDC00..=0xDFFF) => (None, 6),
            Some(cp) => (Some(cp), 6),
            None => {
                let digits = bytes
                    .get(i + 2..)
                    .unwrap_or_default()
                    .iter()
                    .take(4)
                    .take_while(|b| b.is_ascii_hexdigit())
                    .count();
                (None, 2 + digits)
            }
        };
        let end = at + len;
        // Skip the rest of the escape; everything in it is ASCII, one char per byte.
        for _ in 2..len {
            chars.next();
        }
        match code.and_then(char::from_u32) {
            Some(decoded) => out.push(decoded, at, end),
            None => {
                let span = Span::new(file, at..end);
                let written = content.get(i..i + len).unwrap_or("\\u");
                diags.push(if first.is_some() {
                    Diag::new(
                        Code::InvalidUnicodeEscape,
                        format!("unicode escape `{written}` is half of a surrogate pair"),
                    )
                    .at(span, "lone surrogate")
                    .help(
                        "a `\\ud800`-`\\udbff` escape must be followed by a `\\udc00`-`\\udfff` one \
                         (`\\ud83d\\ude00`), or write the character itself",
                    )
                } else {
                    Diag::new(Code::InvalidUnicodeEscape, format!("invalid unicode escape `{written}`"))
                        .at(span, "expected four hex digits after `\\u`")
                        .help("write `\\u` and exactly four hex digits, e.g. `\\u00e9` for `é`")
                });
                out.push('\u{FFFD}', at, end);
            }
        }
    }
    let str = Str {
        value: out.value,
        span: Span::new(file, start..start + raw.len()),
        content: Span::new(file, content_start..content_start + content.len()),
        origins: out.origins,
    };
    (str, diags)
}

fn hex4(bytes: &[u8], at: usize) -> Option<u32> {
    let digits = bytes.get(at..at + 4)?;
    let text = std::str::from_utf8(digits).ok()?;
    if !digits.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u32::from_str_radix(text, 16).ok()
}

fn unknown_escape(span: Span, e: char) -> Diag {
    let mut diag = Diag::new(Code::UnknownEscape, format!("unknown escape `\\{e}`"))
        .at(span, "not a string escape");
    diag = if e.is_ascii_alphanumeric() || "^$.|?*+()[]{}".contains(e) {
        // Almost always a regex escape written in a plain string.
        diag.help(format!(
            "strings use JSON escapes (`\\\"` `\\\\` `\\/` `\\b` `\\f` `\\n` `\\r` `\\t` `\\uXXXX`); \
             for the regex escape `\\{e}` write `\\\\{e}`, or use a raw `\"\"\"...\"\"\"` string"
        ))
    } else {
        diag.help(
            "strings use JSON escapes: `\\\"` `\\\\` `\\/` `\\b` `\\f` `\\n` `\\r` `\\t` `\\uXXXX`",
        )
    };
    diag
}

/// Decodes a `"""..."""` literal. Triple-quoted strings are raw (no escapes) and dedented:
///
/// 1. Line breaks (`\n`, `\r\n`, `\r`) split the text between the quotes into lines; the value
///    joins its lines with `\n`.
/// 2. If the text right after the opening `"""` up to the first line break is only spaces and
///    tabs, that line is dropped (the value starts on the next line).
/// 3. If the last line, before the closing `"""`, is only spaces and tabs, it is dropped together
///    with the line break before it (the value does not end with a line break).
/// 4. The longest run of leading spaces and tabs that every non-blank line starts with is removed
///    from each line (compared character by character, so a tab and a space differ); lines that
///    are only spaces and tabs become empty.
pub(crate) fn decode_triple(file: FileId, raw: &str, start: usize) -> Str {
    let content_start = start + 3;
    let content = raw.get(3..raw.len().saturating_sub(3)).unwrap_or("");
    // (offset of line in content, line text, length of the line break after it)
    let mut lines: Vec<(usize, &str, usize)> = Vec::new();
    let bytes = content.as_bytes();
    let mut line_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let brk = match (bytes.get(i), bytes.get(i + 1)) {
            (Some(b'\r'), Some(b'\n')) => 2,
            (Some(b'\n' | b'\r'), _) => 1,
            _ => 0,
        };
        if brk > 0 {
            lines.push((line_start, content.get(line_start..i).unwrap_or(""), brk));
            i += brk;
            line_start = i;
        } else {
            i += 1;
        }
    }
    lines.push((line_start, content.get(line_start..).unwrap_or(""), 0));

    let blank = |s: &str| s.chars().all(|c| c == ' ' || c == '\t');
    if lines.len() > 1 && lines.first().is_some_and(|l| blank(l.1)) {
        lines.remove(0);
    }
    if lines.last().is_some_and(|l| blank(l.1)) {
        lines.pop();
    }
    let indent: &str = lines
        .iter()
        .filter(|l| !blank(l.1))
        .map(|l| {
            let text = l.1;
            let n = text.len() - text.trim_start_matches([' ', '\t']).len();
            text.get(..n).unwrap_or("")
        })
        .reduce(|a, b| {
            let common = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
            a.get(..common).unwrap_or("")
        })
        .unwrap_or("");

    let mut out = Decoded::new();
    let count = lines.len();
    for (n, (offset, text, brk)) in lines.into_iter().enumerate() {
        let skip = if blank(text) {
            text.len()
        } else {
            indent.len()
        };
        let at = content_start + offset;
        for (j, c) in text.get(skip..).unwrap_or("").char_indices() {
            let from = at + skip + j;
            out.push(c, from, from + c.len_utf8());
        }
        if n + 1 < count {
            let from = at + text.len();
            out.push('\n', from, from + brk.max(1));
        }
    }
    Str {
        value: out.value,
        span: Span::new(file, start..start + raw.len()),
        content: Span::new(file, content_start..content_start + content.len()),
        origins: out.origins,
    }
}

// ---- syntax errors ------------------------------------------------------------------------------

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
fn expected_words(r: Rule) -> &'static str {
    match r {
        // `file` is reported for a failure at its very start, where only an item could begin.
        Rule::file | Rule::item => "`policy` or `judge`",
        Rule::EOI => "the end of the file",
        Rule::policy_stmt => "a statement (`match`, `inject`, `remove`, `rule`)",
        Rule::rule_stmt => "a rule statement (`deny`, `ignore case`, `normalize off`, `reason`, `escalate`)",
        Rule::judge_stmt => {
            "a judge field (`endpoint`, `cluster`, `model`, `api_key`, `timeout`, `on_error`, `prompt`)"
        }
        Rule::string | Rule::string_list | Rule::plain_string | Rule::triple_string => "a string",
        Rule::duration => "a duration such as `250ms`, `3s` or `1m`",
        Rule::on_error_value => "`deny` or `allow`",
        Rule::lbrace => "`{`",
        Rule::rbrace => "`}`",
        Rule::comma => "`,`",
        Rule::eq => "`=`",
        Rule::policy | Rule::kw_policy => "`policy`",
        Rule::judge | Rule::kw_judge => "`judge`",
        Rule::match_stmt | Rule::kw_match => "`match`",
        Rule::match_host | Rule::kw_host => "`host`",
        Rule::match_path | Rule::kw_path => "`path`",
        Rule::kw_prefix => "`prefix`",
        Rule::inject | Rule::kw_inject => "`inject`",
        Rule::remove | Rule::kw_remove => "`remove`",
        Rule::kw_header => "`header`",
        Rule::rule_block | Rule::kw_rule => "`rule`",
        Rule::deny | Rule::kw_deny => "`deny`",
        Rule::deny_keyword_file | Rule::deny_keyword | Rule::kw_keyword => "`keyword`",
        Rule::kw_file => "`file`",
        Rule::deny_regex | Rule::kw_regex => "`regex`",
        Rule::ignore_case | Rule::kw_ignore => "`ignore`",
        Rule::kw_case => "`case`",
        Rule::normalize_off | Rule::kw_normalize => "`normalize`",
        Rule::kw_off => "`off`",
        Rule::reason | Rule::kw_reason => "`reason`",
        Rule::escalate | Rule::kw_escalate => "`escalate`",
        Rule::endpoint | Rule::kw_endpoint => "`endpoint`",
        Rule::cluster | Rule::kw_cluster => "`cluster`",
        Rule::model | Rule::kw_model => "`model`",
        Rule::api_key | Rule::kw_api_key => "`api_key`",
        Rule::timeout | Rule::kw_timeout => "`timeout`",
        Rule::on_error | Rule::kw_on_error => "`on_error`",
        Rule::prompt | Rule::kw_prompt => "`prompt`",
        Rule::plain_char | Rule::ident_char | Rule::WHITESPACE | Rule::COMMENT => "",
    }
}

/// "a, b or c".
fn one_of(words: &[&str]) -> String {
    match words {
        [] => "something else".into(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// Where statements of each block kind belong, for "not allowed here" messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Top,
    Policy,
    Rule,
    Judge,
}

impl Block {
    fn of(r: Rule) -> Option<Block> {
        match r {
            Rule::file | Rule::item => Some(Block::Top),
            Rule::policy_stmt => Some(Block::Policy),
            Rule::rule_stmt => Some(Block::Rule),
            Rule::judge_stmt => Some(Block::Judge),
            _ => None,
        }
    }

    fn words(self) -> &'static [&'static str] {
        match self {
            Block::Top => &["policy", "judge"],
            Block::Policy => &["match", "inject", "remove", "rule"],
            Block::Rule => &["deny", "ignore", "normalize", "reason", "escalate"],
            Block::Judge => &[
                "endpoint", "cluster", "model", "api_key", "timeout", "on_error", "prompt",
            ],
        }
    }

    /// What may come where a statement of this block is expected.
    fn expected(self) -> &'static str {
        match self {
            Block::Top => "`policy` or `judge`",
            Block::Policy => "a statement (`match`, `inject`, `remove`, `rule`) or `}`",
            Block::Rule => "a rule statement (`deny`, `ignore case`, `normalize off`, `reason`, `escalate`) or `}`",
            Block::Judge => {
                "a judge field (`endpoint`, `cluster`, `model`, `api_key`, `timeout`, `on_error`, `prompt`) or `}`"
            }
        }
    }

    fn contents(self) -> &'static str {
        match self {
            Block::Top => "a file holds `policy \"NAME\" { ... }` and `judge \"NAME\" { ... }` blocks",
            Block::Policy => {
                "a policy holds `match host`, `match path prefix`, `inject header`, `remove header` and \
                 `rule` statements"
            }
            Block::Rule => {
                "a rule holds `deny keyword`, `deny keyword file`, `deny regex`, `ignore case`, \
                 `normalize off`, `reason` and `escalate judge` statements"
            }
            Block::Judge => {
                "a judge holds `endpoint`, `cluster`, `model`, `api_key`, `timeout`, `on_error` and \
                 `prompt`"
            }
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
fn syntax_error(file: FileId, text: &str, err: &pest::error::Error<Rule>) -> Diag {
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
    let mut words: Vec<&str> = Vec::new();
    for r in &positives {
        let w = expected_words(*r);
        if !w.is_empty() && !words.contains(&w) {
            words.push(w);
        }
    }
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
        let other = [Block::Top, Block::Policy, Block::Rule, Block::Judge]
            .into_iter()
            .find(|b| *b != block && b.words().contains(&word));
        if let Some(home) = other {
            let mut help = format!("`{word}` belongs {}", home.home());
            if home == Block::Top && block != Block::Top {
                help.push_str("; is a `}` missing before it?");
            }
            return Diag::new(
                Code::MisplacedStatement,
                format!("`{word}` is not allowed {}", block.inside()),
            )
            .at(span, format!("expected {}", block.expected()))
            .help(help);
        }
        let what = if block == Block::Judge {
            "unknown judge field"
        } else {
            "unknown statement"
        };
        let help = match closest(word, block.words()) {
            Some(suggestion) => format!("did you mean `{suggestion}`?"),
            None => block.contents().to_string(),
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

/// The candidate closest to `word` by edit distance, if close enough to be a likely typo.
pub(crate) fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let word = word.to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| (edit_distance(&word, c), *c))
        .filter(|(d, c)| *d <= (c.chars().count() / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row.first().copied().unwrap_or(0);
        if let Some(first) = row.first_mut() {
            *first = i + 1;
        }
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            let above = row.get(j + 1).copied().unwrap_or(0);
            let left = row.get(j).copied().unwrap_or(0);
            let value = (above + 1).min(left + 1).min(prev + cost);
            prev = above;
            if let Some(cell) = row.get_mut(j + 1) {
                *cell = value;
            }
        }
    }
    row.last().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(raw: &str) -> String {
        decode_plain(0, raw, 0).0.value
    }

    #[test]
    fn plain_strings_decode_json_escapes_and_surrogate_pairs() {
        assert_eq!(
            value(r#""a\"b\\c\/d\b\f\n\r\t""#),
            "a\"b\\c/d\u{8}\u{c}\n\r\t"
        );
        assert_eq!(value(r#""\u8d26\u53f7""#), "账号");
        assert_eq!(value(r#""\ud83d\ude00!""#), "😀!");
        let (_, diags) = decode_plain(0, r#""\ud83d x""#, 0);
        assert_eq!(
            diags.first().map(|d| d.code),
            Some(Code::InvalidUnicodeEscape)
        );
        let (_, diags) = decode_plain(0, r#""\u12g4""#, 0);
        assert_eq!(
            diags.first().map(|d| d.code),
            Some(Code::InvalidUnicodeEscape)
        );
    }

    #[test]
    fn an_unknown_escape_is_kept_as_written_and_reported_at_the_escape() {
        let (s, diags) = decode_plain(0, r#""x\d""#, 10);
        assert_eq!(s.value, "x\\d");
        let span = diags
            .first()
            .and_then(|d| d.primary.as_ref())
            .map(|l| l.span);
        assert_eq!(span, Some(Span::new(0, 12..14)));
    }

    #[test]
    fn decoded_ranges_map_back_through_escapes() {
        // value: `a\nb` — the `b` (value byte 2) is source byte 4 of `"a\nb"` (at 0).
        let (s, _) = decode_plain(0, r#""a\nb""#, 0);
        assert_eq!(s.span_of(2..3), Span::new(0, 4..5));
        assert_eq!(s.span_of(1..2), Span::new(0, 2..4));
        assert_eq!(s.span_of(3..3), Span::new(0, 5..5));
    }

    #[test]
    fn triple_strings_drop_the_first_and_last_blank_lines_and_the_common_indent() {
        let raw = "\"\"\"  \n    a\n      b\n\n    c\n  \"\"\"";
        let s = decode_triple(0, raw, 0);
        assert_eq!(s.value, "a\n  b\n\nc");
        // `b` (value byte 4) is raw byte 18: `"""`, `  \n`, `    a\n`, then six spaces.
        assert_eq!(s.span_of(4..5), Span::new(0, 18..19));
        assert_eq!(decode_triple(0, "\"\"\"x\\n\"\"\"", 0).value, "x\\n");
        assert_eq!(
            decode_triple(0, "\"\"\"\r\n  a\r\n  b\r\n\"\"\"", 0).value,
            "a\nb"
        );
        assert_eq!(decode_triple(0, "\"\"\"\"\"\"", 0).value, "");
    }

    #[test]
    fn edit_distance_suggests_near_keywords_only() {
        assert_eq!(closest("promt", &["prompt", "model"]), Some("prompt"));
        assert_eq!(closest("xyz", &["prompt", "model"]), None);
    }
}
