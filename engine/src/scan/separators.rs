//! Separators between words: the texts that let a keyword's space match any run of white space
//! and removed invisible characters, and a regex's `\s` match a removed run too.
//!
//! Normalisation removes invisible characters (zero-width space, word joiner, soft hyphen, …)
//! and records a mark where a run of them stood between two characters. A mark may be nothing
//! (`acc` U+200B `ount` is `account`) or a separator (`account` U+200B `number` is two words),
//! and only the pattern can tell which, even within one match (`acc` U+200B `ount` U+200B
//! `number` is `account number`). Two texts serve the matchers beside the normalised one:
//!
//! - the *marked* text, the normalised text with [`MARK`] written at every mark, which the
//!   rules' DFAs search (the compiler rewrote them to take a mark as nothing or as a space);
//! - the *joined* text, the normalised text without any white space or mark, in which a
//!   keyword with spaces is found with its spaces removed and then checked: every space of the
//!   keyword must stand on a run of separators (white space or marks), and between the
//!   characters of one word there may be marks but no white space.
//!
//! The keyword automaton searches the *collapsed* text, the normalised text with each run of
//! white space written as one space, when it has such runs; the joined text is needed only for
//! text with marks. Text with single spaces between words and no marks, which is most text,
//! needs neither.

/// The byte the marked text carries for a removed run: never part of UTF-8, so no text has it.
pub(crate) const MARK: u8 = 0xFF;

/// The normalised text with [`MARK`] at every mark; `None` when there are no marks.
pub(super) fn marked(text: &str, marks: &[usize]) -> Option<Vec<u8>> {
    if marks.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() + marks.len());
    let mut copied = 0;
    for &mark in marks {
        out.extend_from_slice(text.as_bytes().get(copied..mark).unwrap_or_default());
        out.push(MARK);
        copied = mark.max(copied);
    }
    out.extend_from_slice(text.as_bytes().get(copied..).unwrap_or_default());
    Some(out)
}

/// A byte offset of the marked text as an offset of the normalised text.
pub(super) fn unmarked_offset(marks: &[usize], offset: usize) -> usize {
    // The i-th mark sits at `marks[i] + i` in the marked text.
    let before = marks
        .iter()
        .enumerate()
        .take_while(|(i, &mark)| mark + i < offset)
        .count();
    offset.saturating_sub(before)
}

/// The length of the white space character starting at byte `i`, if there is one. Decided on
/// the bytes: this runs over every byte of text with line breaks.
fn space_at(bytes: &[u8], i: usize) -> Option<usize> {
    // ASCII white space and the white space NFKC keeps (U+0085, U+1680, U+2028, U+2029; the
    // others become a space).
    let byte = *bytes.get(i)?;
    let next = |k: usize| bytes.get(i + k).copied().unwrap_or(0);
    match byte {
        0x09..=0x0D | 0x20 => Some(1),
        0xC2 if next(1) == 0x85 => Some(2),
        0xE1 if next(1) == 0x9A && next(2) == 0x80 => Some(3),
        0xE2 if next(1) == 0x80 && matches!(next(2), 0xA8 | 0xA9) => Some(3),
        _ => None,
    }
}

/// True when the 8 bytes at `i` hold no white space but lone spaces (for sure; `false` may be a
/// false alarm): eight bytes at a time, so text with a line break here and there costs little
/// beyond the copy. Needs the byte after the word too, to see a space pair across words.
fn quiet_word(bytes: &[u8], i: usize) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let Some(window) = bytes.get(i..i + 9) else {
        return false;
    };
    let mut word = [0u8; 8];
    word.copy_from_slice(window.get(..8).unwrap_or(&[0xFF; 8]));
    let x = u64::from_le_bytes(word);
    let next = u64::from(window.get(8).copied().unwrap_or(b' '));
    // Flags every byte equal to zero (and perhaps bytes above one that are not).
    let zeros = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let below_0e = |v: u64| v.wrapping_sub(0x0E * ONES) & !v & HIGH;
    let controls = below_0e(x);
    let leads = zeros(x ^ (0xC2 * ONES)) | zeros(x ^ (0xE1 * ONES)) | zeros(x ^ (0xE2 * ONES));
    // A space followed by a space or an ASCII control (the byte after each byte, in place).
    let following = (x >> 8) | (next << 56);
    let pairs = zeros(x ^ (0x20 * ONES)) & (zeros(following ^ (0x20 * ONES)) | below_0e(following));
    controls | leads | pairs == 0
}

