//! Strict JSON reading into a small owned tree.
//!
//! Bodies are parsed by our own serde visitor, which refuses what would let the guard and the
//! upstream read different requests: duplicate object keys anywhere, compared the way the most
//! lenient upstream compares them (Go's encoding/json and ASP.NET bind keys case-insensitively and
//! keep the last duplicate, so `{"mimeType": "image/png", "MimeType": "text/plain"}` is one field
//! to them), nesting deeper than a limit, and, through serde_json, invalid UTF-8, lone surrogate
//! escapes and trailing data. Errors point at line and column, never quote the body.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

use super::ExtractError;

/// The parsed body. Booleans and nulls are kept only as placeholders: they carry no text.
#[derive(Debug)]
pub(super) enum Json {
    Scalar,
    Number(Number),
    /// A string and its ordinal among the body's string tokens (keys included), which locates it
    /// in the body for an error message without quoting it.
    String(String, usize),
    Array(Vec<Json>),
    /// Fields in document order; keys are unique even ignoring case.
    Object(Vec<(String, Json)>),
}

/// A JSON number as serde_json read it; written out as text when it is scanned.
#[derive(Debug, Clone, Copy)]
pub(super) enum Number {
    Unsigned(u64),
    Signed(i64),
    /// A number that is not an integer in range: a fraction, an exponent, or more digits than 64
    /// bits hold. `f64` keeps about 16 digits, but a Python upstream reads every digit, so the
    /// number is also scanned as written: this is its ordinal among the body's number tokens.
    Float(f64, usize),
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Number::Unsigned(n) => write!(f, "{n}"),
            Number::Signed(n) => write!(f, "{n}"),
            Number::Float(n, _) => write!(f, "{n}"),
        }
    }
}

impl Json {
    /// The value of a field, its key compared as upstreams compare keys ([`fold`]).
    pub(super) fn field(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(fields) => fields
                .iter()
                .find(|(k, _)| same_key(k, key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    pub(super) fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s, _) => Some(s),
            _ => None,
        }
    }
}

/// A key as the most lenient upstream compares it: Unicode simple case folding, approximated by
/// upper- then lower-casing (so `ſ` and `K` (Kelvin) fold as Go folds them).
pub(super) fn fold(key: &str) -> Cow<'_, str> {
    if key.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) {
        return Cow::Borrowed(key);
    }
    Cow::Owned(folded(key).collect())
}

/// The characters of `key` folded as [`fold`] folds them.
fn folded(key: &str) -> impl Iterator<Item = char> + '_ {
    key.chars()
        .flat_map(char::to_uppercase)
        .flat_map(char::to_lowercase)
}

/// Whether a key of the body is `known` (an ASCII lowercase name of ours), compared by [`fold`].
/// Called for every key against every name the walk knows, so it never allocates.
pub(super) fn same_key(key: &str, known: &str) -> bool {
    same_folded(key, known)
}

/// Whether two keys are one to an upstream that compares them by [`fold`], without allocating.
fn same_folded(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        // Folding ASCII is lowercasing it.
        return a.eq_ignore_ascii_case(b);
    }
    folded(a).eq(folded(b))
}

/// Whether `key` is already among an object's `fields`. Most objects have a few keys, compared
/// one by one; past [`FEW_KEYS`] the folded keys go into a tree, so a body of many keys cannot
/// make the check quadratic. (A tree rather than a hash set: with the fixed hash keys wasm builds
/// may get, an attacker could craft colliding keys.)
fn seen_before(fields: &[(String, Json)], many: &mut BTreeSet<String>, key: &str) -> bool {
    if fields.len() < FEW_KEYS {
        return fields.iter().any(|(earlier, _)| same_folded(earlier, key));
    }
    if many.is_empty() {
        many.extend(fields.iter().map(|(earlier, _)| fold(earlier).into_owned()));
    }
    !many.insert(fold(key).into_owned())
}

/// How many keys an object may have before its keys are looked up in a tree.
const FEW_KEYS: usize = 16;

