//! `multipart/form-data` bodies: uploads whose parts the upstream reads one by one.
//!
//! LLM APIs take multipart for files and audio: a transcription's `prompt` field, an image edit's
//! prompt, and the Batch API's JSONL file, every line of which is a request the provider runs.
//! Scanned as raw text, a multipart body is refused as soon as it holds a binary part, and a
//! JSONL part hides its prompts behind JSON escapes. So each part is read for what it is: its
//! name and file name are text; a JSON or JSONL part (by type, file name or content) is read as
//! JSON, line by line for JSONL; other text is text; binary media is skipped only when its bytes
//! carry its declared type's signature, and is otherwise scanned as text or refused.
//!
//! Delimiters are found as lenient parsers find them (Go's `mime/multipart` accepts a bare LF
//! before `--boundary`), and `Content-Transfer-Encoding: base64` and `quoted-printable` are
//! decoded. A body whose structure does not parse is refused.

use super::json::{self, Json};
use super::media::{self, Payload};
use super::walk::Walker;
use super::{walk_document, ExtractError, Limits, Origin};

/// The boundary of a `multipart/*` content type; `None` for any other type.
pub(super) fn boundary(content_type: Option<&str>) -> Option<Result<String, ExtractError>> {
    let content_type = content_type?;
    let mut params = content_type.split(';');
    let essence = params.next()?.trim().to_ascii_lowercase();
    if !essence.starts_with("multipart/") {
        return None;
    }
    let boundary = params.find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| value.trim().trim_matches('"').to_owned())
    });
    Some(match boundary {
        Some(b) if !b.is_empty() && b.len() <= 70 => Ok(b),
        _ => Err(ExtractError::MalformedMultipart),
    })
}

/// One part: its headers as (lowercase name, value) and its body bytes.
struct Part<'b> {
    headers: Vec<(String, String)>,
    body: &'b [u8],
}

impl Part<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A `Content-Disposition` parameter (`name`, `filename`), quotes removed.
    fn disposition(&self, param: &str) -> Option<String> {
        self.header("content-disposition")?
            .split(';')
            .skip(1)
            .find_map(|p| {
                let (name, value) = p.split_once('=')?;
                name.trim()
                    .eq_ignore_ascii_case(param)
                    .then(|| value.trim().trim_matches('"').to_owned())
            })
    }
}

/// Splits the body into parts, or refuses it.
fn parts<'b>(body: &'b [u8], boundary: &str) -> Result<Vec<Part<'b>>, ExtractError> {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    // Every position where a line starts with the delimiter.
    let mut starts = Vec::new();
    let mut i = 0;
    while let Some(found) = find(body.get(i..).unwrap_or_default(), delimiter) {
        let at = i + found;
        if at == 0 || body.get(at - 1) == Some(&b'\n') {
            starts.push(at);
        }
        i = at + delimiter.len();
    }
    let mut parts = Vec::new();
    let mut closed = false;
    for (index, &start) in starts.iter().enumerate() {
        let after = start + delimiter.len();
        if body.get(after..after + 2) == Some(b"--") {
            closed = true;
            break;
        }
        let end = match starts.get(index + 1) {
            Some(&next) => next,
            None => break,
        };
        // The part runs from the line after the delimiter to the line break before the next.
        let content = body.get(after..end).unwrap_or_default();
        let content = content
            .strip_suffix(b"\r\n")
            .or_else(|| content.strip_suffix(b"\n"))
            .unwrap_or(content);
        let content = skip_line(content);
        parts.push(part(content)?);
    }
    if !closed || starts.is_empty() {
        return Err(ExtractError::MalformedMultipart);
    }
    Ok(parts)
}

/// What follows the first line break (the rest of the delimiter line: transport padding).
fn skip_line(bytes: &[u8]) -> &[u8] {
    match bytes.iter().position(|&b| b == b'\n') {
        Some(at) => bytes.get(at + 1..).unwrap_or_default(),
        None => &[],
    }
}

