//! Running a fixture through the engine the way the filter does, with mocked judges.
//!
//! The ruleset keeps the engine's default body limit (`DEFAULT_MAX_BODY_BYTES`), the one the
//! filter enforces, so a fixture over the limit is refused here exactly as in Envoy.

use std::collections::BTreeSet;

use guard_engine::{
    sanitize_request_id, Decision, Denial, ErrorShape, Finding, HeadVerdict, HeaderPlan,
    JudgeReply, Masked, MatchedPattern, Outcome, ReplyContext, RequestHead, Ruleset, Secrets,
};

use crate::fixture::{Fixture, JudgeMock};

/// The placeholder `guardc test` uses for a secret's value: visible in verdicts, never a real key.
pub fn test_secret(name: &str) -> String {
    format!("<secret:{name}>")
}

/// Placeholder values for every secret the ruleset needs.
pub fn test_secrets(ruleset: &Ruleset) -> Secrets {
    ruleset
        .required_secrets()
        .into_iter()
        .map(|name| (name.to_string(), test_secret(name)))
        .collect()
}

/// Everything that happened to one request.
#[derive(Debug, Clone)]
pub struct Run {
    /// The selected policies' names (`a, b` when several apply).
    pub policy: Option<String>,
    pub headers: HeaderPlan,
    /// Judges asked, in order, with the mocked answer.
    pub judges: Vec<(String, JudgeMock)>,
    pub outcome: Outcome,
    /// What monitored rules matched and monitored judges answered, in file order.
    pub monitored: Vec<Finding>,
    /// The error shape of the request's API, which a denial's body takes (as in the filter).
    pub shape: ErrorShape,
    /// The fixture's `x-request-id`, sanitised as the filter does; an error body carries it.
    pub request_id: Option<String>,
    /// The bundle's digest, first 12 hex digits; an error body carries it.
    pub bundle: String,
    /// (policy, rule) of every rule this request exercised, for coverage.
    pub exercised: BTreeSet<(String, String)>,
    /// (policy, rule, pattern) of every pattern that matched, for coverage by pattern.
    pub matched: BTreeSet<(String, String, MatchedPattern)>,
    /// The body as it went upstream when mask rules rewrote it, and what they replaced.
    pub masked: Option<Masked>,
    /// (policy index, rule index, policy name, rule id) of the rules that masked a value.
    names: Vec<(usize, usize, String, String)>,
    /// What the client got of the fixture's `# @response`, when it has one and the request
    /// went upstream.
    pub answer: Option<AnswerRun>,
}

/// The client's side of a fixture's answer.
#[derive(Debug, Clone)]
pub struct AnswerRun {
    /// The upstream's status.
    pub status: u16,
    pub outcome: guard_engine::AnswerOutcome,
    /// Whether the answer the client gets differs from the upstream's (masked, restored).
    pub changed: bool,
    /// A scanned stream: how many of its events reached the client, of how many.
    pub events: Option<(usize, usize)>,
}

/// The head checks of the headers phase for a fixture's request, as the filter applies them.
pub fn check_head(ruleset: &Ruleset, fixture: &Fixture) -> HeadVerdict {
    let headers: Vec<(&str, &str)> = fixture
        .headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    ruleset.check_head(&RequestHead {
        method: &fixture.method,
        authority: &fixture.authority,
        path: &fixture.path_and_query,
        headers: &headers,
    })
}

