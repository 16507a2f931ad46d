//! One HTTP request, through the phases Envoy shows it to us.
//!
//! - Headers: the head checks (`Ruleset::check_head`: odd authorities, upgrades) and policy
//!   selection. A refused head is answered at once, before any header is changed. A selected
//!   request without a body is decided here. With a body, the head is *held* by default
//!   (`Pause`; Envoy keeps delivering body callbacks when its Wasm config sets
//!   `allow_on_headers_stop_iteration: true`), so the upstream sees nothing of a request until
//!   it is approved; the policy's header plan (the injected key) is applied only then. With
//!   `"hold_request_headers": false` in the plugin configuration the plan is applied and the
//!   head continues at once, as meshes that cannot set the Envoy flag need: the upstream then
//!   gets the head of a request that is later denied (and reset).
//! - Body: every chunk is moved out of Envoy's buffer into ours as it arrives (read, then
//!   replaced by nothing, then `Pause`), so Envoy's per-connection buffer limit (1 MiB by
//!   default) never fills and never answers its own plain-text 413: the body limit users get is
//!   guard's (`DEFAULT_MAX_BODY_BYTES`, the one `guardc test` applies), with guard's JSON error.
//!   At the end of the stream the whole body is inspected; an approved body is put back in
//!   Envoy's buffer, whole, as the last chunk, and the request continues.
//! - Judge: dispatch the judge's call and stay paused; its response settles the escalation into
//!   exactly one of `resume_http_request` or a local reply, never both (resuming after a local
//!   reply makes Envoy answer 503 instead of the denial).
//!
//! Nothing logged here contains request text, bodies or secrets: only policy, rule, judge and
//! code names and a sanitised request id.

use std::rc::Rc;
use std::time::Duration;

use guard_engine::{
    read_reply, Code, Decision, Denial, ErrorShape, Escalation, Finding, HeadVerdict, HeaderPlan,
    JudgeReply, Outcome, RequestHead, Selection, DEFAULT_MAX_BODY_BYTES, MAX_ANSWER_BYTES,
};
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, BufferType, LogLevel};

use crate::held::{self, Held};
use crate::host::{Counter, Envoy, Host};
use crate::root::Active;

/// The reason a client gets when the proxy would not hand over the body.
const NOT_READ: &str = "the request body could not be read";

/// The longest request id written to a log line.
const MAX_REQUEST_ID: usize = 64;

#[derive(Debug)]
enum Phase {
    /// Not (or not yet) selected by any policy: every callback continues.
    Untouched,
    /// Selected; the body is being moved into our buffer.
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
pub(crate) struct Request<H: Host = Envoy> {
    host: H,
    context_id: u32,
    active: Option<Rc<Active>>,
    phase: Phase,
    /// The policies that selected the request (all of them apply).
    selection: Option<Selection>,
    content_type: Option<String>,
    content_encoding: Option<String>,
    request_id: Option<String>,
    /// The error shape of the API the request is sent to, from its head: every local reply of
    /// the request takes it, so the client's SDK reads guard's answers as its API's errors.
    shape: ErrorShape,
    /// The header plan still to apply (held heads get it only on approval).
    plan: Option<HeaderPlan>,
    /// The body so far, moved out of Envoy's buffer; at most one byte past the limit.
    body: Vec<u8>,
    /// Whether the body went past the limit (the rest is not kept).
    too_large: bool,
}

impl<H: Host> Request<H> {
    pub(crate) fn new(host: H, context_id: u32, active: Option<Rc<Active>>) -> Request<H> {
        Request {
            host,
            context_id,
            active,
            phase: Phase::Untouched,
            selection: None,
            content_type: None,
            content_encoding: None,
            request_id: None,
            shape: ErrorShape::default(),
            plan: None,
            body: Vec::new(),
            too_large: false,
        }
    }

