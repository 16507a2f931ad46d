//! Segment paths: where a string sits in the body, for verdicts and `guardc explain`.
//!
//! Paths are built from the body's keys, so they are request text: they go to policy authors
//! (test verdicts, explain) and never into an error body or a log line.

use std::fmt::Write as _;

#[derive(Debug, Clone, Copy)]
pub(super) enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// Appends one step to a path: `.key` (no dot at the start), `[3]`, or `["odd key"]` for keys
/// that are not plain identifiers, so that every path reads back unambiguously. A path that would
/// start with a bracket starts with `$` instead, the root.
pub(super) fn push_step(path: &mut String, step: Step<'_>) {
    match step {
        Step::Key(key) if is_plain_key(key) => {
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(key);
        }
        Step::Key(key) => {
            if path.is_empty() {
                path.push('$');
            }
            path.push_str("[\"");
            for c in key.chars() {
                match c {
                    '"' => path.push_str("\\\""),
                    '\\' => path.push_str("\\\\"),
                    c if c.is_control() => {
                        // Writing to a String cannot fail.
                        let _ = write!(path, "\\u{:04x}", u32::from(c));
                    }
                    c => path.push(c),
                }
            }
            path.push_str("\"]");
        }
        Step::Index(index) => {
            if path.is_empty() {
                path.push('$');
            }
            let _ = write!(path, "[{index}]");
        }
    }
}

fn is_plain_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_render_unambiguously() {
        let mut path = String::new();
        push_step(&mut path, Step::Index(0));
        push_step(&mut path, Step::Key("a.b"));
        push_step(&mut path, Step::Key("c_d-1"));
        push_step(&mut path, Step::Key("q\"\\\n"));
        push_step(&mut path, Step::Index(12));
        assert_eq!(path, r#"$[0]["a.b"].c_d-1["q\"\\\u000a"][12]"#);
        let mut path = String::new();
        push_step(&mut path, Step::Key(""));
        assert_eq!(path, r#"$[""]"#);
    }
}
