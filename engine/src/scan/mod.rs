//! Searching extracted text with the patterns of a policy's rules: a deny's, an escalation's
//! `when`.
//!
//! Per policy and text view there is one keyword automaton for exact and ASCII-case-folded
//! keywords, so all keywords of a policy cost one pass over the text. Regexes run as the DFA
//! groups the compiler built, per rule in file order. An enforced deny decides the verdict, so
//! among those only the earliest rule's hit is wanted and a rule after it is not searched; every
//! other rule with patterns (a monitored deny, an escalation's `when`) is searched whatever its
//! position, since its hit is recorded or asks a judge and does not end the evaluation.
//!
//! A rule with `whole words`, `validate` or `except` filters its candidates (see [`filter`]):
//! a rejected candidate never hides a later one, so its regexes are searched for the standard
//! leftmost-first matches one after another, where a rule without filters needs only to know
//! that, and where, something matched (the earliest end, then a reverse search for the start).
//!
//! `load` builds the scanners from the parts of a validated bundle (see [`crate::validate`]),
//! `search` runs them, and `separators` makes the texts that let a keyword's space match any
//! run of separators and a regex's `\s` match a removed invisible run.
//!
//! The DFAs are generic over their storage, as regex-automata's `dense::DFA<T: AsRef<[u32]>>`
//! is: `&'static [u32]` when they are searched in place in a `'static` bundle, `Vec<u32>` when
//! they were copied into aligned memory. One ruleset has one storage ([`Scanners`]), so every
//! search path is written once and the DFA transitions stay plain slice reads.

use std::ops::Range;
use std::sync::OnceLock;

use aho_corasick::AhoCorasick;
use regex_automata::dfa::dense;

mod filter;
#[cfg(test)]
mod filter_tests;
mod load;
mod search;
mod separators;
mod sieve;

pub(crate) use load::{load, FilterParts, ScannerParts};
pub(crate) use separators::collapse_stable;
#[cfg_attr(
    not(feature = "build"),
    allow(
        unused_imports,
        reason = "only the compiler uses it: it writes the mark into patterns"
    )
)]
pub(crate) use separators::MARK;

use crate::ir::Side;
use crate::validators::Validator;
use crate::wire::{LoadError, PatternRef};

/// One place where a rule's patterns matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// Index of the rule in its policy.
    pub rule: usize,
    pub pattern: PatternRef,
    /// Index of the text segment.
    pub segment: usize,
    /// Byte range in the segment's text.
    pub span: Range<usize>,
}

/// Loads the DFA at blob `index`: in place when the bundle is `'static` and aligned, else from
/// an aligned copy. The loader validates it (see [`crate::validate`]).
pub(crate) type DfaLoader<'a, S> = dyn Fn(u32) -> Result<dense::DFA<S>, LoadError> + 'a;

#[derive(Debug)]
pub(crate) struct DfaGroup<S: AsRef<[u32]>> {
    patterns: Vec<PatternRef>,
    forward: dense::DFA<S>,
    search: Search<S>,
    /// The screen units of the group's view (see [`PolicyScanner::units`]) that screen its
    /// patterns: a segment that passed none of them holds no match of the group. `None`: it
    /// runs on every segment (its view has no screens, or one of its patterns none).
    gate: Option<Box<[u32]>>,
    /// The longest match of the group's patterns in text without marks (bytes), when bounded.
    max_len: Option<usize>,
    /// Every unit of `gate` is literals: a match then holds one of the literals found, and the
    /// group can run on windows around them.
    literal_gate: bool,
}

#[allow(
    clippy::large_enum_variant,
    reason = "one per DFA group, built once at load"
)]
#[derive(Debug)]
enum Search<S: AsRef<[u32]>> {
    /// The forward DFA is unanchored; this anchored reverse DFA finds where a match starts.
    Unanchored { reverse: dense::DFA<S> },
    /// The forward DFA is anchored and runs from each position whose byte is in `starts`.
    AnchoredAtCandidates { starts: Box<[bool; 256]> },
}

