//! Evaluation: from a request to a verdict, in the phases a proxy sees it.
//!
//! 1. Headers phase: [`Ruleset::select`] finds every policy whose `match` lines hold (all of
//!    them apply, language v1), and [`Ruleset::headers`] gives the headers to set and remove.
//!    Nothing here needs the body, so a proxy decides headers before the body arrives.
//! 2. Body phase: [`Ruleset::inspect`] extracts every text and scans it with the rules of every
//!    selected policy. Enforced deny rules decide first: the earliest in file order denies.
//!    Otherwise the escalate rules whose `when` matched (or that have none) make an
//!    [`Escalation`]; with none the request is allowed.
//! 3. Judge phase: the proxy sends each [`JudgeCall`] and hands the reply to
//!    [`Escalation::settle`], until an [`Outcome`] comes out: the first enforced judge's deny
//!    denies.
//!
//! Monitored rules (`mode monitor`) are evaluated like the others, but what they match is only
//! recorded ([`Finding`]): in [`Inspection::monitored`] for deny rules, in
//! [`Escalation::monitored`] for judges.

use std::collections::BTreeSet;

use crate::codes::Code;
use crate::decode::{decode, DecodeError};
use crate::extract::{extract, ExtractError, Extracted, Format, Limits, Origin, Segment};
use crate::ir::{HeaderOp, Mode, OnError, Policy, Program, RuleAction, Side};
use crate::judge::{self, JudgeCall, JudgeFault, JudgeReply, JudgeVerdict};
use crate::mask::{self, Masked, MaskedValue};
use crate::scan::{self, DfaLoader, Hit, PolicyScanner, Scanners, Want};
use crate::template::{render, MissingSecret, PromptVars, Secrets};
use crate::validate;
use crate::wire::{self, LoadError, PatternRef};

/// A loaded, validated ruleset.
#[derive(Debug)]
pub struct Ruleset {
    program: Program,
    /// The bundle's SHA-256, 64 lowercase hex digits.
    digest: String,
    scanners: Scanners,
    limits: Limits,
    max_body_bytes: usize,
}

/// The largest body, before and after decoding, that guard scans by default; a larger one is
/// refused with 413 rather than forwarded unscanned.
pub const DEFAULT_MAX_BODY_BYTES: usize = 8 << 20;

/// The policies that selected a request: every one whose `match` lines hold, in file order,
/// never none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection(Vec<usize>);

impl Selection {
    /// The selected policies' indices in [`Program::policies`], in file order.
    pub fn policies(&self) -> &[usize] {
        &self.0
    }
}

/// The header changes for a selected request, header names in lowercase.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HeaderPlan {
    pub set: Vec<(String, String)>,
    pub remove: Vec<String>,
}

/// The answer of the body phase: what the enforced rules decided, what monitored rules
/// matched, and the body to forward when mask rules rewrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    pub decision: Decision,
    /// Monitored deny and mask rules that matched, in file order: recorded, never acted on.
    pub monitored: Vec<Finding>,
    /// The body as it goes upstream when an enforced mask rule matched (see [`crate::mask`]);
    /// `None`: the body goes as it came. Set with an allowing or escalating decision only, and
    /// the escalation's judge is shown the masked text.
    pub masked: Option<Masked>,
}

/// What the enforced rules of the body phase decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny(Denial),
    Escalate(Escalation),
}

/// A monitored rule that matched, or a monitored judge's answer: recorded (verdicts, logs,
/// metrics) while the request goes on as if the rule had not matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub policy: String,
    pub rule: String,
    /// Where a monitored deny rule matched.
    pub matched: Option<MatchSite>,
    /// A monitored escalation: the judge asked.
    pub judge: Option<String>,
    /// A monitored escalation: what the judge answered (`allow`, `deny`, or why it gave no
    /// verdict: `timeout`, `unreachable`, ...), as the client would have been told.
    pub answer: Option<String>,
    /// The denial the rule would have caused in enforce mode.
    pub would_deny: Option<Denial>,
    /// A monitored mask rule: enforced, it would have masked the match.
    pub would_mask: bool,
}

/// What [`Ruleset::answer`] gives the client: the answer (masked, restored) or guard's error in
/// its place, and what monitored rules matched in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerOutcome {
    /// `Deny`: the client gets guard's error instead of the answer.
    pub decision: Decision,
    pub monitored: Vec<Finding>,
    /// What the answer's mask rules replaced.
    pub masked: Option<Masked>,
    /// The answer as the client gets it when it is allowed.
    pub body: Vec<u8>,
}

/// What [`Ruleset::decide`] found in one reading of the body.
pub(crate) struct Decided {
    pub(crate) decision: Decision,
    pub(crate) monitored: Vec<Finding>,
    /// An enforced mask rule matched.
    pub(crate) masks: bool,
}

