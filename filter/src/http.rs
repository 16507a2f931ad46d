//! One HTTP request, through the phases Envoy shows it to us.
//!
//! - Headers: select the policy and apply its header plan now, because headers go upstream as
//!   soon as this callback returns `Continue`. We must return `Continue` here: pausing the
//!   headers would also stop the body callbacks.
//! - Body: `Pause` (buffer) until the end of the stream, then inspect. A denial is a local reply
//!   and the request stays paused, so the upstream never receives the body (Envoy resets the
//!   upstream stream it opened for the headers).
//! - Judge: dispatch the judge's call and stay paused; its response settles the escalation into
//!   exactly one of `resume_http_request` or a local reply, never both (resuming after a local
//!   reply makes Envoy answer 503 instead of the denial).
//!
//! Nothing logged here contains request text, bodies or secrets: only policy, rule, judge and
//! code names and a sanitised request id.

use std::rc::Rc;
use std::time::Duration;

use guard_engine::{
    read_reply, Denial, Escalation, Inspection, JudgeReply, Outcome, PolicyId, MAX_ANSWER_BYTES,
};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, BufferType, LogLevel, MapType};

use crate::host::{self, Counter, Headers};
use crate::root::Active;

/// The longest request id written to a log line.
const MAX_REQUEST_ID: usize = 64;

#[derive(Debug)]
enum Phase {
    /// Not (or not yet) selected by any policy: every callback continues.
    Untouched,
    /// Selected; the body is being buffered.
    Buffering,
    /// Waiting for the answer of judge call `token`.
    Judging(Judging),
    /// Forwarded upstream with the policy's headers.
    Forwarded,
    /// Answered locally; the request stays paused for good.
    Replied,
}

#[derive(Debug)]
struct Judging {
    escalation: Escalation,
    token: u32,
    judge: String,
    started: u64,
    timeout_ms: u64,
}

/// What a decision step left the request in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Let the request go upstream.
    Forward,
    /// A local reply was sent.
    Replied,
    /// A judge call is in flight.
    Waiting,
}

#[derive(Debug)]
pub(crate) struct Request {
    context_id: u32,
    active: Option<Rc<Active>>,
    phase: Phase,
    policy: Option<PolicyId>,
    content_type: Option<String>,
    content_encoding: Option<String>,
    request_id: Option<String>,
    /// The size of the buffered body at the last body callback (for a body ended by trailers).
    body_size: usize,
}

impl Request {
    pub(crate) fn new(context_id: u32, active: Option<Rc<Active>>) -> Request {
        Request {
            context_id,
            active,
            phase: Phase::Untouched,
            policy: None,
            content_type: None,
            content_encoding: None,
            request_id: None,
            body_size: 0,
        }
    }

    fn on_headers(&mut self, end_of_stream: bool) -> Action {
        let Some(active) = self.active.clone() else {
            // Envoy does not run an unconfigured plugin; if it ever did, fail closed.
            self.reply(&local_denial(
                "",
                503,
                "guard.not_configured",
                "the guard filter is not configured",
            ));
            return Action::Pause;
        };
        // One hostcall for every header this phase reads.
        let headers = Headers::read(MapType::HttpRequestHeaders);
        let authority = headers.get(":authority").unwrap_or_default();
        let path = headers.get(":path").unwrap_or_default();
        let Some(policy) = active.ruleset.select(authority, path) else {
            return Action::Continue;
        };
        self.policy = Some(policy);
        self.request_id = headers.get("x-request-id").map(sanitize_id);
        // Kept before the plan runs: the body is read by its content type, and a policy that
        // removes a header must not change how we read the body.
        self.content_type = headers.get("content-type").map(str::to_string);
        let encoding = headers.get("content-encoding").map(str::to_string);

        let plan = match active.ruleset.headers(policy, &active.secrets) {
            Ok(plan) => plan,
            Err(missing) => {
                // on_configure checked every secret, so this is a bug, not a client error.
                host::log(
                    LogLevel::Error,
                    &format!("guard: {missing} request_id={}", self.request_label()),
                );
                let policy_name = active.ruleset.policy_name(policy).to_string();
                self.reply(&local_denial(
                    &policy_name,
                    500,
                    "guard.config_error",
                    "the guard is misconfigured",
                ));
                return Action::Pause;
            }
        };
        for name in &plan.remove {
            let _ = hostcalls::remove_map_value(MapType::HttpRequestHeaders, name);
        }
        for (name, value) in &plan.set {
            // Replace, never add: the client's own value of an injected header must not survive.
            if hostcalls::set_map_value(MapType::HttpRequestHeaders, name, Some(value)).is_err() {
                host::log(
                    LogLevel::Warn,
                    &format!(
                        "guard: header `{name}` could not be set request_id={}",
                        self.request_label()
                    ),
                );
            }
        }

        if end_of_stream {
            // No body: nothing to scan (GET /v1/models and the like).
            self.forwarded();
            return Action::Continue;
        }
        // The engine decodes gzip/deflate (bounded) and refuses other encodings.
        self.content_encoding = encoding;
        self.phase = Phase::Buffering;
        Action::Continue
    }

