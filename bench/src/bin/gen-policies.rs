//! Writes the benchmark policies as `.guard` files (and keyword files) into a directory,
//! `bench/policies` by default: `cargo run -p guard-bench --bin gen-policies [DIR]`.

use std::path::PathBuf;

use guard_bench::spec;

fn main() -> std::io::Result<()> {
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("policies"));
    std::fs::create_dir_all(&dir)?;
    for name in ["large", "dictionary"] {
        let Some(program) = spec::by_name(name) else {
            continue;
        };
        let (text, files) = guard_bench::policy_files(&program, name);
        std::fs::write(dir.join(format!("{name}.guard")), text)?;
        for (file, contents) in files {
            std::fs::write(dir.join(file), contents)?;
        }
    }
    println!("wrote {}", dir.display());
    Ok(())
}
