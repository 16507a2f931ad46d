//! The stable codes of guard's answers: the `code` of every error body a client gets, and of the
//! log lines and metrics that name a refusal. One enum, so a code is written once and documented
//! once (`docs/codes.md` is checked against [`Code::ALL`] by a test).

use std::fmt;

/// Defines [`Code`], its list, its names and meanings from one table, so a code is written once.
macro_rules! codes {
    ($($variant:ident => $name:literal, $meaning:literal;)*) => {
        /// A code a client sees in guard's error body. Codes are stable: renaming one breaks
        /// clients that handle it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Code {
            $($variant,)*
        }

        impl Code {
            /// Every code, in the order `docs/codes.md` lists them.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The code as clients see it: `guard.` and a snake_case name.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => concat!("guard.", $name),)*
                }
            }

            /// When a client gets it, in one line (`docs/codes.md`).
            pub fn meaning(self) -> &'static str {
                match self {
                    $(Code::$variant => $meaning,)*
                }
            }
        }
    };
}

codes! {
    RuleDenied => "rule_denied", "a deny rule matched the request's text";
    JudgeDenied => "judge_denied", "an escalate rule's judge answered deny";
    AnswerDenied => "answer_denied", "an `on response` deny rule matched the model's answer, which the client does not get";
    MalformedAnswer => "malformed_answer", "the upstream's answer (or a stream event) cannot be read, so it is not passed unscanned";
    AnswerTooLarge => "answer_too_large", "the upstream's answer, or one stream event, is over guard's limit, so it is not passed unscanned";
    JudgeUnavailable => "judge_unavailable", "a judge with `on_error deny` timed out, failed or answered no verdict";
    MalformedJson => "malformed_json", "the body is, or looks like, JSON and does not parse";
    DuplicateKey => "duplicate_key", "an object has a key twice, compared ignoring case, at any depth";
    TooDeep => "too_deep", "arrays and objects nest deeper than 64";
    InvalidUtf8 => "invalid_utf8", "the body is not UTF-8 and no byte-order mark, NUL pattern or charset says otherwise";
    InvalidCharset => "invalid_charset", "the body is detected or declared UTF-16 or UTF-32 and does not decode as such";
    UnsupportedCharset => "unsupported_charset", "the body declares a charset other than UTF-8, 16 or 32";
    BinaryBody => "binary_body", "the decoded body holds a NUL character";
    TooManySegments => "too_many_segments", "the body holds more than 100,000 text segments";
    InvalidMedia => "invalid_media", "media is not valid base64, is declared text but is not, or is neither its type nor text";
    MalformedMultipart => "malformed_multipart", "a multipart body does not parse as multipart/form-data";
    MalformedEncoding => "malformed_encoding", "a gzip or deflate body does not decode";
    UnsupportedEncoding => "unsupported_encoding", "a content encoding other than gzip, deflate and identity";
    MaskUnsupported => "mask_unsupported", "a value a mask rule replaces is where guard cannot rewrite it (a compressed, form or multipart body, a media payload)";
    BodyTooLarge => "body_too_large", "the body is over guard's limit, before or after decoding";
    InvalidAuthority => "invalid_authority", "the authority is not a plain host[:port] and some reading of it names a guarded host";
    UpgradeRefused => "upgrade_refused", "a protocol upgrade (WebSocket, CONNECT) to a guarded host";
    NotConfigured => "not_configured", "the filter runs without a configuration (never in Envoy)";
    ConfigError => "config_error", "the configuration lacks a secret the policy needs (a bug)";
    InternalError => "internal_error", "the proxy would not hand over or take back the request body";
    HoldUnsupported => "hold_unsupported", "the request head is held but the proxy delivers no body: Envoy lacks `allow_on_headers_stop_iteration`";
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where guard-dsl's part of `docs/codes.md` starts.
    const DSL_SECTION: &str = "\n## Policy diagnostics";

    /// `docs/codes.md` starts with the table this renders; `GUARD_BLESS=1` rewrites it.
    #[test]
    fn docs_list_every_code() {
        let mut table = String::from(
            "# Error codes\n\nThe `code` of every error body guard answers with, from `engine/src/codes.rs`\n\
             (checked by its test; `GUARD_BLESS=1 cargo test -p guard-engine --lib codes` rewrites this\n\
             file). Codes are stable. The HTTP status is in `docs/language.md` and `docs/deploy.md`.\n\n\
             | code | when |\n|---|---|\n",
        );
        for code in Code::ALL {
            table.push_str(&format!("| `{}` | {} |\n", code.as_str(), code.meaning()));
        }
        // The file's first part is this table; the policy diagnostics after it are guard-dsl's.
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/codes.md");
        let written = std::fs::read_to_string(path).unwrap_or_default();
        let (ours, rest) = written
            .find(DSL_SECTION)
            .map_or((written.as_str(), ""), |at| written.split_at(at));
        if std::env::var_os("GUARD_BLESS").is_some() {
            std::fs::write(path, format!("{table}{rest}")).unwrap();
        } else {
            assert_eq!(
                ours, table,
                "docs/codes.md is stale: GUARD_BLESS=1 regenerates it"
            );
        }
        let mut names: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Code::ALL.len(), "a code is listed twice");
    }
}
