//! Templates: the `{{ ... }}` placeholders of header values, `api_key`s and judge prompts, parsed
//! into the engine's [`Template`] and checked against where the template is used.

use guard_engine::ir::{MaskPart, Template, TemplatePart};

use crate::ast::{Span, Str};
use crate::diagnostic::{Code, Diag};
use crate::suggest::closest;

/// Where a template is used, which decides the placeholders it may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Context {
    HeaderValue,
    ApiKey,
    Prompt,
    /// Plain text that is never expanded (`reason`, `model`): a placeholder in it is a mistake.
    Plain(&'static str),
}

/// Parses `{{ ... }}` placeholders. Whitespace inside the braces is optional; `{{` always
/// starts a placeholder, a single `{` is text.
pub(crate) fn template(s: &Str, context: Context, diags: &mut Vec<Diag>) -> Template {
    let value = s.value.as_str();
    let mut parts: Vec<TemplatePart> = Vec::new();
    let mut text = String::new();
    let mut at = 0;
    while let Some(found) = value.get(at..).and_then(|rest| rest.find("{{")) {
        let open = at + found;
        text.push_str(value.get(at..open).unwrap_or(""));
        let Some(close) = value
            .get(open + 2..)
            .and_then(|rest| rest.find("}}"))
            .map(|n| open + 2 + n)
        else {
            if !matches!(context, Context::Plain(_)) {
                diags.push(
                    Diag::new(Code::UnclosedTemplate, "`{{` is never closed")
                        .at(s.span_of(open..value.len()), "placeholder starts here")
                        .help("close the placeholder with `}}`, as in `{{ secret.NAME }}`"),
                );
            }
            at = open;
            break;
        };
        let end = close + 2;
        let span = s.span_of(open..end);
        let inner = value
            .get(open + 2..close)
            .unwrap_or("")
            .trim_matches([' ', '\t']);
        at = end;
        let part = match inner {
            "content" => Some(TemplatePart::Content),
            "fence" => Some(TemplatePart::Fence),
            "policy" => Some(TemplatePart::Policy),
            "rule" => Some(TemplatePart::Rule),
            _ => match inner.strip_prefix("secret.").or(if inner == "secret" {
                Some("")
            } else {
                None
            }) {
                Some(name) => {
                    if name.is_empty()
                        || !name
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                    {
                        diags.push(
                            Diag::new(
                                Code::InvalidSecretName,
                                if name.is_empty() {
                                    "missing secret name".to_string()
                                } else {
                                    format!("invalid secret name `{name}`")
                                },
                            )
                            .at(span, "expected `{{ secret.NAME }}`")
                            .help("secret names are letters, digits, `_` and `-`, e.g. `{{ secret.judge_api_key }}`"),
                        );
                        None
                    } else {
                        Some(TemplatePart::Secret(name.to_string()))
                    }
                }
                None => {
                    if !matches!(context, Context::Plain(_)) {
                        let candidates = ["content", "fence", "policy", "rule", "secret"];
                        let help = match closest(inner, &candidates) {
                            Some("secret") => "did you mean `{{ secret.NAME }}`?".to_string(),
                            Some(s) => format!("did you mean `{{{{ {s} }}}}`?"),
                            None => "the placeholders are `{{ secret.NAME }}` (header values and `api_key`) \
                                     and `{{ content }}`, `{{ fence }}`, `{{ policy }}`, `{{ rule }}` \
                                     (judge prompts)"
                                .to_string(),
                        };
                        diags.push(
                            Diag::new(
                                Code::UnknownTemplateVariable,
                                format!("unknown template variable `{inner}`"),
                            )
                            .at(span, "not a template variable")
                            .help(help),
                        );
                    } else {
                        text.push_str(value.get(open..end).unwrap_or(""));
                    }
                    None
                }
            },
        };
        let Some(part) = part else { continue };
        if !allowed(&part, context, span, diags) {
            continue;
        }
        if !text.is_empty() {
            parts.push(TemplatePart::Text(std::mem::take(&mut text)));
        }
        parts.push(part);
    }
    text.push_str(value.get(at..).unwrap_or(""));
    if !text.is_empty() {
        parts.push(TemplatePart::Text(text));
    }
    Template { parts }
}

