//! The phase machine against a recording host: what the upstream and the client would see for
//! each path through headers → body → judge → exactly one of resume or local reply.
//!
//! The invariants checked on every path: nothing of a request reaches the upstream before it is
//! approved (a held head gets its injected key only on approval, a denied body leaves Envoy's
//! buffer empty), a request ends in exactly one of "continue" or one local reply, and nothing
//! happens after a local reply.

use std::rc::Rc;

use guard_engine::ir::{
    Endpoint, HeaderOp, HostPattern, Judge, Mask, MaskPart, Mode, OnError, Patterns, Policy,
    Program, Rule, RuleAction, Template, TemplatePart,
};
use guard_engine::{Code, CompileOptions, Ruleset, Secrets, DEFAULT_MAX_BODY_BYTES};
use proxy_wasm::traits::HttpContext as _;
use proxy_wasm::types::Action;
use proxy_wasm::types::LogLevel;

use super::Request;
use crate::host::fake::{Event, FakeHost};
use crate::host::Counter;
use crate::root::Active;

const PLAIN: &str = "api.plain.test";
const JUDGED: &str = "api.judged.test";
const WATCHED: &str = "api.watched.test";
const MASKED: &str = "api.masked.test";
const KEY: &str = "sk-injected";

fn text(value: &str) -> TemplatePart {
    TemplatePart::Text(value.to_owned())
}

fn deny_rule() -> Rule {
    Rule {
        id: "codename".to_owned(),
        reason: Some("codenames stay inside".to_owned()),
        mode: Default::default(),
        action: RuleAction::Deny(Patterns {
            keywords: vec!["Project Atlas".to_owned()],
            ..Patterns::default()
        }),
    }
}

fn policy(name: &str, host: &str, rules: Vec<Rule>) -> Policy {
    Policy {
        name: name.to_owned(),
        hosts: vec![HostPattern::Exact(host.to_owned())],
        path_prefix: None,
        headers: vec![
            HeaderOp::Remove {
                name: "x-api-key".to_owned(),
            },
            HeaderOp::Set {
                name: "authorization".to_owned(),
                value: Template {
                    parts: vec![text("Bearer "), TemplatePart::Secret("key".to_owned())],
                },
            },
        ],
        rules,
    }
}

/// Two policies: one that only denies, one whose every request with text goes to a judge that
/// fails closed.
fn ruleset() -> Rc<Ruleset> {
    let endpoint = Endpoint {
        url: "http://judge.test/v1/chat/completions".to_owned(),
        authority: "judge.test".to_owned(),
        host: "judge.test".to_owned(),
        port: 80,
        path: "/v1/chat/completions".to_owned(),
    };
    let program = Program {
        policies: vec![
            policy("plain", PLAIN, vec![deny_rule()]),
            policy(
                "judged",
                JUDGED,
                vec![
                    deny_rule(),
                    Rule {
                        id: "confidential".to_owned(),
                        reason: None,
                        mode: Default::default(),
                        action: RuleAction::Escalate {
                            judge: 0,
                            when: None,
                        },
                    },
                ],
            ),
            policy(
                "masked",
                MASKED,
                vec![
                    Rule {
                        id: "phone".to_owned(),
                        reason: None,
                        mode: Mode::Enforce,
                        action: RuleAction::Mask(Mask {
                            patterns: Patterns {
                                regexes: vec!["1[3-9][0-9]{9}".to_owned()],
                                ..Patterns::default()
                            },
                            with: vec![
                                MaskPart::Text("[PHONE_".to_owned()),
                                MaskPart::Number,
                                MaskPart::Text("]".to_owned()),
                            ],
                            restore: true,
                        }),
                    },
                    Rule {
                        id: "answer-key".to_owned(),
                        reason: Some("the answer carries a key".to_owned()),
                        mode: Mode::Enforce,
                        action: RuleAction::Deny(Patterns {
                            keywords: vec!["AKIAEXAMPLEKEY".to_owned()],
                            on_response: true,
                            ..Patterns::default()
                        }),
                    },
                ],
            ),
            policy(
                "watched",
                WATCHED,
                vec![Rule {
                    id: "atlas-watch".to_owned(),
                    mode: Mode::Monitor,
                    ..deny_rule()
                }],
            ),
        ],
        judges: vec![Judge {
            name: "privacy".to_owned(),
            cluster: "judge".to_owned(),
            endpoint,
            model: "m".to_owned(),
            api_key: Template {
                parts: vec![text("judge-key")],
            },
            timeout_ms: 3000,
            on_error: OnError::Deny,
            prompt: Template {
                parts: vec![text("Review: "), TemplatePart::Content],
            },
        }],
    };
    let compiled = guard_engine::compile(&program, &CompileOptions::default()).unwrap();
    Rc::new(Ruleset::from_bytes(&compiled.bytes).unwrap())
}

fn active(hold: bool) -> Rc<Active> {
    Rc::new(Active {
        ruleset: ruleset(),
        secrets: Secrets::from([("key".to_owned(), KEY.to_owned())]),
        hold_request_headers: hold,
    })
}

fn post(host: &str) -> FakeHost {
    FakeHost::new(&[
        (":method", "POST"),
        (":authority", host),
        (":path", "/v1/chat/completions"),
        ("content-type", "application/json"),
        ("x-api-key", "client-key"),
    ])
}

