//! What a valid bundle is: every property a loaded bundle is guaranteed to have, checked in one
//! place when it is loaded, before anything searches it.
//!
//! A [`crate::Ruleset`] exists only for a bundle that passed all of these; a bundle that fails
//! one is a [`LoadError`], never a panic. Checked in this order (the first failure is the
//! error), the first group by [`crate::wire::decode`] while the bundle is read:
//!
//! 1. The container: the magic, [`crate::FORMAT_VERSION`], the header size and its zero word,
//!    the regex-automata version stamp, a payload of exactly the stated length (neither
//!    truncated nor followed by trailing bytes), its CRC-32, a meta section inside the payload
//!    that postcard decodes.
//!
//! Then by [`parts`], which also loads the DFAs:
//!
//! 2. Matchers: exactly one per rule with patterns (`RuleAction::patterns`: a deny or mask
//!    rule, an escalate rule with `when`), in (policy, rule) order, so none for an escalate rule without
//!    `when` and none for a rule that does not exist; exception matchers (automaton keywords,
//!    DFA groups) only for a rule with `except`, `whole words` or `validate` (one whose filters
//!    the scanner runs).
//!    The matcher of an `on response` rule has a bounded reach (a stream scanner holds back that
//!    much text).
//! 3. Every pattern a matcher references exists in its rule: its keywords and its groups'
//!    patterns among the rule's patterns, its exception keywords and its exception groups'
//!    patterns among the rule's `except` patterns.
//! 4. Every keyword the keyword automaton searches, and every exception keyword its rule's
//!    exception automaton searches, is non-empty as it is searched (normalised when its rule
//!    searches the normalised text: a keyword of zero-width characters would otherwise match at
//!    every position of every text).
//! 5. Every DFA a group (of a rule or of its exceptions) or screen references is a blob that
//!    exists and lies inside the bundle, deserialises (`DFA::from_bytes` checks every transition
//!    and start state), and has no start state that is a match state ([`check_start_states`]).
//! 6. Every regex group (of a rule or of its exceptions) has patterns, and its DFAs fit it: as many DFA patterns as group
//!    patterns (so a DFA pattern id names a group pattern), an unanchored group's forward DFA
//!    runs unanchored and its reverse DFA anchored, an anchored group's DFA runs anchored.
//! 7. Every screen belongs to a policy that exists and screens at least one pattern, each of a
//!    rule of that policy that searches the screen's view; a literal screen has literals, none
//!    of them empty (it would pass every segment), and a normalised view's literals hold no
//!    white space (its keyword pass may search the collapsed text); a screen DFA has patterns
//!    and runs unanchored.
//!
//! Then the keyword automata are built (`scan::load`; aho-corasick refuses only pattern sets
//! too large for its state ids), and last, by [`program`]:
//!
//! 8. Every escalate rule names a judge that exists, every mask rule with `restore` numbers its
//!    values (`{{ n }}`, so a placeholder in an answer stands for one value), and every header
//!    name a policy sets or removes is a non-empty HTTP token.
//!
//! Code after load relies on these properties, and still reads with `get` rather than
//! indexing: a broken promise is then a wrong answer, never a trap that kills the Wasm VM.

use regex_automata::dfa::{dense, Automaton, StartKind};
use regex_automata::Anchored;

use crate::ir::{HeaderOp, Mode, Program, RuleAction};
use crate::normalize::normalize_keyword;
use crate::scan::{collapse_stable, DfaGroup, DfaLoader, FilterParts, ScannerParts};
use crate::wire::{
    CompiledMatcher, CompiledRegexGroup, CompiledScreen, Decoded, GroupSearch, LoadError,
    PatternRef, ScreenKind,
};

