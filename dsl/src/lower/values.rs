//! Values: each string and word an author writes (hosts, path prefixes, header names and values,
//! keywords, regexes, durations, endpoints, `on_error`) checked and converted into what the
//! engine takes. Every check is a pure function of the value and returns its one problem, so
//! lowering reports it and goes on.

use std::ops::Range;

use guard_engine::ir::{Endpoint, HostPattern, Mode, OnError, Template, TemplatePart, Validator};
use guard_engine::{check_regex, RegexError, RegexErrorKind};

use crate::ast::{Str, Word};
use crate::diagnostic::{Code, Diag};
use crate::suggest::closest;

/// A value's problem. Boxed: value checks return `Result<_, Box<Diag>>` to keep `Ok` small.
fn invalid(
    code: Code,
    s: &Str,
    range: Range<usize>,
    message: String,
    label: &str,
    help: String,
) -> Box<Diag> {
    let span = if range.is_empty() {
        s.span
    } else {
        s.span_of(range)
    };
    Box::new(Diag::new(code, message).at(span, label).help(help))
}

/// The first character of `text` (at `offset` in the value) that `ok` rejects.
fn first_bad(text: &str, offset: usize, ok: impl Fn(char) -> bool) -> Option<(Range<usize>, char)> {
    text.char_indices()
        .find(|(_, c)| !ok(*c))
        .map(|(i, c)| (offset + i..offset + i + c.len_utf8(), c))
}

/// `match host` values: lowercase, no trailing dot, `*.` for subdomains; no scheme, port or path.
pub(crate) fn lower_host(s: &Str) -> Result<HostPattern, Box<Diag>> {
    let v = s.value.as_str();
    let bad = |range: Range<usize>, message: String, label: &str, help: String| {
        Err(invalid(Code::InvalidHost, s, range, message, label, help))
    };
    if v.is_empty() {
        return bad(
            0..0,
            "empty host".into(),
            "empty",
            "write a host name such as `api.example.com`".into(),
        );
    }
    if let Some(i) = v.find("://") {
        let rest = v.get(i + 3..).unwrap_or("");
        let bare = rest.split(['/', ':']).next().unwrap_or(rest);
        return bad(
            0..i + 3,
            format!("host `{v}` includes a scheme"),
            "remove the scheme",
            format!("write just the host: `{bare}`"),
        );
    }
    if let Some(i) = v.find('/') {
        return bad(
            i..v.len(),
            format!("host `{v}` includes a path"),
            "remove the path",
            format!(
                "select the path with `match path prefix \"{}\"`",
                v.get(i..).unwrap_or("/")
            ),
        );
    }
    if v.starts_with('[') {
        // An IPv6 literal, as it appears in `:authority`.
        let inner_ok = v.len() > 2
            && v.ends_with(']')
            && v.get(1..v.len() - 1).is_some_and(|inner| {
                inner
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
            });
        if inner_ok {
            return Ok(HostPattern::Exact(v.to_ascii_lowercase()));
        }
        return bad(
            0..v.len(),
            format!("invalid IPv6 host `{v}`"),
            "expected `[` hex digits and `:` `]`",
            "write an IPv6 address in brackets without a port, e.g. `[2001:db8::1]`".into(),
        );
    }
    if let Some(i) = v.rfind(':') {
        return bad(
            i..v.len(),
            format!("host `{v}` includes a port"),
            "remove the port",
            format!(
                "hosts match whatever port the request uses; write `{}`",
                v.get(..i).unwrap_or(v)
            ),
        );
    }
    let (wild, offset) = if v.starts_with("*.") {
        (true, 2)
    } else {
        (false, 0)
    };
    let name = v.get(offset..).unwrap_or("");
    let name = name.strip_suffix('.').unwrap_or(name);
    if let Some(i) = name.find('*') {
        return bad(
            offset + i..offset + i + 1,
            format!("host `{v}` has a wildcard that is not the first label"),
            "wildcard here",
            "a wildcard is only allowed as a whole first label: `*.example.com` matches every subdomain".into(),
        );
    }
    if name.is_empty() {
        return bad(
            0..v.len(),
            format!("host `{v}` has no domain"),
            "no domain",
            "write e.g. `*.example.com`".into(),
        );
    }
    if let Some((range, c)) = first_bad(name, offset, |c| {
        c.is_ascii_alphanumeric() || "-_.".contains(c)
    }) {
        let help = if c.is_ascii() {
            "host names are letters, digits, `-`, `_` and `.`".to_string()
        } else {
            "write an internationalized domain name in its ASCII (punycode) form, `xn--...`"
                .to_string()
        };
        return bad(
            range,
            format!("host `{v}` contains {}", describe(c)),
            "not allowed in a host name",
            help,
        );
    }
    let mut at = offset;
    for label in name.split('.') {
        if label.is_empty() {
            return bad(
                at..at + 1,
                format!("host `{v}` has an empty label"),
                "empty label",
                "remove the extra `.`".into(),
            );
        }
        if label.len() > 63 {
            return bad(
                at..at + label.len(),
                format!("host `{v}` has a label longer than 63 characters"),
                "too long",
                "DNS labels are at most 63 characters".into(),
            );
        }
        at += label.len() + 1;
    }
    if name.len() > 253 {
        return bad(
            0..v.len(),
            "host is longer than 253 characters".into(),
            "too long",
            "DNS names are at most 253 characters".into(),
        );
    }
    let lower = name.to_ascii_lowercase();
    if wild && is_public_suffix(&lower) {
        return Err(invalid(
            Code::WildcardPublicSuffix,
            s,
            0..v.len(),
            format!("`{v}` would send the key to any `.{lower}` host"),
            "a wildcard over a public suffix",
            format!(
                "`.{lower}` is a public suffix: its subdomains belong to unrelated owners, so a \
                 policy's headers (its key) would reach all of them; name the hosts, e.g. \
                 `api.example.{lower}`, or a wildcard under a domain you own, e.g. \
                 `*.example.{lower}`"
            ),
        ));
    }
    Ok(if wild {
        HostPattern::Subdomains(format!(".{lower}"))
    } else {
        HostPattern::Exact(lower)
    })
}

