//! Ending a stream on a deny, in the stream's own format, so that the client's SDK raises an
//! error with guard's reason instead of returning a truncated answer as if it were whole.
//!
//! [`StreamState`] follows what the released events said (call [`StreamState::observe`] on each
//! event as it is released); [`terminal`] writes the events that end the stream from there. What
//! each format gets, and why (the SDK lines are quoted in the tests' comments and in
//! `e2e/sse_terminal_check.py`, which runs these bytes through the official Python SDKs):
//!
//! - OpenAI chat (and DashScope's compatible mode): `data: {"error": {...}}`, then
//!   `data: [DONE]`. The `openai` SDK's `Stream` raises `APIError` for any data whose JSON has a
//!   truthy top-level `error`, with `error.message` as the message and `error.code` as `code`.
//!   No final chunk with `finish_reason: "content_filter"` comes first: the SDK's
//!   `chat.completions.stream()` helper raises `ContentFilterFinishReasonError` on one when the
//!   request has a response format or strict tools, with its own message, not guard's reason.
//! - Anthropic: `content_block_stop` for the open block, then `event: error` with
//!   `{"type": "error", "error": {"type": "permission_error", "message", "details":
//!   {"error_code"}}}`, the shape of guard's non-streamed Anthropic error. The `anthropic` SDK
//!   raises `APIStatusError` on an `error` event (never reading further), so neither
//!   `message_delta` nor `message_stop` follows, as after the API's own `error` events; the
//!   error's `error_code` is `error.details.error_code`. No `message_start` is ever written.
//! - Responses: `response.output_item.done` for the open output item (its identity, `"status":
//!   "incomplete"`, no text: guard does not keep what it released, and the SDK's stream helper
//!   only checks the identity), then `event: error` with the Responses error fields (`code`,
//!   `message`, `param`, `sequence_number`) *and* a top-level `error` object, which is what makes
//!   the `openai` SDK's `Stream` raise `APIError` (an `error` event without it, or
//!   `response.failed`, is only yielded as an event), then `response.failed` with the error for
//!   clients that read to the end of the response's lifecycle. Sequence numbers continue the
//!   stream's. `response.failed` needs the response id, so it is left out when no
//!   `response.created` was released.
//! - Unknown, or no format shown yet: the OpenAI chat form without `[DONE]`.
//!
//! The message is guard's reason only; no terminal quotes the answer's text.

use super::formats::{detect, StreamFormat};
use super::json::{quote, Node};
use super::sse::Event;

/// Guard's error, as the terminal events carry it.
#[derive(Debug, Clone, Copy)]
pub struct StreamDenial<'a> {
    /// guard's code (`guard.rule_denied`).
    pub code: &'a str,
    /// The message: guard's sentence about the policy, the rule and the reason.
    pub message: &'a str,
    /// The request's id, already sanitised (`sanitize_request_id`).
    pub request_id: Option<&'a str>,
}

/// What the released events of a stream have said, as far as ending it needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamState {
    /// The format, once an event showed it.
    pub format: Option<StreamFormat>,
    /// Anthropic: whether `message_start` was released.
    pub message_started: bool,
    /// Anthropic: the index of the content block started and not stopped.
    pub open_block: Option<String>,
    /// Responses: the response id of `response.created`.
    pub response_id: Option<String>,
    /// Responses: the last `sequence_number` released.
    pub sequence: Option<u64>,
    /// Responses: the output item added and not done.
    pub open_item: Option<OpenItem>,
}

/// A Responses output item that was added and is not done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenItem {
    /// `output_index`, as its token text.
    pub output_index: String,
    /// The item's `type`.
    pub kind: String,
    /// The item's `id`.
    pub id: Option<String>,
    /// A function call's `call_id`.
    pub call_id: Option<String>,
    /// A function call's `name`.
    pub name: Option<String>,
}

impl StreamState {
    /// A state for a stream of `format`, or of a format the first events will show.
    pub fn new(format: Option<StreamFormat>) -> Self {
        StreamState {
            format,
            ..StreamState::default()
        }
    }

