//! Guarding a streamed answer: every event is scanned before any byte of it reaches the client,
//! a pattern split across events is found as if the text had come in one piece, and a benign
//! stream goes out byte for byte as the upstream sent it.
//!
//! The text of each channel (a choice's content, a tool call's arguments, a content block; see
//! [`super::formats`]) is carried across events in a window. After each event the window is
//! searched with the selected policies' `on response` rules. A match of an enforced deny ends
//! the stream there: the events still held are dropped and the stream's own terminal events
//! (see [`super::terminal`]) are sent instead, so the client's SDK raises guard's error. Events
//! are released whole, in order, as soon as no match can still start in them: a match is at most
//! the rules' *reach* long (compiled per rule, `CompiledMatcher::reach`), so an event whose text
//! lies before the last `reach - 1` units of its channel can only be part of matches that would
//! already have been found. Units undercount what a match can consume (a character is one, a run
//! of white space is one, an invisible character the normaliser removes is none), so more is held
//! than strictly needed, never less. A window keeps some text before the release point, so
//! normalisation at its edge reads as it would in the whole text.
//!
//! With [`AnswerStream::restoring`], the request's placeholders are put back as events go out:
//! an event is held while a placeholder that starts in it has not ended, and the value goes into
//! the piece where its placeholder starts (the pieces it continues into lose their part of it),
//! the event rewritten token by token (`formats::rewrite`); an event with no placeholder still
//! goes out byte for byte.
//!
//! The answer's own `mask` rules work the same way: a match (found while the events holding it
//! are held, since a match starting in an event is complete before the event may go) becomes its
//! placeholder in those events, numbered across the stream; whole texts (`*.done` events) are
//! masked as they come.
//!
//! What is refused rather than passed: an event over the size bound, bytes that are not UTF-8,
//! an event whose data does not parse (`guard.malformed_answer`) and more held text than the
//! bound (`guard.answer_too_large`). Each ends the stream as a deny does.

use std::collections::BTreeMap;

use super::formats::{self, Piece, PieceKind, StreamFormat};
use super::sse::{Event, SseError, SseParser};
use super::terminal::{self, StreamDenial, StreamState};
use crate::codes::Code;
use crate::eval::{Decision, Denial, Finding, Ruleset, Selection};
use crate::extract::{Origin, Segment};
use crate::ir::Side;
use crate::mask::MaskedValue;

/// The most text a stream may hold back at once, in bytes of events.
pub const MAX_HELD_BYTES: usize = 1 << 20;

/// How many characters before the release point a window keeps, so normalisation at the
/// window's start reads as it would in the whole text.
const CONTEXT_CHARS: usize = 32;

/// One answer stream being guarded.
#[derive(Debug)]
pub struct AnswerStream {
    parser: SseParser,
    format: Option<StreamFormat>,
    state: StreamState,
    /// Events not yet released, oldest first, with their pieces.
    held: Vec<(Event, Vec<HeldPiece>)>,
    held_bytes: usize,
    channels: BTreeMap<String, Channel>,
    reach: usize,
    /// Rules whose monitored match was recorded already (once per stream).
    recorded: Vec<String>,
    /// The stream was cut: nothing more goes out.
    cut: bool,
    /// The request's masked values to put back (`restore`), and their placeholders' automaton.
    restore: Vec<MaskedValue>,
    placeholders: Option<aho_corasick::AhoCorasick>,
    /// What the answer's own mask rules matched, per channel: absolute spans and their
    /// placeholders, numbered across the stream.
    masked: BTreeMap<String, Vec<(std::ops::Range<usize>, String)>>,
    numbering: crate::mask::Numbering,
}

/// A piece of a held event: where its text is in its channel (absolute byte offsets of a delta;
/// a whole text is not in a channel), and its token, for rewriting it.
#[derive(Debug)]
struct HeldPiece {
    channel: String,
    kind: PieceKind,
    span: std::ops::Range<usize>,
    text: String,
    at: super::formats::PieceRef,
    /// A whole text with the answer's mask rules applied.
    masked: Option<String>,
}

