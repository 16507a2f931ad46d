//! Request body → the text segments the rules scan.
//!
//! The filter hands us the raw body of a request to a hosted LLM API; we return every piece of
//! text in it that an upstream, a model or a tool could read, each with a path
//! (`messages[2].content[0].text`) that verdicts report to policy authors. A guard is only as good
//! as its agreement with the upstream about what the request says, and the design follows from
//! that:
//!
//! * **Decode as the upstream decodes** ([`charset`]): UTF-16 and UTF-32 bodies, with or without a
//!   byte-order mark, are decoded as Python's `json.loads` decodes them; a NUL byte left over, an
//!   undecodable charset or invalid UTF-8 is a refusal, never a text read of something else.
//! * **Strict JSON** ([`json`]): duplicate keys are refused at every depth, compared ignoring case
//!   as Go and .NET upstreams bind them; nesting is bounded; a body that is, or looks like, JSON
//!   and does not parse is an error, never a text fallback.
//! * **Scan everything** ([`walk`]): every string, every object key and every number of a JSON
//!   body is a segment, wherever it sits and whatever shape the body has. The only strings not
//!   scanned are media payloads whose declared type is binary and whose bytes were checked to be
//!   of that type ([`media`]); base64 or `data:` URLs of text are decoded and scanned.
//! * **Shape decides labels, not coverage** ([`detect`]): the detected [`Format`] and each
//!   segment's [`Origin`] say which text is the prompt of the API the body is written for, so the
//!   judge is shown it first; they never decide whether something is scanned.
//!
//! Nothing here panics, indexes a slice or allocates without bound beyond the body's own size;
//! this runs inside the proxy's wasm VM, where a panic fails every request. No error message
//! quotes the body: errors point at byte offsets or lines and columns.

mod charset;
mod detect;
mod form;
mod json;
mod media;
mod multipart;
mod path;
mod walk;

use std::fmt;

use crate::codes::Code;

use path::Step;
use walk::{is_one_of, Mode, Walker};

/// Bounds on what [`extract`] accepts, so that a hostile body costs a refusal rather than memory
/// or stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Deepest nesting of JSON arrays and objects accepted: `{}` is depth 1, `[{}]` depth 2. Values
    /// above `MAX_SUPPORTED_DEPTH` (126) act as 126.
    pub max_depth: usize,
    /// Most non-empty text segments one body may produce; one more is an error, not a truncation,
    /// because the segments we dropped would be the ones nobody scanned.
    pub max_segments: usize,
}

/// The deepest nesting [`Limits::max_depth`] can allow. serde_json refuses the 128th level on its
/// own, before our visitor sees it, with an error we could only recognise by its message. With
/// this cap our check refuses the 127th level at the latest, which serde_json still lets through
/// to us, so depth refusals are always [`ExtractError::TooDeep`].
pub const MAX_SUPPORTED_DEPTH: usize = 126;

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: 64,
            max_segments: 100_000,
        }
    }
}

/// What a body contained: its detected format and its text, in document order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    pub format: Format,
    pub segments: Vec<Segment>,
}

/// One string of the body that the rules scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Where the string sits: keys joined by `.`, array indices in brackets, keys that are not
    /// plain identifiers quoted (`a["b c"][0]`), `$` for a top-level string, `body` for a text body.
    /// An object key has its value's path with `~` appended (`input.city~`); a string with tag
    /// characters is also scanned with them spelled out, as `PATH#tags`. Paths are request text:
    /// they are for policy authors, never for error bodies or logs.
    pub path: String,
    /// The decoded string (JSON escapes resolved; a number written in decimal; base64 or
    /// percent-encoded text media decoded); never empty.
    pub text: String,
    /// What part of the request the text is, for the order the judge is shown it in.
    pub origin: Origin,
}