pub fn run(ruleset: &Ruleset, fixture: &Fixture, secrets: &Secrets) -> Result<Run, String> {
    let mut run = Run {
        policy: None,
        headers: HeaderPlan::default(),
        judges: Vec::new(),
        outcome: Outcome::Allow,
        monitored: Vec::new(),
        shape: ErrorShape::for_request(&fixture.authority, &fixture.path_and_query),
        request_id: fixture.header("x-request-id").map(sanitize_request_id),
        bundle: ruleset.digest12().to_string(),
        exercised: BTreeSet::new(),
        matched: BTreeSet::new(),
        masked: None,
        names: Vec::new(),
        answer: None,
    };
    // The headers phase, as the filter runs it: the head checks (odd authorities, upgrades)
    // and the policy's selection. A refused head is answered before any header is planned.
    let policy = match check_head(ruleset, fixture) {
        HeadVerdict::Untouched => return Ok(run),
        HeadVerdict::Refuse(denial) => {
            run.policy = Some(denial.policy.clone());
            run.outcome = Outcome::Deny(denial);
            return Ok(run);
        }
        HeadVerdict::Selected(policy) => policy,
    };
    run.policy = Some(ruleset.selection_name(&policy));
    run.headers = ruleset
        .headers(&policy, secrets)
        .map_err(|e| e.to_string())?;
    let content_type = fixture.header("content-type");
    let content_encoding = fixture.header("content-encoding");
    // Rule ids are unique across policies, so a rule id names its policy.
    let policy_of = |rule: &str| -> String {
        ruleset
            .program()
            .policies
            .iter()
            .find(|p| p.rules.iter().any(|r| r.id == rule))
            .map(|p| p.name.clone())
            .unwrap_or_default()
    };

    // Every rule whose patterns match counts as exercised, not only the one the verdict reports,
    // and every pattern that matched counts for coverage by pattern.
    if let Ok(hits) =
        ruleset.matched_patterns(&policy, content_type, content_encoding, &fixture.body)
    {
        for (rule, site) in hits {
            let policy = policy_of(&rule);
            run.matched
                .insert((policy.clone(), rule.clone(), site.pattern));
            run.exercised.insert((policy, rule));
        }
    }

    let inspection =
        ruleset.inspect_encoded(&policy, content_type, content_encoding, &fixture.body);
    run.monitored = inspection.monitored;
    run.masked = inspection.masked;
    for value in run.masked.iter().flat_map(|m| &m.values) {
        let policy = ruleset.program().policies.get(value.policy);
        let rule = policy.and_then(|p| p.rules.get(value.rule));
        if let (Some(policy), Some(rule)) = (policy, rule) {
            run.names.push((
                value.policy,
                value.rule,
                policy.name.clone(),
                rule.id.clone(),
            ));
        }
    }
    run.outcome = match inspection.decision {
        Decision::Allow => Outcome::Allow,
        Decision::Deny(denial) => Outcome::Deny(denial),
        Decision::Escalate(mut escalation) => loop {
            let call = match escalation.next_call(ruleset, secrets, 0) {
                Ok(Some(call)) => call,
                Ok(None) => {
                    run.monitored.extend_from_slice(escalation.monitored());
                    break Outcome::Allow;
                }
                Err(err) => return Err(err.to_string()),
            };
            run.exercised
                .insert((policy_of(&call.rule), call.rule.clone()));
            let mock = fixture.judges.get(&call.judge).cloned().ok_or_else(|| {
                format!(
                    "the request is escalated to judge `{}`, but the fixture does not say what it answers; add `# @judge {}: allow` (or deny \"REASON\", timeout, ...)",
                    call.judge, call.judge
                )
            })?;
            let body = mock.response_body();
            let reply = match &mock {
                JudgeMock::Timeout => JudgeReply::Timeout,
                JudgeMock::Unreachable => JudgeReply::Failed,
                JudgeMock::Status(status) => JudgeReply::Response {
                    status: *status,
                    body: body.as_deref().unwrap_or_default(),
                },
                _ => JudgeReply::Response {
                    status: 200,
                    body: body.as_deref().unwrap_or_default(),
                },
            };
            run.judges.push((call.judge.clone(), mock.clone()));
            if let Some(outcome) = escalation.settle(ruleset, reply) {
                run.monitored.extend_from_slice(escalation.monitored());
                break outcome;
            }
        },
    };
    if let (Outcome::Allow, Some(answer)) = (&run.outcome, &fixture.answer) {
        if let Ok(hits) =
            ruleset.matched_answer_patterns(&policy, answer.content_type.as_deref(), &answer.body)
        {
            for (rule, site) in hits {
                let policy = policy_of(&rule);
                run.matched
                    .insert((policy.clone(), rule.clone(), site.pattern));
                run.exercised.insert((policy, rule));
            }
        }
        run.answer = Some(run_answer(ruleset, &policy, &run, answer));
        if let Some(AnswerRun { outcome, .. }) = &run.answer {
            for value in outcome.masked.iter().flat_map(|m| &m.values) {
                name_rule(ruleset, &mut run.names, value);
            }
        }
    }
    Ok(run)
}

