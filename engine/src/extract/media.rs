//! Media payloads: the only strings of a body that may go unscanned, and only once checked.
//!
//! A base64 image is not text a keyword rule can usefully read, and scanning megabytes of base64
//! costs time and finds false positives. But "this is an image" is a claim the request makes, and
//! a guard must check a claim before it skips anything on its word: base64 of a text type is text
//! the model reads (Gemini takes `text/plain` inline data as prompt text), and a payload that says
//! `image/png` may decode to a prompt. So a payload is skipped only when its declared type is one
//! we can verify and its decoded bytes start with that type's signature; text types are decoded
//! and scanned; anything else that decodes to UTF-8 is scanned as text, and the rest is refused.
//! Skipping also requires the standard base64 alphabet: a lenient decoder that drops characters
//! outside its alphabet (Python's default) would read a URL-safe payload as other bytes than ours.

pub(super) use super::MediaProblem as Problem;

/// What a payload turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Payload {
    /// Binary media of its declared, verified type: not text, not scanned.
    Inert,
    /// Text to scan (decoded).
    Text(String),
}

/// Reads a base64 payload of the declared media type.
pub(super) fn base64_payload(payload: &str, media_type: &str) -> Result<Payload, Problem> {
    let bytes = decode_base64(payload).ok_or(Problem::NotBase64)?;
    let standard = !payload.contains(['-', '_']);
    classify(bytes, media_type, standard)
}

/// Reads a `data:` URL (RFC 2397): whether its payload is base64, and what it is; `None` when the
/// string is not one.
pub(super) fn data_url(url: &str) -> Option<(bool, Result<Payload, Problem>)> {
    let rest = url
        .get(..5)
        .filter(|scheme| scheme.eq_ignore_ascii_case("data:"))
        .and_then(|_| url.get(5..))?;
    let (header, payload) = rest.split_once(',')?;
    let mut params = header.split(';');
    let media_type = params.next().unwrap_or_default().trim();
    // An omitted media type is text/plain (RFC 2397 section 2).
    let media_type = if media_type.is_empty() {
        "text/plain"
    } else {
        media_type
    };
    let base64 = params.any(|p| p.trim().eq_ignore_ascii_case("base64"));
    if base64 {
        return Some((true, base64_payload(payload, media_type)));
    }
    Some((
        false,
        classify(percent_decode(payload, false), media_type, true),
    ))
}

/// Reads raw bytes (a multipart part) of the declared media type.
pub(super) fn classify_bytes(bytes: Vec<u8>, media_type: &str) -> Result<Payload, Problem> {
    classify(bytes, media_type, true)
}

fn classify(bytes: Vec<u8>, media_type: &str, standard: bool) -> Result<Payload, Problem> {
    let essence = essence(media_type);
    if is_text_media_type(&essence) {
        return String::from_utf8(bytes)
            .map(Payload::Text)
            .map_err(|_| Problem::NotText);
    }
    if standard && has_signature(&essence, &bytes) {
        return Ok(Payload::Inert);
    }
    String::from_utf8(bytes)
        .map(Payload::Text)
        .map_err(|_| Problem::NotItsType)
}

/// The media type without parameters, trimmed and lowercase.
fn essence(media_type: &str) -> String {
    media_type
        .split_once(';')
        .map_or(media_type, |(essence, _)| essence)
        .trim()
        .to_ascii_lowercase()
}

/// The media type an OpenAI `input_audio.format` names.
pub(super) fn audio_format_type(format: &str) -> &'static str {
    match format.trim().to_ascii_lowercase().as_str() {
        "wav" => "audio/wav",
        "mp3" => "audio/mpeg",
        "flac" => "audio/flac",
        "opus" | "ogg" => "audio/ogg",
        "aac" => "audio/aac",
        "m4a" | "mp4" => "audio/mp4",
        "webm" => "audio/webm",
        // pcm16 and the like have no signature to check.
        _ => "application/octet-stream",
    }
}

