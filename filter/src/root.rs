//! The root context: one per plugin configuration per VM.
//!
//! The embedded bundle is loaded once per VM and shared by every root context of that VM (a
//! configuration update creates a new root context in the same VM). Each successful
//! `on_configure` builds a new [`Active`] state; requests created afterwards take it, requests
//! already in flight keep the one they started with. So a new secret is used by new requests
//! without rebuilding or reloading the module.

use std::cell::OnceCell;
use std::rc::Rc;

use std::time::Duration;

use guard_engine::{Ruleset, Secrets, DEFAULT_MAX_BODY_BYTES};
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{BufferType, ContextType, LogLevel};

use crate::config::{self, ConfigError};
use crate::entry;
use crate::held;
use crate::host;
use crate::http::{self, Request};
use crate::probe;

/// What every request of one configuration shares.
#[derive(Debug)]
pub(crate) struct Active {
    pub ruleset: Rc<Ruleset>,
    pub secrets: Secrets,
    /// Hold request heads until the body is decided (see `config`).
    pub hold_request_headers: bool,
}

thread_local! {
    /// The bundle, loaded at the first `on_configure` of this VM; a failure is kept too, so that
    /// every later configuration reports the same reason without re-validating.
    static RULESET: OnceCell<Result<Rc<Ruleset>, String>> = const { OnceCell::new() };
}

fn ruleset() -> Result<Rc<Ruleset>, String> {
    RULESET.with(|cell| {
        cell.get_or_init(|| {
            let bytes = entry::embedded_bundle().map_err(|e| e.to_string())?;
            Ruleset::from_static(bytes)
                .map(Rc::new)
                .map_err(|e| format!("the embedded bundle cannot be loaded: {e}"))
        })
        .clone()
    })
}

#[derive(Debug)]
pub(crate) struct Root {
    context_id: u32,
    active: Option<Rc<Active>>,
}

impl Root {
    pub(crate) fn new(context_id: u32) -> Root {
        Root {
            context_id,
            active: None,
        }
    }

    fn configure(&self, size: usize) -> Result<Active, String> {
        let ruleset = ruleset()?;
        let raw = match host::read_buffer(BufferType::PluginConfiguration, size) {
            Ok(raw) => raw,
            Err(status) => return Err(format!("the configuration cannot be read ({status:?})")),
        };
        let config = config::parse(&raw).map_err(|e| e.to_string())?;
        let missing = ruleset.missing_secrets(&config.secrets);
        if !missing.is_empty() {
            return Err(ConfigError::MissingSecrets(missing).to_string());
        }
        Ok(Active {
            ruleset,
            secrets: config.secrets,
            hold_request_headers: config.hold_request_headers,
        })
    }
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, plugin_configuration_size: usize) -> bool {
        match self.configure(plugin_configuration_size) {
            Ok(active) => {
                if let Some(warning) = probe::warning() {
                    host::log(LogLevel::Warn, &warning);
                }
                host::define_metrics(&active.ruleset);
                let program = active.ruleset.program();
                let names: Vec<&str> = program.policies.iter().map(|p| p.name.as_str()).collect();
                host::log(
                    LogLevel::Info,
                    &format!(
                        "guard: configured bundle={} policies={}: {} policies, {} judges, {} secrets, {}, body limit {} bytes (context {})",
                        active.ruleset.digest12(),
                        names.join(","),
                        program.policies.len(),
                        program.judges.len(),
                        active.secrets.len(),
                        if active.hold_request_headers {
                            "request heads held until the body is decided (needs allow_on_headers_stop_iteration: true in the Wasm filter config)"
                        } else {
                            "request heads sent before the body verdict (hold_request_headers: false)"
                        },
                        DEFAULT_MAX_BODY_BYTES,
                        self.context_id
                    ),
                );
                // Held heads are watched for a deployment whose Envoy does not deliver their
                // bodies (see `held`).
                let period = if active.hold_request_headers {
                    held::CHECK_EVERY
                } else {
                    Duration::ZERO
                };
                if host::tick_every(period).is_err() {
                    host::log(
                        LogLevel::Warn,
                        "guard: the held-request check cannot be scheduled",
                    );
                }
                self.active = Some(Rc::new(active));
                true
            }
            Err(reason) => {
                // Returning false makes Envoy refuse this configuration: at start-up the listener
                // does not come up, on an update the previous configuration keeps serving.
                host::log(
                    LogLevel::Error,
                    &format!("guard: configuration rejected: {reason}"),
                );
                false
            }
        }
    }

    fn on_tick(&mut self) {
        for (context_id, stalled) in held::overdue(host::now_nanos(), held::HOLD_GRACE) {
            http::refuse_stalled(&host::Envoy, context_id, &stalled);
        }
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        // Never `None`: the SDK panics on it. An unconfigured root (which Envoy should never ask
        // for requests) yields contexts that fail closed.
        Some(Box::new(Request::new(
            host::Envoy,
            context_id,
            self.active.clone(),
        )))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
