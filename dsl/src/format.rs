//! `guardc fmt`: one canonical layout for `.guard` files.
//!
//! The grammar drops comments, so the tree alone cannot be printed back. Instead the file is
//! parsed (a syntax error refuses it, with the diagnostic `check` gives), its tokens are taken
//! from the tree in source order (keywords, words, strings, `{ } , =`), and the text between two
//! tokens — only whitespace and comments, by the grammar — is read for its comments and line
//! breaks. The tree's blocks and statements decide where lines break; the tokens are copied as
//! written (a plain string is never re-escaped), except that a `"""` string is re-indented when
//! that provably keeps its value.
//!
//! The layout:
//!
//! - 4 spaces per block level, one statement per line, `{` on the opening line, `}` on its own;
//! - single spaces between a statement's tokens, `", "` between list items; in a judge, the value
//!   of every field starts in one column (after the longest field keyword, `endpoint` and
//!   `on_error`), as the language contract writes judges (`prompt """` excepted: its value is on
//!   the lines below);
//! - exactly one blank line between top-level items; inside a block the author's blank lines
//!   between statements are kept, a run of them collapsed to one, none after `{` or before `}`;
//! - a list whose one-line form passes 100 columns, or that has a comment among its items, puts
//!   each item on its own line, one level deeper than its statement;
//! - a `"""` string whose first and last lines are blank gets its lines re-indented one level
//!   deeper than the line it starts on and the closing `"""` at that line's indentation, when the
//!   dedented value stays the same (checked, not assumed); a string with tabs in its indentation,
//!   or of another shape, is copied verbatim;
//! - comments are kept byte for byte (trailing whitespace trimmed): an own-line comment on its own
//!   line at the indentation of what follows it (inside a block before its `}`: the block's
//!   statements' indentation); a trailing comment after its line, two spaces after the code, and
//!   the trailing comments of consecutive lines at one indentation aligned to one column (as gofmt
//!   does), so a commented run of statements reads as a table;
//! - no trailing whitespace, LF line breaks, one `\n` at the end, a UTF-8 byte order mark dropped.
//!
//! A file whose leading comments hold the line `# guardc fmt: off` is left as it is (fixtures
//! whose layout is their point, or that do not parse on purpose).
//!
//! Before a formatted text is returned, it is parsed again and its tokens are compared with the
//! original's by decoded value: a formatting bug is an internal error, never a changed policy.

use std::ops::Range;
use std::sync::Arc;

use pest::iterators::Pair;

use crate::ast::Span;
use crate::diagnostic::{Code, Diag, Diagnostics, SourceFile};
use crate::keywords;
use crate::parse::{self, Rule};

/// The line that, among a file's leading comments, leaves the file as it is.
pub const FORMAT_OFF: &str = "# guardc fmt: off";

const INDENT: usize = 4;
const WIDTH: usize = 100;
/// Judge fields' values start one column after the longest judge keyword.
const JUDGE_KEY_WIDTH: usize = 8;

/// Whether the file's leading comments (before anything else but blank lines) hold a line
/// [`FORMAT_OFF`].
pub fn format_off(text: &str) -> bool {
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    for line in text.lines() {
        let line = line.trim();
        if line == FORMAT_OFF {
            return true;
        }
        if !line.is_empty() && !line.starts_with('#') {
            return false;
        }
    }
    false
}

/// The canonical layout of one `.guard` file; `name` is what diagnostics call it. A file marked
/// [`FORMAT_OFF`] comes back as it is; a file with a syntax error is refused with the syntax
/// diagnostic `check` gives. Formatting a formatted file changes nothing.
pub fn format_source(name: &str, text: &str) -> Result<String, Diagnostics> {
    if format_off(text) {
        return Ok(text.to_string());
    }
    let fail = |diags: Vec<Diag>, text: &str| {
        Diagnostics::new(
            vec![SourceFile::new(name.to_string(), Arc::from(text))],
            diags,
        )
    };
    let root = parse::parse_syntax(0, text).map_err(|diag| fail(diag, text))?;
    let tree = Tree::build(root);
    let formatted = Formatter::new(text, &tree).file();
    // The formatted text must hold the same tokens with the same values.
    let again = match parse::parse_syntax(0, &formatted) {
        Ok(root) => Tree::build(root),
        Err(_) => return Err(fail(vec![internal(text)], text)),
    };
    if meanings(&tree.toks) != meanings(&again.toks) {
        return Err(fail(vec![internal(text)], text));
    }
    Ok(formatted)
}