    /// The whole body is buffered: inspect it.
    fn on_body_complete(&mut self) -> Step {
        let (Some(active), Some(policy)) = (self.active.clone(), self.policy) else {
            return Step::Forward;
        };
        let body = match hostcalls::get_buffer(BufferType::HttpRequestBody, 0, self.body_size) {
            Ok(body) => body.unwrap_or_default(),
            Err(status) => {
                host::log(
                    LogLevel::Error,
                    &format!(
                        "guard: request body unreadable ({status:?}) request_id={}",
                        self.request_label()
                    ),
                );
                let policy_name = active.ruleset.policy_name(policy).to_string();
                self.reply(&local_denial(
                    &policy_name,
                    500,
                    "guard.internal_error",
                    "the request body could not be read",
                ));
                return Step::Replied;
            }
        };
        match active.ruleset.inspect_encoded(
            policy,
            self.content_type.as_deref(),
            self.content_encoding.as_deref(),
            &body,
        ) {
            Inspection::Allow => self.forwarded(),
            Inspection::Deny(denial) => self.reply(&denial),
            Inspection::Escalate(escalation) => {
                host::count(Counter::Escalated);
                self.ask(&active, escalation)
            }
        }
    }

    /// Sends the escalation's next judge call; a call that cannot be sent counts as a failed
    /// judge at once, and the judge's `on_error` decides.
    fn ask(&mut self, active: &Active, mut escalation: Escalation) -> Step {
        loop {
            let call = match escalation.next_call(
                &active.ruleset,
                &active.secrets,
                host::seed(self.context_id),
            ) {
                Ok(Some(call)) => call,
                Ok(None) => return self.forwarded(),
                Err(missing) => {
                    host::log(
                        LogLevel::Error,
                        &format!("guard: {missing} request_id={}", self.request_label()),
                    );
                    let policy_name = self
                        .policy
                        .map(|p| active.ruleset.policy_name(p).to_string())
                        .unwrap_or_default();
                    return self.reply(&local_denial(
                        &policy_name,
                        500,
                        "guard.config_error",
                        "the guard is misconfigured",
                    ));
                }
            };
            let headers: Vec<(&str, &str)> = call
                .headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let started = host::now_nanos();
            match hostcalls::dispatch_http_call(
                &call.cluster,
                headers,
                Some(&call.body),
                Vec::new(),
                Duration::from_millis(call.timeout_ms),
            ) {
                Ok(token) => {
                    self.phase = Phase::Judging(Judging {
                        escalation,
                        token,
                        judge: call.judge,
                        started,
                        timeout_ms: call.timeout_ms,
                    });
                    return Step::Waiting;
                }
                Err(status) => {
                    // BadArgument: no such cluster; InternalFailure: Envoy could not start it.
                    host::count(Counter::JudgeErrors);
                    host::log(
                        LogLevel::Warn,
                        &format!(
                            "guard: judge `{}` call to cluster `{}` could not be sent ({status:?}) request_id={}",
                            call.judge,
                            call.cluster,
                            self.request_label()
                        ),
                    );
                    if let Some(outcome) = escalation.settle(&active.ruleset, JudgeReply::Failed) {
                        return self.finish(outcome);
                    }
                }
            }
        }
    }

