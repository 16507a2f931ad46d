//! The request-head checks: what the headers phase decides before any header is changed.
//!
//! The filter and `guardc test` both call [`Ruleset::check_head`], so a fixture's verdict on an odd
//! authority or an upgrade is the one Envoy gives.
//!
//! - **Authority.** Policies are selected by the host part of `:authority`. A proxy, a resolver or
//!   an upstream that reads an authority differently from us (the host before the first `:`, the
//!   part after an `@`, a percent-decoded name) would send a request we did not select to a guarded
//!   host, unscanned and without a key. So an authority must be a plain `host[:port]`; one that is
//!   not, while some reading of it names a guarded host, is refused. An odd authority that no
//!   reading can take to a guarded host is not ours to judge and passes untouched.
//! - **Upgrades.** A WebSocket (or any other protocol switch, HTTP/2 extended CONNECT, CONNECT)
//!   carries its payload in frames after the head; the body phase would wait for an end of stream
//!   that never comes, while the upstream already holds the key. On a guarded host such a request
//!   is refused in the headers phase, before any header is injected.
//!
//! Refusals are [`Denial`]s with stable `guard.*` codes whose reasons never quote the request.

use std::net::Ipv6Addr;

use crate::codes::Code;
use crate::eval::{normalize_host, Denial, Ruleset, Selection};

/// The request head as the headers phase sees it.
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    /// `:method` (the request line's method).
    pub method: &'a str,
    /// `:authority` (HTTP/1.1: the `Host` header, which Envoy maps onto `:authority`).
    pub authority: &'a str,
    /// `:path`, with the query.
    pub path: &'a str,
    /// Every other header, names in any case; pseudo-headers such as `:protocol` may be among
    /// them.
    pub headers: &'a [(&'a str, &'a str)],
}

/// What the head checks decide.
#[allow(
    clippy::large_enum_variant,
    reason = "one per request, moved not copied: boxing the denial would buy nothing"
)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadVerdict {
    /// No policy selects the request: it passes untouched.
    Untouched,
    /// These policies selected the request; their headers and body phases follow.
    Selected(Selection),
    /// Refused in the headers phase: answer with the denial, inject nothing.
    Refuse(Denial),
}

/// Code for an authority that is not a plain `host[:port]` but could name a guarded host.
pub const INVALID_AUTHORITY: &str = Code::InvalidAuthority.as_str();
/// Code for an upgrade (WebSocket, CONNECT, extended CONNECT) on a guarded host.
pub const UPGRADE_REFUSED: &str = Code::UpgradeRefused.as_str();

impl Ruleset {
    /// The headers phase's decision for a request head; see the module documentation.
    pub fn check_head(&self, head: &RequestHead<'_>) -> HeadVerdict {
        let path = head.path;
        // A `host` header beside `:authority` (HTTP/2, or a client that sent both) is another
        // authority some hop may prefer; both must agree and both must be plain.
        let hosts = head
            .headers
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case("host"))
            .map(|(_, value)| *value);
        let authorities: Vec<&str> = std::iter::once(head.authority).chain(hosts).collect();

        let mut selected = None;
        let mut odd = false;
        for authority in &authorities {
            match normalize_host(authority) {
                Some(host) => {
                    let policy = self.select(&host, path);
                    if selected.is_some() && Some(&policy) != selected.as_ref() {
                        odd = true;
                    }
                    if selected.is_none() {
                        selected = Some(policy);
                    }
                }
                None => odd = true,
            }
        }
        let selected = selected.flatten();
        if odd {
            // Any reading of any authority that names a guarded host makes the head ours to
            // refuse; the policy named is the first such one.
            let guarded = selected.or_else(|| {
                authorities
                    .iter()
                    .flat_map(|a| readings(a))
                    .find_map(|host| self.select(&host, path))
            });
            return match guarded {
                Some(policy) => HeadVerdict::Refuse(Denial::refusal(
                    &self.selection_name(&policy),
                    400,
                    INVALID_AUTHORITY,
                    "the request's authority is not a plain host[:port], and it could name this guarded host",
                )),
                None => HeadVerdict::Untouched,
            };
        }
        let Some(policy) = selected else {
            return HeadVerdict::Untouched;
        };
        if is_upgrade(head) {
            return HeadVerdict::Refuse(Denial::refusal(
                &self.selection_name(&policy),
                400,
                UPGRADE_REFUSED,
                "protocol upgrades (WebSocket, CONNECT) cannot be scanned and are not allowed on \
                 this host",
            ));
        }
        HeadVerdict::Selected(policy)
    }
}

/// Whether the head asks to leave HTTP request/response semantics: a protocol switch
/// (`Upgrade`, `Connection: upgrade`), HTTP/2's extended CONNECT (`:protocol`) or a CONNECT
/// tunnel. Any one of the signs is enough: a hop that honours one of them would tunnel.
fn is_upgrade(head: &RequestHead<'_>) -> bool {
    if head.method.eq_ignore_ascii_case("CONNECT") {
        return true;
    }
    head.headers.iter().any(|(name, value)| {
        name.eq_ignore_ascii_case("upgrade")
            || name.eq_ignore_ascii_case(":protocol")
            || (name.eq_ignore_ascii_case("connection")
                && value
                    .split(',')
                    .any(|token| token.trim().eq_ignore_ascii_case("upgrade")))
    })
}

