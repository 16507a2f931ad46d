//! Data-driven tests over the transcripts in `testdata/streams/`: framing at every split point,
//! the text of every channel, rewriting, and the terminal events (also written to
//! `testdata/streams/terminal/`, which `e2e/sse_terminal_check.py` feeds to the real SDKs).

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::formats::{detect, rewrite, texts, PieceKind, StreamFormat};
use super::sse::{Event, SseError, SseParser};
use super::terminal::{terminal, StreamDenial, StreamState};

const FIXTURES: &[&str] = &[
    "openai-chat",
    "openai-chat-tool-call",
    "dashscope",
    "responses",
    "anthropic",
    "anthropic-tool-use",
];

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/streams")
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(dir().join(format!("{name}.sse"))).unwrap()
}

/// Frames `chunks` one after another, then finishes.
fn frame(chunks: &[&[u8]]) -> Result<Vec<Event>, SseError> {
    let mut parser = SseParser::default();
    let mut events = Vec::new();
    for chunk in chunks {
        events.extend(parser.push(chunk)?);
    }
    events.extend(parser.finish()?);
    Ok(events)
}

fn joined(events: &[Event]) -> Vec<u8> {
    events.iter().flat_map(|e| e.raw.clone()).collect()
}

#[test]
fn every_split_point_frames_as_whole() {
    for name in FIXTURES {
        let bytes = fixture(name);
        let whole = frame(&[&bytes]).unwrap();
        assert_eq!(joined(&whole), bytes, "{name}: raw bytes are the stream");
        assert!(whole.iter().all(|e| !e.incomplete), "{name}");
        assert!(whole.iter().filter(|e| !e.comment).count() > 5, "{name}");
        for at in 0..=bytes.len() {
            let (a, b) = bytes.split_at(at);
            assert_eq!(frame(&[a, b]).unwrap(), whole, "{name} split at {at}");
        }
        let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(frame(&bytewise).unwrap(), whole, "{name} byte by byte");
    }
}

#[test]
fn fields_lines_and_comments() {
    let stream = b"\xEF\xBB\xBF: hi\n\nevent: a\nid: 7\nretry: 30\ndata:x\ndata:  y\ndata\n\n\
                   event\r\ndata: z\r\r\nid: a\0b\nretry: 1s\nfoo: bar\ndata: w";
    let events = frame(&[stream]).unwrap();
    assert_eq!(events.len(), 4);
    let [first, second, third, fourth] = &events[..] else {
        unreachable!()
    };
    assert!(first.comment && first.data_lines == 0);
    assert_eq!(first.raw, b"\xEF\xBB\xBF: hi\n\n");
    assert_eq!(second.event.as_deref(), Some("a"));
    assert_eq!(second.id.as_deref(), Some("7"));
    assert_eq!(second.retry, Some(30));
    assert_eq!(second.data, "x\n y\n");
    assert_eq!(second.data_lines, 3);
    assert!(!second.comment);
    assert_eq!(third.event, None, "an empty event name is no name");
    assert_eq!(third.data, "z");
    assert_eq!(third.raw, b"event\r\ndata: z\r\r\n");
    assert!(fourth.incomplete);
    assert_eq!(fourth.id, None, "an id with NUL is ignored");
    assert_eq!(fourth.retry, None);
    assert_eq!(fourth.data, "w");
    assert_eq!(joined(&events), stream);
}

#[test]
fn a_bom_is_only_skipped_at_the_start() {
    let events = frame(&[b"\xEF\xBB", b"\xBFdata: 1\n\n\xEF\xBB\xBFdata: 2\n\n"]).unwrap();
    assert_eq!(events[0].data, "1");
    assert_eq!(events[1].data, "", "the second BOM is part of a field name");
    assert!(!events[1].comment);
    assert_eq!(
        frame(&[b"\xEF\xBB"]),
        Err(SseError::NotUtf8 { line_start: 0 }),
        "a cut byte-order mark is not UTF-8"
    );
}

#[test]
fn a_cr_at_a_chunk_end_waits_for_the_next_byte() {
    let mut parser = SseParser::default();
    assert_eq!(parser.push(b"data: a\r\r").unwrap(), vec![]);
    let events = parser.push(b"\ndata: b\r\r").unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].raw, b"data: a\r\r\n");
    let last = parser.finish().unwrap().unwrap();
    assert_eq!(last.raw, b"data: b\r\r");
    assert!(!last.incomplete);
    assert_eq!(parser.finish().unwrap(), None);
}

