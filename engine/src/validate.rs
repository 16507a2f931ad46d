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
//! 2. Matchers: exactly one per deny rule, in (policy, rule) order, so none for an escalate rule
//!    and none for a rule that does not exist.
//! 3. Every pattern a matcher references (its keywords, its groups' patterns) exists in its rule.
//! 4. Every keyword the keyword automaton searches is non-empty as it is searched (normalised
//!    when its rule searches the normalised text: a keyword of zero-width characters would
//!    otherwise match at every position of every text).
//! 5. Every DFA a group or screen references is a blob that exists and lies inside the bundle,
//!    deserialises (`DFA::from_bytes` checks every transition and start state), and has no
//!    start state that is a match state ([`check_start_states`]).
//! 6. Every regex group has patterns, and its DFAs fit it: as many DFA patterns as group
//!    patterns (so a DFA pattern id names a group pattern), an unanchored group's forward DFA
//!    runs unanchored and its reverse DFA anchored, an anchored group's DFA runs anchored.
//! 7. Every screen belongs to a policy that exists; a literal screen has literals, none of them
//!    empty (it would pass every segment), and a normalised view's literals hold no white space
//!    (its keyword pass may search the collapsed text); a screen DFA has patterns and runs
//!    unanchored.
//!
//! Then the keyword automata are built (`scan::load`; aho-corasick refuses only pattern sets
//! too large for its state ids), and last, by [`program`]:
//!
//! 8. Every escalate rule names a judge that exists, and every header name a policy sets or
//!    removes is a non-empty HTTP token.
//!
//! Code after load relies on these properties, and still reads with `get` rather than
//! indexing: a broken promise is then a wrong answer, never a trap that kills the Wasm VM.

use regex_automata::dfa::{dense, Automaton, StartKind};
use regex_automata::Anchored;

use crate::ir::{HeaderOp, Program, RuleAction};
use crate::normalize::normalize_keyword;
use crate::scan::{collapse_stable, DfaGroup, DfaLoader, ScannerParts};
use crate::wire::{CompiledMatcher, Decoded, GroupSearch, LoadError, PatternRef, ScreenKind};

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
        matcher_parts(program, matcher, load_dfa, parts)?;
    }
    for screen in &decoded.meta.screens {
        let parts = builders
            .get_mut(screen.policy as usize)
            .ok_or_else(|| LoadError::Invalid("screen policy out of range".into()))?;
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
                parts.screen_literals(screen.normalized, literals);
            }
            ScreenKind::Dfa { forward } => {
                let dfa = load_dfa(*forward)?;
                if dfa.pattern_len() == 0 || dfa.start_kind() == StartKind::Anchored {
                    return Err(LoadError::Invalid("screen does not fit its policy".into()));
                }
                parts.screen_dfa(screen.normalized, dfa);
            }
        }
    }
    Ok(builders)
}

/// Checks one matcher against its rule and adds its keywords and DFA groups to the policy's
/// parts.
fn matcher_parts<S: AsRef<[u32]>>(
    program: &Program,
    matcher: &CompiledMatcher,
    load_dfa: &DfaLoader<'_, S>,
    parts: &mut ScannerParts<S>,
) -> Result<(), LoadError> {
    let (p, r) = (matcher.policy as usize, matcher.rule as usize);
    let patterns = match program
        .policies
        .get(p)
        .and_then(|policy| policy.rules.get(r))
    {
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
        let keyword = patterns
            .keywords
            .get(k as usize)
            .cloned()
            .unwrap_or_default();
        let normalized = !patterns.skip_normalization;
        // Keywords are normalised like the text they are searched in, white space runs to one
        // space.
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
        parts.keyword(keyword, r, k, patterns.ignore_case, normalized);
    }
    let mut groups = Vec::new();
    for group in &matcher.regex_groups {
        for &pattern in &group.patterns {
            check(pattern)?;
        }
        let shape_ok = |dfa: &dense::DFA<S>, start: StartKind| {
            let kind = dfa.start_kind();
            dfa.pattern_len() == group.patterns.len() && (kind == start || kind == StartKind::Both)
        };
        let forward = load_dfa(group.forward)?;
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
                DfaGroup::unanchored(group.patterns.clone(), forward, reverse)
            }
            GroupSearch::AnchoredAtCandidates => {
                if !shape_ok(&forward, StartKind::Anchored) {
                    return Err(LoadError::Invalid(
                        "regex group does not fit its DFA".into(),
                    ));
                }
                DfaGroup::anchored_at_candidates(group.patterns.clone(), forward)
            }
        };
        if group.patterns.is_empty() {
            return Err(LoadError::Invalid("regex group has no patterns".into()));
        }
        groups.push(loaded);
    }
    parts.rule(r, !patterns.skip_normalization, groups);
    Ok(())
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
            if let RuleAction::Escalate { judge, .. } = rule.action {
                if judge as usize >= program.judges.len() {
                    return invalid(format!(
                        "rule `{}` names judge {judge}, which does not exist",
                        rule.id
                    ));
                }
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

    fn with_keyword(keyword: &str, skip_normalization: bool) -> Result<Ruleset, LoadError> {
        let program = Program {
            policies: vec![Policy {
                name: "p".into(),
                hosts: vec![HostPattern::Exact("a.example".into())],
                path_prefix: None,
                headers: vec![],
                rules: vec![Rule {
                    id: "r".into(),
                    reason: None,
                    mode: Default::default(),
                    action: RuleAction::Deny(Patterns {
                        keywords: vec![keyword.into()],
                        skip_normalization,
                        ..Patterns::default()
                    }),
                }],
            }],
            judges: vec![],
        };
        let compiled = compile(&program, &CompileOptions::default()).unwrap();
        Ruleset::from_bytes(&compiled.bytes)
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