    fn on_judge_response(&mut self, token: u32, num_headers: usize, body_size: usize) {
        let Some(active) = self.active.clone() else {
            return;
        };
        let judging = match std::mem::replace(&mut self.phase, Phase::Replied) {
            Phase::Judging(judging) if judging.token == token => judging,
            other => {
                // Not the call we are waiting for (cannot happen: one call at a time).
                self.phase = other;
                return;
            }
        };
        let Judging {
            mut escalation,
            judge,
            started,
            timeout_ms,
            ..
        } = judging;
        let elapsed = host::since(started);
        let status = if num_headers == 0 {
            // Envoy reports some resets as a response without headers.
            None
        } else {
            host::header(MapType::HttpCallResponseHeaders, ":status")
                .and_then(|s| s.trim().parse::<u16>().ok())
        };
        // Read one byte past the limit at most: enough for the engine to see that the answer is
        // too large, without copying an arbitrarily large body.
        let body = match status {
            Some(_) => hostcalls::get_buffer(
                BufferType::HttpCallResponseBody,
                0,
                body_size.min(MAX_ANSWER_BYTES + 1),
            )
            .ok()
            .flatten()
            .unwrap_or_default(),
            None => Vec::new(),
        };
        let reply = classify(status, &body, elapsed, timeout_ms);
        if let Err(fault) = read_reply(reply) {
            host::count(Counter::JudgeErrors);
            host::log(
                LogLevel::Warn,
                &format!(
                    "guard: judge `{judge}` gave no verdict: {fault} after {} ms request_id={}",
                    elapsed.as_millis(),
                    self.request_label()
                ),
            );
        }
        let step = match escalation.settle(&active.ruleset, reply) {
            Some(outcome) => self.finish(outcome),
            None => self.ask(&active, escalation),
        };
        if step == Step::Forward {
            if let Err(status) = hostcalls::resume_http_request() {
                host::log(
                    LogLevel::Warn,
                    &format!(
                        "guard: request could not be resumed ({status:?}) request_id={}",
                        self.request_label()
                    ),
                );
            }
        }
    }

    fn finish(&mut self, outcome: Outcome) -> Step {
        match outcome {
            Outcome::Allow => self.forwarded(),
            Outcome::Deny(denial) => self.reply(&denial),
        }
    }

    fn forwarded(&mut self) -> Step {
        self.phase = Phase::Forwarded;
        host::count(Counter::Allowed);
        Step::Forward
    }

    /// Answers the client with the denial; the request never goes upstream.
    fn reply(&mut self, denial: &Denial) -> Step {
        self.phase = Phase::Replied;
        host::count(Counter::Denied);
        host::log(
            LogLevel::Info,
            &format!(
                "guard: denied policy={} rule={} judge={} code={} status={} request_id={}",
                denial.policy,
                denial.rule.as_deref().unwrap_or("-"),
                denial.judge.as_deref().unwrap_or("-"),
                denial.code,
                denial.status,
                self.request_label()
            ),
        );
        let body = denial.body();
        let headers = vec![
            ("content-type", "application/json"),
            ("x-guard-code", denial.code),
        ];
        if let Err(status) =
            hostcalls::send_http_response(u32::from(denial.status), headers, Some(&body))
        {
            host::log(
                LogLevel::Error,
                &format!(
                    "guard: denial could not be sent ({status:?}) request_id={}",
                    self.request_label()
                ),
            );
        }
        Step::Replied
    }

    fn request_label(&self) -> String {
        self.request_id
            .clone()
            .unwrap_or_else(|| format!("ctx-{}", self.context_id))
    }
}

/// What a judge call's response means. Envoy turns its own failures into responses of its
/// router: a call that ran out of time becomes a 504 `upstream request timeout`, a judge that
/// refused the connection or reset it becomes a 503 `upstream connect error or disconnect/reset
/// before headers. ...` (or `no healthy upstream`). Those are a timeout and a failed call, not
/// the judge's own answer; a judge's own 503 or 504 stays an error status. Either way the
/// judge's `on_error` decides; the difference is the reason the client and the log are given.
fn classify(
    status: Option<u16>,
    body: &[u8],
    elapsed: Duration,
    timeout_ms: u64,
) -> JudgeReply<'_> {
    match status {
        None => JudgeReply::Failed,
        Some(504)
            if body == b"upstream request timeout" || ran_out_of_time(elapsed, timeout_ms) =>
        {
            JudgeReply::Timeout
        }
        Some(503)
            if body.starts_with(b"upstream connect error or disconnect/reset before headers")
                || body == b"no healthy upstream" =>
        {
            JudgeReply::Failed
        }
        Some(status) => JudgeReply::Response { status, body },
    }
}

