//! Screens: per policy and text view, what lets a text skip the rules' DFAs.
//!
//! A pattern with a rare literal prefix (of itself or of one part of its concatenation) is
//! screened by those literals, which join the view's keyword automaton; the rest are weakened
//! (bounded counts) and packed into a few unanchored screen DFAs. A screen may pass too much but
//! never too little.

use regex_automata::dfa::dense;
use regex_automata::nfa::thompson;
use regex_automata::MatchKind;
use regex_syntax::hir::{Hir, HirKind, Repetition};

use super::groups::serialize_dfa;
use super::regex::dfa_inputs;
use super::CompileOptions;
use crate::ir::Policy;
use crate::wire::PatternRef;

/// A pattern of a policy's rule: (rule index in the policy, the rule's pattern).
pub(super) type Screened = (u32, PatternRef);

/// A policy's screens for one text view, before they are written to the bundle.
pub(super) struct ViewScreens {
    /// Per pattern screened by literals, its literals for the view's keyword automaton; empty
    /// when only screen DFAs are needed.
    pub(super) literals: Vec<(Screened, Vec<Vec<u8>>)>,
    /// Screen DFAs, each with the patterns it screens.
    pub(super) dfas: Vec<(Vec<Screened>, Vec<u8>)>,
}

/// The screens of one text view of a policy (the normalised text, or the text as sent): the
/// regexes of the rules that search that view, as literals where they have rare ones and as a
/// few screen DFAs otherwise. `None` when the view gets no screen and its rules' DFAs run on
/// every segment.
pub(super) fn view_screens(
    policy: &Policy,
    normalized: bool,
    options: &CompileOptions,
) -> Option<ViewScreens> {
    let inputs: Vec<(Screened, String, bool)> = policy
        .rules
        .iter()
        .enumerate()
        .filter_map(|(r, rule)| {
            // A deny's patterns and an escalation's `when` are searched alike.
            rule.action
                .patterns()
                .filter(|patterns| patterns.skip_normalization != normalized)
                .map(|patterns| (u32::try_from(r).unwrap_or(u32::MAX), patterns))
        })
        .flat_map(|(r, patterns)| {
            dfa_inputs(patterns)
                .into_iter()
                .map(move |(pattern, site)| ((r, site), pattern, patterns.ignore_case))
        })
        .collect();
    // Literals ride the keyword pass; the rest share a few screen DFAs.
    let mut literals: Vec<(Screened, Vec<Vec<u8>>)> = Vec::new();
    let mut residual: Vec<(Screened, String, bool)> = Vec::new();
    for (screened, pattern, ignore_case) in inputs {
        match screen_literals(&pattern, ignore_case) {
            Some(found) => literals.push((screened, without_extensions(found))),
            None => residual.push((screened, pattern, ignore_case)),
        }
    }
    // One pattern is its own screen: a screen DFA would only add a pass.
    if literals.is_empty() && residual.len() < 2 {
        return None;
    }
    let literals = shared_prefixes(literals);
    let dfas = if residual.is_empty() {
        Vec::new()
    } else {
        let inputs: Vec<(String, bool)> = residual
            .iter()
            .map(|(_, pattern, ignore_case)| (pattern.clone(), *ignore_case))
            .collect();
        build_screens(&inputs, options)
            .into_iter()
            .map(|(members, bytes)| {
                let screened = members
                    .iter()
                    .filter_map(|&m| residual.get(m).map(|(screened, _, _)| *screened))
                    .collect();
                (screened, bytes)
            })
            .collect()
    };
    // A pattern that no screen covers: this view runs every rule's DFAs.
    if !residual.is_empty() && dfas.is_empty() {
        return None;
    }
    Some(ViewScreens { literals, dfas })
}

