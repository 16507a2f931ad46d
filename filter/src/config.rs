//! The plugin configuration: Istio's `pluginConfig`, Envoy's `configuration` string.
//!
//! ```json
//! {"secrets": {"dashscope_api_key": "sk-...", "judge_api_key": "..."}, "hold_request_headers": true}
//! ```
//!
//! Two fields:
//! - `secrets`: the values templates reference.
//! - `hold_request_headers` (default `true`): hold the request head until the body is decided,
//!   so a denied request leaves nothing upstream. It needs `allow_on_headers_stop_iteration: true`
//!   in Envoy's Wasm filter config, which a filter cannot see; `guardc build` writes the two
//!   together. `false` sends the head (with the injected headers) before the body verdict, for
//!   meshes that cannot set the Envoy flag. Holding is the default so that a deployment that
//!   forgot the Envoy flag fails closed and loudly (see `held`), never leaks quietly.
//!
//! Anything else is refused rather than ignored: a misspelt `secret` or a key put at the top
//! level would otherwise surface only as a missing secret, far from the mistake. An empty
//! configuration is `{}` (valid for rulesets that need no secret).
//!
//! The JSON is read by hand, not through serde's derive: serde's type errors quote the offending
//! value (`invalid type: string "sk-..."`), and no message of ours may contain a secret.

use std::fmt;

use guard_engine::Secrets;
use serde_json::Value;

/// The longest field or secret name quoted back in an error.
const MAX_NAME_IN_MESSAGE: usize = 64;

/// A configuration that passed validation.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Config {
    pub secrets: Secrets,
    pub hold_request_headers: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            secrets: Secrets::new(),
            hold_request_headers: true,
        }
    }
}

/// Why a configuration was refused; the text never contains a secret's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ConfigError {
    NotUtf8,
    Syntax(String),
    NotAnObject,
    UnknownField(String),
    HoldNotABool,
    SecretsNotAnObject,
    EmptySecretName,
    SecretNotAString(String),
    EmptySecret(String),
    LineBreakInSecret(String),
    ControlCharacterInSecret(String),
    MissingSecrets(Vec<String>),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::NotUtf8 => f.write_str("the configuration is not UTF-8"),
            ConfigError::Syntax(err) => write!(f, "the configuration is not valid JSON: {err}"),
            ConfigError::NotAnObject => f.write_str(r#"the configuration must be a JSON object such as {"secrets": {...}}"#),
            ConfigError::UnknownField(name) => {
                write!(f, "unknown field `{}` (the fields are `secrets` and `hold_request_headers`)", shorten(name))
            }
            ConfigError::HoldNotABool => f.write_str("`hold_request_headers` must be true or false"),
            ConfigError::SecretsNotAnObject => {
                f.write_str("`secrets` must be an object of secret names to string values")
            }
            ConfigError::EmptySecretName => f.write_str("a secret has an empty name"),
            ConfigError::SecretNotAString(name) => write!(f, "secret `{}` must be a string", shorten(name)),
            ConfigError::EmptySecret(name) => write!(f, "secret `{}` is empty", shorten(name)),
            ConfigError::LineBreakInSecret(name) => write!(
                f,
                "secret `{}` contains a line break (a trailing newline from a file?); it would split the header it is injected into",
                shorten(name)
            ),
            ConfigError::ControlCharacterInSecret(name) => write!(
                f,
                "secret `{}` contains a control character, which is not allowed in a header value",
                shorten(name)
            ),
            ConfigError::MissingSecrets(names) => {
                let list = names.iter().map(|n| format!("`{}`", shorten(n))).collect::<Vec<_>>();
                match list.as_slice() {
                    [one] => write!(f, "secret {one} is missing"),
                    many => write!(f, "secrets {} are missing", many.join(", ")),
                }
            }
        }
    }
}

/// Parses and validates the plugin configuration.
pub(crate) fn parse(raw: &[u8]) -> Result<Config, ConfigError> {
    let text = std::str::from_utf8(raw).map_err(|_| ConfigError::NotUtf8)?;
    if text.trim().is_empty() {
        return Ok(Config::default());
    }
    // serde_json's syntax errors name a position and a problem, never the text around it.
    let value: Value =
        serde_json::from_str(text).map_err(|e| ConfigError::Syntax(e.to_string()))?;
    let Value::Object(fields) = value else {
        return Err(ConfigError::NotAnObject);
    };
    let mut config = Config::default();
    for (field, value) in fields {
        match field.as_str() {
            "secrets" => config.secrets = secrets(value)?,
            "hold_request_headers" => match value {
                Value::Bool(hold) => config.hold_request_headers = hold,
                _ => return Err(ConfigError::HoldNotABool),
            },
            _ => return Err(ConfigError::UnknownField(field)),
        }
    }
    Ok(config)
}

