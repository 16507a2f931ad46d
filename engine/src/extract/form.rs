//! `application/x-www-form-urlencoded` bodies: the names and values the upstream decodes.
//!
//! Scanned as raw text, `prompt=project%20nightingale` hides its words behind percent escapes and
//! `+` for space, which every form parser decodes. So the body is also read as a form, the way
//! WHATWG URL and Python's `urllib.parse` read it: pairs split on `&`, name and value on the first
//! `=`, `+` is a space, `%XX` a byte, an escape that is not two hex digits stays as written, and
//! bytes that are not UTF-8 become U+FFFD (they cannot spell a keyword).

use super::media::percent_decode;
use super::path::{push_step, Step};
use super::walk::Walker;
use super::{ExtractError, Origin};

/// Whether the content type is a URL-encoded form, ignoring case and parameters.
pub(super) fn is_form(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|ct| {
        ct.split(';')
            .next()
            .unwrap_or(ct)
            .trim()
            .eq_ignore_ascii_case("application/x-www-form-urlencoded")
    })
}

/// Emits every decoded name (`form["name"]~`) and value (`form["name"]`) of the form.
pub(super) fn walk_form(walker: &mut Walker<'_>, text: &str) -> Result<(), ExtractError> {
    for pair in text.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (name, value) = (decode(name), decode(value));
        let mut path = String::from("form");
        push_step(&mut path, Step::Key(&name));
        walker.emit_at(&format!("{path}~"), name, Origin::Prompt)?;
        walker.emit_at(&path, value, Origin::Prompt)?;
    }
    Ok(())
}

fn decode(text: &str) -> String {
    String::from_utf8_lossy(&percent_decode(text, true)).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_as_form_parsers_do() {
        assert_eq!(decode("project%20nightingale"), "project nightingale");
        assert_eq!(decode("a+b"), "a b");
        assert_eq!(decode("%E8%B4%A6%E5%8F%B7"), "账号");
        assert_eq!(decode("100%"), "100%");
        assert_eq!(decode("%zz%4"), "%zz%4");
        assert_eq!(decode("%ff"), "\u{fffd}");
        assert!(is_form(Some(
            "Application/X-WWW-Form-URLEncoded; charset=utf-8"
        )));
        assert!(!is_form(Some("application/json")));
    }
}