/// The normalised text with every run of white space written as one space, which the keyword
/// automaton searches: a keyword's space (keywords are written with single spaces) then matches
/// any run, and nothing else changes (no keyword holds other white space, and the compiler
/// keeps screen literals with white space out of the keyword pass). `None` when the text has
/// no such run, which is most text: every separator one space.
pub(super) struct Collapsed {
    pub text: String,
    /// Per collapsed run: the offset of its space in `text` and the run's range in the
    /// normalised text.
    runs: Vec<(usize, usize, usize)>,
}

impl Collapsed {
    pub(super) fn new(text: &str) -> Option<Collapsed> {
        let bytes = text.as_bytes();
        // A run that is not a lone space: `(start, end)`.
        let run_at = |i: usize| -> Option<(usize, usize)> {
            let len = space_at(bytes, i)?;
            let mut end = i + len;
            while let Some(len) = space_at(bytes, end) {
                end += len;
            }
            let lone_space = bytes.get(i) == Some(&b' ') && end == i + 1;
            (!lone_space).then_some((i, end))
        };
        let mut i = 0;
        let mut collapsed: Option<Collapsed> = None;
        let mut copied = 0;
        while i < bytes.len() {
            if quiet_word(bytes, i) {
                i += 8;
                continue;
            }
            let Some((start, end)) = run_at(i) else {
                i += 1;
                continue;
            };
            let out = collapsed.get_or_insert_with(|| Collapsed {
                text: String::with_capacity(text.len()),
                runs: Vec::new(),
            });
            out.text
                .push_str(text.get(copied..start).unwrap_or_default());
            out.runs.push((out.text.len(), start, end));
            out.text.push(' ');
            copied = end;
            i = end;
        }
        let mut out = collapsed?;
        out.text.push_str(text.get(copied..).unwrap_or_default());
        Some(out)
    }

    /// An offset of the collapsed text as an offset of the normalised text (a run's space is
    /// its whole run).
    pub(super) fn uncollapsed(&self, offset: usize) -> usize {
        let before = self.runs.partition_point(|&(at, _, _)| at < offset);
        match before.checked_sub(1).and_then(|last| self.runs.get(last)) {
            Some(&(at, _, end)) => end + (offset - at - 1),
            None => offset,
        }
    }

    /// A span of the collapsed text in the normalised text.
    pub(super) fn span(&self, span: std::ops::Range<usize>) -> std::ops::Range<usize> {
        let start = match self
            .runs
            .binary_search_by_key(&span.start, |&(at, _, _)| at)
        {
            Ok(run) => self
                .runs
                .get(run)
                .map_or(span.start, |&(_, start, _)| start),
            Err(_) => self.uncollapsed(span.start),
        };
        start..self.uncollapsed(span.end)
    }
}

/// Whether a screen literal matches the same texts before and after collapsing white space
/// runs: it has no white space but lone spaces.
pub(crate) fn collapse_stable(literal: &[u8]) -> bool {
    std::str::from_utf8(literal).is_ok_and(|text| {
        !text.contains("  ") && text.chars().all(|c| c == ' ' || !c.is_whitespace())
    })
}

/// A gap between two characters of the joined text holds a mark.
const GAP_MARK: u8 = 1;
/// A gap holds white space.
const GAP_SPACE: u8 = 2;

/// The normalised text without white space and marks, with what each byte's gap held.
pub(super) struct Joined {
    pub text: String,
    /// Per byte of `text`, its offset in the normalised text; one more for the end.
    at: Vec<usize>,
    /// Per byte of `text`, what was removed just before it (zero inside a character); one more
    /// for what follows the last character.
    gaps: Vec<u8>,
}

impl Joined {
    pub(super) fn new(text: &str, marks: &[usize]) -> Joined {
        let mut joined = Joined {
            text: String::with_capacity(text.len()),
            at: Vec::with_capacity(text.len() + 1),
            gaps: Vec::with_capacity(text.len() + 1),
        };
        let mut marks = marks.iter().peekable();
        let mut gap = 0u8;
        for (i, c) in text.char_indices() {
            while marks.next_if(|&&mark| mark <= i).is_some() {
                gap |= GAP_MARK;
            }
            if c.is_whitespace() {
                gap |= GAP_SPACE;
                continue;
            }
            for k in 0..c.len_utf8() {
                joined.at.push(i + k);
                joined.gaps.push(if k == 0 { gap } else { 0 });
            }
            joined.text.push(c);
            gap = 0;
        }
        if marks.next().is_some() {
            gap |= GAP_MARK;
        }
        joined.at.push(text.len());
        joined.gaps.push(gap);
        joined
    }

