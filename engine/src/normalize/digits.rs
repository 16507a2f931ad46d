//! Folding every character that displays as a decimal digit to its ASCII digit.
//!
//! NFKC already maps full-width, mathematical, circled, parenthesised and superscript digits;
//! what it leaves are the decimal digits of other scripts (Arabic-Indic `٣`, Devanagari `३`,
//! Thai `๓`, …), which a model reads as digits all the same, and the dingbat and double-circled
//! digits, which have no compatibility decomposition. Decimal digits (general category Nd) come
//! in contiguous runs of ten from a zero (a Unicode stability guarantee), so the table
//! ([`super::zeros`], generated) holds only the zeros.

use super::zeros::ZEROS;

/// The ASCII text a digit character folds to: one digit, or two for the circled numbers ten
/// and up (`❿` is `10`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Folded {
    One(char),
    Two(char, char),
}

fn ascii_digit(value: u32) -> char {
    char::from_digit(value, 10).unwrap_or('0')
}

/// A number from 0 to 20 as its ASCII digits.
fn number(value: u32) -> Folded {
    if value < 10 {
        Folded::One(ascii_digit(value))
    } else {
        Folded::Two(ascii_digit(value / 10), ascii_digit(value % 10))
    }
}

/// What `c` folds to, or `None` when it is not a digit to fold (ASCII digits included).
pub(super) fn fold(c: char) -> Option<Folded> {
    let c = c as u32;
    if c < 0x80 {
        return None;
    }
    match c {
        // Dingbat negative circled, circled sans-serif and negative circled sans-serif digits
        // one to ten.
        0x2776..=0x2793 => return Some(number((c - 0x2776) % 10 + 1)),
        // Double circled digits one to ten.
        0x24F5..=0x24FE => return Some(number(c - 0x24F5 + 1)),
        // Negative circled numbers eleven to twenty.
        0x24EB..=0x24F4 => return Some(number(c - 0x24EB + 11)),
        // Negative circled digit zero; dingbat circled sans-serif zero and its negative.
        0x24FF | 0x1F10B | 0x1F10C => return Some(Folded::One('0')),
        _ => {}
    }
    let after = ZEROS.partition_point(|&zero| zero <= c);
    let zero = *ZEROS.get(after.checked_sub(1)?)?;
    let value = c - zero;
    (value < 10).then(|| Folded::One(ascii_digit(value)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every Nd character outside ASCII, from regex-syntax's Unicode tables (`\d`), as the start
    /// of its run of ten.
    fn nd_ranges() -> Vec<(u32, u32)> {
        let hir = regex_syntax::parse(r"\d").unwrap();
        let regex_syntax::hir::HirKind::Class(regex_syntax::hir::Class::Unicode(class)) =
            hir.kind()
        else {
            panic!("\\d is a Unicode class");
        };
        class
            .ranges()
            .iter()
            .map(|r| (r.start() as u32, r.end() as u32))
            .collect()
    }

    fn generated_table() -> String {
        let mut zeros = Vec::new();
        for (start, end) in nd_ranges() {
            assert_eq!((end - start + 1) % 10, 0, "Nd run {start:#x}..={end:#x}");
            zeros.extend((start..=end).step_by(10).filter(|&zero| zero != 0x30));
        }
        let mut out = String::from(
            "//! The zero of every run of ten decimal digits (general category Nd) outside ASCII.\n\
             //! Generated from regex-syntax's Unicode tables by\n\
             //! `GUARD_BLESS=1 cargo test -p guard-engine --lib normalize`; do not edit.\n\n",
        );
        out.push_str(&format!(
            "#[rustfmt::skip]\npub(super) static ZEROS: [u32; {}] = [\n",
            zeros.len()
        ));
        for line in zeros.chunks(8) {
            let line: Vec<String> = line.iter().map(|z| format!("0x{z:05X}")).collect();
            out.push_str(&format!("    {},\n", line.join(", ")));
        }
        out.push_str("];\n");
        out
    }

    #[test]
    fn the_digit_table_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/normalize/zeros.rs");
        let generated = generated_table();
        if std::env::var_os("GUARD_BLESS").is_some() {
            std::fs::write(path, &generated).unwrap();
        }
        assert_eq!(
            include_str!("zeros.rs"),
            generated,
            "regenerate with GUARD_BLESS=1 cargo test -p guard-engine --lib normalize"
        );
    }

    /// Every Nd character folds to its value, and nothing else in the table's reach does.
    #[test]
    fn every_decimal_digit_folds_to_its_value() {
        let ranges = nd_ranges();
        for c in (0x80..0x11_0000u32).filter_map(char::from_u32) {
            let nd = ranges.iter().find(|(s, e)| (*s..=*e).contains(&(c as u32)));
            let dingbat = matches!(c as u32, 0x2776..=0x2793 | 0x24EB..=0x24FF | 0x1F10B | 0x1F10C);
            match nd {
                Some((start, _)) => assert_eq!(
                    fold(c),
                    Some(Folded::One(ascii_digit((c as u32 - start) % 10))),
                    "{c:?}"
                ),
                None if !dingbat => assert_eq!(fold(c), None, "{c:?}"),
                None => {}
            }
        }
        assert_eq!(fold('٣'), Some(Folded::One('3')));
        assert_eq!(fold('۷'), Some(Folded::One('7')));
        assert_eq!(fold('३'), Some(Folded::One('3')));
        assert_eq!(fold('❶'), Some(Folded::One('1')));
        assert_eq!(fold('❿'), Some(Folded::Two('1', '0')));
        assert_eq!(fold('➉'), Some(Folded::Two('1', '0')));
        assert_eq!(fold('➓'), Some(Folded::Two('1', '0')));
        assert_eq!(fold('⓴'), Some(Folded::Two('2', '0')));
        assert_eq!(fold('7'), None);
    }

    /// A cross-check of the generated table that does not come from the same crate: Python's
    /// `unicodedata` (when it is on the machine) agrees on every digit both know.
    #[test]
    fn python_agrees_where_its_unicode_reaches() {
        let Ok(output) = std::process::Command::new("python3")
            .args([
                "-c",
                "import unicodedata as u\n\
                 print(' '.join(str(c) for c in range(0x80, 0x110000) \
                 if u.category(chr(c)) == 'Nd' and u.decimal(chr(c)) == 0))",
            ])
            .output()
        else {
            return;
        };
        let text = String::from_utf8(output.stdout).unwrap();
        for zero in text.split_whitespace().map(|z| z.parse::<u32>().unwrap()) {
            assert!(ZEROS.contains(&zero), "{zero:#x}");
        }
    }
}
