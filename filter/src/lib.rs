//! guard-filter: the proxy-wasm HTTP filter that runs a compiled guard ruleset inside Envoy.
//!
//! Thin by design: host callbacks become `guard_engine` calls, verdicts become proxy actions.
//! The ruleset itself is not in this crate's source: `guardc build` places the compiled bundle in
//! the module's linear memory and records where (see `entry`), so one filter build serves every
//! policy.
//!
//! - `root`: the root context. Loads the embedded bundle once per VM, reads the plugin
//!   configuration (`{"secrets": {...}, "hold_request_headers": true}`) and shares the result with every request.
//! - `http`: one context per request: headers phase (head checks, select, hold), body phase
//!   (copy a body that comes whole, else move each chunk into our buffer; inspect), judge phase
//!   (dispatch, settle), and the header plan applied on approval.
//! - `held`: requests whose head is held, watched for an Envoy that does not deliver their body.
//! - `host`: every hostcall, behind the `Host` trait the request phase machine runs on (Envoy in
//!   the module, a recording fake in the unit tests: `http/phase_tests.rs`).
//! - `entry`: the SDK entry point, the embedded bundle's location and the one raw hostcall.
//! - `probe`: benchmark builds that skip a stage (never a deployed build).
//!
//! A panic aborts the VM, and with it every request the VM serves, so nothing here unwraps,
//! indexes or calls a hostcall helper that panics on data a client controls (the SDK's
//! `get_map_value` panics on a non-UTF-8 header value; we read headers as bytes).

// `entry` is the only module that may use unsafe: the workspace denies it, `entry` allows it.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

mod config;
mod entry;
mod held;
mod host;
mod http;
mod probe;
mod root;
