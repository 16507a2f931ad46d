//! What text a streamed answer's event carries, per API, and where it is, so that the scanner can
//! search each stream of text across events and rewrite an event's text in place.
//!
//! [`detect`] names the API from the first event that shows it. [`texts`] lists every piece of
//! model-written text in an event, each in a *channel*: the text of one choice's content, one
//! tool call's arguments, one output item's content part, one content block. The deltas of a
//! channel, concatenated in event order, are that text so far, so a pattern split across events
//! is found by searching within one channel; text of different channels is never joined. A piece
//! is a [`PieceKind::Delta`] (to append to its channel) or a [`PieceKind::Whole`] (a complete
//! text repeated by a `*.done` or lifecycle event, to search on its own).
//!
//! Channel names (stable strings, compared for equality only):
//!
//! | API | event | text | channel |
//! |---|---|---|---|
//! | OpenAI chat (and DashScope's compatible mode) | chunk | `choices[i].delta.content`, `.refusal`, `.reasoning_content`, `.reasoning` | `choice:{index}/content` (`refusal`, ...) |
//! | | | `delta.tool_calls[j].function.arguments`, `.name` | `choice:{index}/tool:{tool index}/arguments` (`name`) |
//! | | | `delta.function_call.arguments`, `.name` (legacy) | `choice:{index}/function_call/arguments` (`name`) |
//! | | | any other string under `delta` | `choice:{index}/{key}{path}` |
//! | Responses | `response.output_text.delta` / `.done` | `delta` / `text` | `output:{o}/content:{c}/text` |
//! | | `response.refusal.delta` / `.done` | `delta` / `refusal` | `output:{o}/content:{c}/refusal` |
//! | | `response.reasoning_text.delta` / `.done` | `delta` / `text` | `output:{o}/content:{c}/reasoning` |
//! | | `response.function_call_arguments.delta` / `.done` | `delta` / `arguments` | `output:{o}/arguments` |
//! | | `response.reasoning_summary_text.delta` / `.done` | `delta` / `text` | `output:{o}/summary:{s}/text` |
//! | | `response.content_part.added` / `.done` | `part.text`, `part.refusal` | as the deltas |
//! | | `response.output_item.added` / `.done` | the item's text fields (below) | as the deltas |
//! | | `response.created`, `.in_progress`, `.completed`, `.failed`, `.incomplete` | `response.output[o]`'s text fields (whole), every other string (whole) | as the deltas; `response{path}` |
//! | Anthropic | `content_block_start` | `content_block.text`, `.thinking`, `.name`; strings in `.input` (whole) | `block:{index}/text` (`thinking`, `name`, `input{path}`) |
//! | | `content_block_delta` | `text_delta.text`, `input_json_delta.partial_json`, `thinking_delta.thinking` | `block:{index}/text`, `block:{index}/input_json`, `block:{index}/thinking` |
//!
//! An item's text fields: `content[c].text` (`output_text`, or `reasoning_text` as `reasoning`),
//! `content[c].refusal`, `arguments`, `name`, `summary[s].text`; any other string of the item is
//! in `output:{o}/{path}`.
//!
//! Never skipped silently: an event of a known format whose type this module does not know (a
//! new delta type, an `error` event, an OpenAI chunk without `choices`), and any other string of
//! a known event's object listed above as "any other string", gives every string value of its
//! data as deltas of channels of their own, named `{type}/{path}` (with `@{output_index}` or
//! `@{index}` after the type when the event has one), so the same field of repeated events still
//! forms one channel. Only identifiers and enumerations the API writes, not the model, are left
//! out everywhere: members named `type`, `id`, `item_id`, `call_id`, `object`, `status`, `role`,
//! `signature` (an opaque thinking signature) and `data` of a `redacted_thinking` block, and the
//! lifecycle fields `model`, `finish_reason`, `stop_reason`.
//!
//! A data field that is not JSON is [`FormatError::Malformed`] (except `[DONE]`, which carries no
//! text): the caller cannot read it, so it refuses the stream. [`rewrite`] replaces pieces' text
//! in an event's raw bytes, re-encoding only the string tokens concerned.

