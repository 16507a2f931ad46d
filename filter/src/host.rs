//! Every hostcall the filter makes goes through this module (the one raw call the SDK wraps with
//! a panicking parser, `entry::header_map_bytes`, is reached only from here), each wrapped so
//! that data a client or an upstream controls cannot make it panic. Requests reach the host
//! through the [`Host`] trait, so the phase machine can run against a fake in unit tests.
//!
//! The SDK's hostcall functions return `Result` for the statuses the ABI documents and panic on
//! any other; its `Context` trait methods additionally `unwrap` those results, and its string
//! getters `unwrap` a UTF-8 conversion of header values. We call the `hostcalls` functions,
//! handle their errors, and read header values as bytes.

use std::cell::{Cell, OnceCell, RefCell};
use std::collections::BTreeMap;
use std::ops::Range;
use std::time::{Duration, UNIX_EPOCH};

use guard_engine::ir::{Mode, Program, RuleAction};
use guard_engine::{Code, Ruleset};
use proxy_wasm::hostcalls;
use proxy_wasm::types::{BufferType, LogLevel, MapType, MetricType, Status};

use crate::probe::{self, Skip};

#[cfg(test)]
pub(crate) mod fake;

/// What the request phase machine (`http`) asks of its host. [`Envoy`] is the real one, the
/// only implementation in the module; the unit tests drive the phase machine through a
/// recording fake, so its invariants (nothing reaches the upstream before a verdict, exactly one
/// of resume or local reply) are checked without Envoy.
pub(crate) trait Host {
    /// One log line. A log that cannot be written is not worth failing a request over.
    fn log(&self, level: LogLevel, message: &str);
    /// Every request header, read with one hostcall.
    fn request_headers(&self) -> Headers;
    /// The `:status` of the judge call's response, if it has a readable one.
    fn judge_status(&self) -> Option<u16>;
    /// Bytes `0..len` of `buffer` (what Envoy holds of it now); empty when Envoy has none.
    fn read_buffer(&self, buffer: BufferType, len: usize) -> Result<Vec<u8>, Status>;
    /// Replaces the first `len` bytes of the request body Envoy holds with `bytes` (Envoy's
    /// buffer replace supports only this shape: drain from the start, then prepend).
    fn replace_request_body(&self, len: usize, bytes: &[u8]) -> Result<(), Status>;
    /// Sets request header `name` to `value`, replacing every value the client sent.
    fn set_request_header(&self, name: &str, value: &str) -> Result<(), Status>;
    /// Removes every value of request header `name`; a header that is not there is no error.
    fn remove_request_header(&self, name: &str);
    /// Every response header, read with one hostcall.
    fn response_headers(&self) -> Headers;
    /// Removes every value of response header `name`.
    fn remove_response_header(&self, name: &str);
    /// Sets response header `name` (`:status` included) to `value`, while the head is held.
    fn set_response_header(&self, name: &str, value: &str);
    /// Replaces the first `len` bytes of the response body Envoy holds with `bytes`.
    fn replace_response_body(&self, len: usize, bytes: &[u8]) -> Result<(), Status>;
    /// Lets a paused request go on.
    fn resume_request(&self) -> Result<(), Status>;
    /// Answers the current request locally with a JSON body, echoing the request's (sanitised)
    /// `x-request-id` when it had one.
    fn send_json(
        &self,
        status: u16,
        code: &str,
        body: &[u8],
        request_id: Option<&str>,
    ) -> Result<(), Status>;
    /// Sends a judge call; its token identifies the answer.
    fn dispatch(
        &self,
        cluster: &str,
        headers: Vec<(&str, &str)>,
        body: &[u8],
        timeout: Duration,
    ) -> Result<u32, Status>;
    /// Makes later hostcalls act on request `context_id` (from the root context's timer).
    fn act_on(&self, context_id: u32) -> Result<(), Status>;
    /// Nanoseconds since the epoch by the host's clock; 0 if the host will not say.
    fn now_nanos(&self) -> u64;
    /// A per-request seed for the judge prompt's fence.
    fn seed(&self, context_id: u32) -> u64;
    fn count(&self, counter: Counter);
    /// Adds one to a labelled counter ([`Metric`]) defined at configure.
    fn count_metric(&self, metric: &Metric<'_>);
    /// Records `value` in a labelled histogram defined at configure.
    fn record_metric(&self, metric: &Metric<'_>, value: u64);
    /// Sets the request's `guard` property, which an access log reads as
    /// `%FILTER_STATE(wasm.guard:PLAIN)%`.
    fn set_guard_property(&self, value: &str);
}

/// Envoy, through the SDK's `hostcalls` functions (never its panicking `Context` methods).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Envoy;

impl Host for Envoy {
    fn log(&self, level: LogLevel, message: &str) {
        log(level, message);
    }

    fn request_headers(&self) -> Headers {
        Headers::read(MapType::HttpRequestHeaders)
    }

    fn judge_status(&self) -> Option<u16> {
        match hostcalls::get_map_value_bytes(MapType::HttpCallResponseHeaders, ":status") {
            Ok(Some(bytes)) => String::from_utf8_lossy(&bytes).trim().parse().ok(),
            Ok(None) | Err(_) => None,
        }
    }

    fn read_buffer(&self, buffer: BufferType, len: usize) -> Result<Vec<u8>, Status> {
        read_buffer(buffer, len)
    }

    fn replace_request_body(&self, len: usize, bytes: &[u8]) -> Result<(), Status> {
        hostcalls::set_buffer(BufferType::HttpRequestBody, 0, len, bytes)
    }

    fn set_request_header(&self, name: &str, value: &str) -> Result<(), Status> {
        hostcalls::set_map_value(MapType::HttpRequestHeaders, name, Some(value))
    }

    fn remove_request_header(&self, name: &str) {
        let _ = hostcalls::remove_map_value(MapType::HttpRequestHeaders, name);
    }

    fn response_headers(&self) -> Headers {
        Headers::read(MapType::HttpResponseHeaders)
    }

    fn remove_response_header(&self, name: &str) {
        let _ = hostcalls::remove_map_value(MapType::HttpResponseHeaders, name);
    }

    fn set_response_header(&self, name: &str, value: &str) {
        let _ = hostcalls::set_map_value(MapType::HttpResponseHeaders, name, Some(value));
    }

    fn replace_response_body(&self, len: usize, bytes: &[u8]) -> Result<(), Status> {
        hostcalls::set_buffer(BufferType::HttpResponseBody, 0, len, bytes)
    }

    fn resume_request(&self) -> Result<(), Status> {
        hostcalls::resume_http_request()
    }

    fn send_json(
        &self,
        status: u16,
        code: &str,
        body: &[u8],
        request_id: Option<&str>,
    ) -> Result<(), Status> {
        let mut headers = vec![("content-type", "application/json"), ("x-guard-code", code)];
        if let Some(id) = request_id {
            headers.push(("x-request-id", id));
        }
        hostcalls::send_http_response(u32::from(status), headers, Some(body))
    }

    fn dispatch(
        &self,
        cluster: &str,
        headers: Vec<(&str, &str)>,
        body: &[u8],
        timeout: Duration,
    ) -> Result<u32, Status> {
        hostcalls::dispatch_http_call(cluster, headers, Some(body), Vec::new(), timeout)
    }

    fn act_on(&self, context_id: u32) -> Result<(), Status> {
        hostcalls::set_effective_context(context_id)
    }

    fn now_nanos(&self) -> u64 {
        now_nanos()
    }

    fn seed(&self, context_id: u32) -> u64 {
        seed(context_id)
    }

    fn count(&self, counter: Counter) {
        if probe::skips(Skip::Telemetry) {
            return;
        }
        count(counter);
    }

    fn count_metric(&self, metric: &Metric<'_>) {
        if probe::skips(Skip::Telemetry) {
            return;
        }
        count_labelled(metric);
    }

    fn record_metric(&self, metric: &Metric<'_>, value: u64) {
        record_labelled(metric, value);
    }

    fn set_guard_property(&self, value: &str) {
        if probe::skips(Skip::Telemetry) {
            return;
        }
        // Filter state `wasm.guard`; a host that refuses it costs the access log a field, not
        // the request.
        let _ = hostcalls::set_property(vec!["guard"], Some(value.as_bytes()));
    }
}

/// One log line, for the root context (requests log through [`Host::log`]).
pub(crate) fn log(level: LogLevel, message: &str) {
    let _ = hostcalls::log(level, message);
}

/// Bytes `0..len` of `buffer`, for the root context's configuration read and for [`Envoy`].
pub(crate) fn read_buffer(buffer: BufferType, len: usize) -> Result<Vec<u8>, Status> {
    hostcalls::get_buffer(buffer, 0, len).map(Option::unwrap_or_default)
}

/// Asks for `on_tick` every `period` (zero stops it).
pub(crate) fn tick_every(period: Duration) -> Result<(), Status> {
    hostcalls::set_tick_period(period)
}

/// A header map read whole: (name, value) pairs, values as text (invalid UTF-8 becomes U+FFFD).
/// Every name and value lives in one string, so reading a map costs two allocations, not two per
/// header.
#[derive(Debug, Default)]
pub(crate) struct Headers {
    text: String,
    /// Byte ranges of each name and value in `text`, in Envoy's order.
    pairs: Vec<(Range<usize>, Range<usize>)>,
}

impl Headers {
    /// All headers of `map` with one hostcall. The serialisation is checked, not trusted: a
    /// malformed map reads as the pairs before the fault.
    pub(crate) fn read(map: MapType) -> Headers {
        crate::entry::header_map_bytes(map)
            .map(|bytes| parse_pairs(&bytes))
            .unwrap_or_default()
    }

    /// Headers given as pairs (the unit tests' fake host).
    #[cfg(test)]
    pub(crate) fn from_pairs(pairs: &[(&str, &str)]) -> Headers {
        let mut headers = Headers::default();
        for (name, value) in pairs {
            headers.push(name.as_bytes(), value.as_bytes());
        }
        headers
    }

    fn push(&mut self, name: &[u8], value: &[u8]) {
        let name = append_lossy(&mut self.text, name);
        let value = append_lossy(&mut self.text, value);
        self.pairs.push((name, value));
    }

    /// Every (name, value) pair, pseudo-headers included, in Envoy's order.
    pub(crate) fn pairs(&self) -> Vec<(&str, &str)> {
        self.iter().collect()
    }

    fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(name, value)| {
            (
                self.text.get(name.clone()).unwrap_or_default(),
                self.text.get(value.clone()).unwrap_or_default(),
            )
        })
    }

