//! Peak heap of loading a bundle and inspecting a body, counted by a global allocator:
//! `guard-mem BUNDLE [BODY_BYTES]`. Prints the bundle size, the heap live after loading, the peak
//! while loading, and the peak of one `inspect` of a benign chat body of BODY_BYTES (64 KiB by
//! default) above what was live before it. Run it under `/usr/bin/time -v` for the process's
//! maximum RSS.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use guard_bench::corpus;
use guard_engine::Ruleset;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator; only counts.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn reset_peak() -> usize {
    let live = LIVE.load(Ordering::Relaxed);
    PEAK.store(live, Ordering::Relaxed);
    live
}

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: guard-mem BUNDLE [BODY_BYTES]");
        std::process::exit(2);
    };
    let body_bytes: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(64 << 10);
    let bundle = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(1);
        }
    };
    let body = corpus::chat_body(body_bytes);

    let base = reset_peak();
    let started = Instant::now();
    let ruleset = match Ruleset::from_bytes(&bundle) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(1);
        }
    };
    let load = started.elapsed();
    let load_peak = PEAK.load(Ordering::Relaxed) - base;
    let loaded = LIVE.load(Ordering::Relaxed) - base;

    let Some(policy) = ruleset.select(guard_bench::spec::HOST, "/v1/chat/completions") else {
        eprintln!("no policy selects {}", guard_bench::spec::HOST);
        std::process::exit(1);
    };
    let before = reset_peak();
    let verdict = ruleset
        .inspect(&policy, Some("application/json"), &body)
        .decision;
    let inspect_peak = PEAK.load(Ordering::Relaxed) - before;
    let verdict = match verdict {
        guard_engine::Decision::Allow => "allow",
        guard_engine::Decision::Deny(_) => "deny",
        guard_engine::Decision::Escalate(_) => "escalate",
    };
    println!(
        "bundle {} B; load {:.3} ms, heap after load {} B, peak during load {} B; inspect of {} B body ({verdict}): peak {} B above live",
        bundle.len(),
        load.as_secs_f64() * 1e3,
        loaded,
        load_peak,
        body.len(),
        inspect_peak
    );
}
