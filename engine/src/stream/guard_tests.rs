//! The stream guard over the transcripts in `testdata/streams/` and over streams that split a
//! key across events, in each format: what the client gets, byte for byte.

use super::guard::StreamStep;
use super::sse::SseParser;
use crate::ir::{HostPattern, Mask, MaskPart, Mode, Patterns, Policy, Program, Rule, RuleAction};
use crate::{compile, CompileOptions, Ruleset, Selection};

const FIXTURES: &[&str] = &[
    "openai-chat",
    "openai-chat-tool-call",
    "dashscope",
    "responses",
    "anthropic",
    "anthropic-tool-use",
];

const KEY: &str = "AKIAIOSFODNN7EXAMPLE";

fn rule(id: &str, mode: Mode, patterns: Patterns) -> Rule {
    Rule {
        id: id.into(),
        reason: Some(format!("{id} in the answer")),
        mode,
        action: RuleAction::Deny(Patterns {
            on_response: true,
            ..patterns
        }),
    }
}

fn ruleset() -> (Ruleset, Selection) {
    let program = Program {
        policies: vec![Policy {
            name: "answers".into(),
            hosts: vec![HostPattern::Exact("h".into())],
            path_prefix: None,
            headers: vec![],
            rules: vec![
                rule(
                    "keys",
                    Mode::Enforce,
                    Patterns {
                        regexes: vec!["AKIA[0-9A-Z]{16}".into()],
                        ..Patterns::default()
                    },
                ),
                Rule {
                    id: "emails".into(),
                    reason: None,
                    mode: Mode::Enforce,
                    action: RuleAction::Mask(Mask {
                        patterns: Patterns {
                            regexes: vec!["[a-z]{1,16}@acme\\.com".into()],
                            on_response: true,
                            ..Patterns::default()
                        },
                        with: vec![
                            MaskPart::Text("[EMAIL_".into()),
                            MaskPart::Number,
                            MaskPart::Text("]".into()),
                        ],
                        restore: false,
                    }),
                },
                rule(
                    "password-watch",
                    Mode::Monitor,
                    Patterns {
                        keywords: vec!["hunter2".into()],
                        ..Patterns::default()
                    },
                ),
            ],
        }],
        judges: vec![],
    };
    let compiled = compile(&program, &CompileOptions::default()).unwrap();
    let ruleset = Ruleset::from_bytes(&compiled.bytes).unwrap();
    let selection = ruleset.select("h", "/").unwrap();
    (ruleset, selection)
}

/// Runs `stream` through the guard in chunks of `size` bytes: what the client got, and every
/// step.
fn guard(stream: &[u8], size: usize) -> (Vec<u8>, Vec<StreamStep>) {
    let (ruleset, selection) = ruleset();
    let mut answer = ruleset.answer_stream(&selection);
    let mut out = Vec::new();
    let mut steps = Vec::new();
    for chunk in stream.chunks(size.max(1)) {
        let step = ruleset.stream_push(&selection, &mut answer, chunk, Some("req-1"));
        out.extend_from_slice(&step.release);
        steps.push(step);
    }
    let step = ruleset.stream_finish(&selection, &mut answer, Some("req-1"));
    out.extend_from_slice(&step.release);
    steps.push(step);
    (out, steps)
}

fn fixture(name: &str) -> Vec<u8> {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/streams");
    std::fs::read(dir.join(format!("{name}.sse"))).unwrap()
}

#[test]
fn a_benign_stream_reaches_the_client_byte_for_byte_however_it_is_chunked() {
    for name in FIXTURES {
        let stream = fixture(name);
        for size in [1, 7, 64, stream.len()] {
            let (out, steps) = guard(&stream, size);
            assert!(steps.iter().all(|s| s.denial.is_none()), "{name} / {size}");
            assert_eq!(out, stream, "{name} in chunks of {size}");
        }
    }
}

#[test]
fn events_go_out_as_soon_as_nothing_can_still_match_in_them() {
    let stream = fixture("openai-chat");
    let (_, steps) = guard(&stream, stream.len());
    let (ruleset, selection) = ruleset();
    let mut answer = ruleset.answer_stream(&selection);
    let mut parser = SseParser::default();
    let events = parser.push(&stream).unwrap();
    // Event by event: the first events are out before the stream ends, and what is held is
    // never more than the events the rules' longest match (the e-mail mask's 25 characters)
    // could still span.
    let mut released_before_end = 0;
    for event in &events {
        let step = ruleset.stream_push(&selection, &mut answer, &event.raw, None);
        released_before_end += step.release.len();
        assert!(step.held < 2_000, "held {} bytes", step.held);
    }
    assert!(
        released_before_end > stream.len() / 4,
        "{released_before_end} of {}",
        stream.len()
    );
    // The monitored keyword in a delta is recorded once; the stream goes on.
    let monitored: Vec<String> = steps
        .iter()
        .flat_map(|s| s.monitored.iter().map(|f| f.rule.clone()))
        .collect();
    assert_eq!(monitored, ["password-watch"]);
}

