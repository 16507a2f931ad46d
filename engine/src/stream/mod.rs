//! Streamed answers (`text/event-stream`): the pure building blocks of scanning them.
//!
//! [`sse`] frames the bytes into events, each kept byte for byte so it can be released unchanged;
//! [`formats`] says which API a stream follows and lists each event's model-written text by
//! channel, with where it is so it can be rewritten; [`terminal`] writes the events that end a
//! stream on a deny in the stream's own format, so that the client's SDK raises guard's error.
//! [`guard`] holds events back, carries each channel's text across them and searches it with the
//! `on response` rules, releasing events whole and unchanged once no match can start in them.

pub mod formats;
pub mod guard;
mod json;
pub mod sse;
pub mod terminal;

#[cfg(test)]
mod guard_tests;
#[cfg(test)]
mod tests;
