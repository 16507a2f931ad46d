//! The client's answer: a [`Denial`] written in the error shape of the API the request was sent
//! to, so each provider's SDK raises its own error class with guard's reason as the message, and
//! guard's code, policy and rule stay machine-readable in every shape.
//!
//! The shape is chosen from the request head alone ([`ErrorShape::for_request`]), in the headers
//! phase, so every local reply of a request (a refused head, a refused body, a denial) has the
//! same shape. The path decides first, because gateways and compatibility layers put one API
//! behind another's host; the host breaks the tie only for paths no rule claims:
//!
//! | request | shape |
//! |---|---|
//! | path ending in `/v1/messages` or holding `/v1/messages/` (`count_tokens`, `batches`) | Anthropic |
//! | last path segment `NAME:METHOD` with a Gemini method (`generateContent`, `streamGenerateContent`, `countTokens`, `embedContent`, `batchEmbedContents`, `batchGenerateContent`) | Gemini |
//! | path under `/api/v1/services/`, `/api/v1/apps/` or `/api/v1/tasks/` | DashScope |
//! | path with a segment `openai` or `compatible-mode` (Google's and Alibaba's OpenAI-compatible layers) | OpenAI |
//! | any other path, host `api.anthropic.com` | Anthropic |
//! | any other path, host `generativelanguage.googleapis.com` | Gemini |
//! | anything else | OpenAI |
//!
//! Paths are compared without their query and case-sensitively (as the APIs route them); hosts
//! as `select` reads them (lowercase, no port, no trailing dot). An authority that is not a plain
//! `host[:port]` has no host here: its path alone decides.
//!
//! No shape quotes request text: the message is guard's sentence about the policy, the rule and
//! the reason, which are the author's words (or the judge's reason).
//!
//! Every shape also names the request and the bundle ([`ReplyContext`]): `request_id`, the
//! request's `x-request-id` sanitised by [`sanitize_request_id`] (JSON null without one), and
//! `bundle`, the first 12 hex digits of the bundle's digest, so a client's error report leads the
//! on-call to the log line and the compiled policy that answered.

use crate::eval::{normalize_host, Denial};

/// The error body format of an LLM API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ErrorShape {
    /// `{"error": {"message", "type", "code", "param", ...}}`: OpenAI and every API that copies
    /// it (chat completions, Responses, embeddings, compatible modes). The default.
    #[default]
    OpenAi,
    /// `{"type": "error", "error": {"type", "message", ...}}`: Anthropic Messages.
    Anthropic,
    /// `{"error": {"code": <status>, "message", "status", "details": [ErrorInfo]}}`: Google's
    /// API error (`google.rpc.Status`), as the Gemini API answers.
    Gemini,
    /// `{"code", "message", ...}` at the top level: DashScope's native API.
    DashScope,
}

/// Gemini's methods, written as the last path segment's `:method` suffix.
const GEMINI_METHODS: &[&str] = &[
    "generateContent",
    "streamGenerateContent",
    "countTokens",
    "embedContent",
    "batchEmbedContents",
    "batchGenerateContent",
];

/// DashScope's native API roots (text and multimodal generation, applications, async tasks).
const DASHSCOPE_ROOTS: &[&str] = &["/api/v1/services/", "/api/v1/apps/", "/api/v1/tasks/"];

/// Path segments of the OpenAI-compatible layers that live on other providers' hosts.
const OPENAI_COMPATIBLE_SEGMENTS: &[&str] = &["openai", "compatible-mode"];

impl ErrorShape {
    /// The error shape for a request to `authority` and `path` (with or without a query): the
    /// table in this module's documentation, path first, host as the tiebreak.
    pub fn for_request(authority: &str, path: &str) -> ErrorShape {
        // Byte loops, not `str` patterns: a path is short, and the pattern searchers would be
        // kilobytes of new code in the filter's module.
        let path = path.as_bytes();
        let end = path
            .iter()
            .position(|&b| b == b'?' || b == b'#')
            .unwrap_or(path.len());
        let path = path.get(..end).unwrap_or_default();
        if path.ends_with(b"/v1/messages") || holds(path, b"/v1/messages/") {
            return ErrorShape::Anthropic;
        }
        if is_gemini_method(path) {
            return ErrorShape::Gemini;
        }
        if DASHSCOPE_ROOTS
            .iter()
            .any(|root| path.starts_with(root.as_bytes()))
        {
            return ErrorShape::DashScope;
        }
        if path.split(|&b| b == b'/').any(|segment| {
            OPENAI_COMPATIBLE_SEGMENTS
                .iter()
                .any(|s| s.as_bytes() == segment)
        }) {
            return ErrorShape::OpenAi;
        }
        match normalize_host(authority).as_deref() {
            Some("api.anthropic.com") => ErrorShape::Anthropic,
            Some("generativelanguage.googleapis.com") => ErrorShape::Gemini,
            _ => ErrorShape::OpenAi,
        }
    }
}