/// The same answer text, split as `deltas`, as each format streams it.
fn streams(deltas: &[&str]) -> Vec<(&'static str, Vec<u8>)> {
    let q = |s: &str| serde_json::to_string(s).unwrap();
    let mut chat = String::new();
    for d in deltas {
        chat.push_str(&format!(
            "data: {{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":{}}}}}]}}\n\n",
            q(d)
        ));
    }
    chat.push_str("data: [DONE]\n\n");
    let mut anthropic = String::from(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[]}}\n\nevent: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
    );
    for d in deltas {
        anthropic.push_str(&format!(
            "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":{}}}}}\n\n",
            q(d)
        ));
    }
    anthropic.push_str("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
    let mut responses = String::from(
        "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_1\",\"status\":\"in_progress\",\"output\":[]},\"sequence_number\":0}\n\nevent: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"output_index\":0,\"item\":{\"id\":\"msg_1\",\"type\":\"message\",\"status\":\"in_progress\",\"role\":\"assistant\",\"content\":[]},\"sequence_number\":1}\n\n",
    );
    for (n, d) in deltas.iter().enumerate() {
        responses.push_str(&format!(
            "event: response.output_text.delta\ndata: {{\"type\":\"response.output_text.delta\",\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"delta\":{},\"sequence_number\":{}}}\n\n",
            q(d),
            n + 2
        ));
    }
    vec![
        ("openai-chat", chat.into_bytes()),
        ("anthropic", anthropic.into_bytes()),
        ("responses", responses.into_bytes()),
    ]
}

#[test]
fn a_key_split_across_events_never_reaches_the_client_in_any_format() {
    let deltas = [
        "Here it is: AK",
        "IAIOSF",
        "ODNN7EX",
        "AMPLE and more text after it",
    ];
    for (format, stream) in streams(&deltas) {
        for size in [1, 13, stream.len()] {
            let (out, steps) = guard(&stream, size);
            let denial = steps.iter().find_map(|s| s.denial.clone());
            let denial = denial.unwrap_or_else(|| panic!("{format} / {size}: not cut"));
            assert_eq!(denial.rule.as_deref(), Some("keys"), "{format}");
            assert_eq!(denial.code, "guard.answer_denied");
            let text = String::from_utf8_lossy(&out);
            for piece in ["AK\"", "IAIOSF", "ODNN7EX", "AMPLE"] {
                assert!(
                    !text.contains(piece),
                    "{format} / {size}: `{piece}` reached the client:\n{text}"
                );
            }
            assert!(!text.contains(KEY));
            // The stream ends in its own format, with guard's code, and every event parses.
            assert!(text.contains("guard.answer_denied"), "{format}: {text}");
            let events = SseParser::default().push(&out).unwrap();
            for event in events
                .iter()
                .filter(|e| e.data_lines > 0 && e.data.trim() != "[DONE]")
            {
                assert!(
                    serde_json::from_str::<serde_json::Value>(&event.data).is_ok(),
                    "{format}: {}",
                    event.data
                );
            }
        }
    }
}

#[test]
fn the_key_in_one_event_is_found_too_and_text_before_it_goes_out() {
    // The first event goes out once the second shows that no key starts in it; the second is
    // held (its end could start one) and dropped with the third, which holds the key.
    let deltas = [
        "Some harmless text. ",
        "More harmless text, well over twenty characters. ",
        "The key is AKIAIOSFODNN7EXAMPLE.",
    ];
    for (format, stream) in streams(&deltas) {
        let (out, steps) = guard(&stream, stream.len());
        assert!(steps.iter().any(|s| s.denial.is_some()), "{format}");
        let text = String::from_utf8_lossy(&out);
        assert!(
            text.contains("Some harmless text"),
            "{format}: the text before the key was held:\n{text}"
        );
        assert!(
            !text.contains("More harmless"),
            "{format}: an event that could start the key went out"
        );
        assert!(!text.contains("AKIA"), "{format}");
    }
}

#[test]
fn a_malformed_event_ends_the_stream_as_a_refusal() {
    let stream = b"data: {\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\ndata: {\"choices\": [\n\n";
    let (out, steps) = guard(stream, stream.len());
    let denial = steps.iter().find_map(|s| s.denial.clone()).unwrap();
    assert_eq!(denial.code, "guard.malformed_answer");
    assert!(String::from_utf8_lossy(&out).contains("guard.malformed_answer"));
}

