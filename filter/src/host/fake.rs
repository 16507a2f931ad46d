//! A recording host for the unit tests: it plays Envoy's part for one request (its header map,
//! its body buffer, the judge call) and writes down every action the filter takes, in order, so
//! a test can check what the upstream and the client would have seen.

use std::cell::{Cell, RefCell};
use std::time::Duration;

use proxy_wasm::types::{BufferType, LogLevel, Status};

use super::{Counter, Headers, Host, Metric};

/// What the filter did, in the order it did it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    SetHeader(String, String),
    RemoveHeader(String),
    RemoveResponseHeader(String),
    SetResponseHeader(String, String),
    Resume,
    Reply {
        status: u16,
        code: String,
        body: String,
        /// The `x-request-id` response header.
        request_id: Option<String>,
    },
    Dispatch {
        cluster: String,
        body: String,
    },
    Count(Counter),
}

#[derive(Debug, Default)]
pub(crate) struct FakeHost {
    pub headers: Vec<(String, String)>,
    /// What Envoy holds of the request body: what the upstream gets if the request continues.
    pub buffer: RefCell<Vec<u8>>,
    /// The upstream's response headers.
    pub response_headers: Vec<(String, String)>,
    /// What Envoy holds of the response body: what the client gets when it continues.
    pub response_buffer: RefCell<Vec<u8>>,
    /// Whether reads and writes of the request body fail.
    pub body_fails: Cell<bool>,
    /// Whether a judge call cannot be sent (no such cluster).
    pub dispatch_fails: Cell<bool>,
    /// The judge response's `:status`.
    pub judge_status: Cell<Option<u16>>,
    /// The judge response's body.
    pub judge_body: RefCell<Vec<u8>>,
    pub events: RefCell<Vec<Event>>,
    /// (level, line) of every log line.
    pub logs: RefCell<Vec<(LogLevel, String)>>,
    /// Every labelled counter counted, by name, in order (kept apart from `events`, which are
    /// what the upstream and the client see).
    pub metrics: RefCell<Vec<String>>,
    /// Every (histogram name, value) recorded.
    pub recorded: RefCell<Vec<(String, u64)>>,
    /// Every value the `guard` property was set to.
    pub property: RefCell<Vec<String>>,
    /// The host clock, nanoseconds since the epoch.
    pub clock: Cell<u64>,
    tokens: Cell<u32>,
}

impl FakeHost {
    pub(crate) fn new(headers: &[(&str, &str)]) -> FakeHost {
        FakeHost {
            headers: headers
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect(),
            ..FakeHost::default()
        }
    }

    /// Envoy receives `bytes` more of the body: they are appended to its buffer.
    pub(crate) fn arrive(&self, bytes: &[u8]) -> usize {
        self.buffer.borrow_mut().extend_from_slice(bytes);
        self.buffer.borrow().len()
    }

    pub(crate) fn events(&self) -> Vec<Event> {
        self.events.borrow().clone()
    }

    fn record(&self, event: Event) {
        self.events.borrow_mut().push(event);
    }
}

impl Host for FakeHost {
    fn log(&self, level: LogLevel, message: &str) {
        self.logs.borrow_mut().push((level, message.to_owned()));
    }

    fn request_headers(&self) -> Headers {
        let pairs: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        Headers::from_pairs(&pairs)
    }

    fn judge_status(&self) -> Option<u16> {
        self.judge_status.get()
    }

    fn read_buffer(&self, buffer: BufferType, len: usize) -> Result<Vec<u8>, Status> {
        match buffer {
            BufferType::HttpRequestBody if self.body_fails.get() => Err(Status::InternalFailure),
            BufferType::HttpRequestBody => {
                let held = self.buffer.borrow();
                Ok(held.get(..len.min(held.len())).unwrap_or_default().to_vec())
            }
            BufferType::HttpResponseBody => {
                let held = self.response_buffer.borrow();
                Ok(held.get(..len.min(held.len())).unwrap_or_default().to_vec())
            }
            BufferType::HttpCallResponseBody => {
                let body = self.judge_body.borrow();
                Ok(body.get(..len.min(body.len())).unwrap_or_default().to_vec())
            }
            _ => Ok(Vec::new()),
        }
    }

    fn replace_request_body(&self, len: usize, bytes: &[u8]) -> Result<(), Status> {
        if self.body_fails.get() {
            return Err(Status::InternalFailure);
        }
        drain_then_prepend(&mut self.buffer.borrow_mut(), len, bytes);
        Ok(())
    }

    fn set_request_header(&self, name: &str, value: &str) -> Result<(), Status> {
        self.record(Event::SetHeader(name.to_owned(), value.to_owned()));
        Ok(())
    }

    fn remove_request_header(&self, name: &str) {
        self.record(Event::RemoveHeader(name.to_owned()));
    }

    fn response_headers(&self) -> Headers {
        let pairs: Vec<(&str, &str)> = self
            .response_headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        Headers::from_pairs(&pairs)
    }

    fn remove_response_header(&self, name: &str) {
        self.record(Event::RemoveResponseHeader(name.to_owned()));
    }

    fn set_response_header(&self, name: &str, value: &str) {
        self.record(Event::SetResponseHeader(name.to_owned(), value.to_owned()));
    }

    fn replace_response_body(&self, len: usize, bytes: &[u8]) -> Result<(), Status> {
        drain_then_prepend(&mut self.response_buffer.borrow_mut(), len, bytes);
        Ok(())
    }

    fn resume_request(&self) -> Result<(), Status> {
        self.record(Event::Resume);
        Ok(())
    }

    fn send_json(
        &self,
        status: u16,
        code: &str,
        body: &[u8],
        request_id: Option<&str>,
    ) -> Result<(), Status> {
        self.record(Event::Reply {
            status,
            code: code.to_owned(),
            body: String::from_utf8_lossy(body).into_owned(),
            request_id: request_id.map(str::to_owned),
        });
        Ok(())
    }

    fn dispatch(
        &self,
        cluster: &str,
        _headers: Vec<(&str, &str)>,
        body: &[u8],
        _timeout: Duration,
    ) -> Result<u32, Status> {
        if self.dispatch_fails.get() {
            return Err(Status::BadArgument);
        }
        self.record(Event::Dispatch {
            cluster: cluster.to_owned(),
            body: String::from_utf8_lossy(body).into_owned(),
        });
        let token = self.tokens.get() + 1;
        self.tokens.set(token);
        Ok(token)
    }

    fn act_on(&self, _context_id: u32) -> Result<(), Status> {
        Ok(())
    }

    fn now_nanos(&self) -> u64 {
        self.clock.get()
    }

    fn seed(&self, context_id: u32) -> u64 {
        u64::from(context_id)
    }

    fn count(&self, counter: Counter) {
        self.record(Event::Count(counter));
    }

    fn count_metric(&self, metric: &Metric<'_>) {
        self.metrics.borrow_mut().push(metric.name());
    }

    fn record_metric(&self, metric: &Metric<'_>, value: u64) {
        self.recorded.borrow_mut().push((metric.name(), value));
    }

    fn set_guard_property(&self, value: &str) {
        self.property.borrow_mut().push(value.to_owned());
    }
}

/// Envoy's only shape of a buffer write: drain `len` bytes from the start, then prepend `bytes`.
fn drain_then_prepend(held: &mut Vec<u8>, len: usize, bytes: &[u8]) {
    let at = len.min(held.len());
    let rest = held.split_off(at);
    *held = bytes.to_vec();
    held.extend_from_slice(&rest);
}