fn chat(content: &str) -> Vec<u8> {
    format!(r#"{{"model":"m","messages":[{{"role":"user","content":"{content}"}}]}}"#).into_bytes()
}

fn request(host: FakeHost, hold: bool) -> Request<FakeHost> {
    Request::new(host, 7, Some(active(hold)))
}

/// Delivers `body` in `chunks` pieces, as Envoy would, and returns the last callback's action.
fn send_body(request: &mut Request<FakeHost>, body: &[u8], chunks: usize) -> Action {
    let size = body.len().div_ceil(chunks.max(1)).max(1);
    let pieces: Vec<&[u8]> = body.chunks(size).collect();
    let mut last = Action::Continue;
    for (n, piece) in pieces.iter().enumerate() {
        let held = request.host.arrive(piece);
        let end = n + 1 == pieces.len();
        last = request.on_body(held, end);
        if !end {
            assert_eq!(last, Action::Pause, "chunk {n} continued before the end");
            assert!(
                request.host.buffer.borrow().is_empty(),
                "chunk {n} was left in Envoy's buffer"
            );
        }
    }
    last
}

fn replies(events: &[Event]) -> Vec<(u16, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Reply { status, code, .. } => Some((*status, code.clone())),
            _ => None,
        })
        .collect()
}

fn header_changes(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, Event::SetHeader(..) | Event::RemoveHeader(_)))
        .count()
}

/// A request that was answered locally: one reply, no header change, no resume, no body left
/// for the upstream.
fn assert_replied(request: &Request<FakeHost>, status: u16, code: Code) {
    let events = request.host.events();
    assert_eq!(
        replies(&events),
        [(status, code.as_str().to_owned())],
        "{events:?}"
    );
    assert_eq!(header_changes(&events), 0, "{events:?}");
    assert!(!events.contains(&Event::Resume), "{events:?}");
    assert!(request.host.buffer.borrow().is_empty());
}

/// The injected key replaced the client's, in the policy's order.
fn assert_plan_applied(events: &[Event]) {
    let changes: Vec<&Event> = events
        .iter()
        .filter(|e| matches!(e, Event::SetHeader(..) | Event::RemoveHeader(_)))
        .collect();
    assert_eq!(
        changes,
        [
            &Event::RemoveHeader("x-api-key".to_owned()),
            &Event::SetHeader("authorization".to_owned(), format!("Bearer {KEY}")),
        ]
    );
}

#[test]
fn a_held_head_gets_its_key_only_when_the_body_is_approved() {
    let mut request = request(post(PLAIN), true);
    assert_eq!(request.on_headers(false), Action::Pause);
    assert!(
        request.host.events().is_empty(),
        "the held head was changed"
    );
    let body = chat("hello there, a harmless question");
    assert_eq!(send_body(&mut request, &body, 3), Action::Continue);
    // The whole body is back in Envoy's buffer for the upstream, byte for byte.
    assert_eq!(*request.host.buffer.borrow(), body);
    let events = request.host.events();
    assert_plan_applied(&events);
    assert!(replies(&events).is_empty());
    assert!(events.contains(&Event::Count(Counter::Allowed)));
}

#[test]
fn a_denied_body_never_reaches_the_upstream() {
    let mut request = request(post(PLAIN), true);
    assert_eq!(request.on_headers(false), Action::Pause);
    let body = chat("the Project Atlas launch date");
    assert_eq!(send_body(&mut request, &body, 4), Action::Pause);
    assert_replied(&request, 403, Code::RuleDenied);
    let Some(Event::Reply { body, .. }) = request
        .host
        .events()
        .into_iter()
        .find(|e| matches!(e, Event::Reply { .. }))
    else {
        panic!("no reply");
    };
    assert!(body.contains("codename"), "{body}");
    assert!(
        !body.contains("Atlas"),
        "the denial quotes the request: {body}"
    );
    // Whatever Envoy delivers afterwards stays paused and changes nothing.
    let before = request.host.events().len();
    let held = request.host.arrive(b"more");
    assert_eq!(request.on_body(held, true), Action::Pause);
    assert_eq!(request.on_http_request_trailers(0), Action::Pause);
    assert_eq!(request.host.events().len(), before);
}

#[test]
fn without_hold_the_key_goes_with_the_head() {
    let mut request = request(post(PLAIN), false);
    assert_eq!(request.on_headers(false), Action::Continue);
    assert_plan_applied(&request.host.events());
    let body = chat("fine");
    assert_eq!(send_body(&mut request, &body, 1), Action::Continue);
    assert_eq!(*request.host.buffer.borrow(), body);
    // Applied once, not again on approval.
    assert_eq!(header_changes(&request.host.events()), 2);
}

#[test]
fn a_request_without_a_body_is_approved_at_its_head() {
    let mut request = request(post(PLAIN), true);
    assert_eq!(request.on_headers(true), Action::Continue);
    assert_plan_applied(&request.host.events());
}

#[test]
fn a_request_no_policy_selects_is_untouched() {
    let mut request = request(post("api.other.test"), true);
    assert_eq!(request.on_headers(false), Action::Continue);
    let held = request.host.arrive(&chat("Project Atlas"));
    assert_eq!(request.on_body(held, true), Action::Continue);
    assert!(request.host.events().is_empty());
    assert_eq!(*request.host.buffer.borrow(), chat("Project Atlas"));
}

#[test]
fn a_refused_head_is_answered_before_any_header_changes() {
    let mut host = post(PLAIN);
    host.headers
        .extend([("upgrade".to_owned(), "websocket".to_owned())]);
    host.headers
        .extend([("connection".to_owned(), "upgrade".to_owned())]);
    let mut request = request(host, true);
    assert_eq!(request.on_headers(false), Action::Pause);
    assert_replied(&request, 400, Code::UpgradeRefused);
}

