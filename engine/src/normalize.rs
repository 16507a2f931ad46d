//! Normalisation before matching, so look-alike text cannot walk around a rule.
//!
//! Text and keywords both go through [`normalize`]: Unicode NFKC (full-width letters, ligatures,
//! circled and superscript forms become their plain equivalents) and removal of default-ignorable
//! code points (zero-width space, joiner and non-joiner, soft hyphen, word joiner, bidi controls,
//! variation selectors, tag characters). Case folding is the matchers' job (`ignore case`).
//!
//! NFKC runs per chunk: a starter and the combining marks after it. That keeps a map from
//! normalised back to original offsets cheap to recompute, so verdicts report the original
//! text. It differs from whole-string NFKC only where two starters compose (conjoining Hangul
//! jamo), which keyword text and prompt text then both keep decomposed, so they still agree.

use std::borrow::Cow;
use std::ops::Range;

use unicode_normalization::char::canonical_combining_class;
use unicode_normalization::{is_nfkc_quick, IsNormalized, UnicodeNormalization};

/// Unicode's Default_Ignorable_Code_Point set (DerivedCoreProperties.txt).
pub(crate) fn is_default_ignorable(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x034F | 0x061C | 0x115F..=0x1160 | 0x17B4..=0x17B5 | 0x180B..=0x180F
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0x3164 | 0xFE00..=0xFE0F
        | 0xFEFF | 0xFFA0 | 0xFFF0..=0xFFF8 | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A
        | 0xE0000..=0xE0FFF)
}

/// True when [`normalize`] would change the text. ASCII never changes, and most other text is
/// settled by NFKC's quick check, so the common case costs one pass and no allocation.
pub(crate) fn changes(text: &str) -> bool {
    !text.is_ascii()
        && (text.chars().any(is_default_ignorable) || is_nfkc_quick(text.chars()) != IsNormalized::Yes)
}

/// The normalised text, borrowed when nothing changes.
pub fn normalize(text: &str) -> Cow<'_, str> {
    if !changes(text) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for_each_chunk(text, |chunk, _| out.extend(chunk.nfkc()));
    Cow::Owned(out)
}

/// Calls `f(chunk, original offset)` for each starter-plus-marks chunk, skipping ignorables.
fn for_each_chunk(text: &str, mut f: impl FnMut(&str, usize)) {
    let mut start = None::<usize>;
    for (i, c) in text.char_indices() {
        let boundary = is_default_ignorable(c) || canonical_combining_class(c) == 0;
        if boundary {
            if let Some(s) = start.take() {
                f(text.get(s..i).unwrap_or_default(), s);
            }
        }
        if !is_default_ignorable(c) && start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        f(text.get(s..).unwrap_or_default(), s);
    }
}

/// Maps a byte range of `normalize(text)` back to the smallest range of `text` that produced it.
pub(crate) fn original_span(text: &str, span: Range<usize>) -> Range<usize> {
    let mut produced = 0usize;
    let (mut start, mut end) = (None, None);
    for_each_chunk(text, |chunk, offset| {
        let len: usize = chunk.nfkc().map(char::len_utf8).sum();
        let (lo, hi) = (produced, produced + len);
        if start.is_none() && span.start >= lo && span.start < hi {
            start = Some(offset);
        }
        if end.is_none() && span.end <= hi && span.end > lo {
            end = Some(offset + chunk.len());
        }
        produced = hi;
    });
    let start = start.unwrap_or(text.len());
    start..end.unwrap_or(text.len()).max(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_alikes_become_plain_text() {
        assert_eq!(normalize("ａｃｃｏｕｎｔ"), "account");
        assert_eq!(normalize("ac\u{200b}co\u{00ad}unt"), "account");
        assert_eq!(normalize("\u{202e}tnuocca"), "tnuocca");
        assert_eq!(normalize("ﬁle"), "file");
        assert_eq!(normalize("账\u{200d}号"), "账号");
        assert_eq!(normalize("e\u{301}"), "é");
        assert!(matches!(normalize("plain ascii"), Cow::Borrowed(_)));
        assert!(matches!(normalize("账号 is plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn spans_map_back_to_the_original_text() {
        let text = "my ａｃｃｏｕｎｔ\u{200b} is";
        let normalized = normalize(text);
        let at = normalized.find("account").unwrap();
        let span = original_span(text, at..at + "account".len());
        assert_eq!(&text[span], "ａｃｃｏｕｎｔ");

        let text = "x 账\u{200d}号 y";
        let normalized = normalize(text);
        let at = normalized.find("账号").unwrap();
        let span = original_span(text, at..at + "账号".len());
        assert_eq!(&text[span], "账\u{200d}号");
    }
}