/// What part of a request a segment is. Every origin is scanned by the rules; the origin only
/// orders what the judge is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Origin {
    /// Prompt text of the detected API: messages, instructions, tool definitions and results,
    /// and all text of a body of unknown shape. The judge is shown it first.
    Prompt,
    /// Any other field an upstream, a model or a tool reads: provider extensions, parameters such
    /// as `stop`, `user` or `metadata`, numbers. The judge is shown it after the prompt.
    Field,
    /// The API's own structure: object keys, roles, types, ids, model names. Scanned by the rules,
    /// not shown to the judge.
    Envelope,
}

/// The API a body was recognised as, by its shape. A label for logs, metrics and the judge's
/// ordering: the text scanned does not depend on it (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    OpenAiChat,
    OpenAiCompletions,
    OpenAiEmbeddings,
    OpenAiResponses,
    AnthropicMessages,
    GeminiGenerateContent,
    /// Alibaba DashScope's native API (`{"input": {"messages": …}}`).
    DashScope,
    /// Valid JSON of no known shape; every string, number and key was scanned.
    UnknownJson,
    /// Not JSON: the whole body is one segment.
    Text,
    /// `application/x-www-form-urlencoded`: the raw body, and every decoded name and value.
    Form,
    /// `multipart/form-data` (file and audio uploads): every part, read for what it is.
    Multipart,
    /// Empty or whitespace-only body.
    Empty,
}

impl Format {
    /// A stable snake_case name for logs, metrics and tests.
    pub fn name(&self) -> &'static str {
        match self {
            Format::OpenAiChat => "openai_chat",
            Format::OpenAiCompletions => "openai_completions",
            Format::OpenAiEmbeddings => "openai_embeddings",
            Format::OpenAiResponses => "openai_responses",
            Format::AnthropicMessages => "anthropic_messages",
            Format::GeminiGenerateContent => "gemini_generate_content",
            Format::DashScope => "dashscope",
            Format::UnknownJson => "unknown_json",
            Format::Text => "text",
            Format::Form => "form",
            Format::Multipart => "multipart",
            Format::Empty => "empty",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a media payload could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MediaProblem {
    /// It is declared base64 but is not.
    NotBase64,
    /// It is declared a text type but is not UTF-8 text.
    NotText,
    /// Its bytes are neither of the type it declares nor text.
    NotItsType,
}

impl fmt::Display for MediaProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MediaProblem::NotBase64 => "is not valid base64",
            MediaProblem::NotText => "is declared as text but is not utf-8 text",
            MediaProblem::NotItsType => "is neither of its declared type nor text",
        })
    }
}

/// Why a body could not be turned into segments. Every one of them means the guard cannot vouch
/// for the request, so the filter refuses it. No message quotes the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExtractError {
    /// The body is, or looks like, JSON but does not parse. `message` is serde_json's description
    /// of the grammar it expected, which never quotes the input.
    #[error("malformed json at line {line} column {column}: {message}")]
    InvalidJson {
        line: usize,
        column: usize,
        message: String,
    },
    /// An object has the same key twice (after unescaping, ignoring case); the position is just
    /// after the second one.
    #[error("duplicate key (keys are compared ignoring case) at line {line} column {column}")]
    DuplicateKey { line: usize, column: usize },
    /// Arrays and objects nest deeper than `limit`.
    #[error("json nesting is deeper than the limit of {limit}")]
    TooDeep { limit: usize },
    /// The body is not UTF-8; `offset` is the byte where the first invalid sequence starts.
    #[error("body is not valid utf-8 at byte offset {offset}")]
    InvalidUtf8 { offset: usize },
    /// The body's bytes say UTF-16 or UTF-32 (a byte-order mark or NUL pattern, or the declared
    /// charset) but do not decode as such.
    #[error("body is not valid {charset} at byte offset {offset}")]
    InvalidCharset {
        charset: &'static str,
        offset: usize,
    },
    /// The content type declares a charset other than UTF-8, UTF-16 or UTF-32.
    #[error("the declared charset is not supported (utf-8, utf-16 and utf-32 are)")]
    UnsupportedCharset,
    /// The decoded body holds a NUL character: binary data, not text guard can read.
    #[error("body holds a nul character at offset {offset} of its text")]
    NulByte { offset: usize },
    /// The body holds more than `limit` text segments.
    #[error("body has more than {limit} text segments")]
    TooManySegments { limit: usize },
    /// A multipart body without a boundary, without its closing delimiter, with a part whose
    /// headers do not parse, or with a transfer encoding that does not decode.
    #[error("multipart body does not parse as multipart/form-data")]
    MalformedMultipart,
    /// A multipart part (numbered from 0) is neither of its declared type nor text.
    #[error("multipart part {index} {problem}")]
    InvalidPart { index: usize, problem: MediaProblem },
    /// A media payload (base64 data or a `data:` URL) cannot be verified; `offset` is where its
    /// string starts in the body's text.
    #[error("media data at byte offset {offset} {problem}")]
    InvalidMedia {
        offset: usize,
        problem: MediaProblem,
    },
}

