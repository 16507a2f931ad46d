//! The judge: the request guard sends to a classifier LLM, and the strict reading of its answer.

use serde_json::Value;

use crate::ir::Judge;
use crate::template::{render, MissingSecret, PromptVars, Secrets};

/// The largest judge answer read; a longer one is a judge error, not a verdict.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// The longest judge reason passed on to the client.
const MAX_REASON_CHARS: usize = 300;

/// An HTTP call to a judge, ready for `dispatch_http_call`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JudgeCall {
    pub judge: String,
    pub rule: String,
    /// The Envoy cluster to send it to.
    pub cluster: String,
    /// Pseudo-headers first (`:method`, `:path`, `:authority`), then the rest.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub timeout_ms: u64,
}

/// What came back from a judge call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JudgeReply<'a> {
    Response {
        status: u16,
        body: &'a [u8],
    },
    Timeout,
    /// Reset, refused, or no response at all.
    Failed,
}

/// A judge's verdict, read strictly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JudgeVerdict {
    Allow,
    Deny { reason: Option<String> },
}

/// Why a judge's answer is not a verdict; the judge's `on_error` decides then.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JudgeFault {
    #[error("judge timed out")]
    Timeout,
    #[error("judge call failed")]
    Failed,
    #[error("judge answered status {0}")]
    Status(u16),
    #[error("judge answer is larger than {MAX_ANSWER_BYTES} bytes")]
    TooLarge,
    #[error("judge answer is not a chat completion")]
    NotCompletion,
    #[error("judge answer is not a verdict")]
    NotVerdict,
}

pub(crate) fn build_call(
    judge: &Judge,
    secrets: &Secrets,
    policy: &str,
    rule: &str,
    content: &str,
    seed: u64,
) -> Result<JudgeCall, MissingSecret> {
    let fence = fence_for(content, seed);
    let vars = PromptVars {
        content,
        fence: &fence,
        policy,
        rule,
    };
    let prompt = render(&judge.prompt, secrets, &vars)?;
    let key = render(&judge.api_key, secrets, &PromptVars::default())?;
    let body = serde_json::json!({
        "model": judge.model,
        "messages": [{"role": "system", "content": prompt}],
        "temperature": 0,
        "stream": false,
    });
    Ok(JudgeCall {
        judge: judge.name.clone(),
        rule: rule.to_string(),
        cluster: judge.cluster.clone(),
        headers: vec![
            (":method".into(), "POST".into()),
            (":path".into(), judge.endpoint.path.clone()),
            (":authority".into(), judge.endpoint.authority.clone()),
            ("content-type".into(), "application/json".into()),
            ("authorization".into(), format!("Bearer {key}")),
        ],
        body: serde_json::to_vec(&body).unwrap_or_default(),
        timeout_ms: judge.timeout_ms,
    })
}

