//! The floor any body-inspecting filter pays: buffer the request body until its end, read it
//! out of Envoy with one hostcall, search it for one literal (`账号`), answer 403 if it is
//! there and let the request go otherwise. No headers read, no JSON parsed, no metrics.
//! bench/envoy-load.py compares the guard against this.

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};

const NEEDLE: &[u8] = "账号".as_bytes();

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Warn);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root) });
}}

#[derive(Debug)]
struct Root;

impl Context for Root {}

impl RootContext for Root {
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
    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if !end_of_stream {
            return Action::Pause;
        }
        let body = self.get_http_request_body(0, body_size).unwrap_or_default();
        if memchr::memmem::find(&body, NEEDLE).is_some() {
            self.send_http_response(403, vec![("content-type", "text/plain")], Some(b"denied\n"));
            return Action::Pause;
        }
        Action::Continue
    }
}
