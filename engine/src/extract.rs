//! Request body → the text segments the rules scan.
//!
//! The filter hands us the raw body of a request to a hosted LLM API; we return every piece of
//! text the model could read, each with a path (`messages[2].content[0].text`) that verdicts and
//! logs report. Three decisions shape this module, all driven by the fact that a guard is only as
//! good as its agreement with the upstream about what the request says:
//!
//! * **Strict JSON.** Bodies are parsed into a small owned tree by our own serde visitor, which
//!   refuses duplicate object keys anywhere (otherwise the guard could read the first `messages`
//!   while the upstream reads the last), refuses nesting deeper than [`Limits::max_depth`], and
//!   relies on serde_json to refuse invalid UTF-8, lone surrogate escapes and trailing data. A body
//!   that is, or looks like, JSON and fails any of this is an error, never a text fallback: the raw
//!   text would show `\u8d26` escapes where the upstream sees the decoded characters.
//! * **Detection by shape, scanning by union.** [`Format`] is decided from the body's top-level
//!   shape, not from the request path, because proxies and SDKs rewrite paths. The format is only a
//!   label, though: whatever it is, every top-level field that carries prompt text in *any* of the
//!   known APIs ([`TEXT_FIELDS`]: prompts, but also tool definitions and structured-output schemas,
//!   which the model reads too) is scanned, so a body that looks like chat but also carries a
//!   `prompt` for a lax OpenAI-compatible completions server cannot slip that `prompt` past us.
//!   Top-level keys are compared case-insensitively ([`is_text_field`]), as Go and .NET upstreams
//!   bind them, so `MESSAGES` next to `messages` is scanned rather than skipped as a parameter.
//! * **Scan everything in a text field except known metadata.** Inside those fields we do not pick
//!   out only `content`/`text`/`arguments`: we walk the subtree in document order and take every
//!   string except those under keys that name metadata ([`METADATA_KEYS`], skipped only when their
//!   value is a scalar, which is the only shape the upstream accepts there) or binary media
//!   ([`OPAQUE_KEYS`], base64 data that keyword rules cannot usefully scan, except base64 of a text
//!   media type, which is decoded and scanned: Gemini reads `text/plain` `inlineData` as prompt
//!   text). The structured fields of
//!   each API (`messages[i].content`, `.content[j].text`, `refusal`, `tool_calls[k].function.
//!   arguments`, Anthropic `system` blocks, Gemini `parts[j].text`, Responses `input[i].output`, …)
//!   are all reached this way, and so is text in a shape we did not anticipate (a `content` that is
//!   an object, an unknown part type, a new field), which is the point: an unexpected shape must
//!   cost a false positive at worst, never a smuggled prompt. Free-form JSON that a tool or the
//!   user names (`tool_use.input`, Gemini `functionCall.args`, …, see [`FREE_FORM_KEYS`]) is scanned without the metadata exception, since `{"name": "…"}` there is
//!   text, not metadata; its keys and numbers are scanned too, because the model reads
//!   `{"账号": 13912345678}` as text (a key's segment has the path of its value with `~` appended).
//!   So are the property names of JSON schemas in tool definitions ([`NAMED_SCHEMA_KEYS`]).
//!
//! Bodies of unknown shape are scanned the same way as free-form JSON: every string, number and
//! key. Nothing here panics, indexes a slice or allocates without bound beyond the body's own
//! size; this runs inside the proxy's wasm VM, where a panic fails every request.

use std::collections::BTreeSet;
use std::fmt::{self, Write as _};

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

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
    /// An object key of free-form JSON has its value's path with `~` appended (`input.city~`); a
    /// string with tag characters is also scanned with them spelled out, as `PATH#tags`.
    pub path: String,
    /// The decoded string (JSON escapes resolved; a number in free-form JSON written in decimal;
    /// base64 text media decoded); never empty.
    pub text: String,
}

/// The API a body was recognised as, by its shape. A label for logs and metrics: the text scanned
/// does not depend on it (see the module documentation).
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
            Format::Empty => "empty",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a body could not be turned into segments. Every one of them means the guard cannot vouch