/// A final answer.
#[allow(
    clippy::large_enum_variant,
    reason = "one per request, moved not copied around: boxing the denial would buy nothing"
)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Allow,
    Deny(Denial),
}

/// Why a request is not forwarded; becomes the client's error response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub status: u16,
    /// Stable, machine-readable: `guard.rule_denied`, `guard.judge_denied`, ...
    pub code: &'static str,
    pub policy: String,
    pub rule: Option<String>,
    pub judge: Option<String>,
    pub reason: String,
    /// Where a deny rule matched (rule denials only).
    pub matched: Option<MatchSite>,
}

/// Where a pattern matched, for authors (`guardc explain`); never sent to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchSite {
    /// The segment's path in the request, such as `messages[1].content`. Made of the request's
    /// keys: outside the API's own prompt fields ([`Origin::Prompt`]) it can hold text the client
    /// chose, so logs show `index` instead.
    pub segment: String,
    /// What the segment is to the API (its prompt, another field, the envelope).
    pub origin: Origin,
    /// The segment's position among the body's segments.
    pub index: usize,
    pub pattern: MatchedPattern,
    /// Character offsets in the segment's decoded text.
    pub start: usize,
    pub end: usize,
    /// Byte offsets in the segment's decoded text.
    pub byte_span: std::ops::Range<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MatchedPattern {
    Keyword(String),
    Regex(String),
}

/// The judges still to ask about a request, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Escalation {
    /// (policy, rule) of each escalate rule that applies: its `when` matched, or it has none.
    rules: Vec<(usize, usize)>,
    next: usize,
    content: String,
    /// What monitored judges answered so far.
    monitored: Vec<Finding>,
}

/// What `explain` finds: every hit, not only the deciding one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    pub format: &'static str,
    pub segments: Vec<Segment>,
    /// (rule id, where) for every deny rule that matched, in rule order.
    pub hits: Vec<(String, MatchSite)>,
}

impl Ruleset {
    /// Loads a bundle, copying its DFAs into aligned memory. Every part is validated; a corrupt
    /// bundle is an error, never a panic. (Feature `copy`, which `build` turns on: the filter
    /// only loads its embedded bundle, in place, and so carries one copy of the scanner.)
    #[cfg(feature = "copy")]
    pub fn from_bytes(bytes: &[u8]) -> Result<Ruleset, LoadError> {
        let decoded = wire::decode(bytes)?;
        let scanners = load_scanners(&decoded, &|index| {
            decoded
                .blob(index)
                .and_then(|blob| validate::dfa_copied(blob, index))
        })?;
        Ruleset::new(
            decoded.meta.program,
            &decoded.digest,
            Scanners::Copied(scanners),
        )
    }

    /// Loads a bundle that lives for the whole program (embedded in the Wasm module), searching
    /// its DFAs in place. A bundle that is not 4-aligned (the filter's always is: `guardc build`
    /// places it at a page boundary) is copied once into aligned memory that lives as long.
    pub fn from_static(bytes: &'static [u8]) -> Result<Ruleset, LoadError> {
        let mut decoded = wire::decode(bytes)?;
        if !decoded.blobs_aligned() {
            decoded = wire::decode(aligned_static_copy(bytes))?;
        }
        let scanners = load_scanners(&decoded, &|index| {
            decoded
                .blob(index)
                .and_then(|blob| validate::dfa_in_place(blob, index))
        })?;
        Ruleset::new(
            decoded.meta.program,
            &decoded.digest,
            Scanners::InPlace(scanners),
        )
    }

