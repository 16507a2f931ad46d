//! Template expansion: secrets in header values, and the judge's prompt.
//!
//! Expansion is one pass over the author's parts. Text inserted by a placeholder (a secret, the
//! scanned content) is never expanded again, so request text that contains `{{ secret.x }}`
//! reaches the judge exactly as typed.

use std::collections::BTreeMap;

use crate::ir::{Template, TemplatePart};

/// Secret values by name, from the filter's configuration (`{"secrets": {...}}`).
pub type Secrets = BTreeMap<String, String>;

/// Values for the placeholders a judge prompt may use.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PromptVars<'a> {
    pub content: &'a str,
    pub fence: &'a str,
    pub policy: &'a str,
    pub rule: &'a str,
}

/// A template referenced a secret the configuration does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("secret `{0}` is not in the configuration")]
pub struct MissingSecret(pub String);

pub(crate) fn render(
    template: &Template,
    secrets: &Secrets,
    vars: &PromptVars<'_>,
) -> Result<String, MissingSecret> {
    let mut out = String::new();
    for part in &template.parts {
        match part {
            TemplatePart::Text(text) => out.push_str(text),
            TemplatePart::Secret(name) => match secrets.get(name) {
                Some(value) => out.push_str(value),
                None => return Err(MissingSecret(name.clone())),
            },
            TemplatePart::Content => out.push_str(vars.content),
            TemplatePart::Fence => out.push_str(vars.fence),
            TemplatePart::Policy => out.push_str(vars.policy),
            TemplatePart::Rule => out.push_str(vars.rule),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_inserted_verbatim_and_not_expanded() {
        let template = Template {
            parts: vec![
                TemplatePart::Text("<".into()),
                TemplatePart::Content,
                TemplatePart::Text(">".into()),
            ],
        };
        let secrets = Secrets::from([("x".to_string(), "SECRET".to_string())]);
        let vars = PromptVars {
            content: "{{ secret.x }}",
            ..PromptVars::default()
        };
        assert_eq!(
            render(&template, &secrets, &vars).as_deref(),
            Ok("<{{ secret.x }}>")
        );
    }

    #[test]
    fn a_missing_secret_is_an_error_not_an_empty_string() {
        let template = Template {
            parts: vec![
                TemplatePart::Text("Bearer ".into()),
                TemplatePart::Secret("key".into()),
            ],
        };
        assert_eq!(
            render(&template, &Secrets::new(), &PromptVars::default()),
            Err(MissingSecret("key".into()))
        );
    }
}
