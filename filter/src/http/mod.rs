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
//!
//! Telemetry, all of it names from the bundle or fixed lists (see `host::Metric`):
//! - metrics: `guard.requests_seen` per selected policy at the head, `guard.requests_passed` on
//!   approval, `guard.rule_matches` per deny (enforced or monitored) and per escalation when its
//!   judge is asked, `guard.judge_calls` and `guard.judge_latency_ms` per judge call,
//!   `guard.refusals` per denial without a rule;
//! - the `guard` property (filter state `wasm.guard`, for access logs), set once when the
//!   outcome is known: `verdict=allow|deny|refuse policy=P[,P2] rule=R|- mode=enforce|monitor|-
//!   code=C|-`, then ` monitored=R[,R2]` when monitored rules matched;
//! - one audit line per deny, refusal and monitored match, at debug level (see [`Audit`]).

use std::rc::Rc;
use std::time::Duration;

use guard_engine::ir::{Mode, Policy, Program, Rule};
use guard_engine::{
    read_reply, sanitize_request_id, Code, Decision, Denial, ErrorShape, Escalation, Finding,
    HeadVerdict, HeaderPlan, JudgeFault, JudgeReply, JudgeVerdict, MatchSite, Outcome,
    ReplyContext, RequestHead, Selection, DEFAULT_MAX_BODY_BYTES, MAX_ANSWER_BYTES,
};
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, BufferType, LogLevel};

use crate::held::{self, Held};
use crate::host::{action_name, push_clean, Counter, Envoy, Host, JudgeOutcome, Metric};
use crate::probe::{self, Skip};
use crate::root::Active;

mod answer;
use answer::Answer;

/// The reason a client gets when the proxy would not hand over the body.
const NOT_READ: &str = "the request body could not be read";

/// The longest segment path an audit line carries.
const MAX_SEGMENT: usize = 128;

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
    /// The body so far, moved out of Envoy's buffer (or copied, see `left_in_envoy`); at most
    /// one byte past the limit.
    body: Vec<u8>,
    /// The length of body Envoy still holds because the whole body came in one callback and was
    /// copied rather than moved: it goes upstream as it is unless a mask rewrote it.
    left_in_envoy: Option<usize>,
    /// Whether the body went past the limit (the rest is not kept).
    too_large: bool,
    /// The monitored rules that matched (or whose judge was asked), for the `guard` property.
    monitored: Vec<String>,
    /// How the last judge call ended, for the audit line of what it decided.
    last_judge: Option<JudgeRecord>,
    /// The forwarded body's length when mask rules rewrote it: a held head gets it as its
    /// `Content-Length` on approval.
    masked_length: Option<usize>,
    /// The enforced mask rules that rewrote the body, for the `guard` property.
    masked: Vec<String>,
    /// The masked values of `restore` rules, put back into the answer.
    restore: Vec<guard_engine::MaskedValue>,
    /// The answer, when rules scan it or values are restored in it.
    answer: Option<Answer>,
    /// The `guard` property as last set, which the answer's verdict extends.
    property: String,
}