/// Literals for a screen of one pattern: byte strings of which every match contains one, found
/// as the prefixes of the pattern or of one part of its top-level concatenation (every match
/// contains a match of each part). `None` when no part has a small set of literals that is rare
/// in prose (see [`rare_literal`]): a literal that most texts contain would send every segment
/// to the rules' DFAs, which costs more than the screen DFA it replaces.
fn screen_literals(pattern: &str, ignore_case: bool) -> Option<Vec<Vec<u8>>> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    let hir = regex_syntax::ParserBuilder::new()
        .case_insensitive(ignore_case)
        .build()
        .parse(pattern)
        .ok()?;
    let mut top = &hir;
    while let HirKind::Capture(capture) = top.kind() {
        top = &capture.sub;
    }
    let mut parts = vec![top];
    if let HirKind::Concat(subs) = top.kind() {
        parts.extend(subs.iter());
    }
    let mut extractor = Extractor::new();
    extractor
        .kind(ExtractKind::Prefix)
        .limit_class(64)
        .limit_total(MAX_SCREEN_LITERALS);
    parts
        .into_iter()
        .filter_map(|part| {
            let seq = extractor.extract(part);
            let literals: Vec<Vec<u8>> = seq
                .literals()?
                .iter()
                .map(|literal| literal.as_bytes().to_vec())
                .collect();
            // The keyword pass may search the text with white space runs collapsed (see
            // `scan`), where a literal with other white space would not be found.
            let usable = !literals.is_empty()
                && literals.len() <= MAX_SCREEN_LITERALS
                && literals
                    .iter()
                    .all(|literal| rare_literal(literal) && crate::scan::collapse_stable(literal));
            usable.then(|| shrink_literals(literals))
        })
        // The longest shortest literal, then the fewest literals.
        .max_by_key(|literals| {
            let shortest = literals.iter().map(Vec::len).min().unwrap_or(0);
            (shortest, std::cmp::Reverse(literals.len()))
        })
}

/// Undoes most of the extractor's expansion of a class at the end of a literal (`&sig=` then
/// each of 62 key characters): while cutting the last byte off the longest literals leaves a
/// quarter as many or fewer, all still rare, cut. The shorter set still prefixes every match.
fn shrink_literals(mut literals: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    loop {
        let longest = literals.iter().map(Vec::len).max().unwrap_or(0);
        let mut shorter: Vec<Vec<u8>> = literals
            .iter()
            .map(|literal| {
                let keep = if literal.len() == longest {
                    longest.saturating_sub(1)
                } else {
                    literal.len()
                };
                literal.get(..keep).unwrap_or_default().to_vec()
            })
            .collect();
        shorter.sort_unstable();
        shorter.dedup();
        if shorter.len() * 4 > literals.len() || !shorter.iter().all(|l| rare_literal(l)) {
            return literals;
        }
        literals = shorter;
    }
}

/// Sorted, without duplicates and without literals that extend another one: a text that
/// contains the longer literal contains the shorter.
pub(super) fn without_extensions(mut literals: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    literals.sort_unstable();
    let mut kept: Vec<Vec<u8>> = Vec::with_capacity(literals.len());
    for literal in literals {
        if kept.last().is_some_and(|last| literal.starts_with(last)) {
            continue;
        }
        kept.push(literal);
    }
    kept
}

/// Each pattern's literals replaced by the view's shortest literal that begins them: a literal
/// that extends another's (`130` of one pattern, `13` of another) adds nothing to the automaton,
/// since where it occurs the shorter one does too, and the shorter one screens both patterns.
/// So the automaton holds the view's literals without extensions, as before patterns had units.
fn shared_prefixes(literals: Vec<(Screened, Vec<Vec<u8>>)>) -> Vec<(Screened, Vec<Vec<u8>>)> {
    let kept = without_extensions(
        literals
            .iter()
            .flat_map(|(_, literals)| literals.iter().cloned())
            .collect(),
    );
    literals
        .into_iter()
        .map(|(screened, own)| {
            let mut shared: Vec<Vec<u8>> = own
                .into_iter()
                .map(|literal| {
                    // `kept` is sorted and prefix-free: the literal's kept prefix, if any, is the
                    // greatest kept literal not after it.
                    let at = kept.partition_point(|k| k.as_slice() <= literal.as_slice());
                    match at.checked_sub(1).and_then(|i| kept.get(i)) {
                        Some(prefix) if literal.starts_with(prefix) => prefix.clone(),
                        _ => literal,
                    }
                })
                .collect();
            shared.sort_unstable();
            shared.dedup();
            (screened, shared)
        })
        .collect()
}

/// The most literals one pattern may add to its view's keyword automaton.
const MAX_SCREEN_LITERALS: usize = 256;

