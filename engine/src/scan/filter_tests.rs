//! The v1 matching semantics, end to end from IR programs: validators, exceptions, whole words,
//! and which hits `Want::First` reports. Cases are tables: a rule, then texts with the text the
//! rule must match in each (or nothing).

use std::ops::Range;

use super::{Hit, PolicyScanner, Want};
use crate::ir::Side;
use crate::ir::{
    Endpoint, Exceptions, HostPattern, Judge, Mode, OnError, Patterns, Policy, Program, Rule,
    RuleAction, Template, Validator,
};
use crate::wire::PatternRef;
use crate::{compile, CompileOptions, Decision, Ruleset};

fn patterns(keywords: &[&str], regexes: &[&str]) -> Patterns {
    Patterns {
        keywords: keywords.iter().map(|s| s.to_string()).collect(),
        regexes: regexes.iter().map(|s| s.to_string()).collect(),
        ..Patterns::default()
    }
}

fn deny(id: &str, patterns: Patterns) -> Rule {
    Rule {
        id: id.into(),
        reason: None,
        mode: Mode::Enforce,
        action: RuleAction::Deny(patterns),
    }
}

fn monitored(rule: Rule) -> Rule {
    Rule {
        mode: Mode::Monitor,
        ..rule
    }
}

fn escalate(id: &str, when: Option<Patterns>) -> Rule {
    Rule {
        id: id.into(),
        reason: None,
        mode: Mode::Enforce,
        action: RuleAction::Escalate { judge: 0, when },
    }
}

fn program(rules: Vec<Rule>) -> Program {
    let endpoint = Endpoint {
        url: "http://judge.test/v1/chat/completions".into(),
        authority: "judge.test".into(),
        host: "judge.test".into(),
        port: 80,
        path: "/v1/chat/completions".into(),
    };
    Program {
        policies: vec![Policy {
            name: "p".into(),
            hosts: vec![HostPattern::Exact("h".into())],
            path_prefix: None,
            headers: vec![],
            rules,
        }],
        judges: vec![Judge {
            name: "j".into(),
            cluster: endpoint.istio_cluster(),
            endpoint,
            model: "m".into(),
            api_key: Template::text("k"),
            timeout_ms: 1000,
            on_error: OnError::Deny,
            prompt: Template::text("judge"),
        }],
    }
}

fn ruleset(rules: Vec<Rule>) -> Ruleset {
    let compiled = compile(&program(rules), &CompileOptions::default()).unwrap();
    Ruleset::from_bytes(&compiled.bytes).unwrap()
}

/// The policy's scanner, loaded as `Ruleset::from_bytes` loads it, for what `Ruleset` does not
/// show (hits of rules that do not deny).
fn scanner(rules: Vec<Rule>) -> PolicyScanner<Vec<u32>> {
    let compiled = compile(&program(rules), &CompileOptions::default()).unwrap();
    let decoded = crate::wire::decode(&compiled.bytes).unwrap();
    let parts = crate::validate::parts(&decoded, &|index| {
        decoded
            .blob(index)
            .and_then(|blob| crate::validate::dfa_copied(blob, index))
    })
    .unwrap();
    super::load(parts).unwrap().pop().unwrap()
}

/// Every deny rule's hit (`explain`, which scans with `Want::Every`): (rule id, matched text).
fn explained(ruleset: &Ruleset, text: &str) -> Vec<(String, String)> {
    let policy = ruleset.select("h", "/").unwrap();
    let explanation = ruleset
        .explain(&policy, Some("text/plain"), None, text.as_bytes())
        .unwrap();
    explanation
        .hits
        .into_iter()
        .map(|(rule, site)| (rule, text[site.byte_span].to_string()))
        .collect()
}

