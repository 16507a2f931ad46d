//! `validate NAME`: checks a regex match must pass to count, such as a payment card's Luhn digit.
//!
//! A validator sees the text the regex matched, in the view the regex searched (normalised by
//! default, so full-width and other scripts' digits arrive as ASCII digits). A match that fails
//! is no match, and the search goes on after it: one invalid number never hides a valid one.
//!
//! Adding a validator is one row in the table below and one function.

use serde::{Deserialize, Serialize};

/// One table, three uses: the enum the IR carries, the names the DSL accepts (and lists in its
/// help), and the function each name runs.
macro_rules! validators {
    ($($variant:ident => $name:literal, $check:ident, $meaning:literal;)*) => {
        /// A check a regex match must pass.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        pub enum Validator {
            $(#[doc = $meaning] $variant,)*
        }

        impl Validator {
            /// Every validator, in the order documentation lists them.
            pub const ALL: &'static [Validator] = &[$(Validator::$variant,)*];

            /// The name written after `validate`.
            pub fn name(self) -> &'static str {
                match self {
                    $(Validator::$variant => $name,)*
                }
            }

            /// What the check accepts, for docs and help texts.
            pub fn meaning(self) -> &'static str {
                match self {
                    $(Validator::$variant => $meaning,)*
                }
            }

            /// Whether `matched` (what the regex matched) passes.
            pub fn accepts(self, matched: &str) -> bool {
                match self {
                    $(Validator::$variant => $check(matched),)*
                }
            }
        }
    };
}

validators! {
    Luhn => "luhn", luhn, "the digits of the match pass the Luhn check, as payment card numbers do; other characters are ignored";
    CnId => "cn_id", cn_id, "an 18-character PRC resident ID whose last character is its GB 11643 check digit";
}

impl Validator {
    /// The validator named `name`, if any.
    pub fn from_name(name: &str) -> Option<Validator> {
        Validator::ALL.iter().copied().find(|v| v.name() == name)
    }
}

/// The Luhn (mod 10) check over the ASCII digits of `matched`; at least two digits are needed.
fn luhn(matched: &str) -> bool {
    let mut sum = 0u32;
    let mut count = 0usize;
    for digit in matched.bytes().rev().filter(u8::is_ascii_digit) {
        let d = u32::from(digit - b'0');
        sum += if count % 2 == 1 {
            let doubled = d * 2;
            if doubled > 9 {
                doubled - 9
            } else {
                doubled
            }
        } else {
            d
        };
        count += 1;
    }
    count >= 2 && sum % 10 == 0
}

/// GB 11643-1999: 17 digits, then the check character `0`-`9` or `X`, where the weighted sum
/// of the 17 digits (weights 2^(17-i) mod 11) and the check value are 1 mod 11.
fn cn_id(matched: &str) -> bool {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: [u8; 11] = *b"10X98765432";
    let bytes = matched.as_bytes();
    let (Some(body), Some(&last)) = (bytes.get(..17), bytes.get(17)) else {
        return false;
    };
    if bytes.len() != 18 || !body.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: u32 = body
        .iter()
        .zip(WEIGHTS)
        .map(|(digit, weight)| u32::from(digit - b'0') * weight)
        .sum();
    CHECK
        .get((sum % 11) as usize)
        .is_some_and(|&check| check == last.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_accepts_card_numbers_and_refuses_their_typos() {
        for valid in [
            "4111111111111111",
            "4111 1111 1111 1111",
            "5500-0000-0000-0004",
            "378282246310005",
        ] {
            assert!(Validator::Luhn.accepts(valid), "{valid}");
        }
        for invalid in ["4111111111111112", "1234567812345678", "7", ""] {
            assert!(!Validator::Luhn.accepts(invalid), "{invalid}");
        }
    }

    #[test]
    fn cn_id_checks_the_gb_11643_digit() {
        // Published examples of valid IDs (check digits 2 and X).
        assert!(Validator::CnId.accepts("11010519491231002X"));
        assert!(Validator::CnId.accepts("11010519491231002x"));
        assert!(Validator::CnId.accepts("440524188001010014"));
        assert!(!Validator::CnId.accepts("110105194912310021"));
        assert!(!Validator::CnId.accepts("11010519491231002"));
        assert!(!Validator::CnId.accepts("11010519491231002X1"));
        assert!(!Validator::CnId.accepts("1101051949123100AX"));
    }

    #[test]
    fn names_round_trip() {
        for v in Validator::ALL {
            assert_eq!(Validator::from_name(v.name()), Some(*v));
        }
        assert_eq!(Validator::from_name("iban"), None);
    }
}