/// for the request, so the filter should refuse it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExtractError {
    /// The body is, or looks like, JSON but does not parse. `message` is serde_json's description.
    #[error("malformed json at line {line} column {column}: {message}")]
    InvalidJson {
        line: usize,
        column: usize,
        message: String,
    },
    /// An object has the same key twice (after unescaping); `path` is the object's path.
    #[error("duplicate key `{}` at `{}`", Shown(.key), Shown(.path))]
    DuplicateKey { key: String, path: String },
    /// Arrays and objects nest deeper than `limit`.
    #[error("json nesting is deeper than the limit of {limit}")]
    TooDeep { limit: usize },
    /// The body is not UTF-8; `offset` is the byte where the first invalid sequence starts.
    #[error("body is not valid utf-8 at byte offset {offset}")]
    InvalidUtf8 { offset: usize },
    /// The body holds more than `limit` text segments.
    #[error("body has more than {limit} text segments")]
    TooManySegments { limit: usize },
    /// Data of a text media type (base64 or a `data:` URL) is not base64 of UTF-8 text; `path`
    /// is where it sits.
    #[error("text media at `{}` is not base64 of utf-8 text", Shown(.path))]
    InvalidMedia { path: String },
}

impl ExtractError {
    /// A stable identifier for the error, for responses and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            ExtractError::InvalidJson { .. } => "guard.malformed_json",
            ExtractError::DuplicateKey { .. } => "guard.duplicate_key",
            ExtractError::TooDeep { .. } => "guard.too_deep",
            ExtractError::InvalidUtf8 { .. } => "guard.invalid_utf8",
            ExtractError::TooManySegments { .. } => "guard.too_many_segments",
            ExtractError::InvalidMedia { .. } => "guard.invalid_media",
        }
    }
}

/// Turns a request body into the text segments the rules scan.
///
/// The body is JSON when `content_type` says so (`application/json` or `…+json`, parameters
/// allowed) or when its first non-whitespace character is `{` or `[`, whatever the content type
/// claims: upstream APIs parse such bodies as JSON regardless, so scanning them as raw text would
/// miss escaped text. Anything else must be UTF-8 and becomes one segment with path `body`.
pub fn extract(
    body: &[u8],
    content_type: Option<&str>,
    limits: &Limits,
) -> Result<Extracted, ExtractError> {
    let text = std::str::from_utf8(body).map_err(|err| ExtractError::InvalidUtf8 {
        offset: err.valid_up_to(),
    })?;
    // RFC 8259 lets parsers ignore a byte-order mark and some upstreams do; serde_json does not,
    // so strip it rather than refuse bodies the upstream would accept.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let start = text.trim_start_matches(is_json_whitespace);
    if start.is_empty() {
        return Ok(Extracted {
            format: Format::Empty,
            segments: Vec::new(),
        });
    }

    let mut walker = Walker::new(limits.max_segments);
    let looks_like_json = start.starts_with(['{', '[']);
    if !(looks_like_json || content_type.is_some_and(is_json_media_type)) {
        walker.emit_at("body", text.to_owned())?;
        return Ok(Extracted {
            format: Format::Text,
            segments: walker.segments,
        });
    }

    let doc = parse(text, limits.max_depth.min(MAX_SUPPORTED_DEPTH))?;
    let format = detect(&doc);
    match doc {
        Json::Object(fields) if format != Format::UnknownJson => {
            for (key, value) in fields {
                if is_text_field(&key) {
                    walker.child(Step::Key(&key), value, Mode::Schema)?;
                }
            }
        }
        doc => walker.walk(doc, Mode::Free)?,
    }
    Ok(Extracted {
        format,
        segments: walker.segments,
    })
}

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

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

/// The parsed body. Only strings, numbers and structure are kept: nothing scans booleans or nulls.
#[derive(Debug)]
enum Json {
    /// A boolean or null.
    Scalar,
    /// A number: scanned in free-form JSON, where a model reads `{"phone": 13912345678}` as text.
    Number(Number),
    String(String),
    Array(Vec<Json>),
    /// Fields in document order; keys are unique (the parser refuses duplicates).
    Object(Vec<(String, Json)>),
}

/// A JSON number as serde_json read it; written out as text only when it is scanned.
#[derive(Debug, Clone, Copy)]
enum Number {
    Unsigned(u64),
    Signed(i64),
    Float(f64),
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Number::Unsigned(n) => write!(f, "{n}"),
            Number::Signed(n) => write!(f, "{n}"),
            Number::Float(n) => write!(f, "{n}"),
        }
    }
}

impl Json {
    fn field(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }
}

