//! The walk over a parsed body that turns every string, key and number into a segment.
//!
//! Everything is scanned, wherever it sits and whatever the detected format: a provider extension
//! at the top level (DashScope's `translation_options`), a vendor field of an OpenAI-compatible
//! server (`documents`, `chat_template_kwargs`), a URL the provider connects to (Anthropic
//! `mcp_servers`), parameters (`stop`, `user`, `metadata`), identifiers and enums. The only
//! strings left out are media payloads that [`media`](super::media) verified to be binary media
//! of their declared type. What the walk does decide is each segment's [`Origin`]: which text is
//! the prompt of the detected API, which is another field an upstream reads, and which is the
//! API's own envelope (keys, roles, ids). Origins order what the judge is shown; rules scan all.

use super::json::{same_key, Json, Number};
use super::media::{self, Payload, Problem};
use super::path::{push_step, Step};
use super::{json, ExtractError, Origin, Segment};

/// Keys whose scalar value, inside a known API's text field, names something rather than saying
/// it: identifiers, enums, media types, opaque signatures. Scanned, but envelope, not prompt.
const METADATA_KEYS: &[&str] = &[
    "role",
    "type",
    "id",
    "tool_call_id",
    "tool_use_id",
    "call_id",
    "model",
    "mime_type",
    "mimetype",
    "media_type",
    "mediatype",
    "detail",
    "format",
    "status",
    "signature",
    "thoughtsignature",
    "thought_signature",
    "encrypted_content",
    "file_id",
    "version",
    "result_format",
    "tool_choice",
    "verbosity",
    "responsemimetype",
    "response_mime_type",
];

/// Keys whose value is free-form JSON chosen by a tool or the user (tool call inputs and
/// arguments, tool responses, prompt-template variables): its keys are text like its values.
const FREE_FORM_KEYS: &[&str] = &["input", "args", "arguments", "response", "variables"];

/// Keys of a JSON schema whose object maps names the model reads (property and definition names)
/// to schemas.
const NAMED_SCHEMA_KEYS: &[&str] = &["properties", "$defs", "definitions"];

/// Object `type`s whose `data` field is opaque ciphertext (Anthropic's redacted thinking):
/// scanned, but envelope.
const OPAQUE_DATA_TYPES: &[&str] = &["redacted_thinking"];

/// Keys that declare the media type of a sibling `data` payload.
const MEDIA_TYPE_KEYS: &[&str] = &["mimetype", "mime_type", "media_type", "mediatype"];

/// How the values of the subtree being walked are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// Inside a known API's text field: strings are prompt, keys and identifiers envelope.
    Schema,
    /// Free-form JSON: every string, key and number is text of this origin.
    Free(Origin),
    /// A JSON schema's `properties` (or `$defs`): its keys are prompt text, its values schemas.
    Names,
}

/// Collects segments in document order while tracking the current path.
pub(super) struct Walker<'t> {
    max_segments: usize,
    pub(super) segments: Vec<Segment>,
    /// The path of the value being walked; children append to it and truncate it back.
    path: String,
    /// The JSON text, to locate a refused payload by its byte offset.
    text: &'t str,
}

impl<'t> Walker<'t> {
    pub(super) fn new(max_segments: usize, text: &'t str) -> Self {
        Self {
            max_segments,
            segments: Vec::new(),
            path: String::new(),
            text,
        }
    }

    pub(super) fn emit_at(
        &mut self,
        path: &str,
        text: String,
        origin: Origin,
    ) -> Result<(), ExtractError> {
        if text.is_empty() {
            return Ok(());
        }
        let tags = with_tags_spelled_out(&text);
        self.push(path.to_owned(), text, origin)?;
        match tags {
            Some(tags) => self.push(format!("{path}#tags"), tags, origin),
            None => Ok(()),
        }
    }

    /// How many more segments fit under the limit.
    pub(super) fn room(&self) -> usize {
        self.max_segments.saturating_sub(self.segments.len())
    }

    fn push(&mut self, path: String, text: String, origin: Origin) -> Result<(), ExtractError> {
        if self.segments.len() >= self.max_segments {
            return Err(ExtractError::TooManySegments {
                limit: self.max_segments,
            });
        }
        self.segments.push(Segment { path, text, origin });
        Ok(())
    }

    /// Emits `text` at the current path (`$` at the root).
    fn emit_here(&mut self, text: String, origin: Origin) -> Result<(), ExtractError> {
        let path = std::mem::take(&mut self.path);
        let result = self.emit_at(if path.is_empty() { "$" } else { &path }, text, origin);
        self.path = path;
        result
    }

