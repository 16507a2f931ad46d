//! Compiling a [`Program`]'s patterns into automata and writing the bundle (feature `build`).
//!
//! Keywords stay strings and become an Aho-Corasick automaton when the bundle is loaded, because
//! aho-corasick cannot be serialised (it builds in a few milliseconds for a thousand keywords,
//! once per VM). Regexes become minimised dense DFAs here, grouped per rule; a rule whose group
//! would pass the size budget is split into one DFA per pattern, and a single pattern over the
//! budget is an error the DSL reports against that pattern. Per policy and text view, screens
//! (literals for the keyword pass and a few weakened DFAs) let a text skip the rules' DFAs.

use std::ops::Range;

use regex_automata::dfa::dense;
use regex_automata::nfa::thompson;
use regex_automata::MatchKind;
use regex_syntax::hir::{Capture, Class, ClassBytes, ClassBytesRange, Hir, HirKind, Repetition};

use crate::ir::{Patterns, Program, RuleAction};
use crate::wire::{
    self, CompiledMatcher, CompiledRegexGroup, CompiledScreen, GroupSearch, PatternRef, ScreenKind,
};

/// Limits for compilation.
#[derive(Debug, Clone)]
pub struct CompileOptions {
    /// The most bytes one DFA (forward or reverse) may take.
    pub dfa_size_limit: usize,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions {
            dfa_size_limit: 16 << 20,
        }
    }
}

/// Why a regex cannot be part of a ruleset.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegexErrorKind {
    /// The pattern is not valid Rust regex syntax.
    Syntax,
    /// Valid syntax that a DFA cannot run: look-around, backreferences.
    Unsupported,
    /// A Unicode word boundary, which a DFA cannot do; `(?-u:\b)` can.
    UnicodeWordBoundary,
    /// The DFA for this one pattern passes the size budget.
    TooLarge { limit: usize },
}

/// A regex error with the byte range inside the pattern it concerns, when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegexError {
    pub kind: RegexErrorKind,
    pub span: Option<Range<usize>>,
    pub message: String,
}

/// A regex error located in the program: `program.policies[policy].rules[rule]`'s regex `regex`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    pub policy: usize,
    pub rule: usize,
    pub regex: usize,
    pub error: RegexError,
}

/// The size of one compiled DFA group, for the compile report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSize {
    pub policy: usize,
    pub rule: usize,
    pub patterns: usize,
    pub forward_bytes: usize,
    /// Zero for a group run anchored at candidate positions.
    pub reverse_bytes: usize,
    /// Run anchored from candidate positions because the unanchored DFA passed the budget.
    pub anchored: bool,
}

/// One screen of a policy's text view, for the compile report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreenSize {
    pub policy: usize,
    /// Screens the normalised text (else the text as sent).
    pub normalized: bool,
    /// How many of the view's patterns it screens.
    pub patterns: usize,
    /// Literals added to the keyword automaton; zero for a screen DFA.
    pub literals: usize,
    /// The screen DFA's size; zero for literals.
    pub dfa_bytes: usize,
}

/// A compiled bundle and what it is made of.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub bytes: Vec<u8>,
    pub groups: Vec<GroupSize>,
    pub keywords: usize,
    pub screens: Vec<ScreenSize>,
}

/// Checks a regex's syntax and that a DFA can run it, without building the DFA.
pub fn check_regex(pattern: &str, ignore_case: bool) -> Result<(), RegexError> {
    let hir = regex_syntax::ParserBuilder::new()
        .case_insensitive(ignore_case)
        .build()
        .parse(pattern)
        .map_err(|err| syntax_error(pattern, &err))?;
    if hir.properties().look_set().contains_word_unicode() {
        return Err(RegexError {
            kind: RegexErrorKind::UnicodeWordBoundary,
            span: word_boundary_span(pattern),
            message: "a DFA cannot match a Unicode word boundary".into(),
        });
    }
    Ok(())
}

