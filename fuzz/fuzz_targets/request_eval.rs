//! Any request body, content type and encoding against the reference policy: a verdict, never a
//! panic, and never an allow for a body the extractor refuses.
#![no_main]

use std::sync::OnceLock;

use guard_engine::{Inspection, Ruleset};
use libfuzzer_sys::fuzz_target;

static POLICY: &str = include_str!("../../policies/dashscope.guard");

fn ruleset() -> &'static Ruleset {
    static RULESET: OnceLock<Ruleset> = OnceLock::new();
    RULESET.get_or_init(|| {
        let compiled = guard_dsl::compile_sources(
            &[("policies/dashscope.guard".to_string(), POLICY.to_string())],
            &guard_engine::CompileOptions::default(),
        )
        .unwrap_or_else(|_| panic!("the reference policy compiles"));
        Ruleset::from_bytes(&compiled.compiled.bytes).unwrap_or_else(|e| panic!("bundle loads: {e}"))
    })
}

fuzz_target!(|data: &[u8]| {
    // First byte picks the content type and encoding, the rest is the body.
    let (selector, body) = data.split_first().map_or((0, data), |(s, b)| (*s, b));
    let content_type = [None, Some("application/json"), Some("text/plain"), Some("application/x-www-form-urlencoded")][usize::from(selector & 3)];
    let encoding = [None, Some("gzip"), Some("deflate"), Some("br")][usize::from((selector >> 2) & 3)];
    let rs = ruleset();
    let Some(policy) = rs.select("dashscope.aliyuncs.com", "/compatible-mode/v1/chat/completions") else {
        panic!("the reference policy selects its host");
    };
    let inspection = rs.inspect_encoded(policy, content_type, encoding, body);
    if encoding.is_none() && guard_engine::extract(body, content_type, &guard_engine::Limits::default()).is_err() {
        assert!(matches!(inspection, Inspection::Deny(_)), "an unreadable body must not pass");
    }
    if let Inspection::Escalate(escalation) = inspection {
        let secrets = rs.required_secrets().into_iter().map(|s| (s.to_string(), "k".to_string())).collect();
        let call = escalation.next_call(rs, &secrets, 1).ok().flatten();
        if let Some(call) = call {
            let prompt = String::from_utf8_lossy(&call.body).into_owned();
            assert!(prompt.contains("GUARD-"), "the prompt carries a fence");
        }
    }
});