    fn new(program: Program, digest: &[u8], scanners: Scanners) -> Result<Ruleset, LoadError> {
        Ok(Ruleset {
            program,
            digest: wire::hex(digest),
            scanners,
            limits: Limits::default(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        })
    }

    /// The program this ruleset was compiled from.
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// The bundle's digest (SHA-256 of its payload, written by the compiler): 64 lowercase hex
    /// digits. Logs, metrics and error bodies name the bundle by its first 12.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// The first 12 hex digits of [`Ruleset::digest`]: how logs, metrics and error bodies name
    /// the bundle.
    pub fn digest12(&self) -> &str {
        self.digest.get(..12).unwrap_or(&self.digest)
    }

    /// Names of every secret a template references.
    pub fn required_secrets(&self) -> BTreeSet<&str> {
        let headers = self
            .program
            .policies
            .iter()
            .flat_map(|p| &p.headers)
            .filter_map(|op| match op {
                HeaderOp::Set { value, .. } => Some(value),
                HeaderOp::Remove { .. } => None,
            });
        let judges = self
            .program
            .judges
            .iter()
            .flat_map(|j| [&j.api_key, &j.prompt]);
        headers.chain(judges).flat_map(|t| t.secrets()).collect()
    }

    /// Every required secret that `secrets` lacks.
    pub fn missing_secrets(&self, secrets: &Secrets) -> Vec<String> {
        self.required_secrets()
            .into_iter()
            .filter(|name| !secrets.contains_key(*name))
            .map(str::to_string)
            .collect()
    }

    /// Every policy whose `match` lines all hold, in file order; `None` when none does.
    /// An authority that is not a plain `host[:port]` selects nothing here; the headers phase
    /// ([`Ruleset::check_head`]) refuses it when some reading of it names a guarded host.
    pub fn select(&self, authority: &str, path: &str) -> Option<Selection> {
        let host = normalize_host(authority)?;
        let path = path.split('?').next().unwrap_or(path);
        let selected: Vec<usize> = self
            .program
            .policies
            .iter()
            .enumerate()
            .filter(|(_, policy)| selects(policy, &host, path))
            .map(|(i, _)| i)
            .collect();
        (!selected.is_empty()).then_some(Selection(selected))
    }

    /// The selected policies' names, as refusals and logs name them: `pii`, or `pii, openai-key`.
    pub fn selection_name(&self, selection: &Selection) -> String {
        let names: Vec<&str> = self.selected(selection).map(|p| p.name.as_str()).collect();
        names.join(", ")
    }

    /// Whether an enforced mask rule of the selected policies may rewrite the body, so a proxy
    /// that forwards the head before the body must not promise the body's length.
    pub fn may_mask(&self, selection: &Selection) -> bool {
        self.selected(selection).flat_map(|p| &p.rules).any(|r| {
            r.mode == Mode::Enforce
                && r.side() == Side::Request
                && matches!(r.action, RuleAction::Mask(_))
        })
    }

    /// Whether the selected policies have `on response` rules: the answer must be read.
    pub fn reads_answers(&self, selection: &Selection) -> bool {
        self.selected(selection)
            .flat_map(|p| &p.rules)
            .any(|r| r.side() == Side::Response)
    }

    /// How much of a streamed answer's text could still be the start of a match of the selected
    /// policies' `on response` rules (see `CompiledMatcher::reach`): a stream scanner holds back
    /// events until this much text follows them.
    pub fn response_reach(&self, selection: &Selection) -> usize {
        selection
            .0
            .iter()
            .map(|&p| self.scanners.response_reach(p))
            .max()
            .unwrap_or(0)
    }

    fn selected<'a>(&'a self, selection: &'a Selection) -> impl Iterator<Item = &'a Policy> + 'a {
        selection
            .0
            .iter()
            .filter_map(|&i| self.program.policies.get(i))
    }

    /// The headers to set and remove for a selected request: those of every selected policy, in
    /// file order (the compiler refuses two policies that could select one request and change
    /// the same header).
    pub fn headers(
        &self,
        selection: &Selection,
        secrets: &Secrets,
    ) -> Result<HeaderPlan, MissingSecret> {
        let mut plan = HeaderPlan::default();
        for op in self.selected(selection).flat_map(|p| p.headers.iter()) {
            match op {
                HeaderOp::Set { name, value } => {
                    let value = render(value, secrets, &PromptVars::default())?;
                    plan.set.push((name.to_ascii_lowercase(), value));
                }
                HeaderOp::Remove { name } => plan.remove.push(name.to_ascii_lowercase()),
            }
        }
        Ok(plan)
    }

    /// Sets the largest body (before and after decoding) that is scanned rather than refused.
    pub fn set_max_body_bytes(&mut self, limit: usize) {
        self.max_body_bytes = limit;
    }