/// The enforced deny that decides the verdict: (rule id, matched text).
fn denied(ruleset: &Ruleset, text: &str) -> Option<(String, String)> {
    let policy = ruleset.select("h", "/")?;
    match ruleset
        .inspect(&policy, Some("text/plain"), text.as_bytes())
        .decision
    {
        Decision::Deny(d) => {
            let span = d.matched.map(|m| m.byte_span).unwrap_or(0..0);
            Some((d.rule.unwrap_or_default(), text[span].to_string()))
        }
        _ => None,
    }
}

/// Checks a one-rule policy against texts and what it must match in each, through both
/// `explain` and `inspect`.
fn check(rule: Patterns, cases: &[(&str, Option<&str>)]) {
    let rules = ruleset(vec![deny("r", rule.clone())]);
    for &(text, expected) in cases {
        let expected = expected.map(|m| ("r".to_string(), m.to_string()));
        let explained = explained(&rules, text);
        assert_eq!(
            explained.first().cloned(),
            expected,
            "explain {text:?} with {rule:?}"
        );
        assert_eq!(
            denied(&rules, text),
            expected,
            "inspect {text:?} with {rule:?}"
        );
    }
}

#[test]
fn luhn_takes_the_valid_card_and_not_the_invalid_one() {
    let card = Patterns {
        validator: Some(Validator::Luhn),
        ..patterns(&[], &["[0-9]{13,19}"])
    };
    check(
        card,
        &[
            // The whole number is the candidate, not its shortest prefix of 13 digits.
            ("pay with 4111111111111111", Some("4111111111111111")),
            (
                "4111111111111112 failed, try 4111111111111111 now",
                Some("4111111111111111"),
            ),
            ("only 4111111111111112 here", None),
            ("378282246310005", Some("378282246310005")),
            // A 17-digit invalid number holds a valid 16-digit one, but the match is all 17.
            ("24111111111111111", None),
            // Full-width digits are ASCII digits in the normalised view the validator reads.
            (
                "card ４１１１１１１１１１１１１１１１ ok",
                Some("４１１１１１１１１１１１１１１１"),
            ),
            ("card ４１１１１１１１１１１１１１１２ ok", None),
            ("no digits at all", None),
        ],
    );
}

#[test]
fn card_numbers_with_separators_and_two_rules_of_one_policy() {
    let spaced = Patterns {
        validator: Some(Validator::Luhn),
        ..patterns(&[], &["[0-9](?:[0-9 -]{11,21})[0-9]"])
    };
    check(
        spaced,
        &[
            ("4111 1111 1111 1111", Some("4111 1111 1111 1111")),
            ("4111 1111 1111 1112", None),
        ],
    );
    // A validated rule after an unvalidated one: each reports its own first accepted hit.
    let rules = ruleset(vec![
        deny("phone", patterns(&[], &["1[3-9][0-9]{9}"])),
        deny(
            "card",
            Patterns {
                validator: Some(Validator::Luhn),
                ..patterns(&[], &["[0-9]{13,19}"])
            },
        ),
    ]);
    assert_eq!(
        explained(&rules, "13912345678 4111111111111111"),
        vec![
            ("phone".to_string(), "13912345678".to_string()),
            ("card".to_string(), "4111111111111111".to_string()),
        ]
    );
}

#[test]
fn cn_id_checks_the_last_character() {
    let id = Patterns {
        validator: Some(Validator::CnId),
        ..patterns(&[], &["[0-9]{17}[0-9Xx]"])
    };
    check(
        id,
        &[
            (
                "ids 110105194912310021 and 11010519491231002X",
                Some("11010519491231002X"),
            ),
            ("id 440524188001010014.", Some("440524188001010014")),
            ("id 110105194912310021 only", None),
        ],
    );
}