/// Whether a call answered after `elapsed` used up its timeout. Envoy's timer and the clock the
/// plugin reads disagree by a few milliseconds (a 3 s timeout was seen to fire at 2997 ms), so
/// the last tenth of the timeout (at least 50 ms) counts as the deadline.
fn ran_out_of_time(elapsed: Duration, timeout_ms: u64) -> bool {
    let slack = (timeout_ms / 10).max(50);
    elapsed.as_millis() + u128::from(slack) >= u128::from(timeout_ms)
}

/// A denial that no rule produced: configuration and internal errors.
fn local_denial(policy: &str, status: u16, code: &'static str, reason: &str) -> Denial {
    Denial {
        status,
        code,
        policy: policy.to_string(),
        rule: None,
        judge: None,
        reason: reason.to_string(),
        matched: None,
    }
}

/// A request id is client-supplied: keep it to one short token, safe inside a log line.
fn sanitize_id(id: &str) -> String {
    id.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
        .take(MAX_REQUEST_ID)
        .collect()
}

impl Context for Request {
    fn on_http_call_response(
        &mut self,
        token_id: u32,
        num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        self.on_judge_response(token_id, num_headers, body_size);
    }
}

impl HttpContext for Request {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        self.on_headers(end_of_stream)
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        match self.phase {
            Phase::Buffering => {}
            Phase::Untouched | Phase::Forwarded => return Action::Continue,
            Phase::Judging(_) | Phase::Replied => return Action::Pause,
        }
        self.body_size = body_size;
        if !end_of_stream {
            return Action::Pause;
        }
        match self.on_body_complete() {
            Step::Forward => Action::Continue,
            Step::Replied | Step::Waiting => Action::Pause,
        }
    }

    fn on_http_request_trailers(&mut self, _num_trailers: usize) -> Action {
        // A body followed by trailers never sees `end_of_stream` in the body callback: the
        // trailers end it.
        match self.phase {
            Phase::Buffering => match self.on_body_complete() {
                Step::Forward => Action::Continue,
                Step::Replied | Step::Waiting => Action::Pause,
            },
            Phase::Untouched | Phase::Forwarded => Action::Continue,
            Phase::Judging(_) | Phase::Replied => Action::Pause,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envoys_own_failures_are_not_the_judges_answer() {
        let at = |ms| Duration::from_millis(ms);
        assert_eq!(classify(None, b"", at(5), 3000), JudgeReply::Failed);
        assert_eq!(
            classify(Some(504), b"upstream request timeout", at(10), 3000),
            JudgeReply::Timeout
        );
        assert_eq!(
            classify(Some(504), b"", at(2999), 3000),
            JudgeReply::Timeout
        );
        let refused = b"upstream connect error or disconnect/reset before headers. reset reason: connection failure";
        assert_eq!(
            classify(Some(503), refused, at(1), 3000),
            JudgeReply::Failed
        );
        assert_eq!(
            classify(Some(503), b"no healthy upstream", at(1), 3000),
            JudgeReply::Failed
        );
        let own = br#"{"error": "overloaded"}"#;
        assert_eq!(
            classify(Some(503), own, at(1), 3000),
            JudgeReply::Response {
                status: 503,
                body: own
            }
        );
        assert_eq!(
            classify(Some(504), own, at(1), 3000),
            JudgeReply::Response {
                status: 504,
                body: own
            }
        );
        assert_eq!(
            classify(Some(200), own, at(1), 3000),
            JudgeReply::Response {
                status: 200,
                body: own
            }
        );
    }

    #[test]
    fn a_504_at_the_deadline_is_a_timeout() {
        assert!(ran_out_of_time(Duration::from_millis(2997), 3000));
        assert!(ran_out_of_time(Duration::from_millis(3004), 3000));
        assert!(!ran_out_of_time(Duration::from_millis(1200), 3000));
        assert!(ran_out_of_time(Duration::from_millis(460), 500));
        assert!(!ran_out_of_time(Duration::from_millis(300), 500));
    }

    #[test]
    fn request_ids_are_sanitised_for_logs() {
        assert_eq!(sanitize_id("abc-123_x.y:z"), "abc-123_x.y:z");
        assert_eq!(sanitize_id("a b\"c\u{7f}d=e"), "abcde");
        assert_eq!(sanitize_id(&"x".repeat(500)).len(), MAX_REQUEST_ID);
    }
}