fn internal(text: &str) -> Diag {
    Diag::new(
        Code::Internal,
        "internal error: formatting would change the file's meaning",
    )
    .at(Span::new(0, 0..text.len().min(1)), "in this file")
    .help("this is a bug in guard; please report it with this file")
}

/// The tokens as the language reads them: words and punctuation as written, strings decoded.
fn meanings(toks: &[Tok<'_>]) -> Vec<(Kind, String)> {
    toks.iter()
        .map(|t| {
            let value = match t.kind {
                Kind::Plain => parse::decode_plain(0, t.text, 0).0.value,
                Kind::Triple => parse::decode_triple(0, t.text, 0).value,
                _ => t.text.to_string(),
            };
            (t.kind, value)
        })
        .collect()
}

// ---- tokens and tree -----------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Word,
    Plain,
    Triple,
    Comma,
    Eq,
    Open,
    Close,
}

#[derive(Debug, Clone, Copy)]
struct Tok<'a> {
    kind: Kind,
    text: &'a str,
    start: usize,
    end: usize,
}

/// A block (`policy`, `rule`, `judge`): its head tokens up to and including `{`, its body, the
/// index of its `}`.
#[derive(Debug)]
struct Block {
    head: Range<usize>,
    body: Vec<Node>,
    close: usize,
}

/// A statement: its tokens, where its string list starts, whether it is a judge field.
#[derive(Debug)]
struct Stmt {
    tokens: Range<usize>,
    list: Option<usize>,
    judge: bool,
}

#[derive(Debug)]
enum Node {
    Block(Block),
    Stmt(Stmt),
}

impl Node {
    fn first(&self) -> usize {
        match self {
            Node::Block(b) => b.head.start,
            Node::Stmt(s) => s.tokens.start,
        }
    }
}

#[derive(Debug)]
struct Tree<'a> {
    toks: Vec<Tok<'a>>,
    items: Vec<Block>,
}

fn leaf(r: Rule) -> Option<Kind> {
    match r {
        Rule::comma => Some(Kind::Comma),
        Rule::eq => Some(Kind::Eq),
        Rule::lbrace => Some(Kind::Open),
        Rule::rbrace => Some(Kind::Close),
        Rule::name_value | Rule::duration | Rule::on_error_value => Some(Kind::Word),
        _ if keywords::text(r).is_some() => Some(Kind::Word),
        _ => None,
    }
}

impl<'a> Tree<'a> {
    fn build(root: Pair<'a, Rule>) -> Tree<'a> {
        let mut tree = Tree {
            toks: Vec::new(),
            items: Vec::new(),
        };
        for item in root.into_inner() {
            for block in item.into_inner() {
                let judge = block.as_rule() == Rule::judge;
                let b = tree.block(block, judge);
                tree.items.push(b);
            }
        }
        tree
    }

    /// Pushes the tokens of `pair`, marking where a string list starts.
    fn push(&mut self, pair: Pair<'a, Rule>, list: &mut Option<usize>) {
        let r = pair.as_rule();
        let kind = match r {
            Rule::string => {
                let triple = pair
                    .clone()
                    .into_inner()
                    .next()
                    .is_some_and(|p| p.as_rule() == Rule::triple_string);
                Some(if triple { Kind::Triple } else { Kind::Plain })
            }
            _ => leaf(r),
        };
        if let Some(kind) = kind {
            let span = pair.as_span();
            self.toks.push(Tok {
                kind,
                text: span.as_str(),
                start: span.start(),
                end: span.end(),
            });
            return;
        }
        if r == Rule::string_list && list.is_none() {
            *list = Some(self.toks.len());
        }
        for child in pair.into_inner() {
            self.push(child, list);
        }
    }

    fn block(&mut self, pair: Pair<'a, Rule>, judge: bool) -> Block {
        let start = self.toks.len();
        let mut block = Block {
            head: start..start,
            body: Vec::new(),
            close: start,
        };
        for child in pair.into_inner() {
            match child.as_rule() {
                Rule::policy_stmt | Rule::rule_stmt | Rule::judge_stmt => {
                    for stmt in child.into_inner() {
                        if stmt.as_rule() == Rule::rule_block {
                            let b = self.block(stmt, false);
                            block.body.push(Node::Block(b));
                        } else {
                            let first = self.toks.len();
                            let mut list = None;
                            self.push(stmt, &mut list);
                            block.body.push(Node::Stmt(Stmt {
                                tokens: first..self.toks.len(),
                                list,
                                judge,
                            }));
                        }
                    }
                }
                Rule::rbrace => {
                    block.close = self.toks.len();
                    self.push(child, &mut None);
                }
                Rule::lbrace => {
                    self.push(child, &mut None);
                    block.head.end = self.toks.len();
                }
                _ => self.push(child, &mut None),
            }
        }
        block
    }
}

/// A comment between two tokens, and how many line breaks come before it (since the previous
/// token or comment).
#[derive(Debug, Clone, Copy)]
struct Comment<'a> {
    text: &'a str,
    breaks_before: usize,
}