/// Whether `name` (lowercase, no trailing dot) is itself a public suffix in Mozilla's Public
/// Suffix List, ICANN or private section (`com`, `co.uk`, `github.io`), as the `psl` crate
/// compiles it in, or one of [`SHARED_PARENTS`]. A name under an unknown top-level domain
/// (`internal`, `local`) is not.
pub(crate) fn is_public_suffix(name: &str) -> bool {
    SHARED_PARENTS.contains(&name)
        || psl::suffix(name.as_bytes())
            .is_some_and(|suffix| suffix.is_known() && suffix == name.as_bytes())
}

/// Domains the Public Suffix List does not list themselves, only names under them
/// (`s3.amazonaws.com`, `*.compute.amazonaws.com`): their subdomains are still handed to every
/// customer of the cloud, so a wildcard over them selects strangers' hosts.
const SHARED_PARENTS: &[&str] = &["amazonaws.com"];

pub(crate) fn check_path_prefix(s: &Str) -> Result<(), Box<Diag>> {
    let v = s.value.as_str();
    if !v.starts_with('/') {
        return Err(invalid(
            Code::InvalidPathPrefix,
            s,
            0..v.len().min(v.chars().next().map_or(0, char::len_utf8)),
            format!("path prefix `{v}` does not start with `/`"),
            "expected `/`",
            format!("write `/{v}`"),
        ));
    }
    if let Some((range, c)) = first_bad(v, 0, |c| {
        !(c == '?' || c == '#' || c.is_whitespace() || c.is_control())
    }) {
        let help = if c == '?' || c == '#' {
            "the prefix is compared with the path before `?`; leave out the query and fragment"
        } else {
            "percent-encode it as the request would, e.g. `%20` for a space"
        };
        return Err(invalid(
            Code::InvalidPathPrefix,
            s,
            range,
            format!("path prefix `{v}` contains {}", describe(c)),
            "not allowed in a path prefix",
            help.into(),
        ));
    }
    Ok(())
}