use std::ops::Range;

use thiserror::Error;

use super::json::{quote, Node};
use super::sse::Event;

/// The API a stream's events follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamFormat {
    /// Chat Completions chunks (`chat.completion.chunk`), also DashScope's compatible mode.
    OpenAiChat,
    /// The Responses API's `response.*` events.
    OpenAiResponses,
    /// Anthropic Messages events.
    Anthropic,
    /// JSON events of no known shape: every string is text.
    Unknown,
}

/// Why an event's text cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FormatError {
    /// The event's data is not JSON (or nests too deep, or repeats a key).
    #[error("an event's data is not valid JSON")]
    Malformed,
    /// A replacement's reference is not a string token of this event, or overlaps another.
    #[error("a replacement does not name a string of this event")]
    BadReference,
}

/// Whether a piece continues its channel or repeats a whole text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PieceKind {
    /// Appended to the channel's text so far.
    Delta,
    /// A complete text (a `*.done` or lifecycle event's copy), searched on its own.
    Whole,
}

/// Where a piece is: the byte range of its JSON string token (quotes included) in the event's
/// `raw`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PieceRef {
    span: Range<usize>,
}

impl PieceRef {
    /// The token's byte range in the event's `raw`.
    pub fn span(&self) -> Range<usize> {
        self.span.clone()
    }
}

/// One piece of model-written text in an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    /// The stream of text it belongs to (module docs).
    pub channel: String,
    /// Delta or whole text.
    pub kind: PieceKind,
    /// The decoded text.
    pub text: String,
    /// Where its token is.
    pub at: PieceRef,
}

/// Anthropic's event types.
const ANTHROPIC_TYPES: &[&str] = &[
    "message_start",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
    "ping",
];

/// Members never taken for model-written text (module docs).
const NOT_TEXT: &[&str] = &[
    "type",
    "id",
    "item_id",
    "call_id",
    "object",
    "status",
    "role",
    "signature",
    "model",
    "finish_reason",
    "stop_reason",
];

/// The API an event shows, or `None` when it shows none (a comment, an event without data,
/// `[DONE]`, an `error` event, which every API sends). JSON of no known shape is
/// [`StreamFormat::Unknown`]; data that is not JSON says nothing either (`None`), and
/// [`texts`] refuses it.
pub fn detect(event: &Event) -> Option<StreamFormat> {
    if event.data_lines == 0 || event.data.trim() == "[DONE]" {
        return None;
    }
    let name = event.event.as_deref();
    if name.is_some_and(|name| ANTHROPIC_TYPES.contains(&name)) {
        return Some(StreamFormat::Anthropic);
    }
    let data = Node::parse(&event.data).ok()?;
    let kind = data.get("type").and_then(Node::as_str);
    match kind {
        Some(kind) if ANTHROPIC_TYPES.contains(&kind) => return Some(StreamFormat::Anthropic),
        Some(kind) if kind.starts_with("response.") => return Some(StreamFormat::OpenAiResponses),
        Some("error") => return None,
        _ => {}
    }
    if data.get("object").and_then(Node::as_str) == Some("chat.completion.chunk")
        || matches!(data.get("choices"), Some(Node::Array(_)))
    {
        return Some(StreamFormat::OpenAiChat);
    }
    if data.get("error").is_some() {
        return None;
    }
    Some(StreamFormat::Unknown)
}

/// Every piece of model-written text `event` carries, read as `format` (module docs).
pub fn texts(format: StreamFormat, event: &Event) -> Result<Vec<Piece>, FormatError> {
    if event.data_lines == 0 || event.data.trim() == "[DONE]" {
        return Ok(Vec::new());
    }
    let data = Node::parse(&event.data).map_err(|_| FormatError::Malformed)?;
    let mut out = Out {
        event,
        pieces: Vec::new(),
    };
    match format {
        StreamFormat::OpenAiChat => chat(&data, &mut out),
        StreamFormat::OpenAiResponses => responses(&data, &mut out),
        StreamFormat::Anthropic => anthropic(&data, &mut out),
        StreamFormat::Unknown => other(&data, &mut out),
    }
    Ok(out.pieces)
}