fn parse(text: &str, max_depth: usize) -> Result<Json, ExtractError> {
    let mut parser = Parser {
        max_depth,
        failure: None,
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
        Some(Failure::DuplicateKey { key, mut at }) => {
            at.reverse();
            let mut path = String::new();
            for step in &at {
                push_step(&mut path, step.as_ref());
            }
            if path.is_empty() {
                path.push('$');
            }
            ExtractError::DuplicateKey { key, path }
        }
        None => json_error(&err),
    })
}

/// serde_json's error without the ` at line L column C` its `Display` appends, which we report
/// as fields instead.
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

/// State shared by every level of the visitor. serde errors can only carry a message, so our own
/// refusals are recorded here and turned into typed errors once the parse has unwound.
struct Parser {
    max_depth: usize,
    failure: Option<Failure>,
}

enum Failure {
    TooDeep,
    /// `at` is filled in innermost-first while the error unwinds through the enclosing visitors,
    /// so that paths cost nothing on the success path.
    DuplicateKey {
        key: String,
        at: Vec<OwnedStep>,
    },
}

enum OwnedStep {
    Key(String),
    Index(usize),
}

impl OwnedStep {
    fn as_ref(&self) -> Step<'_> {
        match self {
            OwnedStep::Key(key) => Step::Key(key),
            OwnedStep::Index(index) => Step::Index(*index),
        }
    }
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

    /// Records that the pending failure happened inside `step` of the current container.
    fn unwinding_through(&mut self, step: OwnedStep) {
        if let Some(Failure::DuplicateKey { at, .. }) = &mut self.failure {
            at.push(step);
        }
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
        Ok(Json::Number(Number::Signed(value)))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Json, E> {
        Ok(Json::Number(Number::Unsigned(value)))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Json, E> {
        Ok(Json::Number(Number::Float(value)))
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Scalar)
    }

    fn visit_str<E>(self, value: &str) -> Result<Json, E> {
        Ok(Json::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Json, E> {
        Ok(Json::String(value))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let parser = self.parser;
        let depth = parser.enter(self.depth)?;
        let mut items = Vec::new();
        loop {
            match seq.next_element_seed(NodeSeed {
                parser: &mut *parser,
                depth,
            }) {
                Ok(Some(item)) => items.push(item),
                Ok(None) => return Ok(Json::Array(items)),
                Err(err) => {
                    parser.unwinding_through(OwnedStep::Index(items.len()));
                    return Err(err);
                }
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let parser = self.parser;
        let depth = parser.enter(self.depth)?;
        // A BTreeSet rather than a HashSet: with the fixed hash keys wasm builds may get, an
        // attacker could craft colliding keys and make the check quadratic.
        let mut seen = BTreeSet::new();
        let mut fields = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(parser.fail(Failure::DuplicateKey {
                    key,
                    at: Vec::new(),
                }));
            }
            match map.next_value_seed(NodeSeed {
                parser: &mut *parser,
                depth,
            }) {
                Ok(value) => fields.push((key, value)),
                Err(err) => {
                    parser.unwinding_through(OwnedStep::Key(key));
                    return Err(err);
                }
            }
        }
        Ok(Json::Object(fields))
    }
}

// ---------------------------------------------------------------------------------------------
// Format detection
// ---------------------------------------------------------------------------------------------

/// The content-part types of OpenAI chat. A content block of any other type (`tool_use`,
/// `tool_result`, `image`, `document`, `thinking`, …) is a sign of an Anthropic body.
const OPENAI_CHAT_PART_TYPES: &[&str] = &["text", "image_url", "input_audio", "file", "refusal"];

/// Decides the format from the body's shape; the first rule that fits wins:
///
/// 1. `messages` is an array of objects that all have `role`: Anthropic Messages when the body
///    also has a top-level `system` or `anthropic_version` (OpenAI puts the system prompt in a
///    message and has no version field), or has `max_tokens` (which Anthropic requires) and some
///    message content block whose `type` OpenAI chat does not use; otherwise OpenAI chat. An
///    Anthropic body with only string contents and no system prompt is indistinguishable from
///    chat and is labelled chat, which loses nothing since both scan the same fields.
/// 2. `prompt` is a string or an array: OpenAI legacy completions.
/// 3. `input` is an object with a `messages` array or a `prompt` string: DashScope.
/// 4. A string `instructions`, an `input` array holding an object, or a string `input` next to
///    `tools` or `previous_response_id`: OpenAI Responses.
/// 5. `input` is a string or an array of strings or token ids, with `model` and no `messages`:
///    OpenAI embeddings.
/// 6. `contents` is an array of objects: Gemini generateContent.
/// 7. Anything else, including top-level arrays and scalars: unknown JSON.
fn detect(doc: &Json) -> Format {
    if !matches!(doc, Json::Object(_)) {
        return Format::UnknownJson;
    }
    let has = |key: &str| doc.field(key).is_some();

    if let Some(Json::Array(messages)) = doc.field("messages") {
        if messages
            .iter()
            .all(|m| matches!(m, Json::Object(_)) && m.field("role").is_some())
        {
            let non_openai_block = || {
                messages
                    .iter()
                    .any(|message| match message.field("content") {
                        Some(Json::Array(blocks)) => blocks.iter().any(|block| {
                            block
                                .field("type")
                                .and_then(Json::as_str)
                                .is_some_and(|t| !OPENAI_CHAT_PART_TYPES.contains(&t))
                        }),
                        _ => false,
                    })
            };
            let anthropic = has("system")
                || has("anthropic_version")
                || (has("max_tokens") && non_openai_block());
            return if anthropic {
                Format::AnthropicMessages
            } else {
                Format::OpenAiChat
            };
        }
    }

    if matches!(doc.field("prompt"), Some(Json::String(_) | Json::Array(_))) {
        return Format::OpenAiCompletions;
    }

    let input = doc.field("input");
    if let Some(input @ Json::Object(_)) = input {
        if matches!(input.field("messages"), Some(Json::Array(_)))
            || matches!(input.field("prompt"), Some(Json::String(_)))
        {
            return Format::DashScope;
        }
    }

    let responses = matches!(doc.field("instructions"), Some(Json::String(_)))
        || match input {
            Some(Json::Array(items)) => items.iter().any(|item| matches!(item, Json::Object(_))),
            Some(Json::String(_)) => has("tools") || has("previous_response_id"),
            _ => false,
        };
    if responses {
        return Format::OpenAiResponses;
    }

    let embeddable = match input {
        Some(Json::String(_)) => true,
        Some(Json::Array(items)) => items.iter().all(|item| match item {
            Json::String(_) | Json::Number(_) | Json::Scalar => true,
            Json::Array(tokens) => tokens
                .iter()
                .all(|t| matches!(t, Json::Number(_) | Json::Scalar)),
            Json::Object(_) => false,
        }),
        _ => false,
    };
    if embeddable && has("model") && !has("messages") {
        return Format::OpenAiEmbeddings;
    }

    if let Some(Json::Array(contents)) = doc.field("contents") {
        if contents.iter().all(|c| matches!(c, Json::Object(_))) {
            return Format::GeminiGenerateContent;
        }
    }

    Format::UnknownJson
}

// ---------------------------------------------------------------------------------------------
// Text collection
// ---------------------------------------------------------------------------------------------

/// Top-level fields that carry prompt text in at least one known API. For a body of known format
/// all of them are scanned, not just those of its format, so that the format we guessed cannot
/// hide a field another upstream would read; every other top-level field (`model`, `stop`,
/// `temperature`, `tools`, …) is a parameter and is not scanned.
const TEXT_FIELDS: &[&str] = &[
    "messages",           // OpenAI chat, Anthropic
    "system",             // Anthropic
    "prompt",             // OpenAI completions; Responses prompt templates (`variables`)
    "suffix",             // OpenAI completions
    "input",              // Responses, embeddings, DashScope
    "instructions",       // Responses
    "contents",           // Gemini
    "systemInstruction",  // Gemini
    "system_instruction", // Gemini, snake_case spelling
    // Tool definitions and structured-output schemas: their names, descriptions, property names
    // and enums are put in front of the model like the prompt is.
    "tools",             // OpenAI chat and Responses, Anthropic, Gemini
    "functions",         // OpenAI chat, the deprecated spelling of tools
    "response_format",   // OpenAI chat json_schema (also DashScope compatible mode)
    "text",              // Responses structured output (`text.format.schema`)
    "prediction",        // OpenAI chat predicted output
    "parameters",        // DashScope native: tools, translation terms, response format
    "generationConfig",  // Gemini responseSchema
    "generation_config", // Gemini, snake_case spelling
];

/// Whether a top-level key is one of [`TEXT_FIELDS`], compared the way the most lenient upstream
/// compares it. Go's encoding/json and ASP.NET bind object keys to fields case-insensitively (Go
/// with Unicode simple folding, so `meſſages` is `messages`), and with several matches keep the
/// last: `{"messages": [benign], "MESSAGES": [prompt]}` is one field to them, which we must scan
/// in full, not skip as an unknown parameter.
fn is_text_field(key: &str) -> bool {
    let folded: String = key
        .chars()
        .flat_map(char::to_uppercase)
        .flat_map(char::to_lowercase)
        .collect();
    TEXT_FIELDS
        .iter()
        .any(|field| field.eq_ignore_ascii_case(&folded))
}

/// Keys whose scalar value is metadata the model does not read as prose: identifiers, enums,
/// media types, opaque signatures. Only a scalar is skipped; if one of these holds an object or
/// array, that is a shape no upstream documents, and we scan it.
const METADATA_KEYS: &[&str] = &[
    "role",
    "type",
    "id",
    "tool_call_id",
    "tool_use_id",
    "call_id",
    "model",
    "mime_type",
    "mimeType",
    "media_type",
    "url",
    "detail",
    "format",
    "status",
    "signature",
    "thoughtSignature",
    "thought_signature",
    "encrypted_content",
    "file_id",
    "file_uri",
    "fileUri",
    "version",
    // Enum-valued parameters inside `parameters`, `text` and `generationConfig`.
    "result_format",
    "tool_choice",
    "verbosity",
    "responseMimeType",
    "response_mime_type",
];

/// Keys whose whole value is media or cache configuration: base64 images, audio and files, or
/// references to them. Scanning base64 with keyword rules costs time and finds nothing but false
/// positives, and the upstream hands these to the model as media, not as prompt text.
const OPAQUE_KEYS: &[&str] = &[
    "image_url",   // OpenAI chat and Responses
    "input_audio", // OpenAI chat
    "file_data",   // OpenAI chat and Responses (base64), Gemini snake_case (file reference)
    "inlineData",  // Gemini
    "inline_data", // Gemini, snake_case spelling
    "fileData",    // Gemini
    "image",       // DashScope content parts: URL or base64 data URL
    "audio",       // DashScope content parts; OpenAI chat's assistant audio reference
    "video",       // DashScope content parts: URL or list of frame URLs
    "cache_control",
];

/// Keys whose value is free-form JSON chosen by a tool or the user (tool call inputs and
/// arguments, tool responses, prompt-template variables). Its keys are arbitrary, so a key that
/// happens to be called `name` or `type` holds text like any other, and we scan every string.
const FREE_FORM_KEYS: &[&str] = &["input", "args", "arguments", "response", "variables"];

/// Keys of a JSON schema (in tool definitions and structured-output formats) whose object maps
/// names the model reads, property and definition names, to schemas.
const NAMED_SCHEMA_KEYS: &[&str] = &["properties", "$defs", "definitions"];

/// Object `type`s whose `data` field is opaque: Anthropic's base64 sources and its encrypted
/// redacted thinking. (A `"type": "text"` source's `data` is plain text and is scanned.)
const OPAQUE_DATA_TYPES: &[&str] = &["base64", "redacted_thinking"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Inside a known API's text field: skip metadata and media.
    Schema,
    /// Free-form JSON: every string, number and key.
    Free,
    /// A JSON schema's `properties` (or `$defs`): its keys are scanned, its values are schemas.
    Names,
    /// An opaque media object whose media type is text (Gemini `inlineData` of `text/plain`):
    /// only its base64 `data` is scanned, decoded.
    Media,
}

/// How a field of an object walked in [`Mode::Schema`] is treated: `None` to skip it.
fn field_mode(key: &str, value: &Json, data_is_opaque: bool) -> Option<Mode> {
    if OPAQUE_KEYS.contains(&key) {
        return matches!(value, Json::Object(fields) if has_text_media_type(fields))
            .then_some(Mode::Media);
    }
    let scalar = matches!(value, Json::String(_) | Json::Number(_) | Json::Scalar);
    if scalar && (METADATA_KEYS.contains(&key) || (data_is_opaque && key == "data")) {
        return None;
    }
    if FREE_FORM_KEYS.contains(&key) {
        return Some(Mode::Free);
    }
    if NAMED_SCHEMA_KEYS.contains(&key) && matches!(value, Json::Object(_)) {
        return Some(Mode::Names);
    }
    Some(Mode::Schema)
}

/// Keys that give the media type of an object's `data`.
const MEDIA_TYPE_KEYS: &[&str] = &["mimeType", "mime_type", "media_type"];

/// Media types a model reads as text. Base64 data of these types is decoded and scanned: Gemini
/// takes `text/plain` as `inlineData`, and base64 keeps keywords out of sight of a plain scan.
/// Other media (PDF, images, audio) stay opaque.
fn is_text_media_type(media_type: &str) -> bool {
    let essence = media_type
        .split_once(';')
        .map_or(media_type, |(essence, _)| essence)
        .trim()
        .to_ascii_lowercase();
    essence.starts_with("text/")
        || essence.ends_with("+json")
        || essence.ends_with("+xml")
        || matches!(
            essence.as_str(),
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
        )
}

/// An object whose media type field names a text type.
fn has_text_media_type(fields: &[(String, Json)]) -> bool {
    fields.iter().any(|(key, value)| {
        MEDIA_TYPE_KEYS.contains(&key.as_str()) && value.as_str().is_some_and(is_text_media_type)
    })
}

/// The base64 payload of a field that would be opaque but holds text: the `data` of an object
/// whose data is base64 of a text type, or a base64 `data:` URL of a text type under an opaque key
/// (OpenAI `file_data`).
fn base64_text<'a>(key: &str, value: &'a Json, base64_text_data: bool) -> Option<&'a str> {
    let value = value.as_str()?;
    if base64_text_data && key == "data" {
        return Some(value);
    }
    if OPAQUE_KEYS.contains(&key) {
        return data_url_text(value);
    }
    None
}