/// Whether a screen literal is rare enough in prose to be worth it. Matched with ASCII case
/// folded (the keyword automaton may fold), so letters alone are common unless the literal is
/// long; digits and symbols are what make short literals rare. Non-ASCII literals (CJK
/// characters) are common in the text this guard reads.
fn rare_literal(literal: &[u8]) -> bool {
    let symbol =
        |b: &u8| b.is_ascii_graphic() && !b.is_ascii_alphabetic() && !b".,;:!?'\"()-".contains(b);
    literal.is_ascii()
        && match literal.len() {
            0 => false,
            1 => literal.iter().all(|b| b"@=_#$%&*<>[]{}|\\^~".contains(b)),
            2 | 3 => literal.iter().any(symbol),
            _ => true,
        }
}

/// The largest screen DFA built: each is validated on every load, in the Wasm VM too.
const SCREEN_LIMIT: usize = 256 << 10;
/// The repetition count a screen keeps (see [`weaken`]), and the smaller ones tried for a
/// pattern whose screen alone would pass the limit. Small, because the union of counted
/// patterns grows as a product: with 4, all 50 regexes of the large benchmark policy took 9
/// screens of at most 256 KiB (with 16, 21; now 47 of them are screened by literals and the
/// other 3 share one screen); the price is a screen hit on, say, any run of six digits that
/// starts like a phone number, where the rules' own DFAs then run on that segment.
const SCREEN_COUNTS: [u32; 2] = [4, 2];

/// Screens for these (pattern, ignore case) inputs: unanchored DFAs over weakened forms of them
/// (each input in exactly one), such that some screen matches some substring of every text that
/// any input matches. Inputs are packed first-fit into DFAs of at most [`SCREEN_LIMIT`] bytes,
/// since the union of counted patterns over the same bytes (digits, key alphabets) grows as a
/// product. Empty when an input has no weakened form that a screen can use (one that matches
/// the empty string would pass every text). Each screen comes with the inputs it covers, by
/// index.
fn build_screens(
    inputs: &[(String, bool)],
    options: &CompileOptions,
) -> Vec<(Vec<usize>, Vec<u8>)> {
    let limit = options.dfa_size_limit.min(SCREEN_LIMIT);
    let parsed: Option<Vec<Hir>> = inputs
        .iter()
        .map(|(pattern, ignore_case)| {
            regex_syntax::ParserBuilder::new()
                .case_insensitive(*ignore_case)
                .build()
                .parse(pattern)
                .ok()
        })
        .collect();
    let Some(hirs) = parsed else {
        return Vec::new();
    };
    // First fit: each input joins the first screen it fits in, else opens a new one.
    let mut screens: Vec<(Vec<Hir>, Vec<usize>, Vec<u8>)> = Vec::new();
    for (input, hir) in hirs.iter().enumerate() {
        let weak = weaken(hir, SCREEN_COUNTS[0]).best;
        if weak.properties().minimum_len().unwrap_or(0) == 0 {
            return Vec::new();
        }
        let joined = screens.iter_mut().any(|(members, inputs, bytes)| {
            let mut candidate = members.clone();
            candidate.push(weak.clone());
            match screen_dfa(&candidate, limit) {
                Ok(built) => {
                    *members = candidate;
                    inputs.push(input);
                    *bytes = built;
                    true
                }
                Err(_) => false,
            }
        });
        if joined {
            continue;
        }
        // Alone, weaker and weaker until it fits.
        let alone = SCREEN_COUNTS.iter().find_map(|&count| {
            let weak = weaken(hir, count).best;
            if weak.properties().minimum_len().unwrap_or(0) == 0 {
                return None;
            }
            let bytes = screen_dfa(std::slice::from_ref(&weak), limit).ok()?;
            Some((weak, bytes))
        });
        let Some((weak, bytes)) = alone else {
            return Vec::new();
        };
        screens.push((vec![weak], vec![input], bytes));
    }
    screens
        .into_iter()
        .map(|(_, inputs, bytes)| (inputs, bytes))
        .collect()
}

