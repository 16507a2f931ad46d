//! Times building the keyword automaton of the dictionary and large policies with each
//! aho-corasick kind: `cargo run --release -p guard-bench --example ac_build`.

use std::time::Instant;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use guard_bench::{corpus, spec};

fn main() {
    for name in ["large", "dictionary"] {
        let program = spec::by_name(name).unwrap_or_default();
        let keywords = spec::keywords(&program);
        let text = String::from_utf8(corpus::plain_text(64 << 10)).unwrap_or_default();
        for kind in [
            None,
            Some(AhoCorasickKind::NoncontiguousNFA),
            Some(AhoCorasickKind::ContiguousNFA),
            Some(AhoCorasickKind::DFA),
        ] {
            for fold in [false, true] {
                let started = Instant::now();
                let Ok(ac) = AhoCorasick::builder()
                    .match_kind(MatchKind::Standard)
                    .ascii_case_insensitive(fold)
                    .kind(kind)
                    .build(&keywords)
                else {
                    continue;
                };
                let build = started.elapsed();
                let started = Instant::now();
                let mut n = 0;
                for _ in 0..50 {
                    n += usize::from(ac.is_match(&text));
                }
                let per = started.elapsed() / 50;
                println!(
                    "{name} ({} keywords) kind {kind:?} fold {fold}: build {:.2} ms, {} KiB, is_match 64 KiB {:.0} MB/s ({n})",
                    keywords.len(),
                    build.as_secs_f64() * 1e3,
                    ac.memory_usage() >> 10,
                    text.len() as f64 / per.as_secs_f64() / 1e6
                );
            }
        }
    }
}