/// The pieces found so far, with the event to map data offsets into `raw`.
struct Out<'a> {
    event: &'a Event,
    pieces: Vec<Piece>,
}

impl Out<'_> {
    /// Adds `node` when it is a string.
    fn add(&mut self, node: Option<&Node>, channel: String, kind: PieceKind) {
        let Some(Node::Str { value, span }) = node else {
            return;
        };
        let (Some(start), Some(end)) = (
            self.event.raw_offset(span.start),
            self.event.raw_offset(span.end - 1),
        ) else {
            return;
        };
        self.pieces.push(Piece {
            channel,
            kind,
            text: value.clone(),
            at: PieceRef {
                span: start..end + 1,
            },
        });
    }

    /// Adds every string under `node`, except members in [`NOT_TEXT`] and `skip`, each in the
    /// channel `prefix` followed by its path.
    fn all(&mut self, node: &Node, prefix: &str, skip: &[&str], kind: PieceKind) {
        match node {
            Node::Str { .. } => self.add(Some(node), prefix.to_string(), kind),
            Node::Object(members) => {
                for (key, value) in members {
                    if NOT_TEXT.contains(&key.as_str()) || skip.contains(&key.as_str()) {
                        continue;
                    }
                    self.all(value, &format!("{prefix}/{key}"), &[], kind);
                }
            }
            Node::Array(items) => {
                for (n, item) in items.iter().enumerate() {
                    self.all(item, &format!("{prefix}/{n}"), &[], kind);
                }
            }
            Node::Other(_) => {}
        }
    }
}

/// An index member's text, or the position when it is absent.
fn index_of(node: &Node, key: &str, position: usize) -> String {
    node.get(key)
        .and_then(Node::key)
        .map_or_else(|| position.to_string(), str::to_string)
}

fn chat(data: &Node, out: &mut Out<'_>) {
    let Some(Node::Array(choices)) = data.get("choices") else {
        return other(data, out);
    };
    for (position, choice) in choices.iter().enumerate() {
        let i = index_of(choice, "index", position);
        let Some(delta) = choice.get("delta") else {
            continue;
        };
        for field in ["content", "refusal", "reasoning_content", "reasoning"] {
            out.add(
                delta.get(field),
                format!("choice:{i}/{field}"),
                PieceKind::Delta,
            );
        }
        for (n, call) in delta
            .get("tool_calls")
            .map_or(&[][..], Node::items)
            .iter()
            .enumerate()
        {
            let j = index_of(call, "index", n);
            let function = call.get("function");
            for field in ["arguments", "name"] {
                out.add(
                    function.and_then(|f| f.get(field)),
                    format!("choice:{i}/tool:{j}/{field}"),
                    PieceKind::Delta,
                );
            }
        }
        if let Some(call) = delta.get("function_call") {
            for field in ["arguments", "name"] {
                out.add(
                    call.get(field),
                    format!("choice:{i}/function_call/{field}"),
                    PieceKind::Delta,
                );
            }
        }
        out.all(
            delta,
            &format!("choice:{i}"),
            &[
                "content",
                "refusal",
                "reasoning_content",
                "reasoning",
                "tool_calls",
                "function_call",
            ],
            PieceKind::Delta,
        );
    }
}