fn screen_dfa(hirs: &[Hir], limit: usize) -> Result<Vec<u8>, String> {
    let nfa = thompson::Compiler::new()
        .configure(
            thompson::Config::new()
                .nfa_size_limit(Some(limit.saturating_mul(4)))
                .shrink(false),
        )
        .build_many_from_hir(hirs)
        .map_err(|e| e.to_string())?;
    let dfa = dense::Builder::new()
        .configure(
            dense::Config::new()
                .match_kind(MatchKind::All)
                .minimize(true)
                .dfa_size_limit(Some(limit))
                .determinize_size_limit(Some(limit.saturating_mul(4))),
        )
        .build_from_nfa(&nfa)
        .map_err(|e| e.to_string())?;
    let bytes = serialize_dfa(&dfa);
    if bytes.len() > limit {
        return Err(format!("{} bytes", bytes.len()));
    }
    Ok(bytes)
}

/// A weakened form of a pattern, for screens: only whether something matches matters.
struct Weak {
    /// `exact`: the weakened forms are the pattern itself.
    exact: bool,
    /// Every match of the pattern begins with a match of this.
    prefix: Hir,
    /// Every match of the pattern contains a match of this (chosen for its minimum length).
    best: Hir,
}

fn longer(a: Hir, b: Hir) -> Hir {
    let len = |h: &Hir| h.properties().minimum_len().unwrap_or(0);
    if len(&b) > len(&a) {
        b
    } else {
        a
    }
}

/// Weakens a pattern so that its DFA stays small: a counted repetition keeps at most `count`
/// copies and a range `X{a,b}` becomes `X{a}`, and whatever follows a weakened part of a
/// concatenation is dropped. The result matches (a substring of) every text the pattern matches.
fn weaken(hir: &Hir, count: u32) -> Weak {
    let exact = |h: &Hir| Weak {
        exact: true,
        prefix: h.clone(),
        best: h.clone(),
    };
    match hir.kind() {
        HirKind::Empty | HirKind::Literal(_) | HirKind::Class(_) | HirKind::Look(_) => exact(hir),
        HirKind::Capture(capture) => weaken(&capture.sub, count),
        HirKind::Repetition(rep) => {
            let sub = weaken(&rep.sub, count);
            if sub.exact && rep.max.is_some_and(|max| max <= count) {
                // Small and bounded: the DFA can afford it as it is.
                return exact(hir);
            }
            if rep.min == 0 {
                // Possibly absent: nothing is necessary.
                return Weak {
                    exact: false,
                    prefix: Hir::empty(),
                    best: Hir::empty(),
                };
            }
            if !sub.exact {
                return Weak {
                    exact: false,
                    prefix: sub.prefix,
                    best: sub.best,
                };
            }
            let kept = Hir::repetition(Repetition {
                min: rep.min.min(count),
                max: Some(rep.min.min(count)),
                greedy: rep.greedy,
                sub: rep.sub.clone(),
            });
            Weak {
                exact: false,
                prefix: kept.clone(),
                best: kept,
            }
        }
        HirKind::Alternation(subs) => {
            let weak: Vec<Weak> = subs.iter().map(|s| weaken(s, count)).collect();
            if weak.iter().all(|w| w.exact) {
                return exact(hir);
            }
            Weak {
                exact: false,
                prefix: Hir::alternation(weak.iter().map(|w| w.prefix.clone()).collect()),
                best: Hir::alternation(weak.into_iter().map(|w| w.best).collect()),
            }
        }
        HirKind::Concat(subs) => {
            let weak: Vec<Weak> = subs.iter().map(|s| weaken(s, count)).collect();
            if weak.iter().all(|w| w.exact) {
                return exact(hir);
            }
            // A run of exact parts, then the prefix of the part after it: contiguous in every
            // match. The run from the start is also a prefix of the whole.
            let window = |start: usize| -> Hir {
                let mut parts = Vec::new();
                for w in weak.iter().skip(start) {
                    parts.push(w.prefix.clone());
                    if !w.exact {
                        break;
                    }
                }
                Hir::concat(parts)
            };
            let prefix = window(0);
            let mut best = prefix.clone();
            for (i, w) in weak.iter().enumerate() {
                best = longer(best, window(i));
                best = longer(best, w.best.clone());
            }
            Weak {
                exact: false,
                prefix,
                best,
            }
        }
    }
}
