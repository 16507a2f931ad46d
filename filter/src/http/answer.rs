//! The upstream's answer: read only for a request whose policies scan answers (`on response`)
//! or whose masked values are to be restored, so every other answer passes with no work.
//!
//! A whole answer (anything but `text/event-stream`) is moved out of Envoy's buffer as it
//! arrives, as a request body is, and handed to the request at its end (see
//! `Request::on_answer_complete`), which writes back what the client gets: the answer, masked or
//! restored, or guard's error in its place. Its `Content-Length` goes in the headers phase,
//! since what is written back differs in length. When the deployment holds heads (the Envoy flag
//! `allow_on_headers_stop_iteration`), an answer that rules scan has its head held too, so a
//! deny can still change the status; without it the head has left and a deny can only replace
//! the body.
//!
//! A stream (`text/event-stream`) that rules scan or values are restored in keeps its head and
//! goes through the engine's stream guard chunk by chunk: what the guard releases (whole events, byte for byte) is written back
//! at once, what it holds stays with it, and a deny ends the stream in its own format.
//!
//! What is not read, by choice and stated: an answer to a request with values to restore but no
//! answer rules, when it is compressed or past guard's body limit: it passes as the upstream sent it, placeholders and
//! all, which lets nothing masked out. An answer that rules must scan is never passed unread:
//! past the limit, compressed beyond what the engine decodes, or not readable, it is replaced by
//! guard's error (the engine's `inspect_answer`).

use guard_engine::{Code, Decision, Denial, ReplyContext, DEFAULT_MAX_BODY_BYTES};
use proxy_wasm::types::{Action, BufferType, LogLevel};

use super::{held_head, log_denial};
use crate::host::Host;

#[derive(Debug, PartialEq, Eq)]
enum State {
    /// Before the response headers.
    Waiting,
    /// A whole answer, moved into `body` chunk by chunk.
    Buffering,
    /// A stream the rules scan: each chunk goes through the stream guard.
    Streaming,
    /// Passed as the upstream sent it (or, after the end, as it was written back).
    Passing,
    /// Replaced by guard's error: whatever else the upstream sends is dropped.
    Dropping,
}

/// What a body callback of the answer leaves to the request.
#[derive(Debug)]
pub(crate) enum Progress {
    /// Keep the answer paused: more is coming.
    Wait,
    /// Let it go on as it is.
    Pass,
    /// The whole answer, taken out of Envoy's buffer: the request decides what is written back.
    Complete(Vec<u8>),
    /// An answer rules must scan could not be read: the request writes guard's error.
    Unreadable,
    /// The next bytes of a scanned stream, taken out of Envoy's buffer, and whether it ends:
    /// the request runs them through the stream guard and writes back what it releases.
    Streamed(Vec<u8>, bool),
}

#[derive(Debug)]
pub(crate) struct Answer {
    /// Rules scan this answer (else it is read only to restore values).
    pub(crate) scanned: bool,
    /// The head is held until the answer is decided.
    pub(crate) head_held: bool,
    pub(crate) content_type: Option<String>,
    pub(crate) content_encoding: Option<String>,
    /// The upstream's `:status`.
    pub(crate) status: Option<u16>,
    /// The stream guard of a scanned stream.
    pub(crate) stream: Option<guard_engine::AnswerStream>,
    state: State,
    body: Vec<u8>,
}

impl Answer {
    pub(crate) fn new(scanned: bool) -> Answer {
        Answer {
            scanned,
            head_held: false,
            content_type: None,
            content_encoding: None,
            status: None,
            stream: None,
            state: State::Waiting,
            body: Vec::new(),
        }
    }

    /// The headers phase of the answer: `Pause` to hold its head.
    pub(crate) fn on_headers<H: Host>(
        &mut self,
        host: &H,
        end_of_stream: bool,
        can_hold: bool,
        label: &str,
    ) -> Action {
        let headers = host.response_headers();
        self.status = headers.get(":status").and_then(|s| s.trim().parse().ok());
        self.content_type = headers.get("content-type").map(str::to_string);
        self.content_encoding = headers.get("content-encoding").map(str::to_string);
        if end_of_stream {
            // No body: nothing to scan or restore.
            self.state = State::Passing;
            return Action::Continue;
        }
        let content_type = self.content_type.as_deref().unwrap_or_default();
        let stream = content_type
            .trim()
            .to_ascii_lowercase()
            .starts_with("text/event-stream");
        let encoded = self
            .content_encoding
            .as_deref()
            .is_some_and(|e| !e.trim().eq_ignore_ascii_case("identity"));
        if !self.scanned && encoded {
            host.log(
                LogLevel::Info,
                &format!(
                    "guard: placeholders not restored: the answer is compressed request_id={label}"
                ),
            );
            self.state = State::Passing;
            return Action::Continue;
        }
        host.remove_response_header("content-length");
        if stream && !encoded {
            // Scanned (and restored) as it streams: its head goes on, a deny ends it with the
            // stream's own terminal events.
            self.state = State::Streaming;
            return Action::Continue;
        }
        self.state = State::Buffering;
        if self.scanned && can_hold {
            self.head_held = true;
            return Action::Pause;
        }
        Action::Continue
    }