#[test]
fn a_body_past_the_limit_is_refused_without_keeping_it() {
    let mut request = request(post(PLAIN), true);
    assert_eq!(request.on_headers(false), Action::Pause);
    let held = request
        .host
        .arrive(&vec![b' '; DEFAULT_MAX_BODY_BYTES + 10]);
    // Past the limit the filter decides without waiting for the end of the stream.
    assert_eq!(request.on_body(held, false), Action::Pause);
    assert_replied(&request, 413, Code::BodyTooLarge);
}

#[test]
fn a_body_the_proxy_will_not_hand_over_is_refused() {
    let mut request = request(post(PLAIN), true);
    assert_eq!(request.on_headers(false), Action::Pause);
    let held = request.host.arrive(&chat("fine"));
    request.host.body_fails.set(true);
    assert_eq!(request.on_body(held, true), Action::Pause);
    let events = request.host.events();
    assert_eq!(
        replies(&events),
        [(500, Code::InternalError.as_str().to_owned())]
    );
    assert_eq!(header_changes(&events), 0);
}

#[test]
fn an_unconfigured_filter_fails_closed() {
    let mut request = Request::new(post(PLAIN), 7, None);
    assert_eq!(request.on_headers(false), Action::Pause);
    assert_replied(&request, 503, Code::NotConfigured);
}

const QUESTION: &str = "is this confidential?";

/// Starts a judged request and returns it waiting for the judge's answer to call 1.
fn judging() -> Request<FakeHost> {
    let mut request = request(post(JUDGED), true);
    assert_eq!(request.on_headers(false), Action::Pause);
    let body = chat(QUESTION);
    assert_eq!(send_body(&mut request, &body, 2), Action::Pause);
    let events = request.host.events();
    let dispatched: Vec<&Event> = events
        .iter()
        .filter(|e| matches!(e, Event::Dispatch { .. }))
        .collect();
    assert_eq!(dispatched.len(), 1, "{events:?}");
    let Some(Event::Dispatch { cluster, body }) = dispatched.first() else {
        panic!("no judge call");
    };
    assert_eq!(cluster, "judge");
    assert!(body.contains(QUESTION), "{body}");
    // Waiting for the verdict: no key yet, no resume, no reply; the body is already back in
    // Envoy's buffer (see `on_body_complete`), held there by the pause.
    assert_eq!(header_changes(&events), 0);
    assert!(replies(&events).is_empty());
    assert!(!events.contains(&Event::Resume));
    assert_eq!(*request.host.buffer.borrow(), chat(QUESTION));
    request
}

fn answer(request: &mut Request<FakeHost>, token: u32, status: u16, verdict: &str) {
    request.host.judge_status.set(Some(status));
    let completion = serde_json::json!({
        "choices": [{"message": {"role": "assistant", "content": verdict}}]
    });
    let bytes = completion.to_string().into_bytes();
    let len = bytes.len();
    *request.host.judge_body.borrow_mut() = bytes;
    request.on_judge_response(token, 3, len);
}

fn resumes(events: &[Event]) -> usize {
    events.iter().filter(|e| **e == Event::Resume).count()
}