#[test]
fn bounds_and_encoding() {
    let mut parser = SseParser::new(16);
    assert!(parser.push(b"data: 0123456\n\n").is_ok());
    assert_eq!(
        parser.push(b"data: 0123456789X"),
        Err(SseError::EventTooLarge {
            start: 15,
            limit: 16
        })
    );
    assert!(parser.push(b"\n\n").is_err(), "the error stays");
    assert!(parser.finish().is_err());

    // A character split across chunks is fine; a byte that is not UTF-8 is not.
    assert_eq!(
        frame(&[b"data: caf\xC3", b"\xA9\n\n"]).unwrap()[0].data,
        "café"
    );
    assert_eq!(
        frame(&[b"data: ok\n\ndata: caf\xC3\n\n"]),
        Err(SseError::NotUtf8 { line_start: 10 })
    );
    assert!(frame(&[b"data: caf\xC3"]).is_err(), "at the end too");
}

fn formats_of(events: &[Event]) -> Vec<StreamFormat> {
    let mut found: Vec<StreamFormat> = events.iter().filter_map(detect).collect();
    found.dedup();
    found
}

/// Each channel's deltas, concatenated, and the whole pieces.
fn channels(
    format: StreamFormat,
    events: &[Event],
) -> (BTreeMap<String, String>, Vec<(String, String)>) {
    let mut deltas = BTreeMap::<String, String>::new();
    let mut whole = Vec::new();
    for event in events {
        for piece in texts(format, event).unwrap() {
            match piece.kind {
                PieceKind::Delta => deltas
                    .entry(piece.channel)
                    .or_default()
                    .push_str(&piece.text),
                PieceKind::Whole => whole.push((piece.channel, piece.text)),
            }
        }
    }
    (deltas, whole)
}