    fn on_headers(&mut self, end_of_stream: bool) -> Action {
        let Some(active) = self.active.clone() else {
            // Envoy does not run an unconfigured plugin; if it ever did, fail closed.
            self.reply(&Denial::refusal(
                "",
                503,
                Code::NotConfigured.as_str(),
                "the guard filter is not configured",
            ));
            return Action::Pause;
        };
        // One hostcall for every header this phase reads.
        let headers = self.host.request_headers();
        self.request_id = headers.get("x-request-id").map(sanitize_id);
        let pairs = headers.pairs();
        let head = RequestHead {
            method: headers.get(":method").unwrap_or_default(),
            authority: headers.get(":authority").unwrap_or_default(),
            path: headers.get(":path").unwrap_or_default(),
            headers: &pairs,
        };
        // Before the head checks: a refused head is answered in its API's shape too.
        self.shape = ErrorShape::for_request(head.authority, head.path);
        let policy = match active.ruleset.check_head(&head) {
            HeadVerdict::Untouched => return Action::Continue,
            HeadVerdict::Refuse(denial) => {
                self.reply(&denial);
                return Action::Pause;
            }
            HeadVerdict::Selected(policy) => policy,
        };
        self.selection = Some(policy.clone());
        // Kept before the plan runs: the body is read by its content type, and a policy that
        // removes a header must not change how we read the body.
        self.content_type = headers.get("content-type").map(str::to_string);
        let encoding = headers.get("content-encoding").map(str::to_string);

        match active.ruleset.headers(&policy, &active.secrets) {
            Ok(plan) => self.plan = Some(plan),
            Err(missing) => {
                // on_configure checked every secret, so this is a bug, not a client error.
                self.host.log(
                    LogLevel::Error,
                    &format!("guard: {missing} request_id={}", self.request_label()),
                );
                let policy_name = active.ruleset.selection_name(&policy);
                self.reply(&Denial::refusal(
                    &policy_name,
                    500,
                    Code::ConfigError.as_str(),
                    "the guard is misconfigured",
                ));
                return Action::Pause;
            }
        }

        if end_of_stream {
            // No body: nothing to scan (GET /v1/models and the like).
            self.approve();
            return Action::Continue;
        }
        // The engine decodes gzip/deflate (bounded) and refuses other encodings.
        self.content_encoding = encoding;
        self.phase = Phase::Buffering;
        if active.hold_request_headers {
            held::hold(
                self.context_id,
                Held {
                    since: self.host.now_nanos(),
                    policy: active.ruleset.selection_name(&policy),
                    label: self.request_label(),
                    shape: self.shape,
                },
            );
            return Action::Pause;
        }
        self.apply_plan();
        Action::Continue
    }

    /// One body callback: Envoy holds `size` bytes of body we have not taken yet.
    fn on_body(&mut self, size: usize, end_of_stream: bool) -> Action {
        match self.phase {
            Phase::Buffering => {}
            Phase::Untouched | Phase::Forwarded => return Action::Continue,
            Phase::Judging(_) | Phase::Replied => return Action::Pause,
        }
        held::release(self.context_id);
        if let Err(step) = self.take_chunk(size) {
            return action(step);
        }
        if !end_of_stream && !self.too_large {
            return Action::Pause;
        }
        action(self.on_body_complete())
    }

    /// Moves what Envoy holds of the body into ours and leaves Envoy's buffer empty, so Envoy's
    /// buffer limit never applies to a body we hold.
    fn take_chunk(&mut self, size: usize) -> Result<(), Step> {
        if size == 0 {
            return Ok(());
        }
        let chunk = match self.host.read_buffer(BufferType::HttpRequestBody, size) {
            Ok(chunk) => chunk,
            Err(status) => {
                return Err(self.internal_error("read", NOT_READ, status));
            }
        };
        if let Err(status) = self.host.replace_request_body(size, &[]) {
            return Err(self.internal_error("moved", NOT_READ, status));
        }
        // Keep one byte past the limit at most: enough for the engine to refuse the body as
        // too large, without holding an arbitrarily large one.
        let room = (DEFAULT_MAX_BODY_BYTES + 1).saturating_sub(self.body.len());
        if chunk.len() > room {
            self.too_large = true;
        }
        self.body
            .extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or_default());
        Ok(())
    }