    /// Emits an object key at the path of its value with `~` appended.
    pub(super) fn emit_key(&mut self, key: &str, origin: Origin) -> Result<(), ExtractError> {
        let mark = self.path.len();
        push_step(&mut self.path, Step::Key(key));
        self.path.push('~');
        let result = self.emit_here(key.to_owned(), origin);
        self.path.truncate(mark);
        result
    }

    pub(super) fn child(
        &mut self,
        step: Step<'_>,
        node: Json,
        mode: Mode,
    ) -> Result<(), ExtractError> {
        let mark = self.path.len();
        push_step(&mut self.path, step);
        let result = self.walk(node, mode);
        self.path.truncate(mark);
        result
    }

    pub(super) fn walk(&mut self, node: Json, mode: Mode) -> Result<(), ExtractError> {
        match node {
            Json::Scalar => Ok(()),
            Json::Number(number) => {
                let origin = match mode {
                    Mode::Free(origin) => origin,
                    Mode::Schema | Mode::Names => Origin::Field,
                };
                let shown = number.to_string();
                let written = match number {
                    Number::Float(_, ordinal) => json::number_token(self.text, ordinal)
                        .filter(|written| *written != shown)
                        .map(str::to_owned),
                    _ => None,
                };
                self.emit_here(shown, origin)?;
                match written {
                    Some(written) => self.emit_here(written, origin),
                    None => Ok(()),
                }
            }
            Json::String(text, ordinal) => {
                let origin = match mode {
                    Mode::Free(origin) => origin,
                    Mode::Schema | Mode::Names => Origin::Prompt,
                };
                self.string(text, ordinal, origin)
            }
            Json::Array(items) => {
                for (index, item) in items.into_iter().enumerate() {
                    self.child(Step::Index(index), item, mode)?;
                }
                Ok(())
            }
            Json::Object(fields) => self.object(fields, mode),
        }
    }

    /// A string: a `data:` URL is read as the payload it carries, anything else as it is.
    fn string(&mut self, text: String, ordinal: usize, origin: Origin) -> Result<(), ExtractError> {
        let Some((base64, payload)) = media::data_url(&text) else {
            return self.emit_here(text, origin);
        };
        match payload {
            Ok(Payload::Inert) => Ok(()),
            Ok(Payload::Text(decoded)) => {
                // Percent-encoded text is also scanned as sent, in case an upstream reads the
                // URL as plain text; base64 as sent is not text anyone reads.
                if !base64 && decoded != text {
                    self.emit_here(text, origin)?;
                }
                self.emit_here(decoded, origin)
            }
            Err(problem) => Err(self.media_error(ordinal, problem)),
        }
    }

    fn media_error(&self, ordinal: usize, problem: Problem) -> ExtractError {
        ExtractError::InvalidMedia {
            offset: json::string_offset(self.text, ordinal),
            problem,
        }
    }

    fn object(&mut self, fields: Vec<(String, Json)>, mode: Mode) -> Result<(), ExtractError> {
        let media_type = declared_media_type(&fields);
        let type_is = |names: &[&str]| {
            fields.iter().any(|(key, value)| {
                same_key(key, "type")
                    && value
                        .as_str()
                        .is_some_and(|t| names.iter().any(|n| t.eq_ignore_ascii_case(n)))
            })
        };
        let opaque_data = mode == Mode::Schema && type_is(OPAQUE_DATA_TYPES);
        let key_origin = match mode {
            Mode::Schema => Origin::Envelope,
            Mode::Names => Origin::Prompt,
            Mode::Free(origin) => origin,
        };
        for (key, value) in fields {
            self.emit_key(&key, key_origin)?;
            if let (Some(media_type), Json::String(payload, ordinal)) = (&media_type, &value) {
                if same_key(&key, "data") {
                    let mark = self.path.len();
                    push_step(&mut self.path, Step::Key(&key));
                    let result = match media::base64_payload(payload, media_type) {
                        Ok(Payload::Inert) => Ok(()),
                        Ok(Payload::Text(text)) => self.emit_here(text, Origin::Prompt),
                        Err(problem) => Err(self.media_error(*ordinal, problem)),
                    };
                    self.path.truncate(mark);
                    result?;
                    continue;
                }
            }
            let scalar = matches!(value, Json::String(..) | Json::Number(_));
            let child_mode = match mode {
                Mode::Free(origin) => Mode::Free(origin),
                Mode::Names => Mode::Schema,
                Mode::Schema => {
                    if scalar
                        && (is_one_of(&key, METADATA_KEYS)
                            || (opaque_data && same_key(&key, "data")))
                    {
                        Mode::Free(Origin::Envelope)
                    } else if is_one_of(&key, FREE_FORM_KEYS) {
                        Mode::Free(Origin::Prompt)
                    } else if is_one_of(&key, NAMED_SCHEMA_KEYS) && matches!(value, Json::Object(_))
                    {
                        Mode::Names
                    } else {
                        Mode::Schema
                    }
                }
            };
            self.child(Step::Key(&key), value, child_mode)?;
        }
        Ok(())
    }
}

