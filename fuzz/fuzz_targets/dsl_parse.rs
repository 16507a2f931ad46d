//! Any source text gives a compilation or diagnostics, never a panic, and rendering the
//! diagnostics never panics either.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // `deny keyword file` paths resolve against the source's directory: place the source next to
    // the fixtures' keyword files (the `ok` ones or the broken `err` ones, by input length), so
    // the seeds' references resolve whatever directory the fuzzer runs in.
    let dir = if data.len() % 2 == 0 { "ok" } else { "err" };
    let name = format!("{}/../testdata/dsl/{dir}/fuzz.guard", env!("CARGO_MANIFEST_DIR"));
    let options = guard_engine::CompileOptions { dfa_size_limit: 1 << 20, ..Default::default() };
    match guard_dsl::compile_sources(&[(name, text.to_string())], &options) {
        Ok(compilation) => {
            // What the compiler writes, the engine loads.
            let ruleset = match guard_engine::Ruleset::from_bytes(&compilation.compiled.bytes) {
                Ok(ruleset) => ruleset,
                Err(err) => panic!("a compiled bundle does not load: {err}"),
            };
            never_matches_empty(&ruleset);
        }
        Err(diagnostics) => {
            let _ = diagnostics.render(guard_dsl::ErrorFormat::Human);
            let _ = diagnostics.render(guard_dsl::ErrorFormat::Json);
        }
    }
});

/// The compiler refuses a blank keyword and a regex that matches the empty string: either would
/// deny every request. So no rule of a compiled policy may match an empty stretch of text.
fn never_matches_empty(ruleset: &guard_engine::Ruleset) {
    const BODIES: [&str; 2] = ["hello there", "x \u{ff41}\u{200b}b \u{8d26}\u{53f7} 1234567890"];
    for policy in &ruleset.program().policies {
        let Some(host) = policy.hosts.first() else {
            continue;
        };
        let name = match host {
            guard_engine::ir::HostPattern::Exact(h) => h.clone(),
            guard_engine::ir::HostPattern::Subdomains(s) => format!("x{s}"),
        };
        let path = policy.path_prefix.clone().unwrap_or_else(|| "/".into());
        let Some(id) = ruleset.select(&name, &path) else {
            continue;
        };
        for body in BODIES {
            let Ok(explanation) = ruleset.explain(&id, Some("text/plain"), None, body.as_bytes()) else {
                continue;
            };
            for (rule, site) in &explanation.hits {
                assert!(!site.byte_span.is_empty(), "rule `{rule}` matches empty text: {site:?}");
            }
        }
    }
}
