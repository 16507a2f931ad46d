//! A prototype of a fast path for `engine/src/normalize.rs` (suggested in BENCHMARKS.md),
//! checked against `guard_engine::normalize` and timed: `cargo run --release -p guard-bench
//! --example normalize_fast`.
//!
//! ASCII and CJK Unified Ideographs (U+4000..=U+9FFF, UTF-8 lead bytes E4..=E9: Extension A, the
//! Yijing hexagrams and the URO) are NFKC-stable starters that are not default-ignorable and
//! that nothing before them composes with: each is a chunk of its own whose NFKC is itself. So
//! the text is copied as it is, byte runs at a time, and only the islands between such
//! characters (full-width punctuation, combining marks, ...) go through the chunked NFKC, each
//! with the fast character before it, in case the island's first character composes with it.

use std::borrow::Cow;
use std::time::Instant;

use guard_bench::corpus;
use guard_engine::normalize;

/// Length of the fast character starting at `i`, or 0 when the byte there begins an island.
fn fast_len(bytes: &[u8], i: usize) -> usize {
    match bytes.get(i) {
        Some(b) if *b < 0x80 => 1,
        Some(0xE4..=0xE9) => 3,
        _ => 0,
    }
}

fn normalize_fast(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() && fast_len(bytes, i) > 0 {
        i += fast_len(bytes, i);
    }
    if i == bytes.len() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    // `copied`: end of what is in `out`; `last_fast`: start of the fast character before `i`.
    let mut copied = 0;
    let mut last_fast = None::<usize>;
    let mut at = 0;
    while at < i {
        last_fast = Some(at);
        at += fast_len(bytes, at);
    }
    while i < bytes.len() {
        // An island: from the fast character before it (if any) to the next fast character.
        let start = last_fast.unwrap_or(i);
        let mut end = i;
        while end < bytes.len() && fast_len(bytes, end) == 0 {
            end += 1;
            while end < bytes.len() && (bytes[end] & 0xC0) == 0x80 {
                end += 1;
            }
        }
        out.push_str(&text[copied..start]);
        out.push_str(&normalize(&text[start..end]));
        copied = end;
        // The fast run after it.
        i = end;
        last_fast = None;
        while i < bytes.len() && fast_len(bytes, i) > 0 {
            last_fast = Some(i);
            i += fast_len(bytes, i);
        }
        if i < bytes.len() {
            out.push_str(&text[copied..last_fast.unwrap_or(i)]);
            copied = last_fast.unwrap_or(i);
        }
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

fn main() {
    let samples = [
        "plain ascii",
        "账号，密码：１２３（ｏｋ）！",
        "e\u{301}x ac\u{200b}co\u{00ad}unt 账\u{200d}号",
        "\u{1100}\u{1168}\u{110c}\u{116a} ﬁle ａｃｃｏｕｎｔ",
        "中\u{301}文",
    ];
    for s in samples {
        assert_eq!(normalize_fast(s), normalize(s), "{s:?}");
    }
    for size in [1 << 10, 64 << 10, 1 << 20] {
        let text = String::from_utf8(corpus::plain_text(size)).unwrap_or_default();
        assert_eq!(normalize_fast(&text), normalize(&text));
        let time = |f: &dyn Fn(&str) -> usize| {
            let started = Instant::now();
            let mut n = 0;
            let rounds = (64 << 20) / text.len().max(1);
            for _ in 0..rounds.clamp(3, 2000) {
                n += f(&text);
            }
            let per = started.elapsed().as_secs_f64() / rounds.clamp(3, 2000) as f64;
            (text.len() as f64 / per / 1e6, n)
        };
        let (old, _) = time(&|t| normalize(t).len());
        let (new, _) = time(&|t| normalize_fast(t).len());
        println!(
            "{size:>8} B mixed text: normalize {old:.0} MB/s, fast path {new:.0} MB/s, same output"
        );
    }
}
