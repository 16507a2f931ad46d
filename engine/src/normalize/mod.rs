//! Normalisation before matching, so look-alike text cannot walk around a rule.
//!
//! Text and keywords both go through [`normalize`]: Unicode NFKC (full-width letters, ligatures,
//! circled and superscript forms become their plain equivalents), removal of invisible
//! characters (the default-ignorable code points: zero-width space, joiner and non-joiner, soft
//! hyphen, word joiner, bidi controls, variation selectors, tag characters; and enclosing marks
//! such as the keycap U+20E3), blanks (the Hangul fillers, the blank Braille pattern) written as
//! a space, and every decimal digit of any script folded to its ASCII digit (`digits`). Case
//! folding is the matchers' job (`ignore case`). Where a run of removed characters stood between
//! two characters, [`normalize_marked`] records a mark, which the scanner reads as "nothing or a
//! word separator" (`scan::separators`).
//!
//! NFKC runs per chunk: a starter and every character after it that can reorder or compose with
//! it (combining marks, but also conjoining Hangul vowel and final jamo and the spacing vowel
//! signs of Indic scripts, which are starters that compose with the character before them), with
//! removed characters inside a chunk skipped. That keeps a map from normalised back to original
//! offsets cheap to recompute, so verdicts report the original text, and it gives the same text
//! as whole-string NFKC: a keyword written with precomposed syllables matches text sent as
//! conjoining jamo (`계` as U+1100 U+1168), and `e`, zero-width space, U+0301 matches `é`.

use std::borrow::Cow;
use std::ops::Range;

use unicode_normalization::char::canonical_combining_class;
use unicode_normalization::{is_nfkc_quick, IsNormalized, UnicodeNormalization};

mod digits;
mod table;
mod zeros;

/// Unicode's Default_Ignorable_Code_Point set (DerivedCoreProperties.txt).
fn is_default_ignorable(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x034F | 0x061C | 0x115F..=0x1160 | 0x17B4..=0x17B5 | 0x180B..=0x180F
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0x3164 | 0xFE00..=0xFE0F
        | 0xFEFF | 0xFFA0 | 0xFFF0..=0xFFF8 | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A
        | 0xE0000..=0xE0FFF)
}

/// Characters that show as an empty space but are neither white space nor invisible: the
/// Hangul fillers (some of which Unicode lists as default-ignorable, yet fonts draw them as a
/// blank as wide as a letter) and the blank Braille pattern. They are written as a space, so
/// they separate words as a space does.
fn is_blank(c: char) -> bool {
    matches!(c as u32, 0x115F | 0x1160 | 0x2800 | 0x3164 | 0xFFA0)
}

/// Enclosing marks (general category Me): they draw a circle, a square or a keycap around the
/// character before them, which still reads as that character (`1` U+FE0F U+20E3 is the keycap
/// digit one), so they are removed like the invisible characters.
fn is_enclosing_mark(c: char) -> bool {
    matches!(c as u32, 0x0488..=0x0489 | 0x1ABE | 0x20DD..=0x20E0 | 0x20E2..=0x20E4 | 0xA670..=0xA672)
}

/// What normalisation removes: the default-ignorable code points except the blanks, and
/// enclosing marks. Where a run of them stood between characters, [`Normalized::marks`] records
/// it, so matchers can treat it as a word separator.
pub(crate) fn is_deleted(c: char) -> bool {
    (is_default_ignorable(c) && !is_blank(c)) || is_enclosing_mark(c)
}

/// True when [`normalize_slow_marked`] would change the text. ASCII never changes, and most other text
/// is settled by NFKC's quick check.
fn changes(text: &str) -> bool {
    !text.is_ascii()
        && (text
            .chars()
            .any(|c| is_deleted(c) || is_blank(c) || digits::fold(c).is_some())
            || is_nfkc_quick(text.chars()) != IsNormalized::Yes)
}