    /// Takes in an event being released to the client. Data that is not JSON changes nothing
    /// (the caller refuses it through `texts`).
    pub fn observe(&mut self, event: &Event) {
        if self.format.is_none() {
            self.format = detect(event);
        }
        if event.data_lines == 0 {
            return;
        }
        let Ok(data) = Node::parse(&event.data) else {
            return;
        };
        let kind = data.get("type").and_then(Node::as_str).unwrap_or("");
        match self.format {
            Some(StreamFormat::Anthropic) => match kind {
                "message_start" => self.message_started = true,
                "content_block_start" => {
                    self.open_block = data.get("index").and_then(number);
                }
                "content_block_stop" => self.open_block = None,
                _ => {}
            },
            Some(StreamFormat::OpenAiResponses) => {
                if let Some(Node::Other(n)) = data.get("sequence_number") {
                    if let Ok(n) = n.parse() {
                        self.sequence = Some(n);
                    }
                }
                match kind {
                    "response.created" => {
                        self.response_id = data
                            .get("response")
                            .and_then(|r| r.get("id"))
                            .and_then(Node::as_str)
                            .map(str::to_string);
                    }
                    "response.output_item.added" => {
                        let item = data.get("item");
                        let text = |key: &str| {
                            item.and_then(|i| i.get(key))
                                .and_then(Node::as_str)
                                .map(str::to_string)
                        };
                        self.open_item = Some(OpenItem {
                            output_index: data
                                .get("output_index")
                                .and_then(number)
                                .unwrap_or_else(|| "0".to_string()),
                            kind: text("type").unwrap_or_else(|| "message".to_string()),
                            id: text("id"),
                            call_id: text("call_id"),
                            name: text("name"),
                        });
                    }
                    "response.output_item.done" => self.open_item = None,
                    _ => {}
                }
            }
            _ => {}
        }
    }
}

/// A non-negative integer's token text (so it can be written back into JSON as it is).
fn number(node: &Node) -> Option<String> {
    match node {
        Node::Other(token) if token.parse::<u64>().is_ok() => Some(token.clone()),
        _ => None,
    }
}

/// The bytes that end the stream after what `state` has seen, carrying `denial`.
pub fn terminal(state: &StreamState, denial: &StreamDenial<'_>) -> Vec<u8> {
    let message = quote(denial.message);
    let code = quote(denial.code);
    let request_id = denial.request_id.map_or_else(|| "null".to_string(), quote);
    let mut out = String::new();
    match state.format {
        Some(StreamFormat::Anthropic) => {
            if let (true, Some(index)) = (state.message_started, &state.open_block) {
                out.push_str(&format!(
                    "event: content_block_stop\ndata: {{\"type\":\"content_block_stop\",\"index\":{index}}}\n\n"
                ));
            }
            out.push_str(&format!(
                "event: error\ndata: {{\"type\":\"error\",\"error\":{{\"type\":\"permission_error\",\
                 \"message\":{message},\"details\":{{\"error_code\":{code}}},\"code\":{code},\
                 \"request_id\":{request_id}}},\"request_id\":{request_id}}}\n\n"
            ));
        }
        Some(StreamFormat::OpenAiResponses) => {
            let mut sequence = state.sequence.map_or(0, |n| n.saturating_add(1));
            if let Some(item) = &state.open_item {
                let mut fields = vec![format!("\"type\":{}", quote(&item.kind))];
                if let Some(id) = &item.id {
                    fields.push(format!("\"id\":{}", quote(id)));
                }
                fields.push("\"status\":\"incomplete\"".to_string());
                if item.kind == "message" {
                    fields.push("\"role\":\"assistant\"".to_string());
                }
                if let Some(call_id) = &item.call_id {
                    fields.push(format!("\"call_id\":{}", quote(call_id)));
                }
                if let Some(name) = &item.name {
                    fields.push(format!("\"name\":{}", quote(name)));
                }
                out.push_str(&format!(
                    "event: response.output_item.done\ndata: {{\"type\":\"response.output_item.done\",\
                     \"output_index\":{},\"item\":{{{}}},\"sequence_number\":{sequence}}}\n\n",
                    item.output_index,
                    fields.join(",")
                ));
                sequence = sequence.saturating_add(1);
            }
            out.push_str(&format!(
                "event: error\ndata: {{\"type\":\"error\",\"code\":{code},\"message\":{message},\
                 \"param\":null,\"sequence_number\":{sequence},\"error\":{{\"type\":\"policy_violation\",\
                 \"code\":{code},\"message\":{message},\"param\":null,\"request_id\":{request_id}}}}}\n\n"
            ));
            if let Some(id) = &state.response_id {
                sequence = sequence.saturating_add(1);
                out.push_str(&format!(
                    "event: response.failed\ndata: {{\"type\":\"response.failed\",\"response\":{{\
                     \"id\":{},\"object\":\"response\",\"status\":\"failed\",\"error\":{{\"code\":{code},\
                     \"message\":{message}}}}},\"sequence_number\":{sequence}}}\n\n",
                    quote(id)
                ));
            }
        }
        Some(StreamFormat::OpenAiChat) | Some(StreamFormat::Unknown) | None => {
            out.push_str(&format!(
                "data: {{\"error\":{{\"message\":{message},\"type\":\"policy_violation\",\
                 \"code\":{code},\"param\":null,\"request_id\":{request_id}}}}}\n\n"
            ));
            if state.format == Some(StreamFormat::OpenAiChat) {
                out.push_str("data: [DONE]\n\n");
            }
        }
    }
    out.into_bytes()
}