/// Checks properties 2 to 7 (see the module) and gathers each policy's parts, in policy order,
/// with their DFAs loaded by `load_dfa`.
pub(crate) fn parts<S: AsRef<[u32]>>(
    decoded: &Decoded<'_>,
    load_dfa: &DfaLoader<'_, S>,
) -> Result<Vec<ScannerParts<S>>, LoadError> {
    let program: &Program = &decoded.meta.program;
    let mut builders: Vec<ScannerParts<S>> = program
        .policies
        .iter()
        .map(|_| ScannerParts::default())
        .collect();

    for (policy, parts) in program.policies.iter().zip(&mut builders) {
        for rule in &policy.rules {
            let decisive = rule.mode == Mode::Enforce && matches!(rule.action, RuleAction::Deny(_));
            parts.rule_kind(decisive, rule.side() == crate::ir::Side::Response);
        }
    }
    let searched_rules: Vec<(usize, usize)> = program
        .policies
        .iter()
        .enumerate()
        .flat_map(|(p, policy)| {
            policy
                .rules
                .iter()
                .enumerate()
                .filter(|(_, rule)| rule.action.patterns().is_some())
                .map(move |(r, _)| (p, r))
        })
        .collect();
    let matchers = &decoded.meta.matchers;
    if matchers.len() != searched_rules.len() {
        return Err(LoadError::Invalid(format!(
            "{} matchers for {} rules with patterns",
            matchers.len(),
            searched_rules.len()
        )));
    }
    for (matcher, &(p, r)) in matchers.iter().zip(&searched_rules) {
        if (matcher.policy as usize, matcher.rule as usize) != (p, r) {
            return Err(LoadError::Invalid("matchers are out of order".into()));
        }
        let parts = builders
            .get_mut(p)
            .ok_or_else(|| LoadError::Invalid("matcher policy out of range".into()))?;
        let rule = program
            .policies
            .get(p)
            .and_then(|policy| policy.rules.get(r));
        if let Some(rule) = rule.filter(|rule| rule.side() == crate::ir::Side::Response) {
            let reach = matcher.reach.ok_or_else(|| {
                LoadError::Invalid(format!(
                    "rule `{}` on response has patterns of unbounded length",
                    rule.id
                ))
            })?;
            parts.response_reach(reach as usize);
        }
        matcher_parts(program, matcher, load_dfa, parts)?;
    }
    for screen in &decoded.meta.screens {
        let parts = builders
            .get_mut(screen.policy as usize)
            .ok_or_else(|| LoadError::Invalid("screen policy out of range".into()))?;
        let screened = screened_patterns(program, screen)?;
        match &screen.kind {
            ScreenKind::Literals(literals) => {
                // An empty literal would pass every segment; the compiler never writes one.
                if literals.is_empty() || literals.iter().any(Vec::is_empty) {
                    return Err(LoadError::Invalid("empty screen literal".into()));
                }
                // The normalised view's keyword pass may search the collapsed text.
                if screen.normalized && !literals.iter().all(|l| collapse_stable(l)) {
                    return Err(LoadError::Invalid(
                        "screen literal holds white space".into(),
                    ));
                }
                parts.screen_literals(screen.normalized, literals, screened);
            }
            ScreenKind::Dfa { forward } => {
                let dfa = load_dfa(*forward)?;
                if dfa.pattern_len() == 0 || dfa.start_kind() == StartKind::Anchored {
                    return Err(LoadError::Invalid("screen does not fit its policy".into()));
                }
                parts.screen_dfa(screen.normalized, dfa, screened);
            }
        }
    }
    Ok(builders)
}

/// The patterns a screen screens (property 7): at least one, each a pattern of a rule of the
/// screen's policy that searches the screen's view.
fn screened_patterns(
    program: &Program,
    screen: &CompiledScreen,
) -> Result<Vec<(usize, PatternRef)>, LoadError> {
    let invalid = || LoadError::Invalid("screen names a pattern its view does not search".into());
    if screen.screened.is_empty() {
        return Err(LoadError::Invalid("screen screens no pattern".into()));
    }
    let policy = program
        .policies
        .get(screen.policy as usize)
        .ok_or_else(invalid)?;
    screen
        .screened
        .iter()
        .map(|&(r, pattern)| {
            let patterns = policy
                .rules
                .get(r as usize)
                .and_then(|rule| rule.action.patterns())
                .filter(|patterns| patterns.skip_normalization != screen.normalized)
                .ok_or_else(invalid)?;
            let exists = match pattern {
                PatternRef::Keyword(k) => (k as usize) < patterns.keywords.len(),
                PatternRef::Regex(x) => (x as usize) < patterns.regexes.len(),
            };
            if exists {
                Ok((r as usize, pattern))
            } else {
                Err(invalid())
            }
        })
        .collect()
}

