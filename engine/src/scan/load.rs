//! Building the scanners of a validated bundle: the keyword automata (aho-corasick cannot be
//! serialised, so they are built here, once per load) and the search structures around the
//! DFAs that [`crate::validate`] loaded and checked.

use std::sync::OnceLock;

use aho_corasick::{AhoCorasickBuilder, AhoCorasickKind, MatchKind as AcMatchKind, StartKind};
use regex_automata::dfa::{dense, Automaton};
use regex_automata::Anchored;

use super::sieve::Sieve;
use super::{
    DfaGroup, Exceptions, JoinedKeywords, KeywordSet, PolicyScanner, RuleFilter, RuleInfo,
    RuleRegexes, Screen, Search,
};
use crate::validators::Validator;
use crate::wire::{LoadError, PatternRef};

/// Builds the scanner of every policy from its validated parts, in policy order. The only
/// failure left is an automaton aho-corasick cannot build (a pattern set too large for its
/// state ids).
pub(crate) fn load<S: AsRef<[u32]>>(
    parts: Vec<ScannerParts<S>>,
) -> Result<Vec<PolicyScanner<S>>, LoadError> {
    parts.into_iter().map(ScannerParts::finish).collect()
}

/// One policy's validated parts, gathered while the bundle is checked.
#[derive(Debug)]
pub(crate) struct ScannerParts<S: AsRef<[u32]>> {
    /// Keyword entries (text, rule, keyword index) by (ASCII-folded, normalised).
    keywords: [Vec<(String, usize, u32)>; 4],
    regexes: Vec<RuleRegexes<S>>,
    screens: Vec<Screen<S>>,
    /// Screen literals per view (as sent, normalised), each with its screen unit.
    screen_literals: [Vec<(Vec<u8>, u32)>; 2],
    /// Per view, the patterns each screen unit screens: (rule index, the rule's pattern).
    units: [Vec<Vec<(usize, PatternRef)>>; 2],
    /// Per rule of the policy, whether it is decisive (an enforced deny) and whether it
    /// searches answers (`on response`).
    decisive: Vec<(bool, bool)>,
    /// The filters of the rules that have them, by rule index.
    filters: Vec<(usize, FilterParts<S>)>,
    /// The longest reach of the policy's `on response` rules (0: none).
    response_reach: usize,
}

/// A rule's `whole words`, `validate` and `except`, as the bundle gives them: the exception
/// automaton is built on load.
#[derive(Debug)]
pub(crate) struct FilterParts<S: AsRef<[u32]>> {
    pub normalized: bool,
    pub ignore_case: bool,
    pub whole_words: bool,
    pub validator: Option<Validator>,
    /// The exception keywords for the automaton, as they are searched (normalised when the rule
    /// searches the normalised text).
    pub except_keywords: Vec<String>,
    pub except_groups: Vec<DfaGroup<S>>,
}

impl<S: AsRef<[u32]>> Default for ScannerParts<S> {
    fn default() -> Self {
        ScannerParts {
            keywords: Default::default(),
            regexes: Vec::new(),
            screens: Vec::new(),
            screen_literals: Default::default(),
            units: Default::default(),
            decisive: Vec::new(),
            filters: Vec::new(),
            response_reach: 0,
        }
    }
}

fn set_slot(fold: bool, normalized: bool) -> usize {
    usize::from(fold) * 2 + usize::from(normalized)
}

impl<S: AsRef<[u32]>> ScannerParts<S> {
    /// A keyword of rule `rule` (its keyword `k`) for the automaton, as it is searched:
    /// normalised when the rule searches the normalised text.
    pub(crate) fn keyword(
        &mut self,
        keyword: String,
        rule: usize,
        k: u32,
        fold: bool,
        normalized: bool,
    ) {
        if let Some(list) = self.keywords.get_mut(set_slot(fold, normalized)) {
            list.push((keyword, rule, k));
        }
    }

    /// The DFA groups of rule `rule`, in order; a rule without groups has nothing to add.
    pub(crate) fn rule(&mut self, rule: usize, normalized: bool, groups: Vec<DfaGroup<S>>) {
        if !groups.is_empty() {
            self.regexes.push(RuleRegexes {
                rule,
                normalized,
                groups,
            });
        }
    }

    /// The next rule of the policy (rules come in order): whether its hit decides the verdict.
    /// An `on response` rule's reach (see `CompiledMatcher::reach`).
    pub(crate) fn response_reach(&mut self, reach: usize) {
        self.response_reach = self.response_reach.max(reach);
    }

    pub(crate) fn rule_kind(&mut self, decisive: bool, response: bool) {
        self.decisive.push((decisive, response));
    }