impl AnswerStream {
    /// Puts the request's masked values back into the stream (`restore`): a placeholder split
    /// across events is restored exactly, since events are held until a placeholder that starts
    /// in them has ended; only these placeholders, exactly as written.
    pub fn restoring(mut self, values: &[MaskedValue]) -> AnswerStream {
        self.restore = values.iter().filter(|v| v.restore).cloned().collect();
        let placeholders: Vec<&str> = self
            .restore
            .iter()
            .map(|v| v.placeholder.as_str())
            .collect();
        self.placeholders = aho_corasick::AhoCorasick::builder()
            .match_kind(aho_corasick::MatchKind::LeftmostLongest)
            .build(&placeholders)
            .ok()
            .filter(|_| !placeholders.is_empty());
        let longest = placeholders
            .iter()
            .map(|p| p.chars().count())
            .max()
            .unwrap_or(0);
        self.reach = self.reach.max(longest);
        self
    }
}

/// One channel's text: the window kept, and where it starts in the channel's whole text.
#[derive(Debug, Default)]
struct Channel {
    text: String,
    base: usize,
}

/// What a step of the stream gives the client.
#[derive(Debug, Default)]
pub struct StreamStep {
    /// The bytes to send now: released events, byte for byte, then (when cut) the terminal
    /// events.
    pub release: Vec<u8>,
    /// Why the stream was cut, when it was.
    pub denial: Option<Denial>,
    /// Monitored rules that matched in it, each once per stream.
    pub monitored: Vec<Finding>,
    /// Bytes of events still held back after this step.
    pub held: usize,
}

impl Ruleset {
    /// A guard for one streamed answer to a request the selection selected.
    pub fn answer_stream(&self, selection: &Selection) -> AnswerStream {
        AnswerStream {
            parser: SseParser::default(),
            format: None,
            state: StreamState::new(None),
            held: Vec::new(),
            held_bytes: 0,
            channels: BTreeMap::new(),
            reach: self.response_reach(selection),
            recorded: Vec::new(),
            cut: false,
            restore: Vec::new(),
            placeholders: None,
            masked: BTreeMap::new(),
            numbering: crate::mask::Numbering::default(),
        }
    }

    /// The next bytes of the stream, as the upstream sent them.
    pub fn stream_push(
        &self,
        selection: &Selection,
        stream: &mut AnswerStream,
        bytes: &[u8],
        request_id: Option<&str>,
    ) -> StreamStep {
        if stream.cut {
            return StreamStep::default();
        }
        let events = stream.parser.push(bytes);
        self.stream_events(selection, stream, events, false, request_id)
    }

    /// The end of the stream: whatever is held goes out (no more text can follow it).
    pub fn stream_finish(
        &self,
        selection: &Selection,
        stream: &mut AnswerStream,
        request_id: Option<&str>,
    ) -> StreamStep {
        if stream.cut {
            return StreamStep::default();
        }
        let last = stream.parser.finish().map(|e| e.into_iter().collect());
        self.stream_events(selection, stream, last, true, request_id)
    }