#[derive(Debug)]
struct RuleRegexes<S: AsRef<[u32]>> {
    rule: usize,
    /// Searches the normalised text (the default) rather than the text as sent.
    normalized: bool,
    groups: Vec<DfaGroup<S>>,
}

#[derive(Debug)]
struct KeywordSet {
    normalized: bool,
    automaton: AhoCorasick,
    /// Automaton pattern id → (rule, keyword index in the rule). Ids past the end are the
    /// view's screen literals.
    sites: Vec<(usize, u32)>,
    /// Automaton pattern id → the keyword must match exactly: the automaton folds ASCII case for
    /// all keywords (one pass for a policy's exact and `ignore case` keywords), so a match of an
    /// exact keyword is checked against its bytes. Empty when no keyword needs the check.
    exact: Vec<Option<Box<[u8]>>>,
    /// The automaton holds its patterns in ASCII lowercase and searches text lowered the same
    /// way ([`KeywordSet::haystack`]), rather than folding case itself: aho-corasick's own ASCII
    /// case folding builds several times slower (a 20,000-keyword dictionary: most of its load)
    /// and searches slower, and lowering a text costs a copy. Match offsets are the same in both.
    lowercase: bool,
    /// Where a pattern may start ([`sieve`]); `None` where the automaton's own prefilter is
    /// better (one pattern: a substring search) or nothing can be skipped.
    sieve: Option<sieve::Sieve>,
    /// Automaton pattern id − `sites.len()` → the screen units that screen literal is part of.
    literal_units: Vec<Box<[u32]>>,
    /// The longest pattern, in bytes: a match starting at a sieve candidate ends within it.
    max_pattern_len: usize,
}

/// The normalised view's keywords with spaces, without their spaces, for the joined text (see
/// [`separators`]).
#[derive(Debug)]
struct JoinedKeywords {
    /// The keywords without their spaces, exact ones then folded ones: (keyword, rule, keyword
    /// index, exact).
    entries: Vec<(String, usize, u32, bool)>,
    /// Automaton pattern id → the keyword with its spaces, to confirm a match.
    keywords: Vec<Box<str>>,
    /// Their automaton, built on the first segment with marks: most texts have none, and for a
    /// dictionary of thousands of such keywords it would add a quarter to the load. `None` when
    /// it could not be built (aho-corasick refuses only pattern sets too large for its state
    /// ids, and the view's own automaton, a superset, was built).
    set: OnceLock<Option<KeywordSet>>,
}

/// A screen DFA of a policy's text view: no match means no DFA group it screens can match.
#[derive(Debug)]
struct Screen<S: AsRef<[u32]>> {
    normalized: bool,
    dfa: dense::DFA<S>,
    /// Its screen unit (see [`PolicyScanner::units`]).
    unit: u32,
}

/// What the scanner needs to know of a rule beyond its patterns.
#[derive(Debug)]
struct RuleInfo<S: AsRef<[u32]>> {
    /// An enforced deny: its hit denies the request, so with [`Want::First`] no later decisive
    /// rule needs searching.
    decisive: bool,
    /// `on response`: searched in answers, never in requests (and the other rules never in
    /// answers).
    response: bool,
    /// What a candidate match must pass; `None` when every candidate counts.
    filter: Option<Box<RuleFilter<S>>>,
}

/// The checks of a rule with `whole words`, `validate` or `except` (see [`filter`]).
#[derive(Debug)]
struct RuleFilter<S: AsRef<[u32]>> {
    /// The rule searches the normalised text; its exceptions search the same view.
    normalized: bool,
    whole_words: bool,
    validator: Option<Validator>,
    except: Exceptions<S>,
}