    /// The filters of rule `rule`.
    pub(crate) fn filter(&mut self, rule: usize, filter: FilterParts<S>) {
        self.filters.push((rule, filter));
    }

    /// Screen literals of a view, which screen the patterns `screened`: one screen unit. They
    /// join the view's keyword automaton.
    pub(crate) fn screen_literals(
        &mut self,
        normalized: bool,
        literals: &[Vec<u8>],
        screened: Vec<(usize, PatternRef)>,
    ) {
        let unit = self.unit(normalized, screened);
        if let Some(list) = self.screen_literals.get_mut(usize::from(normalized)) {
            list.extend(literals.iter().map(|literal| (literal.clone(), unit)));
        }
    }

    /// A screen DFA of a view, which screens the patterns `screened`: one screen unit.
    pub(crate) fn screen_dfa(
        &mut self,
        normalized: bool,
        dfa: dense::DFA<S>,
        screened: Vec<(usize, PatternRef)>,
    ) {
        let unit = self.unit(normalized, screened);
        self.screens.push(Screen {
            normalized,
            dfa,
            unit,
        });
    }

    /// A new screen unit of a view.
    fn unit(&mut self, normalized: bool, screened: Vec<(usize, PatternRef)>) -> u32 {
        match self.units.get_mut(usize::from(normalized)) {
            Some(units) => {
                units.push(screened);
                u32::try_from(units.len() - 1).unwrap_or(u32::MAX)
            }
            None => u32::MAX,
        }
    }
}

impl<S: AsRef<[u32]>> DfaGroup<S> {
    /// A group searched by an unanchored forward DFA and an anchored reverse one.
    pub(crate) fn unanchored(
        patterns: Vec<PatternRef>,
        forward: dense::DFA<S>,
        reverse: dense::DFA<S>,
        max_len: Option<usize>,
    ) -> DfaGroup<S> {
        DfaGroup {
            patterns,
            forward,
            search: Search::Unanchored { reverse },
            gate: None,
            max_len,
            literal_gate: false,
        }
    }

    /// A group whose anchored DFA runs from each position whose byte can begin a match.
    pub(crate) fn anchored_at_candidates(
        patterns: Vec<PatternRef>,
        forward: dense::DFA<S>,
        max_len: Option<usize>,
    ) -> DfaGroup<S> {
        let starts = start_bytes(&forward);
        DfaGroup {
            patterns,
            forward,
            search: Search::AnchoredAtCandidates { starts },
            gate: None,
            max_len,
            literal_gate: false,
        }
    }
}

/// Every byte that can begin a match of an anchored DFA, over every look-behind context.
fn start_bytes<A: Automaton>(dfa: &A) -> Box<[bool; 256]> {
    let mut starts = Box::new([false; 256]);
    let contexts = std::iter::once(None).chain((0..=255u8).map(Some));
    // Most look-behind bytes give the same start state (it depends on the byte's class only):
    // each distinct one is walked once, which keeps loading a bundle with anchored DFAs quick.
    let mut walked = Vec::new();
    for look_behind in contexts {
        let config = regex_automata::util::start::Config::new()
            .anchored(Anchored::Yes)
            .look_behind(look_behind);
        let Ok(start) = dfa.start_state(&config) else {
            // A context the DFA cannot start in: fail closed by trying every position.
            return Box::new([true; 256]);
        };
        if dfa.is_match_state(start) {
            return Box::new([true; 256]);
        }
        if walked.contains(&start) {
            continue;
        }
        walked.push(start);
        for (byte, slot) in (0..=255u8).zip(starts.iter_mut()) {
            if !*slot && !dfa.is_dead_state(dfa.next_state(start, byte)) {
                *slot = true;
            }
        }
    }
    starts
}

impl JoinedKeywords {
    pub(super) fn set(&self) -> Option<&KeywordSet> {
        self.set
            .get_or_init(|| {
                let part = |exact: bool| -> Vec<(String, usize, u32)> {
                    self.entries
                        .iter()
                        .filter(|entry| entry.3 == exact)
                        .map(|(keyword, rule, k, _)| (keyword.clone(), *rule, *k))
                        .collect()
                };
                // Searched only in text with removed invisible runs, which is rare: the
                // automaton that is quickest to build.
                keyword_set(
                    part(true),
                    part(false),
                    Vec::new(),
                    true,
                    Some(AhoCorasickKind::NoncontiguousNFA),
                )
                .ok()
                .flatten()
            })
            .as_ref()
    }

    /// The earliest rule with a keyword here.
    pub(super) fn first_rule(&self) -> Option<(usize, u32)> {
        self.entries.iter().map(|(_, rule, k, _)| (*rule, *k)).min()
    }
}

