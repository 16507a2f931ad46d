//! Any body through extraction alone (charset decoding, JSON, media, data URLs, forms,
//! multipart), with the properties issue 10 closed bypasses on:
//! - never a panic;
//! - an error message never carries request text: it is one of the known shapes, numbers aside;
//! - a body and its UTF-16LE and UTF-32BE encodings read the same, as Python upstreams read them;
//! - every segment is non-empty.
#![no_main]

use guard_engine::{extract, Extracted, ExtractError, Limits};
use libfuzzer_sys::fuzz_target;

const CONTENT_TYPES: [Option<&str>; 8] = [
    None,
    Some("application/json"),
    Some("text/plain"),
    Some("application/json; charset=utf-16"),
    Some("text/plain; charset=utf-16le"),
    Some("application/x-www-form-urlencoded"),
    Some("application/json; charset=iso-8859-1"),
    Some("multipart/form-data; boundary=b"),
];

/// What serde_json says about malformed JSON: the grammar it expected, never the input.
const JSON_MESSAGES: &[&str] = &[
    "EOF while parsing a list",
    "EOF while parsing an object",
    "EOF while parsing a string",
    "EOF while parsing a value",
    "expected `:`",
    "expected `,` or `]`",
    "expected `,` or `}`",
    "expected ident",
    "expected value",
    "expected `\"`",
    "invalid escape",
    "invalid number",
    "number out of range",
    "invalid unicode code point",
    "control character (\\u0000-\\u001F) found while parsing a string",
    "key must be a string",
    "lone leading surrogate in hex escape",
    "trailing comma",
    "trailing characters",
    "unexpected end of hex escape",
    "recursion limit exceeded",
    "refused by guard",
];

/// An error's message with its numbers taken out, which must be one of a fixed set of shapes.
fn shape(err: &ExtractError) -> String {
    err.to_string().chars().filter(|c| !c.is_ascii_digit()).collect()
}

fn check_error(err: &ExtractError) {
    if let ExtractError::InvalidJson { message, .. } = err {
        assert!(JSON_MESSAGES.contains(&message.as_str()), "unknown json message: {message:?}");
        return;
    }
    let shown = shape(err);
    let known = [
        "duplicate key (keys are compared ignoring case) at line  column ",
        "json nesting is deeper than the limit of ",
        "body is not valid utf- at byte offset ",
        "body is not valid utf-le at byte offset ",
        "body is not valid utf-be at byte offset ",
        "the declared charset is not supported (utf-, utf- and utf- are)",
        "body holds a nul character at offset  of its text",
        "body has more than  text segments",
        "media data at byte offset  is not valid base",
        "media data at byte offset  is declared as text but is not utf- text",
        "media data at byte offset  is neither of its declared type nor text",
        "multipart body does not parse as multipart/form-data",
        "multipart part  is not valid base",
        "multipart part  is declared as text but is not utf- text",
        "multipart part  is neither of its declared type nor text",
    ];
    assert!(known.contains(&shown.as_str()), "unknown error message: {shown:?}");
}

fn check(result: &Result<Extracted, ExtractError>) {
    match result {
        Ok(extracted) => {
            for segment in &extracted.segments {
                assert!(!segment.text.is_empty(), "empty segment at {}", segment.path);
            }
        }
        Err(err) => check_error(err),
    }
}

fuzz_target!(|data: &[u8]| {
    let (selector, body) = data.split_first().map_or((0, data), |(s, b)| (*s, b));
    let content_type = CONTENT_TYPES[usize::from(selector & 7)];
    let limits = Limits::default();
    let result = extract(body, content_type, &limits);
    check(&result);

    // The same text in UTF-16LE and UTF-32BE, with no charset declared: read the same when the
    // first character is ASCII (so the NUL pattern shows), there are at least two, and none is
    // NUL (a NUL second character makes UTF-16LE look like UTF-32LE, to Python as to us).
    let Ok(text) = std::str::from_utf8(body) else {
        return;
    };
    let plain = content_type.map(|ct| ct.split(';').next().unwrap_or(ct));
    let utf8 = extract(body, plain, &limits);
    let first_ascii = text.chars().next().is_some_and(|c| c.is_ascii() && c != '\0');
    if !first_ascii || text.chars().count() < 2 || text.contains(['\u{feff}', '\0']) {
        return;
    }
    let utf16: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let utf32: Vec<u8> = text.chars().flat_map(|c| u32::from(c).to_be_bytes()).collect();
    for (wide, name) in [(utf16, "utf-16le"), (utf32, "utf-32be")] {
        let read = extract(&wide, plain, &limits);
        check(&read);
        match (&utf8, &read) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{name} reads differently"),
            // Offsets of UTF-8 errors are in bytes of the original; the wide body has none.
            (Err(ExtractError::InvalidUtf8 { .. }), _) => {}
            (Err(a), Err(b)) => assert_eq!(a.code(), b.code(), "{name} refused differently"),
            (a, b) => panic!("{name}: {a:?} vs {b:?}"),
        }
    }
});
