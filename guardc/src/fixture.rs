//! Request fixtures: one HTTP request in the `.http` form editor HTTP clients use.
//!
//! ```text
//! # Free text comments describe the case.
//! # @judge privacy: deny "mentions an internal meeting"
//! POST http://dashscope.aliyuncs.com/compatible-mode/v1/chat/completions
//! Content-Type: application/json
//!
//! {"model": "qwen-turbo", "messages": [...]}
//! ```
//!
//! Comment lines before the request line may carry directives. `@judge NAME: ANSWER` mocks what
//! a judge answers, so escalations are tested offline; ANSWER is one of `allow`, `deny "REASON"`,
//! `timeout`, `unreachable`, `status CODE`, `says "TEXT"` (a completion whose message is TEXT)
//! or `garbage "TEXT"` (a 200 whose whole body is TEXT). `@expect KEY: VALUE` pins one fact of
//! the verdict without pinning the rest (see [`Expectation`]), so a fixture that only needs to be
//! denied by a rule does not break when the rule's `reason` is reworded. A body line `< FILE`
//! reads the body from FILE, relative to the fixture, for bytes a text file cannot hold.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// What a mocked judge answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JudgeMock {
    Allow,
    Deny(Option<String>),
    Timeout,
    Unreachable,
    Status(u16),
    Says(String),
    Garbage(String),
}

impl JudgeMock {
    /// The HTTP body a judge would send for this answer, when it sends one.
    pub fn response_body(&self) -> Option<Vec<u8>> {
        let says = |content: String| {
            let completion = serde_json::json!({
                "id": "mock",
                "object": "chat.completion",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            });
            serde_json::to_vec(&completion).ok()
        };
        match self {
            JudgeMock::Allow => {
                says(r#"{"result": "allow", "reason": "nothing confidential"}"#.to_string())
            }
            JudgeMock::Deny(reason) => says(
                serde_json::json!({"result": "deny", "reason": reason.clone().unwrap_or_default()})
                    .to_string(),
            ),
            JudgeMock::Says(text) => says(text.clone()),
            JudgeMock::Garbage(text) => Some(text.clone().into_bytes()),
            JudgeMock::Status(_) => Some(b"{\"error\": \"mock failure\"}".to_vec()),
            JudgeMock::Timeout | JudgeMock::Unreachable => None,
        }
    }
}

impl JudgeMock {
    /// The mock as data: `mode` plus what the mode needs, for mock judges outside guardc.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            JudgeMock::Allow => json!({"mode": "allow"}),
            JudgeMock::Deny(reason) => json!({"mode": "deny", "reason": reason}),
            JudgeMock::Timeout => json!({"mode": "timeout"}),
            JudgeMock::Unreachable => json!({"mode": "unreachable"}),
            JudgeMock::Status(status) => json!({"mode": "status", "status": status}),
            JudgeMock::Says(text) => json!({"mode": "says", "text": text}),
            JudgeMock::Garbage(text) => json!({"mode": "garbage", "body": text}),
        }
    }
}

impl fmt::Display for JudgeMock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JudgeMock::Allow => write!(f, "allow"),
            JudgeMock::Deny(Some(reason)) => write!(f, "deny {reason:?}"),
            JudgeMock::Deny(None) => write!(f, "deny"),
            JudgeMock::Timeout => write!(f, "timeout"),
            JudgeMock::Unreachable => write!(f, "unreachable"),
            JudgeMock::Status(code) => write!(f, "status {code}"),
            JudgeMock::Says(text) => write!(f, "says {text:?}"),
            JudgeMock::Garbage(text) => write!(f, "garbage {text:?}"),
        }
    }
}

/// One parsed fixture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fixture {
    pub path: PathBuf,
    pub method: String,
    /// `:authority` as Envoy makes it: the absolute URL's authority (which wins over a `Host`
    /// header, as in Envoy), or else the `Host` header (repeated ones joined with commas). Taken
    /// as written, so odd authorities (`host:abc`, `user@host`, `host:80:80`) are expressible.
    pub authority: String,
    /// Path and query.
    pub path_and_query: String,
    pub scheme: String,
    /// Header names as written, in order; `Host` excluded.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub judges: BTreeMap<String, JudgeMock>,
    /// `# @expect` lines, in the order written.
    pub expects: Vec<Expectation>,
    /// What the upstream answers, from a `# @response` section after the body.
    pub answer: Option<AnswerFixture>,
}

