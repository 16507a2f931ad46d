//! Body bytes → the text an upstream decodes them to.
//!
//! The bytes on the wire are not always UTF-8, and what matters is what the upstream reads, not
//! what the guard would like to read. Python upstreams (`json.loads` on bytes) detect UTF-16 and
//! UTF-32 by a byte-order mark or by the pattern of NUL bytes in the first four bytes (RFC 4627,
//! section 3), whatever the content type says. A UTF-16BE body without a BOM is also valid UTF-8,
//! ASCII with a NUL before every character, so reading it as UTF-8 would scan text in which every
//! keyword is split by NULs while the upstream decodes the prompt. So the body is decoded the way
//! the most lenient upstream decodes it: a BOM first, then the NUL pattern, then the declared
//! charset, then UTF-8. A NUL byte left in the result means the body is binary in some way we do
//! not read, and is refused rather than scanned as something else.

use std::borrow::Cow;

use super::ExtractError;

/// The encodings a body can be read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Charset {
    Utf8,
    Utf16Le,
    Utf16Be,
    Utf32Le,
    Utf32Be,
}

impl Charset {
    fn name(self) -> &'static str {
        match self {
            Charset::Utf8 => "utf-8",
            Charset::Utf16Le => "utf-16le",
            Charset::Utf16Be => "utf-16be",
            Charset::Utf32Le => "utf-32le",
            Charset::Utf32Be => "utf-32be",
        }
    }
}

/// The body as text: borrowed when it is UTF-8 already (a UTF-8 byte-order mark removed).
pub(super) fn decode_body<'b>(
    body: &'b [u8],
    content_type: Option<&str>,
) -> Result<Cow<'b, str>, ExtractError> {
    let (charset, bom) = match sniff(body) {
        Some(found) => found,
        None => (declared(content_type)?, 0),
    };
    let bytes = body.get(bom..).unwrap_or_default();
    let text =
        match charset {
            Charset::Utf8 => Cow::Borrowed(std::str::from_utf8(bytes).map_err(|err| {
                ExtractError::InvalidUtf8 {
                    offset: bom + err.valid_up_to(),
                }
            })?),
            wide => Cow::Owned(decode_wide(bytes, wide).map_err(|offset| {
                ExtractError::InvalidCharset {
                    charset: wide.name(),
                    offset: bom + offset,
                }
            })?),
        };
    if let Some(offset) = memchr::memchr(0, text.as_bytes()) {
        return Err(ExtractError::NulByte { offset });
    }
    Ok(text)
}

/// The charset a byte-order mark or the NUL pattern of the first bytes gives, with the length of
/// the mark. This is Python's `json.detect_encoding`, which upstreams use on raw request bytes.
fn sniff(body: &[u8]) -> Option<(Charset, usize)> {
    let at = |i: usize| body.get(i).copied();
    // UTF-32 marks first: FF FE 00 00 also starts with the UTF-16LE mark.
    if body.starts_with(&[0x00, 0x00, 0xfe, 0xff]) {
        return Some((Charset::Utf32Be, 4));
    }
    if body.starts_with(&[0xff, 0xfe, 0x00, 0x00]) {
        return Some((Charset::Utf32Le, 4));
    }
    if body.starts_with(&[0xfe, 0xff]) {
        return Some((Charset::Utf16Be, 2));
    }
    if body.starts_with(&[0xff, 0xfe]) {
        return Some((Charset::Utf16Le, 2));
    }
    if body.starts_with(&[0xef, 0xbb, 0xbf]) {
        return Some((Charset::Utf8, 3));
    }
    if body.len() >= 4 {
        if at(0) == Some(0) {
            return Some((
                if at(1) != Some(0) {
                    Charset::Utf16Be
                } else {
                    Charset::Utf32Be
                },
                0,
            ));
        }
        if at(1) == Some(0) {
            return Some((
                if at(2) != Some(0) || at(3) != Some(0) {
                    Charset::Utf16Le
                } else {
                    Charset::Utf32Le
                },
                0,
            ));
        }
    } else if body.len() == 2 {
        if at(0) == Some(0) {
            return Some((Charset::Utf16Be, 0));
        }
        if at(1) == Some(0) {
            return Some((Charset::Utf16Le, 0));
        }
    }
    None
}

/// The charset the content type declares: UTF-8 when it names none. A charset we cannot decode is
/// refused, since the upstream may read the bytes as something else than we would.
fn declared(content_type: Option<&str>) -> Result<Charset, ExtractError> {
    let Some(content_type) = content_type else {
        return Ok(Charset::Utf8);
    };
    let charset = content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches('"').to_ascii_lowercase())
    });
    match charset.as_deref() {
        None | Some("utf-8" | "utf8" | "us-ascii" | "ascii") => Ok(Charset::Utf8),
        // Without a mark, the unsuffixed names are big-endian (RFC 2781).
        Some("utf-16be" | "utf-16") => Ok(Charset::Utf16Be),
        Some("utf-16le") => Ok(Charset::Utf16Le),
        Some("utf-32be" | "utf-32") => Ok(Charset::Utf32Be),
        Some("utf-32le") => Ok(Charset::Utf32Le),
        Some(_) => Err(ExtractError::UnsupportedCharset),
    }
}

