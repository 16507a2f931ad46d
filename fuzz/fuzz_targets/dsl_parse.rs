//! Any source text gives a compilation or diagnostics, never a panic, and rendering the
//! diagnostics never panics either.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let options = guard_engine::CompileOptions { dfa_size_limit: 1 << 20 };
    if let Err(diagnostics) = guard_dsl::compile_sources(&[("fuzz.guard".to_string(), text.to_string())], &options) {
        let _ = diagnostics.render(guard_dsl::ErrorFormat::Human);
        let _ = diagnostics.render(guard_dsl::ErrorFormat::Json);
    }
});
