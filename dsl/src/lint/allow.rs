//! Suppression comments: `# guardc: allow(CODE, CODE)` silences those lint codes for the rule,
//! policy, judge or statement it stands beside: at the end of its first line, or on a comment
//! line just above it (any run of comment lines directly above counts, so the reason can be
//! written on the line before the `allow`). A code is its name (`shadowed_rule`) or its full
//! name (`guard::dsl::shadowed_rule`).
//!
//! The grammar drops comments, so they are read here from the source text, line by line, with
//! strings skipped (a `#` inside `"..."` or `"""..."""` starts no comment).

use std::collections::{HashMap, HashSet};

use crate::ast::{FileId, Span};
use crate::diagnostic::{Code, SourceFile};

/// The allow comments of every file.
#[derive(Debug, Default)]
pub(super) struct Allows {
    /// `(file, line)` → the codes an allow comment on that line names (lines 1-based).
    codes: HashMap<(FileId, usize), Vec<String>>,
    /// Lines that hold nothing but a comment (or are blank before a comment).
    comment_lines: HashSet<(FileId, usize)>,
}

impl Allows {
    pub fn read(sources: &[SourceFile]) -> Allows {
        let mut allows = Allows::default();
        for (file, source) in sources.iter().enumerate() {
            for (line, comment, alone) in comments(&source.text) {
                if alone {
                    allows.comment_lines.insert((file, line));
                }
                let codes = allowed_codes(comment);
                if !codes.is_empty() {
                    allows.codes.entry((file, line)).or_default().extend(codes);
                }
            }
        }
        allows
    }

    /// Whether `code` is allowed at any of `anchors` (the spans of the finding and of what
    /// encloses it: statement, rule, policy).
    pub fn allows(&self, code: Code, anchors: &[Span], sources: &[SourceFile]) -> bool {
        let name = code.as_str();
        let short = name.strip_prefix("guard::dsl::").unwrap_or(name);
        let names = |file: FileId, line: usize| {
            self.codes
                .get(&(file, line))
                .is_some_and(|codes| codes.iter().any(|c| c == short || c == name))
        };
        anchors.iter().any(|span| {
            let Some(source) = sources.get(span.file) else {
                return false;
            };
            let line = source.line_col(span.start).0;
            if names(span.file, line) {
                return true;
            }
            let mut above = line.saturating_sub(1);
            while above > 0 && self.comment_lines.contains(&(span.file, above)) {
                if names(span.file, above) {
                    return true;
                }
                above -= 1;
            }
            false
        })
    }
}

/// The codes of a comment's `guardc: allow(...)`, if it has one.
fn allowed_codes(comment: &str) -> Vec<String> {
    let Some(rest) = comment
        .trim_start_matches('#')
        .trim()
        .strip_prefix("guardc:")
    else {
        return Vec::new();
    };
    let Some(list) = rest.trim().strip_prefix("allow(") else {
        return Vec::new();
    };
    let Some(end) = list.find(')') else {
        return Vec::new();
    };
    list.get(..end)
        .unwrap_or_default()
        .split(',')
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .collect()
}

/// Every comment of a source: its line (1-based), its text from `#` to the end of the line,
/// and whether only white space stands before it on its line.
fn comments(text: &str) -> Vec<(usize, &str, bool)> {
    #[derive(PartialEq)]
    enum State {
        Code,
        Str,
        Triple,
    }
    let mut found = Vec::new();
    let mut state = State::Code;
    let mut line = 1;
    let mut line_blank = true;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let rest = text.get(i..).unwrap_or_default();
        match state {
            State::Code => match c {
                '#' => {
                    let end = rest.find(['\n', '\r']).unwrap_or(rest.len());
                    found.push((line, rest.get(..end).unwrap_or_default(), line_blank));
                    // Skip to the line break, which the loop then counts.
                    while chars.peek().is_some_and(|&(_, c)| c != '\n' && c != '\r') {
                        chars.next();
                    }
                }
                '"' if rest.starts_with("\"\"\"") => {
                    chars.next();
                    chars.next();
                    state = State::Triple;
                    line_blank = false;
                }
                '"' => {
                    state = State::Str;
                    line_blank = false;
                }
                c if !c.is_whitespace() => line_blank = false,
                _ => {}
            },
            State::Str => match c {
                '\\' => {
                    chars.next();
                }
                '"' => state = State::Code,
                '\n' | '\r' => state = State::Code,
                _ => {}
            },
            State::Triple => {
                if !c.is_whitespace() {
                    line_blank = false;
                }
                if rest.starts_with("\"\"\"") {
                    chars.next();
                    chars.next();
                    state = State::Code;
                }
            }
        }
        // A line ends at `\n`, `\r\n` or a lone `\r`, as `SourceFile` counts lines.
        let lone_cr = c == '\r' && chars.peek().is_none_or(|&(_, n)| n != '\n');
        if c == '\n' || lone_cr {
            line += 1;
            line_blank = true;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_skip_strings_and_count_lines() {
        let text = "a \"#no\" # one\n  # two\r\n\"\"\"\n# not\n\"\"\" # three\n";
        let found = comments(text);
        assert_eq!(
            found,
            [
                (1, "# one", false),
                (2, "# two", true),
                (5, "# three", false)
            ]
        );
    }

    #[test]
    fn allow_lists_codes() {
        assert_eq!(
            allowed_codes("# guardc: allow(shadowed_rule, guard::dsl::unused_judge)"),
            ["shadowed_rule", "guard::dsl::unused_judge"]
        );
        assert!(allowed_codes("# allow(shadowed_rule)").is_empty());
    }
}