fn responses(data: &Node, out: &mut Out<'_>) {
    let kind = data.get("type").and_then(Node::as_str).unwrap_or("");
    let o = index_of(data, "output_index", 0);
    let c = index_of(data, "content_index", 0);
    let (field, channel, piece) = match kind {
        "response.output_text.delta" => (
            "delta",
            format!("output:{o}/content:{c}/text"),
            PieceKind::Delta,
        ),
        "response.output_text.done" => (
            "text",
            format!("output:{o}/content:{c}/text"),
            PieceKind::Whole,
        ),
        "response.refusal.delta" => (
            "delta",
            format!("output:{o}/content:{c}/refusal"),
            PieceKind::Delta,
        ),
        "response.refusal.done" => (
            "refusal",
            format!("output:{o}/content:{c}/refusal"),
            PieceKind::Whole,
        ),
        "response.reasoning_text.delta" => (
            "delta",
            format!("output:{o}/content:{c}/reasoning"),
            PieceKind::Delta,
        ),
        "response.reasoning_text.done" => (
            "text",
            format!("output:{o}/content:{c}/reasoning"),
            PieceKind::Whole,
        ),
        "response.function_call_arguments.delta" => {
            ("delta", format!("output:{o}/arguments"), PieceKind::Delta)
        }
        "response.function_call_arguments.done" => (
            "arguments",
            format!("output:{o}/arguments"),
            PieceKind::Whole,
        ),
        "response.reasoning_summary_text.delta" | "response.reasoning_summary_text.done" => {
            let s = index_of(data, "summary_index", 0);
            let (field, piece) = if kind.ends_with("delta") {
                ("delta", PieceKind::Delta)
            } else {
                ("text", PieceKind::Whole)
            };
            (field, format!("output:{o}/summary:{s}/text"), piece)
        }
        "response.content_part.added" | "response.content_part.done" => {
            let piece = if kind.ends_with("added") {
                PieceKind::Delta
            } else {
                PieceKind::Whole
            };
            if let Some(part) = data.get("part") {
                content_part(part, &format!("output:{o}/content:{c}"), piece, out);
            }
            return;
        }
        "response.output_item.added" | "response.output_item.done" => {
            let piece = if kind.ends_with("added") {
                PieceKind::Delta
            } else {
                PieceKind::Whole
            };
            if let Some(item) = data.get("item") {
                output_item(item, &o, piece, out);
            }
            return;
        }
        "response.created"
        | "response.in_progress"
        | "response.queued"
        | "response.completed"
        | "response.failed"
        | "response.incomplete" => {
            if let Some(response) = data.get("response") {
                for (n, item) in response
                    .get("output")
                    .map_or(&[][..], Node::items)
                    .iter()
                    .enumerate()
                {
                    output_item(item, &n.to_string(), PieceKind::Whole, out);
                }
                out.all(response, "response", &["output"], PieceKind::Whole);
            }
            return;
        }
        _ => return other(data, out),
    };
    out.add(data.get(field), channel, piece);
}

/// A content part's text, in the channels of `prefix` (`output:{o}/content:{c}`).
fn content_part(part: &Node, prefix: &str, kind: PieceKind, out: &mut Out<'_>) {
    let text = if part.get("type").and_then(Node::as_str) == Some("reasoning_text") {
        "reasoning"
    } else {
        "text"
    };
    out.add(part.get("text"), format!("{prefix}/{text}"), kind);
    out.add(part.get("refusal"), format!("{prefix}/refusal"), kind);
    out.all(part, prefix, &["text", "refusal"], kind);
}

/// An output item's text fields at output index `o`.
fn output_item(item: &Node, o: &str, kind: PieceKind, out: &mut Out<'_>) {
    for (n, part) in item
        .get("content")
        .map_or(&[][..], Node::items)
        .iter()
        .enumerate()
    {
        content_part(part, &format!("output:{o}/content:{n}"), kind, out);
    }
    for (n, part) in item
        .get("summary")
        .map_or(&[][..], Node::items)
        .iter()
        .enumerate()
    {
        out.add(
            part.get("text"),
            format!("output:{o}/summary:{n}/text"),
            kind,
        );
    }
    for field in ["arguments", "name"] {
        out.add(item.get(field), format!("output:{o}/{field}"), kind);
    }
    out.all(
        item,
        &format!("output:{o}"),
        &["content", "summary", "arguments", "name"],
        kind,
    );
}

