//! How a bundle rides inside the filter's Wasm module: the contract between `guardc build`, which
//! writes it (`guardc/src/plugin.rs`), and the filter, which reads it (`filter/src/entry.rs`).
//!
//! The filter carries a location record `[magic x4, address, length]` of little-endian `u32`s;
//! `guardc build` finds the record by its magic words, places the bundle at a page boundary past
//! the module's initial memory, and writes the bundle's address and length into the record. The
//! words live here, in the crate both sides depend on, so they cannot drift apart.

/// The magic words that identify the location record among the module's data: random, so they
/// occur nowhere else.
pub const RECORD_MAGIC: [u32; 4] = [0xd751_3e9c, 0x48e2_6a0b, 0xc524_7fb1, 0xfa5d_1388];

/// The bytes of [`RECORD_MAGIC`] as they lie in (little-endian) Wasm memory.
pub const fn record_magic_bytes() -> [u8; 16] {
    let [w0, w1, w2, w3] = RECORD_MAGIC;
    let [a0, a1, a2, a3] = w0.to_le_bytes();
    let [b0, b1, b2, b3] = w1.to_le_bytes();
    let [c0, c1, c2, c3] = w2.to_le_bytes();
    let [d0, d1, d2, d3] = w3.to_le_bytes();
    [
        a0, a1, a2, a3, b0, b1, b2, b3, c0, c1, c2, c3, d0, d1, d2, d3,
    ]
}

/// A Wasm page: the bundle starts at a multiple of it.
pub const WASM_PAGE: u64 = 64 * 1024;