    /// The first value of header `name` (lowercase, as Envoy keeps names).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value)
    }
}

/// Appends `bytes` to `text` as UTF-8 (invalid sequences become U+FFFD) and returns where.
fn append_lossy(text: &mut String, bytes: &[u8]) -> Range<usize> {
    let start = text.len();
    text.push_str(&String::from_utf8_lossy(bytes));
    start..text.len()
}

/// Envoy's header map serialisation: a u32 count, then a (name length, value length) u32 pair
/// per header, then each name and value followed by a NUL; all integers little-endian.
fn parse_pairs(bytes: &[u8]) -> Headers {
    let word = |at: usize| -> Option<usize> {
        let b: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(u32::from_le_bytes(b) as usize)
    };
    let mut headers = Headers {
        text: String::with_capacity(bytes.len()),
        pairs: Vec::new(),
    };
    let Some(count) = word(0) else {
        return headers;
    };
    let Some(mut at) = count.checked_mul(8).and_then(|n| n.checked_add(4)) else {
        return headers;
    };
    // A count larger than the buffer could hold is a lie; reserve what the bytes allow.
    headers.pairs.reserve(count.min(bytes.len() / 8));
    for n in 0..count {
        let (Some(key_len), Some(value_len)) = (word(4 + n * 8), word(8 + n * 8)) else {
            break;
        };
        let key_end = at.saturating_add(key_len);
        let value_start = key_end.saturating_add(1);
        let value_end = value_start.saturating_add(value_len);
        let (Some(key), Some(value)) = (bytes.get(at..key_end), bytes.get(value_start..value_end))
        else {
            break;
        };
        headers.push(key, value);
        at = value_end.saturating_add(1);
    }
    headers
}