impl ExtractError {
    /// A stable identifier for the error, for responses and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            ExtractError::InvalidJson { .. } => Code::MalformedJson,
            ExtractError::DuplicateKey { .. } => Code::DuplicateKey,
            ExtractError::TooDeep { .. } => Code::TooDeep,
            ExtractError::InvalidUtf8 { .. } => Code::InvalidUtf8,
            ExtractError::InvalidCharset { .. } => Code::InvalidCharset,
            ExtractError::UnsupportedCharset => Code::UnsupportedCharset,
            ExtractError::NulByte { .. } => Code::BinaryBody,
            ExtractError::TooManySegments { .. } => Code::TooManySegments,
            ExtractError::InvalidMedia { .. } | ExtractError::InvalidPart { .. } => {
                Code::InvalidMedia
            }
            ExtractError::MalformedMultipart => Code::MalformedMultipart,
        }
        .as_str()
    }

    /// The HTTP status a refusal for this error answers with.
    pub fn status(&self) -> u16 {
        match self {
            ExtractError::UnsupportedCharset => 415,
            _ => 400,
        }
    }
}

/// Turns a request body into the text segments the rules scan.
///
/// The body is first decoded to text ([`charset`]). It is JSON when `content_type` says so
/// (`application/json` or `…+json`, parameters allowed) or when its first non-whitespace
/// character is `{` or `[`, whatever the content type claims: upstream APIs parse such bodies as
/// JSON regardless, so scanning them as raw text would miss escaped text. Anything else becomes
/// one segment with path `body`, and a URL-encoded form also every decoded name and value.
pub fn extract(
    body: &[u8],
    content_type: Option<&str>,
    limits: &Limits,
) -> Result<Extracted, ExtractError> {
    // Multipart bodies carry binary parts: they are split before any charset is decided.
    if let Some(boundary) = multipart::boundary(content_type) {
        let boundary = boundary?;
        let mut walker = Walker::new(limits.max_segments, "");
        multipart::walk_multipart(&mut walker, body, &boundary, limits)?;
        return Ok(Extracted {
            format: Format::Multipart,
            segments: walker.segments,
        });
    }
    let text = charset::decode_body(body, content_type)?;
    // RFC 8259 lets parsers ignore a byte-order mark and some upstreams do; serde_json does not.
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let start = text.trim_start_matches(is_json_whitespace);
    if start.is_empty() {
        return Ok(Extracted {
            format: Format::Empty,
            segments: Vec::new(),
        });
    }

    let mut walker = Walker::new(limits.max_segments, text);
    let looks_like_json = start.starts_with(['{', '[']);
    if !(looks_like_json || content_type.is_some_and(is_json_media_type)) {
        // A form's judge is shown its decoded names and values; the raw body is scanned too.
        let is_form = form::is_form(content_type);
        let origin = if is_form {
            Origin::Envelope
        } else {
            Origin::Prompt
        };
        walker.emit_at("body", text.to_owned(), origin)?;
        let format = if is_form {
            form::walk_form(&mut walker, text)?;
            Format::Form
        } else {
            Format::Text
        };
        return Ok(Extracted {
            format,
            segments: walker.segments,
        });
    }

    let doc = json::parse(text, limits.max_depth.min(MAX_SUPPORTED_DEPTH))?;
    let format = walk_document(&mut walker, doc)?;
    Ok(Extracted {
        format,
        segments: walker.segments,
    })
}