/// Checks one matcher against its rule and adds its keywords, DFA groups and filters to the
/// policy's parts.
fn matcher_parts<S: AsRef<[u32]>>(
    program: &Program,
    matcher: &CompiledMatcher,
    load_dfa: &DfaLoader<'_, S>,
    parts: &mut ScannerParts<S>,
) -> Result<(), LoadError> {
    let (p, r) = (matcher.policy as usize, matcher.rule as usize);
    let rule = program
        .policies
        .get(p)
        .and_then(|policy| policy.rules.get(r))
        .ok_or_else(|| LoadError::Invalid("matcher rule out of range".into()))?;
    let patterns = rule
        .action
        .patterns()
        .ok_or_else(|| LoadError::Invalid("matcher for a rule without patterns".into()))?;
    let in_range = |pattern: PatternRef, keywords: &[String], regexes: &[String]| {
        let ok = match pattern {
            PatternRef::Keyword(k) => (k as usize) < keywords.len(),
            PatternRef::Regex(x) => (x as usize) < regexes.len(),
        };
        if ok {
            Ok(())
        } else {
            Err(LoadError::Invalid("pattern reference out of range".into()))
        }
    };
    let own = |pattern: PatternRef| in_range(pattern, &patterns.keywords, &patterns.regexes);
    let except = |pattern: PatternRef| {
        in_range(pattern, &patterns.except.keywords, &patterns.except.regexes)
    };
    let normalized = !patterns.skip_normalization;
    for &k in &matcher.keywords {
        own(PatternRef::Keyword(k))?;
        let keyword = searched_keyword(&patterns.keywords, k, normalized)?;
        parts.keyword(keyword, r, k, patterns.ignore_case, normalized);
    }
    let groups = load_groups(&matcher.regex_groups, &own, load_dfa)?;
    parts.rule(r, normalized, groups);
    let mut except_keywords = Vec::new();
    for &k in &matcher.except_keywords {
        except(PatternRef::Keyword(k))?;
        except_keywords.push(searched_keyword(&patterns.except.keywords, k, normalized)?);
    }
    let except_groups = load_groups(&matcher.except_groups, &except, load_dfa)?;
    if patterns.filters_matches() {
        parts.filter(
            r,
            FilterParts {
                normalized,
                ignore_case: patterns.ignore_case,
                whole_words: patterns.whole_words,
                validator: patterns.validator,
                except_keywords,
                except_groups,
            },
        );
    } else if !except_keywords.is_empty() || !except_groups.is_empty() {
        return Err(LoadError::Invalid(
            "exception matchers for a rule without exceptions".into(),
        ));
    }
    Ok(())
}

/// Keyword `k` of `keywords` as an automaton searches it: normalised like the text it is
/// searched in, white space runs to one space, and never empty.
fn searched_keyword(keywords: &[String], k: u32, normalized: bool) -> Result<String, LoadError> {
    let keyword = keywords.get(k as usize).cloned().unwrap_or_default();
    let keyword = if normalized {
        normalize_keyword(&keyword)
    } else {
        keyword
    };
    // Checked after normalising: a keyword of only zero-width characters would otherwise
    // become empty and match at every position of every text.
    if keyword.is_empty() {
        return Err(LoadError::Invalid("empty keyword".into()));
    }
    Ok(keyword)
}

