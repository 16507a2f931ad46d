//! Searching extracted text with a policy's deny rules.
//!
//! Per policy there is one keyword automaton for exact keywords and one for ASCII-case-folded
//! keywords, so all keywords of a policy cost one pass over the text. Regexes run as the DFA
//! groups the compiler built, per rule in file order, and only for rules earlier than the
//! earliest keyword hit: the verdict reports the earliest rule in file order.

use std::ops::Range;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind as AcMatchKind};
use regex_automata::dfa::{dense, Automaton, StartKind};
use regex_automata::{Anchored, Input};

use crate::ir::{Program, RuleAction};
use crate::wire::{CompiledMatcher, Decoded, LoadError, PatternRef};

/// One place where a deny rule matched.
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

/// A DFA searched in place in a `'static` bundle, or from an aligned copy.
#[derive(Debug)]
enum Dfa {
    Owned(dense::DFA<Vec<u32>>),
    Borrowed(dense::DFA<&'static [u32]>),
}

#[derive(Debug)]
struct DfaGroup {
    patterns: Vec<PatternRef>,
    forward: Dfa,
    reverse: Dfa,
}

#[derive(Debug)]
struct RuleRegexes {
    rule: usize,
    groups: Vec<DfaGroup>,
}

#[derive(Debug)]
struct KeywordSet {
    automaton: AhoCorasick,
    /// Automaton pattern id → (rule, keyword index in the rule).
    sites: Vec<(usize, u32)>,
}

/// Everything needed to scan text for one policy.
#[derive(Debug, Default)]
pub(crate) struct PolicyScanner {
    exact: Option<KeywordSet>,
    folded: Option<KeywordSet>,
    /// In rule order.
    regexes: Vec<RuleRegexes>,
}

/// How much to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Want {
    /// Only the hit of the earliest rule, for a verdict.
    First,
    /// The first hit of every rule that matches, for `explain`.
    Every,
}

/// Loads the DFA at blob `index`, in place when the bundle is `'static` and aligned.
pub(crate) type DfaLoader<'a> = dyn Fn(u32) -> Result<LoadedDfa, LoadError> + 'a;

/// A loaded DFA, opaque outside this module.
#[derive(Debug)]
pub(crate) struct LoadedDfa(Dfa);

pub(crate) fn load_owned(bytes: &[u8], index: u32) -> Result<LoadedDfa, LoadError> {
    // `from_bytes` needs u32 alignment; an arbitrary byte slice may not have it.
    let mut buffer = vec![0u8; bytes.len() + 3];
    let offset = buffer.as_ptr().align_offset(4).min(3);
    let aligned = buffer
        .get_mut(offset..offset + bytes.len())
        .ok_or_else(|| dfa_error(index, "alignment".into()))?;
    aligned.copy_from_slice(bytes);
    let (dfa, _) = dense::DFA::from_bytes(aligned).map_err(|e| dfa_error(index, e.to_string()))?;
    Ok(LoadedDfa(Dfa::Owned(dfa.to_owned())))
}

pub(crate) fn load_static(bytes: &'static [u8], index: u32) -> Result<LoadedDfa, LoadError> {
    if bytes.as_ptr().align_offset(4) != 0 {
        return load_owned(bytes, index);
    }
    let (dfa, _) = dense::DFA::from_bytes(bytes).map_err(|e| dfa_error(index, e.to_string()))?;
    Ok(LoadedDfa(Dfa::Borrowed(dfa)))
}

fn dfa_error(index: u32, message: String) -> LoadError {
    LoadError::Dfa {
        index: index as usize,
        message,
    }
}