    fn stream_events(
        &self,
        selection: &Selection,
        stream: &mut AnswerStream,
        events: Result<Vec<Event>, SseError>,
        end: bool,
        request_id: Option<&str>,
    ) -> StreamStep {
        let mut step = StreamStep::default();
        let name = self.selection_name(selection);
        // A stream guard's refusals are the upstream's fault: 502, with the code that says why.
        let refuse = |code: Code, reason: &str| Denial::refusal(&name, 502, code.as_str(), reason);
        let events = match events {
            Ok(events) => events,
            Err(SseError::EventTooLarge { .. }) => {
                let denial = refuse(
                    Code::AnswerTooLarge,
                    "an event of the answer is over guard's size limit",
                );
                return cut(stream, step, denial, request_id);
            }
            Err(_) => {
                let denial = refuse(
                    Code::MalformedAnswer,
                    "the answer's stream could not be read",
                );
                return cut(stream, step, denial, request_id);
            }
        };
        for event in events {
            if stream.format.is_none() {
                stream.format = formats::detect(&event);
            }
            let format = stream.format.unwrap_or(StreamFormat::Unknown);
            let pieces = match formats::texts(format, &event) {
                Ok(pieces) => pieces,
                Err(_) => {
                    let denial = refuse(
                        Code::MalformedAnswer,
                        "an event of the answer could not be read",
                    );
                    return cut(stream, step, denial, request_id);
                }
            };
            let mut touched: Vec<String> = Vec::new();
            let mut wholes: Vec<String> = Vec::new();
            let mut held = Vec::new();
            for Piece {
                channel,
                kind,
                text,
                at,
            } in pieces
            {
                let span = match kind {
                    PieceKind::Whole => {
                        wholes.push(text.clone());
                        0..0
                    }
                    PieceKind::Delta => {
                        let entry = stream.channels.entry(channel.clone()).or_default();
                        let start = entry.base + entry.text.len();
                        entry.text.push_str(&text);
                        if !touched.contains(&channel) {
                            touched.push(channel.clone());
                        }
                        start..start + text.len()
                    }
                };
                held.push(HeldPiece {
                    channel,
                    kind,
                    span,
                    text,
                    at,
                    masked: None,
                });
            }
            // The texts this event changed or brought whole, each searched as one text.
            let texts: Vec<String> = touched
                .iter()
                .filter_map(|c| stream.channels.get(c).map(|ch| ch.text.clone()))
                .chain(wholes)
                .collect();
            match self.search(selection, stream, &texts, &mut step) {
                Some(Found::Deny(denial)) => return cut(stream, step, denial, request_id),
                Some(Found::Masks) => self.mask_texts(selection, stream, &touched, &mut held),
                None => {}
            }
            stream.held_bytes += event.raw.len();
            stream.held.push((event, held));
            if stream.held_bytes > MAX_HELD_BYTES {
                let denial = refuse(
                    Code::AnswerTooLarge,
                    "the answer holds more text than guard can search at once",
                );
                return cut(stream, step, denial, request_id);
            }
            release(stream, &mut step, false);
        }
        if end {
            release(stream, &mut step, true);
        }
        step.held = stream.held_bytes;
        step
    }

    /// Searches texts with the `on response` rules: the denial of an enforced deny, or that an
    /// enforced mask matched; monitored matches into the step.
    fn search(
        &self,
        selection: &Selection,
        stream: &mut AnswerStream,
        texts: &[String],
        step: &mut StreamStep,
    ) -> Option<Found> {
        if texts.is_empty() {
            return None;
        }
        let segments: Vec<Segment> = texts
            .iter()
            .map(|text| Segment {
                path: "answer".into(),
                text: text.clone(),
                origin: Origin::Prompt,
            })
            .collect();
        let decided = self.decide_answer(selection, &segments);
        for finding in decided.monitored {
            if !stream.recorded.contains(&finding.rule) {
                stream.recorded.push(finding.rule.clone());
                step.monitored.push(finding);
            }
        }
        match decided.decision {
            Decision::Deny(denial) => Some(Found::Deny(denial)),
            _ if decided.masks => Some(Found::Masks),
            _ => None,
        }
    }

    /// Records what the answer's mask rules match in the changed channels (each match once,
    /// numbered across the stream) and masks the event's whole texts.
    fn mask_texts(
        &self,
        selection: &Selection,
        stream: &mut AnswerStream,
        touched: &[String],
        pieces: &mut [HeldPiece],
    ) {
        let scope = self.mask_scope(selection, Side::Response);
        for name in touched {
            let Some(channel) = stream.channels.get(name) else {
                continue;
            };
            let found = crate::mask::cuts(&scope, &[channel.text.as_str()]);
            let spans = stream.masked.entry(name.clone()).or_default();
            for cut in found.iter().flatten() {
                let span = channel.base + cut.span.start..channel.base + cut.span.end;
                if spans
                    .iter()
                    .any(|(s, _)| s.start < span.end && span.start < s.end)
                {
                    continue;
                }
                let value = channel.text.get(cut.span.clone()).unwrap_or_default();
                let placeholder = stream.numbering.placeholder(scope.program, cut, value, "");
                spans.push((span, placeholder));
            }
            spans.sort_unstable_by_key(|(s, _)| s.start);
        }
        for piece in pieces.iter_mut().filter(|p| p.kind == PieceKind::Whole) {
            let found = crate::mask::cuts(&scope, &[piece.text.as_str()]);
            let mut out = String::new();
            let mut at = 0;
            for cut in found.iter().flatten() {
                out.push_str(piece.text.get(at..cut.span.start).unwrap_or_default());
                let value = piece.text.get(cut.span.clone()).unwrap_or_default();
                out.push_str(&stream.numbering.placeholder(scope.program, cut, value, ""));
                at = cut.span.end;
            }
            if at > 0 {
                out.push_str(piece.text.get(at..).unwrap_or_default());
                piece.masked = Some(out);
            }
        }
    }
}