/// The payload of `data:TYPE[;PARAM]*;base64,PAYLOAD` when TYPE is a text type.
fn data_url_text(url: &str) -> Option<&str> {
    if !url.get(..5)?.eq_ignore_ascii_case("data:") {
        return None;
    }
    let rest = url.get(5..)?;
    let (header, payload) = rest.split_once(',')?;
    let mut params = header.split(';');
    let media_type = params.next()?;
    let base64 = params.any(|p| p.trim().eq_ignore_ascii_case("base64"));
    (base64 && is_text_media_type(media_type)).then_some(payload)
}

/// Decodes base64 in the standard or URL-safe alphabet, padded or not, ignoring ASCII whitespace
/// (as lenient decoders do); `None` for anything else.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
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

/// Text with Unicode tag characters (U+E0020..U+E007E) in it, with those spelled out as the ASCII
/// characters they shadow; `None` when there are none. Tags are invisible, and normalisation
/// removes them so that they cannot split a keyword, but models have been shown to read them as
/// the ASCII they shadow ("ASCII smuggling"), so a string that carries them is scanned a second
/// time, as this text, under its path with `#tags` appended.
fn with_tags_spelled_out(text: &str) -> Option<String> {
    const TAGS: std::ops::RangeInclusive<char> = '\u{e0020}'..='\u{e007e}';
    if !text.chars().any(|c| TAGS.contains(&c)) {
        return None;
    }
    let spelled = text.chars().map(|c| {
        if TAGS.contains(&c) {
            char::from_u32(u32::from(c) - 0xe0000).unwrap_or(c)
        } else {
            c
        }
    });
    Some(spelled.collect())
}