fn syntax_error(pattern: &str, err: &regex_syntax::Error) -> RegexError {
    use regex_syntax::ast::ErrorKind as Ast;
    let (span, message, kind) = match err {
        regex_syntax::Error::Parse(e) => {
            let kind = match e.kind() {
                Ast::UnsupportedLookAround | Ast::UnsupportedBackreference => {
                    RegexErrorKind::Unsupported
                }
                _ => RegexErrorKind::Syntax,
            };
            (e.span(), e.kind().to_string(), kind)
        }
        regex_syntax::Error::Translate(e) => {
            (e.span(), e.kind().to_string(), RegexErrorKind::Syntax)
        }
        _ => {
            return RegexError {
                kind: RegexErrorKind::Syntax,
                span: None,
                message: err.to_string(),
            }
        }
    };
    let range = span.start.offset..span.end.offset;
    RegexError {
        kind,
        span: (range.end <= pattern.len()).then_some(range),
        message,
    }
}

/// The first `\b`/`\B` (or `\b{start}`...) in the pattern, for pointing at it.
fn word_boundary_span(pattern: &str) -> Option<Range<usize>> {
    let bytes = pattern.as_bytes();
    let mut i = 0;
    while i + 1 < bytes.len() {
        match (bytes.get(i), bytes.get(i + 1)) {
            (Some(b'\\'), Some(b'b' | b'B')) => return Some(i..i + 2),
            (Some(b'\\'), _) => i += 2,
            _ => i += 1,
        }
    }
    None
}

