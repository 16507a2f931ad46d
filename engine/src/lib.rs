//! guard-engine: the compiled ruleset and its evaluation.
//!
//! The DSL lowers policies into an [`ir::Program`]; [`compile`] (feature `build`) turns it into a
//! bundle; [`Ruleset::from_bytes`] loads and validates a bundle; the [`Ruleset`] methods evaluate
//! a request phase by phase (see the `eval` module). No source text and no I/O live here.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod embed;
pub mod ir;

mod codes;
#[cfg(feature = "build")]
mod compile;
mod decode;
mod eval;
mod extract;
mod head;
mod judge;
mod mask;
mod normalize;
mod reply;
mod scan;
mod stream;
mod template;
mod validate;
mod validators;
mod wire;

pub use codes::Code;
#[cfg(feature = "build")]
pub use compile::{
    check_regex, compile, reach, CompileOptions, Compiled, GroupSize, PatternError, Progress,
    RegexError, RegexErrorKind, Stage,
};
pub use decode::DecodeError;
pub use eval::{
    AnswerOutcome, Decision, Denial, Escalation, Explanation, Finding, HeaderPlan, Inspection,
    MatchSite, MatchedPattern, Outcome, Ruleset, Selection, DEFAULT_MAX_BODY_BYTES,
};
pub use extract::{
    extract, ExtractError, Extracted, Format, Limits, MediaProblem, Origin, Segment,
};
pub use head::{HeadVerdict, RequestHead, INVALID_AUTHORITY, UPGRADE_REFUSED};
pub use judge::{
    read_reply, read_verdict, JudgeCall, JudgeFault, JudgeReply, JudgeVerdict, MAX_ANSWER_BYTES,
};
pub use mask::{restore, Masked, MaskedValue};
pub use normalize::{normalize, normalize_keyword};
pub use reply::{sanitize_request_id, ErrorShape, ReplyContext, MAX_REQUEST_ID};
pub use stream::formats::{
    detect as detect_stream, rewrite as rewrite_event, texts as event_texts, FormatError, Piece,
    PieceKind, PieceRef, StreamFormat,
};
pub use stream::guard::{AnswerStream, StreamStep, MAX_HELD_BYTES};
pub use stream::sse::{Event, SseError, SseParser, DEFAULT_MAX_EVENT_BYTES};
pub use stream::terminal::{terminal, OpenItem, StreamDenial, StreamState};
pub use template::{MissingSecret, Secrets};
pub use wire::{LoadError, PatternRef, FORMAT_VERSION, REGEX_AUTOMATA_VERSION};