/// Header names are HTTP tokens (RFC 9110); pseudo-headers (`:authority`...) are Envoy's routing
/// state, not headers a policy may set.
pub(crate) fn check_header_name(s: &Str) -> Result<(), Box<Diag>> {
    let v = s.value.as_str();
    if v.is_empty() {
        return Err(invalid(
            Code::InvalidHeaderName,
            s,
            0..0,
            "empty header name".into(),
            "empty",
            "name the header, e.g. `Authorization`".into(),
        ));
    }
    if v.starts_with(':') {
        return Err(invalid(
            Code::InvalidHeaderName,
            s,
            0..v.len(),
            format!("`{v}` is a pseudo-header"),
            "pseudo-header",
            "`:authority`, `:path`, `:method` and `:scheme` decide routing and cannot be injected or removed".into(),
        ));
    }
    if let Some((range, c)) = first_bad(v, 0, guard_engine::ir::is_token_char) {
        return Err(invalid(
            Code::InvalidHeaderName,
            s,
            range,
            format!(
                "header name `{}` contains {}",
                v.escape_debug(),
                describe(c)
            ),
            "not allowed in a header name",
            format!(
                "header names are letters, digits and any of {}",
                guard_engine::ir::TOKEN_SYMBOLS
            ),
        ));
    }
    Ok(())
}

/// A header value must be one line of visible text: a line break would let a policy (or a typo in
/// it) inject further headers.
pub(crate) fn check_header_value(value: &Str, template: &Template) -> Result<(), Box<Diag>> {
    if template
        .parts
        .iter()
        .all(|p| !matches!(p, TemplatePart::Text(_)))
    {
        return Ok(());
    }
    if let Some((i, c)) = value
        .value
        .char_indices()
        .find(|(_, c)| (c.is_control() && *c != '\t') || *c == '\u{7f}')
    {
        return Err(Box::new(
            Diag::new(
                Code::InvalidHeaderValue,
                format!("header value contains {}", describe(c)),
            )
            .at(value.span_of(i..i + c.len_utf8()), "not allowed in a header value")
            .help("a header value is one line of text; line breaks and control characters are not allowed"),
        ));
    }
    Ok(())
}

/// `250ms`, `3s`, `1m` → milliseconds.
pub(crate) fn lower_duration(word: &Word) -> Result<u64, Box<Diag>> {
    let t = word.text.as_str();
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = t.split_at(digits);
    let bad = |help: String| {
        Box::new(
            Diag::new(Code::BadDuration, format!("bad duration `{t}`"))
                .at(word.span, "expected a whole number and `ms`, `s` or `m`")
                .help(help),
        )
    };
    let factor: u64 = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        _ if unit.starts_with('.') => {
            return Err(bad(
                "durations are whole numbers; write `1500ms` for 1.5 seconds".into(),
            ))
        }
        "" => {
            return Err(bad(format!(
                "add a unit: `{number}ms`, `{number}s` or `{number}m`"
            )))
        }
        "h" => {
            return Err(bad(format!(
                "write hours in minutes: `{}m`",
                number.parse::<u64>().unwrap_or(1).saturating_mul(60)
            )))
        }
        _ => {
            return Err(bad(
                "the units are `ms`, `s` and `m`, e.g. `250ms`, `3s`, `1m`".into(),
            ))
        }
    };
    let ms = number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor));
    match ms {
        Some(0) => Err(Box::new(
            Diag::new(Code::BadDuration, "a timeout must be longer than zero")
                .at(word.span, "zero")
                .help("give the judge time to answer, e.g. `3s`"),
        )),
        Some(ms) if ms <= MAX_TIMEOUT_MS => Ok(ms),
        _ => Err(Box::new(
            Diag::new(
                Code::BadDuration,
                "a judge timeout can be at most 10 minutes",
            )
            .at(word.span, "too long")
            .help(
                "the request waits for the judge, and Envoy's route timeout (15s by default) \
                     bounds the whole request: a few seconds, e.g. `3s`, is what a judge gets",
            ),
        )),
    }
}