/// The fixture's answer as the filter treats it (`Ruleset::answer`, the filter's own call).
fn run_answer(
    ruleset: &Ruleset,
    policy: &guard_engine::Selection,
    run: &Run,
    answer: &crate::fixture::AnswerFixture,
) -> AnswerRun {
    let restore: Vec<guard_engine::MaskedValue> = run
        .masked
        .iter()
        .flat_map(|m| &m.values)
        .filter(|v| v.restore)
        .cloned()
        .collect();
    let scanned = ruleset.reads_answers(policy);
    let stream = answer.content_type.as_deref().is_some_and(|t| {
        t.trim()
            .to_ascii_lowercase()
            .starts_with("text/event-stream")
    });
    if stream {
        return run_stream(ruleset, policy, run, answer, &restore);
    }
    let outcome = ruleset.answer(
        policy,
        answer.content_type.as_deref(),
        None,
        answer.body.clone(),
        &restore,
        scanned,
    );
    let changed = outcome.body != answer.body;
    AnswerRun {
        status: answer.status,
        outcome,
        changed,
        events: None,
    }
}

/// A streamed answer through the stream guard, event by event as the upstream writes them:
/// what the client receives, and where a deny cut it.
fn run_stream(
    ruleset: &Ruleset,
    policy: &guard_engine::Selection,
    run: &Run,
    answer: &crate::fixture::AnswerFixture,
    restore: &[guard_engine::MaskedValue],
) -> AnswerRun {
    let mut guard = ruleset.answer_stream(policy).restoring(restore);
    let events = guard_engine::SseParser::default()
        .push(&answer.body)
        .unwrap_or_default();
    let total = events.len();
    let request_id = run.request_id.as_deref();
    let mut steps = Vec::new();
    let mut rest = answer.body.as_slice();
    for event in &events {
        rest = rest.get(event.raw.len()..).unwrap_or_default();
        steps.push(ruleset.stream_push(policy, &mut guard, &event.raw, request_id));
    }
    // Bytes after the last whole event (an event without its blank line).
    steps.push(ruleset.stream_push(policy, &mut guard, rest, request_id));
    steps.push(ruleset.stream_finish(policy, &mut guard, request_id));
    let (mut body, mut monitored, mut denial, mut released) = (Vec::new(), Vec::new(), None, 0);
    for step in steps {
        if step.denial.is_none() {
            released += guard_engine::SseParser::default()
                .push(&step.release)
                .map_or(0, |e| e.len());
        }
        body.extend_from_slice(&step.release);
        monitored.extend(step.monitored);
        if step.denial.is_some() {
            denial = step.denial;
        }
    }
    let changed = body != answer.body;
    AnswerRun {
        status: answer.status,
        outcome: guard_engine::AnswerOutcome {
            decision: denial.map_or(Decision::Allow, Decision::Deny),
            monitored,
            masked: None,
            body,
        },
        changed,
        events: Some((released, total)),
    }
}

/// Records the names of a masked value's policy and rule.
fn name_rule(
    ruleset: &Ruleset,
    names: &mut Vec<(usize, usize, String, String)>,
    value: &guard_engine::MaskedValue,
) {
    let policy = ruleset.program().policies.get(value.policy);
    let rule = policy.and_then(|p| p.rules.get(value.rule));
    if let (Some(policy), Some(rule)) = (policy, rule) {
        names.push((
            value.policy,
            value.rule,
            policy.name.clone(),
            rule.id.clone(),
        ));
    }
}

/// The verdict as reviewers read it in `.verdict` files: stable, one fact per line.
pub fn render(run: &Run) -> String {
    let mut out = String::new();
    let mut line = |key: &str, value: &str| {
        out.push_str(key);
        out.push_str(": ");
        out.push_str(value);
        out.push('\n');
    };
    match &run.outcome {
        Outcome::Allow => {
            line("verdict", "allow");
            match &run.policy {
                None => line("policy", "none (the request passes untouched)"),
                Some(policy) => line("policy", policy),
            }
            for name in &run.headers.remove {
                line("remove-header", name);
            }
            for (name, value) in &run.headers.set {
                line("set-header", &format!("{name}: {value}"));
            }
            if let Some(masked) = &run.masked {
                for value in &masked.values {
                    line("masked", &describe_masked(ruleset_rule(run, value), value));
                }
                line("forwarded-body", &one_line(&masked.body));
            }
        }
        Outcome::Deny(denial) => {
            line("verdict", "deny");
            line("status", &denial.status.to_string());
            line("code", denial.code);
            line("policy", &denial.policy);
            if let Some(rule) = &denial.rule {
                line("rule", rule);
            }
            line("reason", &denial.reason);
            if let Some(site) = &denial.matched {
                line("matched", &describe_site(site));
            }
        }
    }
    for (judge, mock) in &run.judges {
        line("judge", &format!("{judge} answered {mock}"));
    }
    for finding in &run.monitored {
        line("monitored", &describe_finding(finding));
    }
    if let Some(answer) = &run.answer {
        render_answer(run, answer, &mut line);
    }
    out
}