#[test]
fn a_judges_allow_resumes_exactly_once_with_the_key() {
    let mut request = judging();
    answer(&mut request, 1, 200, r#"{"result": "allow"}"#);
    let events = request.host.events();
    assert_eq!(resumes(&events), 1, "{events:?}");
    assert!(replies(&events).is_empty());
    assert_plan_applied(&events);
    // The key is set before the request resumes.
    let set = events
        .iter()
        .position(|e| matches!(e, Event::SetHeader(..)));
    let resumed = events.iter().position(|e| *e == Event::Resume);
    assert!(set < resumed, "{events:?}");
}

#[test]
fn a_judges_deny_is_the_only_ending() {
    let mut request = judging();
    answer(
        &mut request,
        1,
        200,
        r#"{"result": "deny", "reason": "internal roadmap"}"#,
    );
    let events = request.host.events();
    assert_eq!(
        replies(&events),
        [(403, Code::JudgeDenied.as_str().to_owned())]
    );
    assert_eq!(resumes(&events), 0);
    assert_eq!(header_changes(&events), 0);
    // A second answer (which Envoy never sends) changes nothing.
    answer(&mut request, 1, 200, r#"{"result": "allow"}"#);
    assert_eq!(request.host.events(), events);
}

#[test]
fn a_judge_that_answers_no_verdict_fails_closed() {
    for (status, verdict) in [(200, "I think it is fine"), (500, "{}")] {
        let mut request = judging();
        answer(&mut request, 1, status, verdict);
        let events = request.host.events();
        assert_eq!(
            replies(&events),
            [(503, Code::JudgeUnavailable.as_str().to_owned())],
            "{status}: {events:?}"
        );
        assert_eq!(resumes(&events), 0);
        assert!(events.contains(&Event::Count(Counter::JudgeErrors)));
    }
}

#[test]
fn an_answer_to_another_call_is_ignored() {
    let mut request = judging();
    let before = request.host.events();
    answer(&mut request, 99, 200, r#"{"result": "allow"}"#);
    assert_eq!(request.host.events(), before);
    // The awaited answer still settles it.
    answer(&mut request, 1, 200, r#"{"result": "allow"}"#);
    assert_eq!(resumes(&request.host.events()), 1);
}

#[test]
fn a_judge_call_that_cannot_be_sent_fails_closed_at_once() {
    let mut request = request(post(JUDGED), true);
    request.host.dispatch_fails.set(true);
    assert_eq!(request.on_headers(false), Action::Pause);
    assert_eq!(send_body(&mut request, &chat("question"), 1), Action::Pause);
    let events = request.host.events();
    assert_eq!(
        replies(&events),
        [(503, Code::JudgeUnavailable.as_str().to_owned())],
        "{events:?}"
    );
    assert_eq!(resumes(&events), 0);
    assert_eq!(header_changes(&events), 0);
}

#[test]
fn a_deny_rule_wins_before_the_judge_is_asked() {
    let mut request = request(post(JUDGED), true);
    assert_eq!(request.on_headers(false), Action::Pause);
    assert_eq!(
        send_body(&mut request, &chat("Project Atlas"), 1),
        Action::Pause
    );
    assert_replied(&request, 403, Code::RuleDenied);
    assert!(!request
        .host
        .events()
        .iter()
        .any(|e| matches!(e, Event::Dispatch { .. })));
}

/// The body of the one local reply of `request`.
fn reply_body(request: &Request<FakeHost>) -> serde_json::Value {
    let events = request.host.events();
    let Some(Event::Reply { body, .. }) = events.iter().find(|e| matches!(e, Event::Reply { .. }))
    else {
        panic!("no reply: {events:?}");
    };
    serde_json::from_str(body).unwrap()
}

fn post_to(host: &str, path: &str) -> FakeHost {
    let mut fake = post(host);
    for (name, value) in &mut fake.headers {
        if name == ":path" {
            *value = path.to_owned();
        }
    }
    fake
}

#[test]
fn every_reply_takes_the_error_shape_of_the_requests_api() {
    // A rule's deny on Anthropic's path.
    let mut r = request(post_to(PLAIN, "/v1/messages"), true);
    assert_eq!(r.on_headers(false), Action::Pause);
    send_body(&mut r, &chat("Project Atlas"), 1);
    let body = reply_body(&r);
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "permission_error");
    assert_eq!(body["error"]["code"], Code::RuleDenied.as_str());

    // A refused head on Gemini's path: shaped before any policy work.
    let mut host = post_to(PLAIN, "/v1beta/models/g:generateContent");
    host.headers
        .extend([("upgrade".to_owned(), "websocket".to_owned())]);
    let mut r = request(host, true);
    assert_eq!(r.on_headers(false), Action::Pause);
    let body = reply_body(&r);
    assert_eq!(body["error"]["code"], 400);
    assert_eq!(body["error"]["status"], "INVALID_ARGUMENT");
    assert_eq!(
        body["error"]["details"][0]["reason"],
        Code::UpgradeRefused.as_str()
    );

    // A judge outage on DashScope's native path: 503, guard's code as DashScope's `code`.
    let mut r = request(
        post_to(JUDGED, "/api/v1/services/aigc/text-generation/generation"),
        true,
    );
    r.host.dispatch_fails.set(true);
    assert_eq!(r.on_headers(false), Action::Pause);
    send_body(&mut r, &chat("question"), 1);
    assert_eq!(
        replies(&r.host.events()),
        [(503, Code::JudgeUnavailable.as_str().to_owned())]
    );
    assert_eq!(reply_body(&r)["code"], Code::JudgeUnavailable.as_str());

    // OpenAI's shape for everything else.
    let mut r = request(post(PLAIN), true);
    assert_eq!(r.on_headers(false), Action::Pause);
    send_body(&mut r, &chat("Project Atlas"), 1);
    assert_eq!(reply_body(&r)["error"]["type"], "policy_violation");
}

// Telemetry: metrics by exact name, the `guard` property, the audit line.

/// The labelled counters `request` counted, in order.
fn metrics(request: &Request<FakeHost>) -> Vec<String> {
    request.host.metrics.borrow().clone()
}

/// The debug-level audit lines.
fn audit_lines(request: &Request<FakeHost>) -> Vec<String> {
    request
        .host
        .logs
        .borrow()
        .iter()
        .filter(|(level, line)| *level == LogLevel::Debug && line.starts_with("guard-audit "))
        .map(|(_, line)| line.clone())
        .collect()
}

fn with_id(mut host: FakeHost, id: &str) -> FakeHost {
    host.headers
        .push(("x-request-id".to_owned(), id.to_owned()));
    host
}

fn digest12(request: &Request<FakeHost>) -> String {
    request
        .active
        .as_ref()
        .unwrap()
        .ruleset
        .digest12()
        .to_owned()
}

#[test]
fn a_deny_counts_the_rules_enforced_series_and_never_passes() {
    let mut request = request(with_id(post(PLAIN), "req-9 \"x\""), true);
    assert_eq!(request.on_headers(false), Action::Pause);
    send_body(&mut request, &chat("the Project Atlas launch date"), 2);
    assert_replied(&request, 403, Code::RuleDenied);
    assert_eq!(
        metrics(&request),
        [
            "guard.requests_seen.policy=plain",
            "guard.rule_matches.policy=plain.rule=codename.action=deny.mode=enforce",
        ]
    );
    assert_eq!(
        *request.host.property.borrow(),
        ["verdict=deny policy=plain rule=codename mode=enforce code=guard.rule_denied"]
    );
    let bundle = digest12(&request);
    assert_eq!(bundle.len(), 12);
    assert_eq!(
        audit_lines(&request),
        [format!(
            "guard-audit v=1 request_id=req-9x bundle={bundle} verdict=deny policy=plain rule=codename action=deny mode=enforce code=guard.rule_denied status=403 segment=messages[0].content chars=4..17 judge=- judge_outcome=- judge_ms=-"
        )]
    );
    // The reply names the request (sanitised) and the bundle, in its body and a header.
    let events = request.host.events();
    let Some(Event::Reply { request_id, .. }) =
        events.iter().find(|e| matches!(e, Event::Reply { .. }))
    else {
        panic!("no reply");
    };
    assert_eq!(request_id.as_deref(), Some("req-9x"));
    let body = reply_body(&request);
    assert_eq!(body["error"]["request_id"], "req-9x");
    assert_eq!(body["error"]["bundle"], bundle.as_str());
    // No log line quotes the request.
    for (_, line) in request.host.logs.borrow().iter() {
        assert!(!line.contains("Atlas"), "{line}");
    }
}

#[test]
fn an_allowed_request_passes_and_has_no_request_id_header_without_one() {
    let mut request = request(post(PLAIN), true);
    assert_eq!(request.on_headers(false), Action::Pause);
    send_body(&mut request, &chat("harmless"), 1);
    assert_eq!(
        metrics(&request),
        [
            "guard.requests_seen.policy=plain",
            "guard.requests_passed.policy=plain",
        ]
    );
    assert_eq!(
        *request.host.property.borrow(),
        ["verdict=allow policy=plain rule=- mode=- code=-"]
    );
    assert!(audit_lines(&request).is_empty());

    // A refusal's body carries a null request id, and no header is added.
    let mut request = super::Request::new(post(PLAIN), 7, Some(active(true)));
    assert_eq!(request.on_headers(false), Action::Pause);
    send_body(&mut request, b"{not json", 1);
    let events = request.host.events();
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Reply {
            request_id: None,
            ..
        }
    )));
    assert!(reply_body(&request)["error"]["request_id"].is_null());
}

