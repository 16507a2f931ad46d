//! Evaluation: from a request to a verdict, in the phases a proxy sees it.
//!
//! 1. Headers phase: [`Ruleset::select`] picks the policy from `:authority` and path, and
//!    [`Ruleset::headers`] gives the headers to set and remove. Nothing here needs the body, so a
//!    proxy decides headers before the body arrives.
//! 2. Body phase: [`Ruleset::inspect`] extracts the prompt text and runs the deny rules. Its answer
//!    is final (allow, deny) or an [`Escalation`] to the policy's judges.
//! 3. Judge phase: the proxy sends each [`JudgeCall`] and hands the reply to
//!    [`Escalation::settle`], until an [`Outcome`] comes out.

use std::collections::BTreeSet;

use crate::codes::Code;
use crate::decode::{decode, DecodeError};
use crate::extract::{extract, ExtractError, Limits, Origin, Segment};
use crate::ir::{HeaderOp, HostPattern, OnError, Policy, Program, RuleAction};
use crate::judge::{self, JudgeCall, JudgeFault, JudgeReply, JudgeVerdict};
use crate::scan::{self, DfaLoader, Hit, PolicyScanner, Scanners, Want};
use crate::template::{render, MissingSecret, PromptVars, Secrets};
use crate::validate;
use crate::wire::{self, LoadError, PatternRef};

/// A loaded, validated ruleset.
#[derive(Debug)]
pub struct Ruleset {
    program: Program,
    scanners: Scanners,
    limits: Limits,
    max_body_bytes: usize,
}

/// The largest body, before and after decoding, that guard scans by default; a larger one is
/// refused with 413 rather than forwarded unscanned.
pub const DEFAULT_MAX_BODY_BYTES: usize = 8 << 20;

/// The policy that selected a request (its index in file order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyId(usize);

/// The header changes for a selected request, header names in lowercase.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HeaderPlan {
    pub set: Vec<(String, String)>,
    pub remove: Vec<String>,
}

/// The answer of the body phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inspection {
    Allow,
    Deny(Denial),
    Escalate(Escalation),
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
    /// The segment's path in the request, such as `messages[1].content`.
    pub segment: String,
    pub pattern: MatchedPattern,
    /// Character offsets in the segment's decoded text.
    pub start: usize,
    pub end: usize,
    /// Byte offsets in the segment's decoded text.
    pub byte_span: std::ops::Range<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchedPattern {
    Keyword(String),
    Regex(String),
}

