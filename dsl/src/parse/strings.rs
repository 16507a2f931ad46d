//! String literals: `"..."` with JSON's escapes and raw, dedented `"""..."""`, decoded into
//! [`Str`]s that remember where each byte of the value came from.
//!
//! A bad escape is not a syntax error: it is reported, the string is decoded as well as possible,
//! and the file's tree is still built and checked.

use crate::ast::{FileId, Span, Str};
use crate::diagnostic::{Code, Diag};

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
}