/// Nanoseconds since the epoch by the host's clock; 0 if the host will not say.
pub(crate) fn now_nanos() -> u64 {
    hostcalls::get_current_time()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

thread_local! {
    static SEED_COUNTER: Cell<u64> = const { Cell::new(0) };
}

/// A per-request seed for the judge prompt's fence. wasm32-unknown-unknown has no entropy source
/// (no getrandom); the fence only has to vary per request (the engine mixes the seed with
/// splitmix64 and picks a fence that does not occur in the content), so the clock, the context
/// id and a per-VM counter serve.
fn seed(context_id: u32) -> u64 {
    let count = SEED_COUNTER.with(|c| {
        let n = c.get().wrapping_add(1);
        c.set(n);
        n
    });
    now_nanos() ^ (u64::from(context_id) << 32) ^ count.rotate_right(16)
}
/// The filter's counters, visible in Envoy's stats as `wasmcustom.guard.*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counter {
    /// Selected requests forwarded upstream (with the policy's headers).
    Allowed,
    /// Selected requests answered with a denial.
    Denied,
    /// Selected requests that went to a judge.
    Escalated,
    /// Judge calls that failed, timed out or answered something that is not a verdict.
    JudgeErrors,
}

const COUNTERS: [(Counter, &str); 4] = [
    (Counter::Allowed, "guard.allowed"),
    (Counter::Denied, "guard.denied"),
    (Counter::Escalated, "guard.escalated"),
    (Counter::JudgeErrors, "guard.judge_errors"),
];