/// Loads and checks DFA groups (properties 5 and 6); `check` says whether a group pattern
/// exists (property 3).
fn load_groups<S: AsRef<[u32]>>(
    compiled: &[CompiledRegexGroup],
    check: &dyn Fn(PatternRef) -> Result<(), LoadError>,
    load_dfa: &DfaLoader<'_, S>,
) -> Result<Vec<DfaGroup<S>>, LoadError> {
    let mut groups = Vec::new();
    for group in compiled {
        for &pattern in &group.patterns {
            check(pattern)?;
        }
        let shape_ok = |dfa: &dense::DFA<S>, start: StartKind| {
            let kind = dfa.start_kind();
            dfa.pattern_len() == group.patterns.len() && (kind == start || kind == StartKind::Both)
        };
        let forward = load_dfa(group.forward)?;
        let max_len = group.max_len.map(|len| len as usize);
        let loaded = match group.search {
            GroupSearch::Unanchored { reverse } => {
                let reverse = load_dfa(reverse)?;
                if !shape_ok(&forward, StartKind::Unanchored)
                    || !shape_ok(&reverse, StartKind::Anchored)
                {
                    return Err(LoadError::Invalid(
                        "regex group does not fit its DFAs".into(),
                    ));
                }
                DfaGroup::unanchored(group.patterns.clone(), forward, reverse, max_len)
            }
            GroupSearch::AnchoredAtCandidates => {
                if !shape_ok(&forward, StartKind::Anchored) {
                    return Err(LoadError::Invalid(
                        "regex group does not fit its DFA".into(),
                    ));
                }
                DfaGroup::anchored_at_candidates(group.patterns.clone(), forward, max_len)
            }
        };
        if group.patterns.is_empty() {
            return Err(LoadError::Invalid("regex group has no patterns".into()));
        }
        groups.push(loaded);
    }
    Ok(groups)
}

/// Loads a DFA from an aligned copy of its bytes (property 5).
#[cfg(feature = "copy")]
pub(crate) fn dfa_copied(bytes: &[u8], index: u32) -> Result<dense::DFA<Vec<u32>>, LoadError> {
    // `from_bytes` needs u32 alignment; an arbitrary byte slice may not have it.
    let mut buffer = vec![0u8; bytes.len() + 3];
    let offset = buffer.as_ptr().align_offset(4).min(3);
    let aligned = buffer
        .get_mut(offset..offset + bytes.len())
        .ok_or_else(|| dfa_error(index, "alignment".into()))?;
    aligned.copy_from_slice(bytes);
    let (dfa, _) = dense::DFA::from_bytes(aligned).map_err(|e| dfa_error(index, e.to_string()))?;
    check_start_states(&dfa, index)?;
    Ok(dfa.to_owned())
}

/// Loads a DFA in place (property 5); the bytes must be 4-aligned, which the caller checked for
/// every blob of the bundle before choosing this loader.
pub(crate) fn dfa_in_place(
    bytes: &'static [u8],
    index: u32,
) -> Result<dense::DFA<&'static [u32]>, LoadError> {
    let (dfa, _) = dense::DFA::from_bytes(bytes).map_err(|e| dfa_error(index, e.to_string()))?;
    check_start_states(&dfa, index)?;
    Ok(dfa)
}

/// Refuses a DFA one of whose start states is a match state. regex-automata's compiler never
/// makes one (matches are delayed by a byte), its validation does not rule one out, and its
/// search only `debug_assert!`s against it: a crafted bundle would get past the loader and make
/// every search of that DFA answer nonsense (or, in a debug build, panic on the request path).
/// Found by the `bundle_load` fuzz target.
fn check_start_states<A: Automaton>(dfa: &A, index: u32) -> Result<(), LoadError> {
    let contexts = std::iter::once(None).chain((0..=255u8).map(Some));
    for look_behind in contexts {
        for anchored in [Anchored::No, Anchored::Yes] {
            let config = regex_automata::util::start::Config::new()
                .anchored(anchored)
                .look_behind(look_behind);
            // A start kind the DFA was not built with is no start state at all.
            if let Ok(start) = dfa.start_state(&config) {
                if dfa.is_match_state(start) {
                    return Err(dfa_error(index, "a start state is a match state".into()));
                }
            }
        }
    }
    Ok(())
}

fn dfa_error(index: u32, message: String) -> LoadError {
    LoadError::Dfa {
        index: index as usize,
        message,
    }
}

