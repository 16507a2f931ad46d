//! Whether every match of one pattern contains a match of another: the question behind
//! `shadowed_rule`, answered exactly or not at all.
//!
//! A later pattern `b` is covered by an earlier `a` when every text `b` matches contains a text
//! `a` matches: L(b) ⊆ Σ*·L(a)·Σ*. Keywords are compared as strings first (a keyword containing
//! another); otherwise both are compiled into dense DFAs (regex-automata, as the engine does) and
//! a product walk of `b`'s anchored DFA and `a`'s unanchored one searches for a text that `b`
//! matches in full before `a` has matched anywhere in it. The walk is bounded: past
//! [`MAX_STATES`] pairs, or when a DFA would be too large, the answer is "unknown", and the lint
//! says nothing.
//!
//! The languages are built so that an error can only hide a finding, never invent one: `b`'s is
//! over-approximated (a keyword's space becomes `\s+`, `ignore case` uses Unicode folding) and
//! `a`'s under-approximated (a keyword's space is one space, `ignore case` on an ASCII keyword
//! folds ASCII only, as the engine's keyword automaton does). Patterns with assertions (`^`,
//! `$`, `\b`) are not compared: whether they hold depends on text around the match. The
//! engine's DFAs search the normalised text with marks where invisible characters were removed
//! (`with_marks` in engine/src/compile/regex.rs); that rewrite applies to both patterns alike
//! and maps a match without marks to one with them, so the lint compares the patterns as
//! written, over text without marks.

use std::collections::HashSet;

use regex_automata::dfa::{dense, Automaton, StartKind};
use regex_automata::nfa::thompson;
use regex_automata::util::primitives::StateID;
use regex_automata::util::start;
use regex_automata::{Anchored, MatchKind};
use regex_syntax::hir::Hir;

/// The most state pairs one product walk visits before it gives up.
pub(super) const MAX_STATES: usize = 100_000;

/// The most bytes a DFA built for linting may take (NFA, DFA and determinisation each).
const DFA_LIMIT: usize = 4 << 20;

/// How a pattern matches: a keyword or a regex, with its rule's flags.
#[derive(Debug, Clone, Copy)]
pub(super) struct Pattern<'a> {
    pub text: &'a str,
    pub regex: bool,
    pub ignore_case: bool,
    /// The rule searches the normalised text (no `normalize off`).
    pub normalized: bool,
}

/// A pattern's DFA, or why there is none.
pub(super) type Compiled = Option<dense::DFA<Vec<u32>>>;

/// A keyword as the engine searches for it in the normalised text (the engine's own function,
/// so the lint compares exactly what the scanner searches).
pub(super) use guard_engine::normalize_keyword as normalized_keyword;

fn keyword_text(p: &Pattern<'_>) -> String {
    if p.normalized {
        normalized_keyword(p.text)
    } else {
        p.text.to_string()
    }
}

/// True when ASCII case folding finds every case variant of the keyword (the engine then
/// searches it with its keyword automaton, which folds ASCII only).
pub(super) fn ascii_folding_suffices(keyword: &str) -> bool {
    keyword.chars().all(|c| {
        c.is_ascii()
            || (c.to_lowercase().eq(std::iter::once(c)) && c.to_uppercase().eq(std::iter::once(c)))
    })
}

/// Whether every match of keyword `b` contains keyword `a`, by comparing the strings; `false`
/// leaves the question to the DFAs.
pub(super) fn keyword_contains(a: &Pattern<'_>, b: &Pattern<'_>) -> bool {
    if b.ignore_case && !a.ignore_case {
        return false;
    }
    // `b` ignoring case with Unicode folding on text that is not normalised could match `K`
    // (Kelvin sign) where `a`, folding ASCII only, needs `k`; the DFAs decide that case.
    if b.ignore_case && !b.normalized && !ascii_folding_suffices(b.text) {
        return false;
    }
    let (ka, kb) = (keyword_text(a), keyword_text(b));
    if ka.is_empty() {
        return false;
    }
    if a.ignore_case {
        kb.to_ascii_lowercase().contains(&ka.to_ascii_lowercase())
    } else {
        kb.contains(&ka)
    }
}

/// The earlier pattern's DFA, unanchored: matches of `a` anywhere, a subset of what the engine
/// matches. `None` when it has assertions or is too large.
pub(super) fn earlier_dfa(a: &Pattern<'_>) -> Compiled {
    let hir = if a.regex {
        parse(a.text, a.ignore_case)?
    } else {
        let keyword = keyword_text(a);
        if a.ignore_case && ascii_folding_suffices(&keyword) {
            // The keyword automaton folds ASCII letters only.
            let mut pattern = String::new();
            for c in keyword.chars() {
                if c.is_ascii_alphabetic() {
                    pattern.push_str(&format!(
                        "[{}{}]",
                        c.to_ascii_lowercase(),
                        c.to_ascii_uppercase()
                    ));
                } else {
                    pattern.push_str(&regex_syntax::escape(c.encode_utf8(&mut [0; 4])));
                }
            }
            parse(&pattern, false)?
        } else {
            // Not ignoring case; or a keyword the engine folds in a DFA, with Unicode simple
            // case folding, as this parser does.
            parse(&regex_syntax::escape(&keyword), a.ignore_case)?
        }
    };
    build(&hir, StartKind::Unanchored)
}

