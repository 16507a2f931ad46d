//! The floor any body-inspecting filter pays: buffer the request body until its end, read it
//! out of Envoy with one hostcall, search it for one literal (`账号`), answer 403 if it is
//! there and let the request go otherwise. No headers read, no JSON parsed, no metrics.
//! bench/envoy-load.py compares the guard against this.
//!
//! Probes: a plugin configuration naming some of `reads`, `pairs`, `set` and `metric` adds
//! that one piece of the guard's per-request host work to the floor (five header reads by name,
//! one read of all headers, one header replaced, one counter incremented), so
//! `bench/envoy-load.py --probes` can price each. Without a configuration it is the floor.

use std::cell::Cell;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, LogLevel, MapType, MetricType};

const NEEDLE: &[u8] = "账号".as_bytes();

const READS: u8 = 1;
const PAIRS: u8 = 2;
const SET: u8 = 4;
const METRIC: u8 = 8;

thread_local! {
    static PROBES: Cell<u8> = const { Cell::new(0) };
    static COUNTER: Cell<Option<u32>> = const { Cell::new(None) };
}

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Warn);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root) });
}}

#[derive(Debug)]
struct Root;

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, size: usize) -> bool {
        let config = hostcalls::get_buffer(BufferType::PluginConfiguration, 0, size)
            .ok()
            .flatten()
            .unwrap_or_default();
        let config = String::from_utf8_lossy(&config);
        let probes = [
            ("reads", READS),
            ("pairs", PAIRS),
            ("set", SET),
            ("metric", METRIC),
        ]
        .iter()
        .filter(|(name, _)| config.contains(name))
        .fold(0, |all, (_, bit)| all | bit);
        PROBES.with(|p| p.set(probes));
        if probes & METRIC != 0 {
            let id = hostcalls::define_metric(MetricType::Counter, "floor.probe").ok();
            COUNTER.with(|c| c.set(id));
        }
        true
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Floor))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

#[derive(Debug)]
struct Floor;

impl Context for Floor {}

impl HttpContext for Floor {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let probes = PROBES.with(Cell::get);
        if probes & READS != 0 {
            for name in [
                ":authority",
                ":path",
                "x-request-id",
                "content-type",
                "content-encoding",
            ] {
                let _ = hostcalls::get_map_value_bytes(MapType::HttpRequestHeaders, name);
            }
        }
        if probes & PAIRS != 0 {
            let _ = hostcalls::get_map_bytes(MapType::HttpRequestHeaders);
        }
        if probes & SET != 0 {
            let _ = hostcalls::set_map_value(
                MapType::HttpRequestHeaders,
                "authorization",
                Some("Bearer sk-bench"),
            );
        }
        Action::Continue
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if !end_of_stream {
            return Action::Pause;
        }
        let body = self.get_http_request_body(0, body_size).unwrap_or_default();
        if let Some(id) = COUNTER.with(Cell::get) {
            let _ = hostcalls::increment_metric(id, 1);
        }
        if memchr::memmem::find(&body, NEEDLE).is_some() {
            self.send_http_response(403, vec![("content-type", "text/plain")], Some(b"denied\n"));
            return Action::Pause;
        }
        Action::Continue
    }
}