/// The longest judge timeout: far past any route timeout, and well inside the proxy-wasm SDK's
/// `u32` milliseconds, which a longer one would wrap.
const MAX_TIMEOUT_MS: u64 = 10 * 60 * 1000;

/// `http(s)://host[:port][/path][?query]` → [`Endpoint`]; the port defaults to the scheme's and is
/// part of the authority only when written.
pub(crate) fn lower_endpoint(s: &Str) -> Result<Endpoint, Box<Diag>> {
    let v = s.value.as_str();
    let bad = |range: Range<usize>, message: String, label: &str, help: &str| {
        Err(invalid(
            Code::InvalidEndpoint,
            s,
            range,
            message,
            label,
            help.into(),
        ))
    };
    let Some(sep) = v.find("://") else {
        return bad(
            0..v.len(),
            format!("endpoint `{v}` is not a URL"),
            "expected `http://` or `https://`",
            "write the judge's URL, e.g. `http://judge.internal/v1/chat/completions`",
        );
    };
    let scheme = v.get(..sep).unwrap_or("").to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => {
            return bad(
                0..sep,
                format!(
                    "endpoint scheme `{}` is not supported",
                    v.get(..sep).unwrap_or("")
                ),
                "expected `http` or `https`",
                "judges are called over `http://` or `https://`",
            )
        }
    };
    let start = sep + 3;
    let rest = v.get(start..).unwrap_or("");
    let auth_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = rest.get(..auth_len).unwrap_or("");
    let tail = rest.get(auth_len..).unwrap_or("");
    if let Some(i) = authority.find('@') {
        return bad(
            start..start + i + 1,
            format!("endpoint `{v}` contains credentials"),
            "credentials",
            "put the key in `api_key` (it can use `{{ secret.NAME }}`), not in the URL",
        );
    }
    let (host, port_text) = if authority.starts_with('[') {
        match authority.find(']') {
            Some(close) => {
                let after = authority.get(close + 1..).unwrap_or("");
                (
                    authority.get(..=close).unwrap_or(""),
                    after.strip_prefix(':'),
                )
            }
            None => (authority, None),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return bad(
            start..start + auth_len,
            format!("endpoint `{v}` has no host"),
            "no host",
            "write e.g. `http://judge.internal/v1/chat/completions`",
        );
    }
    let host_ok = if host.starts_with('[') {
        host.len() > 2 && host.ends_with(']')
    } else {
        host.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            && !host.split('.').any(str::is_empty)
    };
    if !host_ok {
        return bad(
            start..start + host.len(),
            format!("endpoint host `{host}` is not a valid host name"),
            "invalid host",
            "host names are letters, digits, `-`, `_` and `.`",
        );
    }
    let port = match port_text {
        None => default_port,
        Some(p) => match p.parse::<u16>() {
            Ok(port) if port > 0 && p.bytes().all(|b| b.is_ascii_digit()) => port,
            _ => {
                let at = start + host.len() + 1;
                return bad(
                    at..at + p.len(),
                    format!("invalid port `{p}` in endpoint"),
                    "invalid port",
                    "a port is a number from 1 to 65535",
                );
            }
        },
    };
    let tail_at = start + auth_len;
    if let Some(i) = tail.find('#') {
        return bad(
            tail_at + i..v.len(),
            format!("endpoint `{v}` has a fragment"),
            "fragment",
            "a fragment is never sent to a server; remove it",
        );
    }
    if let Some((range, c)) = first_bad(tail, tail_at, |c| !(c.is_whitespace() || c.is_control())) {
        return bad(
            range,
            format!("endpoint path contains {}", describe(c)),
            "not allowed in a URL",
            "percent-encode it, e.g. `%20` for a space",
        );
    }
    let host = host.to_ascii_lowercase();
    let path = if tail.starts_with('/') {
        tail.to_string()
    } else {
        format!("/{tail}")
    };
    Ok(Endpoint {
        url: v.to_string(),
        authority: if port_text.is_some() {
            format!("{host}:{port}")
        } else {
            host.clone()
        },
        host,
        port,
        path,
    })
}