pub(super) fn parse(text: &str, max_depth: usize) -> Result<Json, ExtractError> {
    let mut parser = Parser {
        max_depth,
        failure: None,
        strings: 0,
        numbers: 0,
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let result = NodeSeed {
        parser: &mut parser,
        depth: 0,
    }
    .deserialize(&mut de)
    .and_then(|doc| de.end().map(|()| doc));
    result.map_err(|err| match parser.failure.take() {
        Some(Failure::TooDeep) => ExtractError::TooDeep { limit: max_depth },
        Some(Failure::DuplicateKey) => ExtractError::DuplicateKey {
            line: err.line(),
            column: err.column(),
        },
        None => json_error(&err),
    })
}

/// serde_json's error without the ` at line L column C` its `Display` appends, which we report
/// as fields instead. serde_json's syntax messages describe the grammar, never the input.
fn json_error(err: &serde_json::Error) -> ExtractError {
    let (line, column) = (err.line(), err.column());
    let full = err.to_string();
    let suffix = format!(" at line {line} column {column}");
    let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
    ExtractError::InvalidJson {
        line,
        column,
        message,
    }
}

/// The byte offset of string token number `ordinal` (keys included) in the JSON text.
pub(super) fn string_offset(text: &str, ordinal: usize) -> usize {
    let bytes = text.as_bytes();
    let mut seen = 0;
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        if byte == b'"' {
            if seen == ordinal {
                return i;
            }
            seen += 1;
            i += 1;
            // Skip to the closing quote, over escapes.
            while let Some(&inner) = bytes.get(i) {
                i += if inner == b'\\' { 2 } else { 1 };
                if inner == b'"' {
                    break;
                }
            }
        } else {
            i += 1;
        }
    }
    text.len()
}

/// Number token number `ordinal` as written in the JSON text.
pub(super) fn number_token(text: &str, ordinal: usize) -> Option<&str> {
    let bytes = text.as_bytes();
    let mut seen = 0;
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        match byte {
            b'"' => {
                i += 1;
                while let Some(&inner) = bytes.get(i) {
                    i += if inner == b'\\' { 2 } else { 1 };
                    if inner == b'"' {
                        break;
                    }
                }
            }
            b'-' | b'0'..=b'9' => {
                let len = bytes
                    .get(i..)
                    .unwrap_or_default()
                    .iter()
                    .take_while(|b| matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                    .count();
                if seen == ordinal {
                    return text.get(i..i + len);
                }
                seen += 1;
                i += len;
            }
            _ => i += 1,
        }
    }
    None
}

/// State shared by every level of the visitor. serde errors can only carry a message, so our own
/// refusals are recorded here and turned into typed errors once the parse has unwound.
struct Parser {
    max_depth: usize,
    failure: Option<Failure>,
    /// String tokens read so far.
    strings: usize,
    /// Number tokens read so far.
    numbers: usize,
}

enum Failure {
    TooDeep,
    DuplicateKey,
}

impl Parser {
    fn fail<E: de::Error>(&mut self, failure: Failure) -> E {
        self.failure = Some(failure);
        E::custom("refused by guard")
    }

    /// The depth of a container whose parent is at `depth`, or the refusal if that is too deep.
    fn enter<E: de::Error>(&mut self, depth: usize) -> Result<usize, E> {
        let depth = depth.saturating_add(1);
        if depth > self.max_depth {
            Err(self.fail(Failure::TooDeep))
        } else {
            Ok(depth)
        }
    }

    fn string(&mut self, value: String) -> Json {
        let ordinal = self.strings;
        self.strings += 1;
        Json::String(value, ordinal)
    }
}

