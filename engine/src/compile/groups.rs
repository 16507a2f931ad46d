//! DFA groups: a rule's patterns built into dense DFAs and serialised.
//!
//! A group is unanchored (a forward DFA for the end of a match, an anchored reverse DFA for its
//! start) or, for a bounded pattern whose unanchored DFA passes the budget, one anchored DFA run
//! from candidate positions.

use regex_automata::dfa::dense;
use regex_automata::nfa::thompson;
use regex_automata::MatchKind;
use regex_syntax::hir::Hir;

use super::regex::{dfa_hirs, parse, Flags};
use super::{index, CompileOptions, GroupSize, RegexError, RegexErrorKind};
use crate::wire::{CompiledRegexGroup, GroupSearch, PatternRef};

/// Behind a screen, the largest unanchored DFA (forward or reverse) a group may have before a
/// bounded pattern is run anchored at candidate positions instead.
pub(super) const SCREENED_UNANCHORED_LIMIT: usize = 64 << 10;

pub(super) struct BuiltGroup {
    patterns: Vec<PatternRef>,
    /// The longest match of any of its patterns in text without marks, in bytes; `None` when
    /// unbounded.
    max_len: Option<usize>,
    forward: Vec<u8>,
    /// `None` for a group run anchored at candidate positions.
    reverse: Option<Vec<u8>>,
}

/// The longest pattern run anchored at candidate positions: beyond this, a run per candidate
/// could cost too much on long texts.
const MAX_ANCHORED_LEN: usize = 1024;

pub(super) enum GroupError {
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

/// A rule's DFA groups, in order: one group of all its DFA inputs when that fits the budget;
/// else the rule is split into one group per input, so only the patterns that are too large on
/// their own are errors. A single input is tried unanchored, then anchored at candidates, then
/// (unbounded and only over the screened limit) unanchored up to the whole budget. An input that
/// cannot be built comes back as the pattern to blame with its error, a keyword input (one ASCII
/// folding could not case-fold) too.
pub(super) fn rule_groups(
    inputs: &[(String, PatternRef)],
    flags: Flags,
    unanchored_limit: usize,
    options: &CompileOptions,
) -> Vec<Result<BuiltGroup, (PatternRef, RegexError)>> {
    match build_group(inputs, flags, unanchored_limit, options.dfa_size_limit) {
        Ok(built) => vec![Ok(built)],
        Err(GroupError::TooLarge) => {
            let mut built_groups = Vec::new();
            for input in inputs {
                let single = std::slice::from_ref(input);
                // A rule of one pattern already failed unanchored; go straight to anchored.
                let first_try = if inputs.len() == 1 {
                    Err(GroupError::TooLarge)
                } else {
                    build_group(single, flags, unanchored_limit, options.dfa_size_limit)
                };
                let built = first_try
                    .or_else(|err| match err {
                        GroupError::TooLarge => build_anchored(single, flags, options),
                        other => Err(other),
                    })
                    .or_else(|err| match err {
                        // Unbounded and only over the screened limit: unanchored after all.
                        GroupError::TooLarge if unanchored_limit < options.dfa_size_limit => {
                            build_group(
                                single,
                                flags,
                                options.dfa_size_limit,
                                options.dfa_size_limit,
                            )
                        }
                        other => Err(other),
                    });
                match built {
                    Ok(built) => built_groups.push(Ok(built)),
                    Err(error) => {
                        built_groups.push(Err((input.1, error.into_regex_error(options))));
                    }
                }
            }
            built_groups
        }
        Err(other) => {
            // Not a size problem: blame the first regex of the group.
            let pattern = inputs
                .iter()
                .map(|(_, origin)| *origin)
                .find(|origin| matches!(origin, PatternRef::Regex(_)))
                .unwrap_or(PatternRef::Regex(0));
            vec![Err((pattern, other.into_regex_error(options)))]
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
        max_len: max_len(inputs, flags),
        forward: serialize_dfa(&forward),
        reverse: Some(serialize_dfa(&reverse)),
    })
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

/// A size limit (of the NFA, the determiniser or the DFA) means "too large"; anything else is a
/// pattern the builder cannot take.
fn group_error(err: regex_automata::dfa::dense::BuildError) -> GroupError {
    if err.is_size_limit_exceeded() || err.to_string().contains("exceeded") {
        GroupError::TooLarge
    } else {
        GroupError::Other(err.to_string())
    }
}

pub(super) fn serialize_dfa(dfa: &dense::DFA<Vec<u32>>) -> Vec<u8> {
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
        max_len: max_len(inputs, flags),
        forward: serialize_dfa(&dfa),
        reverse: None,
    })
}

/// The longest match any of `inputs` can have, in bytes of text without marks (where the DFA
/// for marked text matches what the pattern as written matches); `None` when one is unbounded.
fn max_len(inputs: &[(String, PatternRef)], flags: Flags) -> Option<usize> {
    inputs.iter().try_fold(0, |longest, (pattern, _)| {
        let len = parse(pattern, flags.ignore_case)
            .ok()?
            .properties()
            .maximum_len()?;
        Some(longest.max(len))
    })
}

/// Writes a built group's blobs and records its size; returns the group as the bundle
/// describes it.
pub(super) fn push_group(
    blobs: &mut Vec<Vec<u8>>,
    sizes: &mut Vec<GroupSize>,
    policy: usize,
    rule: usize,
    built: BuiltGroup,
) -> CompiledRegexGroup {
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
    CompiledRegexGroup {
        patterns: built.patterns,
        forward,
        search,
        max_len: built.max_len.and_then(|len| u32::try_from(len).ok()),
    }
}