/// A `cluster` names an Envoy cluster; an empty one names none.
pub(crate) fn check_cluster(c: &Str) -> Result<(), Box<Diag>> {
    if c.value.trim().is_empty() {
        return Err(Box::new(
            Diag::new(Code::InvalidEndpoint, "empty cluster name")
                .at(c.span, "empty")
                .help("name an Envoy cluster, or remove `cluster` to use Istio's `outbound|PORT||HOST`"),
        ));
    }
    Ok(())
}

/// `deny` or `allow`; nothing is assumed, so failing open is always written down.
pub(crate) fn lower_on_error(word: &Word) -> Result<OnError, Box<Diag>> {
    match word.text.as_str() {
        "deny" => Ok(OnError::Deny),
        "allow" => Ok(OnError::Allow),
        other => {
            let help = match closest(other, &["deny", "allow"]) {
                Some(s) => format!("did you mean `{s}`?"),
                None => "`on_error deny` fails closed (the safe choice); `on_error allow` lets \
                         the request through when the judge cannot answer"
                    .into(),
            };
            Err(Box::new(
                Diag::new(
                    Code::BadOnError,
                    format!("`on_error` must be `deny` or `allow`, not `{other}`"),
                )
                .at(word.span, "expected `deny` or `allow`")
                .help(help),
            ))
        }
    }
}

/// `mode monitor` or `mode enforce`.
pub(crate) fn mode(word: &Word) -> Result<Mode, Box<Diag>> {
    match word.text.as_str() {
        "monitor" => Ok(Mode::Monitor),
        "enforce" => Ok(Mode::Enforce),
        other => {
            let help = match closest(other, &["monitor", "enforce"]) {
                Some(s) => format!("did you mean `{s}`?"),
                None => "`monitor` records what the rules match and lets the request through; \
                         `enforce` (the default) acts on it"
                    .into(),
            };
            Err(Box::new(
                Diag::new(
                    Code::BadMode,
                    format!("`mode` must be `monitor` or `enforce`, not `{other}`"),
                )
                .at(word.span, "expected `monitor` or `enforce`")
                .help(help),
            ))
        }
    }
}

/// `validate NAME`, one of the engine's validators.
pub(crate) fn validator(word: &Word) -> Result<Validator, Box<Diag>> {
    if let Some(v) = Validator::from_name(&word.text) {
        return Ok(v);
    }
    let names: Vec<&str> = Validator::ALL.iter().map(|v| v.name()).collect();
    let list: Vec<String> = Validator::ALL
        .iter()
        .map(|v| format!("`{}` ({})", v.name(), v.meaning()))
        .collect();
    let help = match closest(&word.text, &names) {
        Some(s) => format!("did you mean `{s}`? the validators are {}", list.join("; ")),
        None => format!("the validators are {}", list.join("; ")),
    };
    Err(Box::new(
        Diag::new(
            Code::UnknownValidator,
            format!("unknown validator `{}`", word.text),
        )
        .at(word.span, "no validator has this name")
        .help(help),
    ))
}

/// An `except regex` the engine can run as a DFA (it may match the empty string: an empty
/// exception holds no match, so it excuses nothing).
pub(crate) fn check_except_regex(regex: &Str, ignore_case: bool) -> Result<(), Box<Diag>> {
    check_regex(&regex.value, ignore_case).map_err(|err| Box::new(regex_diag(regex, &err)))
}