/// What a search of the answer found.
#[allow(
    clippy::large_enum_variant,
    reason = "made and matched at once, per event; boxing the denial would buy nothing"
)]
enum Found {
    Deny(Denial),
    /// An enforced mask rule matched.
    Masks,
}

/// Releases the held events, in order, while no match can still start in them (all of them at
/// the end of the stream), with the request's placeholders restored, and trims the windows to
/// what later matches (and held events) can still need.
fn release(stream: &mut AnswerStream, step: &mut StreamStep, all: bool) {
    let safe: BTreeMap<String, usize> = stream
        .channels
        .iter()
        .map(|(name, channel)| (name.clone(), safe_point(channel, stream.reach)))
        .collect();
    let mut releasable = stream
        .held
        .iter()
        .take_while(|(_, pieces)| {
            all || pieces
                .iter()
                .filter(|p| p.kind == PieceKind::Delta)
                .all(|p| safe.get(&p.channel).is_some_and(|safe| p.span.end <= *safe))
        })
        .count();
    // What each channel's text becomes: the answer's masks, and the request's placeholders
    // restored where no mask is.
    let found = replacements(stream);
    // A placeholder that starts in what would go out and ends in what stays is held whole.
    while releasable > 0 && straddles(stream, &found, releasable) {
        releasable -= 1;
    }
    for (event, pieces) in stream.held.drain(..releasable) {
        let bytes = restored(&event, &pieces, &stream.channels, &found, &stream.restore);
        stream.state.observe(&event);
        stream.held_bytes = stream.held_bytes.saturating_sub(event.raw.len());
        step.release.extend_from_slice(&bytes);
    }
    for (name, channel) in &mut stream.channels {
        let Some(&safe) = safe.get(name) else {
            continue;
        };
        // Never past the text of an event still held.
        let first_held = stream
            .held
            .iter()
            .flat_map(|(_, pieces)| pieces)
            .filter(|p| p.kind == PieceKind::Delta && &p.channel == name)
            .map(|p| p.span.start)
            .min()
            .unwrap_or(usize::MAX);
        trim(channel, safe.min(first_held));
    }
}

/// Per channel, what spans of its window become: the answer's masks (to placeholders), then the
/// request's placeholders (to values, leftmost-longest) where no mask is.
fn replacements(stream: &AnswerStream) -> BTreeMap<String, Vec<(std::ops::Range<usize>, String)>> {
    stream
        .channels
        .iter()
        .map(|(name, channel)| {
            let mut spans: Vec<(std::ops::Range<usize>, String)> =
                stream.masked.get(name).cloned().unwrap_or_default();
            if let Some(automaton) = &stream.placeholders {
                for m in automaton.find_iter(&channel.text) {
                    let span = channel.base + m.start()..channel.base + m.end();
                    let masked = spans
                        .iter()
                        .any(|(s, _)| s.start < span.end && span.start < s.end);
                    let value = stream.restore.get(m.pattern().as_usize());
                    if let (false, Some(value)) = (masked, value) {
                        spans.push((span, value.value.clone()));
                    }
                }
            }
            spans.sort_unstable_by_key(|(s, _)| s.start);
            (name.clone(), spans)
        })
        .collect()
}

/// Whether a placeholder begins in the first `count` held events and ends after them.
fn straddles(
    stream: &AnswerStream,
    found: &BTreeMap<String, Vec<(std::ops::Range<usize>, String)>>,
    count: usize,
) -> bool {
    let mut boundary: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, pieces) in stream.held.iter().take(count) {
        for p in pieces.iter().filter(|p| p.kind == PieceKind::Delta) {
            let end = boundary.entry(p.channel.as_str()).or_insert(0);
            *end = (*end).max(p.span.end);
        }
    }
    boundary.iter().any(|(channel, &end)| {
        found.get(*channel).is_some_and(|spans| {
            spans
                .iter()
                .any(|(span, _)| span.start < end && end < span.end)
        })
    })
}

