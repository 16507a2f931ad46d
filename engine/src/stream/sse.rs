//! Incremental Server-Sent Events framing, as the WHATWG HTML standard's "event stream
//! interpretation" reads a `text/event-stream` body, with every event's bytes kept exactly as
//! they arrived.
//!
//! A streamed answer is scanned event by event, and an event is either released to the client
//! unchanged or withheld, so the parser never re-encodes anything: an [`Event`] is its raw bytes
//! (`raw`, from the first byte after the previous event to the end of the blank line that ends
//! it) plus the fields read from them. Every byte pushed belongs to exactly one event's `raw`, in
//! order: concatenating the events' `raw` gives the stream back, byte for byte, including a
//! leading byte-order mark, comment lines and blank lines. Where a chunk ends does not matter:
//! the same bytes pushed in any chunks give the same events.
//!
//! Reading, per the standard: lines end with CRLF, LF or CR; a UTF-8 byte-order mark at the very
//! start of the stream is skipped; a line starting with `:` is a comment; `name:value` is a field
//! (one space after the colon is dropped), a line without a colon is a field with an empty value;
//! `data` lines are joined with `\n`; `event`, `id` (ignored when it holds NUL) and `retry` (only
//! ASCII digits) are kept; other fields are ignored; a blank line ends the event. Unlike the
//! standard's dispatch, a blank line always ends an [`Event`] here, even one without `data` (a
//! keep-alive comment, a stray blank line): it is still bytes to release, and [`Event::comment`]
//! says it carries no field. `id` is the event's own `id` field, not the standard's "last event
//! ID" carried from event to event.
//!
//! A blank line ending with CR at the end of a chunk is only complete when the next byte (or the
//! end of the stream) shows whether an LF follows, so that event waits for it.
//!
//! At the end of the stream, bytes after the last blank line are an event without its blank
//! line: browsers and the OpenAI and Anthropic Python SDKs drop it, but a client could read it,
//! so [`SseParser::finish`] returns it, marked [`Event::incomplete`], for the caller to scan like
//! any other event.
//!
//! Bounds: an event longer than the parser's limit is [`SseError::EventTooLarge`], and bytes that
//! are not UTF-8 are [`SseError::NotUtf8`]; either ends the stream (the parser keeps returning
//! the error).

use thiserror::Error;

/// The default bound on one event's raw bytes.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 1 << 20;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Why a stream cannot be framed. Offsets count bytes from the start of the stream.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SseError {
    /// One event (its raw bytes, or the unfinished event so far) is longer than the limit.
    #[error("an event of the stream starting at byte {start} is longer than {limit} bytes")]
    EventTooLarge {
        /// Where the event starts.
        start: u64,
        /// The parser's limit.
        limit: usize,
    },
    /// A line of the stream is not UTF-8.
    #[error("the line of the stream starting at byte {line_start} is not UTF-8")]
    NotUtf8 {
        /// Where the line starts.
        line_start: u64,
    },
}

/// One event of the stream: its bytes as received and its fields.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Event {
    /// The event's bytes exactly as received, its ending blank line included.
    pub raw: Vec<u8>,
    /// The `event` field's value (the last one); `None` when absent or empty.
    pub event: Option<String>,
    /// The `data` lines' values, joined with `\n`.
    pub data: String,
    /// How many `data` lines the event has (`data` is empty both with none and with one empty).
    pub data_lines: usize,
    /// The event's own `id` field (the last one without NUL).
    pub id: Option<String>,
    /// The `retry` field, when it is only ASCII digits (and fits).
    pub retry: Option<u64>,
    /// The event has no field line: only comments (keep-alives) or nothing before its blank line.
    pub comment: bool,
    /// The event ended with the stream, without its blank line ([`SseParser::finish`]).
    pub incomplete: bool,
    /// Where each data line's value starts: (offset in `data`, offset in `raw`).
    pub(crate) data_map: Vec<(usize, usize)>,
}