impl<S: AsRef<[u32]>> ScannerParts<S> {
    fn finish(self) -> Result<PolicyScanner<S>, LoadError> {
        let mut keyword_sets = Vec::new();
        let [exact_raw, exact_normalized, folded_raw, folded_normalized] = self.keywords;
        let joined = joined_keywords(&exact_normalized, &folded_normalized);
        let [literals_raw, literals_normalized] = self.screen_literals;
        for (normalized, exact, folded, literals) in [
            (false, exact_raw, folded_raw, literals_raw),
            (
                true,
                exact_normalized,
                folded_normalized,
                literals_normalized,
            ),
        ] {
            let (literals, literal_units) = distinct_literals(literals);
            if let Some(mut set) = keyword_set(exact, folded, literals, normalized, None)? {
                set.literal_units = literal_units;
                keyword_sets.push(set);
            }
        }
        // Per view, the units that are screen DFAs (the others are literals).
        let dfa_units: [Vec<u32>; 2] = [false, true].map(|normalized| {
            self.screens
                .iter()
                .filter(|screen| screen.normalized == normalized)
                .map(|screen| screen.unit)
                .collect()
        });
        let mut regexes = self.regexes;
        for rule in &mut regexes {
            let view = usize::from(rule.normalized);
            let (Some(units), Some(dfa_units)) = (self.units.get(view), dfa_units.get(view)) else {
                continue;
            };
            for group in &mut rule.groups {
                group.gate = gate(units, rule.rule, &group.patterns);
                group.literal_gate = group
                    .gate
                    .as_ref()
                    .is_some_and(|gate| gate.iter().all(|unit| !dfa_units.contains(unit)));
            }
        }
        let mut rules: Vec<RuleInfo<S>> = self
            .decisive
            .into_iter()
            .map(|(decisive, response)| RuleInfo {
                decisive,
                response,
                filter: None,
            })
            .collect();
        for (rule, parts) in self.filters {
            let filter = parts.finish()?;
            if let Some(info) = rules.get_mut(rule) {
                info.filter = Some(Box::new(filter));
            }
        }
        Ok(PolicyScanner {
            rules,
            keyword_sets,
            regexes,
            screens: self.screens,
            units: self.units.each_ref().map(Vec::len),
            joined,
            response_reach: self.response_reach,
        })
    }
}

impl<S: AsRef<[u32]>> FilterParts<S> {
    fn finish(self) -> Result<RuleFilter<S>, LoadError> {
        let spaced = self.except_keywords.iter().any(|k| k.contains(' '));
        let keywords = if self.except_keywords.is_empty() {
            None
        } else {
            // Every occurrence of an exception counts (overlapping ones too): a candidate inside
            // any of them is excused.
            let automaton = AhoCorasickBuilder::new()
                .match_kind(AcMatchKind::Standard)
                .ascii_case_insensitive(self.ignore_case)
                // A slice of byte strings, as the policy's automaton is built from: one
                // instantiation of the builder in the filter's module.
                .build(
                    self.except_keywords
                        .iter()
                        .map(String::as_bytes)
                        .collect::<Vec<&[u8]>>(),
                )
                .map_err(|e| LoadError::Keywords(e.to_string()))?;
            Some(automaton)
        };
        Ok(RuleFilter {
            normalized: self.normalized,
            whole_words: self.whole_words,
            validator: self.validator,
            except: Exceptions {
                keywords,
                spaced,
                groups: self.except_groups,
            },
        })
    }
}

/// The automaton of the normalised keywords that have a space, spaces removed.
fn joined_keywords(
    exact: &[(String, usize, u32)],
    folded: &[(String, usize, u32)],
) -> Option<JoinedKeywords> {
    // A keyword of spaces only has nothing to find in the joined text; the automaton's pass
    // finds it where the text has exactly those spaces.
    let spaced = |keyword: &str| keyword.contains(' ') && keyword.bytes().any(|b| b != b' ');
    // In the automaton's pattern order: exact keywords, then folded ones.
    let all = exact
        .iter()
        .map(|entry| (entry, true))
        .chain(folded.iter().map(|entry| (entry, false)))
        .filter(|((keyword, _, _), _)| spaced(keyword));
    let mut entries = Vec::new();
    let mut keywords = Vec::new();
    for ((keyword, rule, k), is_exact) in all {
        entries.push((keyword.replace(' ', ""), *rule, *k, is_exact));
        keywords.push(keyword.as_str().into());
    }
    (!entries.is_empty()).then(|| JoinedKeywords {
        entries,
        keywords,
        set: OnceLock::new(),
    })
}