fn expected(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A transcript, its format and each channel's text.
type Case = (
    &'static str,
    StreamFormat,
    &'static [(&'static str, &'static str)],
);

#[test]
fn texts_per_channel() {
    let cases: &[Case] = &[
        (
            "openai-chat",
            StreamFormat::OpenAiChat,
            &[(
                "choice:0/content",
                "Hello! The café’s Wi-Fi password is \"hunter2\".\nBye 👋",
            )],
        ),
        (
            "openai-chat-tool-call",
            StreamFormat::OpenAiChat,
            &[
                ("choice:0/tool:0/name", "get_weather"),
                ("choice:0/tool:0/arguments", "{\"location\":\"Paris, FR\"}"),
                ("choice:0/tool:1/name", "get_time"),
                ("choice:0/tool:1/arguments", "{\"tz\":\"CET\"}"),
                ("choice:1/content", "Second choice."),
            ],
        ),
        (
            "dashscope",
            StreamFormat::OpenAiChat,
            &[
                ("choice:0/content", "北京今天晴，25°C。"),
                ("choice:0/reasoning_content", "用户问天气。"),
            ],
        ),
        (
            "responses",
            StreamFormat::OpenAiResponses,
            &[
                ("output:0/arguments", "{\"q\":\"order 42\"}"),
                ("output:0/name", "lookup"),
                ("output:1/content:0/text", "Your order ships Monday."),
            ],
        ),
        (
            "anthropic",
            StreamFormat::Anthropic,
            &[
                ("block:0/thinking", "The user wants a haiku."),
                ("block:1/text", "Autumn moonlight\na worm digs silently"),
            ],
        ),
        (
            "anthropic-tool-use",
            StreamFormat::Anthropic,
            &[
                ("block:0/text", "Let me check."),
                ("block:1/name", "get_weather"),
                (
                    "block:1/input_json",
                    "{\"location\": \"SanFrancisco, CA\", \"unit\": \"celsius\"}",
                ),
            ],
        ),
    ];
    for (name, format, want) in cases {
        let events = frame(&[&fixture(name)]).unwrap();
        assert_eq!(formats_of(&events), vec![*format], "{name}");
        let (deltas, whole) = channels(*format, &events);
        // Empty channels (an initial "" or an empty DashScope content) are not text.
        let deltas: BTreeMap<_, _> = deltas.into_iter().filter(|(_, t)| !t.is_empty()).collect();
        assert_eq!(deltas, expected(want), "{name}");
        // Every whole text repeats its channel's deltas (the identifiers aside).
        for (channel, text) in whole {
            if let Some(sofar) = deltas.get(&channel) {
                assert_eq!(&text, sofar, "{name}: {channel}");
            }
        }
    }
}

#[test]
fn whole_texts_of_responses() {
    let events = frame(&[&fixture("responses")]).unwrap();
    let (_, whole) = channels(StreamFormat::OpenAiResponses, &events);
    let count = |channel: &str| whole.iter().filter(|(c, _)| c == channel).count();
    // `.done`, `content_part.done`, `output_item.done`, `response.completed`.
    assert_eq!(count("output:1/content:0/text"), 4);
    assert_eq!(count("output:0/arguments"), 3);
}

#[test]
fn unknown_types_give_every_string() {
    let event = &frame(&[b"event: response.audio.transcript.delta\n\
        data: {\"type\":\"response.audio.transcript.delta\",\"output_index\":2,\"item_id\":\"x\",\"delta\":\"hi\",\"extra\":{\"a\":[\"b\"]}}\n\n"])
    .unwrap()[0];
    assert_eq!(detect(event), Some(StreamFormat::OpenAiResponses));
    let pieces = texts(StreamFormat::OpenAiResponses, event).unwrap();
    let got: Vec<_> = pieces
        .iter()
        .map(|p| (p.channel.as_str(), p.text.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("response.audio.transcript.delta@2/delta", "hi"),
            ("response.audio.transcript.delta@2/extra/a/0", "b")
        ]
    );
    let error = &frame(&[b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"busy\"}}\n\n"]).unwrap()[0];
    assert_eq!(detect(error), None);
    let pieces = texts(StreamFormat::Anthropic, error).unwrap();
    assert_eq!(pieces[0].channel, "error/error/message");
}

#[test]
fn malformed_data_is_refused() {
    for data in [
        &b"data: {\"choices\": [\n\n"[..],
        b"data: not json\n\n",
        b"data: {\"a\":1,\"a\":2}\n\n",
    ] {
        let event = &frame(&[data]).unwrap()[0];
        assert!(texts(StreamFormat::OpenAiChat, event).is_err());
    }
    let deep = format!("data: {}{}\n\n", "[".repeat(100), "]".repeat(100));
    let event = &frame(&[deep.as_bytes()]).unwrap()[0];
    assert!(texts(StreamFormat::Unknown, event).is_err());
    let done = &frame(&[b"data: [DONE]\n\n"]).unwrap()[0];
    assert_eq!(texts(StreamFormat::OpenAiChat, done).unwrap(), vec![]);
}

#[test]
fn rewrite_changes_only_the_token() {
    let replacement = "[masked \"é\" \\ \n]";
    for name in FIXTURES {
        let events = frame(&[&fixture(name)]).unwrap();
        let format = formats_of(&events)[0];
        for event in &events {
            for piece in texts(format, event).unwrap() {
                let span = piece.at.span();
                let out = rewrite(event, &[(piece.at.clone(), replacement.to_string())]).unwrap();
                let quoted = serde_json::to_string(replacement).unwrap();
                assert_eq!(&out[..span.start], &event.raw[..span.start], "{name}");
                assert_eq!(
                    &out[span.start..span.start + quoted.len()],
                    quoted.as_bytes()
                );
                assert_eq!(&out[span.start + quoted.len()..], &event.raw[span.end..]);
                let again = frame(&[&out]).unwrap();
                assert_eq!(again.len(), 1, "{name}: still one event");
                let pieces = texts(format, &again[0]).unwrap();
                assert!(
                    pieces
                        .iter()
                        .any(|p| p.channel == piece.channel && p.text == replacement),
                    "{name}: {}",
                    piece.channel
                );
            }
        }
    }
}

#[test]
fn rewrite_maps_multi_line_data() {
    let event = &frame(&[b"id: 1\r\ndata: {\"choices\":[{\"index\":0,\r\ndata:\"delta\":{\"content\":\"secret\"}}]}\r\n\r\n"]).unwrap()[0];
    let pieces = texts(StreamFormat::OpenAiChat, event).unwrap();
    assert_eq!(pieces.len(), 1);
    let out = rewrite(event, &[(pieces[0].at.clone(), "***".into())]).unwrap();
    assert_eq!(
        out,
        b"id: 1\r\ndata: {\"choices\":[{\"index\":0,\r\ndata:\"delta\":{\"content\":\"***\"}}]}\r\n\r\n"
    );
    let other = &frame(&[b"data: \"x\"\n\n"]).unwrap()[0];
    assert!(rewrite(other, &[(pieces[0].at.clone(), String::new())]).is_err());
    let both = [
        (pieces[0].at.clone(), String::new()),
        (pieces[0].at.clone(), String::new()),
    ];
    assert!(rewrite(event, &both).is_err(), "overlapping references");
}

const DENIAL: StreamDenial<'static> = StreamDenial {
    code: "guard.rule_denied",
    message: "answer denied by guard policy `egress`, rule `secrets`: credentials",
    request_id: Some("req-1"),
};