    /// Whether the keyword (normalised, single spaces) matches where its spaceless form was
    /// found at `span` of the joined text: a separator run at each space, no white space
    /// inside a word. Returns the span in the normalised text.
    pub(super) fn confirm(
        &self,
        keyword: &str,
        span: std::ops::Range<usize>,
    ) -> Option<std::ops::Range<usize>> {
        let mut j = span.start;
        let mut junction = false;
        for &byte in keyword.as_bytes() {
            if byte == b' ' {
                junction = true;
                continue;
            }
            let gap = self.gaps.get(j).copied()?;
            let ok = if junction {
                gap != 0
            } else {
                j == span.start || gap & GAP_SPACE == 0
            };
            if !ok {
                return None;
            }
            junction = false;
            j += 1;
        }
        if j != span.end || (junction && self.gaps.get(j).copied()? == 0) {
            return None;
        }
        let start = self.at.get(span.start).copied()?;
        let end = match span.end.checked_sub(1) {
            Some(last) => self.at.get(last).copied()? + 1,
            None => start,
        };
        Some(start..end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_are_written_and_offsets_mapped_back() {
        let marked = marked("accountnumber", &[3, 7]).unwrap();
        assert_eq!(marked, b"acc\xffount\xffnumber");
        assert_eq!(unmarked_offset(&[3, 7], 3), 3);
        assert_eq!(unmarked_offset(&[3, 7], 4), 3);
        assert_eq!(unmarked_offset(&[3, 7], 15), 13);
    }

    #[test]
    fn a_space_of_a_keyword_needs_a_separator() {
        let confirm = |text: &str, marks: &[usize], keyword: &str| {
            let joined = Joined::new(text, marks);
            let spaceless: String = keyword.split(' ').collect();
            let at = joined.text.find(&spaceless)?;
            joined.confirm(keyword, at..at + spaceless.len())
        };
        assert_eq!(
            confirm("my account  number", &[], "account number"),
            Some(3..18)
        );
        assert_eq!(
            confirm("account\t\nnumber", &[], "account number"),
            Some(0..15)
        );
        assert_eq!(
            confirm("accountnumber", &[7], "account number"),
            Some(0..13)
        );
        assert_eq!(
            confirm("accountnumber", &[3, 7], "account number"),
            Some(0..13)
        );
        assert_eq!(confirm("accountnumber", &[], "account number"), None);
        assert_eq!(confirm("accountnumber", &[3], "account number"), None);
        assert_eq!(confirm("acc ount number", &[], "account number"), None);
        assert_eq!(
            confirm("account number", &[9], "account number"),
            Some(0..14)
        );
    }

    #[test]
    fn white_space_runs_collapse_to_one_space() {
        assert!(Collapsed::new("a b c 账号 a\u{2019}b").is_none());
        let text = "my  account\n\t number\u{2028}is x y";
        let collapsed = Collapsed::new(text).unwrap();
        assert_eq!(collapsed.text, "my account number is x y");
        let at = collapsed.text.find("account number").unwrap();
        let span = collapsed.span(at..at + "account number".len());
        assert_eq!(&text[span], "account\n\t number");
        let span = collapsed.span(2..3);
        assert_eq!(&text[span], "  ");
        let end = collapsed.text.len();
        assert_eq!(&text[collapsed.span(end - 3..end)], "x y");
        // Runs at every position of the eight-byte words, and pairs across two words.
        for at in 0..20 {
            for run in ["  ", "\n", " \t", "\u{2028}", "\u{85}", "\r\n"] {
                let text = format!(
                    "{}{run}{}",
                    "a ".repeat(at).trim_end_matches(' '),
                    "b c".repeat(5)
                );
                let collapsed = Collapsed::new(&text).map(|c| c.text);
                let mut expected = String::new();
                for c in text.chars() {
                    if !c.is_whitespace() {
                        expected.push(c);
                    } else if !expected.ends_with(' ') || expected.is_empty() {
                        expected.push(' ');
                    }
                }
                assert_eq!(collapsed.as_deref(), Some(expected.as_str()), "{text:?}");
            }
        }
        assert!(collapse_stable(b"-----BEGIN "));
        assert!(!collapse_stable(b"a  b"));
        assert!(!collapse_stable(b"a\nb"));
    }
}