    /// The proxy would not hand over or take back the body: a 500, logged with `what` failed.
    fn internal_error(
        &mut self,
        what: &str,
        reason: &str,
        status: proxy_wasm::types::Status,
    ) -> Step {
        self.host.log(
            LogLevel::Error,
            &format!(
                "guard: request body could not be {what} ({status:?}) request_id={}",
                self.request_label()
            ),
        );
        let policy_name = match (&self.active, &self.selection) {
            (Some(active), Some(selection)) => active.ruleset.selection_name(selection),
            _ => String::new(),
        };
        self.reply(&Denial::refusal(
            &policy_name,
            500,
            Code::InternalError.as_str(),
            reason,
        ))
    }

    /// The whole body is ours (or past the limit): inspect it.
    fn on_body_complete(&mut self) -> Step {
        let (Some(active), Some(policy)) = (self.active.clone(), self.selection.clone()) else {
            return Step::Forward;
        };
        // A body past the limit is refused by the engine on its length alone, with the error
        // `guardc test` gives.
        let inspection = active.ruleset.inspect_encoded(
            &policy,
            self.content_type.as_deref(),
            self.content_encoding.as_deref(),
            &self.body,
        );
        self.record_monitored(&inspection.monitored);
        match inspection.decision {
            Decision::Allow => match self.restore_body() {
                Step::Forward => self.approve(),
                step => step,
            },
            Decision::Deny(denial) => self.reply(&denial),
            Decision::Escalate(escalation) => {
                self.host.count(Counter::Escalated);
                // The body goes back now, inside a body callback, not when the judge answers:
                // a write past the listener's buffer limit makes Envoy answer its own 413 on the
                // spot, and from the judge's callback that reply re-enters the VM (seen with
                // Envoy 1.40: the SDK panics and Envoy crashes). Held or not, nothing reaches the
                // upstream before the verdict: the request stays paused.
                match self.restore_body() {
                    Step::Forward => self.ask(&active, escalation),
                    step => step,
                }
            }
        }
    }

    /// Puts the body back into Envoy's (empty) buffer, whole, for the upstream: called from the
    /// last body (or trailers) callback once no rule denies it. Envoy checks its buffer limit
    /// on this write: a body larger than the listener's `per_connection_buffer_limit_bytes`
    /// gets Envoy's own 413 here (the proxy-wasm SDK can only answer "stop and buffer", not
    /// "stop and apply flow control"), which is why `guardc build` raises that limit to cover
    /// guard's (see docs/deploy.md).
    fn restore_body(&mut self) -> Step {
        // Every body callback left Envoy's buffer empty, and nothing comes after the end of the
        // stream, so the whole body replaces nothing.
        let body = std::mem::take(&mut self.body);
        match self.host.replace_request_body(0, &body) {
            Ok(()) => Step::Forward,
            Err(status) => self.internal_error(
                "restored",
                "the request body could not be forwarded",
                status,
            ),
        }
    }

