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
use std::time::{Duration, UNIX_EPOCH};

use guard_engine::ir::{Mode, Program};
use proxy_wasm::hostcalls;
use proxy_wasm::types::{BufferType, LogLevel, MapType, MetricType, Status};

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
    /// Lets a paused request go on.
    fn resume_request(&self) -> Result<(), Status>;
    /// Answers the current request locally with a JSON body.
    fn send_json(&self, status: u16, code: &str, body: &[u8]) -> Result<(), Status>;
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
    /// Counts a request rule `rule` denied (enforce) or would have denied (monitor).
    fn count_rule(&self, rule: &str);
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

    fn resume_request(&self) -> Result<(), Status> {
        hostcalls::resume_http_request()
    }

    fn send_json(&self, status: u16, code: &str, body: &[u8]) -> Result<(), Status> {
        let headers = vec![("content-type", "application/json"), ("x-guard-code", code)];
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
        count(counter);
    }

    fn count_rule(&self, rule: &str) {
        let id = RULE_METRICS.with(|m| m.borrow().get(rule).copied());
        if let Some(id) = id {
            let _ = hostcalls::increment_metric(id, 1);
        }
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
#[derive(Debug, Default)]
pub(crate) struct Headers(Vec<(String, String)>);

impl Headers {
    /// All headers of `map` with one hostcall. The serialisation is checked, not trusted: a
    /// malformed map reads as the pairs before the fault.
    pub(crate) fn read(map: MapType) -> Headers {
        Headers(
            crate::entry::header_map_bytes(map)
                .map(|bytes| parse_pairs(&bytes))
                .unwrap_or_default(),
        )
    }

    /// Headers given as pairs (the unit tests' fake host).
    #[cfg(test)]
    pub(crate) fn from_pairs(pairs: &[(&str, &str)]) -> Headers {
        Headers(
            pairs
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect(),
        )
    }

    /// Every (name, value) pair, pseudo-headers included, in Envoy's order.
    pub(crate) fn pairs(&self) -> Vec<(&str, &str)> {
        self.0
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect()
    }

    /// The first value of header `name` (lowercase, as Envoy keeps names).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Envoy's header map serialisation: a u32 count, then a (name length, value length) u32 pair
/// per header, then each name and value followed by a NUL; all integers little-endian.
fn parse_pairs(bytes: &[u8]) -> Vec<(String, String)> {
    let word = |at: usize| -> Option<usize> {
        let b: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(u32::from_le_bytes(b) as usize)
    };
    let mut pairs = Vec::new();
    let Some(count) = word(0) else {
        return pairs;
    };
    let Some(mut at) = count.checked_mul(8).and_then(|n| n.checked_add(4)) else {
        return pairs;
    };
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
        pairs.push((
            String::from_utf8_lossy(key).into_owned(),
            String::from_utf8_lossy(value).into_owned(),
        ));
        at = value_end.saturating_add(1);
    }
    pairs
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

thread_local! {
    /// Per rule id (unique across policies), its counter's id.
    static RULE_METRICS: RefCell<BTreeMap<String, u32>> = const { RefCell::new(BTreeMap::new()) };
}

/// Defines the counters, the rules' included; called from the root context, where the ABI allows
/// it. Every name comes from the bundle, never from a request, so the set of series is bounded.
pub(crate) fn define_metrics(program: &Program) {
    METRICS.with(|m| {
        m.get_or_init(|| {
            COUNTERS.map(|(_, name)| hostcalls::define_metric(MetricType::Counter, name).ok())
        });
    });
    RULE_METRICS.with(|m| {
        let mut ids = m.borrow_mut();
        for policy in &program.policies {
            for rule in &policy.rules {
                if ids.contains_key(&rule.id) {
                    continue;
                }
                let name = rule_metric_name(&policy.name, &rule.id, rule.mode);
                if let Ok(id) = hostcalls::define_metric(MetricType::Counter, &name) {
                    ids.insert(rule.id.clone(), id);
                }
            }
        }
    });
}

/// `guard.rule.<policy>.<rule>.<mode>`: requests the rule denied (enforce) or would have denied
/// (monitor). Names are kept to `[A-Za-z0-9_-]` so Envoy's stat name stays one dotted path.
fn rule_metric_name(policy: &str, rule: &str, mode: Mode) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    format!(
        "guard.rule.{}.{}.{}",
        clean(policy),
        clean(rule),
        mode.name()
    )
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
        let parsed = parse_pairs(&bytes);
        let expected: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(parsed, expected);
        let headers = Headers(parsed);
        assert_eq!(headers.get(":path"), Some("/v1"));
        assert_eq!(headers.get("x-empty"), Some(""));
        assert_eq!(headers.get("content-type"), None);
        // Every truncation reads as a prefix of the pairs, never a panic.
        for cut in 0..bytes.len() {
            let parsed = parse_pairs(&bytes[..cut]);
            assert!(expected.starts_with(&parsed), "cut {cut}: {parsed:?}");
        }
        // A count that promises more than there is.
        let mut lying = bytes.clone();
        lying[0] = 0xff;
        lying[3] = 0x7f;
        assert!(parse_pairs(&lying).len() <= pairs.len());
        assert!(parse_pairs(&[]).is_empty());
    }
}