/// One automaton for a view's exact and ASCII-folded keywords and its screen literals: folded
/// when any keyword is, with exact keywords checked on match (see [`KeywordSet::exact`]). A
/// screen literal matched with its case folded is still a sound screen: it passes more text.
pub(super) fn keyword_set(
    exact: Vec<(String, usize, u32)>,
    folded: Vec<(String, usize, u32)>,
    literals: Vec<Vec<u8>>,
    normalized: bool,
    kind: Option<AhoCorasickKind>,
) -> Result<Option<KeywordSet>, LoadError> {
    if exact.is_empty() && folded.is_empty() && literals.is_empty() {
        return Ok(None);
    }
    let fold = !folded.is_empty();
    let check = fold && !exact.is_empty();
    let entries: Vec<(String, usize, u32, bool)> = exact
        .into_iter()
        .map(|(keyword, rule, k)| (keyword, rule, k, true))
        .chain(
            folded
                .into_iter()
                .map(|(keyword, rule, k)| (keyword, rule, k, false)),
        )
        .collect();
    // Folded, the patterns are lowered and the text is lowered before it is searched (see
    // `KeywordSet::lowercase`).
    let lowered: Vec<Vec<u8>> = if fold {
        entries
            .iter()
            .map(|(k, _, _, _)| k.as_bytes())
            .chain(literals.iter().map(Vec::as_slice))
            .map(<[u8]>::to_ascii_lowercase)
            .collect()
    } else {
        Vec::new()
    };
    // A slice, not a chained iterator: built from `Chain`, the same patterns gave an automaton
    // that searched the dictionary policy at half the speed (measured, 290 vs 157 MiB/s).
    let patterns: Vec<&[u8]> = if fold {
        lowered.iter().map(Vec::as_slice).collect()
    } else {
        let mut patterns: Vec<&[u8]> = entries.iter().map(|(k, _, _, _)| k.as_bytes()).collect();
        patterns.extend(literals.iter().map(Vec::as_slice));
        patterns
    };
    let max_pattern_len = patterns.iter().map(|p| p.len()).max().unwrap_or(0);
    // Past one pattern, the sieve finds where one may start and an anchored search confirms it.
    let sieve = if patterns.len() > 1 {
        Sieve::new(&patterns)
    } else {
        None
    };
    let automaton = AhoCorasickBuilder::new()
        .match_kind(AcMatchKind::Standard)
        .kind(kind)
        .start_kind(if sieve.is_some() {
            StartKind::Both
        } else {
            StartKind::Unanchored
        })
        .build(patterns)
        .map_err(|e| LoadError::Keywords(e.to_string()))?;
    let exact = if check {
        entries
            .iter()
            .map(|(keyword, _, _, exact)| exact.then(|| keyword.as_bytes().into()))
            .collect()
    } else {
        Vec::new()
    };
    let sites = entries
        .into_iter()
        .map(|(_, rule, k, _)| (rule, k))
        .collect();
    Ok(Some(KeywordSet {
        normalized,
        automaton,
        sites,
        exact,
        lowercase: fold,
        sieve,
        literal_units: Vec::new(),
        max_pattern_len,
    }))
}

/// A view's screen literals, each once, with the screen units each belongs to: patterns share
/// literals (two digits start many numbers), and the automaton needs each only once.
fn distinct_literals(mut literals: Vec<(Vec<u8>, u32)>) -> (Vec<Vec<u8>>, Vec<Box<[u32]>>) {
    literals.sort_unstable();
    let mut distinct: Vec<Vec<u8>> = Vec::new();
    let mut units: Vec<Vec<u32>> = Vec::new();
    for (literal, unit) in literals {
        match (distinct.last(), units.last_mut()) {
            (Some(last), Some(owners)) if *last == literal => {
                if owners.last() != Some(&unit) {
                    owners.push(unit);
                }
            }
            _ => {
                distinct.push(literal);
                units.push(vec![unit]);
            }
        }
    }
    (
        distinct,
        units.into_iter().map(Vec::into_boxed_slice).collect(),
    )
}

/// The screen units of a view that screen the patterns of one DFA group of rule `rule`, or
/// `None` (run on every segment) when the view has no screens or a pattern has no unit: a
/// group is skipped only where every one of its patterns was screened out.
fn gate(
    units: &[Vec<(usize, PatternRef)>],
    rule: usize,
    patterns: &[PatternRef],
) -> Option<Box<[u32]>> {
    if units.is_empty() {
        return None;
    }
    let mut gate = Vec::new();
    for &pattern in patterns {
        let mut screened = false;
        for (unit, screened_patterns) in units.iter().enumerate() {
            if screened_patterns.contains(&(rule, pattern)) {
                screened = true;
                gate.push(u32::try_from(unit).unwrap_or(u32::MAX));
            }
        }
        if !screened {
            return None;
        }
    }
    gate.sort_unstable();
    gate.dedup();
    Some(gate.into_boxed_slice())
}