thread_local! {
    /// Metric ids, defined once per VM (ids are per VM; Envoy aggregates by name).
    static METRICS: OnceCell<[Option<u32>; 4]> = const { OnceCell::new() };
}

/// The filter's labelled metrics. proxy-wasm metrics have no labels, so each label is a
/// `.key=value` segment of the name (Envoy prefixes `wasmcustom.`; tag extraction turns the
/// segments back into labels). Every value is [`clean`]ed and comes from the bundle or a fixed
/// list, never from a request, and every series is defined at configure ([`define_metrics`]), so
/// the set of series is bounded by the bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Metric<'a> {
    /// Counter: a deny rule that denied (enforce) or would have denied (monitor), an escalate
    /// rule whose judge was asked. Action and mode are the rule's, from the bundle.
    RuleMatch {
        policy: &'a str,
        rule: &'a str,
        action: &'static str,
        mode: Mode,
    },
    /// Counter: one judge call and how it ended.
    JudgeCall {
        judge: &'a str,
        outcome: JudgeOutcome,
    },
    /// Histogram: the milliseconds of each judge call that was answered or failed.
    JudgeLatency { judge: &'a str },
    /// Counter: a denial no rule made; `code` is the `guard.*` code without its prefix.
    Refusal { code: &'a str },
    /// Counter: a request the policy selected, at the headers phase.
    RequestsSeen { policy: &'a str },
    /// Counter: a selected request that went upstream.
    RequestsPassed { policy: &'a str },
    /// Gauge, 1: which bundle (first 12 hex digits of its digest) this VM runs.
    BundleInfo { bundle: &'a str },
}

/// How a judge call ended, as `guard.judge_calls` counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JudgeOutcome {
    Allow,
    Deny,
    Timeout,
    /// Reset, refused, or the call could not be sent at all.
    Unreachable,
    /// The judge answered a status other than 200.
    ErrorStatus,
    /// An answer that is not a chat completion, not a verdict, or too large.
    NotAVerdict,
}

impl JudgeOutcome {
    pub(crate) const ALL: [JudgeOutcome; 6] = [
        JudgeOutcome::Allow,
        JudgeOutcome::Deny,
        JudgeOutcome::Timeout,
        JudgeOutcome::Unreachable,
        JudgeOutcome::ErrorStatus,
        JudgeOutcome::NotAVerdict,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            JudgeOutcome::Allow => "allow",
            JudgeOutcome::Deny => "deny",
            JudgeOutcome::Timeout => "timeout",
            JudgeOutcome::Unreachable => "unreachable",
            JudgeOutcome::ErrorStatus => "error_status",
            JudgeOutcome::NotAVerdict => "not_a_verdict",
        }
    }
}

impl Metric<'_> {
    /// The metric's name, labels encoded as `.key=value` segments. Written piece by piece, not
    /// with `format!`: the filter's module has little room (see BENCHMARKS.md).
    pub(crate) fn name(&self) -> String {
        let mut out = String::with_capacity(96);
        self.write_name(&mut out);
        out
    }

    /// Writes [`Metric::name`] into `out`, which it clears first.
    fn write_name(&self, out: &mut String) {
        out.clear();
        let mut label = |key: &str, value: &str| {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(key);
            out.push('=');
            push_clean(out, value);
        };
        match self {
            Metric::RuleMatch {
                policy,
                rule,
                action,
                mode,
            } => {
                label("guard.rule_matches.policy", policy);
                label("rule", rule);
                label("action", action);
                label("mode", mode.name());
            }
            Metric::JudgeCall { judge, outcome } => {
                label("guard.judge_calls.judge", judge);
                label("outcome", outcome.name());
            }
            Metric::JudgeLatency { judge } => label("guard.judge_latency_ms.judge", judge),
            Metric::Refusal { code } => label(
                "guard.refusals.code",
                code.strip_prefix("guard.").unwrap_or(code),
            ),
            Metric::RequestsSeen { policy } => label("guard.requests_seen.policy", policy),
            Metric::RequestsPassed { policy } => label("guard.requests_passed.policy", policy),
            Metric::BundleInfo { bundle } => label("guard.bundle_info.bundle", bundle),
        }
    }

    fn kind(&self) -> MetricType {
        match self {
            Metric::JudgeLatency { .. } => MetricType::Histogram,
            Metric::BundleInfo { .. } => MetricType::Gauge,
            _ => MetricType::Counter,
        }
    }
}

/// A label value kept to `[A-Za-z0-9_-]` (anything else becomes `_`), so Envoy's stat name stays
/// one dotted path and a tag regex can split it. Also used for the names in the access-log
/// property and the audit line, which are space- and `=`-separated.
pub(crate) fn push_clean(out: &mut String, s: &str) {
    for c in s.chars() {
        out.push(if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
            c
        } else {
            '_'
        });
    }
}