/// Walks a parsed JSON document: a body of a known format by its top-level fields (text fields
/// as prompt, parameters as envelope, the rest as fields), anything else as free-form prompt.
fn walk_document(walker: &mut Walker<'_>, doc: json::Json) -> Result<Format, ExtractError> {
    let format = detect::detect(&doc);
    match doc {
        json::Json::Object(fields) if format != Format::UnknownJson => {
            for (key, value) in fields {
                walker.emit_key(&key, Origin::Envelope)?;
                let scalar = matches!(value, json::Json::String(..) | json::Json::Number(_));
                let mode = if is_one_of(&key, TEXT_FIELDS) {
                    Mode::Schema
                } else if scalar && is_one_of(&key, PARAMETER_KEYS) {
                    Mode::Free(Origin::Envelope)
                } else {
                    Mode::Free(Origin::Field)
                };
                walker.child(Step::Key(&key), value, mode)?;
            }
        }
        doc => walker.walk(doc, Mode::Free(Origin::Prompt))?,
    }
    Ok(format)
}

/// Top-level fields that carry prompt text in at least one known API: their text is the prompt
/// (for the judge's ordering), whatever format the body was detected as. Every other top-level
/// field is scanned too, as a field. Lowercase: keys are compared ignoring case.
const TEXT_FIELDS: &[&str] = &[
    "messages",           // OpenAI chat, Anthropic
    "system",             // Anthropic
    "prompt",             // OpenAI completions; Responses prompt templates (`variables`)
    "suffix",             // OpenAI completions
    "input",              // Responses, embeddings, DashScope
    "instructions",       // Responses
    "contents",           // Gemini
    "systeminstruction",  // Gemini
    "system_instruction", // Gemini, snake_case spelling
    // Tool definitions and structured-output schemas: their names, descriptions, property names
    // and enums are put in front of the model like the prompt is.
    "tools",             // OpenAI chat and Responses, Anthropic, Gemini
    "functions",         // OpenAI chat, the deprecated spelling of tools
    "response_format",   // OpenAI chat json_schema (also DashScope compatible mode)
    "text",              // Responses structured output (`text.format.schema`)
    "prediction",        // OpenAI chat predicted output
    "parameters",        // DashScope native: tools, translation terms, response format
    "generationconfig",  // Gemini responseSchema
    "generation_config", // Gemini, snake_case spelling
];

/// Top-level parameters whose scalar value is a setting, not text anyone reads: scanned, but not
/// shown to the judge. Anything not listed (`stop`, `user`, `metadata`, extensions) is.
const PARAMETER_KEYS: &[&str] = &[
    "model",
    "temperature",
    "top_p",
    "top_k",
    "max_tokens",
    "max_completion_tokens",
    "max_output_tokens",
    "n",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "stream",
    "logprobs",
    "top_logprobs",
    "service_tier",
    "reasoning_effort",
    "store",
    "parallel_tool_calls",
    "anthropic_version",
    "tool_choice",
    "truncation",
    "previous_response_id",
    "result_format",
];