/// Whether `needle` occurs in `haystack`.
fn holds(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Whether the last segment is `NAME:METHOD` (the colon possibly percent-encoded, which Google's
/// front end decodes) with a Gemini method.
fn is_gemini_method(path: &[u8]) -> bool {
    let start = path.iter().rposition(|&b| b == b'/').map_or(0, |at| at + 1);
    let last = path.get(start..).unwrap_or_default();
    let method = match last.iter().rposition(|&b| b == b':') {
        Some(at) => last.get(at + 1..),
        None => last
            .windows(3)
            .rposition(|w| w.eq_ignore_ascii_case(b"%3a"))
            .and_then(|at| last.get(at + 3..)),
    };
    method.is_some_and(|method| GEMINI_METHODS.iter().any(|m| m.as_bytes() == method))
}

/// The longest request id an error body or a log line carries.
pub const MAX_REQUEST_ID: usize = 64;

/// A request id is client-supplied: keep it to one short token, safe inside a log line, a
/// header and a JSON string (ASCII letters, digits and `-_.:`, at most [`MAX_REQUEST_ID`]).
pub fn sanitize_request_id(id: &str) -> String {
    id.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
        .take(MAX_REQUEST_ID)
        .collect()
}

/// What names the request and the bundle in an error body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReplyContext<'a> {
    /// The request's `x-request-id`, already sanitised ([`sanitize_request_id`]).
    pub request_id: Option<&'a str>,
    /// The bundle's digest, first 12 hex digits (`Ruleset::digest12`).
    pub bundle: &'a str,
}

impl Denial {
    /// The client's response body in `shape`, naming the request and the bundle of `context`.
    pub fn body_in(&self, shape: ErrorShape, context: &ReplyContext<'_>) -> Vec<u8> {
        use Json::{Null, Num, Obj, Str};
        let message = self.message();
        let rule = || self.rule.as_deref().map_or(Null, Str);
        let request_id = || context.request_id.map_or(Null, Str);
        let bundle = || Str(context.bundle);
        let body = match shape {
            ErrorShape::OpenAi => Obj(vec![(
                "error",
                Obj(vec![
                    ("message", Str(&message)),
                    ("type", Str(openai_type(self.status))),
                    ("code", Str(self.code)),
                    ("param", Null),
                    ("policy", Str(&self.policy)),
                    ("rule", rule()),
                    ("reason", Str(&self.reason)),
                    ("request_id", request_id()),
                    ("bundle", bundle()),
                ]),
            )]),
            // `details.error_code` is where the Anthropic SDK reads a stable code from
            // (`APIStatusError.error_code`); `code` beside it is the name the other shapes use.
            ErrorShape::Anthropic => Obj(vec![
                ("type", Str("error")),
                (
                    "error",
                    Obj(vec![
                        ("type", Str(anthropic_type(self.status))),
                        ("message", Str(&message)),
                        ("details", Obj(vec![("error_code", Str(self.code))])),
                        ("code", Str(self.code)),
                        ("policy", Str(&self.policy)),
                        ("rule", rule()),
                        ("reason", Str(&self.reason)),
                        ("request_id", request_id()),
                        ("bundle", bundle()),
                    ]),
                ),
            ]),
            ErrorShape::Gemini => {
                // ErrorInfo's metadata is a map of strings: a missing rule or request id is left
                // out, not null.
                let mut metadata = vec![("policy", Str(&self.policy))];
                if let Some(rule) = &self.rule {
                    metadata.push(("rule", Str(rule)));
                }
                if let Some(id) = context.request_id {
                    metadata.push(("request_id", Str(id)));
                }
                metadata.push(("bundle", bundle()));
                let info = Obj(vec![
                    ("@type", Str("type.googleapis.com/google.rpc.ErrorInfo")),
                    ("reason", Str(self.code)),
                    ("domain", Str("guard")),
                    ("metadata", Obj(metadata)),
                ]);
                Obj(vec![(
                    "error",
                    Obj(vec![
                        ("code", Num(self.status)),
                        ("message", Str(&message)),
                        ("status", Str(google_status(self.status))),
                        ("details", Json::Arr(vec![info])),
                    ]),
                )])
            }
            // The DashScope SDK surfaces only `code`, `message` and `request_id` of an error, so
            // guard's code is the `code` itself and the proxy's x-request-id its `request_id`.
            ErrorShape::DashScope => Obj(vec![
                ("code", Str(self.code)),
                ("message", Str(&message)),
                ("policy", Str(&self.policy)),
                ("rule", rule()),
                ("reason", Str(&self.reason)),
                ("request_id", request_id()),
                ("bundle", bundle()),
            ]),
        };
        let mut out = String::new();
        body.write(&mut out);
        out.into_bytes()
    }

    /// One sentence for every shape's message: what denied the request and why.
    fn message(&self) -> String {
        let subject = match (&self.rule, &self.judge) {
            (Some(rule), Some(judge)) => format!("rule `{rule}` (judge `{judge}`)"),
            (Some(rule), None) => format!("rule `{rule}`"),
            _ => "request checks".to_string(),
        };
        format!(
            "request denied by guard policy `{}`, {subject}: {}",
            self.policy, self.reason
        )
    }
}

/// A JSON value written in field order. Smaller in the filter's module than a
/// `serde_json::Value` built with `json!`, where every key is an allocation and a map insert.
enum Json<'a> {
    Str(&'a str),
    Num(u16),
    Null,
    Obj(Vec<(&'a str, Json<'a>)>),
    Arr(Vec<Json<'a>>),
}

impl Json<'_> {
    fn write(&self, out: &mut String) {
        match self {
            Json::Str(text) => write_str(out, text),
            Json::Num(n) => out.push_str(&n.to_string()),
            Json::Null => out.push_str("null"),
            Json::Obj(fields) => {
                out.push('{');
                for (n, (key, value)) in fields.iter().enumerate() {
                    if n > 0 {
                        out.push(',');
                    }
                    write_str(out, key);
                    out.push(':');
                    value.write(out);
                }
                out.push('}');
            }
            Json::Arr(items) => {
                out.push('[');
                for (n, item) in items.iter().enumerate() {
                    if n > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
        }
    }
}

/// A JSON string, escaped by serde_json (already in the module for the judge's bodies).
fn write_str(out: &mut String, text: &str) {
    match serde_json::to_string(text) {
        Ok(quoted) => out.push_str(&quoted),
        // Serialising a string cannot fail; an empty string keeps the body valid JSON regardless.
        Err(_) => out.push_str("\"\""),
    }
}

/// OpenAI's error `type`: guard's own kind for a policy's deny, the server's for an outage.
fn openai_type(status: u16) -> &'static str {
    match status {
        403 => "policy_violation",
        500..=599 => "server_error",
        _ => "invalid_request_error",
    }
}

/// Anthropic's error `type` for a status, one of the SDK's `ErrorType` values. A 5xx is
/// `api_error`, not `overloaded_error`: the SDK picks its exception by status (a 503 is
/// `ServiceUnavailableError`, an `InternalServerError`, retried either way), and
/// `overloaded_error` is Anthropic's 529, which code that reads the type takes to mean Anthropic
/// itself is over capacity. A 413 is `invalid_request_error`: the SDK's `ErrorType` has no
/// `request_too_large`, and its class (`ContentTooLargeError`) comes from the status.
fn anthropic_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        408 | 504 => "timeout_error",
        409 => "conflict_error",
        429 => "rate_limit_error",
        500..=599 => "api_error",
        _ => "invalid_request_error",
    }
}