impl Event {
    /// The offset in `raw` of the byte at offset `at` of `data`, when it is a byte of a data
    /// line's value (not one of the `\n` joining them).
    pub(crate) fn raw_offset(&self, at: usize) -> Option<usize> {
        let line = self.data_map.iter().rev().find(|(start, _)| *start <= at)?;
        Some(line.1 + (at - line.0))
    }
}

/// The framing state of one stream. Push its bytes as they arrive, then call
/// [`finish`](Self::finish) once at its end.
#[derive(Debug, Clone)]
pub struct SseParser {
    limit: usize,
    /// The unfinished event's bytes (everything after the last event returned).
    pending: Vec<u8>,
    /// Bytes of the stream already returned in events, for error offsets.
    consumed: u64,
    /// Where the current line starts in `pending`.
    line_start: usize,
    /// How far `pending` has been searched for a line end.
    scan: usize,
    /// The last line ended with CR at the end of the bytes so far: skip an LF that follows.
    skip_lf: bool,
    /// That line was blank: the event ends after the optional LF.
    end_after_lf: bool,
    /// Whether the stream's start has been checked for a byte-order mark.
    bom_checked: bool,
    fields: Fields,
    failed: Option<SseError>,
}

/// The fields read so far of the unfinished event.
#[derive(Debug, Clone, Default)]
struct Fields {
    event: Option<String>,
    data: String,
    data_lines: usize,
    id: Option<String>,
    retry: Option<u64>,
    any_field: bool,
    data_map: Vec<(usize, usize)>,
}

impl Default for SseParser {
    fn default() -> Self {
        SseParser::new(DEFAULT_MAX_EVENT_BYTES)
    }
}

impl SseParser {
    /// A parser refusing events longer than `max_event_bytes`.
    pub fn new(max_event_bytes: usize) -> Self {
        SseParser {
            limit: max_event_bytes,
            pending: Vec::new(),
            consumed: 0,
            line_start: 0,
            scan: 0,
            skip_lf: false,
            end_after_lf: false,
            bom_checked: false,
            fields: Fields::default(),
            failed: None,
        }
    }