#[test]
fn a_monitored_match_is_counted_audited_and_passes() {
    let mut request = request(with_id(post(WATCHED), "m-1"), true);
    assert_eq!(request.on_headers(false), Action::Pause);
    assert_eq!(
        send_body(&mut request, &chat("the Project Atlas launch date"), 1),
        Action::Continue
    );
    assert_eq!(
        metrics(&request),
        [
            "guard.requests_seen.policy=watched",
            "guard.rule_matches.policy=watched.rule=atlas-watch.action=deny.mode=monitor",
            "guard.requests_passed.policy=watched",
        ]
    );
    assert_eq!(
        *request.host.property.borrow(),
        ["verdict=allow policy=watched rule=- mode=- code=- monitored=atlas-watch"]
    );
    let bundle = digest12(&request);
    assert_eq!(
        audit_lines(&request),
        [format!(
            "guard-audit v=1 request_id=m-1 bundle={bundle} verdict=monitor policy=watched rule=atlas-watch action=deny mode=monitor code=guard.rule_denied status=- segment=messages[0].content chars=4..17 judge=- judge_outcome=- judge_ms=-"
        )]
    );
}

const JUDGE_RULE: &str =
    "guard.rule_matches.policy=judged.rule=confidential.action=escalate.mode=enforce";

