//! Compiling a [`Program`]'s patterns into automata and writing the bundle (feature `build`).
//!
//! Keywords stay strings and become an Aho-Corasick automaton when the bundle is loaded, because
//! aho-corasick cannot be serialised (it builds in a few milliseconds for a thousand keywords,
//! once per VM). Regexes become minimised dense DFAs here, grouped per rule; a rule whose group
//! would pass the size budget is split into one DFA per pattern, and a single pattern over the
//! budget is an error the DSL reports against that pattern. Per policy and text view, screens
//! (literals for the keyword pass and a few weakened DFAs) let a text skip the rules' DFAs.
//!
//! The stages, one module each: [`regex`] lowers a rule's patterns into what its DFAs search
//! (the mark rewriting included), [`screens`] derives the screens of a policy's text view, and
//! [`groups`] builds and serialises a rule's DFA groups. This module drives them and writes the
//! bundle.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use crate::ir::{Patterns, Program};
use crate::wire::{self, CompiledMatcher, CompiledScreen, PatternRef, ScreenKind};

mod groups;
mod regex;
mod screens;

use groups::{push_group, rule_groups, SCREENED_UNANCHORED_LIMIT};
use regex::{
    ascii_folding_suffices, dfa_inputs, except_dfa_inputs, syntax_error, word_boundary_span, Flags,
};
use screens::{view_screens, ViewScreens};

/// Limits for compilation, and who to tell what it is doing.
#[derive(Debug, Clone)]
pub struct CompileOptions {
    /// The most bytes one DFA (forward or reverse) may take.
    pub dfa_size_limit: usize,
    /// Told before each stage that can take long, so a command can say what it is waiting on.
    pub progress: Option<Progress>,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions {
            dfa_size_limit: 16 << 20,
            progress: None,
        }
    }
}

/// What the compiler is about to build: the screens of a policy, or a rule's DFAs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stage<'a> {
    pub policy: &'a str,
    /// `None` while the policy's screens are built.
    pub rule: Option<&'a str>,
    /// How many rules with patterns come before this one, of how many in the program.
    pub rules_done: usize,
    pub rules_total: usize,
}

/// A callback told of every [`Stage`]; building a DFA can take seconds for a large pattern, and a
/// command that says which rule it is on saves its user from guessing.
#[derive(Clone)]
pub struct Progress(pub Arc<dyn Fn(Stage<'_>) + Send + Sync>);

impl fmt::Debug for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Progress(..)")
    }
}