/// The whitespace JSON allows between tokens; a body of only these is empty.
fn is_json_whitespace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// `application/json` or any structured `+json` type, ignoring case and parameters.
fn is_json_media_type(content_type: &str) -> bool {
    let essence = content_type
        .split_once(';')
        .map_or(content_type, |(essence, _)| essence);
    let essence = essence.trim().to_ascii_lowercase();
    essence == "application/json" || (essence.ends_with("+json") && essence.contains('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(depth: usize) -> String {
        format!("{}\"x\"{}", "[".repeat(depth), "]".repeat(depth))
    }

    fn json(body: &str, limits: &Limits) -> Result<Extracted, ExtractError> {
        extract(body.as_bytes(), Some("application/json"), limits)
    }

    #[test]
    fn depth_limit_is_exact() {
        for max_depth in [0, 1, 2, 10, 64] {
            let limits = Limits {
                max_depth,
                ..Limits::default()
            };
            if max_depth > 0 {
                let ok = json(&nested(max_depth), &limits).unwrap();
                assert_eq!(ok.segments.len(), 1, "depth {max_depth}");
            }
            let err = json(&nested(max_depth + 1), &limits).unwrap_err();
            assert_eq!(err, ExtractError::TooDeep { limit: max_depth });
            // Objects count the same as arrays.
            let objects = format!(
                "{}1{}",
                "{\"a\":".repeat(max_depth + 1),
                "}".repeat(max_depth + 1)
            );
            assert_eq!(
                json(&objects, &limits).unwrap_err(),
                ExtractError::TooDeep { limit: max_depth }
            );
        }
        // A scalar has no depth.
        let zero = Limits {
            max_depth: 0,
            ..Limits::default()
        };
        assert_eq!(json("\"x\"", &zero).unwrap().segments.len(), 1);
    }

    #[test]
    fn depth_limit_is_capped_below_serde_json_own_limit() {
        // The reason for the cap: serde_json alone accepts 127 levels and refuses 128.
        assert!(serde_json::from_str::<serde_json::Value>(&nested(127)).is_ok());
        assert!(serde_json::from_str::<serde_json::Value>(&nested(128)).is_err());
        let limits = Limits {
            max_depth: usize::MAX,
            ..Limits::default()
        };
        assert!(json(&nested(MAX_SUPPORTED_DEPTH), &limits).is_ok());
        for depth in [MAX_SUPPORTED_DEPTH + 1, 127, 128, 129, 1000] {
            assert_eq!(
                json(&nested(depth), &limits).unwrap_err(),
                ExtractError::TooDeep {
                    limit: MAX_SUPPORTED_DEPTH
                },
                "depth {depth}"
            );
        }
    }

    #[test]
    fn segment_limit_is_exact() {
        let body = r#"["a", "b"]"#;
        let two = Limits {
            max_segments: 2,
            ..Limits::default()
        };
        assert_eq!(json(body, &two).unwrap().segments.len(), 2);
        let one = Limits {
            max_segments: 1,
            ..Limits::default()
        };
        assert_eq!(
            json(body, &one).unwrap_err(),
            ExtractError::TooManySegments { limit: 1 }
        );
        // Empty strings are not segments and do not count.
        assert_eq!(json(r#"["", "b"]"#, &one).unwrap().segments.len(), 1);
        let zero = Limits {
            max_segments: 0,
            ..Limits::default()
        };
        assert_eq!(
            extract(b"hi", None, &zero).unwrap_err(),
            ExtractError::TooManySegments { limit: 0 }
        );
    }

    #[test]
    fn every_string_key_and_number_is_scanned_whatever_the_shape() {
        let body = r#"{"model": "m", "messages": [{"role": "user", "content": "hi"}],
            "translation_options": {"terms": [{"source": "s", "target": "t"}]},
            "stop": "END", "temperature": 0.5, "x_vendor": 7}"#;
        let got = json(body, &Limits::default()).unwrap();
        assert_eq!(got.format, Format::OpenAiChat);
        let texts: Vec<(&str, Origin)> = got
            .segments
            .iter()
            .map(|s| (s.text.as_str(), s.origin))
            .collect();
        use Origin::*;
        assert_eq!(
            texts,
            [
                ("model", Envelope),
                ("m", Envelope),
                ("messages", Envelope),
                ("role", Envelope),
                ("user", Envelope),
                ("content", Envelope),
                ("hi", Prompt),
                ("translation_options", Envelope),
                ("terms", Field),
                ("source", Field),
                ("s", Field),
                ("target", Field),
                ("t", Field),
                ("stop", Envelope),
                ("END", Field),
                ("temperature", Envelope),
                ("0.5", Envelope),
                ("x_vendor", Envelope),
                ("7", Field),
            ]
        );
    }

    #[test]
    fn no_error_message_quotes_the_body() {
        let secret = "SECRET-账号-TEXT";
        for body in [
            format!(r#"{{"{secret}": 1, "{secret}": 2}}"#),
            format!(r#"{{"a": {{"{secret}": {{"mimeType": "text/plain", "data": "!!"}}}}}}"#),
            format!(r#"{{"{secret}": "data:image/png;base64,{secret}"}}"#),
            format!(r#"{{"{secret}": tru"#),
            format!(r#"{{"{secret}": "\x"}}"#),
        ] {
            let err = json(&body, &Limits::default()).unwrap_err();
            let shown = err.to_string();
            assert!(
                !shown.contains("SECRET") && !shown.contains("账号"),
                "{shown}"
            );
        }
        let err = json(
            r#"{"a": {"mimeType": "text/plain", "data": "!!"}}"#,
            &Limits::default(),
        )
        .unwrap_err();
        assert_eq!(
            err,
            ExtractError::InvalidMedia {
                offset: 41,
                problem: MediaProblem::NotBase64
            }
        );
    }

    #[test]
    fn json_is_sniffed_whatever_the_content_type() {
        let limits = Limits::default();
        for ct in [None, Some("text/plain"), Some("application/octet-stream")] {
            let got = extract(b"  {\"a\":\"\\u8d26\"}", ct, &limits).unwrap();
            assert_eq!(got.format, Format::UnknownJson, "{ct:?}");
            let texts: Vec<&str> = got.segments.iter().map(|s| s.text.as_str()).collect();
            assert_eq!(texts, ["a", "账"]);
            assert_eq!(
                extract(b"[1,", ct, &limits).unwrap_err().code(),
                "guard.malformed_json"
            );
        }
        // Text that does not start like JSON stays text unless declared JSON.
        assert_eq!(
            extract(b"\"hi\"", Some("text/plain"), &limits)
                .unwrap()
                .format,
            Format::Text
        );
        for ct in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/vnd.api+json",
        ] {
            let got = extract(b"\"hi\"", Some(ct), &limits).unwrap();
            assert_eq!(got.format, Format::UnknownJson, "{ct}");
            assert_eq!(got.segments.len(), 1);
            assert_eq!(
                extract(b"hello", Some(ct), &limits).unwrap_err().code(),
                "guard.malformed_json"
            );
        }
        assert!(!is_json_media_type("+json"));
        assert!(!is_json_media_type("application/jsonp"));
    }

    #[test]
    fn byte_order_mark_is_ignored() {
        let got = extract(b"\xef\xbb\xbf{\"prompt\":\"hi\"}", None, &Limits::default()).unwrap();
        assert_eq!(got.format, Format::OpenAiCompletions);
        let texts: Vec<&str> = got.segments.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(texts, ["prompt", "hi"]);
        let got = extract(b"\xef\xbb\xbf \n", None, &Limits::default()).unwrap();
        assert_eq!(got.format, Format::Empty);
    }

    #[test]
    fn invalid_utf8_offset_points_at_the_bad_byte() {
        let err = extract(b"ab\xc3(", Some("text/plain"), &Limits::default()).unwrap_err();
        assert_eq!(err, ExtractError::InvalidUtf8 { offset: 2 });
        let err = extract(
            b"{\"a\":\"\xff\"}",
            Some("application/json"),
            &Limits::default(),
        );
        assert_eq!(err.unwrap_err(), ExtractError::InvalidUtf8 { offset: 6 });
    }

    #[test]
    fn text_fields_match_as_case_insensitive_upstreams_bind_them() {
        for key in [
            "messages",
            "MESSAGES",
            "Messages",
            "me\u{17f}\u{17f}ages",
            "SystemInstruction",
        ] {
            assert!(is_one_of(key, TEXT_FIELDS), "{key}");
        }
        for key in ["model", "messages_", "message", "stop", ""] {
            assert!(!is_one_of(key, TEXT_FIELDS), "{key}");
        }
    }
}