/// Media types a model reads as text.
fn is_text_media_type(essence: &str) -> bool {
    essence.starts_with("text/")
        || essence.ends_with("+json")
        || essence.ends_with("+xml")
        || matches!(
            essence,
            "application/json"
                | "application/xml"
                | "application/javascript"
                | "application/x-javascript"
                | "application/typescript"
                | "application/x-typescript"
                | "application/x-python"
                | "application/x-python-code"
                | "application/rtf"
                | "application/x-sh"
                | "application/sql"
                | "application/yaml"
                | "application/x-yaml"
                | "application/ld+json"
                | "application/x-www-form-urlencoded"
        )
}

/// Whether the bytes start as the media type's files do. Only types listed here can be skipped.
fn has_signature(essence: &str, bytes: &[u8]) -> bool {
    let at = |offset: usize, magic: &[u8]| {
        bytes
            .get(offset..offset + magic.len())
            .is_some_and(|b| b == magic)
    };
    let riff = |form: &[u8]| at(0, b"RIFF") && at(8, form);
    let iso_media = || at(4, b"ftyp");
    match essence {
        "image/png" | "image/apng" => at(0, b"\x89PNG\r\n\x1a\n"),
        "image/jpeg" | "image/jpg" | "image/pjpeg" => at(0, b"\xff\xd8\xff"),
        "image/gif" => at(0, b"GIF87a") || at(0, b"GIF89a"),
        "image/webp" => riff(b"WEBP"),
        "image/bmp" | "image/x-ms-bmp" => at(0, b"BM"),
        "image/tiff" => at(0, b"II*\0") || at(0, b"MM\0*"),
        "image/heic" | "image/heif" | "image/avif" => iso_media(),
        "application/pdf" => at(0, b"%PDF-"),
        "audio/wav" | "audio/x-wav" | "audio/wave" | "audio/vnd.wave" => riff(b"WAVE"),
        "audio/mpeg" | "audio/mp3" => {
            at(0, b"ID3") || matches!(bytes, [0xff, second, ..] if second & 0xe0 == 0xe0)
        }
        "audio/flac" | "audio/x-flac" => at(0, b"fLaC"),
        "audio/ogg" | "audio/opus" | "video/ogg" => at(0, b"OggS"),
        "audio/aac" | "audio/x-aac" => {
            at(0, b"ADIF") || matches!(bytes, [0xff, second, ..] if second & 0xf6 == 0xf0)
        }
        "audio/mp4" | "audio/m4a" | "audio/x-m4a" | "video/mp4" | "video/quicktime"
        | "video/3gpp" => iso_media(),
        "audio/webm" | "video/webm" | "video/x-matroska" => at(0, b"\x1a\x45\xdf\xa3"),
        "audio/aiff" | "audio/x-aiff" => at(0, b"FORM") && (at(8, b"AIFF") || at(8, b"AIFC")),
        "video/x-msvideo" | "video/avi" => riff(b"AVI "),
        "video/mpeg" => at(0, b"\0\0\x01\xba") || at(0, b"\0\0\x01\xb3"),
        "video/x-flv" => at(0, b"FLV"),
        _ => false,
    }
}

/// Percent-decoding as WHATWG URL and Python's `urllib.parse` do it: `%XX` is a byte, a `%` not
/// followed by two hex digits stays as written, and (in forms) `+` is a space.
pub(super) fn percent_decode(text: &str, plus_is_space: bool) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        let escaped = (byte == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(decoded) => {
                out.push(decoded);
                i += 3;
            }
            None => {
                out.push(if plus_is_space && byte == b'+' {
                    b' '
                } else {
                    byte
                });
                i += 1;
            }
        }
    }
    out
}

