//! The sieve: the places in a text where one of a keyword set's patterns may start, found with
//! one or two bitmap lookups per byte, so that the keyword automaton runs only there.
//!
//! A policy's keyword set is large (the benchmark's `large` has 1,534 patterns: 1,000 keywords
//! and the screen literals of its regexes), and aho-corasick has no prefilter for a set that size
//! (its vectorised one, Teddy, takes at most 64 patterns and has no wasm32 form), so a search
//! walks its automaton byte by byte, through failure transitions wherever the text runs along a
//! pattern's prefix, as Chinese text does along keywords that share their first character. Most
//! texts match nothing, and the sieve says where they could: a pattern of four bytes or more can
//! start only where the text's next four bytes hash to a bit the pattern set (Rabin–Karp's idea,
//! with the bitmap Hyperscan's FDR keeps per bucket); a shorter one only where its first one or
//! two bytes occur. Each such place is confirmed by an anchored search of the automaton. The
//! sieve only ever passes too many places, never too few: a match starts where its pattern's
//! bytes are, and those set the bit that is tested there.

/// How many bits of a four-byte window's hash index the bitmap, at most: 2^19 bits is 64 KiB,
/// which a 20,000-keyword dictionary fills to a few per cent.
const MAX_BITS: u32 = 19;
/// At least: 2^13 bits, 1 KiB.
const MIN_BITS: u32 = 13;
/// Bits per distinct window, so that about one random window in 32 or fewer hits a set bit.
const BITS_PER_WINDOW: usize = 256;

/// The bitmaps of one pattern set, built from the byte strings its automaton searches for.
#[derive(Debug)]
pub(crate) struct Sieve {
    /// Bit `hash(w)` for the first four bytes `w` of every pattern of four bytes or more.
    long: Box<[u64]>,
    /// `32 - log2(long's bits)`: the hash is the top bits of a multiplicative hash.
    shift: u32,
    /// For patterns of one to three bytes: bit `b0 | b1 << 8` for the first two bytes of each of
    /// two or three bytes, and every bit `b | x << 8` for each of one byte `b`. Empty when the
    /// set has none.
    short: Box<[u64]>,
    /// The single-byte patterns, for a text's last byte (where no second byte follows).
    single: [u64; 4],
}

impl Sieve {
    /// The sieve of `patterns`, or `None` when it cannot skip anything: an empty pattern
    /// matches everywhere.
    pub(crate) fn new(patterns: &[&[u8]]) -> Option<Sieve> {
        if patterns.iter().any(|p| p.is_empty()) {
            return None;
        }
        let mut windows: Vec<u32> = patterns.iter().filter_map(|p| window(p)).collect();
        windows.sort_unstable();
        windows.dedup();
        let wanted = windows.len().saturating_mul(BITS_PER_WINDOW).max(1);
        let bits = (usize::BITS - (wanted - 1).leading_zeros()).clamp(MIN_BITS, MAX_BITS);
        let mut long = vec![0u64; 1 << (bits - 6)].into_boxed_slice();
        let shift = 32 - bits;
        for w in windows {
            set(&mut long, hash(w, shift));
        }
        let mut short = Vec::new().into_boxed_slice();
        let mut single = [0u64; 4];
        for pattern in patterns {
            let (first, second) = match **pattern {
                [first] => (first, None),
                [first, second] | [first, second, _] => (first, Some(second)),
                _ => continue,
            };
            if short.is_empty() {
                short = vec![0u64; 1 << (16 - 6)].into_boxed_slice();
            }
            match second {
                Some(second) => set(&mut short, pair(first, second)),
                None => {
                    set(&mut single, usize::from(first));
                    for x in 0..=u8::MAX {
                        set(&mut short, pair(first, x));
                    }
                }
            }
        }
        Some(Sieve {
            long,
            shift,
            short,
            single,
        })
    }

    /// The first place at or after `from` where a pattern may start in `haystack`.
    pub(crate) fn next_candidate(&self, haystack: &[u8], mut from: usize) -> Option<usize> {
        // Four places per step, from one eight-byte read: its four windows are tested without a
        // branch between them.
        while let Some(chunk) = haystack.get(from..from.saturating_add(8)) {
            let Ok(bytes) = <[u8; 8]>::try_from(chunk) else {
                break;
            };
            let x = u64::from_le_bytes(bytes);
            let mut passed = 0u32;
            for k in 0..4 {
                let w = (x >> (8 * k)) as u32;
                let hit = test(&self.long, hash(w, self.shift))
                    | test_present(&self.short, (w & 0xffff) as usize);
                passed |= u32::from(hit) << k;
            }
            if passed != 0 {
                return Some(from + passed.trailing_zeros() as usize);
            }
            from += 4;
        }
        let rest = haystack.get(from..)?;
        let found = if self.short.is_empty() {
            rest.windows(4).position(|w| self.long_hit(w))
        } else {
            rest.windows(4)
                .position(|w| self.long_hit(w) || self.short_hit(w))
        };
        if let Some(offset) = found {
            return Some(from + offset);
        }
        // The last three places have no four-byte window: only a short pattern fits there.
        let tail = haystack.len().saturating_sub(3).max(from);
        (tail..haystack.len()).find(|&at| match haystack.get(at..) {
            Some([only]) => test(&self.single, usize::from(*only)),
            Some([first, second, ..]) => self.short_pair(*first, *second),
            _ => false,
        })
    }

    fn long_hit(&self, w: &[u8]) -> bool {
        match <[u8; 4]>::try_from(w) {
            Ok(bytes) => test(&self.long, hash(u32::from_le_bytes(bytes), self.shift)),
            // Not a window (never, with `windows(4)`): a candidate, so nothing is skipped.
            Err(_) => true,
        }
    }