/// The `google.rpc.Code` name Google's APIs pair with an HTTP status. A 413 is
/// `INVALID_ARGUMENT`, as Gemini answers an oversized request: `RESOURCE_EXHAUSTED` is its quota
/// error (429), which clients retry after a wait, and a body too large never succeeds.
fn google_status(status: u16) -> &'static str {
    match status {
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        429 => "RESOURCE_EXHAUSTED",
        501 => "UNIMPLEMENTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        500..=599 => "INTERNAL",
        _ => "INVALID_ARGUMENT",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Code;
    use serde_json::{json, Value};

    #[test]
    fn the_shape_follows_the_path_then_the_host() {
        use ErrorShape::*;
        let table = [
            // OpenAI and its copies.
            ("api.openai.com", "/v1/chat/completions", OpenAi),
            ("api.openai.com", "/v1/responses", OpenAi),
            ("api.openai.com", "/v1/embeddings?x=1", OpenAi),
            ("api.openai.com", "/v1/threads/thread_abc/messages", OpenAi),
            (
                "dashscope.aliyuncs.com",
                "/compatible-mode/v1/chat/completions",
                OpenAi,
            ),
            ("llm.internal:8080", "/v1/chat/completions", OpenAi),
            ("", "", OpenAi),
            // Anthropic Messages, on any host.
            ("api.anthropic.com", "/v1/messages", Anthropic),
            ("api.anthropic.com", "/v1/messages/count_tokens", Anthropic),
            (
                "api.anthropic.com",
                "/v1/messages/batches?limit=2",
                Anthropic,
            ),
            (
                "dashscope.aliyuncs.com",
                "/apps/anthropic/v1/messages",
                Anthropic,
            ),
            ("llm.internal", "/v1/messages", Anthropic),
            ("API.Anthropic.com.:443", "/v1/models", Anthropic),
            // Gemini, by method on any host, or by its host.
            (
                "generativelanguage.googleapis.com",
                "/v1beta/models/gemini-2.5-flash:generateContent",
                Gemini,
            ),
            (
                "llm.internal",
                "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
                Gemini,
            ),
            (
                "llm.internal",
                "/v1/models/gemini-pro%3AcountTokens",
                Gemini,
            ),
            (
                "llm.internal",
                "/v1/models/text-embedding-004:embedContent",
                Gemini,
            ),
            ("generativelanguage.googleapis.com", "/v1beta/files", Gemini),
            ("llm.internal", "/v1/models/x:unknownMethod", OpenAi),
            // Google's OpenAI-compatible layer answers OpenAI's shape.
            (
                "generativelanguage.googleapis.com",
                "/v1beta/openai/chat/completions",
                OpenAi,
            ),
            // DashScope's native API.
            (
                "dashscope.aliyuncs.com",
                "/api/v1/services/aigc/text-generation/generation",
                DashScope,
            ),
            (
                "dashscope.aliyuncs.com",
                "/api/v1/apps/app_123/completion",
                DashScope,
            ),
            (
                "gateway.internal",
                "/api/v1/services/aigc/multimodal-generation/generation",
                DashScope,
            ),
            ("dashscope.aliyuncs.com", "/api/v2/services/x", OpenAi),
            // An authority no plain reading gives: the path alone decides.
            ("api.anthropic.com@evil", "/v1/models", OpenAi),
            ("api.anthropic.com@evil", "/v1/messages", Anthropic),
        ];
        for (authority, path, shape) in table {
            assert_eq!(
                ErrorShape::for_request(authority, path),
                shape,
                "{authority} {path}"
            );
        }
    }

    fn rule_deny() -> Denial {
        Denial {
            status: 403,
            code: Code::RuleDenied.as_str(),
            policy: "egress".into(),
            rule: Some("account".into()),
            judge: None,
            reason: "account identifiers must not leave the mesh".into(),
            matched: None,
        }
    }

    fn judge_deny() -> Denial {
        Denial {
            code: Code::JudgeDenied.as_str(),
            rule: Some("confidential".into()),
            judge: Some("privacy".into()),
            reason: "mentions a confidential meeting".into(),
            ..rule_deny()
        }
    }

    fn judge_outage() -> Denial {
        Denial {
            status: 503,
            code: Code::JudgeUnavailable.as_str(),
            reason: "the content review could not decide (timeout)".into(),
            ..judge_deny()
        }
    }

    fn too_large() -> Denial {
        Denial::refusal(
            "egress",
            413,
            Code::BodyTooLarge.as_str(),
            "the request body cannot be scanned: too large",
        )
    }

    fn malformed() -> Denial {
        Denial::refusal(
            "egress",
            400,
            Code::MalformedJson.as_str(),
            "the request body cannot be scanned: bad json at line 1, column 2",
        )
    }

    const BUNDLE: &str = "0123456789ab";

    /// Where a shape keeps guard's names: the object `request_id` and `bundle` sit in.
    fn names(body: &mut Value, shape: ErrorShape) -> &mut serde_json::Map<String, Value> {
        let at = match shape {
            ErrorShape::OpenAi | ErrorShape::Anthropic => "/error",
            ErrorShape::Gemini => "/error/details/0/metadata",
            ErrorShape::DashScope => "",
        };
        body.pointer_mut(at).unwrap().as_object_mut().unwrap()
    }

    /// The body with request id `req-1`; its request id and bundle are checked and taken out, so
    /// the tests below compare the rest.
    fn body(denial: &Denial, shape: ErrorShape) -> Value {
        let context = ReplyContext {
            request_id: Some("req-1"),
            bundle: BUNDLE,
        };
        let mut body: Value = serde_json::from_slice(&denial.body_in(shape, &context)).unwrap();
        let names = names(&mut body, shape);
        assert_eq!(
            names.remove("request_id"),
            Some(json!("req-1")),
            "{shape:?}"
        );
        assert_eq!(names.remove("bundle"), Some(json!(BUNDLE)), "{shape:?}");
        body
    }

    #[test]
    fn a_request_without_an_id_has_a_null_one() {
        let context = ReplyContext {
            request_id: None,
            bundle: BUNDLE,
        };
        for shape in [
            ErrorShape::OpenAi,
            ErrorShape::Anthropic,
            ErrorShape::Gemini,
            ErrorShape::DashScope,
        ] {
            let mut body: Value =
                serde_json::from_slice(&rule_deny().body_in(shape, &context)).unwrap();
            let names = names(&mut body, shape);
            // Gemini's metadata is a map of strings: the id is left out there.
            let expected = (shape != ErrorShape::Gemini).then_some(Value::Null);
            assert_eq!(names.get("request_id").cloned(), expected, "{shape:?}");
            assert_eq!(names.get("bundle"), Some(&json!(BUNDLE)), "{shape:?}");
        }
    }

    #[test]
    fn request_ids_are_sanitised() {
        assert_eq!(sanitize_request_id("abc-123_x.y:z"), "abc-123_x.y:z");
        assert_eq!(sanitize_request_id("a b\"c\u{7f}d=e"), "abcde");
        assert_eq!(sanitize_request_id(&"x".repeat(500)).len(), MAX_REQUEST_ID);
    }

    const RULE_MESSAGE: &str = "request denied by guard policy `egress`, rule `account`: account identifiers must not leave the mesh";
    const JUDGE_MESSAGE: &str = "request denied by guard policy `egress`, rule `confidential` (judge `privacy`): mentions a confidential meeting";
    const OUTAGE_MESSAGE: &str = "request denied by guard policy `egress`, rule `confidential` (judge `privacy`): the content review could not decide (timeout)";
    const LARGE_MESSAGE: &str = "request denied by guard policy `egress`, request checks: the request body cannot be scanned: too large";

    #[test]
    fn openai_shape() {
        let shape = ErrorShape::OpenAi;
        assert_eq!(
            body(&rule_deny(), shape),
            json!({"error": {
                "message": RULE_MESSAGE, "type": "policy_violation", "code": "guard.rule_denied",
                "param": null, "policy": "egress", "rule": "account",
                "reason": "account identifiers must not leave the mesh",
            }})
        );
        assert_eq!(
            body(&judge_deny(), shape),
            json!({"error": {
                "message": JUDGE_MESSAGE, "type": "policy_violation", "code": "guard.judge_denied",
                "param": null, "policy": "egress", "rule": "confidential",
                "reason": "mentions a confidential meeting",
            }})
        );
        assert_eq!(
            body(&judge_outage(), shape),
            json!({"error": {
                "message": OUTAGE_MESSAGE, "type": "server_error",
                "code": "guard.judge_unavailable", "param": null, "policy": "egress",
                "rule": "confidential", "reason": "the content review could not decide (timeout)",
            }})
        );
        assert_eq!(
            body(&too_large(), shape),
            json!({"error": {
                "message": LARGE_MESSAGE, "type": "invalid_request_error",
                "code": "guard.body_too_large", "param": null, "policy": "egress", "rule": null,
                "reason": "the request body cannot be scanned: too large",
            }})
        );
        assert_eq!(
            body(&malformed(), shape)["error"]["type"],
            "invalid_request_error"
        );
    }

    #[test]
    fn anthropic_shape() {
        let shape = ErrorShape::Anthropic;
        assert_eq!(
            body(&rule_deny(), shape),
            json!({"type": "error", "error": {
                "type": "permission_error", "message": RULE_MESSAGE,
                "details": {"error_code": "guard.rule_denied"}, "code": "guard.rule_denied",
                "policy": "egress", "rule": "account",
                "reason": "account identifiers must not leave the mesh",
            }})
        );
        assert_eq!(
            body(&judge_deny(), shape),
            json!({"type": "error", "error": {
                "type": "permission_error", "message": JUDGE_MESSAGE,
                "details": {"error_code": "guard.judge_denied"}, "code": "guard.judge_denied",
                "policy": "egress", "rule": "confidential",
                "reason": "mentions a confidential meeting",
            }})
        );
        assert_eq!(
            body(&judge_outage(), shape),
            json!({"type": "error", "error": {
                "type": "api_error", "message": OUTAGE_MESSAGE,
                "details": {"error_code": "guard.judge_unavailable"}, "code": "guard.judge_unavailable",
                "policy": "egress", "rule": "confidential",
                "reason": "the content review could not decide (timeout)",
            }})
        );
        assert_eq!(
            body(&too_large(), shape),
            json!({"type": "error", "error": {
                "type": "invalid_request_error", "message": LARGE_MESSAGE,
                "details": {"error_code": "guard.body_too_large"}, "code": "guard.body_too_large",
                "policy": "egress", "rule": null,
                "reason": "the request body cannot be scanned: too large",
            }})
        );
        assert_eq!(
            body(&malformed(), shape)["error"]["type"],
            "invalid_request_error"
        );
    }

    #[test]
    fn gemini_shape() {
        let shape = ErrorShape::Gemini;
        let info = |code: &str, rule: Option<&str>| {
            let mut metadata = json!({"policy": "egress"});
            if let Some(rule) = rule {
                metadata["rule"] = json!(rule);
            }
            json!([{
                "@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": code,
                "domain": "guard", "metadata": metadata,
            }])
        };
        assert_eq!(
            body(&rule_deny(), shape),
            json!({"error": {
                "code": 403, "message": RULE_MESSAGE, "status": "PERMISSION_DENIED",
                "details": info("guard.rule_denied", Some("account")),
            }})
        );
        assert_eq!(
            body(&judge_deny(), shape),
            json!({"error": {
                "code": 403, "message": JUDGE_MESSAGE, "status": "PERMISSION_DENIED",
                "details": info("guard.judge_denied", Some("confidential")),
            }})
        );
        assert_eq!(
            body(&judge_outage(), shape),
            json!({"error": {
                "code": 503, "message": OUTAGE_MESSAGE, "status": "UNAVAILABLE",
                "details": info("guard.judge_unavailable", Some("confidential")),
            }})
        );
        assert_eq!(
            body(&too_large(), shape),
            json!({"error": {
                "code": 413, "message": LARGE_MESSAGE, "status": "INVALID_ARGUMENT",
                "details": info("guard.body_too_large", None),
            }})
        );
        assert_eq!(
            body(&malformed(), shape)["error"]["status"],
            "INVALID_ARGUMENT"
        );
        assert_eq!(body(&malformed(), shape)["error"]["code"], 400);
    }

    #[test]
    fn dashscope_shape() {
        let shape = ErrorShape::DashScope;
        assert_eq!(
            body(&rule_deny(), shape),
            json!({
                "code": "guard.rule_denied", "message": RULE_MESSAGE, "policy": "egress",
                "rule": "account", "reason": "account identifiers must not leave the mesh",
            })
        );
        assert_eq!(
            body(&judge_deny(), shape),
            json!({
                "code": "guard.judge_denied", "message": JUDGE_MESSAGE, "policy": "egress",
                "rule": "confidential", "reason": "mentions a confidential meeting",
            })
        );
        assert_eq!(
            body(&judge_outage(), shape),
            json!({
                "code": "guard.judge_unavailable", "message": OUTAGE_MESSAGE, "policy": "egress",
                "rule": "confidential", "reason": "the content review could not decide (timeout)",
            })
        );
        assert_eq!(
            body(&too_large(), shape),
            json!({
                "code": "guard.body_too_large", "message": LARGE_MESSAGE, "policy": "egress",
                "rule": null, "reason": "the request body cannot be scanned: too large",
            })
        );
        assert_eq!(body(&malformed(), shape)["code"], "guard.malformed_json");
    }

    #[test]
    fn strings_are_escaped_as_json() {
        let denial = Denial::refusal(
            "p\"q",
            400,
            Code::MalformedJson.as_str(),
            "a\\b\n\u{1}\tc «d»",
        );
        for shape in [
            ErrorShape::OpenAi,
            ErrorShape::Anthropic,
            ErrorShape::Gemini,
            ErrorShape::DashScope,
        ] {
            // Parsed back, the message is the one written, control characters and all.
            let body = body(&denial, shape);
            let message = body.pointer("/error/message").or(body.get("message"));
            assert_eq!(message, Some(&json!(denial.message())), "{shape:?}");
        }
    }
}