/// Checks property 8 (see the module): what the DFAs' own validation does not, references
/// between parts of the program.
pub(crate) fn program(program: &Program) -> Result<(), LoadError> {
    let invalid = |what: String| Err(LoadError::Invalid(what));
    for policy in &program.policies {
        for rule in &policy.rules {
            match &rule.action {
                RuleAction::Escalate { judge, .. } if *judge as usize >= program.judges.len() => {
                    return invalid(format!(
                        "rule `{}` names judge {judge}, which does not exist",
                        rule.id
                    ));
                }
                RuleAction::Mask(mask) if mask.restore && !mask.numbered() => {
                    return invalid(format!(
                        "mask rule `{}` restores values its placeholders do not tell apart",
                        rule.id
                    ));
                }
                _ => {}
            }
        }
        for op in &policy.headers {
            let name = match op {
                HeaderOp::Set { name, .. } | HeaderOp::Remove { name } => name,
            };
            if name.is_empty() || !name.chars().all(crate::ir::is_token_char) {
                return invalid(format!("header name `{name}` is not a valid HTTP token"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::ir::{HostPattern, Patterns, Policy, Program, Rule, RuleAction};
    use crate::{compile, CompileOptions, LoadError, Ruleset};

    /// A program of one policy with one deny rule of these patterns.
    fn one_rule(patterns: Patterns) -> Program {
        Program {
            policies: vec![Policy {
                name: "p".into(),
                hosts: vec![HostPattern::Exact("a.example".into())],
                path_prefix: None,
                headers: vec![],
                rules: vec![Rule {
                    id: "r".into(),
                    reason: None,
                    mode: Default::default(),
                    action: RuleAction::Deny(patterns),
                }],
            }],
            judges: vec![],
        }
    }

    fn with_keyword(keyword: &str, skip_normalization: bool) -> Result<Ruleset, LoadError> {
        let program = one_rule(Patterns {
            keywords: vec![keyword.into()],
            skip_normalization,
            ..Patterns::default()
        });
        let compiled = compile(&program, &CompileOptions::default()).unwrap();
        Ruleset::from_bytes(&compiled.bytes)
    }

    /// A screen that names a pattern its view does not search, or none, would gate DFA groups
    /// on a screen that is not theirs: the bundle is refused.
    #[test]
    fn screens_that_name_other_patterns_are_refused() {
        use crate::wire::{self, PatternRef};
        let program = one_rule(Patterns {
            regexes: vec!["1[3-9][0-9]{9}".into(), "[a-z]+@[a-z]+\\.com".into()],
            ..Patterns::default()
        });
        let compiled = compile(&program, &CompileOptions::default()).unwrap();
        let decoded = wire::decode(&compiled.bytes).unwrap();
        let blobs: Vec<Vec<u8>> = (0..decoded.meta.blobs.len())
            .map(|i| decoded.blob(i as u32).unwrap().to_vec())
            .collect();
        assert!(
            !decoded.meta.screens.is_empty(),
            "the two regexes are screened"
        );
        let reencoded = |screened: Vec<(u32, PatternRef)>| {
            let mut screens = decoded.meta.screens.clone();
            screens[0].screened = screened;
            let bytes = wire::encode(
                &decoded.meta.program,
                decoded.meta.matchers.clone(),
                screens,
                &blobs,
            );
            Ruleset::from_bytes(&bytes)
        };
        assert!(reencoded(decoded.meta.screens[0].screened.clone()).is_ok());
        for screened in [
            vec![],
            vec![(1, PatternRef::Regex(0))],
            vec![(0, PatternRef::Regex(2))],
            vec![(0, PatternRef::Keyword(0))],
        ] {
            assert!(
                matches!(reencoded(screened.clone()), Err(LoadError::Invalid(_))),
                "{screened:?}"
            );
        }
    }

    /// Normalisation empties a keyword of zero-width characters, and an empty keyword matches at
    /// every position: the bundle is refused rather than denying every request.
    #[test]
    fn a_keyword_that_normalises_to_nothing_is_refused() {
        assert!(matches!(
            with_keyword("\u{200b}\u{ad}", false),
            Err(LoadError::Invalid(_))
        ));
        assert!(with_keyword("\u{200b}", true).is_ok());
    }
}