/// The upstream's answer to a fixture's request: after the request body, a blank line, then
/// `# @response STATUS [CONTENT-TYPE]` and the answer's body (or `< FILE`), to the end of the
/// fixture. A `text/event-stream` answer is a stream whose events are the file's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerFixture {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// One `# @expect KEY: VALUE` line: a fact the verdict must show, whatever else it says.
///
/// KEY is a verdict line's key (`verdict`, `status`, `code`, `policy`, `rule`, `reason`,
/// `matched`, `judge`, `set-header`, `remove-header`, `masked`, `forwarded-body`), matched when the verdict has that line
/// exactly (`policy` also when VALUE is one of the selected policies it lists), or one of two
/// keys that ask about meaning rather than wording: `class` (`allow`, `deny` or `refuse`, as
/// `--accept` reports a class change) and `monitored` (a rule id that a monitored rule or judge
/// recorded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectation {
    /// The fixture line it is on, for the failure message.
    pub line: usize,
    pub key: String,
    pub value: String,
}

/// The keys `@expect` takes; the verdict line keys of `run::render`, then `class` and `monitored`.
pub const EXPECT_KEYS: &[&str] = &[
    "verdict",
    "status",
    "code",
    "policy",
    "rule",
    "reason",
    "matched",
    "judge",
    "set-header",
    "remove-header",
    "masked",
    "forwarded-body",
    "class",
    "monitored",
];

impl fmt::Display for Expectation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.value)
    }
}

impl Fixture {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A fixture that cannot be read, with the line it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixtureError {
    pub path: PathBuf,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for FixtureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.path.display(), self.line, self.message)
    }
}

pub fn load(path: &Path) -> Result<Fixture, FixtureError> {
    let bytes = std::fs::read(path).map_err(|err| FixtureError {
        path: path.to_path_buf(),
        line: 0,
        message: format!("cannot read fixture: {err}"),
    })?;
    parse(path, &bytes)
}

pub fn parse(path: &Path, bytes: &[u8]) -> Result<Fixture, FixtureError> {
    let fail = |line: usize, message: String| FixtureError {
        path: path.to_path_buf(),
        line,
        message,
    };
    // The head (directives, request line, headers) is text; the body may be any bytes.
    // A UTF-8 byte order mark, as some editors write it, is not part of the text.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let (head, body) = split_head(bytes);
    let head =
        std::str::from_utf8(head).map_err(|_| fail(1, "the request head is not UTF-8".into()))?;
    let mut lines = head
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')));

    let mut judges = BTreeMap::new();
    let mut expects = Vec::new();
    let (request_line_no, request_line) = loop {
        let Some((no, line)) = lines.next() else {
            return Err(fail(1, "no request line (`METHOD URL`)".into()));
        };
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with("###") {
            continue;
        }
        if let Some(comment) = trimmed
            .strip_prefix('#')
            .or_else(|| trimmed.strip_prefix("//"))
        {
            if let Some(directive) = comment.trim().strip_prefix('@') {
                if let Some(expect) = directive.strip_prefix("expect") {
                    expects.push(parse_expect(no, expect).map_err(|m| fail(no, m))?);
                    continue;
                }
                let (name, mock) = parse_directive(directive).map_err(|m| fail(no, m))?;
                if judges.insert(name.clone(), mock).is_some() {
                    return Err(fail(no, format!("judge `{name}` is mocked twice")));
                }
            }
            continue;
        }
        break (no, trimmed);
    };

    let mut words = request_line.split_whitespace();
    let (Some(method), Some(target)) = (words.next(), words.next()) else {
        return Err(fail(
            request_line_no,
            format!("expected `METHOD URL`, found `{request_line}`"),
        ));
    };
    if let Some(version) = words.next() {
        if !version.starts_with("HTTP/") {
            return Err(fail(
                request_line_no,
                format!("unexpected `{version}` after the URL"),
            ));
        }
    }

    if !is_token(method) {
        return Err(fail(
            request_line_no,
            format!("`{method}` is not a method; expected `METHOD URL [HTTP/VERSION]`"),
        ));
    }

    let mut headers = Vec::new();
    let mut host_header = None;
    for (no, line) in lines {
        if line.trim().is_empty() {
            break;
        }
        let header = line
            .split_once(':')
            .filter(|(name, _)| is_token(name))
            .filter(|_| !line.starts_with([' ', '\t']));
        let Some((name, value)) = header else {
            let what = if line.trim_start().starts_with('#') || line.trim_start().starts_with("//")
            {
                "comments and `# @judge` directives go before the request line"
            } else {
                "a blank line must separate the headers from the body"
            };
            return Err(fail(
                no,
                format!("expected a header `Name: value`, found `{line}`; {what}"),
            ));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("host") {
            // Envoy joins repeated `Host` headers into one `:authority` with commas (seen with
            // Envoy 1.40), which the head checks then refuse on a guarded host; so do we.
            host_header = Some(match host_header.take() {
                Some(first) => format!("{first},{value}"),
                None => value.to_string(),
            });
        } else {
            headers.push((name.to_string(), value.to_string()));
        }
    }

    let (scheme, authority, path_and_query) = if let Some((scheme, rest)) = target.split_once("://")
    {
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, "/"),
        };
        (scheme.to_string(), authority.to_string(), path.to_string())
    } else if target.starts_with('/') {
        let authority = host_header.clone().ok_or_else(|| {
            fail(
                request_line_no,
                "a relative URL needs a `Host` header".into(),
            )
        })?;
        ("http".to_string(), authority, target.to_string())
    } else {
        return Err(fail(
            request_line_no,
            format!("`{target}` is neither an absolute URL nor a path"),
        ));
    };

    let (body, answer) = split_answer(body);
    let body = read_body(path, body).map_err(|m| fail(0, m))?;
    let answer = match answer {
        Some((line, section)) => Some(parse_answer(path, section).map_err(|m| fail(line, m))?),
        None => None,
    };
    Ok(Fixture {
        path: path.to_path_buf(),
        method: method.to_string(),
        authority,
        path_and_query,
        scheme,
        headers,
        body,
        judges,
        expects,
        answer,
    })
}