/// Decodes UTF-16 or UTF-32 strictly; the error is the byte offset of the first bad unit.
fn decode_wide(bytes: &[u8], charset: Charset) -> Result<String, usize> {
    let mut out = String::with_capacity(bytes.len() / 2);
    match charset {
        Charset::Utf16Le | Charset::Utf16Be => {
            if bytes.len() % 2 != 0 {
                return Err(bytes.len() - 1);
            }
            let units = bytes.chunks_exact(2).map(|pair| match (pair, charset) {
                ([a, b], Charset::Utf16Le) => u16::from_le_bytes([*a, *b]),
                ([a, b], _) => u16::from_be_bytes([*a, *b]),
                _ => 0xdc00, // unreachable for exact chunks; a lone surrogate fails below
            });
            for (index, unit) in char::decode_utf16(units).enumerate() {
                out.push(unit.map_err(|_| index * 2)?);
            }
        }
        Charset::Utf32Le | Charset::Utf32Be => {
            if bytes.len() % 4 != 0 {
                return Err(bytes.len() - bytes.len() % 4);
            }
            for (index, quad) in bytes.chunks_exact(4).enumerate() {
                let word: [u8; 4] = quad.try_into().map_err(|_| index * 4)?;
                let value = if charset == Charset::Utf32Le {
                    u32::from_le_bytes(word)
                } else {
                    u32::from_be_bytes(word)
                };
                out.push(char::from_u32(value).ok_or(index * 4)?);
            }
        }
        Charset::Utf8 => {
            out.push_str(std::str::from_utf8(bytes).map_err(|err| err.valid_up_to())?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16(text: &str, little: bool) -> Vec<u8> {
        text.encode_utf16()
            .flat_map(|u| {
                if little {
                    u.to_le_bytes()
                } else {
                    u.to_be_bytes()
                }
            })
            .collect()
    }

    fn utf32(text: &str, little: bool) -> Vec<u8> {
        text.chars()
            .flat_map(|c| {
                let c = u32::from(c);
                if little {
                    c.to_le_bytes()
                } else {
                    c.to_be_bytes()
                }
            })
            .collect()
    }

    #[test]
    fn wide_bodies_are_read_as_python_reads_them() {
        let json = r#"{"prompt": "账号"}"#;
        for (bytes, what) in [
            (utf16(json, false), "utf-16be"),
            (utf16(json, true), "utf-16le"),
            (utf32(json, false), "utf-32be"),
            (utf32(json, true), "utf-32le"),
            (
                [&[0xfe, 0xff][..], &utf16(json, false)].concat(),
                "bom utf-16be",
            ),
            (
                [&[0xff, 0xfe][..], &utf16(json, true)].concat(),
                "bom utf-16le",
            ),
            (
                [&[0, 0, 0xfe, 0xff][..], &utf32(json, false)].concat(),
                "bom utf-32be",
            ),
            (
                [&[0xff, 0xfe, 0, 0][..], &utf32(json, true)].concat(),
                "bom utf-32le",
            ),
            (utf16(&format!(" \n{json}"), true), "leading white space"),
        ] {
            let read = decode_body(&bytes, None).unwrap();
            assert_eq!(read.trim_start(), json, "{what}");
            // The declared charset does not override what the bytes show.
            let read = decode_body(&bytes, Some("application/json; charset=utf-8")).unwrap();
            assert_eq!(read.trim_start(), json, "{what}");
        }
    }

    #[test]
    fn declared_charsets() {
        let body = utf16("hi", false);
        assert_eq!(
            decode_body(&body, Some("text/plain; charset=UTF-16")).as_deref(),
            Ok("hi")
        );
        assert_eq!(
            decode_body(b"hi", Some("text/plain; charset=\"utf-8\"")).as_deref(),
            Ok("hi")
        );
        assert_eq!(
            decode_body(b"caf\xe9", Some("text/plain; charset=iso-8859-1")),
            Err(ExtractError::UnsupportedCharset)
        );
    }

    #[test]
    fn nul_bytes_and_bad_units_are_refused() {
        assert_eq!(
            decode_body(b"{\"a\":\"b\0\"}", None),
            Err(ExtractError::NulByte { offset: 7 })
        );
        // A lone surrogate in UTF-16.
        let mut bad = utf16("{\"", true);
        bad.extend([0x00, 0xd8]);
        assert_eq!(
            decode_body(&bad, None),
            Err(ExtractError::InvalidCharset {
                charset: "utf-16le",
                offset: 4
            })
        );
        // An odd length.
        assert!(matches!(
            decode_body(&[b'{', 0, b'}', 0, b' '], None),
            Err(ExtractError::InvalidCharset { .. })
        ));
        // Too short for the pattern: read as UTF-8, where the NUL is refused.
        assert_eq!(
            decode_body(&[b'{', 0, b'}'], None),
            Err(ExtractError::NulByte { offset: 1 })
        );
        // UTF-16 that decodes to a NUL character.
        assert_eq!(
            decode_body(&utf16("{\"\0\"}", true), None),
            Err(ExtractError::NulByte { offset: 2 })
        );
    }
}