    /// Frames the next bytes of the stream: the events they complete, in order.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<Event>, SseError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        self.pending.extend_from_slice(bytes);
        let mut events = Vec::new();
        let result = self.frame(&mut events, false);
        self.settle(result).map(|()| events)
    }

    /// Ends the stream: the event left without its blank line, if any bytes are left.
    pub fn finish(&mut self) -> Result<Option<Event>, SseError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        let mut events = Vec::new();
        let result = self.frame(&mut events, true);
        self.settle(result)?;
        // With `at_end`, a pending CR is settled and the last line read, so at most one event
        // (a CR-ended blank line's) came out, and whatever is left has no blank line.
        if let Some(event) = events.pop() {
            return Ok(Some(event));
        }
        if self.pending.is_empty() {
            return Ok(None);
        }
        let raw = std::mem::take(&mut self.pending);
        let mut event = self.take_event(raw);
        event.incomplete = true;
        self.line_start = 0;
        self.scan = 0;
        Ok(Some(event))
    }

    /// Records a failure so that later calls repeat it.
    fn settle(&mut self, result: Result<(), SseError>) -> Result<(), SseError> {
        if let Err(error) = &result {
            self.failed = Some(error.clone());
            self.pending = Vec::new();
        }
        result
    }

    /// Reads the complete lines of `pending`, moving finished events into `events`. With
    /// `at_end`, the end of the bytes ends the last line too.
    fn frame(&mut self, events: &mut Vec<Event>, at_end: bool) -> Result<(), SseError> {
        let mut event_start = 0;
        if !self.bom_checked {
            let head = self
                .pending
                .get(..BOM.len().min(self.pending.len()))
                .unwrap_or(&[]);
            if head.len() < BOM.len() && BOM.starts_with(head) && !at_end {
                return Ok(());
            }
            self.bom_checked = true;
            if head == BOM {
                self.line_start = BOM.len();
                self.scan = BOM.len();
            }
        }
        loop {
            if self.skip_lf {
                match self.pending.get(self.scan) {
                    None if !at_end => break,
                    Some(b'\n') => self.scan += 1,
                    _ => {}
                }
                self.skip_lf = false;
                self.line_start = self.scan;
                if self.end_after_lf {
                    self.end_after_lf = false;
                    event_start = self.end_event(event_start, events)?;
                }
                continue;
            }
            let rest = self.pending.get(self.scan..).unwrap_or(&[]);
            let Some(found) = memchr::memchr2(b'\r', b'\n', rest) else {
                self.scan = self.pending.len();
                if at_end && self.line_start < self.pending.len() {
                    let end = self.pending.len();
                    self.read_line(event_start, self.line_start, end)?;
                    self.line_start = end;
                }
                break;
            };
            let at = self.scan + found;
            let blank = at == self.line_start;
            self.read_line(event_start, self.line_start, at)?;
            if self.pending.get(at) == Some(&b'\r') {
                self.scan = at + 1;
                self.skip_lf = true;
                self.end_after_lf = blank;
                continue;
            }
            self.scan = at + 1;
            self.line_start = self.scan;
            if blank {
                event_start = self.end_event(event_start, events)?;
            }
        }
        self.check_size(event_start, self.pending.len())?;
        if event_start > 0 {
            self.pending.drain(..event_start);
            self.consumed += event_start as u64;
            self.line_start -= event_start;
            self.scan -= event_start;
        }
        Ok(())
    }

    /// Ends the event whose bytes run from `start` to the current line start; returns where the
    /// next one starts.
    fn end_event(&mut self, start: usize, events: &mut Vec<Event>) -> Result<usize, SseError> {
        let end = self.line_start;
        self.check_size(start, end)?;
        let raw = self.pending.get(start..end).unwrap_or(&[]).to_vec();
        let event = self.take_event(raw);
        events.push(event);
        Ok(end)
    }

    fn check_size(&self, start: usize, end: usize) -> Result<(), SseError> {
        if end.saturating_sub(start) > self.limit {
            return Err(SseError::EventTooLarge {
                start: self.consumed + start as u64,
                limit: self.limit,
            });
        }
        Ok(())
    }

    /// The event made of `raw` and the fields read, which are reset.
    fn take_event(&mut self, raw: Vec<u8>) -> Event {
        let fields = std::mem::take(&mut self.fields);
        Event {
            raw,
            event: fields.event.filter(|name| !name.is_empty()),
            data: fields.data,
            data_lines: fields.data_lines,
            id: fields.id,
            retry: fields.retry,
            comment: !fields.any_field,
            incomplete: false,
            data_map: fields.data_map,
        }
    }

    /// Reads the line `pending[start..end]` of the event starting at `event_start`.
    fn read_line(&mut self, event_start: usize, start: usize, end: usize) -> Result<(), SseError> {
        self.check_size(event_start, end)?;
        let bytes = self.pending.get(start..end).unwrap_or(&[]);
        let line = std::str::from_utf8(bytes).map_err(|_| SseError::NotUtf8 {
            line_start: self.consumed + start as u64,
        })?;
        if line.is_empty() || line.starts_with(':') {
            return Ok(());
        }
        let (name, value, value_at) = match line.split_once(':') {
            Some((name, value)) => {
                let skip = usize::from(value.starts_with(' '));
                let value = value.get(skip..).unwrap_or("");
                (name, value, start + name.len() + 1 + skip)
            }
            None => (line, "", end),
        };
        let fields = &mut self.fields;
        fields.any_field = true;
        match name {
            "event" => fields.event = Some(value.to_string()),
            "data" => {
                if fields.data_lines > 0 {
                    fields.data.push('\n');
                }
                fields
                    .data_map
                    .push((fields.data.len(), value_at - event_start));
                fields.data.push_str(value);
                fields.data_lines += 1;
            }
            "id" if !value.contains('\0') => fields.id = Some(value.to_string()),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                if let Ok(retry) = value.parse() {
                    fields.retry = Some(retry);
                }
            }
            _ => {}
        }
        Ok(())
    }
}
