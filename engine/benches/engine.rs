//! Evaluation throughput, scan-only throughput, extraction and normalisation, and bundle load
//! time, for the three benchmark policies (bench/src/spec.rs) on benign chat bodies of 1 KiB,
//! 64 KiB and 1 MiB (bench/src/corpus.rs). `cargo bench -p guard-engine`; see BENCHMARKS.md.
//!
//! Groups:
//! - `inspect/POLICY/SIZE`: `Ruleset::inspect` of an OpenAI chat body, as the filter runs it.
//! - `scan/POLICY/SIZE`: `inspect` of a `text/plain` body of the same kind of text: extraction is
//!   then one UTF-8 check and one copy, so this is (almost) the scanner alone.
//! - `scan-raw/POLICY/SIZE`: `scan` with `normalize off` in every rule: the matchers alone.
//! - `extract/SIZE`, `normalize/SIZE`: those stages alone.
//! - `load/POLICY`: `Ruleset::from_bytes` (validation, DFA copies, keyword automata built).
//! - `stream/FORMAT`: the stream guard over a benign 4 KiB answer of the corpus's text streamed in
//!   deltas of 4 to 12 characters, pushed event by event as Envoy delivers them, with the large policy's 1,000 keywords and a key
//!   regex as `on response` rules: the time per event is the latency the guard adds to each. The
//!   events and bytes held back on average are printed once per transcript.

// A benchmark stops loudly on a broken setup; none of this runs on a request path.
#![allow(
    clippy::expect_used,
    clippy::panic,
    reason = "a benchmark with a broken setup should stop, not measure nothing"
)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use guard_engine::{compile, extract, normalize, CompileOptions, Decision, Limits, Ruleset};

#[path = "../../bench/src/corpus.rs"]
mod corpus;
#[path = "../../bench/src/spec.rs"]
mod spec;

const SIZES: [(usize, &str); 3] = [(1 << 10, "1KiB"), (64 << 10, "64KiB"), (1 << 20, "1MiB")];

fn bundle(name: &str) -> Vec<u8> {
    let program = spec::by_name(name).expect("a benchmark policy");
    compile(&program, &CompileOptions::default())
        .unwrap_or_else(|e| panic!("{name} does not compile: {e:?}"))
        .bytes
}

fn benign(ruleset: &Ruleset, policy: &guard_engine::Selection, content_type: &str, body: &[u8]) {
    if let Decision::Deny(d) = ruleset.inspect(policy, Some(content_type), body).decision {
        panic!("the benchmark body is not benign: {d:?}");
    }
}

fn evaluation(c: &mut Criterion) {
    for name in spec::NAMES {
        let bytes = bundle(name);
        let ruleset = Ruleset::from_bytes(&bytes).expect("bundle loads");
        let policy = ruleset
            .select(spec::HOST, "/v1/chat/completions")
            .expect("policy selects");
        for (kind, content_type) in [("inspect", "application/json"), ("scan", "text/plain")] {
            let mut group = c.benchmark_group(format!("{kind}/{name}"));
            group
                .warm_up_time(Duration::from_secs(1))
                .measurement_time(Duration::from_secs(3));
            for (size, label) in SIZES {
                let body = if kind == "inspect" {
                    corpus::chat_body(size)
                } else {
                    corpus::plain_text(size)
                };
                benign(&ruleset, &policy, content_type, &body);
                if size >= 1 << 20 {
                    group.sample_size(20);
                }
                group.throughput(Throughput::Bytes(body.len() as u64));
                group.bench_with_input(BenchmarkId::from_parameter(label), &body, |b, body| {
                    b.iter(|| {
                        ruleset
                            .inspect(&policy, Some(content_type), black_box(body))
                            .decision
                    })
                });
            }
            group.finish();
        }
    }
}

/// The matchers alone: the policies with `normalize off` in every rule, on plain text.
fn matchers(c: &mut Criterion) {
    for name in spec::NAMES {
        let program = spec::without_normalization(spec::by_name(name).expect("a benchmark policy"));
        let bytes = compile(&program, &CompileOptions::default())
            .expect("compiles")
            .bytes;
        let ruleset = Ruleset::from_bytes(&bytes).expect("bundle loads");
        let policy = ruleset
            .select(spec::HOST, "/v1/chat/completions")
            .expect("policy selects");
        let mut group = c.benchmark_group(format!("scan-raw/{name}"));
        group
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3));
        for (size, label) in SIZES {
            let body = corpus::plain_text(size);
            benign(&ruleset, &policy, "text/plain", &body);
            group.throughput(Throughput::Bytes(body.len() as u64));
            group.bench_with_input(BenchmarkId::from_parameter(label), &body, |b, body| {
                b.iter(|| {
                    ruleset
                        .inspect(&policy, Some("text/plain"), black_box(body))
                        .decision
                })
            });
        }
        group.finish();
    }
}