/// Splits the body from a `# @response` section that follows it after a blank line (or that is
/// all there is): the body, and the section with the fixture line it starts on (counted from
/// the body's start, which is close enough to find it; the directive is named in the message).
fn split_answer(body: &[u8]) -> (&[u8], Option<(usize, &[u8])>) {
    const DIRECTIVE: &[u8] = b"# @response";
    if body.starts_with(DIRECTIVE) {
        return (&[], Some((0, body)));
    }
    for separator in [&b"\r\n\r\n# @response"[..], &b"\n\n# @response"[..]] {
        if let Some(at) = body.windows(separator.len()).position(|w| w == separator) {
            let start = at + separator.len() - DIRECTIVE.len();
            let before = body.get(..at).unwrap_or_default();
            let line = before.iter().filter(|&&b| b == b'\n').count() + 2;
            return (before, Some((line, body.get(start..).unwrap_or_default())));
        }
    }
    (body, None)
}

fn parse_answer(fixture: &Path, section: &[u8]) -> Result<AnswerFixture, String> {
    let end = section
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(section.len());
    let head = std::str::from_utf8(section.get(..end).unwrap_or_default())
        .map_err(|_| "the `# @response` line is not UTF-8".to_string())?
        .trim();
    let usage = "expected `# @response STATUS [CONTENT-TYPE]`, then the answer's body or `< FILE`";
    let mut words = head
        .strip_prefix("# @response")
        .ok_or_else(|| usage.to_string())?
        .split_whitespace();
    let status = words
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|s| (100..600).contains(s))
        .ok_or_else(|| format!("{usage}; the status is a number from 100 to 599"))?;
    let content_type = {
        let rest: Vec<&str> = words.collect();
        (!rest.is_empty()).then(|| rest.join(" "))
    };
    let body = read_body(fixture, section.get(end + 1..).unwrap_or_default())?;
    Ok(AnswerFixture {
        status,
        content_type,
        body,
    })
}