/// The `action` label of a rule.
pub(crate) fn action_name(action: &RuleAction) -> &'static str {
    action.name()
}

/// The codes a refusal (a denial without a rule) can carry: every client code but the four a
/// rule or a judge gives.
pub(crate) fn refusal_codes() -> impl Iterator<Item = Code> {
    Code::ALL.iter().copied().filter(|code| {
        !matches!(
            code,
            Code::RuleDenied | Code::AnswerDenied | Code::JudgeDenied | Code::JudgeUnavailable
        )
    })
}

/// Every labelled metric of `program`, `bundle` naming it.
pub(crate) fn bundle_metrics<'a>(program: &'a Program, bundle: &'a str) -> Vec<Metric<'a>> {
    let mut metrics = vec![Metric::BundleInfo { bundle }];
    for policy in &program.policies {
        metrics.push(Metric::RequestsSeen {
            policy: &policy.name,
        });
        metrics.push(Metric::RequestsPassed {
            policy: &policy.name,
        });
        for rule in &policy.rules {
            metrics.push(Metric::RuleMatch {
                policy: &policy.name,
                rule: &rule.id,
                action: action_name(&rule.action),
                mode: rule.mode,
            });
        }
    }
    for judge in &program.judges {
        for outcome in JudgeOutcome::ALL {
            metrics.push(Metric::JudgeCall {
                judge: &judge.name,
                outcome,
            });
        }
        metrics.push(Metric::JudgeLatency { judge: &judge.name });
    }
    for code in refusal_codes() {
        metrics.push(Metric::Refusal {
            code: code.as_str(),
        });
    }
    metrics
}

thread_local! {
    /// Every labelled metric's id by name, defined at configure. A name not in it (which only a
    /// bug could build) is not counted: requests never define metrics.
    static LABELLED: RefCell<BTreeMap<String, u32>> = const { RefCell::new(BTreeMap::new()) };
}