/// The answer's lines: what the client got instead of the upstream's answer, or the answer as
/// changed on its way (masked, restored), and what monitored rules saw in it.
fn render_answer(run: &Run, answer: &AnswerRun, line: &mut impl FnMut(&str, &str)) {
    match (&answer.outcome.decision, answer.events) {
        (Decision::Deny(denial), Some((released, total))) => {
            line("answer", "deny");
            line(
                "answer-stream",
                &format!(
                    "cut after {released} of {total} events, then the stream's own error events"
                ),
            );
            line("answer-code", denial.code);
            if let Some(rule) = &denial.rule {
                line("answer-rule", rule);
            }
            line("answer-reason", &denial.reason);
        }
        (Decision::Deny(denial), None) => {
            line("answer", "deny");
            line(
                "answer-status",
                &format!("{} (the upstream said {})", denial.status, answer.status),
            );
            line("answer-code", denial.code);
            if let Some(rule) = &denial.rule {
                line("answer-rule", rule);
            }
            line("answer-reason", &denial.reason);
            if let Some(site) = &denial.matched {
                line("answer-matched", &describe_site(site));
            }
        }
        (_, events) => {
            line("answer", "allow");
            line("answer-status", &answer.status.to_string());
            if let Some((released, total)) = events {
                let how = if answer.changed {
                    "rewritten where masked or restored"
                } else {
                    "each as the upstream sent it"
                };
                line(
                    "answer-stream",
                    &format!("{released} of {total} events, {how}"),
                );
                if answer.changed {
                    line("answer-text", &stream_text(&answer.outcome.body));
                }
            }
            if let Some(masked) = &answer.outcome.masked {
                for value in &masked.values {
                    line(
                        "answer-masked",
                        &describe_masked(ruleset_rule(run, value), value),
                    );
                }
            }
            // A stream's change is shown as its text (above); a whole answer's as its body.
            if answer.changed && events.is_none() {
                line("answer-body", &one_line(&answer.outcome.body));
            }
        }
    }
    for finding in &answer.outcome.monitored {
        line("answer-monitored", &describe_finding(finding));
    }
}

/// A monitored rule's match or judge's answer, in one line: what enforce mode would have done.
pub fn describe_finding(finding: &Finding) -> String {
    let mut text = format!("rule {} (policy {})", finding.rule, finding.policy);
    if let Some(site) = &finding.matched {
        text.push_str(&format!(" matched {}", describe_site(site)));
    }
    if let (Some(judge), Some(answer)) = (&finding.judge, &finding.answer) {
        text.push_str(&format!(": judge {judge} answered {answer}"));
    }
    match &finding.would_deny {
        Some(denial) => text.push_str(&format!(
            "; enforced, it would deny ({} {})",
            denial.status, denial.code
        )),
        None if finding.would_mask => text.push_str("; enforced, it would mask it"),
        None => text.push_str("; enforced, it would allow"),
    }
    text
}

pub fn describe_site(site: &guard_engine::MatchSite) -> String {
    let pattern = match &site.pattern {
        MatchedPattern::Keyword(k) => format!("keyword {k:?}"),
        MatchedPattern::Regex(r) => format!("regex {r:?}"),
    };
    format!(
        "{pattern} in {} at characters {}..{}",
        site.segment, site.start, site.end
    )
}