    /// The body phase for an unencoded body; see [`Ruleset::inspect_encoded`].
    pub fn inspect(
        &self,
        selection: &Selection,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Inspection {
        self.inspect_encoded(selection, content_type, None, body)
    }

    /// The body phase: decode, extract every text and run the selected policies' rules.
    pub fn inspect_encoded(
        &self,
        selection: &Selection,
        content_type: Option<&str>,
        content_encoding: Option<&str>,
        body: &[u8],
    ) -> Inspection {
        let refused = |denial: Denial| Inspection {
            decision: Decision::Deny(denial),
            monitored: Vec::new(),
            masked: None,
        };
        let name = self.selection_name(selection);
        let body = match self.decode(content_encoding, body) {
            Ok(body) => body,
            Err(err) => return refused(refusal(&name, &err)),
        };
        let extracted = match extract(&body, content_type, &self.limits) {
            Ok(extracted) => extracted,
            Err(err) => return refused(malformed(&name, &err)),
        };
        let first = self.decide(selection, &extracted.segments, Side::Request);
        if matches!(first.decision, Decision::Deny(_)) || !first.masks {
            return Inspection {
                decision: first.decision,
                monitored: first.monitored,
                masked: None,
            };
        }
        // An enforced mask rule matched: rewrite the body, then decide again on what will be
        // sent, so the judge is asked about the masked text.
        let (masked, again) =
            match self.mask_checked(selection, Side::Request, &body, &extracted, content_type) {
                Ok(done) => done,
                Err(reason) => {
                    return refused(Denial::refusal(
                        &name,
                        422,
                        Code::MaskUnsupported.as_str(),
                        reason,
                    ))
                }
            };
        Inspection {
            decision: again.decision,
            monitored: first.monitored,
            masked: Some(masked),
        }
    }

    /// The answer phase for a whole (not streamed) answer: decode, extract every text, and run
    /// the selected policies' `on response` rules. An enforced deny replaces the answer with
    /// guard's error (`guard.answer_denied`); enforced masks rewrite it as they rewrite a request
    /// (an answer they cannot rewrite is refused, never passed); monitored rules are recorded.
    pub fn inspect_answer(
        &self,
        selection: &Selection,
        content_type: Option<&str>,
        content_encoding: Option<&str>,
        body: &[u8],
    ) -> Inspection {
        let name = self.selection_name(selection);
        let refused = |reason: &str, code: Code, status: u16| Inspection {
            decision: Decision::Deny(Denial::refusal(&name, status, code.as_str(), reason)),
            monitored: Vec::new(),
            masked: None,
        };
        let body = match self.decode(content_encoding, body) {
            Ok(body) => body,
            Err(DecodeError::TooLarge { .. }) => {
                return refused(
                    "the answer is over guard's size limit",
                    Code::AnswerTooLarge,
                    502,
                )
            }
            Err(_) => {
                return refused(
                    "the answer could not be decoded",
                    Code::MalformedAnswer,
                    502,
                )
            }
        };
        let extracted = match extract(&body, content_type, &self.limits) {
            Ok(extracted) => extracted,
            Err(_) => return refused("the answer could not be read", Code::MalformedAnswer, 502),
        };
        let first = self.decide(selection, &extracted.segments, Side::Response);
        if matches!(first.decision, Decision::Deny(_)) || !first.masks {
            return Inspection {
                decision: first.decision,
                monitored: first.monitored,
                masked: None,
            };
        }
        match self.mask_checked(selection, Side::Response, &body, &extracted, content_type) {
            Ok((masked, _)) => Inspection {
                decision: Decision::Allow,
                monitored: first.monitored,
                masked: Some(masked),
            },
            Err(reason) => refused(reason, Code::MaskUnsupported, 502),
        }
    }

    /// Masks a body whose enforced mask rules of `side` matched, reads the result again and
    /// decides on it: the masked body and that decision, or why it cannot be forwarded: a
    /// compressed, form or multipart body, or a value the rewrite could not reach (the check of
    /// the result finds it), is refused rather than let a masked value out.
    #[allow(
        clippy::ptr_arg,
        reason = "whether decoding copied the body is what says it was compressed"
    )]
    fn mask_checked(
        &self,
        selection: &Selection,
        side: Side,
        body: &std::borrow::Cow<'_, [u8]>,
        extracted: &Extracted,
        content_type: Option<&str>,
    ) -> Result<(Masked, Decided), &'static str> {
        const UNREACHABLE: &str = "a value the policy masks is where guard cannot rewrite it";
        // Decoding made a copy: the body was compressed, and guard does not recompress it.
        if matches!(body, std::borrow::Cow::Owned(_)) {
            return Err(
                "a value the policy masks is in a compressed body, which guard does not rewrite",
            );
        }
        if matches!(extracted.format, Format::Form | Format::Multipart) {
            return Err(UNREACHABLE);
        }
        let scope = mask::Scope {
            program: &self.program,
            scanners: &self.scanners,
            policies: &selection.0,
            side,
        };
        let json = !matches!(extracted.format, Format::Text);
        let masked = mask::mask(&scope, body, json).ok_or(UNREACHABLE)?;
        let again = extract(&masked.body, content_type, &self.limits)
            .map_err(|_| "the masked body does not read as the original did")?;
        let decided = self.decide(selection, &again.segments, side);
        if decided.masks {
            return Err(UNREACHABLE);
        }
        Ok((masked, decided))
    }

    /// What the client gets of a whole answer, as the filter and `guardc test` give it: scanned
    /// by the selected policies' `on response` rules when `scanned`, masked, then with the
    /// request's restored values put back (not in a compressed answer, which guard does not
    /// rewrite). `body` is what goes to the client when the answer is allowed.
    pub fn answer(
        &self,
        selection: &Selection,
        content_type: Option<&str>,
        content_encoding: Option<&str>,
        body: Vec<u8>,
        restore: &[MaskedValue],
        scanned: bool,
    ) -> AnswerOutcome {
        let mut outcome = AnswerOutcome {
            decision: Decision::Allow,
            monitored: Vec::new(),
            masked: None,
            body,
        };
        if scanned {
            let inspection =
                self.inspect_answer(selection, content_type, content_encoding, &outcome.body);
            outcome.monitored = inspection.monitored;
            if let Decision::Deny(_) = inspection.decision {
                outcome.decision = inspection.decision;
                return outcome;
            }
            if let Some(masked) = inspection.masked {
                outcome.body.clone_from(&masked.body);
                outcome.masked = Some(masked);
            }
        }
        let encoded = content_encoding.is_some_and(|e| !e.trim().eq_ignore_ascii_case("identity"));
        if restore.iter().any(|v| v.restore) && !encoded {
            let json = content_type.is_none_or(|t| t.to_ascii_lowercase().contains("json"));
            outcome.body = mask::restore(&outcome.body, restore, json);
        }
        outcome
    }

    /// The mask rules of one side of the selected policies.
    pub(crate) fn mask_scope<'a>(
        &'a self,
        selection: &'a Selection,
        side: Side,
    ) -> mask::Scope<'a> {
        mask::Scope {
            program: &self.program,
            scanners: &self.scanners,
            policies: &selection.0,
            side,
        }
    }

    /// [`Ruleset::decide`] for the `on response` rules, for the stream guard.
    pub(crate) fn decide_answer(&self, selection: &Selection, segments: &[Segment]) -> Decided {
        self.decide(selection, segments, Side::Response)
    }

    /// What the selected policies' enforced rules of one side decide about the segments, what
    /// the monitored ones matched, and whether an enforced mask rule matched. Escalations are
    /// the request's only.
    fn decide(&self, selection: &Selection, segments: &[Segment], side: Side) -> Decided {
        let mut monitored = Vec::new();
        let mut deny = None;
        let mut escalate = Vec::new();
        let mut masks = false;
        for &p in &selection.0 {
            let Some(policy) = self.program.policies.get(p) else {
                continue;
            };
            let texts: Vec<&str> = segments.iter().map(|s| s.text.as_str()).collect();
            let hits = self.scanners.scan(p, &texts, Want::First, side);
            for hit in &hits {
                let Some(rule) = policy.rules.get(hit.rule) else {
                    continue;
                };
                let would_mask = match rule.action {
                    RuleAction::Deny(_) => false,
                    RuleAction::Mask(_) => true,
                    RuleAction::Escalate { .. } => continue,
                };
                match rule.mode {
                    Mode::Enforce if would_mask => masks = true,
                    Mode::Enforce => {
                        deny.get_or_insert_with(|| self.rule_denial(p, segments, hit));
                    }
                    Mode::Monitor => monitored.push(Finding {
                        policy: policy.name.clone(),
                        rule: rule.id.clone(),
                        matched: self.match_site(p, segments, hit),
                        judge: None,
                        answer: None,
                        would_deny: (!would_mask).then(|| self.rule_denial(p, segments, hit)),
                        would_mask,
                    }),
                }
            }
            for (r, rule) in policy.rules.iter().enumerate() {
                let RuleAction::Escalate { when, .. } = &rule.action else {
                    continue;
                };
                if side == Side::Request && (when.is_none() || hits.iter().any(|h| h.rule == r)) {
                    escalate.push((p, r));
                }
            }
        }
        let decision = match deny {
            Some(denial) => Decision::Deny(denial),
            None => {
                let content = judge_content(segments);
                // With no text there is nothing a judge could object to.
                if escalate.is_empty() || content.is_empty() {
                    Decision::Allow
                } else {
                    Decision::Escalate(Escalation {
                        rules: escalate,
                        next: 0,
                        content,
                        monitored: Vec::new(),
                    })
                }
            }
        };
        Decided {
            decision,
            monitored,
            masks,
        }
    }

    fn decode<'b>(
        &self,
        content_encoding: Option<&str>,
        body: &'b [u8],
    ) -> Result<std::borrow::Cow<'b, [u8]>, DecodeError> {
        if body.len() > self.max_body_bytes {
            return Err(DecodeError::TooLarge {
                limit: self.max_body_bytes,
            });
        }
        decode(content_encoding, body, self.max_body_bytes)
    }

    /// Every rule of the selected policies whose patterns match the body (deny rules and
    /// escalations' `when`), with where, for authors.
    pub fn explain(
        &self,
        selection: &Selection,
        content_type: Option<&str>,
        content_encoding: Option<&str>,
        body: &[u8],
    ) -> Result<Explanation, String> {
        self.explain_wanting(
            selection,
            content_type,
            content_encoding,
            body,
            Want::Every,
            Side::Request,
        )
    }

    /// Every pattern of the selected policies' rules that matches the body, by rule id, with
    /// where it first matched: what `guardc test` counts for coverage by pattern. A keyword's
    /// matches are searched overlapping and a regex's leftmost-first one after another, so a
    /// pattern whose every match lies inside an earlier pattern's match of the same regex rule
    /// is not counted.
    pub fn matched_patterns(
        &self,
        selection: &Selection,
        content_type: Option<&str>,
        content_encoding: Option<&str>,
        body: &[u8],
    ) -> Result<Vec<(String, MatchSite)>, String> {
        self.explain_wanting(
            selection,
            content_type,
            content_encoding,
            body,
            Want::Patterns,
            Side::Request,
        )
        .map(|e| e.hits)
    }

    /// [`Ruleset::matched_patterns`] of the `on response` rules in an answer.
    pub fn matched_answer_patterns(
        &self,
        selection: &Selection,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Vec<(String, MatchSite)>, String> {
        self.explain_wanting(
            selection,
            content_type,
            None,
            body,
            Want::Patterns,
            Side::Response,
        )
        .map(|e| e.hits)
    }

    fn explain_wanting(
        &self,
        selection: &Selection,
        content_type: Option<&str>,
        content_encoding: Option<&str>,
        body: &[u8],
        want: Want,
        side: Side,
    ) -> Result<Explanation, String> {
        let body = self
            .decode(content_encoding, body)
            .map_err(|e| e.to_string())?;
        let extracted = extract(&body, content_type, &self.limits)
            .map_err(|e| format!("{} ({})", e, e.code()))?;
        let hits = selection
            .0
            .iter()
            .flat_map(|&p| {
                let segments = &extracted.segments;
                let texts: Vec<&str> = segments.iter().map(|s| s.text.as_str()).collect();
                self.scanners
                    .scan(p, &texts, want, side)
                    .into_iter()
                    .filter_map(move |hit| {
                        let rule = self.program.policies.get(p)?.rules.get(hit.rule)?;
                        Some((rule.id.clone(), self.match_site(p, segments, &hit)?))
                    })
            })
            .collect();
        Ok(Explanation {
            format: extracted.format.name(),
            segments: extracted.segments,
            hits,
        })
    }

    fn rule_denial(&self, policy: usize, segments: &[Segment], hit: &Hit) -> Denial {
        let p = self.program.policies.get(policy);
        let rule = p.and_then(|p| p.rules.get(hit.rule));
        let answer = rule.is_some_and(|r| r.side() == Side::Response);
        Denial {
            status: 403,
            code: if answer {
                Code::AnswerDenied.as_str()
            } else {
                Code::RuleDenied.as_str()
            },
            policy: p.map(|p| p.name.clone()).unwrap_or_default(),
            rule: rule.map(|r| r.id.clone()),
            judge: None,
            reason: rule
                .and_then(|r| r.reason.clone())
                .unwrap_or_else(|| "the request matched a deny rule".into()),
            matched: self.match_site(policy, segments, hit),
        }
    }

    fn match_site(&self, policy: usize, segments: &[Segment], hit: &Hit) -> Option<MatchSite> {
        let rule = self.program.policies.get(policy)?.rules.get(hit.rule)?;
        let patterns = rule.action.patterns()?;
        let segment = segments.get(hit.segment)?;
        let pattern = match hit.pattern {
            PatternRef::Keyword(k) => {
                MatchedPattern::Keyword(patterns.keywords.get(k as usize)?.clone())
            }
            PatternRef::Regex(x) => {
                MatchedPattern::Regex(patterns.regexes.get(x as usize)?.clone())
            }
        };
        let chars_before = |at: usize| segment.text.get(..at).map_or(0, |s| s.chars().count());
        Some(MatchSite {
            segment: segment.path.clone(),
            origin: segment.origin,
            index: hit.segment,
            pattern,
            start: chars_before(hit.span.start),
            end: chars_before(hit.span.end),
            byte_span: hit.span.clone(),
        })
    }
}