#[test]
fn an_exception_excuses_only_the_matches_inside_it() {
    let email = Patterns {
        ignore_case: true,
        except: Exceptions {
            keywords: vec!["support@acme.com".into()],
            regexes: vec![],
        },
        ..patterns(&[], &[r"[a-z0-9._%+-]+@acme\.com"])
    };
    check(
        email,
        &[
            ("write to support@acme.com please", None),
            ("write to SUPPORT@Acme.com please", None),
            ("support@acme.com or bob@acme.com", Some("bob@acme.com")),
            ("bob@acme.com, cc support@acme.com", Some("bob@acme.com")),
            // Not within the exception's match: it starts one character earlier.
            ("xsupport@acme.com", Some("xsupport@acme.com")),
            ("support@acme.com support@acme.com", None),
        ],
    );
    // A regex exception, on a keyword rule.
    let brand = Patterns {
        except: Exceptions {
            keywords: vec![],
            regexes: vec![r"acme\.(?:com|org)".into()],
        },
        ..patterns(&["acme"], &[])
    };
    check(
        brand,
        &[
            ("see acme.com or acme.org", None),
            ("see acme.com about acme corp", Some("acme")),
            ("acme", Some("acme")),
        ],
    );
    // An exception keyword that needs Unicode case folding is in the exception DFA.
    let cyrillic = Patterns {
        ignore_case: true,
        except: Exceptions {
            keywords: vec!["Пароль-пример".into()],
            regexes: vec![],
        },
        ..patterns(&["пароль"], &[])
    };
    check(
        cyrillic,
        &[
            ("это ПАРОЛЬ-ПРИМЕР", None),
            ("это ПАРОЛЬ-ПРИМЕР и пароль", Some("пароль")),
        ],
    );
}

#[test]
fn an_exception_in_another_segment_excuses_nothing() {
    let scanner = scanner(vec![deny(
        "email",
        Patterns {
            except: Exceptions {
                keywords: vec!["support@acme.com".into()],
                regexes: vec![],
            },
            ..patterns(&[], &[r"[a-z0-9._%+-]+@acme\.com"])
        },
    )]);
    let hits = scanner.scan(
        &["bob@acme.com", "support@acme.com"],
        Want::First,
        Side::Request,
    );
    assert_eq!(spans(&hits), vec![(0, 0, 0..12)]);
    let hits = scanner.scan(
        &["support@acme.com", "support@acme.com"],
        Want::Every,
        Side::Request,
    );
    assert!(hits.is_empty());
}

#[test]
fn whole_words_need_boundaries_in_scripts_with_spaces() {
    let atlas = Patterns {
        whole_words: true,
        ..patterns(&["Atlas"], &[])
    };
    check(
        atlas,
        &[
            ("Atlases of the world", None),
            ("MongoDB Atlas.", Some("Atlas")),
            ("Atlas", Some("Atlas")),
            // A rejected candidate is followed by an accepted one in the same segment.
            ("Atlases and then Atlas", Some("Atlas")),
            ("xAtlas Atlas2 (Atlas)", Some("Atlas")),
        ],
    );
    let folded = Patterns {
        whole_words: true,
        ignore_case: true,
        ..patterns(&["atlas"], &[])
    };
    check(
        folded,
        &[
            ("ATLASES", None),
            ("use ATLAS now", Some("ATLAS")),
            ("ＡＴＬＡＳ", Some("ＡＴＬＡＳ")),
        ],
    );
    let cjk = Patterns {
        whole_words: true,
        ..patterns(&["机密"], &[])
    };
    check(
        cjk,
        &[
            ("这是机密文件", Some("机密")),
            ("abc机密def", Some("机密")),
            ("机密", Some("机密")),
        ],
    );
    // Keywords in the rule's DFA (Unicode case folding) and keywords with spaces.
    let cyrillic = Patterns {
        whole_words: true,
        ignore_case: true,
        ..patterns(&["пароль"], &[])
    };
    check(
        cyrillic,
        &[("мойпароль", None), ("мойпароль и ПАРОЛЬ", Some("ПАРОЛЬ"))],
    );
    let spaced = Patterns {
        whole_words: true,
        ..patterns(&["account number"], &[])
    };
    check(
        spaced,
        &[
            ("my account  numbers", None),
            ("my account  number.", Some("account  number")),
            (
                "my sub\u{200b}account\u{200b}number",
                Some("account\u{200b}number"),
            ),
        ],
    );
    // Regexes of a whole-words rule are not held to word boundaries.
    let mixed = Patterns {
        whole_words: true,
        ..patterns(&["Atlas"], &["AKIA[0-9A-Z]{16}"])
    };
    check(
        mixed,
        &[
            (
                "Atlases xAKIAABCDEFGHIJKLMNOP",
                Some("AKIAABCDEFGHIJKLMNOP"),
            ),
            ("Atlases", None),
        ],
    );
}

