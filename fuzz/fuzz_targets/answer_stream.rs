//! Any bytes as a streamed answer, cut into chunks anywhere, through the stream guard: a step,
//! never a panic. A stream the deny-only policy does not cut reaches the client byte for byte
//! (the guard may hold, never change, what it releases).
#![no_main]

use std::sync::OnceLock;

use guard_engine::{Ruleset, Selection};
use libfuzzer_sys::fuzz_target;

/// A deny-only policy (byte for byte when not cut) and one that also masks (rewrites events).
static POLICIES: [&str; 2] = [
    r#"policy "answers" {
    match host "h.test"
    rule "keys" {
        on response
        deny regex "AKIA[0-9A-Z]{16}"
    }
}
"#,
    r#"policy "answers" {
    match host "h.test"
    rule "keys" {
        on response
        deny regex "AKIA[0-9A-Z]{16}"
    }
    rule "mails" {
        on response
        mask regex "[a-z]{1,8}@acme\\.com"
        with "[M_{{ n }}]"
    }
}
"#,
];

fn rulesets() -> &'static [(Ruleset, Selection)] {
    static RULESETS: OnceLock<Vec<(Ruleset, Selection)>> = OnceLock::new();
    RULESETS.get_or_init(|| {
        POLICIES
            .iter()
            .map(|text| {
                let compiled = guard_dsl::compile_sources(
                    &[("answers.guard".to_string(), text.to_string())],
                    &guard_engine::CompileOptions::default(),
                )
                .unwrap_or_else(|_| panic!("the fuzz policy compiles"));
                let ruleset = Ruleset::from_bytes(&compiled.compiled.bytes).expect("it loads");
                let selection = ruleset.select("h.test", "/").expect("it selects its host");
                (ruleset, selection)
            })
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    // The first byte picks the policy (bit 7) and the chunk size (bits 0-6, 1 to 128 bytes).
    let (selector, stream) = data.split_first().map_or((0, data), |(s, b)| (*s, b));
    let (ruleset, selection) = &rulesets()[usize::from(selector >> 7)];
    let size = usize::from(selector & 0x7f) + 1;
    let mut guard = ruleset.answer_stream(selection);
    let mut out = Vec::new();
    let mut cut = false;
    for chunk in stream.chunks(size) {
        let step = ruleset.stream_push(selection, &mut guard, chunk, None);
        cut |= step.denial.is_some();
        out.extend_from_slice(&step.release);
    }
    let step = ruleset.stream_finish(selection, &mut guard, None);
    cut |= step.denial.is_some();
    out.extend_from_slice(&step.release);
    if selector >> 7 == 0 && !cut {
        assert_eq!(out, stream, "a stream that was not cut was changed");
    }
});