/// Collects segments in document order while tracking the current path.
struct Walker {
    max_segments: usize,
    segments: Vec<Segment>,
    /// The path of the value being walked; children append to it and truncate it back.
    path: String,
}

impl Walker {
    fn new(max_segments: usize) -> Self {
        Self {
            max_segments,
            segments: Vec::new(),
            path: String::new(),
        }
    }

    fn emit_at(&mut self, path: &str, text: String) -> Result<(), ExtractError> {
        if text.is_empty() {
            return Ok(());
        }
        let tags = with_tags_spelled_out(&text);
        self.push(path.to_owned(), text)?;
        match tags {
            Some(tags) => self.push(format!("{path}#tags"), tags),
            None => Ok(()),
        }
    }

    fn push(&mut self, path: String, text: String) -> Result<(), ExtractError> {
        if self.segments.len() >= self.max_segments {
            return Err(ExtractError::TooManySegments {
                limit: self.max_segments,
            });
        }
        self.segments.push(Segment { path, text });
        Ok(())
    }

    fn walk(&mut self, node: Json, mode: Mode) -> Result<(), ExtractError> {
        match node {
            Json::Scalar => Ok(()),
            Json::Number(number) => {
                if mode == Mode::Free {
                    self.emit_here(number.to_string())
                } else {
                    Ok(())
                }
            }
            Json::String(text) => self.emit_here(text),
            Json::Array(items) => {
                for (index, item) in items.into_iter().enumerate() {
                    self.child(Step::Index(index), item, mode)?;
                }
                Ok(())
            }
            Json::Object(fields) => {
                let data_is_opaque = mode == Mode::Schema
                    && fields.iter().any(|(key, value)| {
                        key == "type"
                            && value
                                .as_str()
                                .is_some_and(|t| OPAQUE_DATA_TYPES.contains(&t))
                    });
                // Base64 `data` of a text type: Gemini inlineData, Anthropic base64 sources.
                let base64_text_data =
                    mode == Mode::Media || (data_is_opaque && has_text_media_type(&fields));
                for (key, value) in fields {
                    if matches!(mode, Mode::Free | Mode::Names) {
                        // Keys of free-form JSON are text too: `{"input": {"账号": 1}}`.
                        self.emit_key(&key)?;
                    } else if let Some(payload) = base64_text(&key, &value, base64_text_data) {
                        self.child_base64(Step::Key(&key), payload)?;
                        continue;
                    }
                    let child_mode = match mode {
                        Mode::Free => Some(Mode::Free),
                        Mode::Schema => field_mode(&key, &value, data_is_opaque),
                        Mode::Names => Some(Mode::Schema),
                        Mode::Media => None,
                    };
                    if let Some(child_mode) = child_mode {
                        self.child(Step::Key(&key), value, child_mode)?;
                    }
                }
                Ok(())
            }
        }
    }