impl Escalation {
    /// The next judge call, or `None` when every judge has been asked. `seed` varies the fence
    /// per request.
    pub fn next_call(
        &self,
        ruleset: &Ruleset,
        secrets: &Secrets,
        seed: u64,
    ) -> Result<Option<JudgeCall>, MissingSecret> {
        let Some((policy, rule, judge)) = self.current(ruleset) else {
            return Ok(None);
        };
        judge::build_call(judge, secrets, &policy.name, &rule.id, &self.content, seed).map(Some)
    }

    /// Takes the current judge's reply: an outcome, or `None` when the next judge is to be asked.
    /// A monitored judge's answer is recorded ([`Escalation::monitored`]) and never decides.
    pub fn settle(&mut self, ruleset: &Ruleset, reply: JudgeReply<'_>) -> Option<Outcome> {
        let Some((policy, rule, judge)) = self.current(ruleset) else {
            return Some(Outcome::Allow);
        };
        let denial = |code: &'static str, reason: String| Denial {
            // A judge that could not decide is an outage the client may retry; a deny is final.
            status: if code == Code::JudgeUnavailable.as_str() {
                503
            } else {
                403
            },
            code,
            policy: policy.name.clone(),
            rule: Some(rule.id.clone()),
            judge: Some(judge.name.clone()),
            reason,
            matched: None,
        };
        let (answer, denial) = match judge::read_reply(reply) {
            Ok(JudgeVerdict::Allow) => ("allow", None),
            Ok(JudgeVerdict::Deny { reason }) => (
                "deny",
                Some(denial(
                    Code::JudgeDenied.as_str(),
                    reason.unwrap_or_else(|| "the content review denied this request".into()),
                )),
            ),
            Err(fault) => (
                fault_word(&fault),
                match judge.on_error {
                    OnError::Allow => None,
                    OnError::Deny => Some(denial(
                        Code::JudgeUnavailable.as_str(),
                        format!(
                            "the content review could not decide ({})",
                            fault_word(&fault)
                        ),
                    )),
                },
            ),
        };
        self.next += 1;
        let outcome = match rule.mode {
            Mode::Enforce => denial.map(Outcome::Deny),
            Mode::Monitor => {
                self.monitored.push(Finding {
                    policy: policy.name.clone(),
                    rule: rule.id.clone(),
                    matched: None,
                    judge: Some(judge.name.clone()),
                    answer: Some(answer.to_string()),
                    would_deny: denial,
                    would_mask: false,
                });
                None
            }
        };
        match outcome {
            Some(outcome) => Some(outcome),
            None if self.current(ruleset).is_none() => Some(Outcome::Allow),
            None => None,
        }
    }

    /// What the monitored judges asked so far answered, in the order they were asked.
    pub fn monitored(&self) -> &[Finding] {
        &self.monitored
    }

    /// The text the judges are asked about.
    pub fn content(&self) -> &str {
        &self.content
    }

    fn current<'r>(
        &self,
        ruleset: &'r Ruleset,
    ) -> Option<(&'r Policy, &'r crate::ir::Rule, &'r crate::ir::Judge)> {
        let &(p, r) = self.rules.get(self.next)?;
        let policy = ruleset.program.policies.get(p)?;
        let rule = policy.rules.get(r)?;
        let RuleAction::Escalate { judge, .. } = rule.action else {
            return None;
        };
        Some((policy, rule, ruleset.program.judges.get(judge as usize)?))
    }
}

