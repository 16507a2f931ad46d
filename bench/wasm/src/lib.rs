//! guard's evaluation as a bare Wasm module, for timing in V8 (`bench/wasm/run.mjs`).
//!
//! Exports: `alloc(len) -> ptr` (8-aligned, never freed: the bundle lives as long as the instance,
//! as the filter's embedded bundle does), `load(ptr, len) -> status` (`Ruleset::from_static`, as
//! the filter loads), `make_body(size, plain) -> ptr` and `body_len()` (the benchmark bodies of
//! bench/src/corpus.rs, made inside the module), `inspect(ptr, len, plain) -> verdict`
//! (0 allow, 1 deny, 2 escalate, -1 no ruleset), `stage(ptr, len, which)` (extraction or
//! normalisation alone).

#![allow(unsafe_code)]
// The exports take pointers from the JavaScript runner, which only passes what `alloc` and
// `make_body` returned; `extern "C"` exports cannot be `unsafe fn` for the runner to call.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

use std::cell::RefCell;

use guard_engine::{extract, normalize, Decision, Limits, Ruleset, Selection};

#[path = "../../src/corpus.rs"]
mod corpus;
#[path = "../../src/spec.rs"]
mod spec;

thread_local! {
    static RULESET: RefCell<Option<(Ruleset, Selection)>> = const { RefCell::new(None) };
    static BODY: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// `len` bytes of 8-aligned memory that is never freed.
#[no_mangle]
pub extern "C" fn alloc(len: usize) -> *mut u8 {
    let words = vec![0u64; len.div_ceil(8)];
    Box::leak(words.into_boxed_slice()).as_mut_ptr().cast()
}

/// Loads a bundle written at `ptr` (from `alloc`): 0 on success, 1 if refused, 2 if no policy
/// selects the benchmark host.
#[no_mangle]
pub extern "C" fn load(ptr: *const u8, len: usize) -> i32 {
    // SAFETY: `ptr` comes from `alloc`, which leaks: valid for reads for the instance's life.
    let bytes: &'static [u8] = unsafe { std::slice::from_raw_parts(ptr, len) };
    let Ok(ruleset) = Ruleset::from_static(bytes) else {
        return 1;
    };
    let Some(policy) = ruleset.select(spec::HOST, "/v1/chat/completions") else {
        return 2;
    };
    RULESET.with(|r| *r.borrow_mut() = Some((ruleset, policy)));
    0
}

/// Makes a benchmark body of about `size` bytes: a chat body, or plain text when `plain` is 1.
#[no_mangle]
pub extern "C" fn make_body(size: usize, plain: i32) -> *const u8 {
    let body = if plain == 1 {
        corpus::plain_text(size)
    } else {
        corpus::chat_body(size)
    };
    BODY.with(|b| {
        *b.borrow_mut() = body;
        b.borrow().as_ptr()
    })
}

#[no_mangle]
pub extern "C" fn body_len() -> usize {
    BODY.with(|b| b.borrow().len())
}

/// Inspects the body at `ptr` as JSON (`plain` 0) or as text (`plain` 1).
#[no_mangle]
pub extern "C" fn inspect(ptr: *const u8, len: usize, plain: i32) -> i32 {
    // SAFETY: the runner passes `make_body`'s pointer and `body_len()`, or memory from `alloc`.
    let body = unsafe { std::slice::from_raw_parts(ptr, len) };
    let content_type = if plain == 1 {
        "text/plain"
    } else {
        "application/json"
    };
    RULESET.with(|r| match r.borrow().as_ref() {
        Some((ruleset, policy)) => {
            match ruleset.inspect(policy, Some(content_type), body).decision {
                Decision::Allow => 0,
                Decision::Deny(_) => 1,
                Decision::Escalate(_) => 2,
            }
        }
        None => -1,
    })
}

/// One stage alone on the body at `ptr`, for the cost breakdown: 0 extracts it as JSON (returns
/// the number of segments), 1 normalises it as text (returns the normalised length), -1 when it
/// is not what the stage needs.
#[no_mangle]
pub extern "C" fn stage(ptr: *const u8, len: usize, which: i32) -> i32 {
    // SAFETY: as for `inspect`.
    let body = unsafe { std::slice::from_raw_parts(ptr, len) };
    match which {
        0 => extract(body, Some("application/json"), &Limits::default())
            .map_or(-1, |e| i32::try_from(e.segments.len()).unwrap_or(i32::MAX)),
        1 => std::str::from_utf8(body).map_or(-1, |text| {
            i32::try_from(normalize(text).len()).unwrap_or(i32::MAX)
        }),
        _ => -1,
    }
}