#[test]
fn judge_calls_are_counted_by_outcome_with_their_latency() {
    for (status, verdict, outcome) in [
        (200, r#"{"result": "allow"}"#, "allow"),
        (200, r#"{"result": "deny", "reason": "no"}"#, "deny"),
        (500, "{}", "error_status"),
        (200, "not a verdict", "not_a_verdict"),
    ] {
        let mut request = judging();
        request.host.clock.set(250_000_000);
        answer(&mut request, 1, status, verdict);
        let judge_calls = format!("guard.judge_calls.judge=privacy.outcome={outcome}");
        let mut expected = vec![
            "guard.requests_seen.policy=judged",
            JUDGE_RULE,
            judge_calls.as_str(),
        ];
        if outcome == "allow" {
            expected.push("guard.requests_passed.policy=judged");
        }
        assert_eq!(metrics(&request), expected, "{outcome}");
        assert_eq!(
            *request.host.recorded.borrow(),
            [("guard.judge_latency_ms.judge=privacy".to_owned(), 250)],
            "{outcome}"
        );
        if outcome != "allow" {
            let audit = audit_lines(&request);
            assert_eq!(audit.len(), 1, "{audit:?}");
            assert!(
                audit[0]
                    .contains(" rule=confidential action=escalate mode=enforce code=guard.judge_")
                    && audit[0].ends_with(&format!(
                        " segment=- chars=- judge=privacy judge_outcome={outcome} judge_ms=250"
                    )),
                "{audit:?}"
            );
        }
    }
}

#[test]
fn a_judge_call_that_cannot_be_sent_counts_as_unreachable() {
    let mut request = request(post(JUDGED), true);
    request.host.dispatch_fails.set(true);
    assert_eq!(request.on_headers(false), Action::Pause);
    send_body(&mut request, &chat("question"), 1);
    assert_eq!(
        metrics(&request),
        [
            "guard.requests_seen.policy=judged",
            JUDGE_RULE,
            "guard.judge_calls.judge=privacy.outcome=unreachable",
        ]
    );
    // Never answered: no latency.
    assert!(request.host.recorded.borrow().is_empty());
    assert_eq!(
        *request.host.property.borrow(),
        ["verdict=deny policy=judged rule=confidential mode=enforce code=guard.judge_unavailable"]
    );
    let audit = audit_lines(&request);
    assert!(
        audit[0].ends_with(" judge=privacy judge_outcome=unreachable judge_ms=-"),
        "{audit:?}"
    );
}

#[test]
fn refusals_are_counted_by_code() {
    let mut host = post(PLAIN);
    host.headers
        .extend([("upgrade".to_owned(), "websocket".to_owned())]);
    let mut request = request(host, true);
    assert_eq!(request.on_headers(false), Action::Pause);
    assert_eq!(metrics(&request), ["guard.refusals.code=upgrade_refused"]);
    let property = request.host.property.borrow().clone();
    assert_eq!(property.len(), 1);
    assert!(
        property[0].starts_with("verdict=refuse policy=")
            && property[0].ends_with(" rule=- mode=- code=guard.upgrade_refused"),
        "{property:?}"
    );

    let mut request = super::Request::new(post(PLAIN), 7, Some(active(true)));
    assert_eq!(request.on_headers(false), Action::Pause);
    send_body(&mut request, b"{not json", 1);
    assert_eq!(
        metrics(&request),
        [
            "guard.requests_seen.policy=plain",
            "guard.refusals.code=malformed_json",
        ]
    );
    let bundle = digest12(&request);
    assert_eq!(
        audit_lines(&request),
        [format!(
            "guard-audit v=1 request_id=- bundle={bundle} verdict=refuse policy=plain rule=- action=- mode=- code=guard.malformed_json status=400 segment=- chars=- judge=- judge_outcome=- judge_ms=-"
        )]
    );
}

#[test]
fn every_series_is_defined_from_the_bundle() {
    let ruleset = ruleset();
    let names: Vec<String> = crate::host::bundle_metrics(ruleset.program(), ruleset.digest12())
        .iter()
        .map(|m| m.name())
        .collect();
    for expected in [
        format!("guard.bundle_info.bundle={}", ruleset.digest12()),
        "guard.requests_seen.policy=plain".to_owned(),
        "guard.requests_passed.policy=watched".to_owned(),
        "guard.rule_matches.policy=plain.rule=codename.action=deny.mode=enforce".to_owned(),
        "guard.rule_matches.policy=watched.rule=atlas-watch.action=deny.mode=monitor".to_owned(),
        JUDGE_RULE.to_owned(),
        "guard.judge_calls.judge=privacy.outcome=timeout".to_owned(),
        "guard.judge_latency_ms.judge=privacy".to_owned(),
        "guard.refusals.code=hold_unsupported".to_owned(),
        "guard.refusals.code=malformed_json".to_owned(),
    ] {
        assert!(names.contains(&expected), "{expected} not in {names:?}");
    }
    assert!(!names.iter().any(|n| n.contains("rule_denied")));
    // Every name is one dotted path of clean segments.
    for name in &names {
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-=".contains(c)),
            "{name}"
        );
    }
}

#[test]
fn a_stalled_held_request_is_counted_as_a_refusal() {
    let host = FakeHost::new(&[]);
    let stalled = crate::held::Held {
        since: 0,
        policy: "plain".to_owned(),
        label: "s-1".to_owned(),
        shape: guard_engine::ErrorShape::default(),
        request_id: Some("s-1".to_owned()),
        bundle: "0123456789ab".to_owned(),
    };
    super::refuse_stalled(&host, 7, &stalled);
    assert_eq!(
        *host.metrics.borrow(),
        ["guard.refusals.code=hold_unsupported"]
    );
    assert_eq!(
        *host.property.borrow(),
        ["verdict=refuse policy=plain rule=- mode=- code=guard.hold_unsupported"]
    );
    let events = host.events();
    let Some(Event::Reply {
        status,
        body,
        request_id,
        ..
    }) = events.iter().find(|e| matches!(e, Event::Reply { .. }))
    else {
        panic!("no reply: {events:?}");
    };
    assert_eq!(*status, 500);
    assert_eq!(request_id.as_deref(), Some("s-1"));
    let body: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["error"]["bundle"], "0123456789ab");
    assert!(host.logs.borrow().iter().any(|(level, line)| *level == LogLevel::Debug
        && line.starts_with("guard-audit v=1 request_id=s-1 bundle=0123456789ab verdict=refuse policy=plain rule=- action=- mode=- code=guard.hold_unsupported status=500 ")));
}

#[test]
fn an_audit_line_never_shows_a_key_the_client_chose() {
    let mut request = request(post(PLAIN), true);
    assert_eq!(request.on_headers(false), Action::Pause);
    // The match sits under a key whose name is itself confidential text.
    let body = br#"{"model":"m","messages":[{"role":"user","content":"hi"}],"metadata":{"merger with globex":"Project Atlas"}}"#;
    assert_eq!(send_body(&mut request, body, 1), Action::Pause);
    let lines = audit_lines(&request);
    let [line] = lines.as_slice() else {
        panic!("one audit line: {lines:?}");
    };
    assert!(line.contains(" segment=field#"), "{line}");
    assert!(
        !line.contains("merger") && !line.contains("globex"),
        "{line}"
    );
}

#[test]
fn a_masked_body_goes_upstream_with_its_own_length() {
    // One callback (the body stays in Envoy's buffer and is replaced) and three (moved out).
    for chunks in [1, 3] {
        masked_body_goes_upstream_in(chunks);
    }
}