/// A deny regex the engine can run as a DFA and that cannot match the empty string.
pub(crate) fn check_deny_regex(regex: &Str, ignore_case: bool) -> Result<(), Box<Diag>> {
    if let Err(err) = check_regex(&regex.value, ignore_case) {
        return Err(Box::new(regex_diag(regex, &err)));
    }
    // An empty match would deny every request: almost certainly a typo (`a*`, `x?`, `""`).
    let matches_empty = regex_syntax::ParserBuilder::new()
        .case_insensitive(ignore_case)
        .build()
        .parse(&regex.value)
        .is_ok_and(|hir| hir.properties().minimum_len() == Some(0));
    if matches_empty {
        return Err(Box::new(
            Diag::new(Code::RegexMatchesEmpty, format!("regex `{}` matches the empty string", regex.value))
                .at(regex.span, "matches everywhere")
                .help("a deny regex that matches the empty string denies every request; make it match at least one character"),
        ));
    }
    Ok(())
}

/// The diagnostic for a regex the engine rejects, pointing inside the literal when the engine
/// says where.
pub(crate) fn regex_diag(literal: &Str, err: &RegexError) -> Diag {
    let span = err
        .span
        .clone()
        .map_or(literal.content, |r| literal.span_of(r));
    let at = |r: &Range<usize>| literal.value.get(r.clone()).unwrap_or("").to_string();
    match &err.kind {
        RegexErrorKind::Unsupported => {
            let help = if err.message.contains("backreference") {
                "guard runs regexes as DFAs, which scan in linear time and cannot remember earlier \
                 text; write the repeated text out, or use separate patterns"
            } else {
                "guard runs regexes as DFAs, which scan in linear time and cannot look ahead or \
                 behind; match the surrounding text as part of the pattern (`foo(?=bar)` → \
                 `foobar`), use `whole words` on a keyword rule for a word boundary, or split the \
                 check into rules"
            };
            Diag::new(Code::UnsupportedRegex, format!("unsupported regex: {}", err.message))
                .at(span, "a DFA cannot do this")
                .help(help)
        }
        RegexErrorKind::UnicodeWordBoundary => {
            let written = err.span.as_ref().map(at).unwrap_or_else(|| "\\b".into());
            let ascii = if written.contains('B') { "(?-u:\\B)" } else { "(?-u:\\b)" };
            Diag::new(Code::UnicodeWordBoundary, "a DFA cannot match a Unicode word boundary")
                .at(span, "Unicode word boundary")
                .help(format!(
                    "for a word of a keyword list, use a `deny keyword` line with `whole words`, \
                     which also keeps CJK keywords matching inside running text; in a regex, the \
                     ASCII boundary `{ascii}` is what a DFA can match, but letters outside ASCII \
                     then count as non-word characters, so it never matches next to CJK text"
                ))
        }
        RegexErrorKind::TooLarge { limit } => Diag::new(
            Code::RegexTooLarge,
            "regex is too large to compile into a DFA",
        )
        .at(span, format!("its DFA needs more than the budget of {}", bytes(*limit)))
        .help(
            "rewrite the pattern first: a DFA has a state for every combination of partial matches \
             it can be in, and a broad class repeated after something that can repeat multiplies \
             them. Bound the repetition where the text allows (`[a-z]{1,40}` instead of `[a-z]+`, \
             `{0,40}` instead of `*`); use ASCII classes (`[0-9]` instead of `\\d`, `[A-Za-z0-9_]` \
             instead of `\\w`, which under Unicode match hundreds of characters) or `(?-u:...)` \
             around a part that only needs ASCII; split an alternation into several `deny regex` \
             lines. Only then raise the budget with `--dfa-size-limit BYTES` (on `guardc check`, \
             `test`, `compile`, `build` and `explain`), which every filter pays for in memory",
        ),
        _ => Diag::new(Code::InvalidRegex, format!("invalid regex: {}", err.message))
            .at(span, "here")
            .help("guard uses Rust regex syntax (the `regex` crate); in a plain string a backslash is written `\\\\`"),
    }
}