/// The judges still to ask about a request, in rule order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Escalation {
    policy: usize,
    /// Escalate rules of the policy, by index.
    rules: Vec<usize>,
    next: usize,
    content: String,
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
        Ruleset::new(decoded.meta.program, Scanners::Copied(scanners))
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
        Ruleset::new(decoded.meta.program, Scanners::InPlace(scanners))
    }

    fn new(program: Program, scanners: Scanners) -> Result<Ruleset, LoadError> {
        Ok(Ruleset {
            program,
            scanners,
            limits: Limits::default(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        })
    }

    /// The program this ruleset was compiled from.
    pub fn program(&self) -> &Program {
        &self.program
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

    /// The first policy in file order whose `match` lines all hold.
    /// An authority that is not a plain `host[:port]` selects nothing here; the headers phase
    /// ([`Ruleset::check_head`]) refuses it when some reading of it names a guarded host.
    pub fn select(&self, authority: &str, path: &str) -> Option<PolicyId> {
        let host = normalize_host(authority)?;
        let path = path.split('?').next().unwrap_or(path);
        self.program
            .policies
            .iter()
            .position(|policy| selects(policy, &host, path))
            .map(PolicyId)
    }

    pub fn policy_name(&self, policy: PolicyId) -> &str {
        self.policy(policy).map_or("", |p| p.name.as_str())
    }

    fn policy(&self, policy: PolicyId) -> Option<&Policy> {
        self.program.policies.get(policy.0)
    }

    /// The headers to set and remove for a request the policy selected.
    pub fn headers(
        &self,
        policy: PolicyId,
        secrets: &Secrets,
    ) -> Result<HeaderPlan, MissingSecret> {
        let mut plan = HeaderPlan::default();
        for op in self
            .policy(policy)
            .map(|p| p.headers.as_slice())
            .unwrap_or_default()
        {
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
    pub fn inspect(&self, policy: PolicyId, content_type: Option<&str>, body: &[u8]) -> Inspection {
        self.inspect_encoded(policy, content_type, None, body)
    }

    /// The body phase: decode, extract the prompt text and run the policy's rules.
    pub fn inspect_encoded(
        &self,
        policy: PolicyId,
        content_type: Option<&str>,
        content_encoding: Option<&str>,
        body: &[u8],
    ) -> Inspection {
        let Some(p) = self.policy(policy) else {
            return Inspection::Allow;
        };
        let body = match self.decode(content_encoding, body) {
            Ok(body) => body,
            Err(err) => return Inspection::Deny(refusal(p, &err)),
        };
        let extracted = match extract(&body, content_type, &self.limits) {
            Ok(extracted) => extracted,
            Err(err) => return Inspection::Deny(malformed(p, &err)),
        };
        let segments = &extracted.segments;
        let hits = self.scan(policy, segments, Want::First);
        if let Some(hit) = hits.into_iter().next() {
            return Inspection::Deny(self.rule_denial(policy, segments, &hit));
        }
        let rules: Vec<usize> = p
            .rules
            .iter()
            .enumerate()
            .filter(|(_, rule)| matches!(rule.action, RuleAction::Escalate { .. }))
            .map(|(i, _)| i)
            .collect();
        let content = judge_content(segments);
        if rules.is_empty() || content.is_empty() {
            // With no text there is nothing a judge could object to.
            return Inspection::Allow;
        }
        Inspection::Escalate(Escalation {
            policy: policy.0,
            rules,
            next: 0,
            content,
        })
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

    /// Every deny rule that matches the body, with where, for authors.
    pub fn explain(
        &self,
        policy: PolicyId,
        content_type: Option<&str>,
        content_encoding: Option<&str>,
        body: &[u8],
    ) -> Result<Explanation, String> {
        let body = self
            .decode(content_encoding, body)
            .map_err(|e| e.to_string())?;
        let extracted = extract(&body, content_type, &self.limits)
            .map_err(|e| format!("{} ({})", e, e.code()))?;
        let hits = self
            .scan(policy, &extracted.segments, Want::Every)
            .iter()
            .filter_map(|hit| {
                let rule = self.policy(policy)?.rules.get(hit.rule)?;
                Some((
                    rule.id.clone(),
                    self.match_site(policy, &extracted.segments, hit)?,
                ))
            })
            .collect();
        Ok(Explanation {
            format: extracted.format.name(),
            segments: extracted.segments,
            hits,
        })
    }

    fn scan(&self, policy: PolicyId, segments: &[Segment], want: Want) -> Vec<Hit> {
        let texts: Vec<&str> = segments.iter().map(|s| s.text.as_str()).collect();
        self.scanners.scan(policy.0, &texts, want)
    }

    fn rule_denial(&self, policy: PolicyId, segments: &[Segment], hit: &Hit) -> Denial {
        let p = self.policy(policy);
        let rule = p.and_then(|p| p.rules.get(hit.rule));
        Denial {
            status: 403,
            code: Code::RuleDenied.as_str(),
            policy: p.map(|p| p.name.clone()).unwrap_or_default(),
            rule: rule.map(|r| r.id.clone()),
            judge: None,
            reason: rule
                .and_then(|r| r.reason.clone())
                .unwrap_or_else(|| "the request matched a deny rule".into()),
            matched: self.match_site(policy, segments, hit),
        }
    }

    fn match_site(&self, policy: PolicyId, segments: &[Segment], hit: &Hit) -> Option<MatchSite> {
        let RuleAction::Deny(patterns) = &self.policy(policy)?.rules.get(hit.rule)?.action else {
            return None;
        };
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
    pub fn settle(&mut self, ruleset: &Ruleset, reply: JudgeReply<'_>) -> Option<Outcome> {
        let Some((policy, rule, judge)) = self.current(ruleset) else {
            return Some(Outcome::Allow);
        };
        let denial = |code: &'static str, reason: String| {
            Outcome::Deny(Denial {
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
            })
        };
        let outcome = match judge::read_reply(reply) {
            Ok(JudgeVerdict::Allow) => None,
            Ok(JudgeVerdict::Deny { reason }) => Some(denial(
                Code::JudgeDenied.as_str(),
                reason.unwrap_or_else(|| "the content review denied this request".into()),
            )),
            Err(fault) => match judge.on_error {
                OnError::Allow => None,
                OnError::Deny => Some(denial(
                    Code::JudgeUnavailable.as_str(),
                    format!(
                        "the content review could not decide ({})",
                        fault_word(&fault)
                    ),
                )),
            },
        };
        self.next += 1;
        match outcome {
            Some(outcome) => Some(outcome),
            None if self.current(ruleset).is_none() => Some(Outcome::Allow),
            None => None,
        }
    }

    /// The text the judges are asked about.
    pub fn content(&self) -> &str {
        &self.content
    }

    fn current<'r>(
        &self,
        ruleset: &'r Ruleset,
    ) -> Option<(&'r Policy, &'r crate::ir::Rule, &'r crate::ir::Judge)> {
        let policy = ruleset.program.policies.get(self.policy)?;
        let rule = policy.rules.get(*self.rules.get(self.next)?)?;
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

fn refusal(policy: &Policy, err: &DecodeError) -> Denial {
    let (status, code) = err.status_and_code();
    let reason = format!("the request body cannot be scanned: {err}");
    Denial::refusal(&policy.name, status, code, &reason)
}

fn malformed(policy: &Policy, err: &ExtractError) -> Denial {
    let reason = format!("the request body cannot be scanned: {err}");
    Denial::refusal(&policy.name, err.status(), err.code(), &reason)
}

/// Lowercase, without `:port` and trailing dot; IPv6 literals keep their brackets. `None` for
/// an authority that is not a plain `host[:port]` (see `head::plain_host`).
pub(crate) fn normalize_host(authority: &str) -> Option<String> {
    let host = crate::head::plain_host(authority)?;
    Some(host.trim_end_matches('.').to_ascii_lowercase())
}

fn selects(policy: &Policy, host: &str, path: &str) -> bool {
    let host_ok = policy.hosts.iter().any(|pattern| match pattern {
        HostPattern::Exact(name) => host == name,
        HostPattern::Subdomains(suffix) => {
            host.len() > suffix.len() && host.ends_with(suffix.as_str())
        }
    });
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
            let deny = |text: &str| match ruleset.inspect(policy, None, text.as_bytes()) {
                Inspection::Deny(d) => d.matched.map(|m| m.byte_span),
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
