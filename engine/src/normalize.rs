//! Normalisation before matching, so look-alike text cannot walk around a rule.
//!
//! Text and keywords both go through [`normalize`]: Unicode NFKC (full-width letters, ligatures,
//! circled and superscript forms become their plain equivalents) and removal of default-ignorable
//! code points (zero-width space, joiner and non-joiner, soft hyphen, word joiner, bidi controls,
//! variation selectors, tag characters). Case folding is the matchers' job (`ignore case`).
//!
//! The result is NFKC of the text with its ignorables removed. NFKC runs per chunk: a starter and
//! every character after it that can reorder or compose with it (combining marks, but also
//! conjoining Hangul vowel and final jamo and the spacing vowel signs of Indic scripts, which are
//! starters that compose with the character before them), with ignorables inside a chunk skipped.
//! That keeps a map from normalised back to original offsets cheap to recompute, so verdicts report
//! the original text, and it gives the same text as whole-string NFKC: a keyword written with
//! precomposed syllables matches text sent as conjoining jamo (`계` as U+1100 U+1168), and
//! `e`, zero-width space, U+0301 matches `é`.

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
        && (text.chars().any(is_default_ignorable)
            || is_nfkc_quick(text.chars()) != IsNormalized::Yes)
}

/// The normalised text, borrowed when nothing changes.
pub fn normalize(text: &str) -> Cow<'_, str> {
    if !changes(text) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for_each_chunk(text, |chunk, _| out.extend(chunk_nfkc(chunk)));
    Cow::Owned(out)
}

/// NFKC of one chunk, without the ignorables inside it.
fn chunk_nfkc(chunk: &str) -> impl Iterator<Item = char> + '_ {
    chunk.chars().filter(|&c| !is_default_ignorable(c)).nfkc()
}

/// True when nothing before `c` can reorder or compose with it, so NFKC can start afresh at `c`:
/// the first character of its compatibility decomposition is a starter that is not the second
/// half of a composition (NFKC_Quick_Check `Maybe`: Hangul V and T jamo, Indic vowel signs, …).
fn starts_chunk(c: char) -> bool {
    if c.is_ascii() {
        return true;
    }
    std::iter::once(c).nfkd().next().is_some_and(|first| {
        canonical_combining_class(first) == 0
            && is_nfkc_quick(std::iter::once(first)) == IsNormalized::Yes
    })
}

/// Calls `f(chunk, original offset)` for each chunk (see the module documentation). Ignorables
/// never start or end a chunk; those between a chunk's characters stay in its slice, and
/// [`chunk_nfkc`] skips them.
fn for_each_chunk(text: &str, mut f: impl FnMut(&str, usize)) {
    // Start of the open chunk and end of its last character that is not ignorable.
    let mut open = None::<(usize, usize)>;
    for (i, c) in text.char_indices() {
        if is_default_ignorable(c) {
            continue;
        }
        if starts_chunk(c) {
            if let Some((start, end)) = open.take() {
                f(text.get(start..end).unwrap_or_default(), start);
            }
        }
        let end = i + c.len_utf8();
        open = Some(open.map_or((i, end), |(start, _)| (start, end)));
    }
    if let Some((start, end)) = open {
        f(text.get(start..end).unwrap_or_default(), start);
    }
}

/// Maps a byte range of `normalize(text)` back to the smallest range of `text` that produced it.
pub(crate) fn original_span(text: &str, span: Range<usize>) -> Range<usize> {
    let mut produced = 0usize;
    let (mut start, mut end) = (None, None);
    for_each_chunk(text, |chunk, offset| {
        let len: usize = chunk_nfkc(chunk).map(char::len_utf8).sum();
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
    fn characters_that_compose_with_the_one_before_join_its_chunk() {
        // Conjoining jamo (as macOS file names and NFD text carry Korean) compose into syllables.
        assert_eq!(normalize("\u{1100}\u{1168}\u{110c}\u{116a}"), "계좌");
        assert_eq!(normalize("\u{ac00}\u{11a8}"), "각");
        // Compatibility jamo decompose to conjoining jamo, which then compose.
        assert_eq!(normalize("\u{3131}\u{314f}"), "가");
        // A spacing Oriya vowel sign composes with the sign before it.
        assert_eq!(normalize("\u{0b15}\u{0b47}\u{0b3e}"), "\u{0b15}\u{0b4b}");
        // Ignorables inside a chunk do not stop composition.
        assert_eq!(normalize("nume\u{200b}\u{301}ro"), "numéro");
        assert_eq!(normalize("\u{1100}\u{200d}\u{1161}"), "가");
    }

    #[test]
    fn agrees_with_whole_string_nfkc_without_ignorables() {
        let samples = [
            "my ａｃｃｏｕｎｔ\u{200b} is",
            "\u{1100}\u{1168}\u{110c}\u{116a}\u{1107}\u{1165}\u{11ab}\u{1112}\u{1169}",
            "ㄱㅖㅈㅘ and ᄀ\u{ffc2}",
            "e\u{301}\u{327}\u{200b}\u{316} q\u{307}\u{323}",
            "\u{301}leading mark, ﬁ\u{301}, Å\u{30a}",
            "\u{0b47}\u{0b3e}\u{09c7}\u{09be}\u{0cc6}\u{0cc2}\u{0dd9}\u{0dcf}\u{0dca}",
            "\u{2000}x\u{e0041}\u{fe0f}y\u{202e}z\u{ad}",
        ];
        for text in samples {
            let stripped: String = text.chars().filter(|&c| !is_default_ignorable(c)).collect();
            let expected: String = stripped.nfkc().collect();
            assert_eq!(normalize(text), expected, "{text:?}");
        }
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

        let text = "x \u{1100}\u{1168}\u{110c}\u{116a}\u{200b}!";
        let normalized = normalize(text);
        let at = normalized.find("계좌").unwrap();
        let span = original_span(text, at..at + "계좌".len());
        assert_eq!(&text[span], "\u{1100}\u{1168}\u{110c}\u{116a}");
    }
}