/// A character for a message: `x` in backticks, or in words when backticks would not show it.
fn describe(c: char) -> String {
    match c {
        ' ' => "a space".into(),
        '\t' => "a tab".into(),
        '\n' => "a line break (`\\n`)".into(),
        '\r' => "a carriage return (`\\r`)".into(),
        c if c.is_control() || c.is_whitespace() => {
            format!("the control character `{}`", c.escape_unicode())
        }
        c => format!("`{c}`"),
    }
}

/// `16 MiB`, `4 KiB`, `1000 bytes`.
fn bytes(n: usize) -> String {
    if n >= 1 << 20 && n % (1 << 20) == 0 {
        format!("{} MiB", n >> 20)
    } else if n >= 1 << 10 && n % (1 << 10) == 0 {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} bytes")
    }
}

/// A deny keyword that is not blank (see [`blank_keyword`]).
pub(crate) fn check_keyword(keyword: &Str, normalized: bool) -> Result<(), Box<Diag>> {
    if blank_keyword(&keyword.value, normalized) {
        return Err(Box::new(
            Diag::new(
                Code::EmptyKeyword,
                if keyword.value.is_empty() {
                    "empty keyword".to_string()
                } else if keyword.value.trim().is_empty() {
                    "keyword is only whitespace".to_string()
                } else {
                    "keyword is only whitespace and invisible characters".to_string()
                },
            )
            .at(keyword.span, "this would match (almost) every request")
            .help("remove it, or write the word to deny"),
        ));
    }
    Ok(())
}

/// A keyword that would match (almost) every request: empty or whitespace, also once normalised
/// (when the rule matches normalised text), since normalisation removes zero-width and other
/// default-ignorable characters and an empty keyword matches at every position.
pub(crate) fn blank_keyword(keyword: &str, normalized: bool) -> bool {
    keyword.trim().is_empty() || (normalized && guard_engine::normalize(keyword).trim().is_empty())
}

/// Where a value that may carry a credential is written, for [`check_literal_credential`].
pub(crate) enum CredentialSite<'a> {
    /// `inject header NAME = ...` in policy `policy`.
    Header { name: &'a str, policy: &'a str },
    /// A judge's `api_key`.
    ApiKey { judge: &'a str },
}

/// A credential typed into the policy: it would be compiled into the bundle, and so into the
/// plugin and its OCI image. In `Authorization`, a literal token after `Bearer ` or `Basic `, or
/// any literal run of 16 or more token characters; in `x-api-key`, `api-key` and a judge's
/// `api_key`, any literal text. Placeholders (`{{ secret.NAME }}`) are what belongs there.
pub(crate) fn check_literal_credential(
    value: &Str,
    site: &CredentialSite<'_>,
) -> Result<(), Box<Diag>> {
    let v = value.value.as_str();
    let runs = literal_runs(v);
    let found = match site {
        CredentialSite::Header { name, .. } if name.eq_ignore_ascii_case("authorization") => runs
            .iter()
            .find_map(|run| authorization_token(v, run.clone())),
        CredentialSite::Header { name, .. }
            if name.eq_ignore_ascii_case("x-api-key") || name.eq_ignore_ascii_case("api-key") =>
        {
            runs.iter().find_map(|run| non_blank(v, run.clone()))
        }
        CredentialSite::Header { .. } => None,
        CredentialSite::ApiKey { .. } => runs.iter().find_map(|run| non_blank(v, run.clone())),
    };
    let Some(range) = found else {
        return Ok(());
    };
    let (message, fixed) = match site {
        CredentialSite::Header { name, policy } => {
            let scheme = v
                .trim_start()
                .split_once(' ')
                .map(|(scheme, _)| scheme)
                .filter(|scheme| {
                    scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("basic")
                });
            let secret = format!("{{{{ secret.{}_key }}}}", secret_stem(policy));
            let fixed = match scheme {
                Some(scheme) => format!("inject header \"{name}\" = \"{scheme} {secret}\""),
                None if name.eq_ignore_ascii_case("authorization") => {
                    format!("inject header \"{name}\" = \"Bearer {secret}\"")
                }
                None => format!("inject header \"{name}\" = \"{secret}\""),
            };
            (
                format!("header `{name}` is set to a literal credential"),
                fixed,
            )
        }
        CredentialSite::ApiKey { judge } => (
            format!("the `api_key` of judge `{judge}` is a literal key"),
            format!(
                "api_key \"{{{{ secret.{}_api_key }}}}\"",
                secret_stem(judge)
            ),
        ),
    };
    Err(invalid(
        Code::LiteralCredential,
        value,
        range,
        message,
        "a credential written into the policy",
        format!(
            "the policy is compiled into the bundle, which ships inside the plugin and its OCI \
             image for anyone who can pull it to read; take the key from the filter's \
             configuration with a secret: `{fixed}`"
        ),
    ))
}

