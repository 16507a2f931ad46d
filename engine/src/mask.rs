//! Masking: every match of an enforced `mask` rule of the selected policies is replaced in the
//! body that goes upstream, and every other byte is kept.
//!
//! The body is rewritten token by token. A JSON body is lexed into its string tokens (object
//! keys included) and number tokens; each token's value is searched with the mask rules as the
//! scanner searches any text (normalised, with `ignore case`, `whole words`, `validate` and
//! `except`); a token with matches is written anew (a string as a JSON string, escapes and all;
//! a number becomes a string, since its digits are what must not leave), the bytes between
//! tokens are copied. A text body is one token. A value masked inside `\u` escapes is masked like
//! any other, because the search reads the decoded value.
//!
//! What cannot be rewritten in place (a compressed or non-UTF-8 body, a form or multipart body,
//! a value inside a `data:` URL's payload) is not masked here, and the caller's check of the
//! rewritten body refuses the request rather than forward a value the policy masks.
//!
//! Placeholders number the distinct values of one request (the same value twice gets the same
//! one), counting across rules in body order; a number whose placeholder the client itself wrote
//! somewhere in the body is skipped, so a placeholder in the answer always stands for one value
//! and `restore` never turns text the client wrote into a value.

use std::ops::Range;

use crate::ir::{Mode, Program, RuleAction, Side};
use crate::scan::{Scanners, Want};

/// What a mask pass searches with: the selected policies' mask rules of one side.
pub(crate) struct Scope<'a> {
    pub program: &'a Program,
    pub scanners: &'a Scanners,
    pub policies: &'a [usize],
    pub side: Side,
}

/// The body as it goes upstream, and what was replaced in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Masked {
    pub body: Vec<u8>,
    /// Every distinct value replaced, in the order of its first place in the body.
    pub values: Vec<MaskedValue>,
}

/// One distinct value and what it became.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaskedValue {
    /// Index of the policy in the program, and of the rule in it, whose match it was first.
    pub policy: usize,
    pub rule: usize,
    pub placeholder: String,
    pub value: String,
    /// The rule's `restore`: the placeholder in the answer becomes the value again.
    pub restore: bool,
    /// How many times it was replaced.
    pub count: usize,
}

/// One token of the body that masking may rewrite.
#[derive(Debug)]
struct Token {
    /// Byte range in the body, quotes included for a string.
    range: Range<usize>,
    /// The token's value: a string decoded, a number as written, a text body as it is.
    text: String,
}

/// The tokens of a JSON text: every string (keys included) and number, in order. `None` when a
/// string does not decode (cannot happen for a body the extractor parsed).
fn json_tokens(text: &str) -> Option<Vec<Token>> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        match byte {
            b'"' => {
                let start = i;
                i += 1;
                while let Some(&inner) = bytes.get(i) {
                    i += if inner == b'\\' { 2 } else { 1 };
                    if inner == b'"' {
                        break;
                    }
                }
                let raw = text.get(start..i)?;
                let value: String = serde_json::from_str(raw).ok()?;
                tokens.push(Token {
                    range: start..i,
                    text: value,
                });
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while bytes
                    .get(i)
                    .is_some_and(|b| matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                {
                    i += 1;
                }
                tokens.push(Token {
                    range: start..i,
                    text: text.get(start..i)?.to_owned(),
                });
            }
            _ => i += 1,
        }
    }
    Some(tokens)
}

/// A span of a text to replace, and the rule whose match it is.
#[derive(Debug, Clone)]
pub(crate) struct Cut {
    pub span: Range<usize>,
    policy: usize,
    rule: usize,
}

/// Per text, the spans the scope's enforced mask rules match in it, overlapping ones joined,
/// in order.
pub(crate) fn cuts(scope: &Scope<'_>, texts: &[&str]) -> Vec<Vec<Cut>> {
    let program = scope.program;
    let mut cuts: Vec<Vec<Cut>> = vec![Vec::new(); texts.len()];
    for &p in scope.policies {
        let Some(policy) = program.policies.get(p) else {
            continue;
        };
        let masks = |rule: usize| {
            policy
                .rules
                .get(rule)
                .is_some_and(|r| r.mode == Mode::Enforce && matches!(r.action, RuleAction::Mask(_)))
        };
        if !policy.rules.iter().enumerate().any(|(r, _)| masks(r)) {
            continue;
        }
        for hit in scope.scanners.scan(p, texts, Want::All, scope.side) {
            if !masks(hit.rule) || hit.span.is_empty() {
                continue;
            }
            if let Some(text_cuts) = cuts.get_mut(hit.segment) {
                text_cuts.push(Cut {
                    span: hit.span,
                    policy: p,
                    rule: hit.rule,
                });
            }
        }
    }
    cuts.iter_mut().map(|c| merge(c)).collect()
}