/// One judge call's end, as the audit line reports it.
#[derive(Debug, Clone)]
struct JudgeRecord {
    judge: String,
    outcome: JudgeOutcome,
    /// `None` for a call that could not be sent.
    ms: Option<u64>,
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
            left_in_envoy: None,
            too_large: false,
            monitored: Vec::new(),
            last_judge: None,
            masked_length: None,
            masked: Vec::new(),
            restore: Vec::new(),
            answer: None,
            property: String::new(),
        }
    }

    fn on_headers(&mut self, end_of_stream: bool) -> Action {
        if probe::skips(Skip::Everything) {
            return Action::Continue;
        }
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
        self.request_id = headers.get("x-request-id").map(sanitize_request_id);
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
        for name in policy_names(&active.ruleset.program().policies, &policy) {
            self.host
                .count_metric(&Metric::RequestsSeen { policy: name });
        }
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
                    request_id: self.request_id.clone(),
                    bundle: active.ruleset.digest12().to_string(),
                },
            );
            return Action::Pause;
        }
        // The head goes on before the body is read: a body a mask rule may rewrite must not
        // be promised at its old length.
        if active.ruleset.may_mask(&policy) {
            self.host.remove_request_header("content-length");
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
        if end_of_stream && self.body.is_empty() && size <= DEFAULT_MAX_BODY_BYTES {
            // The whole body in one callback: Envoy already holds it within its limits, so it
            // is copied, not moved, and a body that passes unchanged costs no write back.
            if let Err(step) = self.copy_whole(size) {
                return action(step);
            }
            return action(self.on_body_complete());
        }
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

    /// Copies the whole body, which Envoy keeps holding, into ours.
    fn copy_whole(&mut self, size: usize) -> Result<(), Step> {
        if size == 0 {
            return Ok(());
        }
        match self.host.read_buffer(BufferType::HttpRequestBody, size) {
            Ok(chunk) => {
                self.left_in_envoy = Some(chunk.len());
                self.body = chunk;
                Ok(())
            }
            Err(status) => Err(self.internal_error("read", NOT_READ, status)),
        }
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
        if probe::skips(Skip::Inspection) {
            return self.approve();
        }
        if probe::skips(Skip::Decision) {
            let extracted = guard_engine::extract(
                &self.body,
                self.content_type.as_deref(),
                &guard_engine::Limits::default(),
            );
            // Kept observable, so the extraction is not optimised away.
            if extracted.is_err() {
                self.host
                    .log(LogLevel::Debug, "guard: probe extraction failed");
            }
            return self.approve();
        }
        // A body past the limit is refused by the engine on its length alone, with the error
        // `guardc test` gives.
        let inspection = active.ruleset.inspect_encoded(
            &policy,
            self.content_type.as_deref(),
            self.content_encoding.as_deref(),
            &self.body,
        );
        self.record_monitored(&inspection.monitored);
        if let Some(masked) = inspection.masked {
            if !matches!(inspection.decision, Decision::Deny(_)) {
                self.record_masked(&active, &masked);
                self.masked_length = Some(masked.body.len());
                self.restore = masked
                    .values
                    .iter()
                    .filter(|v| v.restore)
                    .cloned()
                    .collect();
                self.body = masked.body;
            }
        }
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
        let body = std::mem::take(&mut self.body);
        let replaced = match self.left_in_envoy.take() {
            // Envoy holds the body as the client sent it, and it is what goes upstream.
            Some(_) if self.masked_length.is_none() => return Step::Forward,
            // Envoy holds the client's body; the masked one takes its place.
            Some(len) => len,
            // Every body callback left Envoy's buffer empty, and nothing comes after the end
            // of the stream, so the whole body replaces nothing.
            None => 0,
        };
        match self.host.replace_request_body(replaced, &body) {
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
            // The escalation's rule counts when its judge is asked, enforced or monitored.
            if let Some((policy, rule)) = find_rule(active.ruleset.program(), &call.rule) {
                self.host.count_metric(&Metric::RuleMatch {
                    policy: &policy.name,
                    rule: &rule.id,
                    action: action_name(&rule.action),
                    mode: rule.mode,
                });
            }
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
                    self.host.count_metric(&Metric::JudgeCall {
                        judge: &call.judge,
                        outcome: JudgeOutcome::Unreachable,
                    });
                    self.last_judge = Some(JudgeRecord {
                        judge: call.judge.clone(),
                        outcome: JudgeOutcome::Unreachable,
                        ms: None,
                    });
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
        let read = read_reply(reply);
        let outcome = judge_outcome(&read);
        let ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        self.host.count_metric(&Metric::JudgeCall {
            judge: &judge,
            outcome,
        });
        self.host
            .record_metric(&Metric::JudgeLatency { judge: &judge }, ms);
        self.last_judge = Some(JudgeRecord {
            judge: judge.clone(),
            outcome,
            ms: Some(ms),
        });
        if let Err(fault) = read {
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

    /// Monitored matches change nothing for the request: a log line, an audit line and (for a
    /// deny rule; an escalation counted when its judge was asked) the rule's counter, names and
    /// codes only.
    fn record_monitored(&mut self, findings: &[Finding]) {
        for finding in findings {
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
            let action = self.active.as_ref().and_then(|active| {
                find_rule(active.ruleset.program(), &finding.rule)
                    .map(|(_, rule)| action_name(&rule.action))
            });
            if finding.judge.is_none() {
                self.host.count_metric(&Metric::RuleMatch {
                    policy: &finding.policy,
                    rule: &finding.rule,
                    action: action.unwrap_or("deny"),
                    mode: Mode::Monitor,
                });
            }
            let judged = self
                .last_judge
                .as_ref()
                .filter(|last| finding.judge.as_deref() == Some(last.judge.as_str()));
            let policy = policy_list(&finding.policy);
            let audit = Audit {
                request_id: self.request_id.as_deref(),
                bundle: self.bundle(),
                verdict: "monitor",
                policy: &policy,
                rule: Some(&finding.rule),
                action,
                mode: Some(Mode::Monitor),
                code: finding.would_deny.as_ref().map(|d| d.code),
                status: None,
                site: finding.matched.as_ref(),
                judge: finding.judge.as_deref(),
                judge_outcome: judged.map(|j| j.outcome),
                judge_ms: judged.and_then(|j| j.ms),
            };
            self.host.log(LogLevel::Debug, &audit.line());
            if !self.monitored.contains(&finding.rule) {
                self.monitored.push(finding.rule.clone());
            }
        }
    }

    /// The bundle's digest (12 hex digits), or nothing for an unconfigured filter.
    fn bundle(&self) -> &str {
        self.active
            .as_ref()
            .map_or("", |active| active.ruleset.digest12())
    }

    /// The selected policies as the property and the audit line list them: `a,b`.
    fn selected_policies(&self) -> Option<String> {
        let (active, selection) = (self.active.as_ref()?, self.selection.as_ref()?);
        Some(comma_list(policy_names(
            &active.ruleset.program().policies,
            selection,
        )))
    }

    /// Sets the `guard` property once the request's outcome is known.
    fn set_property(&mut self, denial: Option<&Denial>) {
        let policy = match (self.selected_policies(), denial) {
            (Some(policy), _) => policy,
            (None, Some(denial)) => policy_list(&denial.policy),
            (None, None) => String::new(),
        };
        let mut value = property(&policy, denial, &self.monitored);
        if denial.is_none() && !self.masked.is_empty() {
            value.push_str(" masked=");
            value.push_str(&comma_list(self.masked.iter().map(String::as_str)));
        }
        self.host.set_guard_property(&value);
        self.property = value;
    }

    fn finish(&mut self, outcome: Outcome) -> Step {
        match outcome {
            Outcome::Allow => self.approve(),
            Outcome::Deny(denial) => self.reply(&denial),
        }
    }

    /// The rules that masked the body: each enforced mask rule's counter and an audit line with
    /// how many values it replaced (names and counts only, never a value).
    fn record_masked(&mut self, active: &Active, masked: &guard_engine::Masked) {
        let program = active.ruleset.program();
        let mut rules: Vec<(usize, usize, usize)> = Vec::new();
        for value in &masked.values {
            match rules
                .iter_mut()
                .find(|(p, r, _)| *p == value.policy && *r == value.rule)
            {
                Some(entry) => entry.2 += value.count,
                None => rules.push((value.policy, value.rule, value.count)),
            }
        }
        for (p, r, count) in rules {
            let Some(policy) = program.policies.get(p) else {
                continue;
            };
            let Some(rule) = policy.rules.get(r) else {
                continue;
            };
            self.host.count_metric(&Metric::RuleMatch {
                policy: &policy.name,
                rule: &rule.id,
                action: action_name(&rule.action),
                mode: Mode::Enforce,
            });
            let policies = policy_list(&policy.name);
            let audit = Audit {
                request_id: self.request_id.as_deref(),
                bundle: self.bundle(),
                verdict: "mask",
                policy: &policies,
                rule: Some(&rule.id),
                action: Some(action_name(&rule.action)),
                mode: Some(Mode::Enforce),
                code: None,
                status: None,
                site: None,
                judge: None,
                judge_outcome: None,
                judge_ms: None,
            };
            self.host
                .log(LogLevel::Debug, &format!("{} masked={count}", audit.line()));
            if !self.masked.contains(&rule.id) {
                self.masked.push(rule.id.clone());
            }
        }
    }

    /// The request is approved: its header plan is applied now, right before it continues.
    fn approve(&mut self) -> Step {
        self.apply_plan();
        if let Some(length) = self.masked_length.take() {
            // A held head has not left yet: it goes with the masked body's length. (One sent
            // ahead lost its `Content-Length` in the headers phase.)
            if held_head(&self.active) {
                let _ = self
                    .host
                    .set_request_header("content-length", &length.to_string());
            }
        }
        self.phase = Phase::Forwarded;
        self.host.count(Counter::Allowed);
        if let (Some(active), Some(selection)) = (&self.active, &self.selection) {
            for name in policy_names(&active.ruleset.program().policies, selection) {
                self.host
                    .count_metric(&Metric::RequestsPassed { policy: name });
            }
        }
        self.set_property(None);
        // The answer is read only when rules scan it or values go back into it.
        if let (Some(active), Some(selection)) = (&self.active, &self.selection) {
            let scanned = active.ruleset.reads_answers(selection);
            if scanned || !self.restore.is_empty() {
                self.answer = Some(Answer::new(scanned));
            }
        }
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

    /// A denial's counters and audit line: the rule's (or the refusal's) counter, names and
    /// codes only.
    fn count_denial(&mut self, denial: &Denial) {
        self.host.count(Counter::Denied);
        let rule = self.active.as_ref().and_then(|active| {
            denial
                .rule
                .as_deref()
                .and_then(|id| find_rule(active.ruleset.program(), id))
                .map(|(_, rule)| rule)
        });
        match (&denial.rule, &denial.judge) {
            (None, _) => self
                .host
                .count_metric(&Metric::Refusal { code: denial.code }),
            // A judge's deny: its rule counted when the judge was asked.
            (Some(_), Some(_)) => {}
            (Some(id), None) => self.host.count_metric(&Metric::RuleMatch {
                policy: &denial.policy,
                rule: id,
                action: rule.map_or("deny", |r| action_name(&r.action)),
                mode: Mode::Enforce,
            }),
        }
        let judged = self
            .last_judge
            .as_ref()
            .filter(|last| denial.judge.as_deref() == Some(last.judge.as_str()));
        // The denial's policy: the rule's, or (a refusal) every selected one.
        let policy = policy_list(&denial.policy);
        let audit = Audit {
            request_id: self.request_id.as_deref(),
            bundle: self.bundle(),
            verdict: if denial.rule.is_some() {
                "deny"
            } else {
                "refuse"
            },
            policy: &policy,
            rule: denial.rule.as_deref(),
            action: rule.map(|r| action_name(&r.action)),
            mode: denial.rule.as_ref().map(|_| Mode::Enforce),
            code: Some(denial.code),
            status: Some(denial.status),
            site: denial.matched.as_ref(),
            judge: denial.judge.as_deref(),
            judge_outcome: judged.map(|j| j.outcome),
            judge_ms: judged.and_then(|j| j.ms),
        };
        self.host.log(LogLevel::Debug, &audit.line());
    }

    /// Answers the client with the denial; the request never goes upstream.
    fn reply(&mut self, denial: &Denial) -> Step {
        self.phase = Phase::Replied;
        self.plan = None;
        self.body = Vec::new();
        if let Some(len) = self.left_in_envoy.take() {
            // A refused body does not stay in Envoy's buffer, even though the local reply ends
            // the stream: nothing of it may be left to reach the upstream.
            let _ = self.host.replace_request_body(len, &[]);
        }
        held::release(self.context_id);
        self.count_denial(denial);
        self.set_property(Some(denial));
        log_denial(&self.host, denial, &self.request_label());
        let context = ReplyContext {
            request_id: self.request_id.as_deref(),
            bundle: self.bundle(),
        };
        if let Err(status) = self.host.send_json(
            denial.status,
            denial.code,
            &denial.body_in(self.shape, &context),
            self.request_id.as_deref(),
        ) {
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

/// Whether the filter holds request heads until the body is decided.
fn held_head(active: &Option<Rc<Active>>) -> bool {
    active.as_ref().is_some_and(|a| a.hold_request_headers)
}

/// The names of the selected policies, in file order.
fn policy_names<'a>(
    policies: &'a [Policy],
    selection: &'a Selection,
) -> impl Iterator<Item = &'a str> + 'a {
    selection
        .policies()
        .iter()
        .filter_map(|&p| policies.get(p))
        .map(|p| p.name.as_str())
}

/// A denial's policy names (`a, b`, as `Ruleset::selection_name` writes them) as the property
/// and the audit line list them: `a,b`, each [`clean`]ed.
fn policy_list(names: &str) -> String {
    comma_list(names.split(", "))
}

/// Names, each [`push_clean`]ed, separated by commas.
fn comma_list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for name in names {
        if !out.is_empty() {
            out.push(',');
        }
        push_clean(&mut out, name);
    }
    out
}

/// ` key=value` onto a line being built (`-` for no value).
fn field(out: &mut String, key: &str, value: Option<&str>) {
    out.push(' ');
    out.push_str(key);
    out.push('=');
    out.push_str(value.filter(|v| !v.is_empty()).unwrap_or("-"));
}

/// The rule with id `id` (unique across policies) and its policy.
fn find_rule<'a>(program: &'a Program, id: &str) -> Option<(&'a Policy, &'a Rule)> {
    program
        .policies
        .iter()
        .find_map(|p| p.rules.iter().find(|r| r.id == id).map(|r| (p, r)))
}

/// The `guard` property: `verdict=allow|deny|refuse policy=P[,P2] rule=R|- mode=enforce|-
/// code=C|-`, then ` monitored=R[,R2]` when monitored rules matched. `deny` is a rule's or a
/// judge's, and names the policy of that rule; `allow` and `refuse` name every selected policy.
/// Names only, never request text.
fn property(selected: &str, denial: Option<&Denial>, monitored: &[String]) -> String {
    let policy = match denial {
        Some(denial) if denial.rule.is_some() => denial.policy.as_str(),
        _ => selected,
    };
    let (verdict, rule, code) = match denial {
        None => ("allow", None, None),
        Some(denial) => (
            if denial.rule.is_some() {
                "deny"
            } else {
                "refuse"
            },
            denial.rule.as_deref(),
            Some(denial.code),
        ),
    };
    let mut value = String::with_capacity(96);
    value.push_str("verdict=");
    value.push_str(verdict);
    field(&mut value, "policy", Some(policy));
    field(&mut value, "rule", rule.map(clean_name).as_deref());
    field(&mut value, "mode", rule.map(|_| Mode::Enforce.name()));
    field(&mut value, "code", code);
    if !monitored.is_empty() {
        field(
            &mut value,
            "monitored",
            Some(&comma_list(monitored.iter().map(String::as_str))),
        );
    }
    value
}

/// A name from the bundle, [`push_clean`]ed.
fn clean_name(name: &str) -> String {
    let mut out = String::new();
    push_clean(&mut out, name);
    out
}

/// How a judge's reply reads, as `guard.judge_calls` counts it.
fn judge_outcome(read: &Result<JudgeVerdict, JudgeFault>) -> JudgeOutcome {
    match read {
        Ok(JudgeVerdict::Allow) => JudgeOutcome::Allow,
        Ok(JudgeVerdict::Deny { .. }) => JudgeOutcome::Deny,
        Err(JudgeFault::Timeout) => JudgeOutcome::Timeout,
        Err(JudgeFault::Failed) => JudgeOutcome::Unreachable,
        Err(JudgeFault::Status(_)) => JudgeOutcome::ErrorStatus,
        Err(_) => JudgeOutcome::NotAVerdict,
    }
}

/// One audit line, for a deny, a refusal or a monitored match, logged at debug level (operators
/// turn it on with Envoy's `--component-log-level wasm:debug` or Istio's
/// `sidecar.istio.io/componentLogLevel: wasm:debug`). Stable `key=value` pairs, in this order:
///
/// `guard-audit v=1 request_id=<id|-> bundle=<digest12> verdict=<deny|refuse|monitor>
/// policy=<P[,P2]> rule=<R|-> action=<deny|escalate|-> mode=<enforce|monitor|-> code=<C|->
/// status=<S|-> segment=<path|-> chars=<start..end|-> judge=<J|-> judge_outcome=<O|->
/// judge_ms=<N|->`
///
/// Where a rule matched comes from its `MatchSite`: the segment's path and character offsets,
/// never the text. A segment path is made of the request's JSON keys, so it is sanitised for the
/// line ([`segment_for_log`]): printable ASCII only, with spaces, `=`, quotes and backslashes
/// (and anything else) replaced by `_`, at most 128 characters. Every other value is a name from
/// the bundle, a fixed word, a number or the sanitised request id.
struct Audit<'a> {
    request_id: Option<&'a str>,
    bundle: &'a str,
    verdict: &'static str,
    policy: &'a str,
    rule: Option<&'a str>,
    action: Option<&'static str>,
    mode: Option<Mode>,
    code: Option<&'a str>,
    status: Option<u16>,
    site: Option<&'a MatchSite>,
    judge: Option<&'a str>,
    judge_outcome: Option<JudgeOutcome>,
    judge_ms: Option<u64>,
}

impl Audit<'_> {
    fn line(&self) -> String {
        let mut out = String::with_capacity(256);
        out.push_str("guard-audit v=1");
        field(&mut out, "request_id", self.request_id);
        field(&mut out, "bundle", Some(self.bundle));
        field(&mut out, "verdict", Some(self.verdict));
        field(&mut out, "policy", Some(self.policy));
        field(&mut out, "rule", self.rule.map(clean_name).as_deref());
        field(&mut out, "action", self.action);
        field(&mut out, "mode", self.mode.map(Mode::name));
        field(&mut out, "code", self.code);
        field(
            &mut out,
            "status",
            self.status.map(|s| s.to_string()).as_deref(),
        );
        field(&mut out, "segment", self.site.map(segment_of).as_deref());
        field(
            &mut out,
            "chars",
            self.site
                .map(|s| format!("{}..{}", s.start, s.end))
                .as_deref(),
        );
        field(&mut out, "judge", self.judge.map(clean_name).as_deref());
        field(
            &mut out,
            "judge_outcome",
            self.judge_outcome.map(JudgeOutcome::name),
        );
        field(
            &mut out,
            "judge_ms",
            self.judge_ms.map(|ms| ms.to_string()).as_deref(),
        );
        out
    }
}

/// Where a match is, for a log line: the path of an API prompt field (its keys are the API's,
/// `messages[0].content`), else only the segment's position (`field#7`, `envelope#2`): the keys
/// of other fields are the client's and may carry the very text a log must not hold.
fn segment_of(site: &guard_engine::MatchSite) -> String {
    match site.origin {
        guard_engine::Origin::Prompt => segment_for_log(&site.segment),
        guard_engine::Origin::Envelope => format!("envelope#{}", site.index),
        // A field, or an origin a later engine adds: its keys are the client's.
        _ => format!("field#{}", site.index),
    }
}

/// A segment path (built from the request's JSON keys) made safe for one `key=value` of a log
/// line: printable ASCII other than space, `=`, quotes and backslash kept, anything else `_`, at
/// most [`MAX_SEGMENT`] characters (an empty path is written `-`).
fn segment_for_log(path: &str) -> String {
    path.chars()
        .take(MAX_SEGMENT)
        .map(|c| {
            if c.is_ascii_graphic() && !matches!(c, '=' | '"' | '\'' | '\\' | '`') {
                c
            } else {
                '_'
            }
        })
        .collect()
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
    host.count_metric(&Metric::Refusal { code: denial.code });
    let policy = policy_list(&denial.policy);
    let audit = Audit {
        request_id: stalled.request_id.as_deref(),
        bundle: &stalled.bundle,
        verdict: "refuse",
        policy: &policy,
        rule: None,
        action: None,
        mode: None,
        code: Some(denial.code),
        status: Some(denial.status),
        site: None,
        judge: None,
        judge_outcome: None,
        judge_ms: None,
    };
    host.log(LogLevel::Debug, &audit.line());
    host.set_guard_property(&property(&policy, Some(&denial), &[]));
    log_denial(host, &denial, &stalled.label);
    let context = ReplyContext {
        request_id: stalled.request_id.as_deref(),
        bundle: &stalled.bundle,
    };
    let _ = host.send_json(
        denial.status,
        denial.code,
        &denial.body_in(stalled.shape, &context),
        stalled.request_id.as_deref(),
    );
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

    fn on_http_response_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        self.on_answer_headers(end_of_stream)
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        self.on_answer_body(body_size, end_of_stream)
    }

    fn on_http_response_trailers(&mut self, _num_trailers: usize) -> Action {
        self.on_answer_trailers()
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
    fn segment_paths_are_sanitised_for_the_audit_line() {
        assert_eq!(
            segment_for_log("messages[0].content"),
            "messages[0].content"
        );
        assert_eq!(segment_for_log("a b=\"c'\\d\u{e9}\n"), "a_b__c__d__");
        assert_eq!(segment_for_log(&"k".repeat(500)).len(), MAX_SEGMENT);
        assert_eq!(segment_for_log(""), "");
    }
}