fn spans(hits: &[Hit]) -> Vec<(usize, usize, Range<usize>)> {
    hits.iter()
        .map(|h| (h.rule, h.segment, h.span.clone()))
        .collect()
}

fn rules_hit(hits: &[Hit]) -> Vec<usize> {
    hits.iter().map(|h| h.rule).collect()
}

#[test]
fn want_first_reports_the_decisive_hit_and_every_other_rule() {
    // Rules, text, the rules Want::First reports.
    type Case = (Vec<Rule>, &'static str, Vec<usize>);
    let cases: Vec<Case> = vec![
        // A monitored deny before an enforced one: both.
        (
            vec![
                monitored(deny("m", patterns(&["alpha"], &[]))),
                deny("e", patterns(&["beta"], &[])),
            ],
            "beta alpha",
            vec![0, 1],
        ),
        // And after it, however late.
        (
            vec![
                deny("e", patterns(&["beta"], &[])),
                deny("e2", patterns(&["gamma"], &[])),
                monitored(deny("m", patterns(&[], &["al+pha"]))),
            ],
            "gamma beta alpha",
            vec![0, 2],
        ),
        // Only the earliest of the enforced denies.
        (
            vec![
                deny("a", patterns(&[], &["a[0-9]"])),
                deny("b", patterns(&["b1"], &[])),
            ],
            "b1 a1",
            vec![0],
        ),
        // An escalation's `when` is reported even when an enforced deny matched earlier.
        (
            vec![
                deny("e", patterns(&["beta"], &[])),
                escalate("j", Some(patterns(&["internal"], &[]))),
                escalate("j2", Some(patterns(&[], &["conf[a-z]+"]))),
                escalate("never", None),
            ],
            "beta internal confidential",
            vec![0, 1, 2],
        ),
        // A monitored escalation too, and one that does not match is not reported.
        (
            vec![
                monitored(escalate("j", Some(patterns(&["internal"], &[])))),
                escalate("j2", Some(patterns(&["secret"], &[]))),
                deny("e", patterns(&["beta"], &[])),
            ],
            "internal beta",
            vec![0, 2],
        ),
        // Nothing decisive matched: the others still are.
        (
            vec![
                deny("e", patterns(&["beta"], &[])),
                monitored(deny("m", patterns(&["alpha"], &[]))),
            ],
            "alpha",
            vec![1],
        ),
    ];
    for (rules, text, expected) in cases {
        let ids: Vec<String> = rules.iter().map(|r| r.id.clone()).collect();
        let scanner = scanner(rules);
        assert_eq!(
            rules_hit(&scanner.scan(&[text], Want::First, Side::Request)),
            expected,
            "{ids:?} on {text:?}"
        );
        // Want::Every is a superset.
        let every = rules_hit(&scanner.scan(&[text], Want::Every, Side::Request));
        assert!(expected.iter().all(|r| every.contains(r)), "{ids:?}");
    }
}

#[test]
fn an_escalation_when_filters_like_a_deny() {
    let when = Patterns {
        whole_words: true,
        except: Exceptions {
            keywords: vec!["internal use only".into()],
            regexes: vec![],
        },
        ..patterns(&["internal"], &[])
    };
    let scanner = scanner(vec![escalate("j", Some(when))]);
    for (text, expected) in [
        ("internals", vec![]),
        ("for internal use only", vec![]),
        ("for internal use only; internal memo", vec![(0, 0, 23..31)]),
    ] {
        assert_eq!(
            spans(&scanner.scan(&[text], Want::First, Side::Request)),
            expected,
            "{text}"
        );
    }
}

/// What the regex crate says the first accepted match of a rule is: its `find_iter` matches of
/// the rule's one regex that pass the validator and lie in no exception match (a keyword's
/// every occurrence, a regex's `find_iter` matches).
fn oracle(
    regex: &str,
    validator: Option<Validator>,
    except_keywords: &[&str],
    except_regexes: &[&str],
    text: &str,
) -> Option<Range<usize>> {
    let mut excused: Vec<Range<usize>> = Vec::new();
    for keyword in except_keywords {
        excused.extend(
            (0..text.len())
                .filter(|&at| text.get(at..).is_some_and(|rest| rest.starts_with(keyword)))
                .map(|at| at..at + keyword.len()),
        );
    }
    for except in except_regexes {
        let except = regex::Regex::new(except).unwrap();
        excused.extend(except.find_iter(text).map(|m| m.range()));
    }
    regex::Regex::new(regex)
        .unwrap()
        .find_iter(text)
        .map(|m| m.range())
        .find(|span| {
            validator.is_none_or(|v| v.accepts(&text[span.clone()]))
                && !excused
                    .iter()
                    .any(|e| e.start <= span.start && span.end <= e.end)
        })
}

#[test]
fn filtered_rules_agree_with_the_regex_crate_on_generated_texts() {
    type Rule = (
        &'static str,
        Option<Validator>,
        &'static [&'static str],
        &'static [&'static str],
    );
    let rules: &[Rule] = &[
        ("[0-9]{13,19}", Some(Validator::Luhn), &[], &[]),
        ("[0-9][0-9 -]{11,21}[0-9]", Some(Validator::Luhn), &[], &[]),
        ("[0-9]{17}[0-9X]", Some(Validator::CnId), &[], &[]),
        (
            r"[a-z0-9._%+-]+@acme\.com",
            None,
            &["support@acme.com"],
            &[r"(?:no-?reply|billing)@acme\.com"],
        ),
        (
            "[0-9]{4}(?:-[0-9]{4}){3}",
            Some(Validator::Luhn),
            &[],
            &["4111-1111-1111-1111"],
        ),
    ];
    let pieces = [
        "4111111111111111",
        "4111111111111112",
        "4111-1111-1111-1111",
        "5500-0000-0000-0004",
        "11010519491231002X",
        "110105194912310021",
        "support@acme.com",
        "bob@acme.com",
        "noreply@acme.com",
        "billing@acme.com",
        "x",
        " ",
        "-",
        "7",
        "0",
        "@",
        ".com",
        "acme",
    ];
    // A small linear congruential generator: the same texts on every run.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |bound: usize| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as usize % bound
    };
    let texts: Vec<String> = (0..300)
        .map(|_| {
            let len = 1 + next(8);
            (0..len).map(|_| pieces[next(pieces.len())]).collect()
        })
        .collect();
    for &(regex, validator, keywords, regexes) in rules {
        let rule = Patterns {
            validator,
            except: Exceptions {
                keywords: keywords.iter().map(|s| s.to_string()).collect(),
                regexes: regexes.iter().map(|s| s.to_string()).collect(),
            },
            ..patterns(&[], &[regex])
        };
        let scanner = scanner(vec![deny("r", rule)]);
        let plain = regex::Regex::new(regex).unwrap();
        // The texts must exercise both sides: accepted matches, and first matches refused.
        let (mut accepted, mut refused) = (0, 0);
        for text in &texts {
            let found = scanner
                .scan(&[text], Want::First, Side::Request)
                .first()
                .map(|h| h.span.clone());
            let expected = oracle(regex, validator, keywords, regexes, text);
            assert_eq!(found, expected, "{regex} on {text:?}");
            let first = plain.find(text).map(|m| m.range());
            accepted += usize::from(expected.is_some());
            refused += usize::from(first.is_some() && first != expected);
        }
        assert!(
            accepted > 10 && refused > 10,
            "{regex}: {accepted} {refused}"
        );
    }
}