/// The placeholders of one body (or stream): a value seen again gets its placeholder again,
/// a new one the next number its rule's `with` gives, skipping a placeholder that `avoid` (the
/// text the client wrote) holds already.
#[derive(Debug, Default)]
pub(crate) struct Numbering {
    pub values: Vec<MaskedValue>,
    next: usize,
}

impl Numbering {
    pub fn placeholder(
        &mut self,
        program: &Program,
        cut: &Cut,
        value: &str,
        avoid: &str,
    ) -> String {
        if let Some(known) = self.values.iter_mut().find(|v| v.value == value) {
            known.count += 1;
            return known.placeholder.clone();
        }
        // Every cut is of a mask rule (`cuts` keeps no other), so the default is never used.
        let default = crate::ir::Mask::default();
        let mask = mask_of(program, cut.policy, cut.rule).unwrap_or(&default);
        let mut next = self.next.max(1);
        let mut placeholder = mask.placeholder(next);
        while mask.numbered() && avoid.contains(&placeholder) {
            next += 1;
            placeholder = mask.placeholder(next);
        }
        self.next = if mask.numbered() { next + 1 } else { next };
        self.values.push(MaskedValue {
            policy: cut.policy,
            rule: cut.rule,
            placeholder: placeholder.clone(),
            value: value.to_owned(),
            restore: mask.restore,
            count: 1,
        });
        placeholder
    }
}

/// Masks the body, or `None` when no enforced mask rule matches any token. `json` says the body
/// was read as JSON (else it is one text); a body that is not UTF-8 is not rewritten.
pub(crate) fn mask(scope: &Scope<'_>, body: &[u8], json: bool) -> Option<Masked> {
    let text = std::str::from_utf8(body).ok()?;
    let tokens = if json {
        json_tokens(text)?
    } else {
        let start = if text.starts_with('\u{feff}') { 3 } else { 0 };
        vec![Token {
            range: start..text.len(),
            text: text.get(start..)?.to_owned(),
        }]
    };
    let texts: Vec<&str> = tokens.iter().map(|t| t.text.as_str()).collect();
    let cuts = cuts(scope, &texts);
    if cuts.iter().all(Vec::is_empty) {
        return None;
    }
    let mut numbering = Numbering::default();
    let mut out = Vec::with_capacity(body.len());
    let mut copied = 0;
    for (token, token_cuts) in tokens.iter().zip(&cuts) {
        if token_cuts.is_empty() {
            continue;
        }
        let mut rewritten = String::with_capacity(token.text.len());
        let mut at = 0;
        for cut in token_cuts {
            let (Some(before), Some(value)) = (
                token.text.get(at..cut.span.start),
                token.text.get(cut.span.clone()),
            ) else {
                // Spans come from the scanner on char boundaries; if one ever did not, the
                // token is left whole and the caller's check of the result refuses it.
                continue;
            };
            rewritten.push_str(before);
            rewritten.push_str(&numbering.placeholder(scope.program, cut, value, text));
            at = cut.span.end;
        }
        rewritten.push_str(token.text.get(at..).unwrap_or_default());
        out.extend_from_slice(body.get(copied..token.range.start).unwrap_or_default());
        if json {
            // serde_json writes a valid JSON string for any Rust string.
            let encoded = serde_json::to_string(&rewritten).ok()?;
            out.extend_from_slice(encoded.as_bytes());
        } else {
            out.extend_from_slice(rewritten.as_bytes());
        }
        copied = token.range.end;
    }
    out.extend_from_slice(body.get(copied..).unwrap_or_default());
    Some(Masked {
        body: out,
        values: numbering.values,
    })
}