/// The normalised text, borrowed when nothing changes.
///
/// Most characters of real text are their own chunk and their own NFKC: ASCII, CJK ideographs,
/// precomposed letters. Those ([`Simple`]) are copied as they are, in runs, and the full-width
/// ASCII forms and the ideographic space, which Chinese text uses as punctuation, are mapped to
/// ASCII directly. Only the islands between simple characters take the chunked NFKC, each with
/// the simple character before it, in case the island's first character composes with it. Every
/// simple character starts a chunk, so an island is a whole number of chunks and its NFKC is the
/// same in context as alone: the output is the same as the chunked NFKC of the whole text
/// (checked character by character in this module's tests).
pub fn normalize(text: &str) -> Cow<'_, str> {
    normalize_marked(text).text
}

/// The normalised text and where removed characters stood between its characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Normalized<'a> {
    pub text: Cow<'a, str>,
    /// Byte offsets into `text`, ascending, one per maximal run of removed characters (see
    /// [`is_deleted`]) between two chunks or at either end: a zero-width space between words
    /// leaves a mark, one inside a combining sequence does not. Matchers read a mark as "nothing
    /// or a separator", so `acc` U+200B `ount` still is `account` while `account` U+200B
    /// `number` also separates two words.
    pub marks: Vec<usize>,
}

/// A keyword as the normalised text is searched for it: normalised, with every run of white
/// space written as one space, which then matches any run of separators (see `scan`).
pub fn normalize_keyword(keyword: &str) -> String {
    let mut out = String::with_capacity(keyword.len());
    for c in normalize(keyword).chars() {
        if c.is_whitespace() {
            if !out.ends_with(' ') {
                out.push(' ');
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// [`normalize`] with the marks of removed characters.
pub(crate) fn normalize_marked(text: &str) -> Normalized<'_> {
    let bytes = text.as_bytes();
    let mut out = Output::new(text);
    let mut marks = Vec::new();
    let mut i = 0;
    // Start of the simple character just before `i` (an island that follows begins there), and
    // the length of the output before it, when it was mapped rather than copied.
    let mut last: Option<(usize, Option<usize>)> = None;
    while i < bytes.len() {
        if let Some(word) = bytes.get(i..i + 8) {
            let word = u64::from_le_bytes(word.try_into().unwrap_or([0x80; 8]));
            if word & 0x8080_8080_8080_8080 == 0 {
                last = Some((i + 7, None));
                i += 8;
                continue;
            }
        }
        match simple(bytes, i) {
            Simple::Same(len) => {
                last = Some((i, None));
                i += len;
            }
            Simple::Mapped(len, to) => {
                let before = out.replace(i, i + len, to);
                last = Some((i, Some(before)));
                i += len;
            }
            Simple::Not => {
                let start = match last.take() {
                    Some((start, Some(before))) => {
                        out.undo(start, before);
                        start
                    }
                    Some((start, None)) => start,
                    None => i,
                };
                let mut end = i + utf8_len(bytes.get(i).copied().unwrap_or(0));
                while end < bytes.len() && matches!(simple(bytes, end), Simple::Not) {
                    end += utf8_len(bytes.get(end).copied().unwrap_or(0));
                }
                let island = text.get(start..end).unwrap_or_default();
                let mut island_marks = Vec::new();
                if let Cow::Owned(normalized) = normalize_slow_marked(island, &mut island_marks) {
                    let base = out.replace_with(start, end, &normalized);
                    marks.extend(island_marks.into_iter().map(|mark| base + mark));
                }
                i = end;
            }
        }
    }
    Normalized {
        text: out.finish(),
        marks,
    }
}

/// The normalisation of the whole text by chunks (NFKC without the removed characters, blanks
/// as spaces, digits folded): the definition [`normalize`] takes shortcuts through. Pushes the
/// marks of removed runs (offsets into its result) to `marks`.
fn normalize_slow_marked<'a>(text: &'a str, marks: &mut Vec<usize>) -> Cow<'a, str> {
    if !changes(text) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    // Where the previous chunk ended in `text`: removed characters fill any gap up to the next.
    let mut previous_end = 0;
    for_each_chunk(text, |chunk, offset| {
        if offset > previous_end {
            marks.push(out.len());
        }
        out.extend(chunk_nfkc(chunk));
        previous_end = offset + chunk.len();
    });
    if text.len() > previous_end {
        marks.push(out.len());
    }
    Cow::Owned(out)
}

/// The normalised text being built: nothing is copied until the first change.
struct Output<'a> {
    text: &'a str,
    out: Option<String>,
    /// `text[..copied]` is accounted for in `out`.
    copied: usize,
}