#[test]
fn a_bundle_whose_matchers_do_not_fit_its_rules_is_refused() {
    let compiled = compile(
        &program(vec![escalate("j", Some(patterns(&["internal"], &[])))]),
        &CompileOptions::default(),
    )
    .unwrap();
    // Drop the `when` from the program: the matcher now belongs to no rule with patterns.
    let mut decoded = crate::wire::decode(&compiled.bytes).unwrap();
    let mut program = decoded.meta.program.clone();
    program.policies[0].rules[0].action = RuleAction::Escalate {
        judge: 0,
        when: None,
    };
    decoded.meta.program = program;
    let refused = crate::validate::parts(&decoded, &|index| {
        decoded
            .blob(index)
            .and_then(|blob| crate::validate::dfa_copied(blob, index))
    });
    assert!(matches!(refused, Err(crate::LoadError::Invalid(_))));
    // And an exception matcher for a rule without exceptions.
    let compiled = compile(&program_with_exception(), &CompileOptions::default()).unwrap();
    let mut decoded = crate::wire::decode(&compiled.bytes).unwrap();
    if let RuleAction::Deny(patterns) = &mut decoded.meta.program.policies[0].rules[0].action {
        patterns.except = Exceptions::default();
    }
    let refused = crate::validate::parts(&decoded, &|index| {
        decoded
            .blob(index)
            .and_then(|blob| crate::validate::dfa_copied(blob, index))
    });
    assert!(matches!(refused, Err(crate::LoadError::Invalid(_))));
}

