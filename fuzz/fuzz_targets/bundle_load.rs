//! Any bytes handed to the loader give a ruleset or an error, never a panic; whatever loads
//! evaluates without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(ruleset) = guard_engine::Ruleset::from_bytes(data) {
        for policy in &ruleset.program().policies {
            for host in &policy.hosts {
                let name = match host {
                    guard_engine::ir::HostPattern::Exact(h) => h.clone(),
                    guard_engine::ir::HostPattern::Subdomains(s) => format!("x{s}"),
                };
                if let Some(id) = ruleset.select(&name, "/") {
                    let _ = ruleset.inspect(id, None, br#"{"messages":[{"role":"user","content":"13912345678 hello"}]}"#);
                }
            }
        }
    }
});
