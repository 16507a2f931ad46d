//! Requests whose head the filter holds while it waits for their body.
//!
//! Holding the head (`on_http_request_headers` answering `Pause`) keeps the body callbacks coming
//! only when Envoy's Wasm filter config sets `allow_on_headers_stop_iteration: true`; without it
//! Envoy stops the whole request at the head, and the request would hang until a client or an
//! Envoy timeout ended it. A filter cannot read that setting, so it watches instead: a held
//! request that has seen no body callback within [`HOLD_GRACE`] is answered with a 500 and an
//! error log line naming the setting (from the root context's timer, see `root`). The request
//! fails closed and loudly; nothing reaches the upstream.
//!
//! One VM is one thread, so a thread-local map shared by the root and HTTP contexts is enough.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::Duration;

/// How long a held request may wait for its first body callback. With the Envoy setting in
/// place the first body bytes follow the head at once (Envoy answers `Expect: 100-continue`
/// itself), so only a client that stalls between head and body for this long is refused too.
pub(crate) const HOLD_GRACE: Duration = Duration::from_secs(5);

/// How often the root context looks for requests past [`HOLD_GRACE`].
pub(crate) const CHECK_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub(crate) struct Held {
    /// When the head was held (nanoseconds since the epoch, host clock).
    pub since: u64,
    pub policy: String,
    pub label: String,
    /// The error shape of the request's API, for the refusal.
    pub shape: guard_engine::ErrorShape,
    /// The request's sanitised `x-request-id`, for the refusal's body, header and audit line.
    pub request_id: Option<String>,
    /// The bundle's digest, first 12 hex digits.
    pub bundle: String,
}

thread_local! {
    static HELD: RefCell<BTreeMap<u32, Held>> = const { RefCell::new(BTreeMap::new()) };
}

/// Request `context_id` holds its head and waits for its first body callback.
pub(crate) fn hold(context_id: u32, held: Held) {
    HELD.with(|h| h.borrow_mut().insert(context_id, held));
}

/// Request `context_id` saw a body callback (or ended): it is no longer waiting.
pub(crate) fn release(context_id: u32) {
    HELD.with(|h| h.borrow_mut().remove(&context_id));
}

/// Takes the requests held since before `now - grace`.
pub(crate) fn overdue(now: u64, grace: Duration) -> Vec<(u32, Held)> {
    let grace = u64::try_from(grace.as_nanos()).unwrap_or(u64::MAX);
    HELD.with(|h| {
        let mut map = h.borrow_mut();
        let late: Vec<u32> = map
            .iter()
            .filter(|(_, held)| now.saturating_sub(held.since) >= grace)
            .map(|(id, _)| *id)
            .collect();
        late.into_iter()
            .filter_map(|id| map.remove(&id).map(|held| (id, held)))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_requests_past_the_grace_are_taken() {
        let held = |since| Held {
            since,
            policy: "p".into(),
            label: "r".into(),
            shape: guard_engine::ErrorShape::default(),
            request_id: None,
            bundle: String::new(),
        };
        hold(1, held(0));
        hold(2, held(4_000_000_000));
        hold(3, held(0));
        release(3);
        let late = overdue(5_000_000_000, Duration::from_secs(5));
        assert_eq!(late.iter().map(|(id, _)| *id).collect::<Vec<_>>(), [1]);
        assert!(overdue(5_000_000_000, Duration::from_secs(5)).is_empty());
        assert_eq!(overdue(9_000_000_000, Duration::from_secs(5)).len(), 1);
    }
}