fn masked_body_goes_upstream_in(chunks: usize) {
    let mut request = request(post(MASKED), true);
    assert_eq!(request.on_headers(false), Action::Pause);
    let body = chat("call 13812345678 or 13812345678");
    assert_eq!(send_body(&mut request, &body, chunks), Action::Continue);
    let forwarded = chat("call [PHONE_1] or [PHONE_1]");
    assert_eq!(*request.host.buffer.borrow(), forwarded);
    let events = request.host.events();
    assert!(
        events.contains(&Event::SetHeader(
            "content-length".to_owned(),
            forwarded.len().to_string()
        )),
        "{events:?}"
    );
    assert!(replies(&events).is_empty());
    let property = request.host.property.borrow().join("\n");
    assert!(
        property.contains("verdict=allow") && property.contains("masked=phone"),
        "{property}"
    );
    let audit = request.host.logs.borrow().iter().any(|(_, line)| {
        line.contains("verdict=mask") && line.contains("masked=2") && !line.contains("13812345678")
    });
    assert!(audit, "{:?}", request.host.logs.borrow());
}

#[test]
fn a_head_sent_ahead_of_a_maskable_body_loses_its_length() {
    let mut request = request(post(MASKED), false);
    assert_eq!(request.on_headers(false), Action::Continue);
    assert_eq!(
        request.host.events().first(),
        Some(&Event::RemoveHeader("content-length".to_owned()))
    );
    let body = chat("call 13812345678");
    assert_eq!(send_body(&mut request, &body, 2), Action::Continue);
    assert_eq!(*request.host.buffer.borrow(), chat("call [PHONE_1]"));
}

#[test]
fn the_answer_gets_the_values_back_even_split_across_chunks() {
    let mut host = post(MASKED);
    host.response_headers = vec![
        (":status".to_owned(), "200".to_owned()),
        ("content-type".to_owned(), "application/json".to_owned()),
        ("content-length".to_owned(), "99".to_owned()),
    ];
    let mut request = request(host, true);
    assert_eq!(request.on_headers(false), Action::Pause);
    send_body(&mut request, &chat("call 13812345678"), 1);
    // The policy also scans answers: the head is held until the answer is decided.
    assert_eq!(request.on_http_response_headers(3, false), Action::Pause);
    assert!(request
        .host
        .events()
        .contains(&Event::RemoveResponseHeader("content-length".to_owned())));
    let answer = br#"{"choices":[{"message":{"content":"I will call [PHONE_1] today."}}]}"#;
    let (first, second) = answer.split_at(45);
    request
        .host
        .response_buffer
        .borrow_mut()
        .extend_from_slice(first);
    assert_eq!(
        request.on_http_response_body(first.len(), false),
        Action::Pause
    );
    assert!(request.host.response_buffer.borrow().is_empty());
    request
        .host
        .response_buffer
        .borrow_mut()
        .extend_from_slice(second);
    assert_eq!(
        request.on_http_response_body(second.len(), true),
        Action::Continue
    );
    assert_eq!(
        String::from_utf8(request.host.response_buffer.borrow().clone()).unwrap(),
        r#"{"choices":[{"message":{"content":"I will call 13812345678 today."}}]}"#
    );
}

#[test]
fn an_answer_to_an_unmasked_request_passes_untouched() {
    let mut request = request(post(PLAIN), true);
    assert_eq!(request.on_headers(false), Action::Pause);
    send_body(&mut request, &chat("hello"), 1);
    let before = request.host.events().len();
    assert_eq!(request.on_http_response_headers(3, false), Action::Continue);
    request
        .host
        .response_buffer
        .borrow_mut()
        .extend_from_slice(b"[PHONE_1]");
    assert_eq!(request.on_http_response_body(9, true), Action::Continue);
    assert_eq!(
        *request.host.response_buffer.borrow(),
        b"[PHONE_1]".to_vec()
    );
    assert_eq!(request.host.events().len(), before);
}

/// An answered request to the masked host, its answer's head delivered.
fn answered(hold: bool, content_type: &str) -> Request<FakeHost> {
    let mut host = post(MASKED);
    host.response_headers = vec![
        (":status".to_owned(), "200".to_owned()),
        ("content-type".to_owned(), content_type.to_owned()),
        ("content-length".to_owned(), "99".to_owned()),
    ];
    let mut request = request(host, hold);
    request.on_headers(false);
    send_body(&mut request, &chat("hello"), 1);
    request
}

fn deliver_answer(request: &mut Request<FakeHost>, answer: &[u8], chunks: usize) -> Action {
    let size = answer.len().div_ceil(chunks.max(1)).max(1);
    let pieces: Vec<&[u8]> = answer.chunks(size).collect();
    let mut last = Action::Continue;
    for (n, piece) in pieces.iter().enumerate() {
        request
            .host
            .response_buffer
            .borrow_mut()
            .extend_from_slice(piece);
        let end = n + 1 == pieces.len();
        last = request.on_http_response_body(piece.len(), end);
    }
    last
}

#[test]
fn a_denied_answer_is_replaced_by_guards_error_with_its_status() {
    let mut request = answered(true, "application/json");
    assert_eq!(
        request.on_http_response_headers(3, false),
        Action::Pause,
        "the head is held"
    );
    let answer = br#"{"choices":[{"message":{"content":"your key is AKIAEXAMPLEKEY"}}]}"#;
    assert_eq!(deliver_answer(&mut request, answer, 3), Action::Continue);
    let sent = String::from_utf8(request.host.response_buffer.borrow().clone()).unwrap();
    assert!(
        sent.contains("guard.answer_denied") && sent.contains("answer-key"),
        "{sent}"
    );
    assert!(!sent.contains("AKIAEXAMPLEKEY"), "{sent}");
    let events = request.host.events();
    assert!(events.contains(&Event::SetResponseHeader(
        ":status".to_owned(),
        "403".to_owned()
    )));
    assert!(events.contains(&Event::RemoveResponseHeader("content-length".to_owned())));
    let property = request
        .host
        .property
        .borrow()
        .last()
        .cloned()
        .unwrap_or_default();
    assert!(
        property.contains("answer=deny answer_rule=answer-key"),
        "{property}"
    );
}