/// The later pattern's DFA, anchored: texts `b` matches in full, a superset of what the engine
/// matches. `None` when it has assertions or is too large.
pub(super) fn later_dfa(b: &Pattern<'_>) -> Compiled {
    let pattern = if b.regex {
        b.text.to_string()
    } else if b.normalized {
        // A space of a normalised keyword matches any run of separators.
        keyword_text(b)
            .split(' ')
            .map(regex_syntax::escape)
            .collect::<Vec<_>>()
            .join(r"\s+")
    } else {
        regex_syntax::escape(b.text)
    };
    build(&parse(&pattern, b.ignore_case)?, StartKind::Anchored)
}

fn parse(pattern: &str, ignore_case: bool) -> Option<Hir> {
    let hir = regex_syntax::ParserBuilder::new()
        .case_insensitive(ignore_case)
        .build()
        .parse(pattern)
        .ok()?;
    hir.properties().look_set().is_empty().then_some(hir)
}

fn build(hir: &Hir, start: StartKind) -> Compiled {
    let nfa = thompson::Compiler::new()
        .configure(
            thompson::Config::new()
                .which_captures(thompson::WhichCaptures::None)
                .nfa_size_limit(Some(DFA_LIMIT)),
        )
        .build_from_hir(hir)
        .ok()?;
    dense::Builder::new()
        .configure(
            dense::Config::new()
                .start_kind(start)
                .match_kind(MatchKind::All)
                .dfa_size_limit(Some(DFA_LIMIT))
                .determinize_size_limit(Some(DFA_LIMIT)),
        )
        .build_from_nfa(&nfa)
        .ok()
}

/// Whether every text the anchored `later` matches in full contains a match of the unanchored
/// `earlier`: `Some(true)` proven, `Some(false)` refuted, `None` unknown (the walk passed its
/// bound; `budget` is shared by every walk of one lint run and counts down).
pub(super) fn contained<A: Automaton, B: Automaton>(
    later: &B,
    earlier: &A,
    budget: &mut usize,
) -> Option<bool> {
    let b0 = later
        .start_state(&start::Config::new().anchored(Anchored::Yes))
        .ok()?;
    let a0 = earlier
        .start_state(&start::Config::new().anchored(Anchored::No))
        .ok()?;
    let mut seen: HashSet<(StateID, StateID)> = HashSet::new();
    let mut stack = vec![(b0, a0)];
    seen.insert((b0, a0));
    let mut visited = 0usize;
    while let Some((b, a)) = stack.pop() {
        // Match states are delayed by one byte: `a` is a match state when a match of `earlier`
        // ended before the last byte read; its end-of-input state, when one ends at the end.
        // Either way the text read so far contains a match, and so does every extension.
        if earlier.is_match_state(a) || earlier.is_match_state(earlier.next_eoi_state(a)) {
            continue;
        }
        // `later` matches the text read so far in full, and `earlier` nowhere in it.
        if later.is_match_state(later.next_eoi_state(b)) {
            return Some(false);
        }
        for byte in 0..=255u8 {
            let nb = later.next_state(b, byte);
            if later.is_dead_state(nb) {
                continue;
            }
            let na = earlier.next_state(a, byte);
            if later.is_quit_state(nb) || earlier.is_quit_state(na) {
                return None;
            }
            if seen.insert((nb, na)) {
                visited += 1;
                if visited > MAX_STATES || *budget == 0 {
                    return None;
                }
                *budget -= 1;
                stack.push((nb, na));
            }
        }
    }
    Some(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regex(text: &str) -> Pattern<'_> {
        Pattern {
            text,
            regex: true,
            ignore_case: false,
            normalized: true,
        }
    }

    fn covers(a: Pattern<'_>, b: Pattern<'_>) -> Option<bool> {
        let (Some(a), Some(b)) = (earlier_dfa(&a), later_dfa(&b)) else {
            return None;
        };
        let mut budget = usize::MAX;
        contained(&b, &a, &mut budget)
    }

    #[test]
    fn regex_languages() {
        assert_eq!(covers(regex("[0-9]{4}"), regex("PRJ-[0-9]{4}")), Some(true));
        assert_eq!(covers(regex("a"), regex("xa|ay")), Some(true));
        assert_eq!(covers(regex("[0-9]{5}"), regex("[0-9]{4}")), Some(false));
        assert_eq!(covers(regex("ab"), regex("a+b?")), Some(false));
        assert_eq!(covers(regex("a"), regex("b*a")), Some(true));
        // Assertions depend on the text around a match: not compared.
        assert_eq!(covers(regex(r"\bfoo"), regex("foo")), None);
    }

    #[test]
    fn keywords_and_case() {
        let kw = |text, ignore_case| Pattern {
            text,
            regex: false,
            ignore_case,
            normalized: true,
        };
        assert!(keyword_contains(
            &kw("secret", true),
            &kw("Top SECRET", false)
        ));
        assert!(!keyword_contains(
            &kw("secret", false),
            &kw("Top SECRET", false)
        ));
        assert!(!keyword_contains(
            &kw("secret", false),
            &kw("secrets", true)
        ));
        // An ASCII keyword ignoring case is folded over ASCII only.
        assert_eq!(covers(kw("k", true), regex("\u{212A}")), Some(false));
        assert_eq!(covers(kw("ab", true), regex("[aA][bB]c")), Some(true));
        // A keyword's space matches a run of white space; a regex's space is one space.
        assert_eq!(covers(regex("a b"), kw("a b", false)), Some(false));
        assert_eq!(covers(regex(r"a\s+b"), kw("xa b", false)), Some(true));
    }

    #[test]
    fn the_walk_is_bounded() {
        let mut budget = 10;
        let (Some(a), Some(b)) = (earlier_dfa(&regex("z")), later_dfa(&regex("[a-y]{1,30}z")))
        else {
            panic!("the DFAs build");
        };
        assert_eq!(contained(&b, &a, &mut budget), None);
    }
}
