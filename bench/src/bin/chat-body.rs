//! Prints a benign benchmark chat body of about SIZE bytes (bench/src/corpus.rs) to stdout:
//! `chat-body SIZE [--numbers]`, the second with numbers in one sentence in four.
//! bench/envoy-load.py posts one.

use std::io::Write;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let size = args.iter().find_map(|s| s.parse().ok()).unwrap_or(3000);
    let body = if args.iter().any(|a| a == "--numbers") {
        guard_bench::corpus::numbered_chat_body(size)
    } else {
        guard_bench::corpus::chat_body(size)
    };
    std::io::stdout().write_all(&body)
}