/// A marker that does not occur in the content, varied per request by `seed`.
pub(crate) fn fence_for(content: &str, seed: u64) -> String {
    let mut state = seed;
    loop {
        let fence = format!("=====GUARD-{:016x}=====", splitmix64(&mut state));
        if !content.contains(&fence) {
            return fence;
        }
    }
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Reads a judge reply: a 200 chat completion whose message content is exactly one JSON object
/// `{"result": "allow"|"deny", "reason": "..."}`, optionally inside a markdown code fence.
pub fn read_reply(reply: JudgeReply<'_>) -> Result<JudgeVerdict, JudgeFault> {
    let body = match reply {
        JudgeReply::Timeout => return Err(JudgeFault::Timeout),
        JudgeReply::Failed => return Err(JudgeFault::Failed),
        JudgeReply::Response { status: 200, body } => body,
        JudgeReply::Response { status, .. } => return Err(JudgeFault::Status(status)),
    };
    if body.len() > MAX_ANSWER_BYTES {
        return Err(JudgeFault::TooLarge);
    }
    let completion: Value = serde_json::from_slice(body).map_err(|_| JudgeFault::NotCompletion)?;
    let content = completion
        .get("choices")
        .and_then(|c| c.get(0))
        .and_then(|c| c.get("message"))
        .and_then(|m| m.get("content"))
        .and_then(Value::as_str)
        .ok_or(JudgeFault::NotCompletion)?;
    read_verdict(content)
}

/// Reads the verdict object out of the judge's message text.
pub fn read_verdict(content: &str) -> Result<JudgeVerdict, JudgeFault> {
    let text = strip_code_fence(content.trim());
    // `from_str` refuses trailing characters, so "two objects" or "object plus prose" fail here.
    let verdict: Value = serde_json::from_str(text).map_err(|_| JudgeFault::NotVerdict)?;
    let object = verdict.as_object().ok_or(JudgeFault::NotVerdict)?;
    let result = object
        .get("result")
        .and_then(Value::as_str)
        .ok_or(JudgeFault::NotVerdict)?;
    let reason = match object.get("reason") {
        None | Some(Value::Null) => None,
        Some(Value::String(reason)) => Some(clean_reason(reason)).filter(|r| !r.is_empty()),
        Some(_) => return Err(JudgeFault::NotVerdict),
    };
    if result.eq_ignore_ascii_case("allow") {
        Ok(JudgeVerdict::Allow)
    } else if result.eq_ignore_ascii_case("deny") {
        Ok(JudgeVerdict::Deny { reason })
    } else {
        Err(JudgeFault::NotVerdict)
    }
}

fn strip_code_fence(text: &str) -> &str {
    let Some(rest) = text.strip_prefix("```") else {
        return text;
    };
    let Some(rest) = rest.strip_suffix("```") else {
        return text;
    };
    // Drop an info string such as `json` on the opening line.
    match rest.split_once('\n') {
        Some((info, body)) if !info.contains('{') => body.trim(),
        _ => rest.trim(),
    }
}

/// A judge's reason as passed to the client: one line, no control characters, bounded length.
fn clean_reason(reason: &str) -> String {
    let one_line: String = reason
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let trimmed = one_line.split_whitespace().collect::<Vec<_>>().join(" ");
    if trimmed.chars().count() > MAX_REASON_CHARS {
        let mut cut: String = trimmed.chars().take(MAX_REASON_CHARS).collect();
        cut.push('…');
        cut
    } else {
        trimmed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn completion(content: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "choices": [{"message": {"role": "assistant", "content": content}}]
        }))
        .unwrap()
    }

    #[test]
    fn verdicts_are_read_strictly() {
        let cases: &[(&str, Result<JudgeVerdict, JudgeFault>)] = &[
            (r#"{"result":"allow"}"#, Ok(JudgeVerdict::Allow)),
            (
                r#"{"result":"DENY","reason":"secret\nplan"}"#,
                Ok(JudgeVerdict::Deny {
                    reason: Some("secret plan".into()),
                }),
            ),
            (
                "```json\n{\"result\": \"deny\"}\n```",
                Ok(JudgeVerdict::Deny { reason: None }),
            ),
            (
                r#"{"result":"allow"} {"result":"deny"}"#,
                Err(JudgeFault::NotVerdict),
            ),
            (r#"Sure! {"result":"allow"}"#, Err(JudgeFault::NotVerdict)),
            (r#"{"result":"maybe"}"#, Err(JudgeFault::NotVerdict)),
            (r#"["allow"]"#, Err(JudgeFault::NotVerdict)),
        ];
        for (content, expected) in cases {
            let body = completion(content);
            let got = read_reply(JudgeReply::Response {
                status: 200,
                body: &body,
            });
            assert_eq!(&got, expected, "{content}");
        }
    }

    #[test]
    fn transport_faults_are_faults() {
        assert_eq!(read_reply(JudgeReply::Timeout), Err(JudgeFault::Timeout));
        assert_eq!(
            read_reply(JudgeReply::Response {
                status: 503,
                body: b""
            }),
            Err(JudgeFault::Status(503))
        );
        let big = vec![b' '; MAX_ANSWER_BYTES + 1];
        assert_eq!(
            read_reply(JudgeReply::Response {
                status: 200,
                body: &big
            }),
            Err(JudgeFault::TooLarge)
        );
    }

    #[test]
    fn the_fence_never_occurs_in_the_content() {
        let first = fence_for("", 7);
        let content = format!("please close {first} now");
        let second = fence_for(&content, 7);
        assert_ne!(first, second);
        assert!(!content.contains(&second));
    }
}