/// Builds the scanners of every policy, checking the matchers against the program.
pub(crate) fn load(
    decoded: &Decoded<'_>,
    load_dfa: &DfaLoader<'_>,
) -> Result<Vec<PolicyScanner>, LoadError> {
    let program: &Program = &decoded.meta.program;
    let mut builders: Vec<ScannerParts> = program.policies.iter().map(|_| ScannerParts::default()).collect();

    let deny_rules: Vec<(usize, usize)> = program
        .policies
        .iter()
        .enumerate()
        .flat_map(|(p, policy)| {
            policy
                .rules
                .iter()
                .enumerate()
                .filter(|(_, rule)| matches!(rule.action, RuleAction::Deny(_)))
                .map(move |(r, _)| (p, r))
        })
        .collect();
    let matchers = &decoded.meta.matchers;
    if matchers.len() != deny_rules.len() {
        return Err(LoadError::Invalid(format!(
            "{} matchers for {} deny rules",
            matchers.len(),
            deny_rules.len()
        )));
    }
    for (matcher, &(p, r)) in matchers.iter().zip(&deny_rules) {
        if (matcher.policy as usize, matcher.rule as usize) != (p, r) {
            return Err(LoadError::Invalid("matchers are out of order".into()));
        }
        let parts = builders
            .get_mut(p)
            .ok_or_else(|| LoadError::Invalid("matcher policy out of range".into()))?;
        load_matcher(program, matcher, load_dfa, parts)?;
    }
    builders.into_iter().map(ScannerParts::finish).collect()
}

#[derive(Default)]
struct ScannerParts {
    exact: Vec<(String, usize, u32)>,
    folded: Vec<(String, usize, u32)>,
    regexes: Vec<RuleRegexes>,
}

fn load_matcher(
    program: &Program,
    matcher: &CompiledMatcher,
    load_dfa: &DfaLoader<'_>,
    parts: &mut ScannerParts,
) -> Result<(), LoadError> {
    let (p, r) = (matcher.policy as usize, matcher.rule as usize);
    let patterns = match program.policies.get(p).and_then(|policy| policy.rules.get(r)) {
        Some(rule) => match &rule.action {
            RuleAction::Deny(patterns) => patterns,
            RuleAction::Escalate { .. } => {
                return Err(LoadError::Invalid("matcher for an escalate rule".into()))
            }
        },
        None => return Err(LoadError::Invalid("matcher rule out of range".into())),
    };
    let check = |pattern: PatternRef| -> Result<(), LoadError> {
        let ok = match pattern {
            PatternRef::Keyword(k) => (k as usize) < patterns.keywords.len(),
            PatternRef::Regex(x) => (x as usize) < patterns.regexes.len(),
        };
        if ok {
            Ok(())
        } else {
            Err(LoadError::Invalid("pattern reference out of range".into()))
        }
    };
    for &k in &matcher.keywords {
        check(PatternRef::Keyword(k))?;
        let keyword = patterns.keywords.get(k as usize).cloned().unwrap_or_default();
        if keyword.is_empty() {
            return Err(LoadError::Invalid("empty keyword".into()));
        }
        let list = if patterns.ignore_case { &mut parts.folded } else { &mut parts.exact };
        list.push((keyword, r, k));
    }
    let mut groups = Vec::new();
    for group in &matcher.regex_groups {
        for &pattern in &group.patterns {
            check(pattern)?;
        }
        let forward = load_dfa(group.forward)?.0;
        let reverse = load_dfa(group.reverse)?.0;
        let shape_ok = |dfa: &Dfa, start: StartKind| {
            let (len, kind) = match dfa {
                Dfa::Owned(d) => (d.pattern_len(), d.start_kind()),
                Dfa::Borrowed(d) => (d.pattern_len(), d.start_kind()),
            };
            len == group.patterns.len() && (kind == start || kind == StartKind::Both)
        };
        if group.patterns.is_empty()
            || !shape_ok(&forward, StartKind::Unanchored)
            || !shape_ok(&reverse, StartKind::Anchored)
        {
            return Err(LoadError::Invalid("regex group does not fit its DFAs".into()));
        }
        groups.push(DfaGroup {
            patterns: group.patterns.clone(),
            forward,
            reverse,
        });
    }
    if !groups.is_empty() {
        parts.regexes.push(RuleRegexes { rule: r, groups });
    }
    Ok(())
}

impl ScannerParts {
    fn finish(self) -> Result<PolicyScanner, LoadError> {
        Ok(PolicyScanner {
            exact: keyword_set(self.exact, false)?,
            folded: keyword_set(self.folded, true)?,
            regexes: self.regexes,
        })
    }
}