/// `rule R (policy P): "VALUE" -> PLACEHOLDER`, with the count when the value was masked more
/// than once and `, restored in the answer` for a `restore` rule.
fn describe_masked(names: (String, String), value: &guard_engine::MaskedValue) -> String {
    let (policy, rule) = names;
    let mut text = format!(
        "rule {rule} (policy {policy}) {:?} -> {}",
        value.value, value.placeholder
    );
    if value.count > 1 {
        text.push_str(&format!(" ({} times)", value.count));
    }
    if value.restore {
        text.push_str(", restored in the answer");
    }
    text
}

/// The policy and rule names of a masked value.
fn ruleset_rule(run: &Run, value: &guard_engine::MaskedValue) -> (String, String) {
    run.names
        .iter()
        .find(|(p, r, _, _)| *p == value.policy && *r == value.rule)
        .map(|(_, _, policy, rule)| (policy.clone(), rule.clone()))
        .unwrap_or_default()
}

/// The text a stream's deltas carry, joined: what the client's SDK shows of it.
fn stream_text(stream: &[u8]) -> String {
    let events = guard_engine::SseParser::default()
        .push(stream)
        .unwrap_or_default();
    let Some(format) = events.iter().find_map(guard_engine::detect_stream) else {
        return String::new();
    };
    let text: String = events
        .iter()
        .filter_map(|e| guard_engine::event_texts(format, e).ok())
        .flatten()
        .filter(|p| p.kind == guard_engine::PieceKind::Delta)
        .map(|p| p.text)
        .collect();
    one_line(text.as_bytes())
}

/// A body on one verdict line: as it is when it is one line of UTF-8, else escaped.
fn one_line(body: &[u8]) -> String {
    match std::str::from_utf8(body) {
        Ok(text) if !text.contains(['\n', '\r']) => text.to_string(),
        _ => String::from_utf8_lossy(body).escape_debug().to_string(),
    }
}

/// The run as JSON, for `--format json` and the Envoy differential test.
pub fn to_json(run: &Run) -> serde_json::Value {
    let denial = |d: &Denial| {
        serde_json::json!({
            "status": d.status,
            "code": d.code,
            "policy": d.policy,
            "rule": d.rule,
            "judge": d.judge,
            "reason": d.reason,
            "body": String::from_utf8_lossy(&d.body_in(run.shape, &ReplyContext {
                request_id: run.request_id.as_deref(),
                bundle: &run.bundle,
            })),
            "matched": d.matched.as_ref().map(describe_site),
        })
    };
    serde_json::json!({
        "verdict": match run.outcome { Outcome::Allow => "allow", Outcome::Deny(_) => "deny" },
        "policy": run.policy,
        "set_headers": run.headers.set.iter().map(|(n, v)| serde_json::json!([n, v])).collect::<Vec<_>>(),
        "remove_headers": run.headers.remove,
        "judges": run.judges.iter().map(|(j, m)| serde_json::json!({"judge": j, "answer": m.to_string(), "mock": m.to_json()})).collect::<Vec<_>>(),
        "deny": match &run.outcome { Outcome::Deny(d) => denial(d), Outcome::Allow => serde_json::Value::Null },
        "answer": run.answer.as_ref().map(|a| match (&a.outcome.decision, a.events) {
            (Decision::Deny(d), None) => serde_json::json!({"verdict": "deny", "deny": denial(d)}),
            // A cut stream: its head went out, the client reads the events it got.
            (Decision::Deny(d), Some(_)) => serde_json::json!({"verdict": "cut", "status": a.status, "code": d.code, "body_bytes": a.outcome.body}),
            _ => serde_json::json!({"verdict": "allow", "status": a.status, "body_bytes": a.outcome.body}),
        }),
        "masked": run.masked.as_ref().map(|m| serde_json::json!({
            "forwarded_body": String::from_utf8_lossy(&m.body),
            "forwarded_body_bytes": m.body,
            "values": m.values.iter().map(|v| {
                let (policy, rule) = ruleset_rule(run, v);
                serde_json::json!({"policy": policy, "rule": rule, "value": v.value, "placeholder": v.placeholder, "count": v.count, "restore": v.restore})
            }).collect::<Vec<_>>(),
        })),
        "monitored": run.monitored.iter().map(|f| serde_json::json!({
            "policy": f.policy,
            "rule": f.rule,
            "matched": f.matched.as_ref().map(describe_site),
            "judge": f.judge,
            "answer": f.answer,
            "would_deny": f.would_deny.as_ref().map(denial),
        })).collect::<Vec<_>>(),
    })
}