#[test]
fn a_benign_scanned_answer_goes_back_byte_for_byte() {
    let mut request = answered(true, "application/json; charset=utf-8");
    assert_eq!(request.on_http_response_headers(3, false), Action::Pause);
    let answer =
        br#"{"choices":[{"message":{"content":"nothing to see"}}],"usage":{"total_tokens":3}}"#;
    assert_eq!(deliver_answer(&mut request, answer, 4), Action::Continue);
    assert_eq!(*request.host.response_buffer.borrow(), answer.to_vec());
}

#[test]
fn an_unreadable_answer_is_not_passed() {
    let mut request = answered(true, "application/json");
    request.on_http_response_headers(3, false);
    assert_eq!(
        deliver_answer(&mut request, b"{\"choices\": [", 1),
        Action::Continue
    );
    let sent = String::from_utf8(request.host.response_buffer.borrow().clone()).unwrap();
    assert!(sent.contains("guard.malformed_answer"), "{sent}");
}

#[test]
fn without_held_heads_a_denied_answer_keeps_its_status_but_not_its_text() {
    let mut request = answered(false, "application/json");
    assert_eq!(request.on_http_response_headers(3, false), Action::Continue);
    let answer = br#"{"content":"AKIAEXAMPLEKEY"}"#;
    deliver_answer(&mut request, answer, 1);
    let sent = String::from_utf8(request.host.response_buffer.borrow().clone()).unwrap();
    assert!(
        sent.contains("guard.answer_denied") && !sent.contains("AKIAEXAMPLEKEY"),
        "{sent}"
    );
    assert!(!request
        .host
        .events()
        .iter()
        .any(|e| matches!(e, Event::SetResponseHeader(..))));
}

fn chunk(content: &str) -> Vec<u8> {
    format!(
        "data: {{\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":{}}}}}]}}\n\n",
        serde_json::to_string(content).unwrap()
    )
    .into_bytes()
}

#[test]
fn a_stream_goes_out_event_by_event_and_is_cut_before_a_split_key() {
    let mut request = answered(true, "text/event-stream");
    assert_eq!(
        request.on_http_response_headers(3, false),
        Action::Continue,
        "a stream's head goes on"
    );
    let mut client = Vec::new();
    let events = [
        chunk("Hello, this first event is harmless and long. "),
        chunk("So is this one, long enough to release the first. "),
        chunk("Now the key: AKIAEXAM"),
        chunk("PLEKEY and the rest"),
    ];
    for (n, event) in events.iter().enumerate() {
        request
            .host
            .response_buffer
            .borrow_mut()
            .extend_from_slice(event);
        assert_eq!(
            request.on_http_response_body(event.len(), false),
            Action::Continue
        );
        client.extend(request.host.response_buffer.borrow_mut().drain(..));
        if n == 1 {
            assert_eq!(
                client, events[0],
                "the first event goes out as it came, once safe"
            );
        }
    }
    let text = String::from_utf8(client).unwrap();
    assert!(text.contains("guard.answer_denied"), "{text}");
    assert!(
        !text.contains("AKIAEXAM") && !text.contains("PLEKEY"),
        "{text}"
    );
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    // What the upstream sends after the cut is dropped.
    let more = chunk("more");
    request
        .host
        .response_buffer
        .borrow_mut()
        .extend_from_slice(&more);
    assert_eq!(
        request.on_http_response_body(more.len(), true),
        Action::Continue
    );
    assert!(request.host.response_buffer.borrow().is_empty());
}

#[test]
fn a_scanned_answer_over_the_limit_is_refused_and_the_rest_dropped() {
    let mut request = answered(true, "application/json");
    request.on_http_response_headers(3, false);
    let chunk = vec![b' '; 1 << 20];
    let mut n = 0;
    let client = loop {
        request
            .host
            .response_buffer
            .borrow_mut()
            .extend_from_slice(&chunk);
        n += 1;
        let action = request.on_http_response_body(chunk.len(), false);
        assert!(n <= 9, "never refused");
        if action == Action::Continue {
            break request.host.response_buffer.borrow().clone();
        }
        assert!(
            request.host.response_buffer.borrow().is_empty(),
            "part of the answer went out"
        );
    };
    let sent = String::from_utf8(client).unwrap();
    assert!(sent.contains("guard.answer_too_large"), "{sent}");
    request.host.response_buffer.borrow_mut().clear();
    request
        .host
        .response_buffer
        .borrow_mut()
        .extend_from_slice(&chunk);
    assert_eq!(
        request.on_http_response_body(chunk.len(), true),
        Action::Continue
    );
    assert!(
        request.host.response_buffer.borrow().is_empty(),
        "the rest was passed"
    );
}

#[test]
fn trailers_end_an_answer_that_never_said_its_end() {
    let mut request = answered(true, "application/json");
    request.on_http_response_headers(3, false);
    let answer = br#"{"content":"fine"}"#;
    request
        .host
        .response_buffer
        .borrow_mut()
        .extend_from_slice(answer);
    assert_eq!(
        request.on_http_response_body(answer.len(), false),
        Action::Pause
    );
    assert!(request.host.response_buffer.borrow().is_empty());
    assert_eq!(request.on_http_response_trailers(1), Action::Continue);
    assert_eq!(*request.host.response_buffer.borrow(), answer.to_vec());
}
