//! Compiles the scaling grid's policies (`spec::scaling`: 10 to 20,000 keywords × 1 to 50
//! regexes) into `OUT_DIR/k{K}-r{R}.bundle`, for `bench/wasm/scaling.mjs`, printing each one's
//! compile time, bundle size and regex screens as a Markdown table: `cargo run --release -p
//! guard-bench --bin scaling-bundles -- OUT_DIR`.
//!
//! The bundles are what `guardc compile` makes of the same policies: the DSL lowers a policy
//! into the same program (`bench/tests/scaling.rs`) and compiles it with the same call.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use guard_bench::spec;
use guard_engine::CompileOptions;

/// `n` with a comma every three digits, as BENCHMARKS.md writes numbers.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: scaling-bundles OUT_DIR");
        return ExitCode::from(2);
    };
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("{}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    println!(
        "| keywords | regexes | compile | bundle | regexes screened by literals | by screen DFAs |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for keywords in spec::SCALING_KEYWORDS {
        for regexes in spec::SCALING_REGEXES {
            let program = spec::scaling(keywords, regexes);
            let started = Instant::now();
            let compiled = match guard_engine::compile(&program, &CompileOptions::default()) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{}: {e:?}", spec::scaling_name(keywords, regexes));
                    return ExitCode::FAILURE;
                }
            };
            let took = started.elapsed();
            let path = dir.join(format!("k{keywords}-r{regexes}.bundle"));
            if let Err(e) = std::fs::write(&path, &compiled.bytes) {
                eprintln!("{}: {e}", path.display());
                return ExitCode::FAILURE;
            }
            // How the regexes are screened says which passes a scan makes: literals ride the
            // keyword automaton's pass, each screen DFA is a pass of its own.
            let (mut by_literals, mut literals, mut by_dfas, mut dfas, mut dfa_bytes) =
                (0, 0, 0, 0, 0);
            for screen in &compiled.screens {
                if screen.dfa_bytes > 0 {
                    by_dfas += screen.patterns;
                    dfas += 1;
                    dfa_bytes += screen.dfa_bytes;
                } else {
                    by_literals += screen.patterns;
                    literals += screen.literals;
                }
            }
            let dfa_column = match dfas {
                0 => "0".to_string(),
                1 => format!("{by_dfas} (1 DFA, {} B)", thousands(dfa_bytes)),
                n => format!("{by_dfas} ({n} DFAs, {} B)", thousands(dfa_bytes)),
            };
            println!(
                "| {} | {regexes} | {:.3} s | {} B | {by_literals} ({} literals) | {dfa_column} |",
                thousands(keywords),
                took.as_secs_f64(),
                thousands(compiled.bytes.len()),
                thousands(literals),
            );
        }
    }
    println!("wrote {}", dir.display());
    ExitCode::SUCCESS
}
