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
//! Text with single spaces between words and no marks, which is most text, needs neither: the
//! keyword automaton finds keywords with spaces there directly.

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

/// Whether every separator of the text is one space: no other white space, no two spaces in a
/// row. Then a keyword's space matches exactly where the keyword automaton finds it, and
/// without marks the joined text is not needed.
pub(super) fn plain_separators(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut previous_space = false;
    for (i, &byte) in bytes.iter().enumerate() {
        match byte {
            b' ' if previous_space => return false,
            b' ' => {
                previous_space = true;
                continue;
            }
            b'\t'..=b'\r' => return false,
            // The lead bytes of the white space NFKC keeps: U+0085, U+1680, U+2028, U+2029
            // (the others become a space).
            0xC2 | 0xE1 | 0xE2 => {
                let c = text.get(i..).and_then(|rest| rest.chars().next());
                if c.is_some_and(char::is_whitespace) {
                    return false;
                }
            }
            _ => {}
        }
        previous_space = false;
    }
    true
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
    fn only_single_spaces_are_plain() {
        assert!(plain_separators("a b c 账号"));
        assert!(!plain_separators("a  b"));
        assert!(!plain_separators("a\nb"));
        assert!(!plain_separators("a\u{2028}b"));
        assert!(plain_separators("a\u{2019}b"));
    }
}
