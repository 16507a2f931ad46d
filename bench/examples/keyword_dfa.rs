//! The large policy's 1,000 keywords as one regex-automata dense DFA instead of an aho-corasick
//! automaton built on load: its size, build time, `from_bytes` (validation) time and search
//! speed on the benign 64 KiB text, plain and minimised. `cargo run --release -p guard-bench
//! --example keyword_dfa`; see BENCHMARKS.md ("What bounds each").

use std::time::Instant;

use guard_bench::{corpus, spec};
use regex_automata::dfa::{dense, Automaton};
use regex_automata::util::syntax;
use regex_automata::{Input, MatchKind};

fn main() {
    let program = spec::by_name("large").unwrap_or_default();
    let keywords = spec::keywords(&program);
    // ASCII case folding for all, as the folded keyword automaton does.
    let alternation: Vec<String> = keywords.iter().map(|k| regex_syntax::escape(k)).collect();
    let pattern = format!("(?i-u:{})", alternation.join("|"));
    let text = String::from_utf8(corpus::plain_text(64 << 10)).unwrap_or_default();
    for minimize in [false, true] {
        let started = Instant::now();
        let built = dense::Builder::new()
            .configure(
                dense::Config::new()
                    .match_kind(MatchKind::All)
                    .minimize(minimize)
                    .dfa_size_limit(Some(64 << 20)),
            )
            .syntax(syntax::Config::new().unicode(false).utf8(false))
            .build(&pattern);
        let Ok(dfa) = built else {
            println!("minimize {minimize}: does not build within 64 MiB");
            continue;
        };
        let build = started.elapsed();
        let (bytes, pad) = dfa.to_bytes_native_endian();
        let bytes = bytes.get(pad..).unwrap_or_default();
        let started = Instant::now();
        let Ok((loaded, _)) = dense::DFA::from_bytes(bytes) else {
            println!("minimize {minimize}: does not load");
            continue;
        };
        let load = started.elapsed();
        let rounds = 200;
        let started = Instant::now();
        let mut matched = 0;
        for _ in 0..rounds {
            let input = Input::new(&text).earliest(true);
            if loaded.try_search_fwd(&input).ok().flatten().is_some() {
                matched += 1;
            }
        }
        let per = started.elapsed().as_secs_f64() / f64::from(rounds);
        println!(
            "minimize {minimize}: {} keywords, {} bytes, {} byte classes, build {build:.2?}, \
             from_bytes {load:.2?}, is_match {:.0} MB/s (benign text: {matched} matches)",
            keywords.len(),
            bytes.len(),
            dfa.byte_classes().alphabet_len(),
            text.len() as f64 / per / 1e6
        );
    }
}