fn program_with_exception() -> Program {
    program(vec![deny(
        "r",
        Patterns {
            except: Exceptions {
                keywords: vec!["ok".into()],
                regexes: vec!["fine".into()],
            },
            ..patterns(&["secret"], &[])
        },
    )])
}

#[test]
fn want_patterns_reports_every_pattern_that_matches_once() {
    let scanner = scanner(vec![
        deny("words", patterns(&["alpha", "beta", "gamma"], &[])),
        deny("numbers", patterns(&[], &["[0-9]{3}", "x[0-9]{2}"])),
        deny(
            "filtered",
            Patterns {
                validator: Some(Validator::Luhn),
                ..patterns(&[], &["[0-9]{4}"])
            },
        ),
    ]);
    let text = "beta alpha beta 123 x45 678 4242 1234";
    let hits: Vec<(usize, PatternRef, &str)> = scanner
        .scan(&[text], Want::Patterns, Side::Request)
        .into_iter()
        .map(|h| (h.rule, h.pattern, &text[h.span]))
        .collect();
    assert_eq!(
        hits,
        vec![
            (0, PatternRef::Keyword(0), "alpha"),
            (0, PatternRef::Keyword(1), "beta"),
            (1, PatternRef::Regex(0), "123"),
            (1, PatternRef::Regex(1), "x45"),
            // `1234` fails the Luhn check; `4242` passes it.
            (2, PatternRef::Regex(0), "4242"),
        ]
    );
    // Want::Every reports one hit per rule, each of them one Want::Patterns reports.
    let every = scanner.scan(&[text], Want::Every, Side::Request);
    assert_eq!(rules_hit(&every), vec![0, 1, 2]);
}