/// Whether a key is one of a list of lowercase names, compared as upstreams compare keys.
pub(super) fn is_one_of(key: &str, names: &[&str]) -> bool {
    // Every key of a body is looked up in lists of names like these, so an ASCII key (nearly
    // all) is lowered once into a buffer and compared as bytes; others fold char by char.
    let mut lowered = [0u8; 32];
    match lowered.get_mut(..key.len()) {
        Some(buffer) if key.is_ascii() => {
            buffer.copy_from_slice(key.as_bytes());
            buffer.make_ascii_lowercase();
            let buffer = &*buffer;
            names.iter().any(|name| name.as_bytes() == buffer)
        }
        _ => names.iter().any(|name| same_key(key, name)),
    }
}

/// The media type an object declares for its `data` string: a media type field (Gemini
/// `inlineData`, Anthropic base64 sources), or the `format` of an object that is only `data` and
/// `format` (OpenAI `input_audio`). An object of `type` `text` (Anthropic's plain text document
/// source) carries plain text in `data` and declares nothing.
fn declared_media_type(fields: &[(String, Json)]) -> Option<String> {
    let has_data = fields
        .iter()
        .any(|(key, value)| same_key(key, "data") && matches!(value, Json::String(..)));
    if !has_data {
        return None;
    }
    let plain = fields.iter().any(|(key, value)| {
        same_key(key, "type")
            && value
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case("text"))
    });
    if plain {
        return None;
    }
    let declared = fields.iter().find_map(|(key, value)| {
        is_one_of(key, MEDIA_TYPE_KEYS)
            .then(|| value.as_str())
            .flatten()
            .map(str::to_owned)
    });
    declared.or_else(|| {
        let only_data_and_format = fields.len() == 2
            && fields
                .iter()
                .all(|(key, _)| same_key(key, "data") || same_key(key, "format"));
        let format = fields
            .iter()
            .find(|(key, _)| same_key(key, "format"))
            .and_then(|(_, value)| value.as_str());
        match format {
            Some(format) if only_data_and_format => {
                Some(media::audio_format_type(format).to_owned())
            }
            _ => None,
        }
    })
}

/// Text with Unicode tag characters (U+E0020..U+E007E) in it, with those spelled out as the ASCII
/// characters they shadow; `None` when there are none. Tags are invisible, and normalisation
/// removes them so that they cannot split a keyword, but models have been shown to read them as
/// the ASCII they shadow ("ASCII smuggling"), so a string that carries them is scanned a second
/// time, as this text, under its path with `#tags` appended.
fn with_tags_spelled_out(text: &str) -> Option<String> {
    const TAGS: std::ops::RangeInclusive<char> = '\u{e0020}'..='\u{e007e}';
    // Every tag character is written F3 A0 8x xx in UTF-8: a text without those two bytes has
    // none, and this runs on every segment, so the bytes are looked for before the characters.
    let bytes = text.as_bytes();
    let lead = memchr::memchr_iter(0xf3, bytes).any(|at| bytes.get(at + 1) == Some(&0xa0));
    if !lead || !text.chars().any(|c| TAGS.contains(&c)) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_lists_are_lowercase_ascii_that_the_lowered_lookup_can_hold() {
        let lists = [
            METADATA_KEYS,
            FREE_FORM_KEYS,
            NAMED_SCHEMA_KEYS,
            MEDIA_TYPE_KEYS,
            super::super::TEXT_FIELDS,
            super::super::PARAMETER_KEYS,
        ];
        for name in lists.iter().flat_map(|list| list.iter()) {
            assert!(name.len() <= 32, "{name}");
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii() && !b.is_ascii_uppercase()),
                "{name}"
            );
        }
        // The byte lookup and the folding comparison agree, past the buffer's length too.
        for key in [
            "Mime_Type",
            "MIMETYPE",
            "mime\u{17f}",
            "\u{212a}",
            "tool_call_id",
            "TOOL_CALL_ID_",
            "",
            "a_very_long_key_of_more_than_thirty_two_bytes",
        ] {
            for list in lists {
                assert_eq!(
                    is_one_of(key, list),
                    list.iter().any(|name| same_key(key, name)),
                    "{key}"
                );
            }
        }
    }
}