/// Compiles every deny rule's patterns and writes the bundle.
///
/// All pattern errors of the program are returned together, so a policy author sees every
/// problem in one run.
pub fn compile(program: &Program, options: &CompileOptions) -> Result<Compiled, Vec<PatternError>> {
    let mut errors = Vec::new();
    let mut matchers = Vec::new();
    let mut blobs: Vec<Vec<u8>> = Vec::new();
    let mut groups = Vec::new();
    let mut keywords = 0;

    let mut screens = Vec::new();
    let mut screen_sizes = Vec::new();
    for (p, policy) in program.policies.iter().enumerate() {
        // One screen per text view, built first: a view with a screen runs its rules' DFAs only
        // on segments the screen matched, so those DFAs can be small anchored ones.
        let mut screened = [false; 2];
        for normalized in [false, true] {
            let inputs: Vec<(String, bool)> = policy
                .rules
                .iter()
                .filter_map(|rule| match &rule.action {
                    RuleAction::Deny(patterns) if patterns.skip_normalization != normalized => {
                        Some(patterns)
                    }
                    _ => None,
                })
                .flat_map(|patterns| {
                    dfa_inputs(patterns)
                        .into_iter()
                        .map(move |(pattern, _)| (pattern, patterns.ignore_case))
                })
                .collect();
            // Literals ride the keyword pass; the rest share a few screen DFAs.
            let mut literals: Vec<Vec<u8>> = Vec::new();
            let mut literal_patterns = 0;
            let mut residual: Vec<(String, bool)> = Vec::new();
            for (pattern, ignore_case) in &inputs {
                match screen_literals(pattern, *ignore_case) {
                    Some(found) => {
                        literals.extend(found);
                        literal_patterns += 1;
                    }
                    None => residual.push((pattern.clone(), *ignore_case)),
                }
            }
            // One pattern is its own screen: a screen DFA would only add a pass.
            if literals.is_empty() && residual.len() < 2 {
                continue;
            }
            let dfas = if residual.is_empty() {
                Vec::new()
            } else {
                build_screens(&residual, options)
            };
            // A pattern that no screen covers: this view runs every rule's DFAs.
            if !residual.is_empty() && dfas.is_empty() {
                continue;
            }
            if let Some(flag) = screened.get_mut(usize::from(normalized)) {
                *flag = true;
            }
            if !literals.is_empty() {
                literals = without_extensions(literals);
                screen_sizes.push(ScreenSize {
                    policy: p,
                    normalized,
                    patterns: literal_patterns,
                    literals: literals.len(),
                    dfa_bytes: 0,
                });
                screens.push(CompiledScreen {
                    policy: index(p),
                    normalized,
                    kind: ScreenKind::Literals(literals),
                });
            }
            for (patterns, bytes) in dfas {
                screen_sizes.push(ScreenSize {
                    policy: p,
                    normalized,
                    patterns,
                    literals: 0,
                    dfa_bytes: bytes.len(),
                });
                screens.push(CompiledScreen {
                    policy: index(p),
                    normalized,
                    kind: ScreenKind::Dfa {
                        forward: index(blobs.len()),
                    },
                });
                blobs.push(bytes);
            }
        }
        for (r, rule) in policy.rules.iter().enumerate() {
            let RuleAction::Deny(patterns) = &rule.action else {
                continue;
            };
            let has_screen = screened
                .get(usize::from(!patterns.skip_normalization))
                .copied()
                .unwrap_or(false);
            // Behind a screen, an unanchored DFA larger than this is not worth its load time:
            // a bounded pattern runs anchored at candidates instead, on the rare screened segment.
            let unanchored_limit = if has_screen {
                options.dfa_size_limit.min(SCREENED_UNANCHORED_LIMIT)
            } else {
                options.dfa_size_limit
            };
            let mut matcher = CompiledMatcher {
                policy: index(p),
                rule: index(r),
                keywords: Vec::new(),
                regex_groups: Vec::new(),
            };
            // Each DFA input is a pattern with where it came from.
            let dfa_inputs = dfa_inputs(patterns);
            for (k, keyword) in patterns.keywords.iter().enumerate() {
                if !patterns.ignore_case || ascii_folding_suffices(keyword) {
                    matcher.keywords.push(index(k));
                    keywords += 1;
                }
            }
            let mut ok = true;
            for (x, regex) in patterns.regexes.iter().enumerate() {
                if let Err(error) = check_regex(regex, patterns.ignore_case) {
                    errors.push(PatternError {
                        policy: p,
                        rule: r,
                        regex: x,
                        error,
                    });
                    ok = false;
                }
            }
            if !ok || dfa_inputs.is_empty() {
                matchers.push(matcher);
                continue;
            }
            match build_group(
                &dfa_inputs,
                Flags::of(patterns),
                unanchored_limit,
                options.dfa_size_limit,
            ) {
                Ok(built) => push_group(&mut matcher, &mut blobs, &mut groups, p, r, built),
                Err(GroupError::TooLarge) => {
                    // Split the rule: one DFA per pattern, so only the patterns that are too
                    // large on their own are errors.
                    for input in &dfa_inputs {
                        let single = std::slice::from_ref(input);
                        // A rule of one pattern already failed unanchored; go straight to anchored.
                        let first_try = if dfa_inputs.len() == 1 {
                            Err(GroupError::TooLarge)
                        } else {
                            build_group(
                                single,
                                Flags::of(patterns),
                                unanchored_limit,
                                options.dfa_size_limit,
                            )
                        };
                        let built = first_try
                            .or_else(|err| match err {
                                GroupError::TooLarge => {
                                    build_anchored(single, Flags::of(patterns), options)
                                }
                                other => Err(other),
                            })
                            .or_else(|err| match err {
                                // Unbounded and only over the screened limit: unanchored after all.
                                GroupError::TooLarge
                                    if unanchored_limit < options.dfa_size_limit =>
                                {
                                    build_group(
                                        single,
                                        Flags::of(patterns),
                                        options.dfa_size_limit,
                                        options.dfa_size_limit,
                                    )
                                }
                                other => Err(other),
                            });
                        match built {
                            Ok(built) => {
                                push_group(&mut matcher, &mut blobs, &mut groups, p, r, built)
                            }
                            Err(error) => {
                                if let PatternRef::Regex(x) = input.1 {
                                    errors.push(PatternError {
                                        policy: p,
                                        rule: r,
                                        regex: x as usize,
                                        error: error.into_regex_error(options),
                                    });
                                }
                            }
                        }
                    }
                }
                Err(other) => {
                    // Not a size problem: blame the first regex of the group.
                    let regex = dfa_inputs
                        .iter()
                        .find_map(|(_, origin)| match origin {
                            PatternRef::Regex(x) => Some(*x as usize),
                            PatternRef::Keyword(_) => None,
                        })
                        .unwrap_or(0);
                    errors.push(PatternError {
                        policy: p,
                        rule: r,
                        regex,
                        error: other.into_regex_error(options),
                    });
                }
            }
            matchers.push(matcher);
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let bytes = wire::encode(program, matchers, screens, &blobs);
    Ok(Compiled {
        bytes,
        groups,
        keywords,
        screens: screen_sizes,
    })
}

fn index(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

/// The patterns of a rule that its DFAs search, with where each came from: its regexes that
/// a DFA can run, and its keywords that ASCII folding cannot case-fold (aho-corasick folds ASCII
/// only; a keyword with cased non-ASCII letters goes into the rule's DFA, where Unicode simple
/// case folding applies).
fn dfa_inputs(patterns: &Patterns) -> Vec<(String, PatternRef)> {
    let mut inputs = Vec::new();
    for (k, keyword) in patterns.keywords.iter().enumerate() {
        if patterns.ignore_case && !ascii_folding_suffices(keyword) {
            let pattern = if patterns.skip_normalization {
                regex_syntax::escape(keyword)
            } else {
                // A space of a normalised keyword matches any run of separators, as in the
                // keyword automaton's pass (see `scan`): `\s+`, which matches marks too.
                crate::normalize::normalize_keyword(keyword)
                    .split(' ')
                    .map(regex_syntax::escape)
                    .collect::<Vec<_>>()
                    .join(r"\s+")
            };
            inputs.push((pattern, PatternRef::Keyword(index(k))));
        }
    }
    for (x, regex) in patterns.regexes.iter().enumerate() {
        if check_regex(regex, patterns.ignore_case).is_ok() {
            inputs.push((regex.clone(), PatternRef::Regex(index(x))));
        }
    }
    inputs
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
fn without_extensions(mut literals: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
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
/// Behind a screen, the largest unanchored DFA (forward or reverse) a group may have before a
/// bounded pattern is run anchored at candidate positions instead.
const SCREENED_UNANCHORED_LIMIT: usize = 64 << 10;
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
/// the empty string would pass every text). Each screen comes with the number of inputs it
/// covers.
fn build_screens(inputs: &[(String, bool)], options: &CompileOptions) -> Vec<(usize, Vec<u8>)> {
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
    let mut screens: Vec<(Vec<Hir>, Vec<u8>)> = Vec::new();
    for hir in &hirs {
        let weak = weaken(hir, SCREEN_COUNTS[0]).best;
        if weak.properties().minimum_len().unwrap_or(0) == 0 {
            return Vec::new();
        }
        let joined = screens.iter_mut().any(|(members, bytes)| {
            let mut candidate = members.clone();
            candidate.push(weak.clone());
            match screen_dfa(&candidate, limit) {
                Ok(built) => {
                    *members = candidate;
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
        screens.push((vec![weak], bytes));
    }
    screens
        .into_iter()
        .map(|(members, bytes)| (members.len(), bytes))
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

/// True when ASCII case folding finds every case variant of the keyword.
fn ascii_folding_suffices(keyword: &str) -> bool {
    keyword.chars().all(|c| {
        c.is_ascii()
            || (c.to_lowercase().eq(std::iter::once(c)) && c.to_uppercase().eq(std::iter::once(c)))
    })
}

struct BuiltGroup {
    patterns: Vec<PatternRef>,
    forward: Vec<u8>,
    /// `None` for a group run anchored at candidate positions.
    reverse: Option<Vec<u8>>,
}

/// The longest pattern run anchored at candidate positions: beyond this, a run per candidate
/// could cost too much on long texts.
const MAX_ANCHORED_LEN: usize = 1024;

enum GroupError {
    TooLarge,
    Other(String),
}

impl GroupError {
    fn into_regex_error(self, options: &CompileOptions) -> RegexError {
        match self {
            GroupError::TooLarge => RegexError {
                kind: RegexErrorKind::TooLarge {
                    limit: options.dfa_size_limit,
                },
                span: None,
                message: format!(
                    "the DFA for this pattern is larger than the budget of {} bytes",
                    options.dfa_size_limit
                ),
            },
            GroupError::Other(message) => RegexError {
                kind: RegexErrorKind::Syntax,
                span: None,
                message,
            },
        }
    }
}

/// `limit` bounds each DFA; the NFA is bounded by the larger `nfa_limit`, the budget.
fn build_group(
    inputs: &[(String, PatternRef)],
    flags: Flags,
    limit: usize,
    nfa_limit: usize,
) -> Result<BuiltGroup, GroupError> {
    let hirs = dfa_hirs(inputs, flags)?;
    let nfa_limit = Some(nfa_limit.max(limit));
    let limit = Some(limit);
    let config = dense::Config::new()
        .match_kind(MatchKind::LeftmostFirst)
        .minimize(true)
        .dfa_size_limit(limit)
        .determinize_size_limit(limit);
    let forward_nfa = build_nfa(&hirs, thompson::Config::new().nfa_size_limit(nfa_limit))?;
    let forward = dense::Builder::new()
        .configure(config.clone())
        .build_from_nfa(&forward_nfa)
        .map_err(group_error)?;
    // The reverse DFA as regex-automata's own regex builder makes it: anchored, every match.
    let reverse_nfa = build_nfa(
        &hirs,
        thompson::Config::new()
            .nfa_size_limit(nfa_limit)
            .reverse(true),
    )?;
    let reverse = dense::Builder::new()
        .configure(
            config
                .prefilter(None)
                .specialize_start_states(false)
                .start_kind(regex_automata::dfa::StartKind::Anchored)
                .match_kind(MatchKind::All),
        )
        .build_from_nfa(&reverse_nfa)
        .map_err(group_error)?;
    Ok(BuiltGroup {
        patterns: inputs.iter().map(|(_, origin)| *origin).collect(),
        forward: serialize_dfa(&forward),
        reverse: Some(serialize_dfa(&reverse)),
    })
}

/// How a rule's patterns are compiled.
#[derive(Debug, Clone, Copy)]
struct Flags {
    ignore_case: bool,
    /// The rule searches the normalised text, where the scanner writes [`crate::scan::MARK`]
    /// for removed characters (see [`with_marks`]).
    marked: bool,
}

impl Flags {
    fn of(patterns: &Patterns) -> Flags {
        Flags {
            ignore_case: patterns.ignore_case,
            marked: !patterns.skip_normalization,
        }
    }
}

fn parse(pattern: &str, ignore_case: bool) -> Result<Hir, GroupError> {
    regex_syntax::ParserBuilder::new()
        .case_insensitive(ignore_case)
        .build()
        .parse(pattern)
        .map_err(|e| GroupError::Other(e.to_string()))
}

/// The patterns as the rule's DFAs search them.
fn dfa_hirs(inputs: &[(String, PatternRef)], flags: Flags) -> Result<Vec<Hir>, GroupError> {
    inputs
        .iter()
        .map(|(pattern, _)| {
            let hir = parse(pattern, flags.ignore_case)?;
            Ok(if flags.marked { with_marks(&hir) } else { hir })
        })
        .collect()
}

fn build_nfa(hirs: &[Hir], config: thompson::Config) -> Result<thompson::NFA, GroupError> {
    // DFAs have no capture groups (and a reverse NFA cannot have them).
    thompson::Compiler::new()
        .configure(config.which_captures(thompson::WhichCaptures::None))
        .build_many_from_hir(hirs)
        .map_err(|err| {
            if err.to_string().contains("exceeded") {
                GroupError::TooLarge
            } else {
                GroupError::Other(err.to_string())
            }
        })
}

/// The byte class of the scanner's mark alone.
fn mark() -> Hir {
    let mark = crate::scan::MARK;
    Hir::class(Class::Bytes(ClassBytes::new([ClassBytesRange::new(
        mark, mark,
    )])))
}

/// A pattern rewritten for the marked normalised text, in which the scanner writes the byte
/// [`crate::scan::MARK`] (never part of UTF-8) where normalisation removed a run of invisible
/// characters between two characters. A mark may be nothing (`acc` U+200B `ount` is still
/// `account`) or a separator between words (`account` U+200B `number` matches
/// `account\s+number`), and only the context in the pattern can tell which: so any number of
/// marks may follow every character, class and assertion of the pattern, and every class that
/// matches a space (a literal space, `\s`, `.`, `[^a-z]`) also matches a mark. On text without
/// marks (almost all text) the rewritten pattern matches exactly what the pattern does; on
/// text with marks it matches wherever the pattern matches the text with its marks removed,
/// and also where a mark stands for a space.
fn with_marks(hir: &Hir) -> Hir {
    let marks = || {
        Hir::repetition(Repetition {
            min: 0,
            max: None,
            greedy: true,
            sub: Box::new(mark()),
        })
    };
    match hir.kind() {
        HirKind::Empty => hir.clone(),
        HirKind::Literal(literal) => {
            let mut parts = Vec::new();
            match std::str::from_utf8(&literal.0) {
                Ok(text) => {
                    for c in text.chars() {
                        parts.push(if c == ' ' {
                            Hir::alternation(vec![Hir::literal(*b" "), mark()])
                        } else {
                            Hir::literal(c.encode_utf8(&mut [0; 4]).as_bytes())
                        });
                        parts.push(marks());
                    }
                }
                Err(_) => {
                    for &byte in literal.0.iter() {
                        parts.push(if byte == b' ' {
                            Hir::alternation(vec![Hir::literal(*b" "), mark()])
                        } else {
                            Hir::literal([byte])
                        });
                        parts.push(marks());
                    }
                }
            }
            Hir::concat(parts)
        }
        HirKind::Class(class) => {
            let atom = match class {
                Class::Unicode(unicode) if unicode.contains_space() => {
                    Hir::alternation(vec![hir.clone(), mark()])
                }
                Class::Bytes(bytes) if bytes.contains_space() => {
                    let mut bytes = bytes.clone();
                    bytes.push(ClassBytesRange::new(crate::scan::MARK, crate::scan::MARK));
                    Hir::class(Class::Bytes(bytes))
                }
                _ => hir.clone(),
            };
            Hir::concat(vec![atom, marks()])
        }
        HirKind::Look(_) => Hir::concat(vec![hir.clone(), marks()]),
        HirKind::Repetition(rep) => Hir::repetition(Repetition {
            sub: Box::new(with_marks(&rep.sub)),
            ..rep.clone()
        }),
        HirKind::Capture(capture) => Hir::capture(Capture {
            sub: Box::new(with_marks(&capture.sub)),
            ..capture.clone()
        }),
        HirKind::Concat(subs) => Hir::concat(subs.iter().map(with_marks).collect()),
        HirKind::Alternation(subs) => Hir::alternation(subs.iter().map(with_marks).collect()),
    }
}

/// Whether a class matches U+0020.
trait ContainsSpace {
    fn contains_space(&self) -> bool;
}

impl ContainsSpace for regex_syntax::hir::ClassUnicode {
    fn contains_space(&self) -> bool {
        self.ranges()
            .iter()
            .any(|r| r.start() <= ' ' && ' ' <= r.end())
    }
}

impl ContainsSpace for ClassBytes {
    fn contains_space(&self) -> bool {
        self.ranges()
            .iter()
            .any(|r| r.start() <= b' ' && b' ' <= r.end())
    }
}

/// A size limit (of the NFA, the determiniser or the DFA) means "too large"; anything else is a
/// pattern the builder cannot take.
fn group_error(err: regex_automata::dfa::dense::BuildError) -> GroupError {
    if err.is_size_limit_exceeded() || err.to_string().contains("exceeded") {
        GroupError::TooLarge
    } else {
        GroupError::Other(err.to_string())
    }
}

fn serialize_dfa(dfa: &dense::DFA<Vec<u32>>) -> Vec<u8> {
    let (bytes, pad) = dfa.to_bytes_little_endian();
    bytes.get(pad..).map(<[u8]>::to_vec).unwrap_or_default()
}

/// The fallback for one pattern whose unanchored DFA passes the budget: an anchored DFA, which
/// stays small because it has no `.*?` prefix to determinise, when the pattern's matches have a
/// bounded length.
fn build_anchored(
    inputs: &[(String, PatternRef)],
    flags: Flags,
    options: &CompileOptions,
) -> Result<BuiltGroup, GroupError> {
    // Bounded in the pattern as written: the marks the rewritten pattern also accepts are
    // bounded by the text's removed runs, one mark per run between two characters.
    let bounded = inputs.iter().all(|(pattern, _)| {
        parse(pattern, flags.ignore_case)
            .ok()
            .and_then(|hir| hir.properties().maximum_len())
            .is_some_and(|len| len <= MAX_ANCHORED_LEN)
    });
    if !bounded {
        return Err(GroupError::TooLarge);
    }
    let hirs = dfa_hirs(inputs, flags)?;
    let limit = Some(options.dfa_size_limit);
    let nfa = build_nfa(&hirs, thompson::Config::new().nfa_size_limit(limit))?;
    let dfa = dense::Builder::new()
        .configure(
            dense::Config::new()
                .start_kind(regex_automata::dfa::StartKind::Anchored)
                .match_kind(MatchKind::LeftmostFirst)
                .minimize(true)
                .dfa_size_limit(limit)
                .determinize_size_limit(limit),
        )
        .build_from_nfa(&nfa)
        .map_err(group_error)?;
    Ok(BuiltGroup {
        patterns: inputs.iter().map(|(_, origin)| *origin).collect(),
        forward: serialize_dfa(&dfa),
        reverse: None,
    })
}

fn push_group(
    matcher: &mut CompiledMatcher,
    blobs: &mut Vec<Vec<u8>>,
    sizes: &mut Vec<GroupSize>,
    policy: usize,
    rule: usize,
    built: BuiltGroup,
) {
    sizes.push(GroupSize {
        policy,
        rule,
        patterns: built.patterns.len(),
        forward_bytes: built.forward.len(),
        reverse_bytes: built.reverse.as_ref().map_or(0, Vec::len),
        anchored: built.reverse.is_none(),
    });
    let forward = index(blobs.len());
    blobs.push(built.forward);
    let search = match built.reverse {
        Some(reverse_bytes) => {
            let reverse = index(blobs.len());
            blobs.push(reverse_bytes);
            GroupSearch::Unanchored { reverse }
        }
        None => GroupSearch::AnchoredAtCandidates,
    };
    matcher.regex_groups.push(CompiledRegexGroup {
        patterns: built.patterns,
        forward,
        search,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_around_is_unsupported_with_a_span() {
        let err = check_regex("a(?=b)", false).unwrap_err();
        assert_eq!(err.kind, RegexErrorKind::Unsupported);
        assert_eq!(err.span, Some(1..4));
    }

    #[test]
    fn unicode_word_boundary_points_at_the_escape() {
        let err = check_regex(r"x\bfoo", false).unwrap_err();
        assert_eq!(err.kind, RegexErrorKind::UnicodeWordBoundary);
        assert_eq!(err.span, Some(1..3));
        assert!(check_regex(r"(?-u:\b)foo", false).is_ok());
    }

    #[test]
    fn ascii_folding_is_enough_for_cjk_but_not_cyrillic() {
        assert!(ascii_folding_suffices("账号 Account"));
        assert!(!ascii_folding_suffices("пароль"));
    }
}