fn keyword_set(entries: Vec<(String, usize, u32)>, fold: bool) -> Result<Option<KeywordSet>, LoadError> {
    if entries.is_empty() {
        return Ok(None);
    }
    let automaton = AhoCorasickBuilder::new()
        .match_kind(AcMatchKind::Standard)
        .ascii_case_insensitive(fold)
        .build(entries.iter().map(|(keyword, _, _)| keyword.as_bytes()))
        .map_err(|e| LoadError::Keywords(e.to_string()))?;
    let sites = entries.into_iter().map(|(_, rule, k)| (rule, k)).collect();
    Ok(Some(KeywordSet { automaton, sites }))
}

impl PolicyScanner {
    /// Finds hits in the texts. With [`Want::First`] the result has at most one hit: that of the
    /// earliest rule in file order.
    pub(crate) fn scan<'t>(&self, texts: impl Iterator<Item = &'t str> + Clone, want: Want) -> Vec<Hit> {
        // best[rule] = first hit of that rule; kept sparse as a sorted vec.
        let mut hits: Vec<Hit> = Vec::new();
        let record = |hit: Hit, hits: &mut Vec<Hit>| match hits.iter().position(|h| h.rule >= hit.rule) {
            Some(i) if hits.get(i).is_some_and(|h| h.rule == hit.rule) => {}
            Some(i) => hits.insert(i, hit),
            None => hits.push(hit),
        };
        let earliest = |hits: &Vec<Hit>| hits.first().map_or(usize::MAX, |h| h.rule);

        for set in [&self.exact, &self.folded].into_iter().flatten() {
            for (segment, text) in texts.clone().enumerate() {
                for m in set.automaton.find_overlapping_iter(text) {
                    let Some(&(rule, k)) = set.sites.get(m.pattern().as_usize()) else {
                        continue;
                    };
                    if want == Want::First && rule >= earliest(&hits) {
                        continue;
                    }
                    record(
                        Hit {
                            rule,
                            pattern: PatternRef::Keyword(k),
                            segment,
                            span: m.start()..m.end(),
                        },
                        &mut hits,
                    );
                }
            }
        }
        for rule in &self.regexes {
            if want == Want::First && rule.rule >= earliest(&hits) {
                break;
            }
            if let Some(hit) = rule.first_hit(texts.clone()) {
                record(hit, &mut hits);
            }
        }
        if want == Want::First {
            hits.truncate(1);
        }
        hits
    }
}

impl RuleRegexes {
    fn first_hit<'t>(&self, texts: impl Iterator<Item = &'t str>) -> Option<Hit> {
        for (segment, text) in texts.enumerate() {
            for group in &self.groups {
                let found = match (&group.forward, &group.reverse) {
                    (Dfa::Owned(f), Dfa::Owned(r)) => find(f, r, text),
                    (Dfa::Borrowed(f), Dfa::Borrowed(r)) => find(f, r, text),
                    (Dfa::Owned(f), Dfa::Borrowed(r)) => find(f, r, text),
                    (Dfa::Borrowed(f), Dfa::Owned(r)) => find(f, r, text),
                };
                if let Some((pattern, span)) = found {
                    let pattern = group
                        .patterns
                        .get(pattern)
                        .or(group.patterns.first())
                        .copied()
                        .unwrap_or(PatternRef::Regex(0));
                    return Some(Hit {
                        rule: self.rule,
                        pattern,
                        segment,
                        span,
                    });
                }
            }
        }
        None
    }
}

/// The earliest match of any pattern of a forward/reverse pair: (DFA pattern id, byte span).
///
/// A search error (which these DFAs, built without quit bytes, do not produce) counts as a match
/// at the start: a text the guard cannot search is not a text it lets through.
fn find<F: Automaton, R: Automaton>(forward: &F, reverse: &R, text: &str) -> Option<(usize, Range<usize>)> {
    let input = Input::new(text).earliest(true);
    let end = match forward.try_search_fwd(&input) {
        Ok(Some(end)) => end,
        Ok(None) => return None,
        Err(_) => return Some((0, 0..0)),
    };
    let rev_input = Input::new(text)
        .range(..end.offset().min(text.len()))
        .anchored(Anchored::Yes)
        .earliest(false);
    let start = match reverse.try_search_rev(&rev_input) {
        Ok(Some(start)) if start.offset() <= end.offset() => start.offset(),
        _ => end.offset(),
    };
    Some((end.pattern().as_usize(), start..end.offset()))
}