/// Deserialises one value whose enclosing containers are `depth` deep.
struct NodeSeed<'p> {
    parser: &'p mut Parser,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for NodeSeed<'_> {
    type Value = Json;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NodeSeed<'_> {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any json value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Json, E> {
        Ok(Json::Scalar)
    }

    fn visit_i64<E>(self, value: i64) -> Result<Json, E> {
        self.parser.numbers += 1;
        Ok(Json::Number(Number::Signed(value)))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Json, E> {
        self.parser.numbers += 1;
        Ok(Json::Number(Number::Unsigned(value)))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Json, E> {
        let ordinal = self.parser.numbers;
        self.parser.numbers += 1;
        Ok(Json::Number(Number::Float(value, ordinal)))
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Scalar)
    }

    fn visit_str<E>(self, value: &str) -> Result<Json, E> {
        Ok(self.parser.string(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Json, E> {
        Ok(self.parser.string(value))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let parser = self.parser;
        let depth = parser.enter(self.depth)?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(NodeSeed {
            parser: &mut *parser,
            depth,
        })? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let parser = self.parser;
        let depth = parser.enter(self.depth)?;
        let mut many = BTreeSet::new();
        let mut fields = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            parser.strings += 1;
            if seen_before(&fields, &mut many, &key) {
                return Err(parser.fail(Failure::DuplicateKey));
            }
            let value = map.next_value_seed(NodeSeed {
                parser: &mut *parser,
                depth,
            })?;
            fields.push((key, value));
        }
        Ok(Json::Object(fields))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_found_ignoring_case_at_any_depth() {
        for body in [
            r#"{"messages":[],"m\u0065ssages":[]}"#,
            r#"{"a":{"mimeType":"x","MimeType":"y"}}"#,
            r#"[{"x":1},{"Type":1,"type":2}]"#,
            r#"{"me\u017f\u017fages":1,"messages":2}"#,
        ] {
            assert!(
                matches!(parse(body, 64), Err(ExtractError::DuplicateKey { .. })),
                "{body}"
            );
        }
        assert!(parse(r#"{"a":{"b":1},"b":{"a":1}}"#, 64).is_ok());
    }

    #[test]
    fn duplicates_are_found_in_objects_past_the_few_keys_compared_in_place() {
        // FEW_KEYS keys are compared one by one, later ones through the tree: a duplicate of
        // an early key found late, and one of a late key, are both refused.
        let keys = |n: usize| (0..n).map(|i| format!("\"k{i}\":{i}")).collect::<Vec<_>>();
        for (n, duplicate) in [
            (20, "K3"),
            (40, r"k\u0033\u0039"),
            (FEW_KEYS, "k0"),
            (3, "K1"),
        ] {
            let body = format!("{{{},\"{duplicate}\":0}}", keys(n).join(","));
            assert!(
                matches!(parse(&body, 64), Err(ExtractError::DuplicateKey { .. })),
                "{body}"
            );
        }
        for n in [FEW_KEYS - 1, FEW_KEYS, FEW_KEYS + 1, 100] {
            let body = format!("{{{}}}", keys(n).join(","));
            assert!(parse(&body, 64).is_ok(), "{n} distinct keys");
        }
        // Folded as upstreams fold them, in the tree too.
        let body = format!("{{{},\"Kelvin\":1,\"\\u212aelvin\":2}}", keys(20).join(","));
        assert!(matches!(
            parse(&body, 64),
            Err(ExtractError::DuplicateKey { .. })
        ));
    }

    #[test]
    fn keys_compare_as_upstreams_fold_them_without_allocating() {
        assert!(same_key("MimeType", "mimetype"));
        assert!(same_key("\u{212a}ind", "kind"));
        assert!(same_key("me\u{17f}\u{17f}ages", "messages"));
        assert!(!same_key("mime_type", "mimetype"));
        assert!(!same_key("ｄata", "data"));
        assert!(same_folded("Ab\u{17f}", "aBS") && !same_folded("ab", "abc"));
    }

    #[test]
    fn duplicate_key_errors_point_at_the_key() {
        let err = parse("{\"b\":1,\n \"B\":2}", 64).unwrap_err();
        assert_eq!(err, ExtractError::DuplicateKey { line: 2, column: 4 });
        assert!(!err.to_string().contains('B'), "{err}");
    }

    #[test]
    fn number_tokens_are_found_as_written() {
        let text = r#"{"a-1": [1, -2.5e3, "9"], "b": 13812345678123456789012}"#;
        let tokens: Vec<Option<&str>> = (0..4).map(|n| number_token(text, n)).collect();
        assert_eq!(
            tokens,
            [
                Some("1"),
                Some("-2.5e3"),
                Some("13812345678123456789012"),
                None
            ]
        );
    }

    #[test]
    fn string_offsets_count_keys_and_skip_escapes() {
        let text = r#"{"a\"b": ["x", "y\\"], "c": "z"}"#;
        let offsets: Vec<usize> = (0..6).map(|n| string_offset(text, n)).collect();
        assert_eq!(offsets, [1, 10, 15, 23, 28, text.len()]);
    }
}