impl CompileOptions {
    fn tell(&self, stage: Stage<'_>) {
        if let Some(progress) = &self.progress {
            (progress.0)(stage);
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

/// A pattern error located in the program: `program.policies[policy].rules[rule]`'s regex or
/// keyword `pattern`. A keyword fails only when, with `ignore case` beyond ASCII folding, its DFA
/// passes the budget on its own: never silently dropped, since a rule that lost a keyword would
/// let it through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    pub policy: usize,
    pub rule: usize,
    /// Indexes the rule's patterns, or with `except` its exceptions' (`except.keywords`,
    /// `except.regexes`).
    pub pattern: PatternRef,
    /// The pattern is one of the rule's `except` patterns.
    pub except: bool,
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

impl Compiled {
    /// The bundle's digest (SHA-256 of its payload) as 64 lowercase hex digits, what
    /// `Ruleset::digest` reads back.
    pub fn digest(&self) -> String {
        wire::digest_hex(&self.bytes)
    }
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

/// Compiles the patterns of every rule that has them (a deny's, an escalation's `when`), with
/// their exceptions, and writes the bundle.
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
    let rules_total = program
        .policies
        .iter()
        .flat_map(|p| &p.rules)
        .filter(|r| r.action.patterns().is_some())
        .count();
    let mut rules_done = 0;
    for (p, policy) in program.policies.iter().enumerate() {
        options.tell(Stage {
            policy: &policy.name,
            rule: None,
            rules_done,
            rules_total,
        });
        // One screen per text view, built first: a view with a screen runs its rules' DFAs only
        // on segments the screen matched, so those DFAs can be small anchored ones.
        let mut screened = [false; 2];
        for normalized in [false, true] {
            let Some(ViewScreens { literals, dfas }) = view_screens(policy, normalized, options)
            else {
                continue;
            };
            if let Some(flag) = screened.get_mut(usize::from(normalized)) {
                *flag = true;
            }
            if !literals.is_empty() {
                // The automaton holds each distinct literal once, whichever patterns share it.
                let mut distinct: Vec<&Vec<u8>> = literals.iter().flat_map(|(_, l)| l).collect();
                distinct.sort_unstable();
                distinct.dedup();
                screen_sizes.push(ScreenSize {
                    policy: p,
                    normalized,
                    patterns: literals.len(),
                    literals: distinct.len(),
                    dfa_bytes: 0,
                });
            }
            for (screened, literals) in literals {
                screens.push(CompiledScreen {
                    policy: index(p),
                    normalized,
                    screened: vec![screened],
                    kind: ScreenKind::Literals(literals),
                });
            }
            for (screened, bytes) in dfas {
                screen_sizes.push(ScreenSize {
                    policy: p,
                    normalized,
                    patterns: screened.len(),
                    literals: 0,
                    dfa_bytes: bytes.len(),
                });
                screens.push(CompiledScreen {
                    policy: index(p),
                    normalized,
                    screened,
                    kind: ScreenKind::Dfa {
                        forward: index(blobs.len()),
                    },
                });
                blobs.push(bytes);
            }
        }
        for (r, rule) in policy.rules.iter().enumerate() {
            let Some(patterns) = rule.action.patterns() else {
                continue;
            };
            options.tell(Stage {
                policy: &policy.name,
                rule: Some(&rule.id),
                rules_done,
                rules_total,
            });
            rules_done += 1;
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
                except_keywords: Vec::new(),
                except_groups: Vec::new(),
                reach: reach(patterns),
            };
            for (k, keyword) in patterns.keywords.iter().enumerate() {
                if !patterns.ignore_case || ascii_folding_suffices(keyword) {
                    matcher.keywords.push(index(k));
                    keywords += 1;
                }
            }
            for (k, keyword) in patterns.except.keywords.iter().enumerate() {
                if !patterns.ignore_case || ascii_folding_suffices(keyword) {
                    matcher.except_keywords.push(index(k));
                }
            }
            let mut sink = Sink {
                errors: &mut errors,
                blobs: &mut blobs,
                sizes: &mut groups,
                policy: p,
                rule: r,
            };
            matcher.regex_groups = sink.groups(patterns, false, unanchored_limit, options);
            // Exceptions are searched only in segments where the rule had a candidate, rarer
            // than a screened segment: the same small limit applies.
            matcher.except_groups = sink.groups(
                patterns,
                true,
                options.dfa_size_limit.min(SCREENED_UNANCHORED_LIMIT),
                options,
            );
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

/// The longest match a rule's patterns can have, in bytes of the text they search, each run of
/// separators counted as one byte (a keyword's space matches any run) and removed invisible
/// characters as none (a normalised rule's DFAs read them as nothing); `None` when a pattern can
/// match text of any length (`+`, `*`, `{n,}`), or does not parse. A keyword is measured as the
/// escaped literal it is, under the rule's `ignore case` (Unicode folding can match a longer
/// form: `s` matches `ſ`).
pub fn reach(patterns: &Patterns) -> Option<u32> {
    let keywords = patterns.keywords.iter().map(|k| {
        let k = if patterns.skip_normalization {
            k.clone()
        } else {
            crate::normalize::normalize_keyword(k)
        };
        regex_syntax::escape(&k)
    });
    let mut longest = 0;
    for pattern in keywords.chain(patterns.regexes.iter().cloned()) {
        let hir = regex::parse(&pattern, patterns.ignore_case).ok()?;
        longest = longest.max(hir.properties().maximum_len()?);
    }
    u32::try_from(longest).ok()
}

/// Where a rule's groups and errors go while it is compiled.
struct Sink<'a> {
    errors: &'a mut Vec<PatternError>,
    blobs: &'a mut Vec<Vec<u8>>,
    sizes: &'a mut Vec<GroupSize>,
    policy: usize,
    rule: usize,
}

impl Sink<'_> {
    /// The DFA groups of a rule's own patterns or (`except`) of its exceptions, their blobs
    /// written; every pattern that cannot be built is an error, and the rule then gets no groups
    /// of that kind (the errors fail the whole compilation).
    fn groups(
        &mut self,
        patterns: &Patterns,
        except: bool,
        unanchored_limit: usize,
        options: &CompileOptions,
    ) -> Vec<wire::CompiledRegexGroup> {
        let (regexes, inputs) = if except {
            (&patterns.except.regexes, except_dfa_inputs(patterns))
        } else {
            (&patterns.regexes, dfa_inputs(patterns))
        };
        let mut ok = true;
        for (x, regex) in regexes.iter().enumerate() {
            if let Err(error) = check_regex(regex, patterns.ignore_case) {
                self.errors.push(PatternError {
                    policy: self.policy,
                    rule: self.rule,
                    pattern: PatternRef::Regex(index(x)),
                    except,
                    error,
                });
                ok = false;
            }
        }
        let mut built_groups = Vec::new();
        if !ok || inputs.is_empty() {
            return built_groups;
        }
        let flags = Flags::of(patterns);
        for built in rule_groups(&inputs, flags, unanchored_limit, options) {
            match built {
                Ok(built) => built_groups.push(push_group(
                    self.blobs,
                    self.sizes,
                    self.policy,
                    self.rule,
                    built,
                )),
                Err((pattern, error)) => self.errors.push(PatternError {
                    policy: self.policy,
                    rule: self.rule,
                    pattern,
                    except,
                    error,
                }),
            }
        }
        built_groups
    }
}

fn index(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
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
}