fn values() -> Vec<crate::MaskedValue> {
    vec![
        crate::MaskedValue {
            policy: 0,
            rule: 0,
            placeholder: "[PHONE_1]".into(),
            value: "13812345678".into(),
            restore: true,
            count: 1,
        },
        crate::MaskedValue {
            policy: 0,
            rule: 0,
            placeholder: "[PHONE_10]".into(),
            value: "a \"quoted\" one".into(),
            restore: true,
            count: 1,
        },
    ]
}

/// `stream` through a restoring guard in chunks of `size`: what the client got.
fn restore_through(stream: &[u8], size: usize) -> Vec<u8> {
    let (ruleset, selection) = ruleset();
    let mut answer = ruleset.answer_stream(&selection).restoring(&values());
    let mut out = Vec::new();
    for chunk in stream.chunks(size.max(1)) {
        let step = ruleset.stream_push(&selection, &mut answer, chunk, None);
        assert!(step.denial.is_none());
        out.extend_from_slice(&step.release);
    }
    out.extend_from_slice(&ruleset.stream_finish(&selection, &mut answer, None).release);
    out
}

/// The text of every delta of a guarded stream, joined.
fn delta_text(stream: &[u8]) -> String {
    let events = SseParser::default().push(stream).unwrap();
    let format = events.iter().find_map(super::formats::detect).unwrap();
    events
        .iter()
        .flat_map(|e| super::formats::texts(format, e).unwrap())
        .filter(|p| p.kind == super::formats::PieceKind::Delta)
        .map(|p| p.text)
        .collect()
}

#[test]
fn a_placeholder_split_across_events_is_restored_exactly_in_every_format() {
    let deltas = [
        "Call [PHO",
        "NE_1] now, not [PHONE_",
        "10] or [phone_1] or [PHONE_2].",
    ];
    for (format, stream) in streams(&deltas) {
        for size in [1, 11, stream.len()] {
            let out = restore_through(&stream, size);
            assert_eq!(
                delta_text(&out),
                "Call 13812345678 now, not a \"quoted\" one or [phone_1] or [PHONE_2].",
                "{format} / {size}"
            );
            // Every event still parses, and none is lost.
            let events = SseParser::default().push(&out).unwrap();
            assert_eq!(
                events.len(),
                SseParser::default().push(&stream).unwrap().len()
            );
        }
    }
}

#[test]
fn a_stream_without_placeholders_is_restored_byte_for_byte() {
    for name in FIXTURES {
        let stream = fixture(name);
        assert_eq!(restore_through(&stream, 5), stream, "{name}");
    }
}

#[test]
fn an_answer_mask_rewrites_a_match_split_across_events_in_every_format() {
    let deltas = [
        "Write to bob@ac",
        "me.com or to ",
        "eve@acme.com; bob@acme.com again.",
    ];
    for (format, stream) in streams(&deltas) {
        for size in [1, 17, stream.len()] {
            let (out, steps) = guard(&stream, size);
            assert!(steps.iter().all(|s| s.denial.is_none()), "{format}");
            assert_eq!(
                delta_text(&out),
                "Write to [EMAIL_1] or to [EMAIL_2]; [EMAIL_1] again.",
                "{format} / {size}"
            );
            let text = String::from_utf8_lossy(&out);
            assert!(!text.contains("acme.com"), "{format}: {text}");
        }
    }
}

#[test]
fn an_event_over_the_bound_ends_the_stream_unreleased() {
    let big = format!(
        "data: {{\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{}\"}}}}]}}\n\n",
        "x".repeat(crate::DEFAULT_MAX_EVENT_BYTES)
    );
    let (out, steps) = guard(big.as_bytes(), 64 << 10);
    let denial = steps.iter().find_map(|s| s.denial.clone()).unwrap();
    assert_eq!(denial.code, "guard.answer_too_large");
    assert!(!String::from_utf8_lossy(&out).contains("xxxx"));
}

#[test]
fn a_stream_of_no_known_shape_has_every_string_scanned() {
    // Neither chat chunks nor Responses nor Anthropic events: every string is text, each field a
    // channel of its own, so a key split across its events is still found.
    let stream = b"data: {\"seq\":1,\"text\":\"here: AKIAIOSF\"}\n\ndata: {\"seq\":2,\"text\":\"ODNN7EXAMPLE\"}\n\n";
    for size in [1, stream.len()] {
        let (out, steps) = guard(stream, size);
        let denial = steps.iter().find_map(|s| s.denial.clone());
        assert_eq!(
            denial.and_then(|d| d.rule).as_deref(),
            Some("keys"),
            "{size}"
        );
        assert!(!String::from_utf8_lossy(&out).contains("AKIA"));
    }
}