/// What is between two tokens: comments, and the line breaks after the last of them.
#[derive(Debug, Clone, Default)]
struct Gap<'a> {
    comments: Vec<Comment<'a>>,
    breaks_after: usize,
}

/// Reads the text between two tokens: by the grammar, only whitespace (spaces, tabs, line breaks,
/// byte order marks) and `#` comments.
fn gap(text: &str) -> Gap<'_> {
    let mut gap = Gap::default();
    let mut breaks = 0;
    let mut at = 0;
    while let Some(c) = text.get(at..).and_then(|rest| rest.chars().next()) {
        match c {
            '\n' => breaks += 1,
            '\r' if text.get(at + 1..at + 2) != Some("\n") => breaks += 1,
            '#' => {
                let end = text
                    .get(at..)
                    .and_then(|rest| rest.find(['\n', '\r']))
                    .map_or(text.len(), |n| at + n);
                gap.comments.push(Comment {
                    text: text.get(at..end).unwrap_or("#").trim_end(),
                    breaks_before: breaks,
                });
                breaks = 0;
                at = end;
                continue;
            }
            _ => {}
        }
        at += c.len_utf8();
    }
    gap.breaks_after = breaks;
    gap
}

// ---- output --------------------------------------------------------------------------------

#[derive(Debug)]
enum Line {
    Blank,
    /// Code, an own-line comment, or the first line of a multi-line string; `comment` is a
    /// trailing comment.
    Code {
        text: String,
        comment: Option<String>,
    },
    /// A line inside a `"""` string: part of a value, written as is.
    Raw(String),
}

#[derive(Debug, Default)]
struct Out {
    lines: Vec<Line>,
    /// The line being written and its trailing comment.
    cur: Option<String>,
    cur_comment: Option<String>,
}

impl Out {
    fn open(&mut self, indent: usize) {
        self.close();
        self.cur = Some(" ".repeat(indent * INDENT));
    }

    fn is_open(&self) -> bool {
        self.cur.is_some()
    }

    /// Appends to the current line; a line break in `s` (a `"""` string) ends it, the lines
    /// between are raw, and the last one becomes the current line.
    fn push(&mut self, s: &str) {
        let mut parts = s.split('\n');
        if let Some(first) = parts.next() {
            self.cur.get_or_insert_with(String::new).push_str(first);
        }
        let rest: Vec<&str> = parts.collect();
        if let Some((last, middle)) = rest.split_last() {
            self.close();
            self.lines
                .extend(middle.iter().map(|line| Line::Raw((*line).to_string())));
            self.cur = Some((*last).to_string());
        }
    }

    fn comment(&mut self, text: &str) {
        self.cur_comment = Some(text.to_string());
    }

    fn close(&mut self) {
        if let Some(text) = self.cur.take() {
            self.lines.push(Line::Code {
                text,
                comment: self.cur_comment.take(),
            });
        }
    }

    fn blank(&mut self) {
        self.close();
        if !matches!(self.lines.last(), None | Some(Line::Blank)) {
            self.lines.push(Line::Blank);
        }
    }

    fn own(&mut self, indent: usize, text: &str) {
        self.close();
        self.lines.push(Line::Code {
            text: format!("{}{text}", " ".repeat(indent * INDENT)),
            comment: None,
        });
    }

    fn column(&self) -> usize {
        self.cur.as_ref().map_or(0, |s| s.chars().count())
    }