fn fault_word(fault: &JudgeFault) -> &'static str {
    match fault {
        JudgeFault::Timeout => "timeout",
        JudgeFault::Failed => "unreachable",
        JudgeFault::Status(_) => "error status",
        JudgeFault::TooLarge => "answer too large",
        JudgeFault::NotCompletion | JudgeFault::NotVerdict => "unreadable answer",
    }
}

impl Denial {
    /// A refusal no rule produced (a request head, a body guard cannot read, the proxy itself):
    /// no rule, no judge, no match.
    pub fn refusal(policy: &str, status: u16, code: &'static str, reason: &str) -> Denial {
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
}

/// The text a judge is asked about: the prompt of the detected API first, then every other field
/// an upstream or a tool reads (each distinct text once), in document order. The API's envelope
/// (keys, roles, ids) is scanned by the rules but would only be noise to a judge.
fn judge_content(segments: &[Segment]) -> String {
    let mut content = String::new();
    let mut push = |text: &str| {
        if !content.is_empty() {
            content.push('\n');
        }
        content.push_str(text);
    };
    for segment in segments.iter().filter(|s| s.origin == Origin::Prompt) {
        push(&segment.text);
    }
    let mut shown = BTreeSet::new();
    for segment in segments.iter().filter(|s| s.origin == Origin::Field) {
        if shown.insert(segment.text.as_str()) {
            push(&segment.text);
        }
    }
    content
}

fn refusal(policy: &str, err: &DecodeError) -> Denial {
    let (status, code) = err.status_and_code();
    let reason = format!("the request body cannot be scanned: {err}");
    Denial::refusal(policy, status, code, &reason)
}

fn malformed(policy: &str, err: &ExtractError) -> Denial {
    let reason = format!("the request body cannot be scanned: {err}");
    Denial::refusal(policy, err.status(), err.code(), &reason)
}

/// Lowercase, without `:port` and trailing dot; IPv6 literals keep their brackets. `None` for
/// an authority that is not a plain `host[:port]` (see `head::plain_host`).
pub(crate) fn normalize_host(authority: &str) -> Option<String> {
    let host = crate::head::plain_host(authority)?;
    Some(host.trim_end_matches('.').to_ascii_lowercase())
}

fn selects(policy: &Policy, host: &str, path: &str) -> bool {
    let host_ok = policy.hosts.iter().any(|pattern| pattern.matches(host));
    host_ok
        && policy
            .path_prefix
            .as_deref()
            .is_none_or(|prefix| path.starts_with(prefix))
}

/// Validates a decoded bundle (see [`crate::validate`], in its order) and builds the scanner of
/// every policy, with its DFAs loaded by `load_dfa`.
fn load_scanners<S: AsRef<[u32]>>(
    decoded: &wire::Decoded<'_>,
    load_dfa: &DfaLoader<'_, S>,
) -> Result<Vec<PolicyScanner<S>>, LoadError> {
    let parts = validate::parts(decoded, load_dfa)?;
    let scanners = scan::load(parts)?;
    validate::program(&decoded.meta.program)?;
    Ok(scanners)
}

/// `bytes` copied to an 8-aligned place that is never freed: for a `'static` bundle that is not
/// aligned, loaded once per program.
fn aligned_static_copy(bytes: &[u8]) -> &'static [u8] {
    let padded: &'static mut [u8] = Box::leak(vec![0u8; bytes.len() + 7].into_boxed_slice());
    let offset = padded.as_ptr().align_offset(8).min(7);
    match padded.get_mut(offset..offset + bytes.len()) {
        Some(place) => {
            place.copy_from_slice(bytes);
            place
        }
        // Unreachable: the buffer has 7 spare bytes. An empty slice fails to decode.
        None => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{HostPattern, Patterns, Rule};
    use crate::{compile, CompileOptions};

    fn bundle() -> Vec<u8> {
        let program = Program {
            policies: vec![Policy {
                name: "p".into(),
                hosts: vec![HostPattern::Exact("h".into())],
                path_prefix: None,
                headers: vec![],
                rules: vec![Rule {
                    id: "r".into(),
                    reason: None,
                    mode: Default::default(),
                    action: RuleAction::Deny(Patterns {
                        keywords: vec!["secret".into()],
                        regexes: vec![r"AKIA[0-9A-Z]{16}".into(), r"[a-z]+@[a-z]+\.com".into()],
                        ..Patterns::default()
                    }),
                }],
            }],
            judges: vec![],
        };
        compile(&program, &CompileOptions::default()).unwrap().bytes
    }

    /// A `'static` copy of the bundle at `offset` bytes past an 8-aligned address, leaked for
    /// the test.
    fn leaked_at(bytes: &[u8], offset: usize) -> &'static [u8] {
        let buffer: &'static mut [u8] =
            Box::leak(vec![0u8; bytes.len() + offset + 8].into_boxed_slice());
        let start = buffer.as_ptr().align_offset(8) + offset;
        let slot = &mut buffer[start..start + bytes.len()];
        slot.copy_from_slice(bytes);
        slot
    }