/// How far into each transcript the deny comes: the number of events released.
const CUTS: &[(&str, usize)] = &[
    ("openai-chat", 4),
    ("openai-chat-tool-call", 3),
    ("dashscope", 5),
    ("responses", 11),
    ("anthropic", 9),
    ("anthropic-tool-use", 5),
];

/// The released prefix and the terminal events of `name` cut after `cut` events.
fn cut_stream(name: &str, cut: usize) -> (Vec<u8>, Vec<u8>, StreamState) {
    let events = frame(&[&fixture(name)]).unwrap();
    let mut state = StreamState::new(None);
    let mut released = Vec::new();
    for event in events.iter().take(cut) {
        state.observe(event);
        released.extend_from_slice(&event.raw);
    }
    (released, terminal(&state, &DENIAL), state)
}

#[test]
fn terminals_parse_and_carry_the_error() {
    let update = std::env::var_os("GUARD_UPDATE_STREAMS").is_some();
    for (name, cut) in CUTS {
        let (released, tail, state) = cut_stream(name, *cut);
        let events = frame(&[&tail]).unwrap();
        assert!(!events.is_empty());
        let mut saw_error = false;
        for event in &events {
            assert!(!event.incomplete && !event.comment, "{name}");
            if event.data == "[DONE]" {
                continue;
            }
            let data: serde_json::Value = serde_json::from_str(&event.data).unwrap();
            assert_eq!(
                data.get("type").and_then(|t| t.as_str()),
                event.event.as_deref()
            );
            if let Some(error) = data.get("error") {
                saw_error = true;
                let text = error.to_string();
                assert!(text.contains(DENIAL.message), "{name}: {text}");
                assert!(text.contains(DENIAL.code), "{name}: {text}");
            }
            assert_ne!(event.event.as_deref(), Some("message_start"));
        }
        assert!(saw_error, "{name}");
        // No terminal quotes the answer.
        let text = String::from_utf8(tail.clone()).unwrap();
        for word in ["hunter2", "Monday", "moonlight", "Paris", "晴"] {
            assert!(!text.contains(word), "{name}");
        }
        match state.format {
            Some(StreamFormat::OpenAiChat) => {
                assert_eq!(events.len(), 2, "{name}");
                assert_eq!(events[1].data, "[DONE]");
            }
            Some(StreamFormat::Anthropic) => {
                assert_eq!(events.len(), 2, "{name}: the open block is stopped");
                assert_eq!(events[0].event.as_deref(), Some("content_block_stop"));
                assert_eq!(events[1].event.as_deref(), Some("error"));
            }
            Some(StreamFormat::OpenAiResponses) => {
                let names: Vec<_> = events.iter().map(|e| e.event.as_deref()).collect();
                assert_eq!(
                    names,
                    vec![
                        Some("response.output_item.done"),
                        Some("error"),
                        Some("response.failed")
                    ]
                );
                let sequence = |e: &Event| {
                    serde_json::from_str::<serde_json::Value>(&e.data).unwrap()["sequence_number"]
                        .as_u64()
                };
                let numbers: Vec<_> = events.iter().map(sequence).collect();
                assert_eq!(numbers, vec![Some(11), Some(12), Some(13)]);
                assert!(events[0].data.contains("\"id\":\"msg_1\""));
                assert!(events[2].data.contains("\"id\":\"resp_67ab\""));
            }
            other => panic!("{name}: {other:?}"),
        }
        let path = dir().join("terminal").join(format!("{name}.sse"));
        let whole = [released, tail].concat();
        if update {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &whole).unwrap();
        } else {
            let stored = std::fs::read(&path).unwrap_or_default();
            assert!(
                stored == whole,
                "{} is stale: rerun with GUARD_UPDATE_STREAMS=1",
                path.display()
            );
        }
    }
}

#[test]
fn terminals_before_anything_was_said() {
    for format in [
        StreamFormat::OpenAiChat,
        StreamFormat::OpenAiResponses,
        StreamFormat::Anthropic,
        StreamFormat::Unknown,
    ] {
        let tail = terminal(&StreamState::new(Some(format)), &DENIAL);
        let events = frame(&[&tail]).unwrap();
        let errors = events
            .iter()
            .filter(|e| e.data != "[DONE]")
            .map(|e| serde_json::from_str::<serde_json::Value>(&e.data).unwrap())
            .filter(|d| d.get("error").is_some())
            .count();
        assert_eq!(errors, 1, "{format:?}");
        assert!(
            events.len() <= 2,
            "{format:?}: no block, item or response to close"
        );
    }
}