    /// The lines as text: trailing comments aligned, one `\n` at the end.
    fn render(mut self) -> String {
        self.close();
        while matches!(self.lines.last(), Some(Line::Blank)) {
            self.lines.pop();
        }
        let indent = |text: &str| text.len() - text.trim_start_matches(' ').len();
        let mut columns = vec![0; self.lines.len()];
        let mut i = 0;
        while i < self.lines.len() {
            let Some(Line::Code {
                text,
                comment: Some(_),
            }) = self.lines.get(i)
            else {
                i += 1;
                continue;
            };
            let level = indent(text);
            let mut j = i;
            let mut width = 0;
            while let Some(Line::Code {
                text,
                comment: Some(_),
            }) = self.lines.get(j)
            {
                if indent(text) != level {
                    break;
                }
                width = width.max(text.chars().count());
                j += 1;
            }
            for column in columns.iter_mut().take(j).skip(i) {
                *column = width + 2;
            }
            i = j;
        }
        let mut out = String::new();
        for (line, column) in self.lines.iter().zip(columns) {
            match line {
                Line::Blank => {}
                Line::Raw(text) => out.push_str(text),
                Line::Code { text, comment } => {
                    out.push_str(text);
                    if let Some(comment) = comment {
                        let pad = column.saturating_sub(text.chars().count()).max(2);
                        out.push_str(&" ".repeat(pad));
                        out.push_str(comment);
                    }
                }
            }
            out.push('\n');
        }
        out
    }
}

// ---- layout --------------------------------------------------------------------------------

struct Formatter<'t, 'a> {
    tree: &'t Tree<'a>,
    /// `gaps[i]` is what comes before token `i`; the last one is what follows the last token.
    gaps: Vec<Gap<'a>>,
    out: Out,
}

impl<'t, 'a> Formatter<'t, 'a> {
    fn new(text: &'a str, tree: &'t Tree<'a>) -> Formatter<'t, 'a> {
        let mut gaps = Vec::with_capacity(tree.toks.len() + 1);
        let mut at = 0;
        for tok in &tree.toks {
            gaps.push(gap(text.get(at..tok.start).unwrap_or("")));
            at = tok.end;
        }
        gaps.push(gap(text.get(at..).unwrap_or("")));
        Formatter {
            tree,
            gaps,
            out: Out::default(),
        }
    }