fn anthropic(data: &Node, out: &mut Out<'_>) {
    let kind = data.get("type").and_then(Node::as_str).unwrap_or("");
    let i = index_of(data, "index", 0);
    match kind {
        "content_block_start" => {
            if let Some(block) = data.get("content_block") {
                content_block(block, &i, out);
            }
        }
        "content_block_delta" => {
            let Some(delta) = data.get("delta") else {
                return;
            };
            match delta.get("type").and_then(Node::as_str).unwrap_or("") {
                "text_delta" => out.add(
                    delta.get("text"),
                    format!("block:{i}/text"),
                    PieceKind::Delta,
                ),
                "input_json_delta" => out.add(
                    delta.get("partial_json"),
                    format!("block:{i}/input_json"),
                    PieceKind::Delta,
                ),
                "thinking_delta" => out.add(
                    delta.get("thinking"),
                    format!("block:{i}/thinking"),
                    PieceKind::Delta,
                ),
                "signature_delta" => {}
                other_delta => out.all(
                    delta,
                    &format!("content_block_delta@{i}/{other_delta}"),
                    &[],
                    PieceKind::Delta,
                ),
            }
        }
        "message_start" => {
            let message = data.get("message");
            let content = message.and_then(|m| m.get("content"));
            for (n, block) in content.map_or(&[][..], Node::items).iter().enumerate() {
                content_block(block, &n.to_string(), out);
            }
            if let Some(message) = message {
                out.all(
                    message,
                    "message_start",
                    &["content", "usage"],
                    PieceKind::Delta,
                );
            }
        }
        "content_block_stop" | "message_stop" | "ping" => {}
        "message_delta" => out.all(
            data,
            "message_delta",
            &["usage", "stop_sequence"],
            PieceKind::Delta,
        ),
        _ => other(data, out),
    }
}

/// A content block's initial text at index `i`.
fn content_block(block: &Node, i: &str, out: &mut Out<'_>) {
    let prefix = format!("block:{i}");
    for field in ["text", "thinking", "name"] {
        out.add(
            block.get(field),
            format!("{prefix}/{field}"),
            PieceKind::Delta,
        );
    }
    if let Some(input) = block.get("input") {
        out.all(input, &format!("{prefix}/input"), &[], PieceKind::Whole);
    }
    let skip: &[&str] = if block.get("type").and_then(Node::as_str) == Some("redacted_thinking") {
        &["text", "thinking", "name", "input", "data"]
    } else {
        &["text", "thinking", "name", "input"]
    };
    out.all(block, &prefix, skip, PieceKind::Delta);
}

/// Every string of an event no rule above reads, in channels named after its type.
fn other(data: &Node, out: &mut Out<'_>) {
    let kind = data.get("type").and_then(Node::as_str).unwrap_or("event");
    let at = data
        .get("output_index")
        .or_else(|| data.get("index"))
        .and_then(Node::key);
    let prefix = match at {
        Some(at) => format!("{kind}@{at}"),
        None => kind.to_string(),
    };
    out.all(data, &prefix, &[], PieceKind::Delta);
}

/// `event`'s raw bytes with each referenced piece's text replaced, re-encoded as a JSON string;
/// every other byte is kept. References must come from [`texts`] of this same event and must
/// not overlap.
pub fn rewrite(event: &Event, replacements: &[(PieceRef, String)]) -> Result<Vec<u8>, FormatError> {
    let mut order: Vec<&(PieceRef, String)> = replacements.iter().collect();
    order.sort_unstable_by_key(|(at, _)| at.span.start);
    let mut out = Vec::with_capacity(event.raw.len());
    let mut kept = 0;
    for (at, text) in order {
        let token = event
            .raw
            .get(at.span.clone())
            .filter(|_| at.span.start >= kept)
            .ok_or(FormatError::BadReference)?;
        if token.len() < 2 || token.first() != Some(&b'"') || token.last() != Some(&b'"') {
            return Err(FormatError::BadReference);
        }
        out.extend_from_slice(event.raw.get(kept..at.span.start).unwrap_or(&[]));
        out.extend_from_slice(quote(text).as_bytes());
        kept = at.span.end;
    }
    out.extend_from_slice(event.raw.get(kept..).unwrap_or(&[]));
    Ok(out)
}