/// A rule's `except` patterns, searched only in segments where the rule had a candidate.
#[derive(Debug)]
struct Exceptions<S: AsRef<[u32]>> {
    /// The exception keywords ASCII folding can match (folded with `ignore case`); `None` when
    /// there are none.
    keywords: Option<AhoCorasick>,
    /// Some exception keyword has a space, which matches any run of white space.
    spaced: bool,
    /// The exception regexes, and keywords that need Unicode case folding.
    groups: Vec<DfaGroup<S>>,
}

impl<S: AsRef<[u32]>> Exceptions<S> {
    fn is_empty(&self) -> bool {
        self.keywords.is_none() && self.groups.is_empty()
    }
}

/// Everything needed to scan text for one policy.
#[derive(Debug)]
pub(crate) struct PolicyScanner<S: AsRef<[u32]>> {
    /// Every rule of the policy, by index.
    rules: Vec<RuleInfo<S>>,
    /// At most two: on normalised or raw text.
    keyword_sets: Vec<KeywordSet>,
    /// In rule order.
    regexes: Vec<RuleRegexes<S>>,
    /// The view's screen DFAs; a segment runs only the DFA groups whose screens it passed.
    screens: Vec<Screen<S>>,
    /// Per view (as sent, normalised), how many screen units it has: one per pattern screened
    /// by literals, one per screen DFA. Zero: the view is not screened, and every DFA group
    /// runs on every segment.
    units: [usize; 2],
    /// For segments whose separators are not all single spaces.
    joined: Option<JoinedKeywords>,
    /// The longest reach of the policy's `on response` rules, 0 without any: how much of a
    /// streamed answer's text could still be the start of a match.
    response_reach: usize,
}

/// The scanners of every policy of a ruleset, in policy order, over the one DFA storage the
/// ruleset was loaded with: the choice between them is made here, once per scan, and not per
/// DFA or per byte.
#[derive(Debug)]
pub(crate) enum Scanners {
    /// DFAs copied into aligned memory (`Ruleset::from_bytes`; feature `copy`).
    #[cfg(feature = "copy")]
    Copied(Vec<PolicyScanner<Vec<u32>>>),
    /// DFAs searched in place in a `'static`, aligned bundle (`Ruleset::from_static`).
    InPlace(Vec<PolicyScanner<&'static [u32]>>),
}

impl Scanners {
    /// The longest reach of policy `policy`'s `on response` rules (0: it has none).
    pub(crate) fn response_reach(&self, policy: usize) -> usize {
        match self {
            #[cfg(feature = "copy")]
            Scanners::Copied(scanners) => scanners.get(policy).map_or(0, |s| s.response_reach),
            Scanners::InPlace(scanners) => scanners.get(policy).map_or(0, |s| s.response_reach),
        }
    }

    /// The hits of policy `policy` in the texts (see [`PolicyScanner::scan`]) of the rules of
    /// one side, a request's or (`on response`) an answer's; none for a policy without a
    /// scanner.
    pub(crate) fn scan(&self, policy: usize, texts: &[&str], want: Want, side: Side) -> Vec<Hit> {
        let hits = match self {
            #[cfg(feature = "copy")]
            Scanners::Copied(scanners) => scanners.get(policy).map(|s| s.scan(texts, want, side)),
            Scanners::InPlace(scanners) => scanners.get(policy).map(|s| s.scan(texts, want, side)),
        };
        hits.unwrap_or_default()
    }
}

/// How much to find. Either way the hits are sorted by rule, at most one per rule, and a hit is
/// the first candidate of its rule that passed the rule's filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Want {
    /// For a verdict: the hit of the earliest decisive rule (an enforced deny), and the hit of
    /// every other rule with patterns (monitored denies, escalations' `when`), whatever its
    /// position.
    First,
    /// The first hit of every rule that matches, for `explain`.
    Every,
    /// The first hit of every pattern of every rule that the search reports (keywords' matches
    /// overlapping, regexes' leftmost-first one after another), for coverage by pattern.
    Patterns,
    /// Every hit of every rule, found as [`Want::Patterns`] finds them, sorted by rule, segment
    /// and position: what a mask rule replaces.
    All,
}
