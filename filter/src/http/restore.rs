//! The answer's side of `restore`: the placeholders a mask rule put into a request become its
//! values again in the upstream's answer, for that request only.
//!
//! Only a request whose masked values include one of a `restore` rule gets this state, so every
//! other answer passes with no work. A whole answer (anything but `text/event-stream`) is moved
//! out of Envoy's buffer as it arrives, as the request body is, and written back restored at its
//! end; its `Content-Length` is removed in the headers phase, since the values and their
//! placeholders differ in length. What is not restored, and passes as the upstream sent it: an
//! answer with a `Content-Encoding` (guard does not rewrite compressed bodies), a streamed answer
//! (restoring across events is the stream scanner's work), and an answer past guard's body limit
//! (what was held goes out unrestored, then the rest). None of these lets a masked value out:
//! the values are the client's own, and what passes unrestored carries only placeholders.

use guard_engine::{MaskedValue, DEFAULT_MAX_BODY_BYTES};
use proxy_wasm::types::{Action, BufferType, LogLevel};

use crate::host::Host;

#[derive(Debug)]
enum State {
    /// Before the response headers.
    Waiting,
    /// A whole answer, moved into `body` chunk by chunk.
    Buffering,
    /// Passed as the upstream sent it.
    Passing,
}

#[derive(Debug)]
pub(crate) struct Restore {
    values: Vec<MaskedValue>,
    state: State,
    json: bool,
    body: Vec<u8>,
}

impl Restore {
    /// The restoring state for a request whose mask rules replaced `values`, or `None` when no
    /// value is to be restored.
    pub(crate) fn new(values: &[MaskedValue]) -> Option<Restore> {
        let values: Vec<MaskedValue> = values.iter().filter(|v| v.restore).cloned().collect();
        (!values.is_empty()).then_some(Restore {
            values,
            state: State::Waiting,
            json: false,
            body: Vec::new(),
        })
    }

    pub(crate) fn on_headers<H: Host>(&mut self, host: &H, end_of_stream: bool, label: &str) {
        if end_of_stream {
            self.state = State::Passing;
            return;
        }
        let headers = host.response_headers();
        let content_type = headers
            .get("content-type")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let encoded = headers
            .get("content-encoding")
            .is_some_and(|e| !e.trim().eq_ignore_ascii_case("identity"));
        let why_not = if encoded {
            Some("the answer is compressed")
        } else if content_type.starts_with("text/event-stream") {
            Some("the answer is a stream")
        } else {
            None
        };
        if let Some(why) = why_not {
            host.log(
                LogLevel::Info,
                &format!("guard: placeholders not restored: {why} request_id={label}"),
            );
            self.state = State::Passing;
            return;
        }
        self.json = content_type.is_empty() || content_type.contains("json");
        host.remove_response_header("content-length");
        self.state = State::Buffering;
    }

    pub(crate) fn on_body<H: Host>(
        &mut self,
        host: &H,
        size: usize,
        end_of_stream: bool,
        label: &str,
    ) -> Action {
        if !matches!(self.state, State::Buffering) {
            return Action::Continue;
        }
        if size > 0 {
            let Ok(chunk) = host.read_buffer(BufferType::HttpResponseBody, size) else {
                return self.give_up(host, "the answer could not be read", label);
            };
            if host.replace_response_body(size, &[]).is_err() {
                return self.give_up(host, "the answer could not be held", label);
            }
            self.body.extend_from_slice(&chunk);
        }
        if self.body.len() > DEFAULT_MAX_BODY_BYTES {
            return self.give_up(host, "the answer is over the body limit", label);
        }
        if !end_of_stream {
            return Action::Pause;
        }
        let restored = guard_engine::restore(&self.body, &self.values, self.json);
        self.body = Vec::new();
        self.state = State::Passing;
        if host.replace_response_body(0, &restored).is_err() {
            host.log(
                LogLevel::Error,
                &format!("guard: the restored answer could not be written request_id={label}"),
            );
        }
        Action::Continue
    }

    /// Hands back what was held, unrestored, and lets the rest of the answer pass.
    fn give_up<H: Host>(&mut self, host: &H, why: &str, label: &str) -> Action {
        host.log(
            LogLevel::Warn,
            &format!("guard: placeholders not restored: {why} request_id={label}"),
        );
        let held = std::mem::take(&mut self.body);
        self.state = State::Passing;
        let _ = host.replace_response_body(0, &held);
        Action::Continue
    }
}
