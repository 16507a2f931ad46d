//! Any request body, content type and encoding against the reference policies: a verdict, never a
//! panic, and never an allow for a body the extractor refuses.
#![no_main]

use std::sync::OnceLock;

use guard_engine::{Decision, ErrorShape, ReplyContext, Ruleset};
use libfuzzer_sys::fuzz_target;

/// The example policy (keywords, a regex, a judge) and the evasion corpus's policy (`ignore case`,
/// `normalize off`, more regexes, no judge).
static POLICIES: [(&str, &str); 2] = [
    ("policies/dashscope.guard", include_str!("../../policies/dashscope.guard")),
    ("testdata/evasion/evasion.guard", include_str!("../../testdata/evasion/evasion.guard")),
];

fn rulesets() -> &'static [Ruleset] {
    static RULESETS: OnceLock<Vec<Ruleset>> = OnceLock::new();
    RULESETS.get_or_init(|| {
        POLICIES
            .iter()
            .map(|(name, text)| {
                let compiled = guard_dsl::compile_sources(
                    &[(name.to_string(), text.to_string())],
                    &guard_engine::CompileOptions::default(),
                )
                .unwrap_or_else(|_| panic!("{name} compiles"));
                Ruleset::from_bytes(&compiled.compiled.bytes).unwrap_or_else(|e| panic!("{name} loads: {e}"))
            })
            .collect()
    })
}

const CONTENT_TYPES: [Option<&str>; 4] = [None, Some("application/json"), Some("text/plain"), Some("application/x-www-form-urlencoded")];
const ENCODINGS: [Option<&str>; 8] = [
    None,
    Some("gzip"),
    Some("deflate"),
    Some("br"),
    Some("gzip, gzip"),
    Some("identity"),
    Some("x-gzip"),
    Some("deflate, gzip"),
];

fuzz_target!(|data: &[u8]| {
    // The first byte picks the content type (bits 0-1), the encoding (bits 2-4) and the policy
    // (bit 5); the rest is the body. fuzz/seed.sh writes seeds in this shape.
    let (selector, body) = data.split_first().map_or((0, data), |(s, b)| (*s, b));
    let content_type = CONTENT_TYPES[usize::from(selector & 3)];
    let encoding = ENCODINGS[usize::from((selector >> 2) & 7)];
    let rs = &rulesets()[usize::from((selector >> 5) & 1)];
    let Some(policy) = rs.select("dashscope.aliyuncs.com", "/compatible-mode/v1/chat/completions") else {
        panic!("the reference policy selects its host");
    };
    let inspection = rs.inspect_encoded(&policy, content_type, encoding, body).decision;
    if matches!(encoding, None | Some("identity"))
        && guard_engine::extract(body, content_type, &guard_engine::Limits::default()).is_err()
    {
        assert!(matches!(inspection, Decision::Deny(_)), "an unreadable body must not pass");
    }
    match inspection {
        Decision::Deny(denial) => {
            if let Some(site) = &denial.matched {
                // The compiler refuses patterns that match empty text: a hit always covers some.
                assert!(!site.byte_span.is_empty() && site.start < site.end, "empty match: {site:?}");
            }
            let shape = ErrorShape::for_request("dashscope.aliyuncs.com", "/compatible-mode/v1/chat/completions");
            let context = ReplyContext { request_id: Some("fuzz"), bundle: rs.digest12() };
            let _ = denial.body_in(shape, &context);
        }
        Decision::Escalate(escalation) => {
            let secrets = rs.required_secrets().into_iter().map(|s| (s.to_string(), "k".to_string())).collect();
            let call = escalation.next_call(rs, &secrets, 1).ok().flatten();
            if let Some(call) = call {
                let prompt = String::from_utf8_lossy(&call.body).into_owned();
                assert!(prompt.contains("GUARD-"), "the prompt carries a fence");
            }
        }
        Decision::Allow => {}
    }
});