/// The answer with each placeholder of a `restore` rule replaced by its value: the model's
/// answer to a masked request, for that request only. `json`: the answer is JSON, so a value is
/// written as JSON string content (escaped), where the placeholder stood inside a string. A
/// placeholder the model changed (`[PHONE 1]`, `[phone_1]`) is not one and stays as it is.
pub fn restore(answer: &[u8], values: &[MaskedValue], json: bool) -> Vec<u8> {
    let restored: Vec<&MaskedValue> = values.iter().filter(|v| v.restore).collect();
    let placeholders: Vec<&str> = restored.iter().map(|v| v.placeholder.as_str()).collect();
    // Leftmost-longest, so `PHONE_10` is never read as `PHONE_1` and a `0`.
    let Ok(automaton) = aho_corasick::AhoCorasick::builder()
        .match_kind(aho_corasick::MatchKind::LeftmostLongest)
        .build(&placeholders)
    else {
        return answer.to_vec();
    };
    let mut out = Vec::with_capacity(answer.len());
    let mut at = 0;
    for found in automaton.find_iter(answer) {
        let Some(value) = restored.get(found.pattern().as_usize()) else {
            continue;
        };
        out.extend_from_slice(answer.get(at..found.start()).unwrap_or_default());
        if json {
            let quoted = serde_json::to_string(&value.value).unwrap_or_default();
            let inner = quoted
                .strip_prefix('"')
                .and_then(|q| q.strip_suffix('"'))
                .unwrap_or_default();
            out.extend_from_slice(inner.as_bytes());
        } else {
            out.extend_from_slice(value.value.as_bytes());
        }
        at = found.end();
    }
    out.extend_from_slice(answer.get(at..).unwrap_or_default());
    out
}

fn mask_of(program: &Program, policy: usize, rule: usize) -> Option<&crate::ir::Mask> {
    match &program.policies.get(policy)?.rules.get(rule)?.action {
        RuleAction::Mask(mask) => Some(mask),
        _ => None,
    }
}

/// The cuts of one token, overlapping ones joined (the earliest's rule names the join), sorted.
fn merge(cuts: &mut [Cut]) -> Vec<Cut> {
    cuts.sort_unstable_by_key(|c| (c.span.start, std::cmp::Reverse(c.span.end)));
    let mut merged: Vec<Cut> = Vec::new();
    for cut in cuts.iter() {
        match merged.last_mut() {
            Some(last) if cut.span.start < last.span.end => {
                last.span.end = last.span.end.max(cut.span.end);
            }
            _ => merged.push(cut.clone()),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_tokens_are_every_string_and_number() {
        let text = r#"{"a\"b": ["x\u0041", -2.5e3, true, null, "y\\"], "n": 13812345678}"#;
        let tokens: Vec<(&str, String)> = json_tokens(text)
            .unwrap()
            .into_iter()
            .map(|t| (&text[t.range], t.text))
            .collect();
        assert_eq!(
            tokens,
            vec![
                (r#""a\"b""#, "a\"b".to_string()),
                (r#""x\u0041""#, "xA".to_string()),
                ("-2.5e3", "-2.5e3".to_string()),
                (r#""y\\""#, "y\\".to_string()),
                (r#""n""#, "n".to_string()),
                ("13812345678", "13812345678".to_string()),
            ]
        );
    }

    fn value(placeholder: &str, value: &str, restore: bool) -> MaskedValue {
        MaskedValue {
            policy: 0,
            rule: 0,
            placeholder: placeholder.into(),
            value: value.into(),
            restore,
            count: 1,
        }
    }

    #[test]
    fn restore_puts_back_exact_placeholders_only() {
        let values = [
            value("[P_1]", "13812345678", true),
            value("[P_10]", "a \"quoted\" one", true),
            value("[X]", "kept masked", false),
        ];
        let answer = br#"{"content": "[P_1], [P_10], [p_1], [P_1 ], [X]"}"#;
        assert_eq!(
            String::from_utf8(restore(answer, &values, true)).unwrap(),
            r#"{"content": "13812345678, a \"quoted\" one, [p_1], [P_1 ], [X]"}"#
        );
        assert_eq!(
            restore(b"text [P_10]", &values, false),
            b"text a \"quoted\" one".to_vec()
        );
    }

    #[test]
    fn overlapping_cuts_join() {
        let cut = |start, end, rule| Cut {
            span: start..end,
            policy: 0,
            rule,
        };
        let mut cuts = vec![cut(5, 9, 1), cut(0, 3, 0), cut(2, 4, 1), cut(9, 10, 0)];
        let merged: Vec<(Range<usize>, usize)> = merge(&mut cuts)
            .into_iter()
            .map(|c| (c.span, c.rule))
            .collect();
        assert_eq!(merged, vec![(0..4, 0), (5..9, 1), (9..10, 0)]);
    }
}
