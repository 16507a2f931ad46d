//! The intermediate representation: what a set of `.guard` files means, with no source text.
//!
//! The DSL lowers its AST into a [`Program`]; the compiler (feature `build`) turns the program's
//! patterns into automata and the wire module writes both into a bundle. Indices are positions in
//! the vectors that hold them (file order), which is also the order the evaluation reports in.

use serde::{Deserialize, Serialize};

pub use crate::validators::Validator;

/// Every policy and judge of the files compiled together, in file order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Program {
    pub policies: Vec<Policy>,
    pub judges: Vec<Judge>,
}

/// A set of rules and header operations for the requests its `match` lines select.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub name: String,
    /// Any of these hosts selects the request (an empty list selects none).
    pub hosts: Vec<HostPattern>,
    /// When set, the request path (before `?`) must also start with this prefix.
    pub path_prefix: Option<String>,
    /// Applied in order in the headers phase.
    pub headers: Vec<HeaderOp>,
    pub rules: Vec<Rule>,
}

/// A host as the policy author wrote it, normalised: ASCII lowercase, no port, no trailing dot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HostPattern {
    /// `api.example.com` matches only itself.
    Exact(String),
    /// `*.example.com`, stored as `.example.com`: any name that ends with it and is longer.
    Subdomains(String),
}

impl HostPattern {
    /// Whether `host` (normalised as the patterns are) is one this pattern names.
    pub fn matches(&self, host: &str) -> bool {
        match self {
            HostPattern::Exact(name) => host == name,
            HostPattern::Subdomains(suffix) => {
                host.len() > suffix.len() && host.ends_with(suffix.as_str())
            }
        }
    }

    /// A host both patterns name, as a pattern would write it (`api.example.com`,
    /// `*.eu.example.com`), if there is one.
    pub fn shared_with(&self, other: &HostPattern) -> Option<String> {
        match (self, other) {
            (HostPattern::Exact(a), b) | (b, HostPattern::Exact(a)) => {
                b.matches(a).then(|| a.clone())
            }
            (HostPattern::Subdomains(s), HostPattern::Subdomains(t)) => {
                let longer = if s.len() >= t.len() { s } else { t };
                (s.ends_with(t.as_str()) || t.ends_with(s.as_str())).then(|| format!("*{longer}"))
            }
        }
    }
}

impl Policy {
    /// A host on which this policy and `other` can select the same request (their hosts share
    /// a name and their path prefixes can both hold), if there is one.
    pub fn shares_requests_with(&self, other: &Policy) -> Option<String> {
        let paths_meet = match (&self.path_prefix, &other.path_prefix) {
            (Some(a), Some(b)) => a.starts_with(b.as_str()) || b.starts_with(a.as_str()),
            _ => true,
        };
        if !paths_meet {
            return None;
        }
        self.hosts
            .iter()
            .flat_map(|a| other.hosts.iter().map(move |b| (a, b)))
            .find_map(|(a, b)| a.shared_with(b))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HeaderOp {
    /// `inject header`: replaces whatever the client sent under this name.
    Set { name: String, value: Template },
    /// `remove header`.
    Remove { name: String },
}

/// One check of a policy; `id` is what verdicts, logs and tests report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub id: String,
    pub reason: Option<String>,
    /// The rule's own `mode`, else its policy's, else enforce.
    pub mode: Mode,
    pub action: RuleAction,
}

/// Which text a rule searches: the request, or the model's answer (`on response`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Side {
    #[default]
    Request,
    Response,
}

impl Rule {
    /// The text this rule searches.
    pub fn side(&self) -> Side {
        match self.action.patterns() {
            Some(p) if p.on_response => Side::Response,
            _ => Side::Request,
        }
    }
}

/// What a rule's match does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Mode {
    /// The match decides: a deny denies, a judge's deny denies.
    #[default]
    Enforce,
    /// The match is recorded (verdict, log line, metrics) and the request goes on as if the rule
    /// had not matched; a monitored escalation still asks its judge and records the answer.
    Monitor,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Monitor => "monitor",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RuleAction {
    /// Deny when the scanned text matches any pattern.
    Deny(Patterns),
    /// Ask the judge at this index of [`Program::judges`]; with `when`, only about text those
    /// patterns match (without, about every request with text).
    Escalate { judge: u32, when: Option<Patterns> },
    /// Replace every match in the forwarded request and let it go on (v1 `mask`).
    Mask(Mask),
}

impl RuleAction {
    /// The patterns the scanner searches for this rule: a deny's, a mask's, or an escalation's
    /// `when`.
    pub fn patterns(&self) -> Option<&Patterns> {
        match self {
            RuleAction::Deny(patterns) => Some(patterns),
            RuleAction::Mask(mask) => Some(&mask.patterns),
            RuleAction::Escalate { when, .. } => when.as_ref(),
        }
    }

    /// The action's name in metrics, logs and verdicts.
    pub fn name(&self) -> &'static str {
        match self {
            RuleAction::Deny(_) => "deny",
            RuleAction::Escalate { .. } => "escalate",
            RuleAction::Mask(_) => "mask",
        }
    }
}