impl<'a> Output<'a> {
    fn new(text: &'a str) -> Output<'a> {
        Output {
            text,
            out: None,
            copied: 0,
        }
    }

    /// Copies the text up to `start` into the output (started on the first call) and returns it.
    fn catch_up(&mut self, start: usize) -> &mut String {
        let text = self.text;
        let out = self
            .out
            .get_or_insert_with(|| String::with_capacity(text.len() + 16));
        out.push_str(text.get(self.copied..start).unwrap_or_default());
        self.copied = start;
        out
    }

    /// Writes `to` for `text[start..end]`; returns the output's length before it.
    fn replace(&mut self, start: usize, end: usize, to: char) -> usize {
        let out = self.catch_up(start);
        let before = out.len();
        out.push(to);
        self.copied = end;
        before
    }

    /// Writes `to` for `text[start..end]`; returns the output's length before it.
    fn replace_with(&mut self, start: usize, end: usize, to: &str) -> usize {
        let out = self.catch_up(start);
        let before = out.len();
        out.push_str(to);
        self.copied = end;
        before
    }

    /// Takes back the last [`Output::replace`], which wrote `text[start..]` at `before`.
    fn undo(&mut self, start: usize, before: usize) {
        if let Some(out) = &mut self.out {
            out.truncate(before);
        }
        self.copied = start;
    }

    fn finish(mut self) -> Cow<'a, str> {
        match self.out.take() {
            None => Cow::Borrowed(self.text),
            Some(mut out) => {
                out.push_str(self.text.get(self.copied..).unwrap_or_default());
                Cow::Owned(out)
            }
        }
    }
}

/// A character that is a chunk of its own whenever the next one is simple too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Simple {
    /// Its own NFKC; the UTF-8 length.
    Same(usize),
    /// NFKC maps it to this ASCII character: full-width forms and the ideographic space.
    Mapped(usize, char),
    /// Anything else: decided by the chunked NFKC.
    Not,
}

/// Classifies the character that starts at byte `i` of valid UTF-8.
fn simple(bytes: &[u8], i: usize) -> Simple {
    let b = |k: usize| u32::from(bytes.get(i + k).copied().unwrap_or(0));
    let lead = b(0);
    match lead {
        0x00..=0x7f => Simple::Same(1),
        // CJK Unified Ideographs and Extension A, U+4000..=U+9FFF: the bulk of Chinese text.
        0xe4..=0xe9 => Simple::Same(3),
        0xc2..=0xdf => {
            let c = (lead & 0x1f) << 6 | (b(1) & 0x3f);
            if table::is_same(c) {
                Simple::Same(2)
            } else {
                Simple::Not
            }
        }
        0xe0..=0xef => {
            let c = (lead & 0x0f) << 12 | (b(1) & 0x3f) << 6 | (b(2) & 0x3f);
            match c {
                0x3000 => Simple::Mapped(3, ' '),
                0xff01..=0xff5e => {
                    char::from_u32(c - 0xfee0).map_or(Simple::Not, |to| Simple::Mapped(3, to))
                }
                _ if table::is_same(c) => Simple::Same(3),
                _ => Simple::Not,
            }
        }
        _ => Simple::Not,
    }
}

/// The length of the UTF-8 sequence a lead byte begins (1 for a stray continuation byte, which
/// valid UTF-8 never starts a character with).
fn utf8_len(lead: u8) -> usize {
    match lead {
        0xf0..=0xff => 4,
        0xe0..=0xef => 3,
        0xc0..=0xdf => 2,
        _ => 1,
    }
}