/// The event as it goes out: byte for byte when it holds no placeholder, else with each
/// placeholder's text replaced by its value (in the piece where the placeholder starts; the
/// pieces it continues into lose their part of it).
fn restored(
    event: &Event,
    pieces: &[HeldPiece],
    channels: &BTreeMap<String, Channel>,
    found: &BTreeMap<String, Vec<(std::ops::Range<usize>, String)>>,
    values: &[MaskedValue],
) -> Vec<u8> {
    let mut replacements = Vec::new();
    for piece in pieces {
        let text = match piece.kind {
            PieceKind::Whole => {
                let text = piece.masked.as_deref().unwrap_or(&piece.text);
                let restored = crate::mask::restore(text.as_bytes(), values, false);
                String::from_utf8(restored).unwrap_or_else(|_| text.to_string())
            }
            PieceKind::Delta => {
                let (Some(channel), Some(spans)) =
                    (channels.get(&piece.channel), found.get(&piece.channel))
                else {
                    continue;
                };
                if spans.is_empty() {
                    continue;
                }
                delta_restored(piece, channel, spans)
            }
        };
        if text != piece.text {
            replacements.push((piece.at.clone(), text));
        }
    }
    if replacements.is_empty() {
        return event.raw.clone();
    }
    super::formats::rewrite(event, &replacements).unwrap_or_else(|_| event.raw.clone())
}

/// A delta piece's text with the spans that touch it replaced: the replacement goes where the
/// span starts, the pieces it continues into lose their part of it.
fn delta_restored(
    piece: &HeldPiece,
    channel: &Channel,
    spans: &[(std::ops::Range<usize>, String)],
) -> String {
    let mut out = String::new();
    let mut at = piece.span.start;
    for (span, value) in spans {
        if span.end <= piece.span.start || span.start >= piece.span.end {
            continue;
        }
        let keep_to = span.start.max(at);
        out.push_str(local(channel, at..keep_to).unwrap_or_default());
        if span.start >= piece.span.start {
            out.push_str(value);
        }
        at = span.end.min(piece.span.end);
    }
    out.push_str(local(channel, at..piece.span.end).unwrap_or_default());
    out
}

/// A span of the channel's whole text, from its window.
fn local(channel: &Channel, span: std::ops::Range<usize>) -> Option<&str> {
    let start = span.start.checked_sub(channel.base)?;
    let end = span.end.checked_sub(channel.base)?;
    channel.text.get(start..end)
}

/// The absolute offset in the channel's text before which no match that is still to end can
/// start: `reach - 1` units back from its end (see the module docs).
fn safe_point(channel: &Channel, reach: usize) -> usize {
    let need = reach.saturating_sub(1);
    let mut units = 0;
    let mut in_space = false;
    let mut at = channel.text.len();
    for (i, c) in channel.text.char_indices().rev() {
        if units >= need {
            break;
        }
        if crate::normalize::is_deleted(c) {
            // Removed by the normaliser: no unit.
        } else if c.is_whitespace() {
            if !in_space {
                units += 1;
            }
            in_space = true;
        } else {
            units += 1;
            in_space = false;
        }
        at = i;
    }
    if units < need {
        // Not even `reach - 1` units yet: all of it could still start a match.
        at = 0;
    }
    channel.base + at
}

/// Drops the window's text before the release point, keeping some context.
fn trim(channel: &mut Channel, safe: usize) {
    let local = safe.saturating_sub(channel.base).min(channel.text.len());
    let keep_from = channel
        .text
        .get(..local)
        .map(|before| {
            before
                .char_indices()
                .rev()
                .nth(CONTEXT_CHARS)
                .map_or(0, |(i, _)| i)
        })
        .unwrap_or(0);
    if keep_from > 0 {
        channel.text.drain(..keep_from);
        channel.base += keep_from;
    }
}

/// Ends the stream: what was held is dropped, and the stream's terminal events carry the denial.
fn cut(
    stream: &mut AnswerStream,
    mut step: StreamStep,
    denial: Denial,
    request_id: Option<&str>,
) -> StreamStep {
    stream.cut = true;
    stream.held.clear();
    stream.held_bytes = 0;
    stream.state.format = stream.state.format.or(stream.format);
    let message = denial.reason.clone();
    step.release.extend_from_slice(&terminal::terminal(
        &stream.state,
        &StreamDenial {
            code: denial.code,
            message: &message,
            request_id,
        },
    ));
    step.denial = Some(denial);
    step.held = 0;
    step
}