/// Decodes base64 in the standard or URL-safe alphabet, padded or not, ignoring ASCII whitespace
/// (as lenient decoders do); `None` for anything else.
pub(super) fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3 + 3);
    let (mut bits, mut count, mut padding) = (0u32, 0u32, 0usize);
    for byte in text.bytes() {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => {
                padding += 1;
                continue;
            }
            b' ' | b'\t' | b'\r' | b'\n' => continue,
            _ => return None,
        };
        if padding > 0 {
            return None;
        }
        bits = (bits << 6) | u32::from(value);
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    // A lone trailing character (6 bits) is not a byte; more than two `=` is not base64.
    (count < 6 && padding <= 2).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_decoded_leniently_but_not_blindly() {
        let decoded = |s: &str| decode_base64(s).and_then(|b| String::from_utf8(b).ok());
        assert_eq!(decoded("aGVsbG8="), Some("hello".into()));
        assert_eq!(decoded("aGVsbG8"), Some("hello".into()));
        assert_eq!(decoded("aGVs\nbG8=\n"), Some("hello".into()));
        assert_eq!(decode_base64("-_8="), Some(vec![0xfb, 0xff]));
        assert_eq!(decode_base64("+/8="), Some(vec![0xfb, 0xff]));
        assert_eq!(decoded(""), Some(String::new()));
        for bad in ["a", "aGVsbG8=x", "aGVsbG8===", "aGVs!G8=", "aGVsbG8\u{ff}"] {
            assert_eq!(decode_base64(bad), None, "{bad}");
        }
    }

    #[test]
    fn payloads_are_skipped_only_when_verified() {
        // "\x89PNG\r\n\x1a\n" + "IHDR" in base64.
        let png = "iVBORw0KGgpJSERS";
        assert_eq!(base64_payload(png, "image/png"), Ok(Payload::Inert));
        assert_eq!(base64_payload(png, "Image/PNG; x=y"), Ok(Payload::Inert));
        // The same bytes claimed to be JPEG are neither JPEG nor text.
        assert_eq!(base64_payload(png, "image/jpeg"), Err(Problem::NotItsType));
        // Text claimed to be an image is scanned as the text it is.
        assert_eq!(
            base64_payload("aGVsbG8=", "image/png"),
            Ok(Payload::Text("hello".into()))
        );
        assert_eq!(
            base64_payload("aGVsbG8=", "text/markdown"),
            Ok(Payload::Text("hello".into()))
        );
        assert_eq!(
            base64_payload("iVBORw0KGgo", "text/plain"),
            Err(Problem::NotText)
        );
        assert_eq!(base64_payload("a", "image/png"), Err(Problem::NotBase64));
        // A URL-safe payload is never skipped on a signature alone.
        assert_eq!(
            base64_payload("iVBORw0KGgpJSERS-_8", "image/png"),
            Err(Problem::NotItsType)
        );
    }

    #[test]
    fn data_urls() {
        assert_eq!(data_url("https://x"), None);
        assert_eq!(data_url("data:no-comma"), None);
        assert_eq!(
            data_url("data:,account%20number"),
            Some((false, Ok(Payload::Text("account number".into()))))
        );
        assert_eq!(
            data_url("DATA:text/plain;charset=utf-8;base64,aGk="),
            Some((true, Ok(Payload::Text("hi".into()))))
        );
        assert_eq!(
            data_url("data:image/png;base64,iVBORw0KGgpJSERS"),
            Some((true, Ok(Payload::Inert)))
        );
        assert_eq!(
            data_url("data:,100%zz"),
            Some((false, Ok(Payload::Text("100%zz".into()))))
        );
        assert_eq!(
            data_url("data:,%E8%B4"),
            Some((false, Err(Problem::NotText)))
        );
        assert_eq!(
            data_url("data:application/pdf,%ff"),
            Some((false, Err(Problem::NotItsType)))
        );
    }

    #[test]
    fn audio_formats() {
        assert_eq!(audio_format_type("WAV"), "audio/wav");
        assert_eq!(audio_format_type("pcm16"), "application/octet-stream");
    }
}
