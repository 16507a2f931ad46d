//! One pass for benign bodies: which policies may decide a plain JSON body by searching it whole.
//!
//! Extraction cuts a JSON body into segments (every string, key and number) and the scanner
//! searches each. For a body `extract::plain_json` accepts, every segment is a slice of the
//! body as written, standing between JSON punctuation (`"`, `:`, `,`, brackets, white space):
//! no escape, no decoded media, no spelled-out tags, no number in a second form. Then a match
//! inside a segment is a match inside the whole body at the same place, in each view: NFKC,
//! the removal of invisible runs and digit folding change a character by itself or with its
//! neighbours inside the segment, never across a `"` (which composes with nothing); a keyword's
//! collapsed spaces collapse the same; a word boundary at a segment's edge is one in the body
//! too (the punctuation beside it is no word character). Searching the body whole can only find
//! *more* (matches across segments), so when it finds nothing, no segment has a match, and a
//! policy whose rules can only deny on a match allows the body: the full path's verdict without
//! extraction's tree and per-segment searches.
//!
//! That argument needs each rule to be a plain match: no filter that can refuse a match
//! (`whole words`, `validate`, `except`: an exception could match across segments in the whole
//! body and excuse a candidate), no regex that asserts where its text starts or ends (`^`, `$`,
//! `\A`, `\z`: a segment's edge is not the body's), and no rule whose verdict needs the segments
//! (an escalation shows them to its judge, a mask rewrites them). [`eligible`] checks a policy
//! once, at load. A test runs every fixture body and corpus through both paths
//! (`guardc/src/one_pass_tests.rs`), and the `request_eval` fuzz target checks the same.

use crate::ir::{Policy, RuleAction};

/// Whether a policy's verdict on a plain JSON body may come from one search of the whole body.
pub(crate) fn eligible(policy: &Policy) -> bool {
    policy.rules.iter().all(|rule| match &rule.action {
        RuleAction::Deny(patterns) => {
            !patterns.filters_matches() && !patterns.regexes.iter().any(|r| asserts_edges(r))
        }
        RuleAction::Escalate { .. } | RuleAction::Mask(_) => false,
    })
}

/// Whether a regex may assert where its text starts or ends, read conservatively from its
/// source: any `$`, any `^` but a class's negation (`[^`), `\A`, `\z`, `\Z`. A false alarm only
/// costs the policy the one pass.
fn asserts_edges(regex: &str) -> bool {
    let mut previous = None;
    let mut chars = regex.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('A' | 'z' | 'Z') | None => return true,
                // An escaped character, even `\^` or `\$`, is a literal.
                Some(_) => {
                    previous = Some('\\');
                    continue;
                }
            },
            '$' => return true,
            '^' if previous != Some('[') => return true,
            _ => {}
        }
        previous = Some(c);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::asserts_edges;

    #[test]
    fn edges_are_read_conservatively() {
        for anchored in [
            r"^secret",
            r"secret$",
            r"(?m)^x",
            r"\Asecret",
            r"secret\z",
            r"a\\^b",
            r"[$]",
            r"[a^]",
            r"x\",
        ] {
            assert!(asserts_edges(anchored), "{anchored}");
        }
        for plain in [
            r"AKIA[0-9A-Z]{16}",
            r"https?://[^/\s:@]{1,64}:[^/\s:@]{1,64}@",
            r"\bsecret\b",
            r"\^\$",
            r"(?-u:\b)1[3-9][0-9]{9}(?-u:\b)",
        ] {
            assert!(!asserts_edges(plain), "{plain}");
        }
    }
}