fn secrets(value: Value) -> Result<Secrets, ConfigError> {
    let Value::Object(entries) = value else {
        return Err(ConfigError::SecretsNotAnObject);
    };
    let mut secrets = Secrets::new();
    for (name, value) in entries {
        if name.is_empty() {
            return Err(ConfigError::EmptySecretName);
        }
        let Value::String(value) = value else {
            return Err(ConfigError::SecretNotAString(name));
        };
        check_value(&name, &value)?;
        secrets.insert(name, value);
    }
    Ok(secrets)
}

/// A secret ends up inside a header value: it must not be able to end the header (CR, LF), cut it
/// short (NUL), or leave `Bearer ` with nothing after it.
fn check_value(name: &str, value: &str) -> Result<(), ConfigError> {
    if value.trim().is_empty() {
        return Err(ConfigError::EmptySecret(name.to_string()));
    }
    if value.contains(['\r', '\n']) {
        return Err(ConfigError::LineBreakInSecret(name.to_string()));
    }
    // Header values allow HTAB and nothing else below 0x20, nor DEL.
    if value.chars().any(|c| c != '\t' && c.is_ascii_control()) {
        return Err(ConfigError::ControlCharacterInSecret(name.to_string()));
    }
    Ok(())
}

fn shorten(name: &str) -> String {
    let printable: String = name
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if printable.chars().count() > MAX_NAME_IN_MESSAGE {
        let cut: String = printable.chars().take(MAX_NAME_IN_MESSAGE).collect();
        format!("{cut}…")
    } else {
        printable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(raw: &str) -> String {
        match parse(raw.as_bytes()) {
            Ok(config) => panic!("accepted {raw}: {config:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn secrets_are_read() {
        let config = parse(br#"{"secrets": {"a": "sk-1", "b": "x\ty"}}"#).unwrap();
        assert_eq!(config.secrets.get("a").map(String::as_str), Some("sk-1"));
        assert_eq!(config.secrets.len(), 2);
        assert_eq!(parse(b"").unwrap(), Config::default());
        assert_eq!(parse(b" {} ").unwrap(), Config::default());
    }

    #[test]
    fn holding_the_head_is_the_default_and_can_be_turned_off() {
        assert!(parse(b"{}").unwrap().hold_request_headers);
        assert!(
            parse(br#"{"hold_request_headers": true}"#)
                .unwrap()
                .hold_request_headers
        );
        let off = parse(br#"{"secrets": {"a": "sk-1"}, "hold_request_headers": false}"#).unwrap();
        assert!(!off.hold_request_headers);
        assert_eq!(off.secrets.len(), 1);
        for raw in [
            r#"{"hold_request_headers": "false"}"#,
            r#"{"hold_request_headers": 0}"#,
            r#"{"hold_request_headers": null}"#,
        ] {
            assert_eq!(err(raw), "`hold_request_headers` must be true or false");
        }
        assert!(err(r#"{"hold_request_header": false}"#).contains("unknown field"));
    }

    #[test]
    fn mistakes_are_named_without_the_secret_value() {
        let cases = [
            (r#"{"secret": {"a": "sk-LEAK"}}"#, "unknown field `secret`"),
            (r#"{"secrets": "sk-LEAK"}"#, "`secrets` must be an object"),
            (
                r#"{"secrets": {"a": ["sk-LEAK"]}}"#,
                "secret `a` must be a string",
            ),
            (
                r#"{"secrets": {"a": "sk-LEAK\n"}}"#,
                "secret `a` contains a line break",
            ),
            (
                r#"{"secrets": {"a": "sk-LEAK\r"}}"#,
                "secret `a` contains a line break",
            ),
            (
                r#"{"secrets": {"a": "sk-\u0000LEAK"}}"#,
                "secret `a` contains a control character",
            ),
            (r#"{"secrets": {"a": "  "}}"#, "secret `a` is empty"),
            (r#"{"secrets": {"": "sk-LEAK"}}"#, "empty name"),
            (r#"["sk-LEAK"]"#, "must be a JSON object"),
            (r#"{"secrets": {"a": "sk-LEAK"#, "not valid JSON"),
        ];
        for (raw, expected) in cases {
            let message = err(raw);
            assert!(message.contains(expected), "{raw}: {message}");
            assert!(!message.contains("LEAK"), "{raw}: {message}");
        }
        assert!(matches!(parse(&[0xff, 0xfe]), Err(ConfigError::NotUtf8)));
    }

    #[test]
    fn missing_secrets_read_naturally() {
        let one = ConfigError::MissingSecrets(vec!["x".into()]).to_string();
        assert_eq!(one, "secret `x` is missing");
        let two = ConfigError::MissingSecrets(vec!["x".into(), "y".into()]).to_string();
        assert_eq!(two, "secrets `x`, `y` are missing");
    }
}