    fn gap(&self, i: usize) -> Gap<'a> {
        self.gaps.get(i).cloned().unwrap_or_default()
    }

    /// Puts the first comment of `comments` after the current line when it was written on the
    /// line of the token before it; returns the others, and ends the line.
    fn trailing<'c>(&mut self, comments: &'c [Comment<'a>]) -> &'c [Comment<'a>] {
        let rest = match comments.split_first() {
            Some((first, rest)) if first.breaks_before == 0 && self.out.is_open() => {
                self.out.comment(first.text);
                rest
            }
            _ => comments,
        };
        self.out.close();
        rest
    }

    fn file(mut self) -> String {
        let tree = self.tree;
        let start = self.gap(0);
        for (j, c) in start.comments.iter().enumerate() {
            if j > 0 && c.breaks_before >= 2 {
                self.out.blank();
            }
            self.out.own(0, c.text);
        }
        if !start.comments.is_empty() && start.breaks_after >= 2 {
            self.out.blank();
        }
        for (k, item) in tree.items.iter().enumerate() {
            if k > 0 {
                self.between_items(item.head.start, true);
            }
            self.block(item, 0);
        }
        if !tree.toks.is_empty() {
            self.between_items(tree.toks.len(), false);
        }
        self.out.render()
    }

    /// The comments after a top-level `}`: a trailing one stays on its line, the others follow
    /// after one blank line, their blank lines collapsed.
    fn between_items(&mut self, g: usize, before_item: bool) {
        let gap = self.gap(g);
        let own = self.trailing(&gap.comments);
        if own.is_empty() {
            if before_item {
                self.out.blank();
            }
            return;
        }
        self.out.blank();
        for (j, c) in own.iter().enumerate() {
            if j > 0 && c.breaks_before >= 2 {
                self.out.blank();
            }
            self.out.own(0, c.text);
        }
        if before_item && gap.breaks_after >= 2 {
            self.out.blank();
        }
    }

    fn block(&mut self, block: &Block, indent: usize) {
        self.out.open(indent);
        for i in block.head.clone() {
            if i > block.head.start {
                self.sep(i, indent, " ");
            }
            self.token(i);
        }
        for (k, node) in block.body.iter().enumerate() {
            let gap = self.gap(node.first());
            let own = self.trailing(&gap.comments);
            for (j, c) in own.iter().enumerate() {
                if (k > 0 || j > 0) && c.breaks_before >= 2 {
                    self.out.blank();
                }
                self.out.own(indent + 1, c.text);
            }
            if (k > 0 || !own.is_empty()) && gap.breaks_after >= 2 {
                self.out.blank();
            }
            match node {
                Node::Block(b) => self.block(b, indent + 1),
                Node::Stmt(s) => self.stmt(s, indent + 1),
            }
        }
        let gap = self.gap(block.close);
        let own = self.trailing(&gap.comments);
        for (j, c) in own.iter().enumerate() {
            if (!block.body.is_empty() || j > 0) && c.breaks_before >= 2 {
                self.out.blank();
            }
            self.out.own(indent + 1, c.text);
        }
        self.out.open(indent);
        self.token(block.close);
    }

    /// What goes between two tokens of a statement: `sep`, or, when comments are between them,
    /// the comments and a continuation line one level deeper.
    fn sep(&mut self, i: usize, indent: usize, sep: &str) {
        let gap = self.gap(i);
        if gap.comments.is_empty() {
            self.out.push(sep);
            return;
        }
        let own = self.trailing(&gap.comments);
        for c in own {
            self.out.own(indent + 1, c.text);
        }
        self.out.open(indent + 1);
    }

    fn stmt(&mut self, stmt: &Stmt, indent: usize) {
        self.out.open(indent);
        let start = stmt.tokens.start;
        let head_end = stmt.list.unwrap_or(stmt.tokens.end);
        for i in start..head_end {
            if i > start {
                // A value on the lines below (`prompt """`) has no column to be aligned in.
                let below = self
                    .tree
                    .toks
                    .get(i)
                    .is_some_and(|t| t.kind == Kind::Triple && t.text.contains(['\n', '\r']));
                let pad = match self.tree.toks.get(start) {
                    Some(key) if stmt.judge && i == start + 1 && !below => {
                        JUDGE_KEY_WIDTH + 1 - key.text.len().min(JUDGE_KEY_WIDTH)
                    }
                    _ => 1,
                };
                self.sep(i, indent, &" ".repeat(pad));
            }
            self.token(i);
        }
        if let Some(list) = stmt.list {
            self.list(list..stmt.tokens.end, indent);
        }
    }

    fn list(&mut self, range: Range<usize>, indent: usize) {
        let items: Vec<usize> = range
            .clone()
            .filter(|&i| self.tree.toks.get(i).is_some_and(|t| t.kind != Kind::Comma))
            .collect();
        let commented = range
            .clone()
            .any(|i| self.gaps.get(i).is_some_and(|g| !g.comments.is_empty()));
        let one_line: Vec<String> = items.iter().map(|&i| self.text(i, indent)).collect();
        let one_line = one_line.join(", ");
        let width = one_line
            .split('\n')
            .enumerate()
            .map(|(n, line)| {
                let before = if n == 0 { self.out.column() + 1 } else { 0 };
                before + line.chars().count()
            })
            .max()
            .unwrap_or(0);
        if !commented && (items.len() < 2 || width <= WIDTH) {
            self.out.push(" ");
            self.out.push(&one_line);
            return;
        }
        for (n, &i) in items.iter().enumerate() {
            let mut comments = Vec::new();
            if n > 0 {
                comments.extend(self.gap(i - 1).comments);
            }
            comments.extend(self.gap(i).comments);
            let own = self.trailing(&comments);
            for c in own {
                self.out.own(indent + 1, c.text);
            }
            self.out.open(indent + 1);
            self.token(i);
            if n + 1 < items.len() {
                self.out.push(",");
            }
        }
    }

    fn line_indent(&self) -> usize {
        let cur = self.out.cur.as_deref().unwrap_or("");
        (cur.len() - cur.trim_start_matches(' ').len()) / INDENT
    }

    fn token(&mut self, i: usize) {
        let text = self.text(i, self.line_indent());
        self.out.push(&text);
    }

    /// Token `i` as written, a `"""` string re-indented for a line at `indent` when that keeps
    /// its value.
    fn text(&self, i: usize, indent: usize) -> String {
        match self.tree.toks.get(i) {
            Some(t) if t.kind == Kind::Triple => triple(t.text, indent),
            Some(t) => t.text.to_string(),
            None => String::new(),
        }
    }
}