    /// After a stream was cut: what else the upstream sends is dropped.
    pub(crate) fn drop_rest(&mut self) {
        self.state = State::Dropping;
    }

    pub(crate) fn on_body<H: Host>(
        &mut self,
        host: &H,
        size: usize,
        end_of_stream: bool,
        label: &str,
    ) -> Progress {
        match self.state {
            State::Buffering => {}
            State::Streaming => {
                let chunk = match host.read_buffer(BufferType::HttpResponseBody, size) {
                    Ok(chunk) if size > 0 => chunk,
                    Ok(_) => Vec::new(),
                    Err(_) => return self.unread(host, "the stream could not be read", label),
                };
                if size > 0 && host.replace_response_body(size, &[]).is_err() {
                    return self.unread(host, "the stream could not be held", label);
                }
                return Progress::Streamed(chunk, end_of_stream);
            }
            State::Dropping => {
                let _ = host.replace_response_body(size, &[]);
                return Progress::Pass;
            }
            State::Waiting | State::Passing => return Progress::Pass,
        }
        if size > 0 {
            let Ok(chunk) = host.read_buffer(BufferType::HttpResponseBody, size) else {
                return self.unread(host, "the answer could not be read", label);
            };
            if host.replace_response_body(size, &[]).is_err() {
                return self.unread(host, "the answer could not be held", label);
            }
            // One byte past the limit at most: enough for the engine to refuse it as too large.
            let room = (DEFAULT_MAX_BODY_BYTES + 1).saturating_sub(self.body.len());
            self.body
                .extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or_default());
        }
        if self.body.len() > DEFAULT_MAX_BODY_BYTES && !self.scanned {
            return self.unread(host, "the answer is over the body limit", label);
        }
        if !end_of_stream && self.body.len() <= DEFAULT_MAX_BODY_BYTES {
            return Progress::Wait;
        }
        // Past the limit before the end, the engine refuses it; the rest is dropped.
        self.state = if end_of_stream {
            State::Passing
        } else {
            State::Dropping
        };
        Progress::Complete(std::mem::take(&mut self.body))
    }

    /// Trailers end the answer: what is held is complete (an answer whose body callbacks never
    /// said the end would otherwise wait for ever).
    pub(crate) fn on_trailers(&mut self) -> Progress {
        match self.state {
            State::Buffering => {
                self.state = State::Passing;
                Progress::Complete(std::mem::take(&mut self.body))
            }
            State::Streaming => {
                self.state = State::Passing;
                Progress::Streamed(Vec::new(), true)
            }
            State::Waiting | State::Passing | State::Dropping => Progress::Pass,
        }
    }

    /// An answer read only to restore values, that cannot be: what was held goes back as it
    /// came, and the rest passes.
    fn unread<H: Host>(&mut self, host: &H, why: &str, label: &str) -> Progress {
        if self.scanned {
            // Never passed unscanned: the request writes guard's error instead.
            self.state = State::Dropping;
            self.body = Vec::new();
            host.log(
                LogLevel::Warn,
                &format!("guard: the answer could not be scanned: {why} request_id={label}"),
            );
            let _ = host.replace_response_body(usize::MAX, &[]);
            return Progress::Unreadable;
        }
        host.log(
            LogLevel::Warn,
            &format!("guard: placeholders not restored: {why} request_id={label}"),
        );
        let held = std::mem::take(&mut self.body);
        self.state = State::Passing;
        let _ = host.replace_response_body(0, &held);
        Progress::Pass
    }
}

/// The request's side of its answer: what the engine decides about it, written back, counted and
/// audited.
impl<H: Host> super::Request<H> {
    pub(super) fn on_answer_headers(&mut self, end_of_stream: bool) -> Action {
        let label = self.request_label();
        let can_hold = held_head(&self.active);
        match &mut self.answer {
            Some(answer) => answer.on_headers(&self.host, end_of_stream, can_hold, &label),
            None => Action::Continue,
        }
    }

    pub(super) fn on_answer_trailers(&mut self) -> Action {
        let Some(answer) = &mut self.answer else {
            return Action::Continue;
        };
        let progress = answer.on_trailers();
        self.on_answer_progress(progress)
    }

    pub(super) fn on_answer_body(&mut self, size: usize, end_of_stream: bool) -> Action {
        let label = self.request_label();
        let Some(answer) = &mut self.answer else {
            return Action::Continue;
        };
        let progress = answer.on_body(&self.host, size, end_of_stream, &label);
        self.on_answer_progress(progress)
    }