/// Defines the counters, the bundle's labelled metrics included, and sets the bundle's info
/// gauge; called from the root context, where the ABI allows it. Every name comes from the
/// bundle or a fixed list, never from a request, so the set of series is bounded.
pub(crate) fn define_metrics(ruleset: &Ruleset) {
    METRICS.with(|m| {
        m.get_or_init(|| {
            COUNTERS.map(|(_, name)| hostcalls::define_metric(MetricType::Counter, name).ok())
        });
    });
    let metrics = bundle_metrics(ruleset.program(), ruleset.digest12());
    LABELLED.with(|ids| {
        let mut ids = ids.borrow_mut();
        for metric in &metrics {
            let name = metric.name();
            if ids.contains_key(&name) {
                continue;
            }
            if let Ok(id) = hostcalls::define_metric(metric.kind(), &name) {
                ids.insert(name, id);
            }
        }
    });
    record_labelled(
        &Metric::BundleInfo {
            bundle: ruleset.digest12(),
        },
        1,
    );
}

/// Adds one to a labelled counter.
fn count_labelled(metric: &Metric<'_>) {
    if let Some(id) = labelled_id(metric) {
        let _ = hostcalls::increment_metric(id, 1);
    }
}

/// Records `value` in a labelled histogram, or sets a labelled gauge to it.
fn record_labelled(metric: &Metric<'_>, value: u64) {
    if let Some(id) = labelled_id(metric) {
        let _ = hostcalls::record_metric(id, value);
    }
}

thread_local! {
    /// Where a request writes the name of the metric it counts: no allocation per count.
    static NAME: RefCell<String> = const { RefCell::new(String::new()) };
}

fn labelled_id(metric: &Metric<'_>) -> Option<u32> {
    NAME.with(|name| {
        let mut name = name.try_borrow_mut().ok()?;
        metric.write_name(&mut name);
        LABELLED.with(|ids| ids.try_borrow().ok()?.get(name.as_str()).copied())
    })
}

fn count(counter: Counter) {
    let id = METRICS.with(|m| {
        m.get()
            .and_then(|ids| ids.get(counter as usize).copied().flatten())
    });
    if let Some(id) = id {
        let _ = hostcalls::increment_metric(id, 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serialise(pairs: &[(&str, &str)]) -> Vec<u8> {
        let mut out = (pairs.len() as u32).to_le_bytes().to_vec();
        for (k, v) in pairs {
            out.extend_from_slice(&(k.len() as u32).to_le_bytes());
            out.extend_from_slice(&(v.len() as u32).to_le_bytes());
        }
        for (k, v) in pairs {
            out.extend_from_slice(k.as_bytes());
            out.push(0);
            out.extend_from_slice(v.as_bytes());
            out.push(0);
        }
        out
    }

    #[test]
    fn header_pairs_parse_and_malformed_maps_do_not_panic() {
        let pairs = [
            (":authority", "a.example"),
            (":path", "/v1"),
            ("x-empty", ""),
        ];
        let bytes = serialise(&pairs);
        let headers = parse_pairs(&bytes);
        assert_eq!(headers.pairs(), pairs);
        assert_eq!(headers.get(":path"), Some("/v1"));
        assert_eq!(headers.get("x-empty"), Some(""));
        assert_eq!(headers.get("content-type"), None);
        // Every truncation reads as a prefix of the pairs, never a panic.
        for cut in 0..bytes.len() {
            let parsed = parse_pairs(&bytes[..cut]);
            assert!(pairs.starts_with(&parsed.pairs()), "cut {cut}: {parsed:?}");
        }
        // A count that promises more than there is.
        let mut lying = bytes.clone();
        lying[0] = 0xff;
        lying[3] = 0x7f;
        assert!(parse_pairs(&lying).pairs().len() <= pairs.len());
        assert!(parse_pairs(&[]).pairs().is_empty());
        // Invalid UTF-8 reads as U+FFFD and leaves the next pair where it was.
        let mut bytes = serialise(&[("x-a", "ab"), ("x-b", "c")]);
        let at = bytes.len() - "ab\0x-b\0c\0".len() + 1;
        bytes[at] = 0xff;
        assert_eq!(
            parse_pairs(&bytes).pairs(),
            [("x-a", "a\u{fffd}"), ("x-b", "c")]
        );
    }
}