/// A `"""` literal for a line at `indent`: re-indented if that keeps its value, else as written
/// with its line breaks made `\n` (the value joins lines with `\n` whatever they were).
fn triple(raw: &str, indent: usize) -> String {
    let value = |lit: &str| parse::decode_triple(0, lit, 0).value;
    let original = value(raw);
    let lf = raw.replace("\r\n", "\n").replace('\r', "\n");
    if let Some(reindented) = reindent(&lf, indent) {
        if value(&reindented) == original {
            return reindented;
        }
    }
    if value(&lf) == original {
        lf
    } else {
        raw.to_string()
    }
}

/// `"""`, blank first line, lines with their common indentation replaced by `indent + 1` levels,
/// `"""` on a line at `indent`; `None` unless the first and last lines are blank and no line is
/// indented with tabs.
fn reindent(lit: &str, indent: usize) -> Option<String> {
    let content = lit.strip_prefix("\"\"\"")?.strip_suffix("\"\"\"")?;
    let lines: Vec<&str> = content.split('\n').collect();
    let (first, rest) = lines.split_first()?;
    let (last, middle) = rest.split_last()?;
    let blank = |s: &str| s.chars().all(|c| c == ' ' || c == '\t');
    if !blank(first) || !blank(last) {
        return None;
    }
    let lead = |s: &str| s.len() - s.trim_start_matches([' ', '\t']).len();
    let written: Vec<&str> = middle.iter().copied().filter(|l| !blank(l)).collect();
    if written
        .iter()
        .any(|l| l.get(..lead(l)).is_some_and(|ws| ws.contains('\t')))
    {
        return None;
    }
    let common = written.iter().map(|l| lead(l)).min().unwrap_or(0);
    let pad = " ".repeat((indent + 1) * INDENT);
    let mut out = String::from("\"\"\"\n");
    for line in middle {
        if !blank(line) {
            out.push_str(&pad);
            out.push_str(line.get(common..).unwrap_or(line));
        }
        out.push('\n');
    }
    out.push_str(&" ".repeat(indent * INDENT));
    out.push_str("\"\"\"");
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(text: &str) -> String {
        match format_source("t.guard", text) {
            Ok(s) => s,
            Err(d) => panic!("{d}"),
        }
    }

    #[test]
    fn a_comment_inside_a_statement_breaks_it_and_keeps_its_place() {
        let text = "policy \"p\" { match host # hosts\n \"a\" ,\n# b next\n\"b\"\ninject header\n# odd\n\"x\" = \"y\" }\n";
        let once = fmt(text);
        assert_eq!(
            once,
            "policy \"p\" {\n    match host  # hosts\n        \"a\",\n        # b next\n        \"b\"\n    inject header\n        # odd\n        \"x\" = \"y\"\n}\n"
        );
        assert_eq!(fmt(&once), once);
    }

    #[test]
    fn a_triple_string_in_a_list_is_reindented_for_its_line() {
        let text = "policy \"p\" {\nmatch host \"h\"\nrule \"r\" {\ndeny regex \"a\", \"\"\"\n  b\n  \"\"\"\n}\n}\n";
        let once = fmt(text);
        assert_eq!(fmt(&once), once);
        assert!(
            once.contains("deny regex \"a\", \"\"\"\n            b\n        \"\"\"\n"),
            "{once}"
        );
    }

    #[test]
    fn empty_and_comment_only_files() {
        assert_eq!(fmt(""), "");
        assert_eq!(fmt("\u{FEFF}\n\n"), "");
        assert_eq!(fmt("\n\n# a   \n\n\n# b\n"), "# a\n\n# b\n");
    }

    #[test]
    fn the_off_marker_counts_only_among_leading_comments() {
        assert!(format_off("# x\n\n# guardc fmt: off\npolicy"));
        assert!(!format_off("policy \"p\" {}\n# guardc fmt: off\n"));
    }

    #[test]
    fn reindent_refuses_tabs_and_other_shapes() {
        assert_eq!(reindent("\"\"\"\n\ta\n    b\n\"\"\"", 0), None);
        assert_eq!(reindent("\"\"\"a\n  b\n\"\"\"", 0), None);
        assert_eq!(
            reindent("\"\"\"\n      a\n\n        b\n  \"\"\"", 1).as_deref(),
            Some("\"\"\"\n        a\n\n          b\n    \"\"\"")
        );
    }
}