fn stages(c: &mut Criterion) {
    let mut group = c.benchmark_group("extract");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for (size, label) in SIZES {
        let body = corpus::chat_body(size);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(label), &body, |b, body| {
            b.iter(|| {
                extract(
                    black_box(body),
                    Some("application/json"),
                    &Limits::default(),
                )
            })
        });
    }
    group.finish();
    let mut group = c.benchmark_group("normalize");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for (size, label) in SIZES {
        let text = String::from_utf8(corpus::plain_text(size)).expect("utf-8");
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(label), &text, |b, text| {
            b.iter(|| normalize(black_box(text)).len())
        });
    }
    group.finish();
}

fn load(c: &mut Criterion) {
    let mut group = c.benchmark_group("load");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for name in spec::NAMES {
        let bytes = bundle(name);
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), &bytes, |b, bytes| {
            b.iter(|| Ruleset::from_bytes(black_box(bytes)).map(|_| ()))
        });
    }
    group.finish();
}

/// The large policy's keywords and a key regex, as `on response` rules of one policy.
fn answer_rules() -> (Ruleset, guard_engine::Selection) {
    let mut program = spec::by_name("large").expect("the large policy");
    let keywords = spec::keywords(&program);
    let policy = program.policies.first_mut().expect("one policy");
    policy.rules = vec![guard_engine::ir::Rule {
        id: "answers".into(),
        reason: None,
        mode: guard_engine::ir::Mode::Enforce,
        action: guard_engine::ir::RuleAction::Deny(guard_engine::ir::Patterns {
            keywords,
            regexes: vec!["AKIA[0-9A-Z]{16}".into()],
            on_response: true,
            ..Default::default()
        }),
    }];
    let bytes = compile(&program, &CompileOptions::default())
        .expect("compiles")
        .bytes;
    let ruleset = Ruleset::from_bytes(&bytes).expect("loads");
    let selection = ruleset
        .select(spec::HOST, "/v1/chat/completions")
        .expect("selects");
    (ruleset, selection)
}

/// A benign answer of `size` bytes of the corpus's mixed text as each format streams it: deltas
/// of 4 to 12 characters, as models emit tokens.
fn streamed(size: usize) -> Vec<(&'static str, Vec<u8>)> {
    let text = String::from_utf8_lossy(&corpus::plain_text(size)).into_owned();
    let mut deltas = Vec::new();
    let mut rest = text.as_str();
    let mut n = 0usize;
    while !rest.is_empty() {
        let take = 4 + n % 9;
        let cut = rest.char_indices().nth(take).map_or(rest.len(), |(i, _)| i);
        deltas.push(&rest[..cut]);
        rest = &rest[cut..];
        n += 1;
    }
    let q = |d: &str| serde_json::to_string(d).expect("a string");
    let mut chat = String::new();
    let mut anthropic = String::from("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[]}}\n\n");
    let mut responses = String::new();
    for (i, d) in deltas.iter().enumerate() {
        chat.push_str(&format!("data: {{\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":{}}}}}]}}\n\n", q(d)));
        anthropic.push_str(&format!("event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":{}}}}}\n\n", q(d)));
        responses.push_str(&format!("event: response.output_text.delta\ndata: {{\"type\":\"response.output_text.delta\",\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"delta\":{},\"sequence_number\":{i}}}\n\n", q(d)));
    }
    chat.push_str("data: [DONE]\n\n");
    vec![
        ("openai-chat", chat.into_bytes()),
        ("anthropic", anthropic.into_bytes()),
        ("responses", responses.into_bytes()),
    ]
}

fn streams(c: &mut Criterion) {
    let (ruleset, selection) = answer_rules();
    for (name, stream) in streamed(4 << 10) {
        let events = guard_engine::SseParser::default()
            .push(&stream)
            .expect("frames");
        // What is held back: after each event, the bytes still held, and how many events later
        // each event went out.
        let mut guard = ruleset.answer_stream(&selection);
        let (mut held, mut released_events, mut delay) = (0usize, 0usize, 0usize);
        for (n, event) in events.iter().enumerate() {
            let step = ruleset.stream_push(&selection, &mut guard, &event.raw, None);
            if let Some(denial) = step.denial {
                panic!("the benchmark stream {name} is not benign: {denial:?}");
            }
            held += step.held;
            let out = guard_engine::SseParser::default()
                .push(&step.release)
                .map_or(0, |e| e.len());
            delay += out * n - (released_events..released_events + out).sum::<usize>();
            released_events += out;
        }
        eprintln!(
            "stream/{name}: {} events, {:.0} bytes held on average, an event goes out {:.1} events later on average",
            events.len(),
            held as f64 / events.len().max(1) as f64,
            delay as f64 / released_events.max(1) as f64,
        );
        let mut group = c.benchmark_group("stream");
        group
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3))
            .throughput(Throughput::Elements(events.len() as u64));
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                let mut guard = ruleset.answer_stream(&selection);
                for event in &events {
                    black_box(ruleset.stream_push(&selection, &mut guard, &event.raw, None));
                }
                black_box(ruleset.stream_finish(&selection, &mut guard, None));
            });
        });
        group.finish();
    }
}

criterion_group!(benches, evaluation, matchers, stages, load, streams);
criterion_main!(benches);