/// Screens gate DFA groups per pattern: a segment runs only the groups whose screens it passed
/// (a number runs the number-like patterns' groups). The gates only skip groups that could not
/// match, so every hit, under every `Want`, is the one the ungated scanner finds.
#[test]
fn screen_gates_skip_only_groups_that_cannot_match() {
    let rules = || {
        vec![
            deny(
                "numbers",
                patterns(&[], &["1[3-9][0-9]{9}", "[0-9]{3}-[0-9]{2}-[0-9]{4}"]),
            ),
            deny(
                "network",
                patterns(
                    &[],
                    &[
                        "(?:[0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}",
                        "(?:[0-9]{1,3}\\.){3}[0-9]{1,3}",
                    ],
                ),
            ),
            monitored(deny(
                "contact",
                patterns(&["ticket"], &["[a-z]+@[a-z]+\\.com", "sk-[A-Za-z0-9]{8}"]),
            )),
            deny(
                "plates",
                Patterns {
                    ignore_case: true,
                    ..patterns(&[], &["[京沪粤][A-Z][A-Z0-9]{5}"])
                },
            ),
            // Two rules' patterns screened by the same literal, `key=`: both units own it.
            deny("keys", patterns(&[], &["key=[^a]{4}"])),
            deny("other-keys", patterns(&[], &["key=[^b]{4}"])),
            // One literal per match, at its start: the window must reach the match's end.
            deny("tokens", patterns(&[], &["tok_[a-z]{12}"])),
            // The literal at the match's end: the window must reach back to its start.
            deny("handles", patterns(&[], &["[a-z]{10}@corp"])),
        ]
    };
    let gated = scanner(rules());
    assert!(
        gated.units.iter().any(|&units| units > 1),
        "the rules' patterns are screened one by one"
    );
    let mut ungated = scanner(rules());
    ungated.units = [0, 0];
    for rule in &mut ungated.regexes {
        for group in &mut rule.groups {
            group.gate = None;
        }
    }
    let texts = [
        "in Q3 2024 we closed 128 tickets by 10:30",
        "call 13812345678 or 123-45-6789",
        "mac 00:1a:2b:3c:4d:5e at 10.0.0.1",
        "mail bob@example.com with key sk-abcdef12",
        "车牌京A12345，沪b9z8y7",
        "plain prose without anything",
        "12 34 56 78 9a:bc de@fg",
        "key=aaaa",
    ];
    // Long texts, where the groups behind literals run only on windows around them: matches
    // at the edges, side by side, and far apart.
    let prose = "the quarterly review went well and nobody asked for numbers. ".repeat(12);
    let long: Vec<String> = [
        "13812345678 and 123-45-6789",
        "mac 00:1a:2b:3c:4d:5e then 10.0.0.1, 10.0.0.2 and 13912345678",
        "key=bbbb key=aaaa sk-abcdef12 bob@example.com",
        "12 34 1381234567 13 8123 45678 1.2.3 99:88",
        "tok_abcdefghijkl",
        "see abcdefghij@corp",
    ]
    .iter()
    .flat_map(|pii| {
        [
            format!("{pii}{prose}"),
            format!("{prose}{pii}"),
            format!("{prose}{pii}{prose}{pii}{prose}"),
        ]
    })
    .collect();
    // And a text of so many literals that the scan stops recording their spans.
    let digits = format!(
        "{} 13812345678 tok_abcdefghijkl {}",
        "1".repeat(20_000),
        "2".repeat(20_000)
    );
    let long: Vec<&str> = long
        .iter()
        .map(String::as_str)
        .chain([digits.as_str()])
        .collect();
    for want in [Want::First, Want::Every, Want::Patterns, Want::All] {
        for texts in [
            &texts[..],
            &texts[1..2],
            &texts[5..],
            &texts[7..],
            &long[..],
        ] {
            assert_eq!(
                gated.scan(texts, want, Side::Request),
                ungated.scan(texts, want, Side::Request),
                "{want:?} {texts:?}"
            );
        }
    }
    // And the gates let the number-like patterns run where a number is.
    let hits = gated.scan(&texts[1..3], Want::All, Side::Request);
    assert_eq!(rules_hit(&hits), vec![0, 0, 1, 1]);
}