/// An HTTP token (RFC 9110 `tchar`s), what a method and a header name are made of.
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Splits at the first blank line after the request line; the body keeps its bytes.
fn split_head(bytes: &[u8]) -> (&[u8], &[u8]) {
    let mut seen_request_line = false;
    let mut start = 0;
    while start < bytes.len() {
        let end = bytes[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |i| start + i + 1);
        let line = &bytes[start..end];
        let text = String::from_utf8_lossy(line);
        let trimmed = text.trim();
        if trimmed.is_empty() {
            if seen_request_line {
                return (&bytes[..start], &bytes[end..]);
            }
        } else if !trimmed.starts_with('#') && !trimmed.starts_with("//") {
            seen_request_line = true;
        }
        start = end;
    }
    (bytes, &[])
}

fn read_body(fixture: &Path, body: &[u8]) -> Result<Vec<u8>, String> {
    let text = String::from_utf8_lossy(body);
    let trimmed = text.trim();
    if let Some(file) = trimmed.strip_prefix("< ") {
        if !trimmed.contains('\n') {
            let file = fixture.parent().unwrap_or(Path::new(".")).join(file.trim());
            return std::fs::read(&file)
                .map_err(|err| format!("cannot read body file `{}`: {err}", file.display()));
        }
    }
    // One trailing line break belongs to the file, not to the body.
    let mut body = body.to_vec();
    if body.ends_with(b"\r\n") {
        body.truncate(body.len() - 2);
    } else if body.ends_with(b"\n") {
        body.truncate(body.len() - 1);
    }
    Ok(body)
}

fn parse_directive(directive: &str) -> Result<(String, JudgeMock), String> {
    let Some(rest) = directive.strip_prefix("judge") else {
        return Err(format!(
            "unknown directive `@{directive}`; the directives are `@judge NAME: ANSWER` and `@expect KEY: VALUE`"
        ));
    };
    let Some((name, answer)) = rest.split_once(':') else {
        return Err("expected `@judge NAME: ANSWER`".into());
    };
    let name = name.trim().trim_matches('"').to_string();
    if name.is_empty() {
        return Err("expected a judge name after `@judge`".into());
    }
    let answer = answer.trim();
    let (word, arg) = answer
        .split_once(char::is_whitespace)
        .unwrap_or((answer, ""));
    let arg = arg.trim();
    let quoted = || -> Result<String, String> {
        serde_json::from_str::<String>(arg)
            .map_err(|_| format!("expected a quoted string after `{word}`, found `{arg}`"))
    };
    let mock = match word {
        "allow" if arg.is_empty() => JudgeMock::Allow,
        "deny" if arg.is_empty() => JudgeMock::Deny(None),
        "deny" => JudgeMock::Deny(Some(quoted()?)),
        "timeout" if arg.is_empty() => JudgeMock::Timeout,
        "unreachable" if arg.is_empty() => JudgeMock::Unreachable,
        "status" => JudgeMock::Status(arg.parse().map_err(|_| format!("expected a status code, found `{arg}`"))?),
        "says" => JudgeMock::Says(quoted()?),
        "garbage" => JudgeMock::Garbage(quoted()?),
        _ => {
            return Err(format!(
                "unknown judge answer `{answer}`; expected allow, deny \"REASON\", timeout, unreachable, status CODE, says \"TEXT\" or garbage \"TEXT\""
            ))
        }
    };
    Ok((name, mock))
}

/// The rest of an `@expect` line after the word: ` KEY: VALUE`.
fn parse_expect(line: usize, rest: &str) -> Result<Expectation, String> {
    let usage = || {
        format!(
            "expected `@expect KEY: VALUE` with KEY one of {}",
            EXPECT_KEYS.join(", ")
        )
    };
    if !rest.starts_with(char::is_whitespace) {
        return Err(usage());
    }
    let (key, value) = rest.split_once(':').ok_or_else(usage)?;
    let (key, value) = (key.trim(), value.trim());
    if !EXPECT_KEYS.contains(&key) {
        return Err(format!("unknown key `{key}`; {}", usage()));
    }
    if value.is_empty() {
        return Err(format!("`@expect {key}:` needs a value"));
    }
    let allowed: &[&str] = match key {
        "verdict" => &["allow", "deny"],
        "class" => &["allow", "deny", "refuse"],
        _ => &[],
    };
    if !allowed.is_empty() && !allowed.contains(&value) {
        return Err(format!(
            "`@expect {key}:` is one of {}, not `{value}`",
            allowed.join(", ")
        ));
    }
    Ok(Expectation {
        line,
        key: key.to_string(),
        value: value.to_string(),
    })
}