fn part(content: &[u8]) -> Result<Part<'_>, ExtractError> {
    let mut headers = Vec::new();
    let mut rest = content;
    loop {
        let line_end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or(ExtractError::MalformedMultipart)?;
        let line = rest.get(..line_end).unwrap_or_default();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        rest = rest.get(line_end + 1..).unwrap_or_default();
        if line.is_empty() {
            break;
        }
        let line = std::str::from_utf8(line).map_err(|_| ExtractError::MalformedMultipart)?;
        let (name, value) = line
            .split_once(':')
            .ok_or(ExtractError::MalformedMultipart)?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    Ok(Part {
        headers,
        body: rest,
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

/// Emits the text of every part, at `parts[i]` (JSON inside at `parts[i].…`).
pub(super) fn walk_multipart(
    walker: &mut Walker<'_>,
    body: &[u8],
    boundary: &str,
    limits: &Limits,
) -> Result<(), ExtractError> {
    for (index, part) in parts(body, boundary)?.into_iter().enumerate() {
        let at = format!("parts[{index}]");
        for param in ["name", "filename"] {
            if let Some(value) = part.disposition(param) {
                walker.emit_at(&format!("{at}#{param}"), value, Origin::Field)?;
            }
        }
        let bytes = transfer_decoded(&part)?;
        let declared = part.header("content-type").map(str::to_owned);
        let filename = part.disposition("filename").unwrap_or_default();
        // RFC 7578: a part without a type is text/plain, a file part application/octet-stream.
        let media_type = declared.clone().unwrap_or_else(|| {
            if part.disposition("filename").is_some() {
                "application/octet-stream".into()
            } else {
                "text/plain".into()
            }
        });
        let text = match media::classify_bytes(bytes, &media_type) {
            Ok(Payload::Inert) => continue,
            Ok(Payload::Text(text)) => text,
            Err(problem) => return Err(ExtractError::InvalidPart { index, problem }),
        };
        if text.contains('\0') {
            return Err(ExtractError::InvalidPart {
                index,
                problem: super::MediaProblem::NotItsType,
            });
        }
        walk_text(walker, &at, text, &media_type, &filename, limits)?;
    }
    Ok(())
}

/// A part's text: read as JSON or JSON lines when it is declared or named so or looks so, and
/// always scanned as the text it is.
fn walk_text(
    walker: &mut Walker<'_>,
    at: &str,
    text: String,
    media_type: &str,
    filename: &str,
    limits: &Limits,
) -> Result<(), ExtractError> {
    let essence = media_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let filename = filename.to_ascii_lowercase();
    let lines = essence.contains("jsonl")
        || essence.contains("ndjson")
        || filename.ends_with(".jsonl")
        || filename.ends_with(".ndjson");
    let declared_json =
        essence == "application/json" || essence.ends_with("+json") || filename.ends_with(".json");
    let looks_like_json = text.trim_start().starts_with(['{', '[']);
    let depth = limits.max_depth.min(super::MAX_SUPPORTED_DEPTH);
    if lines || declared_json || looks_like_json {
        let whole = json::parse(&text, depth);
        match whole {
            Ok(doc) => return sub_document(walker, at, &text, doc),
            Err(err) if declared_json && !lines => return Err(err),
            Err(_) => {}
        }
        // JSON lines: every non-empty line a document. A declared JSONL part must parse.
        let mut documents = Vec::new();
        let mut all = true;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            match json::parse(line, depth) {
                Ok(doc) => documents.push((line, doc)),
                Err(err) if lines => return Err(err),
                Err(_) => {
                    all = false;
                    break;
                }
            }
        }
        if all {
            for (number, (line, doc)) in documents.into_iter().enumerate() {
                sub_document(walker, &format!("{at}.lines[{number}]"), line, doc)?;
            }
            return Ok(());
        }
    }
    walker.emit_at(at, text, Origin::Prompt)
}

/// Walks a JSON document of a part with its own walker (its error offsets are in the part) and
/// takes its segments under `at`.
fn sub_document(
    walker: &mut Walker<'_>,
    at: &str,
    text: &str,
    doc: Json,
) -> Result<(), ExtractError> {
    let mut sub = Walker::new(walker.room(), text);
    walk_document(&mut sub, doc)?;
    for segment in sub.segments {
        let path = if segment.path.starts_with(['$', '[']) {
            format!("{at}{}", segment.path.trim_start_matches('$'))
        } else {
            format!("{at}.{}", segment.path)
        };
        walker.emit_at(&path, segment.text, segment.origin)?;
    }
    Ok(())
}

/// The part's bytes after its `Content-Transfer-Encoding`.
fn transfer_decoded(part: &Part<'_>) -> Result<Vec<u8>, ExtractError> {
    let encoding = part
        .header("content-transfer-encoding")
        .unwrap_or("binary")
        .to_ascii_lowercase();
    match encoding.as_str() {
        "7bit" | "8bit" | "binary" => Ok(part.body.to_vec()),
        "base64" => std::str::from_utf8(part.body)
            .ok()
            .and_then(media::decode_base64)
            .ok_or(ExtractError::MalformedMultipart),
        "quoted-printable" => quoted_printable(part.body).ok_or(ExtractError::MalformedMultipart),
        _ => Err(ExtractError::MalformedMultipart),
    }
}

/// RFC 2045 quoted-printable: `=XX` a byte, `=` at a line end a soft break.
fn quoted_printable(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        if byte != b'=' {
            out.push(byte);
            i += 1;
            continue;
        }
        match (bytes.get(i + 1), bytes.get(i + 2)) {
            (Some(b'\r'), Some(b'\n')) => i += 3,
            (Some(b'\n'), _) => i += 2,
            (Some(&a), Some(&b)) => {
                let hex = [a, b];
                let hex = std::str::from_utf8(&hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries() {
        assert_eq!(boundary(Some("application/json")), None);
        assert_eq!(
            boundary(Some("multipart/form-data; boundary=\"abc\"")),
            Some(Ok("abc".into()))
        );
        assert_eq!(
            boundary(Some("Multipart/Form-Data")),
            Some(Err(ExtractError::MalformedMultipart))
        );
    }

    #[test]
    fn parts_split_on_crlf_and_bare_lf() {
        let body = b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\none\r\n--b\nContent-Disposition: form-data; name=\"c\"\n\ntwo\n--b--\r\n";
        let parts = parts(body, "b").unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].body, b"one");
        assert_eq!(parts[1].body, b"two");
        assert_eq!(parts[1].disposition("name").as_deref(), Some("c"));
        // No closing delimiter: refused.
        assert!(super::parts(b"--b\r\n\r\nx\r\n", "b").is_err());
        // A delimiter inside a line is not one.
        let body = b"--b\r\n\r\nx--b y\r\n--b--";
        assert_eq!(super::parts(body, "b").unwrap()[0].body, b"x--b y");
    }

    #[test]
    fn quoted_printable_decodes() {
        assert_eq!(quoted_printable(b"a=3Db=\r\nc").unwrap(), b"a=bc");
        assert_eq!(quoted_printable(b"=E8=B4=A6").unwrap(), "账".as_bytes());
        assert_eq!(quoted_printable(b"=zz"), None);
    }
}
