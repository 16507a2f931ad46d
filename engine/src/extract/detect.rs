//! Format detection: which API a body is, by its shape.
//!
//! The format is a label for logs, metrics and the judge's ordering of the text: it decides what
//! the judge is shown first, never whether anything is scanned (every string, key and number of
//! a JSON body is). Keys are compared as upstreams compare them ([`Json::field`] folds case).

use super::json::Json;
use super::Format;

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
pub(super) fn detect(doc: &Json) -> Format {
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

    if matches!(doc.field("prompt"), Some(Json::String(..) | Json::Array(_))) {
        return Format::OpenAiCompletions;
    }

    let input = doc.field("input");
    if let Some(input @ Json::Object(_)) = input {
        if matches!(input.field("messages"), Some(Json::Array(_)))
            || matches!(input.field("prompt"), Some(Json::String(..)))
        {
            return Format::DashScope;
        }
    }

    let responses = matches!(doc.field("instructions"), Some(Json::String(..)))
        || match input {
            Some(Json::Array(items)) => items.iter().any(|item| matches!(item, Json::Object(_))),
            Some(Json::String(..)) => has("tools") || has("previous_response_id"),
            _ => false,
        };
    if responses {
        return Format::OpenAiResponses;
    }

    let embeddable = match input {
        Some(Json::String(..)) => true,
        Some(Json::Array(items)) => items.iter().all(|item| match item {
            Json::String(..) | Json::Number(_) | Json::Scalar => true,
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