    fn short_hit(&self, w: &[u8]) -> bool {
        match w {
            [first, second, ..] => self.short_pair(*first, *second),
            _ => true,
        }
    }

    fn short_pair(&self, first: u8, second: u8) -> bool {
        !self.short.is_empty() && test(&self.short, pair(first, second))
    }
}

/// The first four bytes of a pattern, if it has them.
fn window(pattern: &[u8]) -> Option<u32> {
    let bytes: [u8; 4] = pattern.get(..4)?.try_into().ok()?;
    Some(u32::from_le_bytes(bytes))
}

/// Fibonacci hashing: the top bits of the product spread every byte of the window.
fn hash(w: u32, shift: u32) -> usize {
    (w.wrapping_mul(0x9E37_79B1) >> shift) as usize
}

fn pair(first: u8, second: u8) -> usize {
    usize::from(first) | usize::from(second) << 8
}

fn set(bits: &mut [u64], bit: usize) {
    if let Some(word) = bits.get_mut(bit >> 6) {
        *word |= 1 << (bit & 63);
    }
}

/// Whether `bit` is set in a map that may be empty (then no bit is set).
fn test_present(bits: &[u64], bit: usize) -> bool {
    bits.get(bit >> 6)
        .is_some_and(|word| word >> (bit & 63) & 1 == 1)
}

/// Whether `bit` is set; a bit past the map (which the sizes above rule out) counts as set.
fn test(bits: &[u64], bit: usize) -> bool {
    bits.get(bit >> 6)
        .is_none_or(|word| word >> (bit & 63) & 1 == 1)
}

/// A deterministic source of numbers below `n` (xorshift64) for the scanner's randomised tests.
#[cfg(test)]
pub(super) fn below(mut seed: u64) -> impl FnMut(usize) -> usize {
    move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every place the sieve passes, from the start.
    fn candidates(sieve: &Sieve, haystack: &[u8]) -> Vec<usize> {
        let mut out = Vec::new();
        let mut from = 0;
        while let Some(at) = sieve.next_candidate(haystack, from) {
            out.push(at);
            from = at + 1;
        }
        out
    }

    #[test]
    fn every_place_a_pattern_starts_is_a_candidate() {
        let patterns: Vec<&[u8]> = vec![
            "身份证号".as_bytes(),
            b"password",
            b"@",
            b"00",
            b"a1b",
            "密".as_bytes(),
        ];
        let sieve = Sieve::new(&patterns).unwrap();
        let text = "我的身份证号和password@x.com, 0012a1b 密".as_bytes();
        let found = candidates(&sieve, text);
        for pattern in &patterns {
            for (at, _) in text
                .windows(pattern.len())
                .enumerate()
                .filter(|(_, w)| w == pattern)
            {
                assert!(found.contains(&at), "{pattern:?} at {at}: {found:?}");
            }
        }
        // And it skips: far fewer places than bytes.
        assert!(found.len() * 3 < text.len(), "{found:?}");
    }

    #[test]
    fn short_patterns_are_found_in_the_last_bytes() {
        for (patterns, text, at) in [
            (vec![&b"@"[..]], &b"abc@"[..], 3),
            (vec![&b"xy"[..]], &b"abxy"[..], 2),
            (vec![&b"xyz"[..]], &b"axyz"[..], 1),
            (vec![&b"@"[..]], &b"@"[..], 0),
            (vec![&b"ab"[..]], &b"ab"[..], 0),
        ] {
            let sieve = Sieve::new(&patterns).unwrap();
            assert!(
                candidates(&sieve, text).contains(&at),
                "{patterns:?} {text:?}"
            );
        }
        let sieve = Sieve::new(&[b"long pattern"]).unwrap();
        assert_eq!(candidates(&sieve, b"lon"), Vec::<usize>::new());
        assert_eq!(candidates(&sieve, b""), Vec::<usize>::new());
    }

    #[test]
    fn no_match_start_is_ever_skipped_in_random_texts() {
        // A small alphabet (ASCII, a CJK character's bytes, digits) so that texts run along
        // patterns and their prefixes; every start of every overlapping match, by the automaton
        // itself, must be a candidate.
        let alphabet: Vec<&[u8]> = vec![b"a", b"b", b"1", b"@", b" ", "密".as_bytes(), b"\xe5"];
        let mut next = below(0x2545_f491_4f6c_dd1d);
        for round in 0..300 {
            let patterns: Vec<Vec<u8>> = (0..1 + next(40))
                .map(|_| {
                    (0..1 + next(8))
                        .flat_map(|_| alphabet[next(alphabet.len())].to_vec())
                        .collect()
                })
                .collect();
            let slices: Vec<&[u8]> = patterns.iter().map(Vec::as_slice).collect();
            let sieve = Sieve::new(&slices).unwrap();
            let automaton = aho_corasick::AhoCorasick::new(&slices).unwrap();
            for _ in 0..20 {
                let mut text = Vec::new();
                while text.len() < next(64) {
                    if next(3) == 0 {
                        text.extend_from_slice(&patterns[next(patterns.len())]);
                    } else {
                        text.extend_from_slice(alphabet[next(alphabet.len())]);
                    }
                }
                let found = candidates(&sieve, &text);
                for m in automaton.find_overlapping_iter(&text) {
                    assert!(
                        found.contains(&m.start()),
                        "round {round}: {:?} at {} of {text:?}",
                        patterns[m.pattern().as_usize()],
                        m.start()
                    );
                }
            }
        }
    }

    #[test]
    fn an_empty_pattern_gets_no_sieve() {
        assert!(Sieve::new(&[b"a", b""]).is_none());
    }
}
