//! Data-driven tests of `extract`: every file in `testdata/extract/` is extracted and the result
//! snapshotted. The content type comes from the extension (`.json` → `application/json`, `.txt`
//! → `text/plain`, `.form` → `application/x-www-form-urlencoded`), so the corpus also shows JSON
//! sniffing in text bodies. Beyond the snapshots,
//! every successful result is checked against an independent reading of the body: each segment's
//! path must lead, in serde_json's own parse, to exactly that segment's text (to a number with
//! that value, to base64 of that text, for a path ending in `~` to an object key, and for one
//! ending in `#tags` to a string that is that text with its tag characters hidden). Each segment's
//! origin (prompt, field, envelope: what the judge is shown first) is in the snapshot too.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests fail by panicking, and index what they just built"
)]

use std::fmt::Write as _;
use std::path::Path;

use guard_engine::{extract, Extracted, Format, Limits, Origin};

#[test]
fn corpus() {
    insta::glob!("../../testdata/extract", "*", |path| {
        // The walk also yields the directory itself, which `*` matches as an empty name.
        if path.is_dir() {
            return;
        }
        let body = std::fs::read(path).unwrap();
        let content_type = match path.extension().and_then(|e| e.to_str()) {
            Some("json") => "application/json",
            Some("txt") => "text/plain",
            Some("form") => "application/x-www-form-urlencoded",
            other => panic!("{}: unexpected extension {other:?}", path.display()),
        };
        let result = extract(&body, Some(content_type), &Limits::default());
        let name = path.file_name().unwrap().to_str().unwrap();
        assert_eq!(
            name.starts_with("err_"),
            result.is_err(),
            "{name}: fixtures named err_* must fail and only they: {result:?}"
        );
        if let Ok(extracted) = &result {
            check_paths(path, &body, extracted);
        }
        insta::assert_snapshot!(render(content_type, &result));
    });
}

fn render(content_type: &str, result: &Result<Extracted, guard_engine::ExtractError>) -> String {
    let mut out = format!("content-type: {content_type}\n");
    match result {
        Ok(extracted) => {
            writeln!(out, "format: {}", extracted.format.name()).unwrap();
            for segment in &extracted.segments {
                let origin = match segment.origin {
                    Origin::Prompt => "prompt",
                    Origin::Field => "field",
                    Origin::Envelope => "envelope",
                    _ => "other",
                };
                writeln!(out, "{} ({origin}): {:?}", segment.path, segment.text).unwrap();
            }
        }
        Err(err) => writeln!(out, "error {}: {err}", err.code()).unwrap(),
    }
    out
}

/// Every segment must be non-empty and be what its path points at in the body.
fn check_paths(path: &Path, body: &[u8], extracted: &Extracted) {
    let name = path.display();
    match extracted.format {
        Format::Empty => assert!(extracted.segments.is_empty(), "{name}"),
        Format::Form => {
            let segment = extracted.segments.first().unwrap();
            assert_eq!(segment.path, "body", "{name}");
            assert_eq!(segment.text.as_bytes(), body, "{name}");
            for segment in &extracted.segments[1..] {
                assert!(segment.path.starts_with("form"), "{name}: {}", segment.path);
            }
        }
        Format::Text => {
            let [segment] = extracted.segments.as_slice() else {
                panic!("{name}: one segment")
            };
            assert_eq!(segment.path, "body", "{name}");
            assert_eq!(segment.text.as_bytes(), body, "{name}");
        }
        _ => {
            let doc: serde_json::Value = serde_json::from_slice(body).unwrap();
            for segment in &extracted.segments {
                assert!(
                    !segment.text.is_empty(),
                    "{name}: empty segment at {}",
                    segment.path
                );
                if let Some(string) = segment.path.strip_suffix("#tags") {
                    // The string with its tag characters spelled out as ASCII.
                    let found = doc.pointer(&to_pointer(string)).and_then(|v| v.as_str());
                    let spelled = found.map(|s| {
                        s.chars()
                            .map(|c| match u32::from(c) {
                                n @ 0xe0020..=0xe007e => char::from_u32(n - 0xe0000).unwrap(),
                                _ => c,
                            })
                            .collect::<String>()
                    });
                    assert_eq!(
                        spelled.as_deref(),
                        Some(segment.text.as_str()),
                        "{name}: {}",
                        segment.path
                    );
                    continue;
                }
                if let Some(member) = segment.path.strip_suffix('~') {
                    // A key: the object above the member must have it, and it is the text.
                    let pointer = to_pointer(member);
                    let (parent, key) = pointer.rsplit_once('/').unwrap();
                    let key = key.replace("~1", "/").replace("~0", "~");
                    let object = doc.pointer(parent).and_then(|v| v.as_object());
                    assert!(
                        object.is_some_and(|o| o.contains_key(&key)),
                        "{name}: {}",
                        segment.path
                    );
                    assert_eq!(key, segment.text, "{name}: {}", segment.path);
                    continue;
                }
                let pointer = to_pointer(&segment.path);
                let found = doc.pointer(&pointer);
                match found {
                    Some(serde_json::Value::Number(n)) => assert_eq!(
                        n.as_f64(),
                        segment.text.parse::<f64>().ok(),
                        "{name}: {} ({pointer})",
                        segment.path
                    ),
                    Some(serde_json::Value::String(s)) if s != &segment.text => {
                        // Base64 of a text media type, bare or as a `data:` URL.
                        let payload = s.rsplit_once(";base64,").map_or(s.as_str(), |(_, p)| p);
                        assert_eq!(
                            payload.trim_end_matches('='),
                            base64(segment.text.as_bytes()),
                            "{name}: {} ({pointer})",
                            segment.path
                        );
                    }
                    _ => assert_eq!(
                        found.and_then(|v| v.as_str()),
                        Some(segment.text.as_str()),
                        "{name}: {} ({pointer})",
                        segment.path
                    ),
                }
            }
        }
    }
}

/// Reads a segment path back into a JSON pointer: `a.b[2]["c d"]` → `/a/b/2/c d`.
fn to_pointer(path: &str) -> String {
    let mut pointer = String::new();
    let mut push = |token: &str| {
        pointer.push('/');
        pointer.push_str(&token.replace('~', "~0").replace('/', "~1"));
    };
    let rest = path.strip_prefix('$').unwrap_or(path);
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '.' => {}
            '[' if chars.peek() == Some(&'"') => {
                chars.next();
                let mut key = String::new();
                loop {
                    match chars.next().unwrap() {
                        '"' => break,
                        '\\' => match chars.next().unwrap() {
                            'u' => {
                                let hex: String = chars.by_ref().take(4).collect();
                                key.push(
                                    char::from_u32(u32::from_str_radix(&hex, 16).unwrap()).unwrap(),
                                );
                            }
                            escaped => key.push(escaped),
                        },
                        c => key.push(c),
                    }
                }
                assert_eq!(chars.next(), Some(']'), "{path}");
                push(&key);
            }
            '[' => {
                let index: String = chars.by_ref().take_while(|&c| c != ']').collect();
                index.parse::<usize>().unwrap();
                push(&index);
            }
            c => {
                let mut key = String::from(c);
                while let Some(&next) = chars.peek() {
                    if next == '.' || next == '[' {
                        break;
                    }
                    key.push(next);
                    chars.next();
                }
                push(&key);
            }
        }
    }
    pointer
}

/// Standard base64 without padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |n, &b| n << 8 | u32::from(b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}