    fn on_answer_progress(&mut self, progress: Progress) -> Action {
        match progress {
            Progress::Wait => Action::Pause,
            Progress::Pass => Action::Continue,
            Progress::Unreadable => {
                let name = self.selected_policies().unwrap_or_default();
                self.replace_answer(&Denial::refusal(
                    &name,
                    502,
                    Code::MalformedAnswer.as_str(),
                    "the answer could not be read",
                ));
                Action::Continue
            }
            Progress::Complete(body) => {
                self.on_answer_complete(body);
                Action::Continue
            }
            Progress::Streamed(chunk, end) => {
                self.on_stream_chunk(&chunk, end);
                Action::Continue
            }
        }
    }

    /// A scanned stream's next bytes through the engine's stream guard: what it releases goes
    /// out now; a cut is counted and audited as a deny is.
    fn on_stream_chunk(&mut self, chunk: &[u8], end: bool) {
        let (Some(active), Some(selection)) = (self.active.clone(), self.selection.clone()) else {
            return;
        };
        let request_id = self.request_id.clone();
        let restore = &self.restore;
        let Some(answer) = self.answer.as_mut() else {
            return;
        };
        let stream = answer
            .stream
            .get_or_insert_with(|| active.ruleset.answer_stream(&selection).restoring(restore));
        let mut step = active
            .ruleset
            .stream_push(&selection, stream, chunk, request_id.as_deref());
        if end && step.denial.is_none() {
            let last = active
                .ruleset
                .stream_finish(&selection, stream, request_id.as_deref());
            step.release.extend_from_slice(&last.release);
            step.monitored.extend(last.monitored);
            step.denial = last.denial;
        }
        if step.denial.is_some() {
            answer.drop_rest();
        }
        if !step.release.is_empty() && self.host.replace_response_body(0, &step.release).is_err() {
            self.host.log(
                LogLevel::Error,
                &format!(
                    "guard: released stream events could not be written request_id={}",
                    self.request_label()
                ),
            );
        }
        self.record_monitored(&step.monitored);
        if let Some(denial) = &step.denial {
            self.record_answer_denial(denial);
        }
    }

    /// An answer the client does not get: counted, logged and audited as a request's denial
    /// is, and the `guard` property extended with the answer's verdict.
    fn record_answer_denial(&mut self, denial: &Denial) {
        self.count_denial(denial);
        log_denial(&self.host, denial, &self.request_label());
        let verdict = match &denial.rule {
            Some(rule) => format!(
                " answer=deny answer_rule={rule} answer_code={}",
                denial.code
            ),
            None => format!(" answer=refuse answer_code={}", denial.code),
        };
        let property = format!("{}{verdict}", self.property);
        self.host.set_guard_property(&property);
    }

    /// The whole answer: scanned by the `on response` rules, masked, its values restored, or
    /// replaced by guard's error; written back into Envoy's (empty) buffer.
    fn on_answer_complete(&mut self, body: Vec<u8>) {
        let (Some(active), Some(selection), Some(answer)) = (
            self.active.clone(),
            self.selection.clone(),
            self.answer.as_ref(),
        ) else {
            return;
        };
        let (scanned, content_type, content_encoding) = (
            answer.scanned,
            answer.content_type.clone(),
            answer.content_encoding.clone(),
        );
        let outcome = active.ruleset.answer(
            &selection,
            content_type.as_deref(),
            content_encoding.as_deref(),
            body,
            &self.restore,
            scanned,
        );
        self.record_monitored(&outcome.monitored);
        if let Decision::Deny(denial) = &outcome.decision {
            self.replace_answer(denial);
            return;
        }
        if let Some(masked) = &outcome.masked {
            self.record_masked(&active, masked);
        }
        let out = outcome.body;
        if self.host.replace_response_body(0, &out).is_err() {
            self.host.log(
                LogLevel::Error,
                &format!(
                    "guard: the answer could not be written back request_id={}",
                    self.request_label()
                ),
            );
        }
    }

    /// The answer is not for the client: guard's error takes its place (its status too, when
    /// the head was held), counted and audited as a request's denial is.
    fn replace_answer(&mut self, denial: &Denial) {
        let held = self.answer.as_ref().is_some_and(|a| a.head_held);
        self.record_answer_denial(denial);
        let context = ReplyContext {
            request_id: self.request_id.as_deref(),
            bundle: self.bundle(),
        };
        let body = denial.body_in(self.shape, &context);
        if held {
            self.host
                .set_response_header(":status", &denial.status.to_string());
            self.host
                .set_response_header("content-type", "application/json");
            self.host.set_response_header("x-guard-code", denial.code);
            // As on a local reply: the id the error body names, for the client to quote.
            if let Some(id) = &self.request_id {
                self.host.set_response_header("x-request-id", id);
            }
        } else {
            self.host.log(
                LogLevel::Warn,
                &format!(
                    "guard: answer replaced after its head was sent (status kept) request_id={}",
                    self.request_label()
                ),
            );
        }
        if self.host.replace_response_body(0, &body).is_err() {
            self.host.log(
                LogLevel::Error,
                &format!(
                    "guard: the answer's replacement could not be written request_id={}",
                    self.request_label()
                ),
            );
        }
    }
}