/// Whether a placeholder may appear in this context; reports it if not.
fn allowed(part: &TemplatePart, context: Context, span: Span, diags: &mut Vec<Diag>) -> bool {
    let secret = matches!(part, TemplatePart::Secret(_));
    let ok = match context {
        Context::HeaderValue | Context::ApiKey => secret,
        Context::Prompt => !secret,
        Context::Plain(_) => false,
    };
    if ok {
        return true;
    }
    let place = match context {
        Context::HeaderValue => "a header value",
        Context::ApiKey => "an `api_key`",
        Context::Prompt => "a judge prompt",
        Context::Plain(what) => what,
    };
    let diag = if secret {
        let why = match context {
            Context::Prompt => {
                "a prompt is sent to the judge's model, so a secret in it would leak"
            }
            _ => "this text is not expanded and may be shown to clients",
        };
        Diag::new(
            Code::SecretNotAllowed,
            format!("a secret cannot be used in {place}"),
        )
        .at(span, "secret used here")
        .help(format!(
            "secrets are only expanded in `inject header` values and a judge's `api_key`; {why}"
        ))
    } else {
        let name = match part {
            TemplatePart::Content => "content",
            TemplatePart::Fence => "fence",
            TemplatePart::Policy => "policy",
            _ => "rule",
        };
        Diag::new(
            Code::VariableNotAllowed,
            format!("`{{{{ {name} }}}}` cannot be used in {place}"),
        )
        .at(span, "only available in a judge prompt")
        .help("`{{ content }}`, `{{ fence }}`, `{{ policy }}` and `{{ rule }}` are expanded in judge prompts only")
    };
    diags.push(diag);
    false
}

/// One `{{ ... }}` of a template's text, in order: its byte range (braces included) and what is
/// inside, trimmed; or an opening `{{` that is never closed (then the last one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Placeholder<'a> {
    Closed {
        range: std::ops::Range<usize>,
        inner: &'a str,
    },
    Unclosed {
        open: usize,
    },
}

/// The placeholders of `value`, as [`template`] reads them.
pub(crate) fn placeholders(value: &str) -> Vec<Placeholder<'_>> {
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(open) = value
        .get(at..)
        .and_then(|rest| rest.find("{{"))
        .map(|n| at + n)
    {
        let Some(close) = value
            .get(open + 2..)
            .and_then(|rest| rest.find("}}"))
            .map(|n| open + 2 + n)
        else {
            found.push(Placeholder::Unclosed { open });
            break;
        };
        let inner = value
            .get(open + 2..close)
            .unwrap_or("")
            .trim_matches([' ', '\t']);
        found.push(Placeholder::Closed {
            range: open..close + 2,
            inner,
        });
        at = close + 2;
    }
    found
}

/// The `{{ secret.NAME }}` placeholders of a template whose placeholders are valid, by name and
/// span, in order: where a deployment must provide each secret.
pub(crate) fn secret_uses(s: &Str) -> Vec<(String, Span)> {
    placeholders(&s.value)
        .into_iter()
        .filter_map(|p| match p {
            Placeholder::Closed { range, inner } => inner
                .strip_prefix("secret.")
                .map(|name| (name.to_string(), s.span_of(range))),
            Placeholder::Unclosed { .. } => None,
        })
        .collect()
}

/// A mask's `with` text: its one placeholder is `{{ n }}`, the number of the distinct value.
pub(crate) fn mask_replacement(s: &Str, diags: &mut Vec<Diag>) -> Vec<MaskPart> {
    let value = s.value.as_str();
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut at = 0;
    for placeholder in placeholders(value) {
        match placeholder {
            Placeholder::Unclosed { open } => {
                text.push_str(value.get(at..open).unwrap_or(""));
                diags.push(
                    Diag::new(Code::UnclosedTemplate, "`{{` is never closed")
                        .at(s.span_of(open..value.len()), "placeholder starts here")
                        .help("close the placeholder with `}}`, as in `[PHONE_{{ n }}]`"),
                );
                at = value.len();
            }
            Placeholder::Closed { range, inner } => {
                text.push_str(value.get(at..range.start).unwrap_or(""));
                if inner == "n" {
                    if !text.is_empty() {
                        parts.push(MaskPart::Text(std::mem::take(&mut text)));
                    }
                    parts.push(MaskPart::Number);
                } else {
                    diags.push(
                        Diag::new(
                            Code::UnknownTemplateVariable,
                            format!("unknown template variable `{inner}`"),
                        )
                        .at(s.span_of(range.clone()), "not a mask placeholder")
                        .help("a mask's replacement has one placeholder, `{{ n }}`: the number of the distinct value within the request"),
                    );
                }
                at = range.end;
            }
        }
    }
    text.push_str(value.get(at..).unwrap_or(""));
    if !text.is_empty() {
        parts.push(MaskPart::Text(text));
    }
    parts
}