/// The longest authority read for alternative hosts; longer ones are read up to here.
const MAX_AUTHORITY: usize = 1024;

/// Hosts other parsers might take from an authority that is not a plain `host[:port]`: every
/// maximal run of name characters (before the first `:`, after an `@`, between separators),
/// of the text as sent and percent-decoded, lowercased, trailing dots dropped and runs of dots
/// collapsed; and every bracketed part.
fn readings(authority: &str) -> Vec<String> {
    let cut = authority
        .char_indices()
        .nth(MAX_AUTHORITY)
        .map_or(authority, |(at, _)| {
            authority.get(..at).unwrap_or(authority)
        });
    let decoded = percent_decode(cut);
    let mut out = Vec::new();
    for text in [cut, decoded.as_str()] {
        let lower = text.to_ascii_lowercase();
        for run in lower.split(|c: char| !is_name_char(c)) {
            let host = run.trim_matches('.');
            if host.is_empty() {
                continue;
            }
            out.push(host.to_string());
            let collapsed = host
                .split('.')
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(".");
            if collapsed != host {
                out.push(collapsed);
            }
        }
        let mut rest = lower.as_str();
        while let Some(open) = rest.find('[') {
            let Some(after) = rest.get(open..) else { break };
            let Some(close) = after.find(']') else { break };
            if let Some(bracketed) = after.get(..=close) {
                out.push(bracketed.to_string());
            }
            rest = after.get(close + 1..).unwrap_or("");
        }
    }
    out
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

/// `%XX` decoded (lossily to UTF-8); anything else kept.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |at: usize| bytes.get(at).and_then(|h| (*h as char).to_digit(16));
        match (b, hex(i + 1), hex(i + 2)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The host of a plain authority, or `None`: a host (DNS-style labels of letters, digits, `-`
/// and `_`, at most 63 bytes each and 253 in all, one optional trailing dot; or a bracketed IPv6
/// literal without a zone), then optionally `:` and a port of 1-5 digits up to 65535.
pub(crate) fn plain_host(authority: &str) -> Option<&str> {
    let (host, port) = if authority.starts_with('[') {
        let close = authority.find(']')?;
        let host = authority.get(..=close)?;
        let rest = authority.get(close + 1..)?;
        let inner = host.get(1..close)?;
        inner.parse::<Ipv6Addr>().ok()?;
        match rest {
            "" => (host, None),
            _ => (host, Some(rest.strip_prefix(':')?)),
        }
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        let name = host.strip_suffix('.').unwrap_or(host);
        let labels_ok = !name.is_empty()
            && name.len() <= 253
            && name.split('.').all(|label| {
                (1..=63).contains(&label.len())
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
        if !labels_ok {
            return None;
        }
        (host, port)
    };
    if let Some(port) = port {
        let digits_ok = (1..=5).contains(&port.len()) && port.bytes().all(|b| b.is_ascii_digit());
        if !digits_ok || port.parse::<u32>().ok()? > 65535 {
            return None;
        }
    }
    Some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_authorities() {
        for (authority, host) in [
            ("dashscope.aliyuncs.com", "dashscope.aliyuncs.com"),
            ("DashScope.Aliyuncs.com.:80", "DashScope.Aliyuncs.com."),
            ("a.example:65535", "a.example"),
            ("10.0.0.1:8080", "10.0.0.1"),
            ("[::1]", "[::1]"),
            ("[2001:db8::1]:443", "[2001:db8::1]"),
            ("under_score.example", "under_score.example"),
        ] {
            assert_eq!(plain_host(authority), Some(host), "{authority}");
        }
        for authority in [
            "",
            "a.example:",
            "a.example:abc",
            "a.example:80:80",
            "a.example:65536",
            "a.example:000080",
            "x@a.example",
            "a%2eexample",
            "a..example",
            "a.example..",
            ".a.example",
            "a.example ",
            "[::1",
            "[::1]80",
            "[fe80::1%25eth0]",
            "[not-ipv6]",
            "a.example/x",
            "a.example\\",
        ] {
            assert_eq!(plain_host(authority), None, "{authority:?}");
        }
    }

    #[test]
    fn readings_find_the_hosts_other_parsers_take() {
        let has = |authority: &str, host: &str| readings(authority).iter().any(|h| h == host);
        assert!(has("dashscope.aliyuncs.com:abc", "dashscope.aliyuncs.com"));
        assert!(has(
            "dashscope.aliyuncs.com:80:80",
            "dashscope.aliyuncs.com"
        ));
        assert!(has(
            "evil.example@dashscope.aliyuncs.com",
            "dashscope.aliyuncs.com"
        ));
        assert!(has("dashscope%2Ealiyuncs.com", "dashscope.aliyuncs.com"));
        assert!(has("DASHSCOPE.aliyuncs.com..", "dashscope.aliyuncs.com"));
        assert!(has("dashscope..aliyuncs.com", "dashscope.aliyuncs.com"));
        assert!(has("[::1]:x", "[::1]"));
        assert!(!has(
            "dashscope.aliyuncs.com.evil.example:x",
            "dashscope.aliyuncs.com"
        ));
    }
}