/// NFKC of one chunk, without the removed characters inside it, blanks written as a space and
/// every decimal digit as its ASCII digit. Digit folding comes after NFKC (which already maps
/// full-width, mathematical, circled and superscript digits) and cannot change a composition:
/// an ASCII digit composes with nothing.
fn chunk_nfkc(chunk: &str) -> impl Iterator<Item = char> + '_ {
    chunk
        .chars()
        .filter(|&c| !is_deleted(c))
        .map(|c| if is_blank(c) { ' ' } else { c })
        .nfkc()
        .flat_map(|c| match digits::fold(c) {
            Some(digits::Folded::One(d)) => [Some(d), None],
            Some(digits::Folded::Two(a, b)) => [Some(a), Some(b)],
            None => [Some(c), None],
        })
        .flatten()
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
        if is_deleted(c) {
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

    /// The property [`table`] records for a BMP code point: the character is its own NFKC and a
    /// chunk of its own when a simple character follows.
    fn is_same_by_definition(c: u32) -> bool {
        char::from_u32(c).is_some_and(|ch| {
            !is_deleted(ch) && starts_chunk(ch) && chunk_nfkc(ch.encode_utf8(&mut [0; 4])).eq([ch])
        })
    }

    fn generated_table() -> String {
        let mut rows: Vec<[u64; 4]> = Vec::new();
        let mut index = Vec::new();
        for block in 0..256u32 {
            let mut row = [0u64; 4];
            for low in 0..256u32 {
                if is_same_by_definition(block << 8 | low) {
                    row[(low >> 6) as usize] |= 1 << (low & 63);
                }
            }
            let at = rows.iter().position(|r| *r == row).unwrap_or_else(|| {
                rows.push(row);
                rows.len() - 1
            });
            index.push(at);
        }
        let mut out = String::new();
        out.push_str(
            "//! Which BMP characters are `Simple::Same`: their own NFKC, not default-ignorable, and\n\
             //! the start of a chunk. Generated from the unicode-normalization crate by\n\
             //! `GUARD_BLESS=1 cargo test -p guard-engine --lib normalize`; do not edit.\n\n\
             /// Per block of 256 code points, its row in `ROWS`.\n",
        );
        out.push_str("#[rustfmt::skip]\nstatic INDEX: [u8; 256] = [\n");
        for line in index.chunks(16) {
            let line: Vec<String> = line.iter().map(|i| format!("{i}")).collect();
            out.push_str(&format!("    {},\n", line.join(", ")));
        }
        out.push_str("];\n\n/// Bit `c % 256` of a block's row is set when `c` is simple.\n");
        out.push_str(&format!(
            "#[rustfmt::skip]\nstatic ROWS: [[u64; 4]; {}] = [\n",
            rows.len()
        ));
        for row in &rows {
            let words: Vec<String> = row.iter().map(|w| format!("0x{w:016x}")).collect();
            out.push_str(&format!("    [{}],\n", words.join(", ")));
        }
        out.push_str(
            "];\n\n\
             pub(super) fn is_same(c: u32) -> bool {\n\
             \x20   let row = INDEX.get((c >> 8) as usize).copied().unwrap_or(0);\n\
             \x20   ROWS.get(usize::from(row))\n\
             \x20       .and_then(|row| row.get(((c >> 6) & 3) as usize))\n\
             \x20       .is_some_and(|word| word >> (c & 63) & 1 == 1)\n\
             }\n",
        );
        out
    }

    #[test]
    fn the_simple_character_table_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/normalize/table.rs");
        let generated = generated_table();
        if std::env::var_os("GUARD_BLESS").is_some() {
            std::fs::write(path, &generated).unwrap();
        }
        assert_eq!(
            include_str!("table.rs"),
            generated,
            "regenerate with GUARD_BLESS=1 cargo test -p guard-engine --lib normalize"
        );
    }

    #[test]
    fn simple_characters_are_what_the_fast_path_assumes() {
        let mut text = [0u8; 4];
        for c in (0..0x1_0000u32).filter_map(char::from_u32) {
            let bytes = c.encode_utf8(&mut text).as_bytes();
            match simple(bytes, 0) {
                Simple::Same(len) => {
                    assert_eq!(len, c.len_utf8(), "{c:?}");
                    assert!(is_same_by_definition(c as u32), "{c:?}");
                }
                Simple::Mapped(len, to) => {
                    assert_eq!(len, c.len_utf8(), "{c:?}");
                    assert!(!is_deleted(c) && starts_chunk(c), "{c:?}");
                    assert!(chunk_nfkc(c.encode_utf8(&mut [0; 4])).eq([to]), "{c:?}");
                }
                Simple::Not => assert!(!is_same_by_definition(c as u32), "{c:?}"),
            }
        }
    }

    /// Every pair of characters from a sample of each class, and short mixes, agree with the
    /// chunked NFKC of the whole text.
    #[test]
    fn the_fast_path_agrees_with_the_definition() {
        let samples: Vec<char> = [
            'a',
            ' ',
            '!',
            'é',
            'e',
            'A',
            '中',
            '，',
            '（',
            'Ａ',
            '\u{3000}',
            '。',
            '“',
            'ㄱ',
            'ㅏ',
            '가',
            '\u{1100}',
            '\u{1161}',
            '\u{11a8}',
            '\u{301}',
            '\u{327}',
            '\u{200b}',
            '\u{ad}',
            '\u{fe0f}',
            'ﬁ',
            '…',
            'か',
            '\u{3099}',
            '\u{309b}',
            'ｶ',
            'ﾞ',
            '\u{0b47}',
            '\u{0b3e}',
            '😀',
            '\u{e0041}',
            '①',
            'Å',
            '\u{212b}',
            '\u{ff9e}',
            '㈱',
            '\u{fb2c}',
            '\u{5d0}',
            '\u{3164}',
            '\u{2800}',
            '\u{1160}',
            '٣',
            '❿',
            '1',
            '\u{20e3}',
            '\u{2060}',
        ]
        .into();
        let check = |text: &str| {
            let mut marks = Vec::new();
            let slow = normalize_slow_marked(text, &mut marks);
            assert_eq!(
                normalize_marked(text),
                Normalized { text: slow, marks },
                "{text:?}"
            );
        };
        for &a in &samples {
            for &b in &samples {
                for &c in &samples {
                    check(&format!("{a}{b}{c}"));
                    check(&format!("abcdefgh{a}{b}ijklmnop{c}"));
                }
            }
        }
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            let mut text = String::new();
            for _ in 0..(state % 24) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let i = (state >> 32) as usize % (samples.len() + 8);
                text.push(samples.get(i).copied().unwrap_or('x'));
            }
            check(&text);
        }
    }

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
            let stripped: String = text.chars().filter(|&c| !is_deleted(c)).collect();
            let expected: String = stripped.nfkc().collect();
            assert_eq!(normalize(text), expected, "{text:?}");
        }
    }

    #[test]
    fn removed_runs_between_characters_leave_marks() {
        let marks = |text: &str| normalize_marked(text).marks;
        assert_eq!(marks("account number"), Vec::<usize>::new());
        assert_eq!(marks("account\u{200b}number"), vec![7]);
        assert_eq!(marks("acc\u{200b}ount\u{200b}\u{2060}number"), vec![3, 7]);
        assert_eq!(marks("\u{200b}x\u{ad}"), vec![0, 1]);
        // Inside a combining sequence the zero-width space is not between characters.
        assert_eq!(
            normalize_marked("nume\u{200b}\u{301}ro").marks,
            Vec::<usize>::new()
        );
        // A keycap: the variation selector and the enclosing keycap are removed.
        let keycaps = normalize_marked("1\u{fe0f}\u{20e3}3\u{fe0f}\u{20e3}");
        assert_eq!((keycaps.text.as_ref(), keycaps.marks), ("13", vec![1, 2]));
    }

    #[test]
    fn blanks_become_spaces_and_digits_ascii() {
        assert_eq!(
            normalize("a\u{3164}b\u{2800}c\u{ffa0}d\u{115f}e\u{1160}f"),
            "a b c d e f"
        );
        assert_eq!(
            normalize("١٣٩ ۱۳۹ १३९ ১৩৯ ๑๓๙ １３９ 𝟏𝟑𝟗 ①③⑨ ❶❸❾ ➀➂➈"),
            "139 139 139 139 139 139 139 139 139 139"
        );
        assert_eq!(normalize("❿➓⓾⓴"), "10101020");
        assert_eq!(normalize("#\u{fe0f}\u{20e3}"), "#");
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