    /// Sends the escalation's next judge call; a call that cannot be sent counts as a failed
    /// judge at once, and the judge's `on_error` decides.
    fn ask(&mut self, active: &Active, mut escalation: Escalation) -> Step {
        loop {
            let call = match escalation.next_call(
                &active.ruleset,
                &active.secrets,
                self.host.seed(self.context_id),
            ) {
                Ok(Some(call)) => call,
                Ok(None) => return self.approve(),
                Err(missing) => {
                    self.host.log(
                        LogLevel::Error,
                        &format!("guard: {missing} request_id={}", self.request_label()),
                    );
                    let policy_name = self
                        .selection
                        .as_ref()
                        .map(|p| active.ruleset.selection_name(p))
                        .unwrap_or_default();
                    return self.reply(&Denial::refusal(
                        &policy_name,
                        500,
                        Code::ConfigError.as_str(),
                        "the guard is misconfigured",
                    ));
                }
            };
            let headers: Vec<(&str, &str)> = call
                .headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let started = self.host.now_nanos();
            match self.host.dispatch(
                &call.cluster,
                headers,
                &call.body,
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
                    self.host.count(Counter::JudgeErrors);
                    self.host.log(
                        LogLevel::Warn,
                        &format!(
                            "guard: judge `{}` call to cluster `{}` could not be sent ({status:?}) request_id={}",
                            call.judge,
                            call.cluster,
                            self.request_label()
                        ),
                    );
                    if let Some(outcome) = self.settle(active, &mut escalation, JudgeReply::Failed)
                    {
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
        let elapsed = Duration::from_nanos(self.host.now_nanos().saturating_sub(started));
        let status = if num_headers == 0 {
            // Envoy reports some resets as a response without headers.
            None
        } else {
            self.host.judge_status()
        };
        // Read one byte past the limit at most: enough for the engine to see that the answer is
        // too large, without copying an arbitrarily large body.
        let body = match status {
            Some(_) => self
                .host
                .read_buffer(
                    BufferType::HttpCallResponseBody,
                    body_size.min(MAX_ANSWER_BYTES + 1),
                )
                .unwrap_or_default(),
            None => Vec::new(),
        };
        let reply = classify(status, &body, elapsed, timeout_ms);
        if let Err(fault) = read_reply(reply) {
            self.host.count(Counter::JudgeErrors);
            self.host.log(
                LogLevel::Warn,
                &format!(
                    "guard: judge `{judge}` gave no verdict: {fault} after {} ms request_id={}",
                    elapsed.as_millis(),
                    self.request_label()
                ),
            );
        }
        let step = match self.settle(&active, &mut escalation, reply) {
            Some(outcome) => self.finish(outcome),
            None => self.ask(&active, escalation),
        };
        if step == Step::Forward {
            if let Err(status) = self.host.resume_request() {
                self.host.log(
                    LogLevel::Warn,
                    &format!(
                        "guard: request could not be resumed ({status:?}) request_id={}",
                        self.request_label()
                    ),
                );
            }
        }
    }

    /// Hands a judge's reply to the escalation, recording a monitored judge's answer.
    fn settle(
        &mut self,
        active: &Active,
        escalation: &mut Escalation,
        reply: JudgeReply<'_>,
    ) -> Option<Outcome> {
        let before = escalation.monitored().len();
        let outcome = escalation.settle(&active.ruleset, reply);
        let new = escalation
            .monitored()
            .get(before..)
            .unwrap_or_default()
            .to_vec();
        self.record_monitored(&new);
        outcome
    }

    /// Monitored matches change nothing for the request: a log line and the rule's counter,
    /// names and codes only.
    fn record_monitored(&self, findings: &[Finding]) {
        for finding in findings {
            self.host.count_rule(&finding.rule);
            let (would, code) = match &finding.would_deny {
                Some(denial) => ("deny", denial.code),
                None => ("allow", "-"),
            };
            self.host.log(
                LogLevel::Info,
                &format!(
                    "guard: monitored policy={} rule={} mode=monitor judge={} would={would} code={code} request_id={}",
                    finding.policy,
                    finding.rule,
                    finding.judge.as_deref().unwrap_or("-"),
                    self.request_label()
                ),
            );
        }
    }

    fn finish(&mut self, outcome: Outcome) -> Step {
        match outcome {
            Outcome::Allow => self.approve(),
            Outcome::Deny(denial) => self.reply(&denial),
        }
    }

    /// The request is approved: its header plan is applied now, right before it continues.
    fn approve(&mut self) -> Step {
        self.apply_plan();
        self.phase = Phase::Forwarded;
        self.host.count(Counter::Allowed);
        Step::Forward
    }

    fn apply_plan(&mut self) {
        let Some(plan) = self.plan.take() else {
            return;
        };
        for name in &plan.remove {
            self.host.remove_request_header(name);
        }
        for (name, value) in &plan.set {
            // Replace, never add: the client's own value of an injected header must not survive.
            if self.host.set_request_header(name, value).is_err() {
                self.host.log(
                    LogLevel::Warn,
                    &format!(
                        "guard: header `{name}` could not be set request_id={}",
                        self.request_label()
                    ),
                );
            }
        }
    }

    /// Answers the client with the denial; the request never goes upstream.
    fn reply(&mut self, denial: &Denial) -> Step {
        self.phase = Phase::Replied;
        self.plan = None;
        self.body = Vec::new();
        held::release(self.context_id);
        self.host.count(Counter::Denied);
        if let Some(rule) = &denial.rule {
            self.host.count_rule(rule);
        }
        log_denial(&self.host, denial, &self.request_label());
        if let Err(status) =
            self.host
                .send_json(denial.status, denial.code, &denial.body_in(self.shape))
        {
            self.host.log(
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

/// The log line of a denial: names and codes only, never request text.
pub(crate) fn log_denial(host: &impl Host, denial: &Denial, request: &str) {
    host.log(
        LogLevel::Info,
        &format!(
            "guard: denied policy={} rule={} mode=enforce judge={} code={} status={} request_id={request}",
            denial.policy,
            denial.rule.as_deref().unwrap_or("-"),
            denial.judge.as_deref().unwrap_or("-"),
            denial.code,
            denial.status,
        ),
    );
}

/// A request held past [`held::HOLD_GRACE`] without a body callback: Envoy is not delivering
/// bodies of held heads (its Wasm config lacks `allow_on_headers_stop_iteration: true`). Called
/// from the root context's timer; the request is answered with a 500 and never forwarded.
pub(crate) fn refuse_stalled(host: &impl Host, context_id: u32, stalled: &Held) {
    host.log(
        LogLevel::Error,
        &format!(
            "guard: request held {} s without a body callback: Envoy does not deliver the body of a held request head; set `allow_on_headers_stop_iteration: true` in the Wasm filter config, or `\"hold_request_headers\": false` in the plugin configuration (see docs/deploy.md) request_id={}",
            held::HOLD_GRACE.as_secs(),
            stalled.label
        ),
    );
    if host.act_on(context_id).is_err() {
        // The request ended meanwhile.
        return;
    }
    let denial = Denial::refusal(
        &stalled.policy,
        500,
        Code::HoldUnsupported.as_str(),
        "the guard is misdeployed: the proxy does not deliver request bodies while the request head is held",
    );
    host.count(Counter::Denied);
    log_denial(host, &denial, &stalled.label);
    let _ = host.send_json(denial.status, denial.code, &denial.body_in(stalled.shape));
}

fn action(step: Step) -> Action {
    match step {
        Step::Forward => Action::Continue,
        Step::Replied | Step::Waiting => Action::Pause,
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

/// A request id is client-supplied: keep it to one short token, safe inside a log line.
fn sanitize_id(id: &str) -> String {
    id.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
        .take(MAX_REQUEST_ID)
        .collect()
}

impl<H: Host> Context for Request<H> {
    fn on_http_call_response(
        &mut self,
        token_id: u32,
        num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        self.on_judge_response(token_id, num_headers, body_size);
    }

    fn on_done(&mut self) -> bool {
        held::release(self.context_id);
        true
    }
}

impl<H: Host> HttpContext for Request<H> {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        self.on_headers(end_of_stream)
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        self.on_body(body_size, end_of_stream)
    }

    fn on_http_request_trailers(&mut self, _num_trailers: usize) -> Action {
        // A body followed by trailers never sees `end_of_stream` in the body callback: the
        // trailers end it. (Trailers with no body at all come here from the held head.)
        match self.phase {
            Phase::Buffering => {
                held::release(self.context_id);
                action(self.on_body_complete())
            }
            Phase::Untouched | Phase::Forwarded => Action::Continue,
            Phase::Judging(_) | Phase::Replied => Action::Pause,
        }
    }
}

#[cfg(test)]
mod phase_tests;

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