    /// Emits `text` at the current path (`$` at the root).
    fn emit_here(&mut self, text: String) -> Result<(), ExtractError> {
        let path = std::mem::take(&mut self.path);
        let result = self.emit_at(if path.is_empty() { "$" } else { &path }, text);
        self.path = path;
        result
    }

    /// Emits an object key at the path of its value with `~` appended.
    fn emit_key(&mut self, key: &str) -> Result<(), ExtractError> {
        let mark = self.path.len();
        push_step(&mut self.path, Step::Key(key));
        self.path.push('~');
        let result = self.emit_here(key.to_owned());
        self.path.truncate(mark);
        result
    }

    /// Emits the text that a base64 payload of a text media type decodes to.
    fn child_base64(&mut self, step: Step<'_>, payload: &str) -> Result<(), ExtractError> {
        let mark = self.path.len();
        push_step(&mut self.path, step);
        let result = match decode_base64(payload).and_then(|bytes| String::from_utf8(bytes).ok()) {
            Some(text) => self.emit_here(text),
            None => Err(ExtractError::InvalidMedia {
                path: self.path.clone(),
            }),
        };
        self.path.truncate(mark);
        result
    }

    fn child(&mut self, step: Step<'_>, node: Json, mode: Mode) -> Result<(), ExtractError> {
        let mark = self.path.len();
        push_step(&mut self.path, step);
        self.walk(node, mode)?;
        self.path.truncate(mark);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// Appends one step to a path: `.key` (no dot at the start), `[3]`, or `["odd key"]` for keys
/// that are not plain identifiers, so that every path reads back unambiguously. A path that would
/// start with a bracket starts with `$` instead, the root.
fn push_step(path: &mut String, step: Step<'_>) {
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

/// Request-supplied text in an error message: control and bidirectional-override characters
/// escaped so that it cannot forge log lines, and cut after [`Shown::MAX_CHARS`] characters.
struct Shown<'a>(&'a str);

impl Shown<'_> {
    const MAX_CHARS: usize = 100;
}

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (count, c) in self.0.chars().enumerate() {
            if count == Self::MAX_CHARS {
                return f.write_str("…");
            }
            if c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') {
                write!(f, "{}", c.escape_unicode())?;
            } else {
                f.write_char(c)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
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
        let body = r#"{"messages":[{"role":"user","content":"a"},{"role":"user","content":"b"}]}"#;
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
        let empty = r#"{"messages":[{"role":"user","content":""},{"role":"user","content":"b"}]}"#;
        assert_eq!(json(empty, &one).unwrap().segments.len(), 1);
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
    fn duplicate_keys_are_compared_after_unescaping() {
        let err = json(r#"{"messages":[],"m\u0065ssages":[]}"#, &Limits::default()).unwrap_err();
        assert_eq!(
            err,
            ExtractError::DuplicateKey {
                key: "messages".into(),
                path: "$".into()
            }
        );
    }

    #[test]
    fn duplicate_key_paths_quote_odd_keys() {
        let err = json(r#"[{"a b":{"x":1,"x":2}}]"#, &Limits::default()).unwrap_err();
        assert_eq!(
            err,
            ExtractError::DuplicateKey {
                key: "x".into(),
                path: "$[0][\"a b\"]".into()
            }
        );
        assert_eq!(err.to_string(), "duplicate key `x` at `$[0][\"a b\"]`");
        // A key that sorts after its duplicate's neighbours is still found (the set is global to
        // the object, not adjacent-only).
        let err = json(r#"{"b":1,"a":2,"c":3,"b":4}"#, &Limits::default()).unwrap_err();
        assert_eq!(
            err,
            ExtractError::DuplicateKey {
                key: "b".into(),
                path: "$".into()
            }
        );
    }

    #[test]
    fn error_messages_escape_control_characters_and_cap_length() {
        let key = format!("a\nb\u{202e}{}", "k".repeat(200));
        let err = ExtractError::DuplicateKey {
            key,
            path: "$".into(),
        };
        let shown = err.to_string();
        assert!(
            shown.starts_with("duplicate key `a\\u{a}b\\u{202e}kkk"),
            "{shown}"
        );
        assert!(shown.ends_with("…` at `$`"), "{shown}");
        assert!(!shown.contains('\n'));
    }

    #[test]
    fn json_is_sniffed_whatever_the_content_type() {
        let limits = Limits::default();
        for ct in [None, Some("text/plain"), Some("application/octet-stream")] {
            let got = extract(b"  {\"a\":\"\\u8d26\"}", ct, &limits).unwrap();
            assert_eq!(got.format, Format::UnknownJson, "{ct:?}");
            assert_eq!(
                got.segments,
                vec![
                    Segment {
                        path: "a~".into(),
                        text: "a".into()
                    },
                    Segment {
                        path: "a".into(),
                        text: "账".into()
                    }
                ]
            );
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
            assert_eq!(
                got.segments,
                vec![Segment {
                    path: "$".into(),
                    text: "hi".into()
                }]
            );
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
        assert_eq!(
            got.segments,
            vec![Segment {
                path: "prompt".into(),
                text: "hi".into()
            }]
        );
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
    fn error_codes_are_stable() {
        let codes: Vec<_> = [
            ExtractError::InvalidJson {
                line: 1,
                column: 1,
                message: String::new(),
            },
            ExtractError::DuplicateKey {
                key: String::new(),
                path: String::new(),
            },
            ExtractError::TooDeep { limit: 0 },
            ExtractError::InvalidUtf8 { offset: 0 },
            ExtractError::TooManySegments { limit: 0 },
            ExtractError::InvalidMedia {
                path: String::new(),
            },
        ]
        .iter()
        .map(ExtractError::code)
        .collect();
        assert_eq!(
            codes,
            [
                "guard.malformed_json",
                "guard.duplicate_key",
                "guard.too_deep",
                "guard.invalid_utf8",
                "guard.too_many_segments",
                "guard.invalid_media"
            ]
        );
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
            assert!(is_text_field(key), "{key}");
        }
        for key in ["model", "messages_", "message", "stop", ""] {
            assert!(!is_text_field(key), "{key}");
        }
    }

    #[test]
    fn base64_is_decoded_leniently_but_not_blindly() {
        let decoded = |s: &str| decode_base64(s).map(|b| String::from_utf8(b).unwrap());
        assert_eq!(decoded("aGVsbG8="), Some("hello".into()));
        assert_eq!(decoded("aGVsbG8"), Some("hello".into()));
        assert_eq!(decoded("aGVs\nbG8=\n"), Some("hello".into()));
        assert_eq!(decode_base64("-_8="), Some(vec![0xfb, 0xff]));
        assert_eq!(decode_base64("+/8="), Some(vec![0xfb, 0xff]));
        assert_eq!(decoded(""), Some(String::new()));
        for bad in ["a", "aGVsbG8=x", "aGVsbG8===", "aGVs!G8=", "aGVsbG8\u{ff}"] {
            assert_eq!(decode_base64(bad), None, "{bad}");
        }
        assert_eq!(data_url_text("data:text/plain;base64,aGk="), Some("aGk="));
        assert_eq!(
            data_url_text("DATA:Text/Markdown;charset=utf-8;base64,aGk="),
            Some("aGk=")
        );
        assert_eq!(data_url_text("data:text/plain,hi"), None);
        assert_eq!(data_url_text("data:application/pdf;base64,aGk="), None);
    }

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