/// A `mask` rule: what its matches become.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Mask {
    pub patterns: Patterns,
    /// `with`: the replacement, where [`MaskPart::Number`] is the number of the distinct masked
    /// value within the request (1, 2, ...).
    pub with: Vec<MaskPart>,
    /// `restore`: the placeholders in the model's answer become the values again.
    pub restore: bool,
}

/// A piece of a mask's replacement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MaskPart {
    Text(String),
    /// `{{ n }}`.
    Number,
}

impl Mask {
    /// The replacement of the `n`th distinct value.
    pub fn placeholder(&self, n: usize) -> String {
        let mut out = String::new();
        for part in &self.with {
            match part {
                MaskPart::Text(text) => out.push_str(text),
                MaskPart::Number => out.push_str(&n.to_string()),
            }
        }
        out
    }

    /// Whether the replacement tells values apart (has `{{ n }}`).
    pub fn numbered(&self) -> bool {
        self.with.iter().any(|p| matches!(p, MaskPart::Number))
    }
}

/// The patterns of one rule, in the order the author wrote them, and what a match must pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Patterns {
    /// Literal keywords, from `deny keyword` lines and keyword files.
    pub keywords: Vec<String>,
    /// Rust regex syntax, from `deny regex` lines.
    pub regexes: Vec<String>,
    /// `ignore case`: keywords and regexes match without regard to case.
    pub ignore_case: bool,
    /// `normalize off`: match the text as sent, without NFKC and removal of invisible characters
    /// (for rules about exact bytes). Off by default, so rules see through look-alikes.
    pub skip_normalization: bool,
    /// `whole words`: a keyword matches only where the characters beside it are not letters or
    /// digits of a script written with spaces (CJK and Thai text has a boundary everywhere).
    pub whole_words: bool,
    /// `validate NAME`: a regex match counts only when it passes.
    pub validator: Option<Validator>,
    /// `except keyword` / `except regex`: a match lying wholly within a match of one of these
    /// (searched in the same text, with the same `ignore case` and normalisation) is no match.
    pub except: Exceptions,
    /// `on response`: the patterns search the model's answer (whole or streamed) instead of the
    /// request. A deny or mask rule only; an escalation's `when` always searches the request.
    pub on_response: bool,
}

impl Patterns {
    /// Whether a match may be refused after it is found (so the search must go on past it).
    pub fn filters_matches(&self) -> bool {
        self.whole_words || self.validator.is_some() || !self.except.is_empty()
    }
}

/// The `except` lines of a rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Exceptions {
    pub keywords: Vec<String>,
    pub regexes: Vec<String>,
}

impl Exceptions {
    pub fn is_empty(&self) -> bool {
        self.keywords.is_empty() && self.regexes.is_empty()
    }
}

/// An OpenAI-compatible chat-completions endpoint used as a classifier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Judge {
    pub name: String,
    pub endpoint: Endpoint,
    /// The Envoy cluster the call goes to: `cluster "C"`, or Istio's `outbound|PORT||HOST`.
    pub cluster: String,
    pub model: String,
    /// The bearer key; may reference secrets.
    pub api_key: Template,
    pub timeout_ms: u64,
    pub on_error: OnError,
    /// The system prompt; may reference `content`, `fence`, `policy` and `rule`.
    pub prompt: Template,
}

/// A parsed `http://` or `https://` URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// As written.
    pub url: String,
    /// `host` or `host:port` as the `:authority` of the call.
    pub authority: String,
    /// Lowercase host name without port.
    pub host: String,
    pub port: u16,
    /// Path and query, at least `/`.
    pub path: String,
}

/// The symbols an HTTP token (a header name) may hold besides ASCII letters and digits
/// (RFC 9110 `tchar`).
pub const TOKEN_SYMBOLS: &str = "!#$%&'*+-.^_`|~";

/// Whether `c` may appear in an HTTP token such as a header name: what the DSL accepts in
/// `inject header` and `remove header`, and what a loaded bundle is checked for.
pub fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || TOKEN_SYMBOLS.contains(c)
}

impl Endpoint {
    /// Istio's name for the outbound cluster of this endpoint.
    pub fn istio_cluster(&self) -> String {
        format!("outbound|{}||{}", self.port, self.host)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OnError {
    Allow,
    Deny,
}

/// A string with placeholders, expanded once over the author's text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Template {
    pub parts: Vec<TemplatePart>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TemplatePart {
    Text(String),
    /// `{{ secret.NAME }}`: only in header values and judge api keys.
    Secret(String),
    /// `{{ content }}`: the scanned text (judge prompts only).
    Content,
    /// `{{ fence }}`: a per-request marker absent from the content (judge prompts only).
    Fence,
    /// `{{ policy }}`: the selecting policy's name (judge prompts only).
    Policy,
    /// `{{ rule }}`: the escalating rule's id (judge prompts only).
    Rule,
}

impl Template {
    /// A template with no placeholder.
    pub fn text(s: impl Into<String>) -> Self {
        Template {
            parts: vec![TemplatePart::Text(s.into())],
        }
    }

    /// The names of the secrets this template references, in order.
    pub fn secrets(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            TemplatePart::Secret(name) => Some(name.as_str()),
            _ => None,
        })
    }
}
