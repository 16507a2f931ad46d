//! Kubernetes names: the ones guardc makes (DNS labels from policy names and hosts) and the
//! checks of the ones an operator gives (`--name`, `--namespace`, `--selector`,
//! `--image-pull-secret`), so that what Kubernetes would refuse is refused at build time.

use super::DeployError;
use crate::oci;

/// `PREFIX-REST` as a DNS label (at most 63 characters).
pub(super) fn resource_name(prefix: &str, rest: &str) -> String {
    dns_label(&format!("{prefix}-{rest}"))
}

/// Lowercase letters, digits and `-`, at most 63, starting and ending alphanumeric. A name that
/// had to be cut keeps a hash of the whole, so two long names do not collide.
pub(super) fn dns_label(s: &str) -> String {
    let mut label = String::new();
    for c in s.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            label.push(c);
        } else if !label.ends_with('-') && !label.is_empty() {
            label.push('-');
        }
    }
    let mut label = label.trim_end_matches('-').to_owned();
    if label.len() > 63 {
        let hash = oci::sha256_hex(s.as_bytes());
        label.truncate(54);
        label = format!(
            "{}-{}",
            label.trim_end_matches('-'),
            hash.get(..8).unwrap_or("")
        );
    }
    if label.is_empty() {
        "guard".to_owned()
    } else {
        label
    }
}

fn invalid(option: &'static str, value: &str, reason: &'static str) -> DeployError {
    DeployError::InvalidOption {
        option,
        value: value.to_owned(),
        reason,
    }
}

fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    (1..=63).contains(&b.len())
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && b.first().is_some_and(|c| c.is_ascii_alphanumeric())
        && b.last().is_some_and(|c| c.is_ascii_alphanumeric())
}

pub(super) fn check_dns_label(option: &'static str, s: &str) -> Result<(), DeployError> {
    if is_dns_label(s) {
        Ok(())
    } else {
        Err(invalid(option, s, "must be 1-63 lowercase letters, digits or '-', starting and ending with a letter or digit"))
    }
}

pub(super) fn check_dns_subdomain(option: &'static str, s: &str) -> Result<(), DeployError> {
    if s.len() <= 253 && s.split('.').all(is_dns_label) {
        Ok(())
    } else {
        Err(invalid(
            option,
            s,
            "must be a DNS subdomain: dot-separated lowercase labels, at most 253 characters",
        ))
    }
}

/// Kubernetes label syntax: `[PREFIX/]NAME` and a value of at most 63 characters.
pub(super) fn check_label(option: &'static str, key: &str, value: &str) -> Result<(), DeployError> {
    let name_ok = |s: &str, allow_empty: bool| {
        let b = s.as_bytes();
        (b.is_empty() && allow_empty)
            || (b.len() <= 63
                && b.first().is_some_and(|c| c.is_ascii_alphanumeric())
                && b.last().is_some_and(|c| c.is_ascii_alphanumeric())
                && b.iter()
                    .all(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.'))
    };
    let (prefix, name) = key
        .rsplit_once('/')
        .map_or((None, key), |(p, n)| (Some(p), n));
    let prefix_ok = prefix.is_none_or(|p| p.len() <= 253 && p.split('.').all(is_dns_label));
    if !prefix_ok || !name_ok(name, false) {
        return Err(invalid(option, key, "a label key is [DNS-SUBDOMAIN/]NAME, NAME being 1-63 of A-Z a-z 0-9 - _ . starting and ending alphanumeric"));
    }
    if !name_ok(value, true) {
        return Err(invalid(
            option,
            value,
            "a label value is at most 63 of A-Z a-z 0-9 - _ . starting and ending alphanumeric",
        ));
    }
    Ok(())
}