/// The byte ranges of `v` outside `{{ ... }}` placeholders (an unclosed `{{` is reported by
/// template parsing; the text from it on is not looked at).
fn literal_runs(v: &str) -> Vec<Range<usize>> {
    let mut runs = Vec::new();
    let mut at = 0;
    while let Some(open) = v.get(at..).and_then(|rest| rest.find("{{")).map(|n| at + n) {
        if open > at {
            runs.push(at..open);
        }
        let Some(close) = v.get(open + 2..).and_then(|rest| rest.find("}}")) else {
            return runs;
        };
        at = open + 2 + close + 2;
    }
    if at < v.len() {
        runs.push(at..v.len());
    }
    runs
}

/// The non-blank part of a literal run, trimmed.
fn non_blank(v: &str, run: Range<usize>) -> Option<Range<usize>> {
    let text = v.get(run.clone())?;
    let start = run.start + (text.len() - text.trim_start().len());
    let end = run.end - (text.len() - text.trim_end().len());
    (start < end).then_some(start..end)
}

/// In an `Authorization` value's literal run: the text after a leading `Bearer `/`Basic `, or a
/// run of 16 or more token characters (RFC 9110 token68: letters, digits, `-._~+/=`).
fn authorization_token(v: &str, run: Range<usize>) -> Option<Range<usize>> {
    let text = v.get(run.clone())?;
    let leading = text.len() - text.trim_start().len();
    let body = text.get(leading..).unwrap_or("");
    if run.start == 0 {
        if let Some((scheme, _)) = body.split_once([' ', '\t']) {
            if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("basic") {
                let after = run.start + leading + scheme.len();
                if let Some(token) = non_blank(v, after..run.end) {
                    return Some(token);
                }
            }
        }
    }
    let token68 = |c: char| c.is_ascii_alphanumeric() || "-._~+/=".contains(c);
    let mut start = None;
    for (i, c) in text
        .char_indices()
        .chain(std::iter::once((text.len(), ' ')))
    {
        match (token68(c), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                if i - s >= 16 {
                    return Some(run.start + s..run.start + i);
                }
                start = None;
            }
            _ => {}
        }
    }
    None
}

/// A secret name suggested from a policy or judge name: its letters, digits, `_` and `-`.
fn secret_stem(name: &str) -> String {
    let stem: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if stem.trim_matches('_').is_empty() {
        "provider".into()
    } else {
        stem
    }
}

#[cfg(test)]
mod public_suffix_tests {
    use super::is_public_suffix;

    #[test]
    fn public_suffixes_are_known_and_owned_domains_are_not() {
        for name in ["com", "co.uk", "github.io", "cn", "com.cn", "amazonaws.com"] {
            assert!(is_public_suffix(name), "{name}");
        }
        for name in [
            "example.com",
            "openai.com",
            "openai.azure.com",
            "internal",
            "svc.cluster.local",
        ] {
            assert!(!is_public_suffix(name), "{name}");
        }
    }
}