    #[test]
    fn a_static_bundle_is_searched_in_place_aligned_or_not() {
        let bytes = bundle();
        let expected = |ruleset: &Ruleset| {
            let policy = ruleset.select("h", "/").unwrap();
            let deny = |text: &str| match ruleset.inspect(&policy, None, text.as_bytes()).decision {
                Decision::Deny(d) => d.matched.map(|m| m.byte_span),
                _ => None,
            };
            (
                deny("a secret"),
                deny("id AKIAABCDEFGHIJKLMNOP."),
                deny("mail bob@example.com"),
                deny("nothing"),
            )
        };
        let copied = Ruleset::from_bytes(&bytes).unwrap();
        assert!(matches!(copied.scanners, Scanners::Copied(_)));
        let aligned = Ruleset::from_static(leaked_at(&bytes, 0)).unwrap();
        assert!(matches!(aligned.scanners, Scanners::InPlace(_)));
        // Copied once into aligned memory, then searched in place too.
        let unaligned = Ruleset::from_static(leaked_at(&bytes, 1)).unwrap();
        assert!(matches!(unaligned.scanners, Scanners::InPlace(_)));
        assert_eq!(expected(&aligned), expected(&copied));
        assert_eq!(expected(&unaligned), expected(&copied));
        assert!(expected(&copied).0.is_some());
    }
}
