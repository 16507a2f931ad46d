//! Streamed answers (`text/event-stream`): the pure building blocks of scanning them.
//!
//! [`sse`] frames the bytes into events, each kept byte for byte so it can be released unchanged;
//! [`formats`] says which API a stream follows and lists each event's model-written text by
//! channel, with where it is so it can be rewritten; [`terminal`] writes the events that end a
//! stream on a deny in the stream's own format, so that the client's SDK raises guard's error.
//! Holding events back, carrying text across them and searching it is the caller's part.

pub mod formats;
mod json;
pub mod sse;
pub mod terminal;

#[cfg(test)]
mod tests;
