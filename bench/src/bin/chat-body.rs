//! Prints a benign benchmark chat body of about SIZE bytes (bench/src/corpus.rs) to stdout:
//! `chat-body SIZE`. bench/envoy-load.py posts one.

use std::io::Write;

fn main() -> std::io::Result<()> {
    let size = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3000);
    std::io::stdout().write_all(&guard_bench::corpus::chat_body(size))
}
